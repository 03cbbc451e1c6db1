//! Local sources: a file, or a directory walked recursively without following directory links.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::filter::Filter;
use super::{
    classify_name, display, Body, BoxFuture, Entry, Fetched, Found, Kind, Location, Object, Settled, Skip,
    Store, Verdict,
};
use crate::error::Reason;
use crate::error::{FatalError, ObjectError};

/// A file or folder named on the command line.
pub(crate) struct LocalStore {
    root: PathBuf,
    is_dir: bool,
}

impl LocalStore {
    /// A SOURCE that does not exist, or cannot be inspected, is fatal.
    pub(crate) fn new(root: &Path) -> Result<LocalStore, FatalError> {
        let meta =
            fs::metadata(root).map_err(|cause| FatalError::Source { path: root.to_path_buf(), cause })?;
        Ok(LocalStore { root: root.to_path_buf(), is_dir: meta.is_dir() })
    }
}

impl Store for LocalStore {
    fn list<'a>(
        &'a self,
        filter: &'a Filter,
        settled: &'a Settled,
        found: &'a Found,
    ) -> BoxFuture<'a, Result<(), FatalError>> {
        Box::pin(async move {
            if !self.is_dir {
                let name =
                    self.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if !filter.owns(&name) {
                    return Ok(());
                }
                // A file named directly is always read, whatever its name: naming it is the request.
                let kind = match classify_name(&display(&self.root), true, &[]) {
                    Verdict::Read(Kind::Digest) if filter.digests => Kind::Digest,
                    _ => Kind::Log,
                };
                let object = object(display(&self.root), self.root.clone(), kind);
                let _ = found.send(Entry::Object(object)).await;
                return Ok(());
            }
            // An explicit stack, not recursion: depth is whatever the disk holds.
            let mut pending = vec![self.root.clone()];
            while let Some(dir) = pending.pop() {
                for (path, entry) in walk_dir(&dir, filter, settled, &mut pending) {
                    // A sharded run reads its part of the files, and counts only its part of what
                    // it skips or cannot list, so that the shards add up to one run.
                    let relative = || {
                        let relative = path.strip_prefix(&self.root).unwrap_or(&path);
                        relative.to_string_lossy().replace('\\', "/")
                    };
                    if !filter.owns_with(relative) {
                        continue;
                    }
                    // A closed channel means the run is over: stop listing.
                    if found.send(entry).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, object: &'a Object, _whole_up_to: u64) -> BoxFuture<'a, Result<Fetched, Reason>> {
        Box::pin(async move { fetch(object) })
    }

    fn get_now(&self, object: &Object) -> Option<Result<Fetched, Reason>> {
        Some(fetch(object))
    }
}

/// A local object: the path, for the worker to open (files are not opened ahead of reading),
/// and for a digest its signature sidecar.
fn fetch(object: &Object) -> Result<Fetched, Reason> {
    let Location::File(path) = &object.location else {
        return Err(Reason::Misrouted { object: object.name.clone(), expected: "a local file" });
    };
    let signature = match object.kind {
        Kind::Digest => sidecar(path)?,
        Kind::Log => None,
    };
    Ok(Fetched { body: Body::File(path.clone()), signature })
}

/// A local copy has no S3 metadata: a digest's signature, if kept, is in `<digest>.sig` beside it
/// (hex, as `x-amz-meta-signature` holds it). None is not an error: the signature is then
/// checked from the next digest's `previousDigestSignature`, or reported unchecked.
fn sidecar(digest: &Path) -> Result<Option<String>, Reason> {
    let mut name = digest.as_os_str().to_owned();
    name.push(crate::layout::SIGNATURE_SUFFIX);
    match fs::read(&name) {
        Ok(bytes) => crate::layout::parse_signature_sidecar(&bytes)
            .map(Some)
            .map_err(|e| Reason::shape_of(format!("signature sidecar {}", Path::new(&name).display()), e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Reason::read(e)),
    }
}

/// The entries of one directory, each with the path it is about; sub-directories `filter`
/// admits go onto `pending`, but for day folders `settled` names.
fn walk_dir(
    dir: &Path,
    filter: &Filter,
    settled: &Settled,
    pending: &mut Vec<PathBuf>,
) -> Vec<(PathBuf, Entry)> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(cause) => {
            out.push((dir.to_path_buf(), Entry::Failed(unreadable(dir, Reason::ListFolder(cause.into())))));
            return out;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(cause) => {
                out.push((
                    dir.to_path_buf(),
                    Entry::Failed(unreadable(dir, Reason::ListFolder(cause.into()))),
                ));
                continue;
            }
        };
        let path = entry.path();
        let mut push = |entry: Entry| out.push((path.clone(), entry));
        // `DirEntry::file_type` does not follow links, so a link is seen as a link.
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(cause) => {
                push(Entry::Failed(unreadable(&path, Reason::Inspect(cause.into()))));
                continue;
            }
        };
        if file_type.is_dir() {
            let name = display(&path);
            if settled.settles(&name) {
                push(Entry::Settled(name));
            } else if filter.admits(&name) {
                pending.push(path);
            }
            continue;
        }
        // A link is judged by what it points to; a dangling one fails when it is read.
        let target = if file_type.is_symlink() {
            fs::metadata(&path).map(|m| m.file_type()).ok()
        } else {
            Some(file_type)
        };
        if target.is_some_and(|t| t.is_dir()) {
            push(Entry::Skipped(Skip::DirectoryLink, display(&path)));
            continue;
        }
        // A FIFO, socket or device inside a folder is not a log, and opening a FIFO would
        // block the worker forever. (Named on the command line, it is read: that is a request.)
        let special = target.is_some_and(|t| !t.is_file());
        let name = display(&path);
        match classify_name(&name, filter.digests, &filter.include) {
            Verdict::Read(_) if !filter.admits(&name) => push(Entry::Pruned(name)),
            Verdict::Read(_) if special => {
                push(Entry::Failed(ObjectError { object: name, reason: Reason::NotAFile }))
            }
            Verdict::Read(kind) => push(Entry::Object(object(name, path.clone(), kind))),
            Verdict::Skip(skip) => push(Entry::Skipped(skip, name)),
        }
    }
    out
}

fn object(name: String, path: PathBuf, kind: Kind) -> Object {
    Object { name, location: Location::File(path), size: None, version: None, kind }
}

fn unreadable(path: &Path, reason: Reason) -> ObjectError {
    ObjectError { object: display(path), reason }
}
