//! `--state DIR`: what earlier runs over the same sources and options read, so that a run reads
//! only what is new and still reports on the whole archive.
//!
//! DIR holds three files:
//! - `state.json`, the [`Manifest`]: the sources and options it is for, the trailscope that
//!   wrote it, every object read whole (name, size, ETag or modification time, its record
//!   counts), the name and SHA-256 of the records file, and what the last report said
//!   ([`Baseline`], for `changes`);
//! - `records-<generation>.jsonl.gz`: the Instance Connect records of those objects, in the
//!   partial format of `scan --shard` ([`crate::partial`]), read back by the reading stage like
//!   any partial;
//! - `lock`, held (an OS lock, released by the kernel when the process dies) while a run uses DIR.
//!
//! A run lists as usual, through a wrapper around every store ([`known::KnownStore`]): an object
//! listed with the size and version the manifest has is not fetched, its counts and records come
//! from DIR; old day folders listed in full before are not listed again. A new generation is written whole (temporary
//! file, sync, rename) before the manifest that names it is renamed over the old one, so a run
//! killed at any moment leaves the old state or the new one, never a mix: the next run reads
//! again whatever the last committed state lacks.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::analysis::changes::Baseline;
use crate::atomic::{self, Mode, Staged};
use crate::counts::Counts;
use crate::error::FatalError;
use crate::event::Kept;
use crate::hash::Hasher;
use crate::layout::day_folder;
use crate::partial::{self, Header, Options};
use crate::report::StateSummary;
use crate::source::shard::Shard;
use crate::source::{Settled, Store};

mod known;

use known::{KeptRecords, KnownStore, Memory};
pub(crate) use known::{Known, KnownObject, ListedFolder, StateScan};

/// The format of `state.json` this trailscope writes and reads.
const FORMAT: u32 = 3;
const MANIFEST: &str = "state.json";
const LOCK: &str = "lock";
const RECORDS_PREFIX: &str = "records-";

/// What `state.json` says.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// First, so that the file says what it is.
    trailscope_state: u32,
    /// The trailscope that wrote it: records kept by another version are not mixed in.
    writer: String,
    sources: Vec<String>,
    options: Options,
    /// Incremented by each run that commits.
    generation: u64,
    /// The records file (in DIR) and its SHA-256, checked before it is read.
    records_file: String,
    records_sha256: String,
    objects: BTreeMap<String, KnownObject>,
    /// The CloudTrail day folders (by name, as [`day_folder`] gives it) the last run listed or
    /// took from here: what their listing counted, and whether all of it is kept here.
    folders: BTreeMap<String, ListedFolder>,
    /// What the last `report` said; `None` until one ran.
    baseline: Option<Baseline>,
}

/// DIR, opened and locked for this run.
pub(crate) struct State {
    dir: PathBuf,
    /// Held until the run ends; the lock goes with it.
    _lock: File,
    sources: Vec<String>,
    options: Options,
    /// The last committed manifest, its objects moved into `known`.
    previous: Option<Manifest>,
    /// What it knows (the day folders this run does not list, `--relist-days`, among it), and
    /// what the run's wrappers heard.
    memory: Arc<Memory>,
}

fn refuse<T>(message: String) -> Result<T, FatalError> {
    Err(FatalError::State(message))
}

impl State {
    /// Opens DIR (created 0700 if missing), locks it, and reads what it holds: refused when
    /// another run holds it, when it was made for other sources or options or by another
    /// trailscope, or when it is damaged.
    /// `relist_days`: day folders more than this many days older than the newest one the state
    /// has seen, fully listed before, are not listed again (`None`: every folder is listed).
    pub(crate) fn open(
        dir: &Path,
        sources: Vec<String>,
        options: Options,
        relist_days: Option<u32>,
    ) -> Result<State, FatalError> {
        let shown = dir.display();
        let io = |what: &str, e: io::Error| FatalError::State(format!("{shown}: cannot {what}: {e}"));
        // A folder that holds other things is not taken over: it would be made private, and files
        // named like the state's leftovers would be removed from it.
        if let Ok(entries) = fs::read_dir(dir) {
            let names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
            if !names.is_empty() && !names.iter().any(|n| n == LOCK || n == MANIFEST) {
                return refuse(format!(
                    "{shown} is not empty and not a trailscope state: give a new or empty folder"
                ));
            }
        }
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io("create it", e))?;
        // Whatever the umask, and also for a folder made beforehand: it holds principals, source
        // addresses and keys.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| io("set its mode", e))?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(LOCK))
            .map_err(|e| io("open its lock", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return refuse(format!("{shown} is in use by another trailscope run: try again when it ends"))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("lock it", e)),
        }
        let mut previous = read_manifest(dir)?;
        if let Some(manifest) = &previous {
            let writer = partial::writer();
            let differs = if manifest.trailscope_state != FORMAT {
                Some(format!(
                    "written in state format {}, this trailscope reads {FORMAT}",
                    manifest.trailscope_state
                ))
            } else if manifest.writer != writer {
                Some(format!("made by {}, this is {writer}", manifest.writer))
            } else if manifest.sources != sources {
                Some(format!("made for sources {:?}, not {:?}", manifest.sources, sources))
            } else if manifest.options != options {
                Some(format!("made with options {}, not {}", describe(&manifest.options), describe(&options)))
            } else {
                None
            };
            if let Some(differs) = differs {
                return refuse(format!(
                    "{shown} was {differs}: give another DIR, or remove this one to rebuild it from the archive"
                ));
            }
            check_records(dir, manifest)?;
        }
        remove_leftovers(dir, previous.as_ref().map(|m| m.records_file.as_str()));
        // The objects are held once, for the reading and for the next commit alike.
        let mut walk_pays = false;
        let (known, settled) = match &mut previous {
            Some(manifest) => {
                let folders = settled_folders(manifest, relist_days);
                walk_pays = walk_pays_on_s3(manifest, &folders);
                let settled = folders.keys().cloned().collect();
                let known = Known {
                    objects: std::mem::take(&mut manifest.objects).into_iter().collect(),
                    records: Some(dir.join(&manifest.records_file)),
                    folders,
                };
                (known, settled)
            }
            None => (Known::default(), BTreeSet::new()),
        };
        let settled = Settled {
            folders: Arc::new(settled),
            walk: walk_pays,
            objects: Arc::new(known::settled_objects(&known.objects)),
        };
        let memory = Memory { known: Arc::new(known), settled, heard: Mutex::default() };
        Ok(State {
            dir: dir.to_path_buf(),
            _lock: lock,
            sources,
            options,
            previous,
            memory: Arc::new(memory),
        })
    }

    /// What earlier runs read.
    #[cfg(test)]
    fn known(&self) -> Arc<Known> {
        Arc::clone(&self.memory.known)
    }

    /// `stores`, each wrapped with what the state knows, and then the state's records file: what
    /// this run reads.
    pub(crate) fn wrap(&self, stores: Vec<Arc<dyn Store>>) -> Vec<Arc<dyn Store>> {
        let mut wrapped: Vec<Arc<dyn Store>> = stores
            .into_iter()
            .map(|store| Arc::new(KnownStore::new(store, Arc::clone(&self.memory))) as Arc<dyn Store>)
            .collect();
        wrapped.push(Arc::new(KeptRecords::new(Arc::clone(&self.memory))));
        wrapped
    }

    /// The day folders of the reading: listed, and taken from the state without listing.
    pub(crate) fn folders(&self) -> (u64, u64) {
        let heard = self.heard();
        (heard.folders.len() as u64 - heard.folders_not_listed, heard.folders_not_listed)
    }

    fn heard(&self) -> std::sync::MutexGuard<'_, StateScan> {
        self.memory.heard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the last report said, if a report ran.
    pub(crate) fn baseline(&self) -> Option<&Baseline> {
        self.previous.as_ref().and_then(|m| m.baseline.as_ref())
    }

    /// This run's part of the report (`state` block), from what the reading did.
    pub(crate) fn summary(&self, counts: &Counts) -> StateSummary {
        let heard = self.heard();
        let mut changed = heard.changed.clone();
        changed.sort_unstable();
        StateSummary {
            objects_read_now: counts.objects_read - heard.taken.len() as u64,
            objects_from_state: (heard.taken.len() + heard.taken_failed.len()) as u64,
            objects_changed: changed,
        }
    }

    /// Writes what this run read as the new state: the records file of the next generation,
    /// then the manifest naming it, each atomically; then removes the old records file.
    /// `baseline` replaces the last report's when given (a `report` run), else is kept.
    pub(crate) fn commit(self, kept: &Kept, baseline: Option<Baseline>) -> Result<(), FatalError> {
        let heard = std::mem::take(&mut *self.heard());
        let state = Some(&heard);
        let shown = self.dir.display().to_string();
        let io = |what: &str, e: io::Error| FatalError::State(format!("{shown}: cannot {what}: {e}"));
        let generation = self.previous.as_ref().map_or(0, |m| m.generation) + 1;
        let records_file = format!("{RECORDS_PREFIX}{generation}.jsonl.gz");
        let mut objects = BTreeMap::new();
        if let Some(state) = state {
            for name in state.taken.iter().chain(&state.taken_failed) {
                if let Some(known) = self.memory.known.objects.get(name) {
                    objects.insert(name.clone(), known.clone());
                }
            }
        }
        if let Some(state) = state {
            for (name, known) in &state.fresh {
                objects.insert(name.clone(), known.clone());
            }
        }
        // A day folder is kept as fully listed when every log object listed in it is kept too
        // (one whose download failed is not: the folder is listed again, and it fetched again).
        let mut kept_in: BTreeMap<&str, u64> = BTreeMap::new();
        for name in objects.keys() {
            if let Some((folder, _)) = day_folder(name) {
                *kept_in.entry(folder).or_default() += 1;
            }
        }
        let mut folders = BTreeMap::new();
        for (name, (listed, clean)) in state.iter().flat_map(|s| &s.folders) {
            let complete = *clean && kept_in.get(name.as_str()).copied().unwrap_or(0) == listed.objects;
            folders.insert(name.clone(), ListedFolder { complete, ..listed.clone() });
        }
        // The state is refused with --verify: its records file has no residue.
        let header = Header {
            records: kept.events.len() as u64,
            ..Header::new(Shard { index: 0, count: 1 }, self.sources.clone(), self.options.clone())
        };
        let sha256 = write_atomically(&self.dir, &records_file, |out| {
            partial::write(out, &header, kept, std::iter::empty())
        })
        .map_err(|e| io("write its records", e))?;
        let baseline = baseline.or_else(|| self.previous.as_ref().and_then(|m| m.baseline.clone()));
        let manifest = Manifest {
            trailscope_state: FORMAT,
            writer: partial::writer(),
            sources: self.sources.clone(),
            options: self.options.clone(),
            generation,
            records_file: records_file.clone(),
            records_sha256: sha256,
            objects,
            folders,
            baseline,
        };
        write_atomically(&self.dir, MANIFEST, |mut out| {
            serde_json::to_writer(&mut out, &manifest)?;
            out.write_all(b"\n")
        })
        .map_err(|e| io("write its manifest", e))?;
        remove_leftovers(&self.dir, Some(&records_file));
        Ok(())
    }
}

fn describe(options: &Options) -> String {
    let list = |v: &[String]| if v.is_empty() { "all".to_owned() } else { v.join(",") };
    let mut described = format!(
        "--from {} --to {} --account {} --region {} --max-object-size {}",
        options.from.as_deref().unwrap_or("-"),
        options.to.as_deref().unwrap_or("-"),
        list(&options.accounts),
        list(&options.regions),
        options.max_object_size
    );
    if !options.include.is_empty() {
        described.push_str(&format!(" --include {}", options.include.join(",")));
    }
    described
}

fn damaged(dir: &Path, what: String) -> FatalError {
    FatalError::State(format!(
        "{}: damaged ({what}): remove it to rebuild the state from the archive",
        dir.display()
    ))
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>, FatalError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return refuse(format!("{}: cannot read: {e}", path.display())),
    };
    // The version first: a manifest of another format is refused as such, not as damaged.
    #[derive(Deserialize)]
    struct Version {
        trailscope_state: u32,
        writer: String,
    }
    if let Ok(version) = serde_json::from_slice::<Version>(&bytes) {
        if version.trailscope_state != FORMAT {
            return refuse(format!(
                "{} was made by {} (state format {}); this {} reads format {FORMAT}: remove it to rebuild it",
                dir.display(),
                version.writer,
                version.trailscope_state,
                partial::writer()
            ));
        }
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| damaged(dir, format!("{MANIFEST}: {e}")))
}

/// The records file must be the one the manifest names, byte for byte.
fn check_records(dir: &Path, manifest: &Manifest) -> Result<(), FatalError> {
    let path = dir.join(&manifest.records_file);
    let sha = File::open(&path)
        .and_then(sha256)
        .map_err(|e| damaged(dir, format!("{}: {e}", manifest.records_file)))?;
    if sha != manifest.records_sha256 {
        return Err(damaged(dir, format!("{} is not the file {MANIFEST} names", manifest.records_file)));
    }
    Ok(())
}

fn sha256(mut file: File) -> io::Result<String> {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        context.update(&buffer[..n]);
    }
    Ok(crate::hash::hex(context.finish().as_ref()))
}

/// The day folders of `manifest` a run need not list, with the names of their objects: of each
/// region folder, its day folders in order up to the first that is not complete (every entry
/// listed and kept), or not more than `relist_days` older than the newest day folder of the
/// manifest. A region's settled folders are thus the region's first ones, with no folder it
/// knows between them: an S3 listing skips them all with one `StartAfter`.
fn settled_folders(
    manifest: &Manifest,
    relist_days: Option<u32>,
) -> crate::event::tables::FastMap<String, (ListedFolder, Vec<String>)> {
    let mut settled = crate::event::tables::FastMap::default();
    let Some(days) = relist_days else { return settled };
    let Some(newest) = manifest.folders.keys().filter_map(|f| day_folder(f)).map(|(_, day)| day).max() else {
        return settled;
    };
    let region = |folder: &str| folder.rsplitn(4, '/').nth(3).map(str::to_owned);
    let mut stopped: Option<String> = None;
    for (folder, listed) in &manifest.folders {
        let Some(at) = region(folder) else { continue };
        if stopped.as_deref() == Some(at.as_str()) {
            continue;
        }
        let old = day_folder(folder).is_some_and(|(_, day)| day.0 < newest.0 - i64::from(days));
        if old && listed.complete {
            settled.insert(folder.clone(), (listed.clone(), Vec::new()));
        } else {
            stopped = Some(at);
        }
    }
    for name in manifest.objects.keys() {
        if let Some((_, names)) = day_folder(name).and_then(|(folder, _)| settled.get_mut(folder)) {
            names.push(name.clone());
        }
    }
    settled
}

/// Whether an S3 listing that skips `settled` asks fewer LISTs than one flat listing, as the
/// last run's folders count them. A flat listing takes a page per 1,000 keys of the CloudTrail
/// day folders; skipping takes, for each region folder, one listing from its first folder not
/// skipped (a page per 1,000 of its keys listed), plus the listings that find the region folders
/// (about three per account). Folders of other services are listed whole either way. With small
/// day folders (a few hundred keys per region and year) the flat listing asks less, and is kept.
fn walk_pays_on_s3(
    manifest: &Manifest,
    settled: &crate::event::tables::FastMap<String, (ListedFolder, Vec<String>)>,
) -> bool {
    if settled.is_empty() {
        return false;
    }
    let region = |folder: &str| folder.rsplitn(4, '/').nth(3).map(str::to_owned);
    let mut regions: BTreeMap<String, u64> = BTreeMap::new();
    let mut accounts = BTreeSet::new();
    let mut all = 0u64;
    for (folder, listed) in &manifest.folders {
        all += listed.listed;
        let Some(at) = region(folder) else { continue };
        if let Some(account) = at.rsplitn(3, '/').nth(2) {
            accounts.insert(account.to_owned());
        }
        let rest = regions.entry(at).or_default();
        if !settled.contains_key(folder) {
            *rest += listed.listed;
        }
    }
    let flat = all.div_ceil(1000);
    let walk =
        3 * accounts.len() as u64 + regions.values().map(|rest| rest.div_ceil(1000).max(1)).sum::<u64>();
    walk < flat
}

/// Writes `name` in `dir`, owner only, replacing it whole ([`crate::atomic`]); returns the
/// SHA-256 of what was written.
fn write_atomically(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<String> {
    let mut staged = Staged::create(&dir.join(name), Mode::Private)?;
    let mut hashed = Hashed { out: &mut staged, hasher: Hasher::new() };
    write(&mut hashed)?;
    let sha = hashed.hasher.finish().to_string();
    staged.commit()?;
    Ok(sha)
}

/// A writer that hashes what goes through it.
struct Hashed<'a> {
    out: &'a mut dyn Write,
    hasher: Hasher,
}

impl Write for Hashed<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.out.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Removes what a run killed part-way left (temporary files, a records file no manifest names).
/// Only ever called with DIR locked.
fn remove_leftovers(dir: &Path, keep: Option<&str>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // `.tmp-` is what versions before the one-helper atomic writes named their temporaries.
        let ours =
            atomic::is_temporary(name) || name.starts_with(".tmp-") || name.starts_with(RECORDS_PREFIX);
        if ours && Some(name) != keep {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The `state` block as one line, as text output and `connections` show it.
pub(crate) fn line(summary: &StateSummary) -> String {
    let mut line = format!(
        "state: {} objects read now, {} taken from the state",
        summary.objects_read_now, summary.objects_from_state
    );
    if !summary.objects_changed.is_empty() {
        line.push_str(&format!(", {} changed since read (read again)", summary.objects_changed.len()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            from: None,
            to: None,
            accounts: vec![],
            regions: vec![],
            max_object_size: 1 << 30,
            include: vec![],
        }
    }

    fn known(records: u64) -> KnownObject {
        KnownObject { size: 10, version: "etag:\"a\"".into(), records, out_of_range: 0, failure: None }
    }

    #[test]
    fn a_committed_state_is_what_the_next_run_knows_and_leftovers_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state");
        let sources = vec!["s3://b/AWSLogs/".to_owned()];
        let state = State::open(&path, sources.clone(), options(), Some(7)).expect("a new state");
        assert!(state.known().records.is_none(), "no records file before a first commit");
        let scan = StateScan { fresh: vec![("s3://b/x".into(), known(7))], ..StateScan::default() };
        *state.heard() = scan;
        state.commit(&Kept::default(), None).expect("commit");
        // What a run killed while writing would leave.
        fs::write(path.join(".tmp-abc"), b"half").expect("write");
        fs::write(path.join("records-9.jsonl.gz"), b"orphan").expect("write");
        let state = State::open(&path, sources.clone(), options(), Some(7)).expect("the state");
        let known_now = state.known();
        assert_eq!(known_now.objects.get("s3://b/x"), Some(&known(7)));
        assert!(known_now.records.as_ref().is_some_and(|r| r.ends_with("records-1.jsonl.gz")));
        let mut names: Vec<String> = fs::read_dir(&path)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names, ["lock", "records-1.jsonl.gz", "state.json"]);
        // Taken again, unchanged, by a second run: kept; one not listed any more: gone.
        let scan = StateScan { taken: vec!["s3://b/x".into()], ..StateScan::default() };
        *state.heard() = scan;
        state.commit(&Kept::default(), None).expect("commit");
        let state = State::open(&path, sources, options(), Some(7)).expect("the state");
        assert_eq!(state.known().objects.len(), 1);
        assert!(state.known().records.as_ref().is_some_and(|r| r.ends_with("records-2.jsonl.gz")));
    }

    #[test]
    fn other_options_are_named_in_the_refusal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sources = vec!["archive".to_owned()];
        let state = State::open(dir.path(), sources.clone(), options(), Some(7)).expect("a new state");
        state.commit(&Kept::default(), None).expect("commit");
        let narrowed = Options { from: Some("2024-03-01".into()), ..options() };
        let Err(FatalError::State(line)) = State::open(dir.path(), sources, narrowed, Some(7)) else {
            panic!("refused")
        };
        assert!(line.contains("--from - ") && line.contains("--from 2024-03-01"), "{line}");
    }

    #[test]
    fn a_state_made_with_other_include_globs_is_refused_and_names_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sources = vec!["archive".to_owned()];
        let state = State::open(dir.path(), sources.clone(), options(), Some(7)).expect("a new state");
        state.commit(&Kept::default(), None).expect("commit");
        let manifest = fs::read_to_string(dir.path().join(MANIFEST)).expect("manifest");
        assert!(!manifest.contains("include"), "no --include, the manifest as before: {manifest}");
        let included = Options { include: vec!["*.log".into()], ..options() };
        let Err(FatalError::State(line)) = State::open(dir.path(), sources, included, Some(7)) else {
            panic!("refused")
        };
        assert!(line.ends_with("--max-object-size 1073741824 --include *.log: give another DIR, or remove this one to rebuild it from the archive"), "{line}");
    }
}
