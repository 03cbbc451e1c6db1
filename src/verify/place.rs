//! How verification matches objects: by their place in the CloudTrail layout (from
//! [`crate::layout`]), and how it names an object it did not find.

use std::borrow::Cow;

use crate::layout::{self, LogName};
use crate::time::{Day, Timestamp};

/// Where an object sits in the CloudTrail layout, from its name or key.
#[derive(Debug, Clone, Default)]
pub(super) struct Place {
    /// From the last `AWSLogs` folder on, `/`-separated.
    pub(super) tail: Option<String>,
    /// The name up to `tail`: `s3://bucket/prefix/`, or a local folder.
    pub(super) root: Option<String>,
    pub(super) file: String,
    pub(super) account: Option<String>,
    pub(super) region: Option<String>,
    pub(super) day: Option<Day>,
}

impl Place {
    /// Where `name` (a local path, `s3://bucket/key`, or a key a digest writes) sits.
    pub(super) fn of(name: &str) -> Place {
        let file = layout::file_name(name).to_owned();
        let Some(placed) = layout::place(name) else {
            return Place { file, ..Place::default() };
        };
        Place {
            tail: Some(placed.tail.replace('\\', "/")),
            root: Some(placed.root.to_owned()),
            file,
            account: placed.folders.account.map(str::to_owned),
            region: placed.folders.region.map(str::to_owned),
            day: placed.folders.date(),
        }
    }
}

/// How objects are matched: by their layout path (separators made `/`), or by their file name
/// outside the layout; borrowed from the name whenever it has no backslash, so that indexing every log
/// file of an archive copies none of their names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum MatchKey<'a> {
    Tail(Cow<'a, str>),
    File(&'a str),
}

/// How the object `name` (a local path, `s3://bucket/key`, or a key a digest writes) is matched.
pub(super) fn match_key(name: &str) -> MatchKey<'_> {
    match layout::place(name) {
        Some(placed) if placed.tail.contains('\\') => {
            MatchKey::Tail(Cow::Owned(placed.tail.replace('\\', "/")))
        }
        Some(placed) => MatchKey::Tail(Cow::Borrowed(placed.tail)),
        None => MatchKey::File(layout::file_name(name)),
    }
}

/// Objects by how they are matched: the listed key's layout path, or, for objects outside the
/// layout, its file name. A sorted list rather than a map: one key and one number per object,
/// the least an index of every log file of an archive can hold.
pub(super) struct Index<'a> {
    keys: Vec<(MatchKey<'a>, usize)>,
}

impl<'a> Index<'a> {
    /// The objects' keys, numbered in the order given.
    pub(super) fn new(keys: impl Iterator<Item = MatchKey<'a>>) -> Index<'a> {
        let mut keys: Vec<(MatchKey<'a>, usize)> = keys.enumerate().map(|(i, key)| (key, i)).collect();
        keys.sort_unstable();
        Index { keys }
    }

    /// Objects matching a key a digest writes, by number: those with its layout path, then those
    /// outside the layout with its file name.
    pub(super) fn find(&self, key: &str) -> Vec<usize> {
        let wanted = match_key(key);
        let mut found = self.hits(&wanted);
        if let MatchKey::Tail(_) = wanted {
            found.extend(self.hits(&MatchKey::File(layout::file_name(key))));
        }
        found
    }

    fn hits(&self, wanted: &MatchKey<'_>) -> Vec<usize> {
        let start = self.keys.partition_point(|(key, _)| key < wanted);
        self.keys[start..].iter().take_while(|(key, _)| key == wanted).map(|(_, i)| *i).collect()
    }
}

/// The name of an object absent from the archive, from a digest found that names it.
pub(super) fn sibling_name(found: &Place, bucket: &str, key: &str) -> String {
    match (&found.root, Place::of(key).tail) {
        (Some(root), Some(tail)) => format!("{root}{tail}"),
        _ => format!("s3://{bucket}/{key}"),
    }
}

/// Account and region of a log file: from its folders, else from its name
/// (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`).
pub(super) fn log_identity(place: &Place) -> (String, String, Option<Timestamp>) {
    let name = LogName::parse(&place.file);
    let account = place.account.clone().unwrap_or_else(|| name.account.to_owned());
    let region = place.region.clone().or(name.region.map(str::to_owned)).unwrap_or_default();
    (account, region, name.delivered)
}

#[cfg(test)]
mod tests {
    use crate::verify::fixture::*;

    #[test]
    fn organization_trails_and_local_copies_are_matched_and_named_by_their_layout() {
        let mut fixture = Fixture::with_prefix(4, &format!("AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/"));
        let gone = fixture.logs[1].key.clone();
        fixture.logs.remove(1);
        let (digests, logs) = fixture.inputs();
        // The same archive copied under a local folder (with a prefix the bucket did not have).
        let local = |name: &str| name.replace(ROOT, "/audit/copy/");
        let digests: Vec<DigestObject> =
            digests.into_iter().map(|d| DigestObject { object: local(&d.object), ..d }).collect();
        let logs: Vec<LogObject> =
            logs.into_iter().map(|l| LogObject { object: local(&l.object), ..l }).collect();
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(integrity.missing.len(), 1, "{integrity:#?}");
        assert_eq!(integrity.missing[0].object, format!("/audit/copy/{gone}"));
        assert_eq!(
            (integrity.missing[0].account.as_str(), integrity.missing[0].region.as_str()),
            (ACCOUNT, REGION)
        );
        assert_eq!(integrity.log_files_verified, 5);
        assert_eq!(integrity.signatures.verified, 4);
    }

    #[test]
    fn a_flat_copy_is_matched_by_file_name() {
        let fixture = Fixture::new(3);
        let (digests, logs) = fixture.inputs();
        let flat = |name: &str| format!("/tmp/flat/{}", name.rsplit('/').next().unwrap_or_default());
        let digests: Vec<DigestObject> =
            digests.into_iter().map(|d| DigestObject { object: flat(&d.object), ..d }).collect();
        let mut logs: Vec<LogObject> =
            logs.into_iter().map(|l| LogObject { object: flat(&l.object), ..l }).collect();
        let gone = fixture.logs[0].key.clone();
        logs.remove(0);
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(integrity.log_files_verified, 3, "{integrity:#?}");
        assert_eq!(integrity.missing[0].object, format!("s3://{BUCKET}/{gone}"), "no layout to name it by");
        assert_eq!(integrity.problems(), 1);
    }
}
