//! Messages on stderr besides the output: warnings (unreadable and archived objects, integrity
//! problems), grouped so that thousands of failures stay a few lines, `--verbose` stage lines,
//! and the progress bar.
//! Every name and reason is escaped: an S3 key or a file name can hold any character.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{ArchivedObject, ObjectError};
use crate::output::{failures, sanitize};
use crate::reading::Progress;
use crate::source::history;

/// Messages on stderr: warnings unless `--quiet`, stage lines with `--verbose`.
pub(crate) struct Log {
    started: Instant,
    pub(crate) quiet: bool,
    verbose: bool,
}

impl Log {
    /// Messages from now on: none but errors when `quiet`, stage lines too when `verbose`.
    pub(crate) fn new(quiet: bool, verbose: bool) -> Log {
        Log { started: Instant::now(), quiet, verbose }
    }

    /// The progress bar of a reading (hidden with `--quiet`).
    pub(crate) fn bar(&self) -> Bar {
        Bar::new(self.quiet)
    }

    /// A `--verbose` line, with the time since the run started.
    pub(crate) fn stage(&self, message: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("trailscope: {message} [{:.2?}]", self.started.elapsed());
        }
    }

    /// The unreadable objects, after the work is done, grouped by reason ([`failures::lines`]).
    /// Names and reasons are escaped: an S3 key or a file name can hold any character, a
    /// terminal escape included.
    pub(crate) fn warn(&self, failures: &[ObjectError]) {
        if self.quiet {
            return;
        }
        for line in failures::lines(failures) {
            eprintln!("trailscope: warning: {}", sanitize::escape(&line));
        }
    }

    /// One warning line of its own (escaped).
    pub(crate) fn warn_line(&self, line: &str) {
        if !self.quiet {
            eprintln!("trailscope: warning: {}", sanitize::escape(line));
        }
    }

    /// One line about the archived objects: how many, and how to get them back.
    pub(crate) fn warn_archived(&self, archived: &[ArchivedObject], manifest: Option<&std::path::Path>) {
        if self.quiet || archived.is_empty() {
            return;
        }
        let names: Vec<&str> = archived.iter().map(|a| a.object.as_str()).collect();
        let next = match manifest {
            Some(path) => format!("restore them with the manifest {}", path.display()),
            None => "--restore-manifest FILE lists them for S3 Batch Operations".to_owned(),
        };
        let line = format!(
            "{} objects in archive storage classes, not read ({}): {}; {next}, then run again",
            failures::thousands(archived.len()),
            failures::archive_classes(archived),
            failures::some_names(&names),
        );
        eprintln!("trailscope: warning: {}", sanitize::escape(&line));
    }

    /// One line per `--suppress` entry past its last day: it no longer suppresses anything.
    pub(crate) fn warn_expired(&self, suppressions: &crate::analysis::Suppressions) {
        if self.quiet {
            return;
        }
        for entry in suppressions.expired() {
            let line = format!(
                "--suppress: the entry for {} ({}) expired on {}: its findings are no longer suppressed",
                entry.rule,
                entry.reason,
                entry.expires.as_deref().unwrap_or_default()
            );
            eprintln!("trailscope: warning: {}", sanitize::escape(&line));
        }
    }

    /// One line per problem verification found.
    pub(crate) fn warn_integrity(&self, integrity: Option<&crate::verify::Integrity>) {
        if self.quiet {
            return;
        }
        for line in integrity.map(|i| i.problem_lines()).unwrap_or_default() {
            eprintln!("trailscope: warning: {}", sanitize::escape(&line));
        }
    }
}

/// A bar on stderr only for a person watching: never under cron, in a pipe, or with `-q`. Its
/// length grows as the listing finds objects.
pub(crate) struct Bar(ProgressBar, AtomicU64, AtomicU64);

impl Bar {
    fn new(quiet: bool) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(ProgressBar::hidden(), Default::default(), Default::default());
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} reading {pos}/{len} objects [{bar:30}] {elapsed_precise}, eta {eta}{msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar(bar, Default::default(), Default::default())
    }

    /// Takes the bar off the terminal, before the warnings.
    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl history::Pages for Bar {
    /// Event history's pages are asked before its hours are listed: the bar says them as they come.
    fn page(&self, events: u64) {
        let pages = self.1.fetch_add(1, Relaxed) + 1;
        let events = self.2.fetch_add(events, Relaxed) + events;
        self.0.set_message(format!(" (event history: {pages} pages, {events} events)"));
    }
}

impl Progress for Bar {
    fn read(&self, listed: u64) {
        self.0.set_length(listed);
        self.0.inc(1);
    }
}
