//! The fetcher: each listed object got from its store under the run's limits (requests in flight,
//! bytes fetched but not yet read), applied here once for every store, and handed to the workers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::feed::{Listing, Taken};
use super::limits::{Gate, Sentinel};
use super::ReadOptions;
use crate::error::Reason;
use crate::event::tables::FastSet;
use crate::source::{Entry, Fetched, Object, Store};

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
    pub(super) role: Role,
    /// The store that listed it, told what reading it gave ([`Store::read`]).
    pub(super) store: Option<Arc<dyn Store>>,
}

/// What an object is read for.
#[derive(Debug, Clone, Default)]
pub(super) enum Role {
    /// Listed: read for its records.
    #[default]
    Listed,
    /// The records an earlier run kept ([`Entry::Recalled`]): those of the objects named here.
    Recalled(Arc<FastSet<String>>),
}

/// What the fetcher shares with the rest of the run.
pub(super) struct FetchShared {
    /// Set when the run stops early (a worker failed, or the sentinel saw every GET refused).
    pub(super) stop: Arc<AtomicBool>,
    /// Objects listed to be read so far, for the progress report.
    pub(super) count: Arc<AtomicU64>,
    /// Watches the first answers for one access error that refuses them all.
    pub(super) sentinel: Arc<Sentinel>,
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
    while let Some((store, entry)) = listed.recv().await {
        let (object, role) = match listing.take(entry) {
            Taken::Counted => continue,
            Taken::Object(object) => (object, Role::Listed),
            Taken::Recalled(object, of) => (object, Role::Recalled(Arc::new(of.into_iter().collect()))),
        };
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let recalled = matches!(role, Role::Recalled(_));
        let store = Arc::clone(&stores[store]);
        if !recalled {
            listing.objects += 1;
            // Counted for the progress bar once it is to be read.
            shared.count.fetch_add(1, Ordering::Relaxed);
        }
        let this = seq;
        seq = seq.saturating_add(1);
        if object.size.is_some_and(|size| size > options.max_object_size) {
            let fetched = Err(Reason::TooLarge { limit: options.max_object_size });
            let item = Item { seq: this, object, fetched, _budget: None, role, store: Some(store) };
            let _ = items.send(item).await;
            continue;
        }
        // An object its store hands over at once (a local file) needs no task of its own.
        if let Some(fetched) = store.get_now(&object) {
            let item = Item { seq: this, object, fetched, _budget: None, role, store: Some(store) };
            if items.send(item).await.is_err() {
                break;
            }
            continue;
        }
        if !get(&mut gets, &limits, store, (this, object, role), &items, &shared).await {
            break;
        }
        while gets.try_join_next().is_some() {}
    }
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
        let item = Item { seq, object, fetched, _budget: Some(held), role, store: Some(store) };
        let _ = items.send(item).await;
        drop(request);
    });
    true
}
