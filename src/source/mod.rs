//! Where objects come from: turns the SOURCE arguments (folders, files, `s3://` URLs) into a
//! sorted list of objects to read, pruned by the key layout, counting what is skipped.

pub mod layout;
mod local;
pub mod s3;

use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{FatalError, ObjectError};

use layout::Filter;
pub use local::list_local;
use s3::{S3Session, S3Url};

/// A SOURCE argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Local(PathBuf),
    S3(S3Url),
}

impl FromStr for Source {
    type Err = String;

    fn from_str(text: &str) -> Result<Source, String> {
        match S3Url::parse(text) {
            Some(url) => url.map(Source::S3),
            None => Ok(Source::Local(PathBuf::from(text))),
        }
    }
}

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
    S3 { bucket: String, key: String, size: u64 },
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
    /// Files or keys seen (read, skipped or pruned away after listing).
    pub listed: u64,
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

/// Lists every source, keeping what `filter` admits. A local SOURCE that does not exist, or a
/// bucket that cannot be listed, is fatal; a folder inside a local source that cannot be read is
/// a failure of its own and the walk goes on. `s3` must be connected when any source is S3.
pub fn list(sources: &[Source], filter: &Filter, s3: Option<&S3Session>) -> Result<Listing, FatalError> {
    let mut listing = Listing::default();
    for source in sources {
        match (source, s3) {
            (Source::Local(path), _) => list_local(path, filter, &mut listing)?,
            (Source::S3(url), Some(session)) => {
                for listed in session.list(url, filter)? {
                    listing.listed += 1;
                    add_s3_key(url, listed, &mut listing);
                }
            }
            (Source::S3(url), None) => {
                return Err(FatalError::S3(format!("{url}: no S3 client was set up")));
            }
        }
    }
    listing.objects.sort();
    listing.objects.dedup();
    listing.failures.sort();
    Ok(listing)
}

fn add_s3_key(url: &S3Url, listed: s3::Listed, listing: &mut Listing) {
    // Folder placeholders some tools create are not objects.
    if listed.key.ends_with('/') {
        return;
    }
    match classify_name(&listed.key) {
        Verdict::Read(hint) => listing.objects.push(ObjectRef {
            name: format!("s3://{}/{}", url.bucket, listed.key),
            location: Location::S3 { bucket: url.bucket.clone(), key: listed.key, size: listed.size },
            hint,
        }),
        Verdict::SkipDigest => listing.skipped.digest += 1,
        Verdict::SkipOther => listing.skipped.other += 1,
    }
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
    fn sources_are_s3_urls_or_paths() {
        assert!(matches!("s3://bucket/AWSLogs/".parse(), Ok(Source::S3(_))));
        assert!(matches!("testdata/seed".parse(), Ok(Source::Local(_))));
        assert!("s3://".parse::<Source>().is_err());
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
