//! The two ways a run goes wrong: one object that could not be read (collected, the run goes on)
//! and a fatal error that stops the run before any report is written.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An object (a file or an S3 key) that could not be read, and why.
///
/// Everything that can fail for a single object returns a [`Reason`]; the scan collects them with
/// the object's name, and the report lists them, sorted by object name (then by line). As JSON
/// (the report, partials, `--state`) the reason is its line: `{"object": …, "error": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectError {
    /// The object's display name: a local path or `s3://bucket/key`.
    pub object: String,
    /// What went wrong; its line is JSON's `error`.
    #[serde(rename = "error")]
    pub reason: Reason,
}

impl Ord for ObjectError {
    fn cmp(&self, other: &ObjectError) -> std::cmp::Ordering {
        self.object.cmp(&other.object).then_with(|| self.reason.to_string().cmp(&other.reason.to_string()))
    }
}

impl PartialOrd for ObjectError {
    fn partial_cmp(&self, other: &ObjectError) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// An object in an archive storage class (S3 Glacier Flexible Retrieval, Deep Archive, or an
/// Intelligent-Tiering archive tier): not unreadable, but not readable until restored. Never
/// fetched when the listing says so; counted apart, and written to `--restore-manifest`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ArchivedObject {
    /// `s3://bucket/key`.
    pub object: String,
    /// As S3 names it: `GLACIER`, `DEEP_ARCHIVE`, or `INTELLIGENT_TIERING` (with the tier, when
    /// GetObject named it: `INTELLIGENT_TIERING/ARCHIVE_ACCESS`).
    pub storage_class: String,
}

/// An error that ends the run with exit status 1 and one line on stderr.
///
/// Each names what it is about (a path, an output, an object) in its message. Where the cause is
/// an error of its own (an I/O error), [`std::error::Error::source`] returns it, so a caller can
/// ask for its kind; the one-line message already includes the cause's text, so a printer that
/// walks the chain would say it twice.
#[derive(Debug)]
pub enum FatalError {
    /// A SOURCE named on the command line (or a `--public-keys` file) does not exist or cannot
    /// be inspected.
    Source { path: PathBuf, cause: io::Error },
    /// An S3 bucket could not be listed (a report without it would look complete and not be),
    /// a partial could not be uploaded, or CloudTrail's public keys could not be fetched.
    S3(S3Error),
    /// The first objects of the run all failed with one access error: every other GET would
    /// fail the same way. `cause` says what is missing.
    AccessStopped { objects: usize, example: ObjectError, cause: String },
    /// The sources hold no object that could be read.
    NothingReadable { listed: usize, failed: usize, skipped_by_name: u64 },
    /// `--strict`, and some objects were unreadable.
    Strict { failed: usize },
    /// `--strict --verify`, and verification found problems.
    Unverified { problems: usize },
    /// `--public-keys` names a file that is not a list of public keys: which entry, or why not.
    PublicKeys { path: PathBuf, problem: String },
    /// Partials that cannot be merged into a report (a shard missing, given twice, of another
    /// run, or mixed with log files).
    Partial(String),
    /// A partial that cannot be read whole (cut short, damaged): the report would silently lack
    /// its shard. `cause` is why, as it would be for a log object.
    PartialUnreadable { object: String, cause: Box<dyn std::error::Error + Send + Sync> },
    /// `--state DIR` cannot be used: locked by another run, made for other sources or options or
    /// by another version, or damaged. Never mixed into a report.
    State(String),
    /// The report could not be written.
    Output { target: String, cause: io::Error },
    /// The worker threads or the I/O runtime could not be started, or a task of the reading
    /// stage ended without its result (it panicked): `part` names the runtime or the task, `None`
    /// for the worker threads.
    Pool { part: Option<&'static str>, cause: Box<dyn std::error::Error + Send + Sync> },
    /// The temporary files that hold the kept records could not be written or read back.
    Spool(io::Error),
    /// What `--verify` checks could not be kept in the temporary folder.
    Facts(io::Error),
    /// Under `--redact`: a fatal error's line, redacted, or the output could not be redacted
    /// (then nothing is written: unredacted output is never the fallback).
    Redacted(String),
    /// `connections --finding ID`: no finding of what was read has this id.
    NoSuchFinding(String),
}

/// A request to S3 (or CloudTrail) that failed: one line naming the bucket, key or region and
/// what S3 answered, and the SDK's error it came from, when there was one.
#[derive(Debug)]
pub struct S3Error {
    message: String,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl FatalError {
    /// [`FatalError::Pool`]: `part` (or, for `None`, the worker threads) failed with `cause`.
    pub(crate) fn pool(
        part: Option<&'static str>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> FatalError {
        FatalError::Pool { part, cause: Box::new(cause) }
    }

    /// [`FatalError::PartialUnreadable`]: the partial `object` could not be read, for `cause`.
    pub(crate) fn partial_unreadable(
        object: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> FatalError {
        FatalError::PartialUnreadable { object: object.to_owned(), cause: Box::new(cause) }
    }
}

impl S3Error {
    /// `message` says what failed and why, `cause` is the error it was made from.
    pub(crate) fn caused_by(
        message: String,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> S3Error {
        S3Error { message, cause: Some(Box::new(cause)) }
    }
}

/// A failure found by trailscope itself (no S3 client, a listing that went wrong), with no error
/// of the SDK behind it.
impl From<String> for S3Error {
    fn from(message: String) -> S3Error {
        S3Error { message, cause: None }
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for S3Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Display for FatalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FatalError::Source { path, cause } if cause.kind() == io::ErrorKind::NotFound => {
                write!(f, "{}: no such file or directory", path.display())
            }
            FatalError::Source { path, cause } => write!(f, "{}: {cause}", path.display()),
            FatalError::NothingReadable { listed: 0, skipped_by_name: 0, .. } => {
                write!(f, "no CloudTrail log objects found in the given sources")
            }
            FatalError::NothingReadable { listed: 0, skipped_by_name, .. } => {
                let (objects, were, them) = if *skipped_by_name == 1 {
                    ("object was", "its", "it")
                } else {
                    ("objects were", "their", "them")
                };
                write!(
                    f,
                    "no CloudTrail log objects found in the given sources: {skipped_by_name} {objects} skipped by \
                     {were} names (in folders and prefixes only *.json, *.json.gz, *.jsonl and *.jsonl.gz \
                     are read); to read {them}, name {them} on the command line or add --include GLOB \
                     (e.g. --include '*.log')"
                )
            }
            FatalError::NothingReadable { listed, failed, .. } => {
                write!(f, "none of the {listed} objects could be read ({failed} unreadable, listed above)")
            }
            FatalError::S3(error) => error.fmt(f),
            FatalError::AccessStopped { objects, example, cause } => {
                // S3's error code: what every other GET would be answered.
                let reason = match &example.reason {
                    Reason::Fetch { code, .. } => Cow::from(code.as_str()),
                    other => other.group(),
                };
                write!(
                    f,
                    "stopped early: the first {objects} objects read all failed with {reason} and none could be read ({cause}); for example {}: {}",
                    example.object, example.reason,
                )
            }
            FatalError::Strict { failed } => {
                write!(f, "{failed} unreadable objects (listed above); no report written (--strict)")
            }
            FatalError::Unverified { problems } => {
                write!(f, "{problems} integrity problems (listed above); no report written (--strict)")
            }
            FatalError::PublicKeys { path, problem } => {
                write!(f, "--public-keys {}: {problem}", path.display())
            }
            FatalError::Partial(message) => write!(f, "cannot merge partials: {message}"),
            FatalError::PartialUnreadable { object, cause } => {
                write!(f, "cannot merge partials: {object}: {cause}")
            }
            FatalError::State(message) => write!(f, "--state {message}"),
            FatalError::Output { target, cause } => write!(f, "cannot write {target}: {cause}"),
            FatalError::Pool { part: None, cause } => write!(f, "cannot start worker threads: {cause}"),
            FatalError::Pool { part: Some(part), cause } => {
                write!(f, "cannot start worker threads: {part}: {cause}")
            }
            FatalError::Spool(cause) => {
                write!(f, "cannot keep Instance Connect records in the temporary folder (TMPDIR): {cause}")
            }
            FatalError::Facts(cause) => {
                write!(f, "cannot keep what --verify checks in the temporary folder (TMPDIR): {cause}")
            }
            FatalError::Redacted(line) => f.write_str(line),
            FatalError::NoSuchFinding(id) => write!(
                f,
                "--finding {id}: no finding of what was read has this id (`trailscope findings` lists them, \
                 with the same thresholds)"
            ),
        }
    }
}

impl std::error::Error for FatalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FatalError::Source { cause, .. }
            | FatalError::Output { cause, .. }
            | FatalError::Spool(cause)
            | FatalError::Facts(cause) => Some(cause),
            // The SDK's error itself: the S3 error's message already says what it was doing.
            FatalError::S3(error) => {
                error.cause.as_deref().map(|cause| cause as &(dyn std::error::Error + 'static))
            }
            FatalError::Pool { cause, .. } | FatalError::PartialUnreadable { cause, .. } => {
                Some(cause.as_ref() as &(dyn std::error::Error + 'static))
            }
            FatalError::AccessStopped { .. }
            | FatalError::NothingReadable { .. }
            | FatalError::Strict { .. }
            | FatalError::Unverified { .. }
            | FatalError::PublicKeys { .. }
            | FatalError::Partial(_)
            | FatalError::State(_)
            | FatalError::Redacted(_)
            | FatalError::NoSuchFinding(_) => None,
        }
    }
}

/// Why an object could not be read: typed from where the failure happens to the output.
///
/// Each reason has its one line ([`fmt::Display`], what the report and the warnings print) and
/// its group ([`Reason::group`]: the line without what is particular to the object, which
/// failures are grouped and counted by). Partials and `--state` keep a reason as its line, and
/// read it back with [`Reason::parse`], the one place a line is turned back into a reason: a
/// test makes the round trip with every variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A local file that could not be opened or read.
    Read(Io),
    /// A local folder that could not be listed.
    ListFolder(Io),
    /// A local path whose kind (file, folder, link) could not be found out.
    Inspect(Io),
    /// A FIFO, socket or device inside a folder: not a log, and opening a FIFO would block.
    NotAFile,
    /// An S3 download that failed after the SDK's retries, or was refused: S3's error code (or
    /// what failed, for an error of the transport), and S3's message or the transport's causes.
    Fetch {
        code: String,
        detail: Option<String>,
    },
    /// An S3 download whose answer broke off (a reset, an incomplete body, a stall past
    /// `--s3-timeout`) on each of its `attempts`, every one it was allowed; `last` says how the
    /// last one broke.
    Interrupted {
        attempts: u32,
        last: String,
    },
    /// A streamed object that changed while it was read: the rest of it was asked for with the
    /// ETag it was first read at (`If-Match`), and S3 answered 412. Never read from two versions.
    Changed {
        etag: String,
    },
    /// An object handed to a store that does not hold it (a key to the local store, a file to
    /// S3): `object`'s name and what the store takes (one of [`Reason::MISROUTED`]). A bug of
    /// trailscope's, not the object's: said as a download failure, and, as one, not remembered
    /// by `--state` as the object's own.
    Misrouted {
        object: String,
        expected: &'static str,
    },
    /// Event history could not be asked (`LookupEvents`): `asked` names the lookup
    /// (`LookupEvents EventSource=…`), `said` what CloudTrail or the transport answered.
    Lookup {
        asked: String,
        said: String,
    },
    /// What an object gave could not be kept in the temporary folder (an Instance Connect record
    /// in the spool, a partial's fact for `--verify`): the object stops there, and the run stops
    /// with [`FatalError::Spool`] or [`FatalError::Facts`], which says why.
    Spool,
    /// The object is in an archive tier (GetObject answered `InvalidObjectState`): the storage
    /// class, as [`ArchivedObject::storage_class`] names it.
    Archived(String),
    Empty,
    TooLarge {
        limit: u64,
    },
    Gzip(String),
    Truncated,
    /// The first bytes are neither gzip's magic nor the start of JSON: they are said in hex.
    NeitherGzipNorJson(String),
    /// The bytes are not JSON; `at` says where inside the object when that helps.
    Json {
        at: Option<String>,
        detail: String,
    },
    /// Valid JSON, but not a shape trailscope knows: `what` it is (the group), and `detail`
    /// what is particular to this object, if anything.
    Shape {
        what: String,
        detail: Option<String>,
    },
    /// Not a failure: an object `--state` read before that changed since, so it was read again
    /// (a delivered log file never changes). Warned about beside the failures, grouped as they are.
    ChangedSince,
}

/// An I/O error as a reason keeps it: the system's text, and the OS error code apart (so that
/// `Permission denied` groups whatever the code, and the error can be made again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Io {
    /// The text, without ` (os error N)`.
    pub text: String,
    /// The OS error code, when the error came from the system.
    pub os: Option<i32>,
}

impl From<&io::Error> for Io {
    fn from(error: &io::Error) -> Io {
        let line = error.to_string();
        let os = error.raw_os_error();
        let text = match os {
            // std writes an OS error as its description and ` (os error N)`.
            Some(code) => line.strip_suffix(&format!(" (os error {code})")).map(str::to_owned),
            None => None,
        };
        match text {
            Some(text) => Io { text, os },
            None => Io { text: line, os: None },
        }
    }
}

impl From<io::Error> for Io {
    fn from(error: io::Error) -> Io {
        Io::from(&error)
    }
}

impl Io {
    /// The I/O error again (for a fatal error of the temporary folder): the same line.
    pub(crate) fn to_error(&self) -> io::Error {
        match self.os {
            Some(code) if io::Error::from_raw_os_error(code).to_string() == self.to_string() => {
                io::Error::from_raw_os_error(code)
            }
            _ => io::Error::other(self.to_string()),
        }
    }

    /// An error line written by [`Io`]'s `Display` (` (os error N)` at its end, or not).
    fn parse(line: &str) -> Io {
        let os = line.strip_suffix(')').and_then(|rest| {
            let (text, code) = rest.rsplit_once(" (os error ")?;
            Some(Io { text: text.to_owned(), os: Some(code.parse().ok()?) })
        });
        os.unwrap_or_else(|| Io { text: line.to_owned(), os: None })
    }
}

impl fmt::Display for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os {
            Some(code) => write!(f, "{} (os error {code})", self.text),
            None => f.write_str(&self.text),
        }
    }
}

const CHANGED_SINCE: &str =
    "changed since an earlier run read it (size or ETag or modification time): read again; \
                             a delivered log file should never change";
const NOT_A_FILE: &str = "not a regular file (a FIFO, socket or device): not read";
const SPOOL: &str = "cannot keep what was read in the temporary folder (TMPDIR)";
const TRUNCATED: &str = "truncated gzip stream (unexpected end of data)";

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Read(e) => write!(f, "cannot read: {e}"),
            Reason::ListFolder(e) => write!(f, "cannot list directory: {e}"),
            Reason::Inspect(e) => write!(f, "cannot inspect: {e}"),
            Reason::NotAFile => f.write_str(NOT_A_FILE),
            Reason::Fetch { code, detail: None } => write!(f, "cannot download: {code}"),
            Reason::Fetch { code, detail: Some(detail) } => write!(f, "cannot download: {code}: {detail}"),
            Reason::Interrupted { attempts, last } => {
                write!(f, "cannot download: interrupted {attempts} times (the last: {last})")
            }
            Reason::Changed { etag } => {
                write!(f, "cannot download: changed while read (its ETag is no longer {etag})")
            }
            Reason::Misrouted { object, expected } => write!(f, "cannot download: {object}: not {expected}"),
            Reason::Lookup { asked, said } => write!(f, "{asked}: {said}"),
            Reason::Spool => f.write_str(SPOOL),
            Reason::Archived(class) => write!(f, "archived ({class}): restore it to read it"),
            Reason::Empty => f.write_str("empty object"),
            Reason::TooLarge { limit } => {
                write!(f, "larger than {limit} bytes when decompressed (see --max-object-size)")
            }
            Reason::Gzip(detail) => write!(f, "corrupt gzip data: {detail}"),
            Reason::Truncated => f.write_str(TRUNCATED),
            Reason::NeitherGzipNorJson(first) => {
                write!(f, "neither gzip nor JSON (starts with bytes {first})")
            }
            Reason::Json { at: Some(at), detail } => write!(f, "invalid JSON in {at}: {detail}"),
            Reason::Json { at: None, detail } => write!(f, "invalid JSON: {detail}"),
            Reason::Shape { what, detail: None } => f.write_str(what),
            Reason::Shape { what, detail: Some(detail) } => write!(f, "{what}: {detail}"),
            Reason::ChangedSince => f.write_str(CHANGED_SINCE),
        }
    }
}

impl std::error::Error for Reason {}

impl Reason {
    /// What a [`Reason::Misrouted`] object's store takes, one per store.
    pub(crate) const MISROUTED: [&'static str; 3] =
        ["a local file", "an S3 key", "an hour of event history this run listed"];

    /// [`Reason::Shape`] with nothing particular to the object.
    pub(crate) fn shape(what: impl Into<String>) -> Reason {
        Reason::Shape { what: what.into(), detail: None }
    }

    /// [`Reason::Shape`]: `what` it is, and what is particular to the object.
    pub(crate) fn shape_of(what: impl Into<String>, detail: impl fmt::Display) -> Reason {
        Reason::Shape { what: what.into(), detail: Some(detail.to_string()) }
    }

    /// [`Reason::Read`] of an I/O error.
    pub(crate) fn read(error: io::Error) -> Reason {
        Reason::Read(Io::from(error))
    }

    /// What the failure is, without what is particular to the object: the S3 error code of a
    /// download (`cannot download: AccessDenied`), the kind of damage (`invalid JSON`, `corrupt
    /// gzip data`). Failures are grouped by it on stderr, in the human reports and in JSON's
    /// `failure_reasons`, so ten thousand objects refused for one reason make one line.
    pub fn group(&self) -> Cow<'_, str> {
        match self {
            Reason::Read(e) => format!("cannot read: {}", e.text).into(),
            Reason::ListFolder(e) => format!("cannot list directory: {}", e.text).into(),
            Reason::Inspect(e) => format!("cannot inspect: {}", e.text).into(),
            Reason::NotAFile => "not a regular file".into(),
            Reason::Fetch { code, .. } => format!("cannot download: {code}").into(),
            Reason::Interrupted { attempts, .. } => {
                format!("cannot download: interrupted {attempts} times").into()
            }
            Reason::Changed { .. } => "cannot download: changed while read".into(),
            Reason::Misrouted { object, .. } => format!("cannot download: {object}").into(),
            Reason::Lookup { asked, .. } => asked.into(),
            Reason::Spool => "cannot keep what was read in the temporary folder".into(),
            Reason::Archived(_) => "archived".into(),
            Reason::Empty => "empty object".into(),
            Reason::TooLarge { limit } => format!("larger than {limit} bytes when decompressed").into(),
            Reason::Gzip(_) => "corrupt gzip data".into(),
            Reason::Truncated => "truncated gzip stream".into(),
            Reason::NeitherGzipNorJson(_) => "neither gzip nor JSON".into(),
            Reason::Json { .. } => "invalid JSON".into(),
            Reason::Shape { what, .. } => what.into(),
            Reason::ChangedSince => "changed since an earlier run read it".into(),
        }
    }

    /// The reason whose line is `line` (as [`fmt::Display`] wrote it): how a partial, the
    /// `--state` files and a redacted line give their failures back. Total: a line of no known
    /// form (written by hand, or a form this version no longer writes) is a [`Reason::Shape`]
    /// grouped by the text before its first `: `, and prints as it was.
    pub fn parse(line: &str) -> Reason {
        match line {
            NOT_A_FILE => return Reason::NotAFile,
            SPOOL => return Reason::Spool,
            TRUNCATED => return Reason::Truncated,
            CHANGED_SINCE => return Reason::ChangedSince,
            "empty object" => return Reason::Empty,
            _ => {}
        }
        let between = |prefix: &str, suffix: &str| line.strip_prefix(prefix)?.strip_suffix(suffix);
        if let Some(rest) = line.strip_prefix("cannot read: ") {
            return Reason::Read(Io::parse(rest));
        }
        if let Some(rest) = line.strip_prefix("cannot list directory: ") {
            return Reason::ListFolder(Io::parse(rest));
        }
        if let Some(rest) = line.strip_prefix("cannot inspect: ") {
            return Reason::Inspect(Io::parse(rest));
        }
        if let Some(rest) = line.strip_prefix("cannot download: ") {
            return Reason::download(rest);
        }
        if let Some(class) = between("archived (", "): restore it to read it") {
            return Reason::Archived(class.to_owned());
        }
        if let Some(limit) = between("larger than ", " bytes when decompressed (see --max-object-size)") {
            if let Ok(limit) = limit.parse() {
                return Reason::TooLarge { limit };
            }
        }
        if let Some(detail) = line.strip_prefix("corrupt gzip data: ") {
            return Reason::Gzip(detail.to_owned());
        }
        if let Some(first) = between("neither gzip nor JSON (starts with bytes ", ")") {
            return Reason::NeitherGzipNorJson(first.to_owned());
        }
        if let Some(detail) = line.strip_prefix("invalid JSON: ") {
            return Reason::Json { at: None, detail: detail.to_owned() };
        }
        if let Some((at, detail)) = line.strip_prefix("invalid JSON in ").and_then(|r| r.split_once(": ")) {
            return Reason::Json { at: Some(at.to_owned()), detail: detail.to_owned() };
        }
        match line.split_once(": ") {
            Some((asked, said)) if asked.starts_with("LookupEvents ") => {
                Reason::Lookup { asked: asked.to_owned(), said: said.to_owned() }
            }
            Some((what, detail)) => Reason::shape_of(what, detail),
            None => Reason::shape(line),
        }
    }

    /// A download failure's line after `cannot download: `.
    fn download(rest: &str) -> Reason {
        let interrupted = rest.strip_prefix("interrupted ").and_then(|r| r.strip_suffix(')'));
        if let Some((attempts, last)) = interrupted.and_then(|r| r.split_once(" times (the last: ")) {
            if let Ok(attempts) = attempts.parse() {
                return Reason::Interrupted { attempts, last: last.to_owned() };
            }
        }
        let changed = rest.strip_prefix("changed while read (its ETag is no longer ");
        if let Some(etag) = changed.and_then(|r| r.strip_suffix(')')) {
            return Reason::Changed { etag: etag.to_owned() };
        }
        for expected in Reason::MISROUTED {
            if let Some(object) = rest.strip_suffix(expected).and_then(|r| r.strip_suffix(": not ")) {
                return Reason::Misrouted { object: object.to_owned(), expected };
            }
        }
        match rest.split_once(": ") {
            Some((code, detail)) => Reason::Fetch { code: code.to_owned(), detail: Some(detail.to_owned()) },
            None => Reason::Fetch { code: rest.to_owned(), detail: None },
        }
    }

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

    /// Whether the failure was of the way to the object (opening or reading a file, a download,
    /// the spool, trailscope itself) rather than of its bytes: the next run may read it, so
    /// `--state` does not remember it as the object's own.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Reason::Read(_)
                | Reason::ListFolder(_)
                | Reason::Inspect(_)
                | Reason::Fetch { .. }
                | Reason::Interrupted { .. }
                | Reason::Changed { .. }
                | Reason::Misrouted { .. }
                | Reason::Lookup { .. }
                | Reason::Spool
        )
    }

    /// An I/O error of the source (a file, a download) that must not be taken for bad gzip data.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// A reason is kept (in partials, `--state`, the report) as its line: the format main has always
/// written, so files written before reasons were typed read the same.
impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Reason, D::Error> {
        let line = String::deserialize(deserializer)?;
        Ok(Reason::parse(&line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_errors_keep_their_io_cause_as_source_and_print_one_line() {
        use std::error::Error as _;
        let missing =
            FatalError::Source { path: "/no/such".into(), cause: io::Error::from(io::ErrorKind::NotFound) };
        assert_eq!(missing.to_string(), "/no/such: no such file or directory");
        let cause = missing.source().and_then(|e| e.downcast_ref::<io::Error>()).expect("an io::Error");
        assert_eq!(cause.kind(), io::ErrorKind::NotFound);
        let output = FatalError::Output {
            target: "report.json".into(),
            cause: io::Error::new(io::ErrorKind::StorageFull, "no space left on device"),
        };
        assert_eq!(output.to_string(), "cannot write report.json: no space left on device");
        assert!(output.source().is_some());
        let keys = FatalError::PublicKeys { path: "keys.json".into(), problem: "not JSON".into() };
        assert_eq!(keys.to_string(), "--public-keys keys.json: not JSON");
        assert!(keys.source().is_none(), "the problem is ours to describe, not an error of its own");
        let cause = io::Error::new(io::ErrorKind::TimedOut, "dispatch failure");
        let listing = FatalError::S3(S3Error::caused_by("cannot list s3://b/p: timed out".into(), cause));
        assert_eq!(listing.to_string(), "cannot list s3://b/p: timed out");
        assert_eq!(listing.source().expect("the SDK's error").to_string(), "dispatch failure");
        assert!(FatalError::S3("s3://b: no S3 client".to_owned().into()).source().is_none());
    }

    #[test]
    fn pool_and_partial_errors_keep_their_cause_as_source() {
        use std::error::Error as _;
        let runtime = FatalError::pool(Some("I/O runtime"), io::Error::other("no threads left"));
        assert_eq!(runtime.to_string(), "cannot start worker threads: I/O runtime: no threads left");
        let cause = runtime.source().and_then(|e| e.downcast_ref::<io::Error>()).expect("an io::Error");
        assert_eq!(cause.to_string(), "no threads left");
        let workers = FatalError::pool(None, io::Error::other("EAGAIN"));
        assert_eq!(workers.to_string(), "cannot start worker threads: EAGAIN");
        let partial = FatalError::partial_unreadable("shard-0.jsonl.gz", Reason::Truncated);
        assert_eq!(
            partial.to_string(),
            "cannot merge partials: shard-0.jsonl.gz: truncated gzip stream (unexpected end of data)"
        );
        let reason = partial.source().and_then(|e| e.downcast_ref::<Reason>()).expect("the reason");
        assert!(matches!(reason, Reason::Truncated));
        assert!(FatalError::Partial("shard 1 of 2 is missing".into()).source().is_none());
    }

    #[test]
    fn an_object_handed_to_the_wrong_store_is_not_a_download_failure_of_s3() {
        let misrouted = Reason::Misrouted { object: "s3://b/k".into(), expected: "a local file" };
        assert_eq!(misrouted.to_string(), "cannot download: s3://b/k: not a local file");
        assert!(
            !matches!(Reason::parse(&misrouted.to_string()), Reason::Fetch { .. }),
            "told apart from S3's own answers"
        );
        assert_eq!(Reason::Spool.to_string(), "cannot keep what was read in the temporary folder (TMPDIR)");
    }

    /// One reason of each variant (several for some), with the awkward values each may hold:
    /// `: ` and parentheses inside free text, a name that ends like another form.
    fn every_reason() -> Vec<Reason> {
        let io = |text: &str, os| Io { text: text.into(), os };
        let reasons = vec![
            Reason::Read(io("Permission denied", Some(13))),
            Reason::Read(io("failed to fill whole buffer", None)),
            Reason::ListFolder(io("Too many open files", Some(24))),
            Reason::Inspect(io("No such file or directory", Some(2))),
            Reason::NotAFile,
            Reason::Fetch {
                code: "AccessDenied".into(),
                detail: Some("User: arn:aws:iam::1:user/x (here): no".into()),
            },
            Reason::Fetch { code: "timed out".into(), detail: None },
            Reason::Fetch {
                code: "asked for the rest from byte 5, answered the whole object".into(),
                detail: None,
            },
            Reason::Interrupted {
                attempts: 5,
                last: "download interrupted: connection reset (os error 104)".into(),
            },
            Reason::Changed { etag: "\"9b2cf535f27731c974343645a3985328\"".into() },
            Reason::Misrouted { object: "s3://b/k: not (x)".into(), expected: "a local file" },
            Reason::Misrouted { object: "/l".into(), expected: "an S3 key" },
            Reason::Misrouted {
                object: "cloudtrail://us-east-1".into(),
                expected: "an hour of event history this run listed",
            },
            Reason::Lookup {
                asked: "LookupEvents EventSource=ec2-instance-connect.amazonaws.com".into(),
                said: "AccessDeniedException: no (the credentials need cloudtrail:LookupEvents)".into(),
            },
            Reason::Spool,
            Reason::Archived("INTELLIGENT_TIERING/ARCHIVE_ACCESS".into()),
            Reason::Empty,
            Reason::TooLarge { limit: 8 << 30 },
            Reason::Gzip("invalid gzip header: (x)".into()),
            Reason::Truncated,
            Reason::NeitherGzipNorJson("6e 6f 74".into()),
            Reason::Json { at: Some("line 3, Records[2]".into()), detail: "expected `:` at: 1".into() },
            Reason::Json { at: None, detail: "EOF while parsing".into() },
            Reason::shape("a record that is not a JSON object"),
            Reason::shape_of("a JSON object with both \"Records\" and \"Events\"", "not a CloudTrail log"),
            Reason::shape_of("a residue line", "missing field `v`: at (1)"),
            Reason::ChangedSince,
        ];
        // A new variant fails to compile here until it has a place above.
        let mut seen = [false; 19];
        for reason in &reasons {
            seen[match reason {
                Reason::Read(_) => 0,
                Reason::ListFolder(_) => 1,
                Reason::Inspect(_) => 2,
                Reason::NotAFile => 3,
                Reason::Fetch { .. } => 4,
                Reason::Interrupted { .. } => 5,
                Reason::Changed { .. } => 6,
                Reason::Misrouted { .. } => 7,
                Reason::Lookup { .. } => 8,
                Reason::Spool => 9,
                Reason::Archived(_) => 10,
                Reason::Empty => 11,
                Reason::TooLarge { .. } => 12,
                Reason::Gzip(_) => 13,
                Reason::Truncated => 14,
                Reason::NeitherGzipNorJson(_) => 15,
                Reason::Json { .. } => 16,
                Reason::Shape { .. } => 17,
                Reason::ChangedSince => 18,
            }] = true;
        }
        assert!(seen.iter().all(|s| *s), "every variant has a reason above: {seen:?}");
        reasons
    }

    #[test]
    fn every_reason_makes_the_round_trip_through_its_line() {
        for reason in every_reason() {
            let line = reason.to_string();
            assert_eq!(Reason::parse(&line), reason, "{line}");
            let json =
                serde_json::to_string(&ObjectError { object: "o".into(), reason: reason.clone() }).unwrap();
            assert_eq!(
                json,
                format!(r#"{{"object":"o","error":{}}}"#, serde_json::to_string(&line).unwrap())
            );
            let back: ObjectError = serde_json::from_str(&json).unwrap();
            assert_eq!(back.reason, reason);
        }
        for expected in Reason::MISROUTED {
            let misrouted = Reason::Misrouted { object: "x".into(), expected };
            assert_eq!(Reason::parse(&misrouted.to_string()), misrouted);
        }
    }

    /// How main grouped failures before reasons were typed: by their line, cut at its first `: `
    /// (its second after `cannot …`) and before ` (`. Kept here only to show that every typed
    /// group is the one the reports and partials of earlier versions counted.
    fn grouped_before(error: &str) -> &str {
        if error.starts_with("invalid JSON") {
            return "invalid JSON";
        }
        let mut end = error.find(": ").unwrap_or(error.len());
        if error.starts_with("cannot ") && end < error.len() {
            end = error[end + 2..].find(": ").map_or(error.len(), |second| end + 2 + second);
        }
        let reason = &error[..end];
        reason.find(" (").map_or(reason, |paren| &reason[..paren])
    }

    #[test]
    fn groups_are_the_ones_failures_were_counted_under_before() {
        for reason in every_reason() {
            let line = reason.to_string();
            // Free text of ours holding `: ` or ` (` where the old rule cut: it cut there too.
            let odd = matches!(&reason, Reason::Misrouted { object, .. } if object.contains(": "));
            if !odd {
                assert_eq!(reason.group(), grouped_before(&line), "{line}");
            }
            assert_eq!(Reason::parse(&line).group(), reason.group(), "{line}");
        }
    }

    #[test]
    fn lines_written_by_earlier_versions_read_back_as_their_reasons() {
        let cases = [
            ("cannot download: AccessDenied: User: arn:x is not authorized", "cannot download: AccessDenied"),
            ("cannot download: timed out", "cannot download: timed out"),
            (
                "cannot download: dispatch failure: io error: connection refused (os error 111)",
                "cannot download: dispatch failure",
            ),
            ("cannot read: Permission denied (os error 13)", "cannot read: Permission denied"),
            (
                "cannot list directory: Permission denied (os error 13)",
                "cannot list directory: Permission denied",
            ),
            ("invalid JSON in Records[3]: the data ends inside a value", "invalid JSON"),
            ("corrupt gzip data: corrupt gzip stream", "corrupt gzip data"),
            ("neither gzip nor JSON (starts with bytes 6e 6f)", "neither gzip nor JSON"),
            ("truncated gzip stream (unexpected end of data)", "truncated gzip stream"),
            ("empty object", "empty object"),
            (
                "larger than 1024 bytes when decompressed (see --max-object-size)",
                "larger than 1024 bytes when decompressed",
            ),
            ("\"Records\" is not an array", "\"Records\" is not an array"),
            ("signature sidecar /a/b.sig: not base64", "signature sidecar /a/b.sig"),
            ("a line of no known form", "a line of no known form"),
        ];
        for (line, group) in cases {
            let reason = Reason::parse(line);
            assert_eq!(reason.to_string(), line);
            assert_eq!(reason.group(), group, "{line}");
            assert_eq!(reason.group(), grouped_before(line), "{line}");
        }
        assert!(matches!(
            Reason::parse("cannot read: x (os error 13)"),
            Reason::Read(Io { os: Some(13), .. })
        ));
        assert!(Reason::parse("cannot read: gone").is_transient());
        assert!(!Reason::parse("empty object").is_transient());
    }

    #[test]
    fn an_io_error_keeps_its_line_and_its_code() {
        let denied = io::Error::from_raw_os_error(13);
        let io = Io::from(&denied);
        assert_eq!(io.os, Some(13));
        assert!(!io.text.contains("os error"), "{}", io.text);
        assert_eq!(io.to_string(), denied.to_string());
        assert_eq!(io.to_error().to_string(), denied.to_string());
        assert_eq!(io.to_error().raw_os_error(), Some(13));
        let other = Io::from(io::Error::new(io::ErrorKind::UnexpectedEof, "failed to fill whole buffer"));
        assert_eq!(other, Io { text: "failed to fill whole buffer".into(), os: None });
        assert_eq!(other.to_error().to_string(), "failed to fill whole buffer");
    }
}
