//! Files replaced whole (a report, a listing, a partial, the state's records and manifest): written
//! beside their target under a temporary name, synced, renamed over it, and the folder synced, so
//! that a reader sees the old file or the new one, never half of one, and a crash after the
//! rename keeps the new one. A [`Staged`] file dropped before [`commit`](Staged::commit) (a run
//! that failed) removes its temporary and leaves the target as it was. Temporary files that are
//! no file's next version are [`spill`](crate::spill)'s.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Who may read the file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// As the umask says, as any new file (reports, listings, partials).
    Shared,
    /// The owner only (0600), whatever the umask: the state, which holds records.
    Private,
}

/// A file being written beside its target, until it is renamed over it.
pub(crate) struct Staged {
    out: Option<BufWriter<File>>,
    temporary: PathBuf,
    target: PathBuf,
}

impl Staged {
    pub(crate) fn create(target: &Path, mode: Mode) -> io::Result<Staged> {
        let temporary = temporary_path(target);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if mode == Mode::Private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&temporary)?;
        #[cfg(unix)]
        if mode == Mode::Private {
            // The umask only takes bits away; set them anyway, so that it is exactly 0600.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok(Staged {
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            temporary,
            target: target.to_owned(),
        })
    }

    /// Flushes and syncs the file, renames it over the target and syncs the folder. On an error
    /// the temporary is removed and the target is the old one.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else { return Ok(()) };
        let renamed = out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|file| file.sync_all())
            .and_then(|()| fs::rename(&self.temporary, &self.target));
        if let Err(cause) = renamed {
            let _ = fs::remove_file(&self.temporary);
            return Err(cause);
        }
        sync_folder(&self.target)
    }
}

impl Write for Staged {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(out) => out.write(bytes),
            None => Err(io::Error::other("write after commit")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// The temporary name of `target`'s next version: hidden, beside it, naming the process.
pub(crate) fn temporary_path(target: &Path) -> PathBuf {
    let name = target.file_name().map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.trailscope-{}.tmp", std::process::id()))
}

/// True for a name [`temporary_path`] gives (of any process): what a run killed before its
/// rename left.
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.contains(".trailscope-")
}

/// Syncs the folder `file` is in, so that a rename into it survives a crash. Only Unix can open
/// a folder to sync it; elsewhere the rename is as durable as the system makes it.
fn sync_folder(file: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let folder = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(folder)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_the_target_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("report.json");
        fs::write(&target, "old").expect("old");
        let mut staged = Staged::create(&target, Mode::Shared).expect("staged");
        staged.write_all(b"new").expect("written");
        assert_eq!(fs::read_to_string(&target).expect("read"), "old", "not before the commit");
        staged.commit().expect("committed");
        assert_eq!(fs::read_to_string(&target).expect("read"), "new");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary left");
    }

    #[test]
    fn a_staged_file_dropped_leaves_the_target_and_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("rows.csv");
        fs::write(&target, "old").expect("old");
        {
            let mut staged = Staged::create(&target, Mode::Shared).expect("staged");
            staged.write_all(b"half").expect("written");
        }
        assert_eq!(fs::read_to_string(&target).expect("read"), "old");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn temporary_names_are_recognised_and_others_are_not() {
        let temporary = temporary_path(Path::new("/state/manifest.json"));
        let name = temporary.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(is_temporary(name), "{name}");
        assert!(!is_temporary("manifest.json"));
        assert!(!is_temporary("records-000001.jsonl.gz"));
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("manifest.json");
        let mut staged = Staged::create(&target, Mode::Private).expect("staged");
        staged.write_all(b"{}").expect("written");
        staged.commit().expect("committed");
        let mode = fs::metadata(&target).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
