//! Where objects come from. One trait, [`Store`], for every kind of source: it lists what a
//! SOURCE holds, as it goes, and fetches an object's bytes. Local folders ([`local`]), S3
//! ([`s3`]) and CloudTrail's event history ([`history`], an hour of a region an object) implement
//! it; the reading stage (`reading`) drives any of them the same way and applies the limits
//! (requests in flight, bytes held) once, around them. What earlier runs read (`--state`) is a
//! wrapper around any store (`state::KnownStore`): it answers for the objects it remembers
//! ([`Entry::Remembered`]), hears what reading the others gave ([`Store::read`]), and tells the
//! store it wraps what it need not list again ([`Settled`]).

pub(crate) mod filter;
pub(crate) mod glob;
pub(crate) mod history;
mod local;
pub(crate) mod s3;
pub(crate) mod shard;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::Reason;
use crate::error::{ArchivedObject, FatalError, ObjectError};

use filter::Filter;
use glob::Glob;
use history::HistoryUrl;
pub(crate) use local::LocalStore;
use s3::S3Url;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A SOURCE argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Local(PathBuf),
    S3(S3Url),
    /// `cloudtrail://REGION`: the region's event history (LookupEvents).
    History(HistoryUrl),
}

impl FromStr for Source {
    type Err = String;

    fn from_str(text: &str) -> Result<Source, String> {
        if let Some(url) = HistoryUrl::parse(text) {
            return url.map(Source::History);
        }
        match S3Url::parse(text) {
            Some(url) => url.map(Source::S3),
            None => Ok(Source::Local(PathBuf::from(text))),
        }
    }
}

impl Source {
    /// Whether everything `other` lists, this source lists too (so reading both would read the
    /// same objects twice). Local paths are compared as the system resolves them.
    fn contains(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::S3(a), Source::S3(b)) => a.bucket == b.bucket && b.prefix.starts_with(&a.prefix),
            (Source::History(a), Source::History(b)) => a.covers(b),
            (Source::Local(a), Source::Local(b)) => match (a.canonicalize(), b.canonicalize()) {
                (Ok(a), Ok(b)) => b.starts_with(a),
                _ => a == b,
            },
            _ => false,
        }
    }
}

/// The sources without those another source already covers: an object is read once even when
/// named twice (`archive/` and `archive/2024/`), and reported under the wider source's name.
pub(crate) fn distinct(sources: &[Source]) -> Vec<Source> {
    let mut kept: Vec<Source> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let covered = sources
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.contains(source) && (!source.contains(other) || j < i));
        if !covered {
            kept.push(source.clone());
        }
    }
    kept
}

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    /// The name reports show: the path as reached from the SOURCE argument, or `s3://bucket/key`.
    pub(crate) name: String,
    pub(crate) location: Location,
    /// Bytes, when the listing said (S3 does; a local walk does not need to).
    pub(crate) size: Option<u64>,
    /// The S3 ETag the listing gave, which `--state` tells versions of an object apart by.
    pub(crate) version: Option<String>,
    pub(crate) kind: Kind,
}

/// What an object is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Records: a CloudTrail log file, an export, JSON Lines.
    Log,
    /// A CloudTrail digest, read with `--verify`.
    Digest,
}

/// Where an object's bytes are, for the store that listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    File(PathBuf),
    Key(String),
}

/// What a listing finds.
#[derive(Debug)]
pub(crate) enum Entry {
    Object(Object),
    /// With the name it was listed by.
    Skipped(Skip, String),
    /// Listed, then left out by `--from/--to/--account/--region` (or a folder placeholder).
    Pruned(String),
    /// A day folder of [`Settled::folders`], not listed (its name as
    /// [`crate::layout::day_folder`] gives it): the wrapper that named it answers for it.
    Settled(String),
    /// An object an earlier run read, listed again as it was (or in a folder not listed again):
    /// not fetched, what reading it gave is counted as it was.
    Remembered(Remembered),
    /// Entries of folders not listed again besides their objects, counted as their listing
    /// counted them.
    Recounted {
        listed: u64,
        skipped: Skipped,
    },
    /// The records an earlier run kept (in the partial format), of the objects it remembered:
    /// read last, for the records of the objects named in `of` only.
    Recalled {
        object: Object,
        of: Vec<String>,
    },
    /// A folder or file that could not be listed or inspected: a failure of its own.
    Failed(ObjectError),
    /// An S3 object the listing names in an archive storage class (`GLACIER`, `DEEP_ARCHIVE`):
    /// GetObject would only answer `InvalidObjectState`, so it is never asked.
    Archived(ArchivedObject),
}

/// An object not fetched again: see [`Entry::Remembered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remembered {
    pub(crate) name: String,
    pub(crate) gave: Gave,
    /// Listed now (counted as listed), or in a folder not listed again ([`Entry::Recounted`]
    /// counts it).
    pub(crate) listed: bool,
}

/// What reading a log object whole gave: its records, or why its bytes are unreadable (the same
/// bytes read the same way; a download that failed is not this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gave {
    Read {
        /// Its records, Instance Connect or not.
        records: u64,
        /// Its Instance Connect events outside `--from`..`--to`.
        out_of_range: u64,
    },
    Unreadable(Reason),
}

/// The version an object is listed with when it will never change (an hour of event history
/// that ended long enough ago): a store that lists one need not ask for it again once a wrapper
/// remembers it ([`Settled::objects`]).
pub(crate) const SETTLED: &str = "settled";

/// What a listing need not list again, as a wrapper that remembers earlier runs knows it
/// (`state::KnownStore`); empty otherwise. A store that ignores it lists everything, which is
/// never wrong, only slower.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settled {
    /// CloudTrail day folders (as [`crate::layout::day_folder`] names them) listed in full
    /// before: a listing may skip one, sending [`Entry::Settled`] in its place.
    pub(crate) folders: Arc<BTreeSet<String>>,
    /// Whether a listing that must walk folder by folder to skip them (S3's delimiter listings
    /// down to each region) should: with small day folders one flat listing asks less.
    pub(crate) walk: bool,
    /// Objects listed before with the version [`SETTLED`], by name, with their size: a store
    /// that would have to ask for them again lists them as they were instead.
    pub(crate) objects: Arc<BTreeMap<String, u64>>,
}

impl Settled {
    /// Whether the folder at `path` is a day folder not to be listed again.
    pub(crate) fn settles(&self, path: &str) -> bool {
        if self.folders.is_empty() {
            return false;
        }
        let trimmed = path.trim_end_matches(['/', '\\']);
        crate::layout::day_folder(trimmed)
            .is_some_and(|(folder, _)| folder.len() == trimmed.len() && self.folders.contains(folder))
    }
}

/// Why something listed is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    Digest,
    Other,
    DirectoryLink,
}

/// Objects that were seen and deliberately not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

    pub(crate) fn add(&mut self, skip: Skip) {
        match skip {
            Skip::Digest => self.digest += 1,
            Skip::Other => self.other += 1,
            Skip::DirectoryLink => self.directory_links += 1,
        }
    }
}

/// An object fetched, and the signature stored with it (a digest's, from S3 metadata or a
/// sidecar file).
pub(crate) struct Fetched {
    pub(crate) body: Body,
    /// Hex, as `x-amz-meta-signature` holds it.
    pub(crate) signature: Option<String>,
}

/// How an object's bytes reach the worker that reads it.
pub(crate) enum Body {
    /// A local file, opened by the worker itself: files are not opened ahead of reading.
    File(PathBuf),
    /// Bytes fetched whole (small remote objects, fetched ahead while workers are busy).
    Bytes(Vec<u8>),
    /// Bytes still arriving (large remote objects: never held whole).
    Stream(Box<dyn Read + Send>),
}

/// Where listings send what they find. Bounded: a listing that runs ahead of the readers waits,
/// so a bucket of millions of keys is never held listed in memory.
pub(crate) type Found = mpsc::Sender<Entry>;

/// A place objects come from.
pub(crate) trait Store: Send + Sync {
    /// Called once for every store of a run before any lists: a store that asks for its objects
    /// up front (event history) starts asking here, so that stores are asked at once while the
    /// reading lists them in turn. `settled` as for [`Store::list`].
    fn begin(&self, _filter: &Filter, _settled: &Settled) {}

    /// Lists what the source holds that `filter` may keep, sending each entry to `found` as soon
    /// as it is known; what `settled` names need not be listed again (a wrapper that remembers
    /// earlier runs gives it; the reading stage gives none). An error means the listing cannot be
    /// trusted to be complete (a bucket that cannot be listed): the run stops.
    fn list<'a>(
        &'a self,
        filter: &'a Filter,
        settled: &'a Settled,
        found: &'a Found,
    ) -> BoxFuture<'a, Result<(), FatalError>>;

    /// Fetches an object: whole when it is at most `whole_up_to` bytes, else as a stream; a
    /// digest with its signature.
    fn get<'a>(&'a self, object: &'a Object, whole_up_to: u64) -> BoxFuture<'a, Result<Fetched, Reason>>;

    /// The object at once, when this store can hand it over without waiting for I/O (a local
    /// file, which the worker opens itself): the reading stage then spares it a task. `None`
    /// (the default) sends it through [`Store::get`].
    fn get_now(&self, _object: &Object) -> Option<Result<Fetched, Reason>> {
        None
    }

    /// Requests this store's server has answered "slow down" (S3's 503) so far: the reading
    /// stage lets fewer requests in flight while it grows.
    fn throttled(&self) -> u64 {
        0
    }

    /// What reading `name`, a log object this store listed, gave, once it was read whole (or its
    /// bytes found unreadable): a wrapper that remembers objects keeps it. The default forgets it.
    fn read(&self, _name: &str, _gave: &Gave) {}
}

/// What a file name says: read it, or skip it (and why).
pub(crate) enum Verdict {
    Read(Kind),
    Skip(Skip),
}

/// Decides by name alone. `CloudTrail-Insight/` files are ordinary logs; under
/// `CloudTrail-Digest/`, JSON files are digests, read only to verify (`digests`), and anything
/// else (a signature sidecar) is skipped as part of the digests. Elsewhere a name `include`
/// matches (`--include`) is read as a log whatever its extension.
pub(crate) fn classify_name(path: &str, digests: bool, include: &[Glob]) -> Verdict {
    // By bytes: both separators are ASCII, so the name after one starts on a character.
    let file =
        path.as_bytes().iter().rposition(|&b| b == b'/' || b == b'\\').map_or(path, |at| &path[at + 1..]);
    let stem = strip_suffix_ignoring_case(file, ".gz").unwrap_or(file);
    let json = [".jsonl", ".json"].iter().any(|suffix| strip_suffix_ignoring_case(stem, suffix).is_some());
    if crate::layout::in_digest_folder(path) {
        return if json && digests { Verdict::Read(Kind::Digest) } else { Verdict::Skip(Skip::Digest) };
    }
    if json || include.iter().any(|glob| glob.matches_name_of(path)) {
        Verdict::Read(Kind::Log)
    } else {
        Verdict::Skip(Skip::Other)
    }
}

/// The store for each source: local ones directly, S3 ones through `s3` and event history
/// through `history` (each connected beforehand when a source needs it; `cloudtrail://all` is a
/// store per region the account has enabled); `found` hears each bucket's region when it was
/// looked up, and the regions `cloudtrail://all` stands for.
pub(crate) fn stores(
    sources: &[Source],
    s3: Option<&s3::S3Client>,
    history: Option<&history::HistoryClient>,
    found: &mut dyn FnMut(String),
) -> Result<Vec<std::sync::Arc<dyn Store>>, FatalError> {
    let mut stores: Vec<std::sync::Arc<dyn Store>> = Vec::new();
    let mut regions = 0;
    for source in distinct(sources) {
        match (source, s3, history) {
            (Source::Local(path), _, _) => stores.push(std::sync::Arc::new(LocalStore::new(&path)?)),
            (Source::S3(url), Some(client), _) => stores.push(std::sync::Arc::new(client.store(url, found))),
            (Source::S3(url), None, _) => {
                return Err(FatalError::S3(format!("{url}: no S3 client was set up").into()))
            }
            (Source::History(url), _, Some(client)) => {
                let urls = if url.region == history::ALL {
                    let enabled = client.enabled_regions()?;
                    found(format!(
                        "{url}: the account has {} regions enabled: {}",
                        enabled.len(),
                        enabled.join(" ")
                    ));
                    enabled.into_iter().map(|region| HistoryUrl { region }).collect()
                } else {
                    vec![url]
                };
                for url in urls {
                    stores.push(std::sync::Arc::new(client.store(&url, regions)));
                    regions += 1;
                }
            }
            (Source::History(url), _, None) => {
                return Err(FatalError::S3(format!("{url}: no CloudTrail client was set up").into()))
            }
        }
    }
    Ok(stores)
}

/// `text` without `suffix` (ASCII, lower case), in any case.
fn strip_suffix_ignoring_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let at = text.len().checked_sub(suffix.len())?;
    let (stem, end) = (text.get(..at)?, text.get(at..)?);
    end.eq_ignore_ascii_case(suffix).then_some(stem)
}

/// A path as reports show it.
pub(crate) fn display(path: &Path) -> String {
    // `to_str` first: validating is a tenth of the cost of the lossy conversion, which a name
    // that is UTF-8 (every name, in practice) does not need.
    path.to_str().map_or_else(|| path.to_string_lossy().into_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> bool {
        matches!(classify_name(path, false, &[]), Verdict::Read(Kind::Log))
    }

    #[test]
    fn log_names_are_read_by_extension() {
        assert!(read("a/b/123_CloudTrail_us-east-1_20240301T0000Z_x.json.gz"));
        assert!(read("export.JSON"));
        assert!(read("events.jsonl.gz"));
        assert!(read("events.jsonl"));
        assert!(read("AWSLogs/1/CloudTrail-Insight/us-east-1/x.json.gz"));
    }

    #[test]
    fn included_names_are_read_as_logs_but_digest_folders_stay_digests() {
        let include = ["*.log".parse::<Glob>().expect("glob")];
        assert!(matches!(classify_name("elastic/cloudtrail.log", false, &include), Verdict::Read(Kind::Log)));
        assert!(matches!(classify_name("elastic/cloudtrail.log", false, &[]), Verdict::Skip(Skip::Other)));
        assert!(matches!(classify_name("elastic/notes.txt", false, &include), Verdict::Skip(Skip::Other)));
        let sidecar = "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/d.log";
        assert!(matches!(classify_name(sidecar, true, &include), Verdict::Skip(Skip::Digest)));
    }

    #[test]
    fn settled_day_folders_are_named_as_day_folder_names_them() {
        let settled = Settled {
            folders: Arc::new(["AWSLogs/1/CloudTrail/us-east-1/2024/03/02".to_owned()].into()),
            ..Settled::default()
        };
        assert!(settled.settles("AWSLogs/1/CloudTrail/us-east-1/2024/03/02/"));
        assert!(settled.settles("AWSLogs/1/CloudTrail/us-east-1/2024/03/02"));
        assert!(!settled.settles("AWSLogs/1/CloudTrail/us-east-1/2024/03/"));
        assert!(!settled.settles("AWSLogs/1/CloudTrail/us-east-1/2024/03/02/sub/"));
        assert!(!settled.settles("AWSLogs/1/CloudTrail/us-east-1/2024/03/03/"));
        assert!(!Settled::default().settles("AWSLogs/1/CloudTrail/us-east-1/2024/03/02"));
    }

    #[test]
    fn sources_are_s3_urls_or_paths() {
        assert!(matches!("s3://bucket/AWSLogs/".parse(), Ok(Source::S3(_))));
        assert!(matches!("testdata/seed".parse(), Ok(Source::Local(_))));
        assert!("s3://".parse::<Source>().is_err());
        assert!(matches!("cloudtrail://us-east-1".parse(), Ok(Source::History(_))));
    }

    #[test]
    fn digests_and_other_files_are_skipped() {
        let digest = "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/d.json.gz";
        assert!(matches!(classify_name(digest, false, &[]), Verdict::Skip(Skip::Digest)));
        assert!(matches!(classify_name(digest, true, &[]), Verdict::Read(Kind::Digest)), "read to verify");
        let sidecar = "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/d.json.gz.sig";
        assert!(matches!(classify_name(sidecar, true, &[]), Verdict::Skip(Skip::Digest)));
        for other in ["notes.txt", "archive.gz", ".DS_Store", "x.json.bak", "json"] {
            assert!(matches!(classify_name(other, false, &[]), Verdict::Skip(Skip::Other)), "{other}");
        }
    }

    #[test]
    fn sources_covered_by_another_are_read_once() {
        let s = |text: &str| text.parse::<Source>().expect("a source");
        let sources =
            [s("s3://b/AWSLogs/"), s("s3://b/AWSLogs/111/"), s("s3://c/AWSLogs/111/"), s("s3://b/AWSLogs/")];
        assert_eq!(distinct(&sources), [s("s3://b/AWSLogs/"), s("s3://c/AWSLogs/111/")]);
        let here = env!("CARGO_MANIFEST_DIR");
        let sources =
            [s(&format!("{here}/testdata/seed")), s(&format!("{here}/testdata")), s(&format!("{here}/src"))];
        assert_eq!(distinct(&sources), [s(&format!("{here}/testdata")), s(&format!("{here}/src"))]);
    }
}
