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

impl ObjectError {
    /// What the failure is, without what is particular to the object: the S3 error code of a
    /// download (`cannot download: AccessDenied`), the kind of damage (`invalid JSON`, `corrupt
    /// gzip data`). Failures are grouped by it on stderr, in the human reports and in JSON's
    /// `failure_reasons`, so ten thousand objects refused for one reason make one line.
    pub fn reason(&self) -> &str {
        reason_of(&self.error)
    }
}

/// The reason of an error line as [`Reason`]'s `Display` writes it: the text before the first
/// `": "` (before the second when the first part is a `cannot …` verb, so the cause stays), cut
/// before a parenthesised detail.
pub(crate) fn reason_of(error: &str) -> &str {
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

/// Failures with one reason: how many, and the first few object names (in name order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureGroup<'a> {
    pub(crate) reason: &'a str,
    pub(crate) failures: Vec<&'a ObjectError>,
}

/// A reason with more failures than this is shown as one line (its count and a few names);
/// with up to this many, each failure is shown with its whole error, as it helps to see which
/// record of which object is damaged.
pub(crate) const LISTED_PER_REASON: usize = 20;
/// Names a grouped line shows before "and N more".
pub(crate) const NAMES_PER_GROUP: usize = 3;

/// `failures` by reason, most frequent first (then by reason), each group in name order.
pub(crate) fn group_failures(failures: &[ObjectError]) -> Vec<FailureGroup<'_>> {
    let mut groups: std::collections::BTreeMap<&str, Vec<&ObjectError>> = Default::default();
    for failure in failures {
        groups.entry(failure.reason()).or_default().push(failure);
    }
    let mut groups: Vec<FailureGroup<'_>> =
        groups.into_iter().map(|(reason, failures)| FailureGroup { reason, failures }).collect();
    for group in &mut groups {
        group.failures.sort();
    }
    groups.sort_by(|a, b| b.failures.len().cmp(&a.failures.len()).then(a.reason.cmp(b.reason)));
    groups
}

/// The failures shown one by one (those of reasons with at most [`LISTED_PER_REASON`], in name
/// order, as `failures` is sorted), and the groups shown as one line each.
pub(crate) fn split_failures(failures: &[ObjectError]) -> (Vec<&ObjectError>, Vec<FailureGroup<'_>>) {
    let (few, many): (Vec<_>, Vec<_>) =
        group_failures(failures).into_iter().partition(|g| g.failures.len() <= LISTED_PER_REASON);
    let mut few: Vec<&ObjectError> = few.into_iter().flat_map(|g| g.failures).collect();
    few.sort();
    (few, many)
}

/// Failures counted by reason, for JSON's `failure_reasons`.
pub(crate) fn failure_reasons(failures: &[ObjectError]) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for failure in failures {
        *counts.entry(failure.reason().to_owned()).or_insert(0) += 1;
    }
    counts
}

/// `n` with thousands separators: `12,345`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The first names of a large group and how many more: `a, b, c and 12,345 more`.
pub(crate) fn some_names(names: &[&str]) -> String {
    let shown = names.len().min(NAMES_PER_GROUP);
    let mut text = names[..shown].join(", ");
    if names.len() > shown {
        text.push_str(&format!(" and {} more", thousands(names.len() - shown)));
    }
    text
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
            FatalError::AccessStopped { objects, example, cause } => write!(
                f,
                "stopped early: the first {objects} objects read all failed with {reason} and none could be read ({cause}); for example {}: {}",
                example.object,
                example.error,
                reason = example.reason().trim_start_matches("cannot download: "),
            ),
            FatalError::Strict { failed } => {
                write!(f, "{failed} unreadable objects (listed above); no report written (--strict)")
            }
            FatalError::Unverified { problems } => {
                write!(f, "{problems} integrity problems (listed above); no report written (--strict)")
            }
            FatalError::PublicKeys { path, problem } => write!(f, "--public-keys {}: {problem}", path.display()),
            FatalError::Partial(message) => write!(f, "cannot merge partials: {message}"),
            FatalError::PartialUnreadable { object, cause } => write!(f, "cannot merge partials: {object}: {cause}"),
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

/// Why an object could not be read.
#[derive(Debug)]
pub(crate) enum Reason {
    /// A local file that could not be opened or read.
    Read(io::Error),
    /// An S3 download that failed after the SDK's retries, or was refused.
    Fetch(String),
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
    /// S3): `object`'s name and what the store takes (`a local file`, `an S3 key`). A bug of
    /// trailscope's, not the object's: said as a download failure, and, as one, not remembered
    /// by `--state` as the object's own.
    Misrouted {
        object: String,
        expected: &'static str,
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
            Reason::Interrupted { attempts, last } => {
                write!(f, "cannot download: interrupted {attempts} times (the last: {last})")
            }
            Reason::Changed { etag } => {
                write!(f, "cannot download: changed while read (its ETag is no longer {etag})")
            }
            Reason::Misrouted { object, expected } => write!(f, "cannot download: {object}: not {expected}"),
            Reason::Spool => f.write_str("cannot keep what was read in the temporary folder (TMPDIR)"),
            Reason::Archived(class) => write!(f, "archived ({class}): restore it to read it"),
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

    /// Whether the failure was of the way to the object (opening or reading a file, a download,
    /// the spool, trailscope itself) rather than of its bytes: the next run may read it, so
    /// `--state` does not remember it as the object's own.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Reason::Read(_)
                | Reason::Fetch(_)
                | Reason::Interrupted { .. }
                | Reason::Changed { .. }
                | Reason::Misrouted { .. }
                | Reason::Spool
        )
    }

    /// An I/O error of the source (a file, a download) that must not be taken for bad gzip data.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(object: &str, error: &str) -> ObjectError {
        ObjectError { object: object.into(), error: error.into() }
    }

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
        assert!(!matches!(misrouted, Reason::Fetch(_)), "told apart from S3's own answers");
        assert_eq!(Reason::Spool.to_string(), "cannot keep what was read in the temporary folder (TMPDIR)");
    }

    #[test]
    fn reasons_leave_out_what_is_particular_to_the_object() {
        let cases = [
            ("cannot download: AccessDenied: User: arn:x is not authorized", "cannot download: AccessDenied"),
            ("cannot download: timed out", "cannot download: timed out"),
            ("cannot read: Permission denied (os error 13)", "cannot read: Permission denied"),
            ("invalid JSON in Records[3]: the data ends inside a value", "invalid JSON"),
            ("corrupt gzip data: corrupt gzip stream", "corrupt gzip data"),
            ("neither gzip nor JSON (starts with bytes 6e 6f)", "neither gzip nor JSON"),
            ("truncated gzip stream (unexpected end of data)", "truncated gzip stream"),
            ("empty object", "empty object"),
        ];
        let interrupted = Reason::Interrupted { attempts: 5, last: "connection reset by peer".into() };
        let changed = Reason::Changed { etag: "\"9b2cf535f27731c974343645a3985328\"".into() };
        let cases = cases.into_iter().map(|(e, r)| (e.to_owned(), r)).chain([
            (interrupted.to_string(), "cannot download: interrupted 5 times"),
            (changed.to_string(), "cannot download: changed while read"),
        ]);
        for (error, reason) in cases {
            assert_eq!(reason_of(&error), reason, "{error}");
        }
    }

    #[test]
    fn groups_are_by_reason_most_frequent_first_names_in_order() {
        let failures = [
            failure("c", "empty object"),
            failure("b", "cannot download: SlowDown: Please reduce your request rate."),
            failure("a", "cannot download: SlowDown: Please reduce your request rate."),
        ];
        let groups = group_failures(&failures);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].reason, "cannot download: SlowDown");
        assert_eq!(groups[0].failures.iter().map(|f| f.object.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(failure_reasons(&failures).get("empty object"), Some(&1));
    }

    #[test]
    fn large_groups_name_a_few_and_count_the_rest() {
        assert_eq!(thousands(12345), "12,345");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        let names: Vec<String> = (0..12348).map(|i| format!("o{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(some_names(&names), "o0, o1, o2 and 12,345 more");
        assert_eq!(some_names(&names[..2]), "o0, o1");
    }
}
