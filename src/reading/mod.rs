//! The reading stage: one pipeline for every source. Listings stream objects as they find them;
//! a fetcher gets each object from its store under two limits, applied here once for all stores
//! (requests in flight, and bytes fetched but not yet read); a fixed pool of rayon workers reads
//! each object as a stream ([`decode`](crate::decode)) and keeps its Instance Connect events
//! ([`event`](crate::event)), or none of them if the object turns out unreadable.
//!
//! Results do not depend on threads or listing order: events are put in order of object name and
//! record position at the end, and every list is sorted.
//!
//! The parts, in the order objects pass them: [`feed`] lists every store into one stream and
//! counts what is not an object; [`fetch`] gets each object within the [`limits`] (requests in
//! flight, lowered while S3 says slow down; the early stop when every GET is refused alike);
//! [`work`] is one worker of the pool; [`gather`] puts the workers' outputs in order.

mod feed;
mod fetch;
mod gather;
mod limits;
mod work;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::counts::Counts;
use crate::error::{ArchivedObject, FatalError, ObjectError};
use crate::event::tables::Tables;
use crate::event::Kept;
use crate::partial::read::Numbering;
use crate::partial::PartialRead;
use crate::source::filter::Filter;
use crate::source::{Body, Fetched, Kind, Location, Object, Settled, Store};
use crate::verify::Facts;

/// Objects listed but not yet fetched, at most: the listing waits beyond this.
const LISTED_AHEAD: usize = 4096;

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
pub(crate) struct Reading {
    pub(crate) counts: Counts,
    /// Objects that could not be listed or read, sorted by name.
    pub(crate) failures: Vec<ObjectError>,
    /// Objects in archive storage classes, not read, sorted by name.
    pub(crate) archived: Vec<ArchivedObject>,
    /// The fewest GETs allowed in flight, when S3's throttling lowered them (for `-v`).
    pub(crate) fewest_in_flight: Option<usize>,
    pub(crate) kept: Kept,
    /// With `--verify` (or partials made with it): every digest read, and every log file with
    /// its hash, filed on disk.
    pub(crate) facts: Facts,
    /// Partials read (`report PARTIAL...`), in name order.
    pub(crate) partials: Vec<PartialRead>,
}

/// Reads every object of `stores` (each told to begin first, then listed in turn).
pub(crate) fn read(
    stores: &[Arc<dyn Store>],
    options: &ReadOptions,
    runtime: &tokio::runtime::Runtime,
    progress: &dyn Progress,
) -> Result<Reading, FatalError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .thread_name(|i| format!("trailscope-worker-{i}"))
        .build()
        .map_err(|e| FatalError::pool(None, e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let sentinel = Arc::new(limits::Sentinel::default());
    let (listed_tx, listed_rx) = mpsc::channel(LISTED_AHEAD);
    let (items_tx, items_rx) = mpsc::channel(options.concurrency + 2 * options.jobs);

    for store in stores {
        store.begin(&options.filter, &Settled::default());
    }
    let lister = runtime.spawn(feed::list_all(stores.to_vec(), options.filter.clone(), listed_tx));
    // Objects listed to be read so far, for the progress report.
    let listed_count = Arc::new(AtomicU64::new(0));
    let fetcher = runtime.spawn(fetch::fetch_all(
        stores.to_vec(),
        listed_rx,
        items_tx,
        options.clone(),
        fetch::FetchShared {
            stop: Arc::clone(&stop),
            count: Arc::clone(&listed_count),
            sentinel: Arc::clone(&sentinel),
        },
    ));

    let tables = Tables::default();
    let items = Mutex::new(items_rx);
    let outputs = Mutex::new(Vec::new());
    let numbering = Numbering::default();
    let facts = Facts::default();
    let shared = work::Shared {
        facts: &facts,
        options,
        tables: &tables,
        stop: &stop,
        progress,
        listed: &listed_count,
        numbering: &numbering,
    };
    pool.scope(|scope| {
        for worker in 0..options.jobs {
            let (items, outputs, shared) = (&items, &outputs, &shared);
            scope.spawn(move |_| {
                let output = work::work(worker as u16, items, shared);
                if output.is_err() {
                    shared.stop.store(true, Ordering::Relaxed);
                }
                outputs.lock().unwrap_or_else(|e| e.into_inner()).push(output);
            });
        }
    });
    let listing = runtime.block_on(fetcher).map_err(|e| FatalError::pool(Some("fetcher"), e))?;
    runtime.block_on(lister).map_err(|e| FatalError::pool(Some("lister"), e))??;
    let outputs = outputs.into_inner().unwrap_or_else(|e| e.into_inner());
    let outputs = outputs.into_iter().collect::<Result<Vec<_>, _>>()?;
    if let Some(stopped) = sentinel.tripped() {
        return Err(stopped);
    }
    let mut scan = gather::gather(listing, outputs, tables);
    scan.facts = facts;
    Ok(scan)
}

/// Reads one object in memory as a run's worker reads it (the same worker, sink and rollback),
/// on this thread: for `stages`, so that the benchmarks and the fuzz target run the real code.
pub(crate) fn read_one(name: &str, bytes: Vec<u8>, options: &ReadOptions) -> Result<Reading, FatalError> {
    struct Quiet;
    impl Progress for Quiet {
        fn read(&self, _: u64) {}
    }
    let (tables, numbering) = (Tables::default(), Numbering::default());
    let (stop, listed) = (AtomicBool::new(false), AtomicU64::new(1));
    let facts = Facts::default();
    let shared = work::Shared {
        facts: &facts,
        options,
        tables: &tables,
        stop: &stop,
        progress: &Quiet,
        listed: &listed,
        numbering: &numbering,
    };
    let (send, receive) = mpsc::channel(1);
    let object = Object {
        name: name.to_owned(),
        location: Location::Key(name.to_owned()),
        size: Some(bytes.len() as u64),
        version: None,
        kind: Kind::Log,
    };
    let fetched = Ok(Fetched { body: Body::Bytes(bytes), signature: None });
    let item = fetch::Item { seq: 0, object, fetched, _budget: None, role: fetch::Role::Listed, store: None };
    send.try_send(item).map_err(|_| {
        FatalError::pool(Some("worker queue"), std::io::Error::other("closed before the object was queued"))
    })?;
    drop(send);
    let output = work::work(0, &Mutex::new(receive), &shared)?;
    let listing = feed::Listing { listed: 1, objects: 1, ..Default::default() };
    Ok(gather::gather(listing, vec![output], tables))
}
