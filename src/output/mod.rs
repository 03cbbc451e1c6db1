//! Output: renders a [`Report`] as text, JSON, Markdown or HTML, and writes it to stdout or,
//! atomically, to a file. Text, Markdown and HTML share one [`document`] so they always say the
//! same things, and all pass every string through [`sanitize`], as do the warnings and error
//! lines on stderr. [`rows`] renders the rows of `trailscope connections` as they come, into a
//! [`Sink`].

mod document;
pub(crate) mod failures;
pub(crate) mod findings;
mod html;
mod markdown;
mod ocsf;
pub(crate) mod rows;
pub mod sanitize;
mod text;
mod timeline;

use std::io::{self, BufWriter, Write};
use std::path::Path;

use clap::ValueEnum;

use crate::atomic::{Mode, Staged};
use crate::error::FatalError;
use crate::report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

/// How `trailscope connections` writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Jsonl,
}

/// How `trailscope findings` writes its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    Table,
    Csv,
    Jsonl,
    /// OCSF 1.1 Detection Finding (class 2004), one JSON object a line.
    Ocsf,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// List unchanged fields too.
    pub all: bool,
}

#[cfg(test)]
mod manifest_tests {
    use crate::error::{ArchivedObject, ObjectError, Reason};

    #[test]
    fn archived_and_grouped_sections_escape_what_they_show() {
        let mut report = super::timeline::tests::report_with(Vec::new());
        let hostile = "s3://b/AWSLogs/x\u{1b}[31m<script>.json.gz";
        report.archived = (0..30)
            .map(|i| ArchivedObject {
                object: format!("{hostile}{i:02}"),
                storage_class: "DEEP_ARCHIVE".into(),
            })
            .collect();
        report.summary.objects_archived = 30;
        report.summary.archived_by_storage_class.insert("DEEP_ARCHIVE".into(), 30);
        report.failures = (0..25)
            .map(|i| ObjectError {
                object: format!("{hostile}f{i:02}"),
                reason: Reason::Fetch {
                    code: "SlowDown".into(),
                    detail: Some("Please reduce your request rate.".into()),
                },
            })
            .collect();
        report.summary.objects_failed = 25;
        let text = String::from_utf8(super::render(&report, super::Format::Text, &Default::default()))
            .expect("UTF-8");
        assert!(!text.contains('\u{1b}'), "no terminal control reaches the text report");
        assert!(text.contains("25 unreadable, 30 archived:"), "{text}");
        assert!(
            text.contains("Archived (not read)")
                && text.contains("30 (30 DEEP_ARCHIVE): restore them, then run again"),
            "{text}"
        );
        assert!(text.contains("Archived objects (30)") && text.contains("and 27 more"), "{text}");
        assert!(text.contains("cannot download: SlowDown  25") && text.contains("and 22 more"), "{text}");
        let html = String::from_utf8(super::render(&report, super::Format::Html, &Default::default()))
            .expect("UTF-8");
        assert!(!html.contains("<script>.json") && html.contains("&lt;script&gt;"), "markup stays text");
    }

    #[test]
    fn manifest_rows_are_bucket_and_url_encoded_key() {
        let archived =
            |object: &str| ArchivedObject { object: object.into(), storage_class: "GLACIER".into() };
        let manifest = super::restore_manifest(&[
            archived("s3://trails/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/a_b-c.json.gz"),
            archived("s3://trails/odd key,+ü\n.json"),
        ]);
        assert_eq!(
            String::from_utf8(manifest).expect("ASCII"),
            "trails,AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/a_b-c.json.gz\n\
             trails,odd%20key%2C%2B%C3%BC%0A.json\n"
        );
    }
}

/// The report in `format`, in memory. [`write_report`] writes it where it goes.
pub fn render(report: &Report, format: Format, options: &RenderOptions) -> Vec<u8> {
    match format {
        Format::Json => {
            let mut out = Vec::new();
            // Writing into memory cannot fail, nor can serializing plain structs.
            if let Err(e) = write_json(&mut out, report) {
                out = format!("{{\"error\": \"cannot serialize report: {e}\"}}\n").into_bytes();
            }
            out
        }
        Format::Text => text::render(&document::build(report, options)).into_bytes(),
        Format::Markdown => markdown::render(&document::build(report, options)).into_bytes(),
        Format::Html => html::render(&document::build(report, options)).into_bytes(),
    }
}

/// Writes the report in `format` to `target`, or to stdout when there is none, as [`write`] does.
/// JSON is written as it is serialized, escaped on the way ([`sanitize::JsonWriter`]): a report
/// that lists thousands of endpoints is megabytes, and is never held whole beside the report.
pub(crate) fn write_report(
    target: Option<&Path>,
    report: &Report,
    format: Format,
    options: &RenderOptions,
) -> Result<(), FatalError> {
    if format != Format::Json {
        return write(target, &render(report, format, options));
    }
    let mut sink = Sink::create(target)?;
    write_json(&mut sink, report).map_err(|cause| sink.failed(cause))?;
    sink.finish()
}

/// The report as pretty JSON, and a line break, into `out`.
fn write_json(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let mut safe = BufWriter::with_capacity(1 << 16, sanitize::JsonWriter::new(out));
    serde_json::to_writer_pretty(&mut safe, report)?;
    safe.write_all(b"\n")?;
    safe.into_inner().map_err(io::IntoInnerError::into_error)?.finish()
}

/// The CSV manifest S3 Batch Operations takes (format `S3BatchOperations_CSV_20180820`, fields
/// `Bucket,Key`) listing `archived`: one `bucket,key` line per object, the key URL-encoded as
/// Batch Operations requires (every byte but unreserved characters and `/` as `%XX`, so a
/// comma, a space, a `+` or a line break in a key cannot break or change the row).
pub(crate) fn restore_manifest(archived: &[crate::error::ArchivedObject]) -> Vec<u8> {
    let mut out = String::new();
    for object in archived {
        let Some((bucket, key)) = object.object.strip_prefix("s3://").and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        out.push_str(bucket);
        out.push(',');
        for byte in key.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// Writes `bytes` to `target`, or to stdout when there is none. A file replaces the target whole
/// ([`crate::atomic`]): readers see the old report or the new one, never half of one.
pub fn write(target: Option<&Path>, bytes: &[u8]) -> Result<(), FatalError> {
    let mut sink = Sink::create(target)?;
    sink.write_all(bytes).map_err(|cause| sink.failed(cause))?;
    sink.finish()
}

/// Output written as it is made, for outputs too large to hold: standard output, or a file staged
/// beside the target ([`crate::atomic`]) that [`Sink::finish`] renames over it. A sink dropped
/// unfinished (a failed run) removes its temporary file and leaves the target as it was.
pub(crate) struct Sink {
    /// What errors name: the file, or "standard output".
    name: String,
    out: Out,
}

enum Out {
    /// `closed` once the reader went away (`| head`): what follows is dropped, not an error.
    Stdout { out: BufWriter<io::StdoutLock<'static>>, closed: bool },
    /// `None` once finished.
    File(Option<Staged>),
}

impl Sink {
    pub(crate) fn create(target: Option<&Path>) -> Result<Sink, FatalError> {
        let Some(target) = target else {
            let out =
                Out::Stdout { out: BufWriter::with_capacity(1 << 16, io::stdout().lock()), closed: false };
            return Ok(Sink { name: "standard output".into(), out });
        };
        let name = target.display().to_string();
        match Staged::create(target, Mode::Shared) {
            Ok(staged) => Ok(Sink { name, out: Out::File(Some(staged)) }),
            Err(cause) => Err(FatalError::Output { target: name, cause }),
        }
    }

    /// True once standard output's reader has gone: nothing more needs making.
    pub(crate) fn closed(&self) -> bool {
        matches!(self.out, Out::Stdout { closed: true, .. })
    }

    /// The fatal error for a write to this sink that failed.
    pub(crate) fn failed(&self, cause: io::Error) -> FatalError {
        FatalError::Output { target: self.name.clone(), cause }
    }

    /// Flushes, and for a file commits it: synced and renamed over the target.
    pub(crate) fn finish(mut self) -> Result<(), FatalError> {
        self.flush().map_err(|cause| self.failed(cause))?;
        if let Out::File(staged) = &mut self.out {
            if let Some(staged) = staged.take() {
                staged.commit().map_err(|cause| FatalError::Output { target: self.name.clone(), cause })?;
            }
        }
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Out::Stdout { closed: true, .. } => Ok(bytes.len()),
            Out::Stdout { out, closed } => match out.write(bytes) {
                // A reader that stopped early (`| head`) is not an error of ours.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    *closed = true;
                    Ok(bytes.len())
                }
                result => result,
            },
            Out::File(Some(out)) => out.write(bytes),
            Out::File(None) => Err(io::Error::other("write after finish")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::Stdout { closed: true, .. } => Ok(()),
            Out::Stdout { out, closed } => match out.flush() {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    *closed = true;
                    Ok(())
                }
                result => result,
            },
            Out::File(Some(out)) => out.flush(),
            Out::File(None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("trailscope-write-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let target = dir.join("report.json");
        fs::write(&target, "old").expect("old report");
        write(Some(&target), b"new").expect("written");
        assert_eq!(fs::read_to_string(&target).expect("read back"), "new");
        let leftovers: Vec<_> = fs::read_dir(&dir).expect("list").collect();
        assert_eq!(leftovers.len(), 1, "only the report remains");
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_sink_dropped_unfinished_leaves_the_previous_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("rows.csv");
        fs::write(&target, "old").expect("old rows");
        {
            let mut sink = Sink::create(Some(&target)).expect("sink");
            sink.write_all(b"half of the ").expect("written");
            // A failed run returns here, dropping the sink.
        }
        assert_eq!(fs::read_to_string(&target).expect("read back"), "old");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary left");
        let mut sink = Sink::create(Some(&target)).expect("sink");
        sink.write_all(b"new rows").expect("written");
        sink.finish().expect("renamed");
        assert_eq!(fs::read_to_string(&target).expect("read back"), "new rows");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn a_write_into_a_missing_folder_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing_parent = dir.path().join("no-such-dir").join("report.json");
        assert!(matches!(write(Some(&missing_parent), b"new"), Err(FatalError::Output { .. })));
    }

    #[test]
    fn failed_write_leaves_the_previous_report() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("report.json");
        fs::write(&target, "previous").expect("previous report");
        // A folder where the temporary file would go: the write fails before the rename.
        fs::create_dir(crate::atomic::temporary_path(&target)).expect("a folder in the way");
        let error = write(Some(&target), b"new").expect_err("the write fails");
        assert!(error.to_string().starts_with(&format!("cannot write {}: ", target.display())), "{error}");
        assert_eq!(fs::read_to_string(&target).expect("still there"), "previous");
    }
}
