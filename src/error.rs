//! The two ways a run goes wrong: one object that could not be read (collected, the run goes on)
//! and a fatal error that stops the run before any report is written.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An object (a file or an S3 key) that could not be read, and why.
///
/// Everything that can fail for a single object returns this; the scan collects them and the
/// report lists them, sorted by object name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectError {
    /// The object's display name: a local path or `s3://bucket/key`.
    pub object: String,
    /// What went wrong, in one line.
    pub error: String,
}

/// An error that ends the run with exit code 1 and one line on stderr.
#[derive(Debug)]
pub enum FatalError {
    /// A SOURCE named on the command line does not exist or cannot be inspected.
    Source { source: PathBuf, cause: io::Error },
    /// An S3 bucket could not be listed: a report without it would look complete and not be.
    S3(String),
    /// The sources hold no object that could be read.
    NothingReadable { listed: usize, failed: usize },
    /// `--strict`, and some objects were unreadable.
    Strict { failed: usize },
    /// `--strict --verify`, and verification found problems.
    Unverified { problems: usize },
    /// `--public-keys` names a file that is not a list of public keys.
    PublicKeys(String),
    /// Partials that cannot be merged into a report (a shard missing, given twice, of another
    /// run, cut short, or mixed with log files).
    Partial(String),
    /// `--state DIR` cannot be used: locked by another run, made for other sources or options or
    /// by another version, or damaged. Never mixed into a report.
    State(String),
    /// The report could not be written.
    Output { target: String, cause: io::Error },
    /// The worker pool could not be built.
    Pool(String),
    /// The temporary files that hold the kept records could not be written or read back.
    Spool(io::Error),
}

impl fmt::Display for FatalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FatalError::Source { source, cause } if cause.kind() == io::ErrorKind::NotFound => {
                write!(f, "{}: no such file or directory", source.display())
            }
            FatalError::Source { source, cause } => write!(f, "{}: {cause}", source.display()),
            FatalError::NothingReadable { listed: 0, .. } => {
                write!(f, "no CloudTrail log objects found in the given sources")
            }
            FatalError::NothingReadable { listed, failed } => {
                write!(f, "none of the {listed} objects could be read ({failed} unreadable, listed above)")
            }
            FatalError::S3(message) => f.write_str(message),
            FatalError::Strict { failed } => {
                write!(f, "{failed} unreadable objects (listed above); no report written (--strict)")
            }
            FatalError::Unverified { problems } => {
                write!(f, "{problems} integrity problems (listed above); no report written (--strict)")
            }
            FatalError::PublicKeys(message) => write!(f, "--public-keys {message}"),
            FatalError::Partial(message) => write!(f, "cannot merge partials: {message}"),
            FatalError::State(message) => write!(f, "--state {message}"),
            FatalError::Output { target, cause } => write!(f, "cannot write {target}: {cause}"),
            FatalError::Pool(cause) => write!(f, "cannot start worker threads: {cause}"),
            FatalError::Spool(cause) => {
                write!(f, "cannot keep Instance Connect records in the temporary folder (TMPDIR): {cause}")
            }
        }
    }
}

impl std::error::Error for FatalError {}

/// Why an object could not be read.
#[derive(Debug)]
pub(crate) enum Reason {
    Read(io::Error),
    /// An S3 download that failed after the SDK's retries.
    Fetch(String),
    Empty,
    TooLarge {
        limit: u64,
    },
    Gzip(String),
    Truncated,
    /// The bytes are not JSON; `at` says where inside the object when that helps.
    Json {
        at: Option<String>,
        detail: String,
    },
    /// Valid JSON, but not a shape trailscope knows.
    Shape(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Read(e) => write!(f, "cannot read: {e}"),
            Reason::Fetch(cause) => write!(f, "cannot download: {cause}"),
            Reason::Empty => f.write_str("empty object"),
            Reason::TooLarge { limit } => {
                write!(f, "larger than {limit} bytes when decompressed (see --max-object-size)")
            }
            Reason::Gzip(detail) => write!(f, "corrupt gzip data: {detail}"),
            Reason::Truncated => f.write_str("truncated gzip stream (unexpected end of data)"),
            Reason::Json { at: Some(at), detail } => write!(f, "invalid JSON in {at}: {detail}"),
            Reason::Json { at: None, detail } => write!(f, "invalid JSON: {detail}"),
            Reason::Shape(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for Reason {}

impl Reason {
    /// The reason behind an I/O error met while reading an object: the source's own failure if
    /// it carried one, else what the gzip decoder found.
    pub(crate) fn from_io(error: io::Error) -> Reason {
        if !error.get_ref().is_some_and(|inner| inner.is::<Reason>()) {
            return match error.kind() {
                io::ErrorKind::UnexpectedEof => Reason::Truncated,
                _ => Reason::Gzip(error.to_string()),
            };
        }
        match error.into_inner().map(|inner| inner.downcast::<Reason>()) {
            Some(Ok(reason)) => *reason,
            // Checked above to be a Reason; kept total rather than panicking.
            other => Reason::Gzip(format!("{other:?}")),
        }
    }

    /// An I/O error of the source (a file, a download) that must not be taken for bad gzip data.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}
