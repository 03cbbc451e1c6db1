//! How verification matches objects: by their place in the CloudTrail layout (from
//! [`crate::layout`]), and how it names an object it did not find.

use std::collections::HashMap;

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

    /// How objects are matched: the layout path, or the file name outside the layout.
    pub(super) fn key(&self) -> MatchKey {
        match &self.tail {
            Some(tail) => MatchKey::Tail(tail.clone()),
            None => MatchKey::File(self.file.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum MatchKey {
    Tail(String),
    File(String),
}

/// Objects by how they are matched: the listed key's layout path, or, for objects outside the
/// layout, its file name.
pub(super) struct Index {
    pub(super) by_key: HashMap<MatchKey, Vec<usize>>,
}

impl Index {
    pub(super) fn new<'a>(places: impl Iterator<Item = &'a Place>) -> Index {
        let mut by_key: HashMap<MatchKey, Vec<usize>> = HashMap::new();
        for (i, place) in places.enumerate() {
            by_key.entry(place.key()).or_default().push(i);
        }
        Index { by_key }
    }

    /// Objects matching a key a digest writes.
    pub(super) fn find(&self, key: &str) -> Vec<usize> {
        let place = Place::of(key);
        let mut found: Vec<usize> = self.by_key.get(&place.key()).cloned().unwrap_or_default();
        if place.tail.is_some() {
            found.extend(self.by_key.get(&MatchKey::File(place.file)).into_iter().flatten());
        }
        found
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
