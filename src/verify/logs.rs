//! Step 2 of [`verify`](super::verify), match the log files: each one a digest lists is present
//! with the same SHA-256, modified, or missing.

use std::collections::BTreeMap;

use super::digests::Digests;
use super::format::LogFile;
use super::integrity::{Missing, Modified};
use super::place::{log_identity, match_key, sibling_name, Index, Place};
use super::{LogObject, Scope};

/// What matching the listed log files found, per log file (by its position among the inputs).
pub(super) struct Matched {
    /// Listed by some digest read.
    pub(super) listed: Vec<bool>,
    /// Listed with another SHA-256 than its own (the first digest by name that does): by
    /// position, only those, as they are few.
    pub(super) mismatch: BTreeMap<usize, Modified>,
    /// Listed, and not in the archive, by name.
    pub(super) missing: Vec<Missing>,
}

/// Step 2, match the log files: each one a digest lists is present with the same SHA-256,
/// modified, or missing (when its day folder was read).
pub(super) fn match_logs(digests: &Digests, logs: &[LogObject], scope: &Scope) -> Matched {
    match_listings(digests, listings(digests), logs, scope)
}

/// Every log file the digests read list, with the digest that lists it (its place among the
/// found ones): in the order of the found digests, each digest's in the order it lists them.
pub(super) fn listings<'a>(digests: &'a Digests) -> impl Iterator<Item = (usize, &'a LogFile)> + 'a {
    digests
        .found
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.digest.map(|d| (i, d)))
        .flat_map(|(i, d)| d.log_files.iter().map(move |file| (i, file)))
}

/// Matching, of these log files against these listings (`(found digest, log file listed)`, in
/// the order [`listings`] gives): what [`match_logs`] does, for a run that reads the listings
/// apart from their digests. A log file is matched only by a listing of its file name
/// ([`Index::find`]), so the log files and the listings of some file names are matched as all of
/// them would be.
pub(super) fn match_listings<'a>(
    digests: &Digests,
    listings: impl Iterator<Item = (usize, &'a LogFile)>,
    logs: &[LogObject],
    scope: &Scope,
) -> Matched {
    let index = Index::new(logs.iter().map(|l| match_key(&l.object)));
    let mut listed = vec![false; logs.len()];
    let mut mismatch: BTreeMap<usize, Modified> = BTreeMap::new();
    let mut missing: BTreeMap<String, Missing> = BTreeMap::new();
    for (i, file) in listings {
        let f = &digests.found[i];
        let hits = index.find(&file.key);
        if hits.is_empty() {
            let place = Place::of(&file.key);
            if scope.holds(place.day) {
                let (account, region, _) = log_identity(&place);
                let object = sibling_name(&f.place, &file.bucket, &file.key);
                missing.entry(object.clone()).or_insert(Missing {
                    object,
                    account,
                    region,
                    listed_by: f.input.object.clone(),
                });
            }
            continue;
        }
        for h in hits {
            listed[h] = true;
            if logs[h].sha256 != Some(file.sha256) && !mismatch.contains_key(&h) {
                let (account, region, _) = log_identity(&Place::of(&logs[h].object));
                mismatch.insert(
                    h,
                    Modified {
                        object: logs[h].object.clone(),
                        account,
                        region,
                        listed_by: f.input.object.clone(),
                        expected_sha256: file.sha256.to_string(),
                        actual_sha256: logs[h].sha256.map(|s| s.to_string()),
                    },
                );
            }
        }
    }
    Matched { listed, mismatch, missing: missing.into_values().collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::digests::read_digests;
    use crate::verify::fixture::*;

    #[test]
    fn a_deleted_log_file_is_missing_and_named_like_its_digest() {
        let mut fixture = Fixture::new(6);
        let gone = fixture.log_named(3);
        fixture.logs.remove(3);
        let integrity = fixture.verify();
        assert_eq!(
            integrity.missing,
            [Missing {
                object: gone,
                account: ACCOUNT.into(),
                region: REGION.into(),
                listed_by: fixture.digest_named(1)
            }]
        );
        assert_eq!(integrity.problems(), 1, "{integrity:#?}");
        assert_eq!(integrity.log_files_verified, 9);
    }

    #[test]
    fn an_edited_record_is_a_modified_log_file() {
        let mut fixture = Fixture::new(6);
        let expected = Sha256::of(&fixture.logs[4].content).to_string();
        fixture.logs[4].content = b"{\"Records\":[{\"eventName\":\"edited\"}]}".to_vec();
        let integrity = fixture.verify();
        assert_eq!(
            integrity.modified,
            [Modified {
                object: fixture.log_named(4),
                account: ACCOUNT.into(),
                region: REGION.into(),
                listed_by: fixture.digest_named(3),
                expected_sha256: expected,
                actual_sha256: Some(Sha256::of(&fixture.logs[4].content).to_string()),
            }]
        );
        assert_eq!(integrity.problems(), 1, "{integrity:#?}");
    }

    #[test]
    fn an_unreadable_log_file_that_a_digest_lists_is_modified_with_no_hash() {
        let fixture = Fixture::new(4);
        let (digests, mut logs) = fixture.inputs();
        logs[0].sha256 = None;
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(integrity.modified.len(), 1);
        assert_eq!(integrity.modified[0].actual_sha256, None);
    }

    #[test]
    fn matching_logs_alone_finds_missing_modified_and_listed_files() {
        let mut fixture = Fixture::new(4);
        fixture.logs[1].content = b"edited".to_vec();
        let gone = fixture.log_named(0);
        fixture.logs.remove(0);
        let (digests, logs) = fixture.inputs();
        let matched = match_logs(&read_digests(&digests), &logs, &Scope::default());
        assert_eq!(matched.missing.iter().map(|m| m.object.as_str()).collect::<Vec<_>>(), [gone.as_str()]);
        assert_eq!(matched.mismatch.len(), 1);
        assert_eq!(matched.mismatch.get(&0).map(|m| m.object.as_str()), Some(fixture.log_named(0).as_str()));
        assert!(matched.listed.iter().all(|&l| l), "every file present is listed");
    }
}
