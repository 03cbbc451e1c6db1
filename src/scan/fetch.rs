//! The fetcher: each listed object got from its store under the run's limits (requests in flight,
//! bytes fetched but not yet read), applied here once for every store, and handed to the workers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::feed::Listing;
use super::limits::{Gate, Sentinel};
use super::{FastSet, Known, ReadOptions};
use crate::error::{ObjectError, Reason};
use crate::source::{Body, Entry, Fetched, Kind, Location, Object, Store};

/// Objects up to this size are fetched whole, ahead of the workers; larger ones are streamed.
const WHOLE_UP_TO: u64 = 8 << 20;
/// The byte budget is counted in KiB so that large budgets fit a semaphore's permit count.
const BUDGET_UNIT: u64 = 1024;

/// An object on its way to a worker.
pub(super) struct Item {
    /// Its place in the order of listing; replaced by its rank by name at the end.
    pub(super) seq: u32,
    pub(super) object: Object,
    pub(super) fetched: Result<Fetched, Reason>,
    /// Its share of the byte budget, released when the worker is done with it.
    pub(super) _budget: Option<OwnedSemaphorePermit>,
    /// With `--state`: its size and version as listed, or that it is the state's own partial.
    pub(super) role: Role,
}

/// What an object is read for, with `--state`.
#[derive(Debug, Clone, Default)]
pub(super) enum Role {
    #[default]
    Listed,
    /// Listed, with its size and version, to be kept in the state once read.
    Versioned(u64, String),
    /// The state's partial: the records of the objects taken from it.
    StateRecords,
}

/// What the fetcher shares with the rest of the run.
pub(super) struct FetchShared {
    /// Set when the run stops early (a worker failed, or the sentinel saw every GET refused).
    pub(super) stop: Arc<AtomicBool>,
    /// Objects listed to be read so far, for the progress report.
    pub(super) count: Arc<AtomicU64>,
    /// Watches the first answers for one access error that refuses them all.
    pub(super) sentinel: Arc<Sentinel>,
    /// With `--state`: the names taken from it, set once the listing is done.
    pub(super) taken: Arc<OnceLock<FastSet<String>>>,
}

/// Gets each listed object from its store, within the limits, and hands it on to the workers.
pub(super) async fn fetch_all(
    stores: Vec<Arc<dyn Store>>,
    mut listed: mpsc::Receiver<(usize, Entry)>,
    items: mpsc::Sender<Item>,
    options: ReadOptions,
    shared: FetchShared,
) -> Listing {
    let limits = Limits::new(&options);
    let mut listing = Listing::default();
    let mut gets = JoinSet::new();
    let mut seq = 0u32;
    let stateful = options.known.is_some();
    while let Some((store, entry)) = listed.recv().await {
        let Some(object) = listing.take(entry, options.known.as_deref()) else { continue };
        // Which version was listed, looked up once (a local file's is a stat).
        let id = if stateful && object.kind == Kind::Log { identity(&object) } else { None };
        if let Some((folder, clean)) = listing.folder(stateful, &object.name) {
            folder.listed += 1;
            folder.objects += 1;
            *clean &= id.is_some();
        }
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        listing.objects += 1;
        let Some(role) = role(&mut listing, options.known.as_deref(), &object.name, id) else { continue };
        // Counted for the progress bar once it is to be read: objects taken from the state are not.
        shared.count.fetch_add(1, Ordering::Relaxed);
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
        let store = Arc::clone(&stores[store]);
        if !get(&mut gets, &limits, store, (this, object, role), &items, &shared).await {
            break;
        }
        while gets.try_join_next().is_some() {}
    }
    send_state_records(&mut listing, &options, &shared.taken, seq, &items).await;
    while gets.join_next().await.is_some() {}
    listing.fewest_in_flight = limits.gate.lowest();
    listing
}

/// The limits every GET passes: requests in flight (lowered while S3 says slow down), and bytes
/// fetched whole but not yet read.
struct Limits {
    requests: Arc<Semaphore>,
    gate: Arc<Gate>,
    budget: Arc<Semaphore>,
    /// The byte budget, in [`BUDGET_UNIT`]s.
    units: u32,
}

impl Limits {
    fn new(options: &ReadOptions) -> Limits {
        let units = (options.budget / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 3)) as u32;
        Limits {
            requests: Arc::new(Semaphore::new(options.concurrency.max(1))),
            gate: Arc::new(Gate::new(options.concurrency.max(1))),
            budget: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }
}

/// What `name`, listed with version `id`, is read for with `--state`; `None` when it is taken
/// from the state instead (unchanged since it was read, or unreadable then).
fn role(listing: &mut Listing, known: Option<&Known>, name: &str, id: Option<(u64, String)>) -> Option<Role> {
    let (Some(known), Some((size, version))) = (known, id) else { return Some(Role::Listed) };
    match known.objects.get(name) {
        Some(k) if k.size == size && k.version == version && k.failure.is_some() => {
            let error = k.failure.clone().unwrap_or_default();
            listing.failures.push(ObjectError { object: name.to_owned(), error });
            listing.taken_failed.push(name.to_owned());
            return None;
        }
        Some(k) if k.size == size && k.version == version => {
            listing.taken_records += k.records;
            listing.taken_out_of_range += k.out_of_range;
            listing.taken.push(name.to_owned());
            return None;
        }
        Some(_) => listing.changed.push(name.to_owned()),
        None => {}
    }
    Some(Role::Versioned(size, version))
}

/// Starts the GET of object `seq` once the limits let it, its answer sent on to the workers;
/// false when the run is over (the limits closed).
async fn get(
    gets: &mut JoinSet<()>,
    limits: &Limits,
    store: Arc<dyn Store>,
    (seq, object, role): (u32, Object, Role),
    items: &mpsc::Sender<Item>,
    shared: &FetchShared,
) -> bool {
    let share =
        (object.size.unwrap_or(0).min(WHOLE_UP_TO) / BUDGET_UNIT).clamp(1, u64::from(limits.units)) as u32;
    // Both semaphores live as long as the fetcher; acquiring only fails once closed.
    let (Ok(held), Ok(request)) = (
        limits.budget.clone().acquire_many_owned(share).await,
        limits.requests.clone().acquire_owned().await,
    ) else {
        return false;
    };
    let items = items.clone();
    let (sentinel, stop, gate) =
        (Arc::clone(&shared.sentinel), Arc::clone(&shared.stop), Arc::clone(&limits.gate));
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
        let _ = items.send(Item { seq, object, fetched, _budget: Some(held), role }).await;
        drop(request);
    });
    true
}

/// The state's partial goes last, once every name taken from it is known: its records count
/// for those objects only (one changed since, or gone from the sources, counts as a full run
/// counts it).
async fn send_state_records(
    listing: &mut Listing,
    options: &ReadOptions,
    taken: &OnceLock<FastSet<String>>,
    seq: u32,
    items: &mpsc::Sender<Item>,
) {
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
