//! Partials: what one shard of a sharded run (`trailscope scan --shard I/N`) read, for a later
//! `trailscope report PARTIAL...` to merge into the report one run over the same sources gives.
//!
//! A partial is gzipped JSON Lines. The first line is the [`Header`]: format version, the shard,
//! the sources and the options that decide what is read, the shard's counts and unreadable
//! objects, and how many lines follow. Every other line is one kept Instance Connect record,
//! verbatim, with where it came from: `{"o":"<object name>","i":<record index>,"r":<record>}`. The
//! analysis (counting each event once, pairing, classification) happens only at the merge, over
//! every shard's records together, so it is the analysis of one run.
//!
//! A partial made with `--verify` has a **residue** after its records: one line per fact of its
//! verification, `{"v":<fact>}` ([`residue`]: the public keys it had, every digest it read, every
//! log file with its SHA-256, each encoded as verification encodes it, `crate::verify::fact`),
//! counted in the header's `residue`. The merge verifies
//! every shard's facts together, which is the verification of one run. Partials made with and
//! without `--verify` are not shards of one run.
//!
//! A partial is recognised by its content: its first member is named `trailscope_partial`
//! ([`MARKER`]). The decoder knows nothing of partials: a reader that reads them claims, by that
//! name, every top-level value of an object that starts with it ([`read`]).
//!
//! Here, in one place: the format ([`Header`], built by [`Header::new`] for partials and the
//! state alike, [`Options`]), writing ([`write()`]), reading ([`read`]: the reader a worker hands
//! claimed values to, the lines, the numbers given to the objects partials name), the residue's
//! order and external sort ([`residue`]), and the merge ([`merge_run`]: what may be given beside
//! partials, then their headers).

mod merge;
pub(crate) mod read;
pub(crate) mod residue;
mod write;

pub(crate) use merge::{merge_run, Beside};
pub(crate) use read::{PartialRead, MARKER};
pub(crate) use write::write;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::counts::Counts;
use crate::error::{ArchivedObject, ObjectError};
use crate::source::filter::Filter;
use crate::source::s3::S3Url;
use crate::source::shard::Shard;
use crate::source::Source;

/// The format this trailscope writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// The first line of a partial. Shards of one run have equal headers but for `shard`, `counts`,
/// `failures` and `records`. Its first member is named as [`MARKER`] says, which is how a
/// partial is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// The format version; first, so that the header is recognised by its first bytes.
    pub(crate) trailscope_partial: u32,
    /// The trailscope that wrote it.
    pub(crate) writer: String,
    pub(crate) shard: Shard,
    /// The SOURCE arguments, as given.
    pub(crate) sources: Vec<String>,
    /// The options that decide what is read: shards given other ones are not parts of one run.
    pub(crate) options: Options,
    pub(crate) counts: Counts,
    pub(crate) failures: Vec<ObjectError>,
    /// Objects left unread because they are archived (absent from partials of older writers).
    #[serde(default)]
    pub(crate) archived: Vec<ArchivedObject>,
    /// Record lines that follow: fewer means the partial was cut short.
    pub(crate) records: u64,
    /// Made with `--verify`: the residue lines that follow the records (fewer means cut short).
    /// Absent without `--verify`, so such partials are what they were before residues existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) residue: Option<u64>,
}

impl Header {
    /// The header of what reads `sources` with `options` as `shard`, before its counts, failures,
    /// records and residue are filled in: the one place the format and the writer are named.
    pub(crate) fn new(shard: Shard, sources: Vec<String>, options: Options) -> Header {
        Header {
            trailscope_partial: FORMAT,
            writer: writer(),
            shard,
            sources,
            options,
            counts: Counts::default(),
            failures: Vec::new(),
            archived: Vec::new(),
            records: 0,
            residue: None,
        }
    }
}

/// The trailscope that writes, as partials and the state's manifest name it.
pub(crate) fn writer() -> String {
    format!("trailscope {}", env!("CARGO_PKG_VERSION"))
}

/// The options that decide what is read, as partials and the state record them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) accounts: Vec<String>,
    pub(crate) regions: Vec<String>,
    pub(crate) max_object_size: u64,
    /// The `--include` globs, as given: they decide which names are read. Absent when none was
    /// given, so such partials and states are what they were before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) include: Vec<String>,
}

impl Options {
    /// The options of a reading narrowed by `filter`, of objects up to `max_object_size`.
    pub(crate) fn of(filter: &Filter, max_object_size: u64) -> Options {
        Options {
            from: filter.from.map(|d| d.to_string()),
            to: filter.to.map(|d| d.to_string()),
            accounts: filter.accounts.iter().cloned().collect(),
            regions: filter.regions.iter().cloned().collect(),
            max_object_size,
            include: filter.include.iter().map(|glob| glob.to_string()).collect(),
        }
    }
}

/// The SOURCE arguments as partials and the state name them.
pub(crate) fn source_names(sources: &[Source]) -> Vec<String> {
    sources
        .iter()
        .map(|source| match source {
            Source::Local(path) => path.display().to_string(),
            Source::S3(url) => url.to_string(),
            Source::History(url) => url.to_string(),
        })
        .collect()
}

/// Where a partial goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    S3(S3Url),
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Target, String> {
        if !text.ends_with(".jsonl.gz") {
            return Err(format!(
                "{text:?}: name partials *.jsonl.gz, so that `report` finds them in a folder or prefix"
            ));
        }
        match S3Url::parse(text) {
            Some(url) => url.map(Target::S3),
            None => Ok(Target::File(PathBuf::from(text))),
        }
    }
}
