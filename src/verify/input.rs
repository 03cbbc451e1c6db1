//! What the reading hands verification: the digests and log files it found, and which day
//! folders it read.

use super::Digest;
use crate::hash::{HexText, Sha256};
use crate::time::{Day, Timestamp};

/// A digest object as the reading found it.
#[derive(Debug, Clone)]
pub(crate) struct DigestObject {
    /// Its name in the report: a local path or `s3://bucket/key`.
    pub(crate) object: String,
    /// Its content, parsed, or why it could not be read (fetched, inflated, parsed).
    pub(crate) digest: Result<Digest, String>,
    /// SHA-256 of its uncompressed content, whenever it could be inflated (even if not parsed).
    pub(crate) sha256: Option<Sha256>,
    /// Hex, from the S3 metadata `x-amz-meta-signature` or a `.sig` sidecar.
    pub(crate) signature: Option<HexText>,
}

impl DigestObject {
    /// A digest read whole: `content` is its uncompressed bytes.
    pub(crate) fn from_content(object: String, content: &[u8], signature: Option<String>) -> DigestObject {
        DigestObject {
            object,
            digest: Digest::parse(content).map_err(|e| e.to_string()),
            sha256: Some(Sha256::of(content)),
            signature: signature.map(HexText::new),
        }
    }

    /// A digest that could not be fetched or inflated.
    pub(crate) fn unreadable(object: String, error: String) -> DigestObject {
        DigestObject { object, digest: Err(error), sha256: None, signature: None }
    }
}

/// A log file as the reading found it.
#[derive(Debug, Clone)]
pub(crate) struct LogObject {
    /// Its name in the report: a local path or `s3://bucket/key`.
    pub(crate) object: String,
    /// SHA-256 of all of its uncompressed content (every gzip member), or `None` when it could
    /// not be inflated.
    pub(crate) sha256: Option<Sha256>,
    /// The first and last `eventTime` of its records, when known.
    pub(crate) events: Option<(Timestamp, Timestamp)>,
}

/// The day folders read, the same for logs and digests (`--from` to the day after `--to`);
/// `None` when everything was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) days: Option<(Day, Day)>,
}

impl Scope {
    /// Whether an object in the day folder `day` was read. Objects outside the layout (no day)
    /// are always read.
    pub(super) fn holds(&self, day: Option<Day>) -> bool {
        match (self.days, day) {
            (Some((first, last)), Some(day)) => first <= day && day <= last,
            _ => true,
        }
    }

    pub(super) fn last_day(&self) -> Option<Day> {
        self.days.map(|(_, last)| last)
    }
}
