//! Temporary files: what a run keeps on disk instead of in memory, in one place. Every one is
//! made here, in the system's temporary folder (`TMPDIR`), already unlinked, so the system
//! deletes it when the run ends, however it ends (a crash, a kill, Ctrl-C); an error here is an
//! error of the temporary folder, and says so.
//!
//! Two shapes: [`Lines`] (values written as JSON lines and read back in order: `--verify`'s facts
//! by account-region, its parts, the sorted runs of a residue) and the record spool
//! ([`records`]: bytes appended, read back by where they are: the Instance Connect records a
//! report shows). A file that must replace another whole is not a temporary of this kind: see
//! [`atomic`](crate::atomic).

mod lines;
pub(crate) mod records;

use std::fs::File;
use std::io;

pub(crate) use lines::{Lines, Reader};

/// A new temporary file, already unlinked.
pub(crate) fn file() -> io::Result<File> {
    tempfile::tempfile()
}

/// A new temporary file with a name, for what must be handed on by path (a partial uploaded to
/// S3): removed when the value is dropped (or, if the run is killed, left in `TMPDIR`).
pub(crate) fn named() -> io::Result<tempfile::NamedTempFile> {
    tempfile::NamedTempFile::new()
}
