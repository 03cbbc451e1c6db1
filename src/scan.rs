//! The reading stage: one pipeline for every source. Listings stream objects as they find them;
//! a fetcher gets each object from its store under two limits, applied here once for all stores
//! (requests in flight, and bytes fetched but not yet read); a fixed pool of rayon workers reads
//! each object as a stream ([`decode`](crate::decode)) and keeps its Instance Connect events
//! ([`event`](crate::event)), or none of them if the object turns out unreadable.
//!
//! Results do not depend on threads or listing order: events are put in order of object name and
//! record position at the end, and every list is sorted.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::decode::{self, Decoded, Decoder, Sink};
use crate::digest::{DigestObject, LogObject};
use crate::error::Reason;
use crate::error::{FatalError, ObjectError};
use crate::event::spool::SpoolWriter;
use crate::event::tables::{FastMap, Tables};
use crate::event::{Event, Extractor, Kept, Origin, EVENT_SOURCE};
use crate::source::layout::Filter;
use crate::source::{Body, Entry, Fetched, Kind, Object, Skipped, Store};

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
    pub(crate) kept: Kept,
    /// With `--verify`: every digest read, and every log file with its hash.
    pub(crate) digests: Vec<DigestObject>,
    pub(crate) logs: Vec<LogObject>,
    /// Partials read (`report PARTIAL...`), in name order.
    pub(crate) partials: Vec<PartialRead>,
}

/// A partial read whole: its name, its header line as it is, and how many record lines followed.
#[derive(Debug)]
pub(crate) struct PartialRead {
    pub(crate) name: String,
    pub(crate) header: Vec<u8>,
    pub(crate) lines: u64,
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
}

/// What the listings found besides objects.
#[derive(Default)]
struct Listing {
    listed: u64,
    objects: u64,
    skipped: Skipped,
    failures: Vec<ObjectError>,
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
    let (listed_tx, listed_rx) = mpsc::channel(LISTED_AHEAD);
    let (items_tx, items_rx) = mpsc::channel(options.concurrency + 2 * options.jobs);

    let lister = runtime.spawn(list_all(stores.to_vec(), options.filter.clone(), listed_tx));
    // Objects listed to be read so far, for the progress report.
    let listed_count = Arc::new(AtomicU64::new(0));
    let fetcher = runtime.spawn(fetch_all(
        stores.to_vec(),
        listed_rx,
        items_tx,
        options.clone(),
        Arc::clone(&stop),
        Arc::clone(&listed_count),
    ));

    let tables = Tables::default();
    let items = Mutex::new(items_rx);
    let outputs = Mutex::new(Vec::new());
    let partial_objects = AtomicU32::new(1 << 31);
    let shared = Shared {
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
    Ok(gather(listing, outputs, tables))
}

/// Lists every store in turn, tagging what each finds with the store's position.
async fn list_all(
    stores: Vec<Arc<dyn Store>>,
    filter: Filter,
    listed: mpsc::Sender<(usize, Entry)>,
) -> Result<(), FatalError> {
    for (i, store) in stores.iter().enumerate() {
        let (found, mut entries) = mpsc::channel(LISTED_AHEAD);
        let forward = async {
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

/// Gets each listed object from its store, within the limits, and hands it on to the workers.
async fn fetch_all(
    stores: Vec<Arc<dyn Store>>,
    mut listed: mpsc::Receiver<(usize, Entry)>,
    items: mpsc::Sender<Item>,
    options: ReadOptions,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Listing {
    let requests = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let units = (options.budget / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 3)) as u32;
    let budget = Arc::new(Semaphore::new(units as usize));
    let mut listing = Listing::default();
    let mut gets = JoinSet::new();
    let mut seq = 0u32;
    while let Some((store, entry)) = listed.recv().await {
        listing.listed += 1;
        let object = match entry {
            Entry::Object(object) => object,
            Entry::Skipped(skip) => {
                listing.skipped.add(skip);
                continue;
            }
            Entry::Pruned => continue,
            Entry::Failed(failure) => {
                listing.failures.push(failure);
                continue;
            }
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        count.fetch_add(1, Ordering::Relaxed);
        listing.objects += 1;
        let this = seq;
        seq = seq.saturating_add(1);
        if object.size.is_some_and(|size| size > options.max_object_size) {
            let fetched = Err(Reason::TooLarge { limit: options.max_object_size });
            let _ = items.send(Item { seq: this, object, fetched, _budget: None }).await;
            continue;
        }
        // An object its store hands over at once (a local file) needs no task of its own.
        if let Some(fetched) = stores[store].get_now(&object) {
            if items.send(Item { seq: this, object, fetched, _budget: None }).await.is_err() {
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
        gets.spawn(async move {
            let fetched = store.get(&object, WHOLE_UP_TO).await;
            // A closed channel means the run is over; nothing is waiting for this object. The
            // request's permit is held until a worker can take the object, so objects fetched
            // and waiting are at most the requests allowed in flight, whatever their size.
            let _ = items.send(Item { seq: this, object, fetched, _budget: Some(held) }).await;
            drop(request);
        });
        while gets.try_join_next().is_some() {}
    }
    while gets.join_next().await.is_some() {}
    listing
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
    digests: Vec<DigestObject>,
    logs: Vec<LogObject>,
    partials: Vec<PartialRead>,
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
        digests: Vec::new(),
        logs: Vec::new(),
        partials: Vec::new(),
    };
    let mut pending = Vec::new();
    let mut named = FastMap::default();
    loop {
        // Waiting holds the lock; the others wait for it, then for the next item.
        let item = items.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(Item { seq, object, fetched, _budget }) = item else { break };
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
        let result = fetched.and_then(|fetched| read(&mut decoder, fetched.body, &mut sink));
        let (out_of_range, fatal, partial) = (sink.out_of_range, sink.fatal.take(), sink.partial.take());
        if let Some(fatal) = fatal {
            return Err(fatal);
        }
        // A partial is a shard of a run: read whole, or the report would silently lack it.
        if let Some(partial) = partial {
            if let Err(reason) = result {
                return Err(FatalError::Partial(format!("{}: {reason}", object.name)));
            }
            output.partials.push(PartialRead {
                name: object.name,
                header: partial.header,
                lines: partial.lines,
            });
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
                output.failures.push(ObjectError { object: object.name, error: reason.to_string() });
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
}

/// A partial being read.
struct Partial {
    header: Vec<u8>,
    lines: u64,
    /// Objects first named in this partial: (number, name).
    objects: Vec<(u32, String)>,
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
        self.partial = Some(Partial { header: header.to_vec(), lines: 0, objects: Vec::new() });
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
fn gather(listing: Listing, outputs: Vec<Output>, tables: Tables) -> Scan {
    let mut scan = Scan::default();
    scan.counts.objects_listed = listing.listed;
    scan.counts.objects_found = listing.objects;
    scan.counts.skipped = listing.skipped;
    scan.failures = listing.failures;
    let mut names = Vec::new();
    let mut events = Vec::new();
    for output in outputs {
        scan.counts.objects_read += output.objects_read;
        scan.counts.records += output.records;
        scan.counts.events_out_of_range += output.events_out_of_range;
        scan.failures.extend(output.failures);
        scan.digests.extend(output.digests);
        scan.logs.extend(output.logs);
        scan.partials.extend(output.partials);
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
    scan.partials.sort_by(|a, b| a.name.cmp(&b.name));
    scan
}
