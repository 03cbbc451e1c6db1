//! What the state knows, as a wrapper around any [`Store`] (as object_store wraps any store with
//! limits): [`KnownStore`] lists what the store it wraps lists, and answers for every object an
//! earlier run read whole and that is listed again as it was ([`Entry::Remembered`]: not fetched,
//! counted as it counted then), for the day folders not listed again ([`Entry::Settled`] from the
//! store, replayed as the earlier listing counted them), and hears what reading each other object
//! gave ([`Store::read`]), to keep it. [`KeptRecords`] goes last: the Instance Connect records of
//! every object remembered, read from the state's records file ([`Entry::Recalled`]).
//!
//! The reading stage and the stores know nothing of the state: a store only learns what it need
//! not list ([`Settled`]: day folders, event history's settled hours), which it may ignore.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::{FatalError, Reason};
use crate::event::tables::FastMap;
use crate::layout::day_folder;
use crate::source::filter::Filter;
use crate::source::{
    Body, BoxFuture, Entry, Fetched, Found, Gave, Kind, Location, Object, Remembered, Settled, Skipped, Store,
};

/// Entries of the wrapped store's listing held on their way, at most.
const AHEAD: usize = 4096;

/// What earlier runs read whole, by object name, and the partial holding the Instance Connect
/// records of every one of them.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub(crate) objects: FastMap<String, KnownObject>,
    /// `None` before a first run committed.
    pub(crate) records: Option<PathBuf>,
    /// Day folders not listed again, as an earlier run listed them, with their objects' names:
    /// a listing that meets one replays it from here.
    pub(crate) folders: FastMap<String, (ListedFolder, Vec<String>)>,
}

/// A CloudTrail day folder as a run listed it: what its listing counted, so that a run that does
/// not list it again counts it the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListedFolder {
    /// Entries listed in it: log objects, names skipped, folder placeholders.
    pub(crate) listed: u64,
    pub(crate) skipped: Skipped,
    /// Log objects listed in it.
    pub(crate) objects: u64,
    /// Every entry listed cleanly (no failure, no archived object, every version known) and
    /// every object kept in the state: only a complete folder can go unlisted.
    pub(crate) complete: bool,
}

/// An object read whole: which version of it, and what reading it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KnownObject {
    pub(crate) size: u64,
    /// The S3 ETag (`etag:...`), or a local file's modification time (`mtime:<ns>`).
    pub(crate) version: String,
    /// Its records, Instance Connect or not.
    pub(crate) records: u64,
    /// Its Instance Connect events outside `--from`..`--to`.
    pub(crate) out_of_range: u64,
    /// Why it is unreadable, when its bytes are (corrupt, empty, not JSON, too large): the same
    /// version reads the same way. A download that failed is not kept: it is tried again. Kept
    /// as the reason's line (`Reason::parse` reads it back), as every version has kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<Reason>,
}

impl KnownObject {
    /// What reading it gave, as the reading stage counts it.
    fn gave(&self) -> Gave {
        match &self.failure {
            Some(error) => Gave::Unreadable(error.clone()),
            None => Gave::Read { records: self.records, out_of_range: self.out_of_range },
        }
    }
}

/// What this run read itself, what it took from the state, what changed: what the wrappers of
/// one run heard, together (in the order they heard it).
#[derive(Debug, Default)]
pub(crate) struct StateScan {
    /// Objects fetched and read whole now, with their version.
    pub(crate) fresh: Vec<(String, KnownObject)>,
    /// Objects listed unchanged since they were read, taken from the state.
    pub(crate) taken: Vec<String>,
    /// Objects listed unchanged that were unreadable when read: their failure taken from the
    /// state, not fetched again.
    pub(crate) taken_failed: Vec<String>,
    /// Objects read before whose size or version is not what it was: read again.
    pub(crate) changed: Vec<String>,
    /// Every day folder of the listing, listed now or replayed from the state, with whether
    /// all it held was listed cleanly (no failure, no archived object, every version known).
    pub(crate) folders: FastMap<String, (ListedFolder, bool)>,
    /// Day folders replayed from the state, not listed.
    pub(crate) folders_not_listed: u64,
}

impl StateScan {
    /// The day folder `name` is in, to count its listing in.
    fn folder(&mut self, name: &str) -> Option<&mut (ListedFolder, bool)> {
        let (folder, _) = day_folder(name)?;
        if !self.folders.contains_key(folder) {
            self.folders.insert(folder.to_owned(), (ListedFolder::default(), true));
        }
        self.folders.get_mut(folder)
    }
}

/// What every wrapper of a run shares: what the state knows, and what they heard.
pub(crate) struct Memory {
    pub(crate) known: Arc<Known>,
    pub(crate) settled: Settled,
    pub(crate) heard: Mutex<StateScan>,
}

impl Memory {
    fn heard(&self) -> std::sync::MutexGuard<'_, StateScan> {
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A store, wrapped with what the state knows.
pub(crate) struct KnownStore {
    inner: Arc<dyn Store>,
    memory: Arc<Memory>,
    /// Log objects listed with a version and sent to be read: their size and version, until
    /// reading them is heard of.
    versions: Mutex<FastMap<String, (u64, String)>>,
}

impl KnownStore {
    pub(crate) fn new(inner: Arc<dyn Store>, memory: Arc<Memory>) -> KnownStore {
        KnownStore { inner, memory, versions: Mutex::default() }
    }

    /// One entry of the wrapped store's listing, counted in its day folder and answered for when
    /// the state knows it; false once nobody takes entries any more.
    async fn entry(&self, entry: Entry, found: &Found) -> bool {
        let entry = match entry {
            Entry::Settled(folder) => return self.replay(folder, found).await,
            Entry::Object(object) => match self.object(object) {
                Ok(object) => Entry::Object(object),
                Err(remembered) => Entry::Remembered(remembered),
            },
            entry => {
                let mut heard = self.memory.heard();
                match &entry {
                    Entry::Skipped(skip, name) => {
                        if let Some((folder, _)) = heard.folder(name) {
                            folder.listed += 1;
                            folder.skipped.add(*skip);
                        }
                    }
                    Entry::Pruned(name) => {
                        if let Some((folder, _)) = heard.folder(name) {
                            folder.listed += 1;
                        }
                    }
                    Entry::Failed(failure) => {
                        if let Some((_, clean)) = heard.folder(&failure.object) {
                            *clean = false;
                        }
                    }
                    // Never remembered: a folder holding one is listed again.
                    Entry::Archived(archived) => {
                        if let Some((_, clean)) = heard.folder(&archived.object) {
                            *clean = false;
                        }
                    }
                    _ => {}
                }
                entry
            }
        };
        found.send(entry).await.is_ok()
    }

    /// A listed object: to be read (with its version noted), or remembered as it was read.
    fn object(&self, object: Object) -> Result<Object, Remembered> {
        // Which version was listed, looked up once (a local file's is a stat).
        let id = if object.kind == Kind::Log { identity(&object) } else { None };
        let mut heard = self.memory.heard();
        if let Some((folder, clean)) = heard.folder(&object.name) {
            folder.listed += 1;
            folder.objects += 1;
            *clean &= id.is_some();
        }
        let Some((size, version)) = id else { return Ok(object) };
        match self.memory.known.objects.get(&object.name) {
            Some(k) if k.size == size && k.version == version => {
                match k.failure {
                    Some(_) => heard.taken_failed.push(object.name.clone()),
                    None => heard.taken.push(object.name.clone()),
                }
                return Err(Remembered { gave: k.gave(), name: object.name, listed: true });
            }
            Some(_) => heard.changed.push(object.name.clone()),
            None => {}
        }
        drop(heard);
        self.versions.lock().unwrap_or_else(|e| e.into_inner()).insert(object.name.clone(), (size, version));
        Ok(object)
    }

    /// A day folder not listed again: what its listing counted, and its objects, as the state
    /// has them (each counted as if listed unchanged).
    async fn replay(&self, folder: String, found: &Found) -> bool {
        let known = &self.memory.known;
        let Some((listed, names)) = known.folders.get(&folder) else { return true };
        let mut entries = vec![Entry::Recounted { listed: listed.listed, skipped: listed.skipped }];
        {
            let mut heard = self.memory.heard();
            heard.folders_not_listed += 1;
            for name in names {
                let Some(k) = known.objects.get(name) else { continue };
                match k.failure {
                    Some(_) => heard.taken_failed.push(name.clone()),
                    None => heard.taken.push(name.clone()),
                }
                entries.push(Entry::Remembered(Remembered {
                    name: name.clone(),
                    gave: k.gave(),
                    listed: false,
                }));
            }
            heard.folders.insert(folder, (listed.clone(), true));
        }
        for entry in entries {
            if found.send(entry).await.is_err() {
                return false;
            }
        }
        true
    }
}

impl Store for KnownStore {
    fn begin(&self, filter: &Filter, _settled: &Settled) {
        self.inner.begin(filter, &self.memory.settled);
    }

    fn list<'a>(
        &'a self,
        filter: &'a Filter,
        _settled: &'a Settled,
        found: &'a Found,
    ) -> BoxFuture<'a, Result<(), FatalError>> {
        Box::pin(async move {
            let (sent, mut entries) = mpsc::channel(AHEAD);
            // Owns `entries`: once nobody takes entries, it closes and the wrapped listing stops.
            let forward = async move {
                while let Some(entry) = entries.recv().await {
                    if !self.entry(entry, found).await {
                        break;
                    }
                }
            };
            let listing = async move {
                let result = self.inner.list(filter, &self.memory.settled, &sent).await;
                drop(sent);
                result
            };
            let (listing, ()) = tokio::join!(listing, forward);
            listing
        })
    }

    fn get<'a>(&'a self, object: &'a Object, whole_up_to: u64) -> BoxFuture<'a, Result<Fetched, Reason>> {
        self.inner.get(object, whole_up_to)
    }

    fn get_now(&self, object: &Object) -> Option<Result<Fetched, Reason>> {
        self.inner.get_now(object)
    }

    fn throttled(&self) -> u64 {
        self.inner.throttled()
    }

    fn read(&self, name: &str, gave: &Gave) {
        let version = self.versions.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        if let Some((size, version)) = version {
            let known = match gave {
                Gave::Read { records, out_of_range } => KnownObject {
                    size,
                    version,
                    records: *records,
                    out_of_range: *out_of_range,
                    failure: None,
                },
                Gave::Unreadable(error) => {
                    KnownObject { size, version, records: 0, out_of_range: 0, failure: Some(error.clone()) }
                }
            };
            self.memory.heard().fresh.push((name.to_owned(), known));
        }
        self.inner.read(name, gave);
    }
}

/// The state's records file, listed after every wrapped store (stores are listed in turn, so
/// every object remembered is known by then): its records count for those objects only (one
/// changed since, or gone from the sources, counts as a full run counts it).
pub(crate) struct KeptRecords {
    memory: Arc<Memory>,
}

impl KeptRecords {
    pub(crate) fn new(memory: Arc<Memory>) -> KeptRecords {
        KeptRecords { memory }
    }
}

impl Store for KeptRecords {
    fn list<'a>(
        &'a self,
        _filter: &'a Filter,
        _settled: &'a Settled,
        found: &'a Found,
    ) -> BoxFuture<'a, Result<(), FatalError>> {
        Box::pin(async move {
            let Some(records) = self.memory.known.records.clone() else { return Ok(()) };
            let of = self.memory.heard().taken.clone();
            let object = Object {
                name: records.display().to_string(),
                location: Location::File(records),
                size: None,
                version: None,
                kind: Kind::Log,
            };
            let _ = found.send(Entry::Recalled { object, of }).await;
            Ok(())
        })
    }

    fn get<'a>(&'a self, object: &'a Object, _whole_up_to: u64) -> BoxFuture<'a, Result<Fetched, Reason>> {
        let fetched = self.get_now(object).unwrap_or(Err(Reason::Misrouted {
            object: object.name.clone(),
            expected: "the state's records file",
        }));
        Box::pin(std::future::ready(fetched))
    }

    fn get_now(&self, object: &Object) -> Option<Result<Fetched, Reason>> {
        match &object.location {
            Location::File(path) => Some(Ok(Fetched { body: Body::File(path.clone()), signature: None })),
            Location::Key(_) => None,
        }
    }
}

/// Which version of a log object was listed: its size with its ETag (S3; event history's settled
/// hours are `etag:settled`) or modification time (a local file, looked up here: a local walk does
/// not stat what it lists). `None` when that cannot be known; the object is then read as without
/// `--state`, and not kept in it.
fn identity(object: &Object) -> Option<(u64, String)> {
    match &object.location {
        Location::Key(_) => Some((object.size?, listed_version(object.version.as_deref()?))),
        Location::File(path) => {
            let meta = std::fs::metadata(path).ok()?;
            let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some((meta.len(), format!("mtime:{}", mtime.as_nanos())))
        }
    }
}

/// The version [`identity`] gives an object listed with the version `version`.
pub(crate) fn listed_version(version: &str) -> String {
    format!("etag:{version}")
}

/// The objects of `known` listed before with the version [`crate::source::SETTLED`], with their
/// size, in name order.
pub(crate) fn settled_objects(known: &FastMap<String, KnownObject>) -> BTreeMap<String, u64> {
    let settled = listed_version(crate::source::SETTLED);
    known.iter().filter(|(_, k)| k.version == settled).map(|(name, k)| (name.clone(), k.size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_failure_is_kept_as_its_line_and_read_back_typed() {
        // As every version has written an unreadable object in state.json.
        let line = r#"{"size":7,"version":"etag:\"a\"","records":0,"out_of_range":0,"failure":"invalid JSON in line 2: EOF while parsing"}"#;
        let known: KnownObject = serde_json::from_str(line).expect("a known object");
        assert_eq!(
            known.failure,
            Some(Reason::Json { at: Some("line 2".into()), detail: "EOF while parsing".into() })
        );
        assert_eq!(serde_json::to_string(&known).expect("JSON"), line, "written back the same");
        assert!(matches!(known.gave(), Gave::Unreadable(Reason::Json { .. })));
        let read: KnownObject =
            serde_json::from_str(r#"{"size":7,"version":"v","records":3,"out_of_range":0}"#).expect("read");
        assert_eq!(read.failure, None);
    }

    /// A store in memory: it lists what it was given (as a store that ignores `Settled` would),
    /// and fetches nothing.
    struct Listed(Vec<Object>);

    impl Store for Listed {
        fn list<'a>(
            &'a self,
            _filter: &'a Filter,
            _settled: &'a Settled,
            found: &'a Found,
        ) -> BoxFuture<'a, Result<(), FatalError>> {
            Box::pin(async move {
                for object in &self.0 {
                    let _ = found.send(Entry::Object(object.clone())).await;
                }
                Ok(())
            })
        }

        fn get<'a>(&'a self, object: &'a Object, _: u64) -> BoxFuture<'a, Result<Fetched, Reason>> {
            let misrouted = Reason::Misrouted { object: object.name.clone(), expected: "nothing" };
            Box::pin(std::future::ready(Err(misrouted)))
        }
    }

    fn object(name: &str, size: u64, etag: &str) -> Object {
        Object {
            name: name.into(),
            location: Location::Key(name.into()),
            size: Some(size),
            version: Some(etag.into()),
            kind: Kind::Log,
        }
    }

    fn known(size: u64, etag: &str, records: u64) -> KnownObject {
        KnownObject { size, version: listed_version(etag), records, out_of_range: 1, failure: None }
    }

    #[test]
    fn the_wrapper_answers_for_what_it_knows_and_keeps_what_reading_the_rest_gave() {
        let day = "AWSLogs/1/CloudTrail/us-east-1/2024/03/02";
        let (same, changed, new) =
            (format!("{day}/a.json.gz"), format!("{day}/b.json.gz"), format!("{day}/c.json.gz"));
        let mut objects = FastMap::default();
        objects.insert(same.clone(), known(10, "\"a\"", 7));
        objects.insert(changed.clone(), known(10, "\"b\"", 5));
        let known = Known { objects, ..Known::default() };
        let memory =
            Arc::new(Memory { known: Arc::new(known), settled: Settled::default(), heard: Mutex::default() });
        let inner = Listed(vec![
            object(&same, 10, "\"a\""),
            object(&changed, 11, "\"b2\""),
            object(&new, 3, "\"c\""),
        ]);
        let store = KnownStore::new(Arc::new(inner), Arc::clone(&memory));
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let (found, mut entries) = mpsc::channel(16);
        runtime.block_on(store.list(&Filter::default(), &Settled::default(), &found)).expect("listed");
        drop(found);
        let mut listed = Vec::new();
        while let Ok(entry) = entries.try_recv() {
            listed.push(entry);
        }
        // The unchanged object is answered for, never fetched; the others are to be read.
        assert!(
            matches!(&listed[0], Entry::Remembered(Remembered { name, gave: Gave::Read { records: 7, out_of_range: 1 }, listed: true }) if *name == same)
        );
        assert!(matches!(&listed[1], Entry::Object(o) if o.name == changed));
        assert!(matches!(&listed[2], Entry::Object(o) if o.name == new));
        assert_eq!(listed.len(), 3);
        // What reading them gave is kept with the version listed; an object it did not list is
        // not its to keep.
        store.read(&changed, &Gave::Read { records: 6, out_of_range: 0 });
        store.read(&new, &Gave::Unreadable(Reason::Empty));
        store.read("elsewhere", &Gave::Read { records: 1, out_of_range: 0 });
        let heard = memory.heard();
        assert_eq!(heard.taken, [same.as_str()]);
        assert_eq!(heard.changed, [changed.as_str()]);
        let mut fresh = heard.fresh.clone();
        fresh.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            fresh,
            [
                (
                    changed,
                    KnownObject {
                        size: 11,
                        version: listed_version("\"b2\""),
                        records: 6,
                        out_of_range: 0,
                        failure: None
                    }
                ),
                (
                    new,
                    KnownObject {
                        size: 3,
                        version: listed_version("\"c\""),
                        records: 0,
                        out_of_range: 0,
                        failure: Some(Reason::Empty)
                    }
                ),
            ]
        );
        // Their day folder was listed whole, every version known.
        assert_eq!(
            heard.folders.get(day).map(|(f, clean)| (f.listed, f.objects, *clean)),
            Some((3, 3, true))
        );
    }
}
