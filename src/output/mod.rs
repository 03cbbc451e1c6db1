//! Output: renders a [`Report`] as text, JSON, Markdown or HTML, and writes it to stdout or,
//! atomically, to a file. Text, Markdown and HTML share one [`document`] so they always say the
//! same things, and all pass every string through [`sanitize`], as do the warnings and error
//! lines on stderr.

mod document;
mod html;
mod markdown;
pub mod sanitize;
mod text;
mod timeline;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::error::FatalError;
use crate::report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// List unchanged fields too.
    pub all: bool,
}

pub fn render(report: &Report, format: Format, options: &RenderOptions) -> Vec<u8> {
    match format {
        Format::Json => {
            let mut out = serde_json::to_vec_pretty(report).unwrap_or_else(|e| {
                // Serializing plain structs into memory cannot fail; say so loudly if it does.
                format!("{{\"error\": \"cannot serialize report: {e}\"}}").into_bytes()
            });
            out.push(b'\n');
            out
        }
        Format::Text => text::render(&document::build(report, options)).into_bytes(),
        Format::Markdown => markdown::render(&document::build(report, options)).into_bytes(),
        Format::Html => html::render(&document::build(report, options)).into_bytes(),
    }
}

/// Writes `bytes` to `target`, or to stdout when there is none. A file is written beside the
/// target under a temporary name, synced, then renamed over it, so readers see the old report or
/// the new one, never half of one.
pub fn write(target: Option<&Path>, bytes: &[u8]) -> Result<(), FatalError> {
    let Some(target) = target else {
        let mut stdout = io::stdout().lock();
        return match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
            // A reader that stopped early (`| head`) is not an error of ours.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            result => result.map_err(|cause| FatalError::Output { target: "standard output".into(), cause }),
        };
    };
    let fail = |cause| FatalError::Output { target: target.display().to_string(), cause };
    let temporary = temporary_path(target);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, target));
    if let Err(cause) = written {
        let _ = fs::remove_file(&temporary);
        return Err(fail(cause));
    }
    Ok(())
}

fn temporary_path(target: &Path) -> PathBuf {
    let name = target.file_name().map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.trailscope-{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
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
    fn failed_write_leaves_the_previous_report() {
        let dir = std::env::temp_dir().join(format!("trailscope-nowrite-{}", std::process::id()));
        let missing_parent = dir.join("no-such-dir").join("report.json");
        assert!(write(Some(&missing_parent), b"new").is_err());
    }
}
