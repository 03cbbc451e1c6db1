//! Where objects come from: turns the SOURCE arguments into a sorted list of objects to read,
//! counting what is skipped (digests, other files) and what could not even be listed.

mod local;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{FatalError, ObjectError};

pub use local::list_local;

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    /// The name reports show: the path as reached from the SOURCE argument.
    pub name: String,
    pub location: Location,
    /// What the name says about the content; the content has the last word.
    pub hint: NameHint,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Local(PathBuf),
}

/// What an object's name says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameHint {
    /// `*.json`, `*.json.gz`, or a file named explicitly: a JSON document (sniffed further).
    Document,
    /// `*.jsonl`, `*.jsonl.gz`: one record per line.
    JsonLines,
}

/// Objects that were seen and deliberately not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Files under a `CloudTrail-Digest/` folder: integrity digests, not events.
    pub digest: u64,
    /// Files whose name is not a CloudTrail log (`.json`, `.json.gz`, `.jsonl`, `.jsonl.gz`).
    pub other: u64,
    /// Links to directories, which the walk does not follow (they could loop).
    pub directory_links: u64,
}

impl Skipped {
    pub fn total(&self) -> u64 {
        self.digest + self.other + self.directory_links
    }
}

/// The result of listing every SOURCE.
#[derive(Debug, Default)]
pub struct Listing {
    /// Sorted by name, without duplicates.
    pub objects: Vec<ObjectRef>,
    pub skipped: Skipped,
    /// Folders or files that could not be listed (permissions, races).
    pub failures: Vec<ObjectError>,
}

/// What a file name says: read it (and how), or skip it (and why).
pub(crate) enum Verdict {
    Read(NameHint),
    SkipDigest,
    SkipOther,
}

/// Decides by name alone. Digest folders are skipped whatever the extension; `CloudTrail-Insight/`
/// files are ordinary logs.
pub(crate) fn classify_name(path: &str) -> Verdict {
    if path.split(['/', '\\']).any(|part| part == "CloudTrail-Digest") {
        return Verdict::SkipDigest;
    }
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path).to_ascii_lowercase();
    let stem = file.strip_suffix(".gz").unwrap_or(&file);
    if stem.ends_with(".jsonl") {
        Verdict::Read(NameHint::JsonLines)
    } else if stem.ends_with(".json") {
        Verdict::Read(NameHint::Document)
    } else {
        Verdict::SkipOther
    }
}

/// Lists every source. A SOURCE that does not exist is fatal; a folder inside one that cannot be
/// read is a failure of its own and the walk goes on.
pub fn list(sources: &[PathBuf]) -> Result<Listing, FatalError> {
    let mut listing = Listing::default();
    for source in sources {
        list_local(source, &mut listing)?;
    }
    listing.objects.sort();
    listing.objects.dedup();
    listing.failures.sort();
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(path: &str) -> Option<NameHint> {
        match classify_name(path) {
            Verdict::Read(hint) => Some(hint),
            _ => None,
        }
    }

    #[test]
    fn log_names_are_read_by_extension() {
        assert_eq!(hint("a/b/123_CloudTrail_us-east-1_20240301T0000Z_x.json.gz"), Some(NameHint::Document));
        assert_eq!(hint("export.JSON"), Some(NameHint::Document));
        assert_eq!(hint("events.jsonl.gz"), Some(NameHint::JsonLines));
        assert_eq!(hint("events.jsonl"), Some(NameHint::JsonLines));
        assert_eq!(hint("AWSLogs/1/CloudTrail-Insight/us-east-1/x.json.gz"), Some(NameHint::Document));
    }

    #[test]
    fn digests_and_other_files_are_skipped() {
        assert!(matches!(
            classify_name("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/d.json.gz"),
            Verdict::SkipDigest
        ));
        for other in ["notes.txt", "archive.gz", ".DS_Store", "x.json.bak", "json"] {
            assert!(matches!(classify_name(other), Verdict::SkipOther), "{other}");
        }
    }
}
