//! Every event counted once, however many trails delivered it: copies share their `eventID` and
//! `recipientAccountId` (a record without `eventID` is the same event only as the same content).
//! The copy kept is the one read first in object-name order, so neither threads nor shards
//! change the choice. Copies that share an `eventID` but not their content are an edited copy:
//! counted apart and listed, never merged silently.

use std::collections::hash_map::Entry;

use crate::event::tables::{FastMap, Sym};
use crate::event::Event;

/// How many copies were dropped, and which conflicted.
#[derive(Debug, Default)]
pub(crate) struct Duplicates {
    /// Copies identical to the kept event.
    pub(crate) identical: u64,
    /// Copies whose content differs from the kept event's: (kept, conflicting copy).
    pub(crate) conflicting: Vec<(usize, usize)>,
}

/// The indexes of the events to analyze (in origin order), and what was dropped. `events` must be
/// sorted by origin, so that the first of each `eventID` and account met is the one read first.
/// One pass with a map, where sorting every event by its key was a sixtieth of all instructions on
/// an Instance Connect-heavy archive.
pub(crate) fn dedup(events: &[Event]) -> (Vec<usize>, Duplicates) {
    let mut first: FastMap<(Sym, u128), usize> = FastMap::default();
    first.reserve(events.len());
    let mut kept = Vec::with_capacity(events.len());
    let mut duplicates = Duplicates::default();
    for (i, event) in events.iter().enumerate() {
        match first.entry((event.account, event.id)) {
            Entry::Vacant(slot) => {
                slot.insert(i);
                kept.push(i);
            }
            Entry::Occupied(f) if events[*f.get()].content == event.content => duplicates.identical += 1,
            Entry::Occupied(f) => duplicates.conflicting.push((*f.get(), i)),
        }
    }
    duplicates.conflicting.sort_unstable_by_key(|&(kept, copy)| (events[kept].origin, events[copy].origin));
    (kept, duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::Builder;

    #[test]
    fn the_first_copy_in_object_order_is_kept_and_the_rest_counted() {
        let mut b = Builder::new();
        let a = b.tunnel(100, "alice", Some("eice-1"), None);
        b.copy_of(a, 5);
        b.copy_of(a, 9);
        b.tunnel(200, "bob", Some("eice-1"), None);
        let events = b.events();
        let (kept, duplicates) = dedup(&events);
        assert_eq!(kept, [0, 1], "the copies, read from later objects, sort last");
        assert_eq!((duplicates.identical, duplicates.conflicting.len()), (2, 0));
    }

    #[test]
    fn an_edited_copy_conflicts_and_is_not_merged() {
        let mut b = Builder::new();
        let a = b.tunnel(100, "alice", Some("eice-1"), None);
        let edited = b.copy_of(a, 5);
        b.edit(edited);
        let events = b.events();
        let (kept, duplicates) = dedup(&events);
        assert_eq!(kept, [0]);
        assert_eq!((duplicates.identical, duplicates.conflicting), (0, vec![(0, 1)]));
    }

    #[test]
    fn the_same_event_id_in_another_account_is_another_event() {
        let mut b = Builder::new();
        let a = b.tunnel(100, "alice", Some("eice-1"), None);
        let other = b.copy_of(a, 5);
        b.move_to_account(other, "444455556666");
        let (kept, duplicates) = dedup(&b.events());
        assert_eq!(kept, [0, 1]);
        assert_eq!(duplicates.identical, 0);
    }
}
