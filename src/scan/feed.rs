//! The listing feed: every store listed in turn into one stream, and what the listings found
//! besides objects (counts, failures, archived objects, and with `--state` the day folders).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Known, ListedFolder, LISTED_AHEAD};
use crate::error::{ArchivedObject, FatalError, ObjectError};
use crate::event::tables::FastMap;
use crate::layout::day_folder;
use crate::source::filter::Filter;
use crate::source::{Entry, Object, Skipped, Store};

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
    /// With `--state`: objects taken from it, and what they counted.
    pub(super) taken: Vec<String>,
    pub(super) taken_records: u64,
    pub(super) taken_out_of_range: u64,
    pub(super) taken_failed: Vec<String>,
    pub(super) changed: Vec<String>,
    pub(super) folders: FastMap<String, (ListedFolder, bool)>,
    pub(super) folders_not_listed: u64,
}

impl Listing {
    /// The day folder `name` is in, to count its listing in (`--state` only).
    pub(super) fn folder(&mut self, stateful: bool, name: &str) -> Option<&mut (ListedFolder, bool)> {
        // Only a run with a state counts its folders: the others need not place the name.
        if !stateful {
            return None;
        }
        let (folder, _) = day_folder(name)?;
        if !self.folders.contains_key(folder) {
            self.folders.insert(folder.to_owned(), (ListedFolder::default(), true));
        }
        self.folders.get_mut(folder)
    }

    /// Counts one entry of the listing; the object, when it is one to read.
    pub(super) fn take(&mut self, entry: Entry, known: Option<&Known>) -> Option<Object> {
        let stateful = known.is_some();
        if let Entry::Settled(folder) = entry {
            if let Some(known) = known {
                self.replay(known, folder);
            }
            return None;
        }
        self.listed += 1;
        match entry {
            Entry::Object(object) => return Some(object),
            Entry::Skipped(skip, name) => {
                self.skipped.add(skip);
                if let Some((folder, _)) = self.folder(stateful, &name) {
                    folder.listed += 1;
                    folder.skipped.add(skip);
                }
            }
            Entry::Pruned(name) => {
                if let Some((folder, _)) = self.folder(stateful, &name) {
                    folder.listed += 1;
                }
            }
            Entry::Failed(failure) => {
                if let Some((_, clean)) = self.folder(stateful, &failure.object) {
                    *clean = false;
                }
                self.failures.push(failure);
            }
            Entry::Archived(archived) => {
                // Never remembered by the state: a folder holding one is listed again.
                if let Some((_, clean)) = self.folder(stateful, &archived.object) {
                    *clean = false;
                }
                self.archived.push(archived);
            }
            Entry::Settled(_) => {}
        }
        None
    }

    /// A day folder not listed again: what its listing counted, and its objects, as the state
    /// has them (each counted as if listed unchanged).
    pub(super) fn replay(&mut self, known: &Known, folder: String) {
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
