//! The listing feed: every store listed in turn into one stream, and what the listings found
//! besides objects to fetch (counts, failures, archived objects, objects a wrapper remembered).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::LISTED_AHEAD;
use crate::error::{ArchivedObject, FatalError, ObjectError};
use crate::source::filter::Filter;
use crate::source::{Entry, Gave, Object, Remembered, Settled, Skipped, Store};

/// What the listings found besides objects.
#[derive(Default)]
pub(super) struct Listing {
    pub(super) listed: u64,
    pub(super) objects: u64,
    pub(super) skipped: Skipped,
    pub(super) failures: Vec<ObjectError>,
    pub(super) archived: Vec<ArchivedObject>,
    /// The fewest GETs allowed in flight, when throttling lowered them.
    pub(super) fewest_in_flight: Option<usize>,
    /// Objects remembered as read (not fetched), and what they counted.
    pub(super) remembered: u64,
    pub(super) remembered_records: u64,
    pub(super) remembered_out_of_range: u64,
}

/// What an entry of the listing is for the fetcher.
pub(super) enum Taken {
    /// Counted; nothing to fetch.
    Counted,
    /// An object to fetch and read.
    Object(Object),
    /// Records an earlier run kept, to read for the objects named.
    Recalled(Object, Vec<String>),
}

impl Listing {
    /// Counts one entry of the listing; what is to be read of it.
    pub(super) fn take(&mut self, entry: Entry) -> Taken {
        match entry {
            // Said by a store to the wrapper that settled it: not counted here.
            Entry::Settled(_) => return Taken::Counted,
            Entry::Recalled { object, of } => return Taken::Recalled(object, of),
            Entry::Recounted { listed, skipped } => {
                self.listed += listed;
                self.skipped.digest += skipped.digest;
                self.skipped.other += skipped.other;
                self.skipped.directory_links += skipped.directory_links;
                return Taken::Counted;
            }
            Entry::Remembered(Remembered { name, gave, listed }) => {
                self.listed += u64::from(listed);
                self.objects += 1;
                match gave {
                    Gave::Unreadable(reason) => self.failures.push(ObjectError { object: name, reason }),
                    Gave::Read { records, out_of_range } => {
                        self.remembered += 1;
                        self.remembered_records += records;
                        self.remembered_out_of_range += out_of_range;
                    }
                }
                return Taken::Counted;
            }
            _ => {}
        }
        self.listed += 1;
        match entry {
            Entry::Object(object) => return Taken::Object(object),
            Entry::Skipped(skip, _) => self.skipped.add(skip),
            Entry::Failed(failure) => self.failures.push(failure),
            Entry::Archived(archived) => self.archived.push(archived),
            Entry::Pruned(_)
            | Entry::Settled(_)
            | Entry::Recalled { .. }
            | Entry::Recounted { .. }
            | Entry::Remembered(_) => {}
        }
        Taken::Counted
    }
}

/// Lists every store in turn, tagging what each finds with the store's position.
pub(super) async fn list_all(
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
                let result = store.list(&filter, &Settled::default(), &found).await;
                drop(found);
                result
            },
            forward
        );
        listing?;
    }
    Ok(())
}
