//! Files replaced whole (a report, a listing, a partial, the state's records and manifest): written
//! beside their target under a temporary name, synced, renamed over it, and the folder synced, so
//! that a reader sees the old file or the new one, never half of one, and a crash after the
//! rename keeps the new one. A [`Staged`] file dropped before [`commit`](Staged::commit) (a run
//! that failed) removes its temporary and leaves the target as it was. Temporary files that are
//! no file's next version are [`spill`](crate::spill)'s.
//!
//! A target that exists and is no regular file (`/dev/null`, a named pipe, a terminal) is written
//! in place, as a shell's `>` writes it: it has no next version to stage, and renaming a file
//! over it would replace the device itself (as root, `-o /dev/null` made `/dev/null` a file).

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
    /// `None` for a target written in place (no regular file).
    temporary: Option<PathBuf>,
    target: PathBuf,
}

impl Staged {
    pub(crate) fn create(target: &Path, mode: Mode) -> io::Result<Staged> {
        // Follows links: `/dev/stdout` is a link to whatever the standard output is.
        if fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = OpenOptions::new().write(true).truncate(true).open(target)?;
            return Ok(Staged {
                out: Some(BufWriter::with_capacity(1 << 16, file)),
                temporary: None,
                target: target.to_owned(),
            });
        }
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
            temporary: Some(temporary),
            target: target.to_owned(),
        })
    }

    /// Flushes and syncs the file, renames it over the target and syncs the folder. On an error
    /// the temporary is removed and the target is the old one.
    /// A target written in place is only flushed.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else { return Ok(()) };
        let file = out.into_inner().map_err(io::IntoInnerError::into_error);
        let Some(temporary) = self.temporary.take() else { return file.map(drop) };
        let renamed =
            file.and_then(|file| file.sync_all()).and_then(|()| fs::rename(&temporary, &self.target));
        if let Err(cause) = renamed {
            let _ = fs::remove_file(&temporary);
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
        if let (Some(_), Some(temporary)) = (&self.out, &self.temporary) {
            let _ = fs::remove_file(temporary);
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
    fn a_target_that_is_no_regular_file_is_written_in_place_and_stays_what_it_is() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let pipe = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status().expect("mkfifo");
        assert!(made.success());
        let reader = {
            let pipe = pipe.clone();
            std::thread::spawn(move || fs::read(pipe).expect("read the pipe"))
        };
        let mut staged = Staged::create(&pipe, Mode::Shared).expect("staged");
        staged.write_all(b"a report").expect("written");
        staged.commit().expect("committed");
        assert_eq!(reader.join().expect("reader"), b"a report");
        assert!(fs::metadata(&pipe).expect("metadata").file_type().is_fifo(), "still a pipe");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary beside it");
        // The null device, when it is one here: written, and still the device.
        let null = Path::new("/dev/null");
        if fs::metadata(null).is_ok_and(|m| m.file_type().is_char_device()) {
            let mut staged = Staged::create(null, Mode::Shared).expect("staged");
            staged.write_all(b"nothing").expect("written");
            staged.commit().expect("committed");
            assert!(fs::metadata(null).expect("metadata").file_type().is_char_device());
        }
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
