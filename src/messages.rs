//! Messages on stderr besides the output: warnings (unreadable and archived objects, integrity
//! problems), grouped so that thousands of failures stay a few lines, and `--verbose` stage lines.
//! Every name and reason is escaped: an S3 key or a file name can hold any character.

use std::time::Instant;

use crate::error::{ArchivedObject, ObjectError};
use crate::output::sanitize;

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

    /// A `--verbose` line, with the time since the run started.
    pub(crate) fn stage(&self, message: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("trailscope: {message} [{:.2?}]", self.started.elapsed());
        }
    }

    /// The unreadable objects, after the work is done, grouped by reason: a reason with few
    /// objects gets a line per object (with its whole error), one with many a single line with
    /// the count and a few names, so a storm of thousands of failures stays a few lines. Names
    /// and reasons are escaped: an S3 key or a file name can hold any character, a terminal
    /// escape included.
    pub(crate) fn warn(&self, failures: &[ObjectError]) {
        if self.quiet {
            return;
        }
        for line in failure_lines(failures) {
            eprintln!("trailscope: warning: {}", sanitize::escape(&line));
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
            crate::error::thousands(archived.len()),
            archive_classes(archived),
            crate::error::some_names(&names),
        );
        eprintln!("trailscope: warning: {}", sanitize::escape(&line));
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

/// The lines that say what could not be read: per object for reasons with few objects, one per
/// reason for the rest.
pub(crate) fn failure_lines(failures: &[ObjectError]) -> Vec<String> {
    let (few, many) = crate::error::split_failures(failures);
    let mut lines: Vec<String> = few.iter().map(|f| format!("{}: {}", f.object, f.error)).collect();
    for group in many {
        let names: Vec<&str> = group.failures.iter().map(|f| f.object.as_str()).collect();
        lines.push(format!(
            "{} objects: {}: {}",
            crate::error::thousands(names.len()),
            group.reason,
            crate::error::some_names(&names)
        ));
    }
    lines
}

/// `2 GLACIER, 1 DEEP_ARCHIVE`: the archived objects counted by storage class.
pub(crate) fn archive_classes(archived: &[ArchivedObject]) -> String {
    let mut classes = std::collections::BTreeMap::<&str, usize>::new();
    for object in archived {
        *classes.entry(&object.storage_class).or_default() += 1;
    }
    classes
        .iter()
        .map(|(class, n)| format!("{} {class}", crate::error::thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}
