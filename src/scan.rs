//! The reading stage: one pipeline for every source. Listings stream objects as they find them;
//! a fetcher gets each object from its store under two limits, applied here once for all stores
//! (requests in flight, and bytes fetched but not yet read); a fixed pool of rayon workers reads
//! each object as a stream ([`decode`](crate::decode)) and keeps its Instance Connect events
//! ([`event`](crate::event)), or none of them if the object turns out unreadable.
//!
//! Results do not depend on threads or listing order: events are put in order of object name and
//! record position at the end, and every list is sorted.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::decode::{self, Decoded, Decoder, Sink};
use crate::error::Reason;
use crate::error::{ArchivedObject, FatalError, ObjectError};
use crate::event::spool::SpoolWriter;
use crate::event::tables::{FastMap, Tables};
use crate::event::{Event, Extractor, Kept, Origin, EVENT_SOURCE};
use crate::keys::PublicKey;
use crate::layout::day_folder;
use crate::source::filter::Filter;
use crate::source::{Body, Entry, Fetched, Kind, Location, Object, Skipped, Store};
use crate::verify::residue::{self, Fact};
use crate::verify::{DigestObject, LogObject};

type FastSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

/// Objects up to this size are fetched whole, ahead of the workers; larger ones are streamed.
const WHOLE_UP_TO: u64 = 8 << 20;
/// Objects listed but not yet fetched, at most: the listing waits beyond this.
const LISTED_AHEAD: usize = 4096;
/// The byte budget is counted in KiB so that large budgets fit a semaphore's permit count.
const BUDGET_UNIT: u64 = 1024;

/// How to read.
#[derive(Debug, Clone)]
pub(crate) struct ReadOptions {
    /// Worker threads.
    pub(crate) jobs: usize,
    pub(crate) max_object_size: u64,
    /// Requests in flight at once (gets of remote objects).
    pub(crate) concurrency: usize,
    /// Bytes fetched whole but not yet read, at most (one object may exceed it alone).
    pub(crate) budget: u64,
    /// Listing prunes by it; events outside its time range are not kept; with `digests`, digests
    /// are read and logs hashed, to verify the archive.
    pub(crate) filter: Filter,
    /// What earlier runs read (`--state`): objects listed again unchanged are not fetched; their
    /// counts and Instance Connect records are taken from there.
    pub(crate) known: Option<Arc<Known>>,
}

/// What earlier runs read whole, by object name, and the partial holding the Instance Connect
/// records of every one of them (`crate::state` keeps both).
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub(crate) objects: FastMap<String, KnownObject>,
    /// `None` before a first run committed.
    pub(crate) records: Option<PathBuf>,
    /// Day folders not listed again, as an earlier run listed them, with their objects' names:
    /// a listing that meets one replays it from here.
    pub(crate) folders: FastMap<String, (ListedFolder, Vec<String>)>,
}

/// A CloudTrail day folder as a run listed it (`--state`): what its listing counted, so that a
/// run that does not list it again counts it the same.
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
    /// version reads the same way. A download that failed is not kept: it is tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
}

/// With `--state`: what this run read itself, what it took from the state, what changed.
#[derive(Debug, Default)]
pub(crate) struct StateScan {
    /// Objects fetched and read whole now, with their version (sorted by name).
    pub(crate) fresh: Vec<(String, KnownObject)>,
    /// Objects listed unchanged since they were read, taken from the state (sorted by name).
    pub(crate) taken: Vec<String>,
    /// Objects listed unchanged that were unreadable when read: their failure taken from the
    /// state, not fetched again (sorted by name).
    pub(crate) taken_failed: Vec<String>,
    /// Objects read before whose size or version is not what it was: read again (sorted).
    pub(crate) changed: Vec<String>,
    /// The state's partial: its header as it is, and its record lines.
    pub(crate) records: Option<PartialRead>,
    /// Every day folder of the listing, listed now or replayed from the state, with whether
    /// all it held was listed cleanly (no failure, no archived object, every version known).
    pub(crate) folders: FastMap<String, (ListedFolder, bool)>,
    /// Day folders replayed from the state, not listed.
    pub(crate) folders_not_listed: u64,
}

/// What the reading stage reports as it goes (a progress bar, or nothing).
pub(crate) trait Progress: Sync {
    /// One more object was read (or found unreadable); `listed` have been listed so far.
    fn read(&self, listed: u64);
}

/// What reading every object gave.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) counts: Counts,
    /// Objects that could not be listed or read, sorted by name.
    pub(crate) failures: Vec<ObjectError>,
    /// Objects in archive storage classes, not read, sorted by name.
    pub(crate) archived: Vec<ArchivedObject>,
    /// The fewest GETs allowed in flight, when S3's throttling lowered them (for `-v`).
    pub(crate) fewest_in_flight: Option<usize>,
    pub(crate) kept: Kept,
    /// With `--verify`: every digest read, and every log file with its hash.
    pub(crate) digests: Vec<DigestObject>,
    pub(crate) logs: Vec<LogObject>,
    /// Partials read (`report PARTIAL...`), in name order.
    pub(crate) partials: Vec<PartialRead>,
    /// With `--state`.
    pub(crate) state: Option<StateScan>,
}

/// A partial read whole: its name, its header line as it is, how many record lines followed,
/// and, of a `--verify` partial, how many residue lines and the public keys among them (its
/// digests and log files are in [`Scan::digests`] and [`Scan::logs`]).
#[derive(Debug)]
pub(crate) struct PartialRead {
    pub(crate) name: String,
    pub(crate) header: Vec<u8>,
    pub(crate) lines: u64,
    pub(crate) residue: u64,
    pub(crate) keys: Option<Vec<PublicKey>>,
}

/// How much was listed and read. Partials carry a shard's counts; merged, they add up to what
/// one run over the same sources counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counts {
    /// Files or keys the listings returned (read, skipped, or left out by the filter).
    pub(crate) objects_listed: u64,
    /// Objects listed to be read (read, or unreadable).
    pub(crate) objects_found: u64,
    pub(crate) objects_read: u64,
    pub(crate) skipped: Skipped,
    /// Records of every object read, Instance Connect or not.
    pub(crate) records: u64,
    /// Instance Connect events outside `--from`..`--to`, not kept.
    pub(crate) events_out_of_range: u64,
    /// S3 requests answered 503 (SlowDown) and retried. Absent from partials of older writers.
    #[serde(default)]
    pub(crate) requests_throttled: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.objects_listed += other.objects_listed;
        self.objects_found += other.objects_found;
        self.objects_read += other.objects_read;
        self.skipped.digest += other.skipped.digest;
        self.skipped.other += other.skipped.other;
        self.skipped.directory_links += other.skipped.directory_links;
        self.records += other.records;
        self.events_out_of_range += other.events_out_of_range;
        self.requests_throttled += other.requests_throttled;
    }
}

/// An object on its way to a worker.
struct Item {
    /// Its place in the order of listing; replaced by its rank by name at the end.
    seq: u32,
    object: Object,
    fetched: Result<Fetched, Reason>,
    /// Its share of the byte budget, released when the worker is done with it.
    _budget: Option<OwnedSemaphorePermit>,
    /// With `--state`: its size and version as listed, or that it is the state's own partial.
    role: Role,
}

/// What an object is read for, with `--state`.
#[derive(Debug, Clone, Default)]
enum Role {
    #[default]
    Listed,
    /// Listed, with its size and version, to be kept in the state once read.
    Versioned(u64, String),
    /// The state's partial: the records of the objects taken from it.
    StateRecords,
}

/// What the listings found besides objects.
#[derive(Default)]
struct Listing {
    listed: u64,
    objects: u64,
    skipped: Skipped,
    failures: Vec<ObjectError>,
    archived: Vec<ArchivedObject>,
    /// The fewest GETs allowed in flight, when throttling lowered them.
    fewest_in_flight: Option<usize>,
    /// With `--state`: objects taken from it, and what they counted.
    taken: Vec<String>,
    taken_records: u64,
    taken_out_of_range: u64,
    taken_failed: Vec<String>,
    changed: Vec<String>,
    folders: FastMap<String, (ListedFolder, bool)>,
    folders_not_listed: u64,
}

impl Listing {
    /// The day folder `name` is in, to count its listing in (`--state` only).
    fn folder(&mut self, stateful: bool, name: &str) -> Option<&mut (ListedFolder, bool)> {
        let (folder, _) = day_folder(name).filter(|_| stateful)?;
        if !self.folders.contains_key(folder) {
            self.folders.insert(folder.to_owned(), (ListedFolder::default(), true));
        }
        self.folders.get_mut(folder)
    }

    /// A day folder not listed again: what its listing counted, and its objects, as the state
    /// has them (each counted as if listed unchanged).
    fn replay(&mut self, known: &Known, folder: String) {
        let Some((listed, names)) = known.folders.get(&folder) else { return };
        self.folders_not_listed += 1;
        self.listed += listed.listed;
        self.skipped.digest += listed.skipped.digest;
        self.skipped.other += listed.skipped.other;
        self.skipped.directory_links += listed.skipped.directory_links;
        for name in names {
            let Some(k) = known.objects.get(name) else { continue };
            self.objects += 1;
            match &k.failure {
                Some(error) => {
                    self.failures.push(ObjectError { object: name.clone(), error: error.clone() });
                    self.taken_failed.push(name.clone());
                }
                None => {
                    self.taken_records += k.records;
                    self.taken_out_of_range += k.out_of_range;
                    self.taken.push(name.clone());
                }
            }
        }
        self.folders.insert(folder, (listed.clone(), true));
    }
}

/// Reads every object of `stores`.
pub(crate) fn scan(
    stores: &[Arc<dyn Store>],
    options: &ReadOptions,
    runtime: &tokio::runtime::Runtime,
    progress: &dyn Progress,
) -> Result<Scan, FatalError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .thread_name(|i| format!("trailscope-worker-{i}"))
        .build()
        .map_err(|e| FatalError::Pool(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let sentinel = Arc::new(Sentinel::default());
    let (listed_tx, listed_rx) = mpsc::channel(LISTED_AHEAD);
    let (items_tx, items_rx) = mpsc::channel(options.concurrency + 2 * options.jobs);

    let lister = runtime.spawn(list_all(stores.to_vec(), options.filter.clone(), listed_tx));
    // Objects listed to be read so far, for the progress report.
    let listed_count = Arc::new(AtomicU64::new(0));
    // The fetcher sets the names taken from the state once the listing is done, before it sends
    // the state's partial, whose records are kept only for them.
    let taken: Arc<OnceLock<FastSet<String>>> = Arc::default();
    let fetcher = runtime.spawn(fetch_all(
        stores.to_vec(),
        listed_rx,
        items_tx,
        options.clone(),
        FetchShared {
            stop: Arc::clone(&stop),
            count: Arc::clone(&listed_count),
            sentinel: Arc::clone(&sentinel),
            taken: Arc::clone(&taken),
        },
    ));

    let tables = Tables::default();
    let items = Mutex::new(items_rx);
    let outputs = Mutex::new(Vec::new());
    let partial_objects = AtomicU32::new(1 << 31);
    let shared = Shared {
        taken: &taken,
        options,
        tables: &tables,
        stop: &stop,
        progress,
        listed: &listed_count,
        partial_objects: &partial_objects,
    };
    pool.scope(|scope| {
        for worker in 0..options.jobs {
            let (items, outputs, shared) = (&items, &outputs, &shared);
            scope.spawn(move |_| {
                let output = work(worker as u16, items, shared);
                if output.is_err() {
                    shared.stop.store(true, Ordering::Relaxed);
                }
                outputs.lock().unwrap_or_else(|e| e.into_inner()).push(output);
            });
        }
    });
    let listing = runtime.block_on(fetcher).map_err(|e| FatalError::Pool(format!("fetcher: {e}")))?;
    runtime.block_on(lister).map_err(|e| FatalError::Pool(format!("lister: {e}")))??;
    let outputs = outputs.into_inner().unwrap_or_else(|e| e.into_inner());
    let outputs = outputs.into_iter().collect::<Result<Vec<_>, _>>()?;
    if let Some(stopped) = sentinel.tripped() {
        return Err(stopped);
    }
    Ok(gather(listing, outputs, tables, options.known.is_some()))
}

/// Lists every store in turn, tagging what each finds with the store's position.
async fn list_all(
    stores: Vec<Arc<dyn Store>>,
    filter: Filter,
    listed: mpsc::Sender<(usize, Entry)>,
) -> Result<(), FatalError> {
    for (i, store) in stores.iter().enumerate() {
        let (found, mut entries) = mpsc::channel(LISTED_AHEAD);
        let listed = listed.clone();
        // Owns `entries`: once the fetcher stops taking entries (the run stopped early), the
        // channel closes and the listing stops too, instead of waiting for room forever.
        let forward = async move {
            while let Some(entry) = entries.recv().await {
                if listed.send((i, entry)).await.is_err() {
                    break;
                }
            }
        };
        let (listing, ()) = tokio::join!(
            async {
                let result = store.list(&filter, &found).await;
                drop(found);
                result
            },
            forward
        );
        listing?;
    }
    Ok(())
}

/// What the fetcher shares with the rest of the run.
struct FetchShared {
    /// Set when the run stops early (a worker failed, or the sentinel saw every GET refused).
    stop: Arc<AtomicBool>,
    /// Objects listed to be read so far, for the progress report.
    count: Arc<AtomicU64>,
    /// Watches the first answers for one access error that refuses them all.
    sentinel: Arc<Sentinel>,
    /// With `--state`: the names taken from it, set once the listing is done.
    taken: Arc<OnceLock<FastSet<String>>>,
}

/// Gets each listed object from its store, within the limits, and hands it on to the workers.
async fn fetch_all(
    stores: Vec<Arc<dyn Store>>,
    mut listed: mpsc::Receiver<(usize, Entry)>,
    items: mpsc::Sender<Item>,
    options: ReadOptions,
    shared: FetchShared,
) -> Listing {
    let FetchShared { stop, count, sentinel, taken } = shared;
    let requests = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let gate = Arc::new(Gate::new(options.concurrency.max(1)));
    let units = (options.budget / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 3)) as u32;
    let budget = Arc::new(Semaphore::new(units as usize));
    let mut listing = Listing::default();
    let mut gets = JoinSet::new();
    let mut seq = 0u32;
    let stateful = options.known.is_some();
    while let Some((store, entry)) = listed.recv().await {
        if let Entry::Settled(folder) = entry {
            if let Some(known) = &options.known {
                listing.replay(known, folder);
            }
            continue;
        }
        listing.listed += 1;
        let object = match entry {
            Entry::Object(object) => object,
            Entry::Skipped(skip, name) => {
                listing.skipped.add(skip);
                if let Some((folder, _)) = listing.folder(stateful, &name) {
                    folder.listed += 1;
                    folder.skipped.add(skip);
                }
                continue;
            }
            Entry::Pruned(name) => {
                if let Some((folder, _)) = listing.folder(stateful, &name) {
                    folder.listed += 1;
                }
                continue;
            }
            Entry::Failed(failure) => {
                if let Some((_, clean)) = listing.folder(stateful, &failure.object) {
                    *clean = false;
                }
                listing.failures.push(failure);
                continue;
            }
            Entry::Archived(archived) => {
                // Never remembered by the state: a folder holding one is listed again.
                if let Some((_, clean)) = listing.folder(stateful, &archived.object) {
                    *clean = false;
                }
                listing.archived.push(archived);
                continue;
            }
            Entry::Settled(_) => continue,
        };
        // Which version was listed, looked up once (a local file's is a stat).
        let id = if stateful && object.kind == Kind::Log { identity(&object) } else { None };
        if let Some((folder, clean)) = listing.folder(stateful, &object.name) {
            folder.listed += 1;
            folder.objects += 1;
            *clean &= id.is_some();
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        listing.objects += 1;
        let mut role = Role::Listed;
        if let Some(known) = &options.known {
            if let Some((size, version)) = id {
                match known.objects.get(&object.name) {
                    Some(k) if k.size == size && k.version == version && k.failure.is_some() => {
                        let error = k.failure.clone().unwrap_or_default();
                        listing.failures.push(ObjectError { object: object.name.clone(), error });
                        listing.taken_failed.push(object.name);
                        continue;
                    }
                    Some(k) if k.size == size && k.version == version => {
                        listing.taken_records += k.records;
                        listing.taken_out_of_range += k.out_of_range;
                        listing.taken.push(object.name);
                        continue;
                    }
                    Some(_) => listing.changed.push(object.name.clone()),
                    None => {}
                }
                role = Role::Versioned(size, version);
            }
        }
        // Counted for the progress bar once it is to be read: objects taken from the state are not.
        count.fetch_add(1, Ordering::Relaxed);
        let this = seq;
        seq = seq.saturating_add(1);
        if object.size.is_some_and(|size| size > options.max_object_size) {
            let fetched = Err(Reason::TooLarge { limit: options.max_object_size });
            let _ = items.send(Item { seq: this, object, fetched, _budget: None, role }).await;
            continue;
        }
        // An object its store hands over at once (a local file) needs no task of its own.
        if let Some(fetched) = stores[store].get_now(&object) {
            if items.send(Item { seq: this, object, fetched, _budget: None, role }).await.is_err() {
                break;
            }
            continue;
        }
        let share =
            (object.size.unwrap_or(0).min(WHOLE_UP_TO) / BUDGET_UNIT).clamp(1, u64::from(units)) as u32;
        // Both semaphores live as long as this task; acquiring only fails once closed.
        let (Ok(held), Ok(request)) =
            (budget.clone().acquire_many_owned(share).await, requests.clone().acquire_owned().await)
        else {
            break;
        };
        let (store, items) = (Arc::clone(&stores[store]), items.clone());
        let (sentinel, stop, gate) = (Arc::clone(&sentinel), Arc::clone(&stop), Arc::clone(&gate));
        gate.enter(|| store.throttled()).await;
        gets.spawn(async move {
            let fetched = store.get(&object, WHOLE_UP_TO).await;
            gate.leave(store.throttled());
            if sentinel.observe(&object.name, &fetched) {
                // Every other GET would be refused the same way: ask no more.
                stop.store(true, Ordering::Relaxed);
            }
            // A closed channel means the run is over; nothing is waiting for this object. The
            // request's permit is held until a worker can take the object, so objects fetched
            // and waiting are at most the requests allowed in flight, whatever their size.
            let _ = items.send(Item { seq: this, object, fetched, _budget: Some(held), role }).await;
            drop(request);
        });
        while gets.try_join_next().is_some() {}
    }
    // The state's partial goes last, once every name taken from it is known: its records count
    // for those objects only (one changed since, or gone from the sources, counts as a full run
    // counts it).
    if options.known.is_some() {
        listing.taken.sort_unstable();
        listing.changed.sort_unstable();
        listing.taken_failed.sort_unstable();
        let _ = taken.set(listing.taken.iter().cloned().collect());
    }
    if let Some(records) = options.known.as_ref().and_then(|k| k.records.clone()) {
        let object = Object {
            name: records.display().to_string(),
            location: Location::File(records.clone()),
            size: None,
            version: None,
            kind: Kind::Log,
        };
        let fetched = Ok(Fetched { body: Body::File(records), signature: None });
        let item = Item { seq, object, fetched, _budget: None, role: Role::StateRecords };
        let _ = items.send(item).await;
    }
    while gets.join_next().await.is_some() {}
    listing.fewest_in_flight = gate.lowest();
    listing
}

/// Which version of a log object was listed: its size with its ETag (S3) or modification time
/// (a local file, looked up here: a local walk does not stat what it lists). `None` when that
/// cannot be known; the object is then read as without `--state`, and not kept in it.
fn identity(object: &Object) -> Option<(u64, String)> {
    match &object.location {
        Location::Key(_) => Some((object.size?, format!("etag:{}", object.version.as_deref()?))),
        Location::File(path) => {
            let meta = std::fs::metadata(path).ok()?;
            let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some((meta.len(), format!("mtime:{}", mtime.as_nanos())))
        }
    }
}

/// What every worker shares.
struct Shared<'a> {
    options: &'a ReadOptions,
    tables: &'a Tables,
    stop: &'a AtomicBool,
    progress: &'a dyn Progress,
    listed: &'a AtomicU64,
    /// Numbers for the objects partials name, apart from the listing's own (which count from 0).
    partial_objects: &'a AtomicU32,
    /// With `--state`: the objects whose records the state's partial gives.
    taken: &'a OnceLock<FastSet<String>>,
}

/// What one worker read.
struct Output {
    events: Vec<Event>,
    /// Objects the events came from: (seq, name).
    names: Vec<(u32, String)>,
    spool: Option<(u16, File)>,
    objects_read: u64,
    records: u64,
    events_out_of_range: u64,
    failures: Vec<ObjectError>,
    archived: Vec<ArchivedObject>,
    digests: Vec<DigestObject>,
    logs: Vec<LogObject>,
    partials: Vec<PartialRead>,
    /// With `--state`: objects read whole, with their version; the state's partial as read.
    fresh: Vec<(String, KnownObject)>,
    state_records: Option<PartialRead>,
}

/// One worker: reads objects until there are none left.
fn work(
    segment: u16,
    items: &Mutex<mpsc::Receiver<Item>>,
    shared: &Shared<'_>,
) -> Result<Output, FatalError> {
    let verifying = shared.options.filter.digests;
    let mut decoder = Decoder::new(shared.options.max_object_size, EVENT_SOURCE.as_bytes());
    if verifying {
        decoder = decoder.verifying();
    }
    let mut extractor = Extractor::new(shared.tables);
    let mut spool = SpoolWriter::new(segment).map_err(FatalError::Spool)?;
    let mut output = Output {
        events: Vec::new(),
        names: Vec::new(),
        spool: None,
        objects_read: 0,
        records: 0,
        events_out_of_range: 0,
        failures: Vec::new(),
        archived: Vec::new(),
        digests: Vec::new(),
        logs: Vec::new(),
        partials: Vec::new(),
        fresh: Vec::new(),
        state_records: None,
    };
    let mut pending = Vec::new();
    let mut named = FastMap::default();
    loop {
        // Waiting holds the lock; the others wait for it, then for the next item.
        let item = items.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(Item { seq, object, fetched, _budget, role }) = item else { break };
        if shared.stop.load(Ordering::Relaxed) {
            continue;
        }
        if object.kind == Kind::Digest {
            output.digests.push(read_digest(object.name, fetched, shared.options.max_object_size));
            shared.progress.read(shared.listed.load(Ordering::Relaxed));
            continue;
        }
        let mark = spool.mark();
        let mut sink = Collect::new(
            &mut extractor,
            &mut spool,
            &shared.options.filter,
            &mut pending,
            seq,
            &mut named,
            shared.partial_objects,
        );
        if let Role::StateRecords = role {
            sink.only = Some(shared.taken.get_or_init(FastSet::default));
        }
        // Only a failure of bytes fetched whole is the object's own, kept in the state: a stream
        // can fail on the way.
        let whole = match &fetched {
            Ok(fetched) => matches!(fetched.body, Body::Bytes(_) | Body::File(_)),
            Err(reason) => matches!(reason, Reason::TooLarge { .. }),
        };
        // The state's records are the archive's Instance Connect records, not one object of it:
        // --max-object-size does not bound them.
        let mut unbounded;
        let decoder = match role {
            Role::StateRecords => {
                unbounded = Decoder::new(u64::MAX, EVENT_SOURCE.as_bytes());
                &mut unbounded
            }
            _ => &mut decoder,
        };
        let result = fetched.and_then(|fetched| read(decoder, fetched.body, &mut sink));
        let (out_of_range, fatal, partial) = (sink.out_of_range, sink.fatal.take(), sink.partial.take());
        if let Some(fatal) = fatal {
            return Err(fatal);
        }
        if matches!(role, Role::StateRecords) && partial.is_none() {
            let why = result.err().map_or_else(|| "not a partial".to_owned(), |e| e.to_string());
            return Err(FatalError::State(format!("{}: damaged: {why}", object.name)));
        }
        // A partial is a shard of a run: read whole, or the report would silently lack it.
        if let Some(partial) = partial {
            if let Err(reason) = result {
                if matches!(role, Role::StateRecords) {
                    return Err(FatalError::State(format!("{}: damaged: {reason}", object.name)));
                }
                return Err(FatalError::Partial(format!("{}: {reason}", object.name)));
            }
            output.digests.extend(partial.digests);
            output.logs.extend(partial.logs);
            let read = PartialRead {
                name: object.name,
                header: partial.header,
                lines: partial.lines,
                residue: partial.residue,
                keys: partial.keys,
            };
            if matches!(role, Role::StateRecords) {
                output.state_records = Some(read);
            } else {
                output.partials.push(read);
            }
            output.names.extend(partial.objects);
            output.events.append(&mut pending);
            shared.progress.read(shared.listed.load(Ordering::Relaxed));
            continue;
        }
        match result {
            Ok(decoded) => {
                if verifying {
                    output.logs.push(LogObject {
                        object: object.name.clone(),
                        sha256: decoded.sha256,
                        events: decoded.events,
                    });
                }
                output.objects_read += 1;
                output.records += decoded.records;
                output.events_out_of_range += out_of_range;
                if let Role::Versioned(size, version) = role {
                    let records = decoded.records;
                    let known = KnownObject { size, version, records, out_of_range, failure: None };
                    output.fresh.push((object.name.clone(), known));
                }
                if !pending.is_empty() {
                    output.names.push((seq, object.name));
                    output.events.append(&mut pending);
                }
            }
            Err(reason) => {
                // Read whole or not at all: nothing of an unreadable object counts.
                pending.clear();
                spool.rollback(mark).map_err(FatalError::Spool)?;
                if verifying {
                    output.logs.push(LogObject { object: object.name.clone(), sha256: None, events: None });
                }
                match reason {
                    // An Intelligent-Tiering archive tier: known only by GetObject's answer, and
                    // not remembered by --state (restored, it reads).
                    Reason::Archived(storage_class) => {
                        output.archived.push(ArchivedObject { object: object.name, storage_class })
                    }
                    reason => {
                        let error = reason.to_string();
                        let transient = matches!(reason, Reason::Read(_) | Reason::Fetch(_));
                        if let (Role::Versioned(size, version), true, false) = (role, whole, transient) {
                            let failure = Some(error.clone());
                            let known = KnownObject { size, version, records: 0, out_of_range: 0, failure };
                            output.fresh.push((object.name.clone(), known));
                        }
                        output.failures.push(ObjectError { object: object.name, error });
                    }
                }
            }
        }
        shared.progress.read(shared.listed.load(Ordering::Relaxed));
    }
    output.spool = Some((segment, spool.finish().map_err(FatalError::Spool)?));
    Ok(output)
}

/// A digest, read whole (digests are small), inflated and parsed, or why it could not be.
fn read_digest(object: String, fetched: Result<Fetched, Reason>, limit: u64) -> DigestObject {
    let read = fetched.and_then(|fetched| {
        let content = match fetched.body {
            Body::File(path) => decode::read_whole(&mut File::open(path).map_err(Reason::Read)?, limit),
            Body::Bytes(bytes) => decode::read_whole(&mut &bytes[..], limit),
            Body::Stream(mut stream) => decode::read_whole(&mut stream, limit),
        }?;
        Ok((content, fetched.signature))
    });
    match read {
        Ok((content, signature)) => DigestObject::from_content(object, &content, signature),
        Err(reason) => DigestObject::unreadable(object, reason.to_string()),
    }
}

/// One log object through the decoder, by the path its body allows (also `stages`, so that the
/// benchmarks and the fuzz target read as a worker does).
pub(crate) fn read(decoder: &mut Decoder, body: Body, sink: &mut dyn Sink) -> Result<Decoded, Reason> {
    match body {
        Body::File(path) => decoder.read_file(&path, sink),
        Body::Bytes(bytes) => decoder.decode(&bytes, sink),
        Body::Stream(mut stream) => decoder.read(&mut stream, sink),
    }
}

/// Keeps the Instance Connect events of the object being read, tentatively: they count only if
/// the whole object reads.
pub(crate) struct Collect<'a, 't> {
    extractor: &'a mut Extractor<'t>,
    spool: &'a mut SpoolWriter,
    filter: &'a Filter,
    pending: &'a mut Vec<Event>,
    out_of_range: u64,
    seq: u32,
    /// A failure of this run, not of the object (the spool could not be written).
    fatal: Option<FatalError>,
    /// When the object is a partial: its header, and what it has given so far.
    partial: Option<Partial>,
    /// The numbers given to the objects partials name, by name.
    named: &'a mut FastMap<String, u32>,
    partial_objects: &'a AtomicU32,
    /// The state's partial: records of these objects only are kept.
    only: Option<&'a FastSet<String>>,
}

/// A partial being read.
#[derive(Default)]
struct Partial {
    header: Vec<u8>,
    lines: u64,
    /// Objects first named in this partial: (number, name).
    objects: Vec<(u32, String)>,
    /// Residue lines, and what they held.
    residue: u64,
    digests: Vec<DigestObject>,
    logs: Vec<LogObject>,
    keys: Option<Vec<PublicKey>>,
}

impl<'a, 't> Collect<'a, 't> {
    /// Collects the events of object `seq` into `pending` and their records into `spool`.
    pub(crate) fn new(
        extractor: &'a mut Extractor<'t>,
        spool: &'a mut SpoolWriter,
        filter: &'a Filter,
        pending: &'a mut Vec<Event>,
        seq: u32,
        named: &'a mut FastMap<String, u32>,
        partial_objects: &'a AtomicU32,
    ) -> Self {
        Collect {
            extractor,
            spool,
            filter,
            pending,
            out_of_range: 0,
            seq,
            fatal: None,
            partial: None,
            named,
            partial_objects,
            only: None,
        }
    }

    /// Whether the object was a partial (`trailscope scan`'s output), which the worker keeps
    /// apart from logs.
    pub(crate) fn was_partial(&self) -> bool {
        self.partial.is_some()
    }

    /// Keeps `event`, read from `record`, at `origin`.
    fn keep(&mut self, mut event: Event, origin: Origin, record: &[u8]) -> Result<(), Reason> {
        event.origin = origin;
        event.record = self.spool.append(record).map_err(|e| {
            let reason = Reason::Fetch(format!("cannot keep the record: {e}"));
            self.fatal = Some(FatalError::Spool(e));
            reason
        })?;
        self.pending.push(event);
        Ok(())
    }
}

impl Sink for Collect<'_, '_> {
    fn candidate(&mut self, index: u32, record: &mut [u8]) -> Result<(), Reason> {
        let Some(event) = self.extractor.extract(record)? else {
            return Ok(());
        };
        if !self.filter.keeps_time(event.time) {
            self.out_of_range += 1;
            return Ok(());
        }
        self.keep(event, Origin { object: self.seq, record: index }, record)
    }

    fn partial_header(&mut self, header: &[u8]) -> Result<(), Reason> {
        self.partial = Some(Partial { header: header.to_vec(), ..Partial::default() });
        Ok(())
    }

    fn partial_residue(&mut self, fact: &[u8]) -> Result<(), Reason> {
        let Some(partial) = self.partial.as_mut() else {
            return Err(Reason::Shape("a partial's residue before its header".into()));
        };
        let fact: Fact = serde_json::from_slice(fact)
            .map_err(|e| Reason::Shape(format!("a residue line that is not a fact of --verify: {e}")))?;
        match fact.read().map_err(|e| Reason::Shape(format!("a residue line: {e}")))? {
            residue::Read::Digest(d) => partial.digests.push(*d),
            residue::Read::Log(l) => partial.logs.push(l),
            residue::Read::Keys(keys) => partial.keys.get_or_insert_with(Vec::new).extend(keys),
        }
        partial.residue += 1;
        Ok(())
    }

    fn partial_record(&mut self, object: &str, index: u32, record: &[u8]) -> Result<(), Reason> {
        let Some(event) = self.extractor.extract(record)? else {
            return Err(Reason::Shape("a partial's record that is not an Instance Connect event".into()));
        };
        let Some(partial) = self.partial.as_mut() else {
            return Err(Reason::Shape("a partial's record before its header".into()));
        };
        partial.lines += 1;
        if self.only.is_some_and(|only| !only.contains(object)) {
            return Ok(());
        }
        let number = match self.named.get(object) {
            Some(&number) => number,
            None => {
                let number = self.partial_objects.fetch_add(1, Ordering::Relaxed);
                self.named.insert(object.to_owned(), number);
                partial.objects.push((number, object.to_owned()));
                number
            }
        };
        self.keep(event, Origin { object: number, record: index }, record)
    }
}

/// Puts every worker's output together, in an order that depends on nothing but the objects.
fn gather(listing: Listing, outputs: Vec<Output>, tables: Tables, stateful: bool) -> Scan {
    let mut scan = Scan::default();
    scan.counts.objects_listed = listing.listed;
    scan.counts.objects_found = listing.objects;
    scan.counts.skipped = listing.skipped;
    scan.failures = listing.failures;
    scan.archived = listing.archived;
    scan.fewest_in_flight = listing.fewest_in_flight;
    let mut state = StateScan::default();
    scan.counts.objects_read += listing.taken.len() as u64;
    scan.counts.records += listing.taken_records;
    scan.counts.events_out_of_range += listing.taken_out_of_range;
    state.taken = listing.taken;
    state.changed = listing.changed;
    state.taken_failed = listing.taken_failed;
    state.folders = listing.folders;
    state.folders_not_listed = listing.folders_not_listed;
    let mut names = Vec::new();
    let mut events = Vec::new();
    for output in outputs {
        scan.counts.objects_read += output.objects_read;
        scan.counts.records += output.records;
        scan.counts.events_out_of_range += output.events_out_of_range;
        scan.failures.extend(output.failures);
        scan.archived.extend(output.archived);
        scan.digests.extend(output.digests);
        scan.logs.extend(output.logs);
        scan.partials.extend(output.partials);
        state.fresh.extend(output.fresh);
        state.records = state.records.or(output.state_records);
        names.extend(output.names);
        events.extend(output.events);
        if let Some((segment, file)) = output.spool {
            scan.kept.spool.add(segment, file);
        }
    }
    // Objects are ranked by name, whatever order they were listed or read in.
    names.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    let rank: FastMap<u32, u32> =
        names.iter().enumerate().map(|(rank, (seq, _))| (*seq, rank as u32)).collect();
    for event in &mut events {
        event.origin.object = rank[&event.origin.object];
    }
    events.sort_unstable_by_key(|e| e.origin);
    scan.kept.events = events;
    scan.kept.objects = names.into_iter().map(|(_, name)| name).collect();
    scan.kept.vocabulary = tables.freeze();
    scan.failures.sort();
    scan.archived.sort();
    scan.partials.sort_by(|a, b| a.name.cmp(&b.name));
    if stateful {
        state.fresh.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        scan.state = Some(state);
    }
    scan
}

/// How many GETs may be in flight, lowered when S3 says slow down: halved whenever the store's
/// count of throttling answers has grown since last looked at (before each GET and after each
/// one; down to one), raised by one after as many unthrottled GETs as are allowed (up to
/// `--s3-concurrency`). With the SDK's backoff on each throttled request, this is
/// what lowers the rate of the whole run, then brings it back.
pub(crate) struct Gate {
    state: Mutex<GateState>,
    /// Wakes the fetcher waiting to send a request.
    room: tokio::sync::Notify,
}

struct GateState {
    in_flight: usize,
    allowed: usize,
    most: usize,
    /// The store's throttle count last seen, and unthrottled GETs since the last change.
    throttled: u64,
    calm: usize,
    lowest: usize,
}

impl Gate {
    pub(crate) fn new(most: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState {
                in_flight: 0,
                allowed: most,
                most,
                throttled: 0,
                calm: 0,
                lowest: most,
            }),
            room: tokio::sync::Notify::new(),
        }
    }

    /// Waits until one more request may be in flight; `throttled` is the store's throttle count,
    /// read afresh at each look: a SlowDown met by a request still being retried lowers the
    /// allowance at once, not when that request is done.
    pub(crate) async fn enter(&self, throttled: impl Fn() -> u64) {
        loop {
            {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.saw(throttled());
                if state.in_flight < state.allowed {
                    state.in_flight += 1;
                    return;
                }
            }
            // `notify_one` keeps a wake-up for a waiter not yet waiting: none is lost.
            self.room.notified().await;
        }
    }

    /// A request is done; `throttled` is its store's throttle count now.
    pub(crate) fn leave(&self, throttled: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.in_flight -= 1;
        if !state.saw(throttled) {
            state.calm += 1;
            if state.calm >= state.allowed {
                state.calm = 0;
                state.allowed = (state.allowed + 1).min(state.most);
            }
        }
        drop(state);
        self.room.notify_one();
    }

    #[cfg(test)]
    fn allowed(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).allowed
    }

    /// The fewest GETs it allowed in flight, when throttling lowered them.
    pub(crate) fn lowest(&self) -> Option<usize> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.lowest < state.most).then_some(state.lowest)
    }
}

impl GateState {
    /// Halves the allowance if the store met new throttling answers; says whether it did.
    fn saw(&mut self, throttled: u64) -> bool {
        if throttled <= self.throttled {
            return false;
        }
        self.throttled = throttled;
        self.allowed = (self.allowed / 2).max(1);
        self.lowest = self.lowest.min(self.allowed);
        self.calm = 0;
        true
    }
}

/// Answers watched before the run gives up on an access error: this many GETs refused in a row,
/// with the same error code and nothing read before, and the run stops (at most
/// `--s3-concurrency` more are already in flight). Large enough that a few objects refused among
/// readable ones never stop a run (the first readable answer ends the watch), small enough that
/// a bucket of millions is never asked millions of times for what it will not give.
pub(crate) const EARLY_STOP_AFTER: usize = 20;

/// S3 error codes that, for one caller and one bucket, answer every GET alike.
const ACCESS_ERRORS: [&str; 4] = ["AccessDenied", "InvalidAccessKeyId", "ExpiredToken", "AllAccessDisabled"];

/// Watches the first GET answers of a run for an access error that every other GET would give
/// too: the early stop. Any object fetched, or any other failure, ends the watch for good.
#[derive(Default)]
struct Sentinel {
    state: Mutex<Watch>,
}

#[derive(Default)]
enum Watch {
    #[default]
    Idle,
    /// `refused` GETs in a row answered `code`; the first of them.
    Refused {
        code: String,
        refused: usize,
        first: ObjectError,
    },
    /// Something was read, or failed otherwise: the run goes on whatever follows.
    Over,
    Tripped {
        code: String,
        refused: usize,
        first: ObjectError,
    },
}

impl Sentinel {
    /// Takes one GET's answer; true when the run should stop now.
    fn observe(&self, object: &str, fetched: &Result<Fetched, Reason>) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let access = match fetched {
            Err(Reason::Fetch(cause)) => access_code(cause),
            // Archived objects say nothing about access.
            Err(Reason::Archived(_)) => return false,
            _ => None,
        };
        let Some(code) = access else {
            if !matches!(*state, Watch::Tripped { .. }) {
                *state = Watch::Over;
            }
            return false;
        };
        let error = || ObjectError {
            object: object.to_owned(),
            error: match fetched {
                Err(reason) => reason.to_string(),
                Ok(_) => String::new(),
            },
        };
        let next = match std::mem::take(&mut *state) {
            Watch::Idle => Watch::Refused { code: code.to_owned(), refused: 1, first: error() },
            Watch::Refused { code: seen, refused, first } if seen == code => {
                Watch::Refused { code: seen, refused: refused + 1, first }
            }
            Watch::Refused { .. } => Watch::Over,
            other => other,
        };
        *state = match next {
            Watch::Refused { code, refused, first } if refused >= EARLY_STOP_AFTER => {
                Watch::Tripped { code, refused, first }
            }
            other => other,
        };
        matches!(*state, Watch::Tripped { .. })
    }

    /// The fatal error of a run stopped early, if it was.
    fn tripped(&self) -> Option<FatalError> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            Watch::Tripped { code, refused, first } => Some(FatalError::AccessStopped {
                objects: *refused,
                cause: missing(code, &first.error, &first.object),
                example: first.clone(),
            }),
            _ => None,
        }
    }
}

/// The access error code a download failure starts with (`AccessDenied: …`), if any.
fn access_code(cause: &str) -> Option<&'static str> {
    let code = cause.split(':').next().unwrap_or_default().trim();
    ACCESS_ERRORS.into_iter().find(|known| *known == code)
}

/// What a caller refused with `code` lacks, from S3's message: the KMS permission and key of an
/// SSE-KMS object, or the S3 permission, or valid credentials.
pub(crate) fn missing(code: &str, error: &str, object: &str) -> String {
    match code {
        "InvalidAccessKeyId" => {
            "the access key id is not known to AWS: check the profile or credentials".into()
        }
        "ExpiredToken" => "the session's credentials have expired: refresh them (e.g. aws sso login)".into(),
        "AllAccessDisabled" => "all access to this bucket or object has been disabled by AWS".into(),
        _ => {
            let action = error
                .split("not authorized to perform: ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(|a| a.trim_end_matches([',', '.', ';']).to_owned());
            let key = error
                .split_whitespace()
                .find(|word| word.starts_with("arn:aws:kms:") || word.starts_with("arn:aws-"))
                .filter(|word| word.contains(":kms:"))
                .map(|word| word.trim_end_matches([',', '.', ';', ')']).to_owned());
            match (action, key) {
                (Some(action), Some(key)) => format!("missing permission {action} on KMS key {key}"),
                (Some(action), None) if action.starts_with("kms:") => {
                    format!("missing permission {action} on the objects' KMS key (SSE-KMS)")
                }
                (Some(action), None) => format!("missing permission {action}"),
                (None, Some(key)) => format!("missing permission kms:Decrypt on KMS key {key}"),
                (None, None) if error.contains("kms") || error.contains("KMS") => {
                    "missing permission kms:Decrypt on the objects' KMS key (SSE-KMS)".into()
                }
                (None, None) => {
                    let bucket =
                        object.strip_prefix("s3://").and_then(|r| r.split('/').next()).unwrap_or(object);
                    format!("missing permission s3:GetObject on arn:aws:s3:::{bucket}/*")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(message: &str) -> Result<Fetched, Reason> {
        Err(Reason::Fetch(message.to_owned()))
    }

    #[test]
    fn the_same_access_error_from_the_first_objects_stops_the_run() {
        let sentinel = Sentinel::default();
        let denied = "AccessDenied: Access Denied";
        for i in 1..EARLY_STOP_AFTER {
            assert!(!sentinel.observe(&format!("s3://b/{i}"), &refused(denied)));
        }
        assert!(sentinel.observe("s3://b/last", &refused(denied)));
        let stopped = sentinel.tripped().expect("stopped").to_string();
        assert!(stopped.contains("s3:GetObject on arn:aws:s3:::b/*"), "{stopped}");
    }

    #[test]
    fn a_run_that_read_something_or_failed_otherwise_goes_on() {
        let sentinel = Sentinel::default();
        assert!(!sentinel.observe("s3://b/0", &refused("NoSuchKey: gone")));
        for i in 0..3 * EARLY_STOP_AFTER {
            assert!(!sentinel.observe(&format!("s3://b/{i}"), &refused("AccessDenied: Access Denied")));
        }
        assert!(sentinel.tripped().is_none());
        let sentinel = Sentinel::default();
        let read = Ok(Fetched { body: Body::Bytes(Vec::new()), signature: None });
        assert!(!sentinel.observe("s3://b/0", &read));
        for i in 0..3 * EARLY_STOP_AFTER {
            assert!(!sentinel.observe(&format!("s3://b/{i}"), &refused("AccessDenied: Access Denied")));
        }
    }

    #[test]
    fn throttling_halves_the_requests_in_flight_and_calm_brings_them_back() {
        let gate = Gate::new(128);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(gate.enter(|| 0));
        gate.leave(1);
        assert_eq!(gate.allowed(), 64);
        runtime.block_on(gate.enter(|| 2));
        assert_eq!(gate.allowed(), 32, "a SlowDown met meanwhile lowers it before the next request");
        gate.leave(2);
        for throttled in (3..40).step_by(2) {
            runtime.block_on(gate.enter(|| throttled));
            gate.leave(throttled + 1);
        }
        assert_eq!(gate.allowed(), 1, "never below one");
        for _ in 0..(1 + 2 + 3) {
            runtime.block_on(gate.enter(|| 40));
            gate.leave(40);
        }
        assert_eq!(gate.allowed(), 4, "one more after as many calm requests as allowed");
        assert_eq!(gate.lowest(), Some(1));
    }

    #[test]
    fn the_missing_kms_permission_and_key_are_named() {
        let message = "AccessDenied: User: arn:aws:sts::111122223333:assumed-role/Audit/me is not authorized \
            to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab \
            because no identity-based policy allows the kms:Decrypt action";
        assert_eq!(
            missing("AccessDenied", message, "s3://b/k"),
            "missing permission kms:Decrypt on KMS key arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert!(missing("ExpiredToken", "ExpiredToken: The provided token has expired.", "s3://b/k")
            .contains("expired"));
        assert_eq!(
            access_code("InvalidAccessKeyId: The AWS Access Key Id you provided does not exist"),
            Some("InvalidAccessKeyId")
        );
        assert_eq!(access_code("SlowDown: Please reduce your request rate."), None);
    }
}
