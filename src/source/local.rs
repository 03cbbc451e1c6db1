//! Local sources: a file, or a directory walked recursively without following directory links.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::layout::Filter;
use super::{classify_name, Listing, Location, NameHint, ObjectRef, Verdict};
use crate::error::{FatalError, ObjectError};

/// Adds what `source` holds to `listing`, descending only into folders `filter` admits. A file
/// named directly is always read, whatever its extension: naming it is the request.
pub fn list_local(source: &Path, filter: &Filter, listing: &mut Listing) -> Result<(), FatalError> {
    let meta =
        fs::metadata(source).map_err(|cause| FatalError::Source { source: source.to_path_buf(), cause })?;
    if !meta.is_dir() {
        listing.listed += 1;
        let hint = match classify_name(&source.to_string_lossy()) {
            Verdict::Read(hint) => hint,
            _ => NameHint::Document,
        };
        listing.objects.push(object(source.to_path_buf(), hint));
        return Ok(());
    }
    // An explicit stack, not recursion: depth is whatever the disk holds.
    let mut pending = vec![source.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(cause) => {
                listing.failures.push(unreadable(&dir, "cannot list directory", &cause));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(cause) => {
                    listing.failures.push(unreadable(&dir, "cannot list directory", &cause));
                    continue;
                }
            };
            let path = entry.path();
            // `DirEntry::file_type` does not follow links, so a link is seen as a link.
            let file_type = match entry.file_type() {
                Ok(file_type) => file_type,
                Err(cause) => {
                    listing.failures.push(unreadable(&path, "cannot inspect", &cause));
                    continue;
                }
            };
            if file_type.is_dir() {
                if filter.admits(&path.to_string_lossy()) {
                    pending.push(path);
                }
                continue;
            }
            listing.listed += 1;
            // A link is judged by what it points to; a dangling one fails when it is read.
            let target = if file_type.is_symlink() {
                fs::metadata(&path).map(|m| m.file_type()).ok()
            } else {
                Some(file_type)
            };
            if target.is_some_and(|t| t.is_dir()) {
                listing.skipped.directory_links += 1;
                continue;
            }
            // A FIFO, socket or device inside a folder is not a log, and opening a FIFO would
            // block the worker forever. (Named on the command line, it is read: that is a request.)
            let special = target.is_some_and(|t| !t.is_file());
            let name = path.to_string_lossy();
            match classify_name(&name) {
                Verdict::Read(_) if !filter.admits(&name) => {}
                Verdict::Read(_) if special => listing.failures.push(ObjectError {
                    object: name.into_owned(),
                    error: "not a regular file (a FIFO, socket or device): not read".into(),
                }),
                Verdict::Read(hint) => listing.objects.push(object(path, hint)),
                Verdict::SkipDigest => listing.skipped.digest += 1,
                Verdict::SkipOther => listing.skipped.other += 1,
            }
        }
    }
    Ok(())
}

fn object(path: PathBuf, hint: NameHint) -> ObjectRef {
    ObjectRef { name: path.to_string_lossy().into_owned(), location: Location::Local(path), hint }
}

fn unreadable(path: &Path, what: &str, cause: &io::Error) -> ObjectError {
    ObjectError { object: path.to_string_lossy().into_owned(), error: format!("{what}: {cause}") }
}
