//! Ordering: every worker's output put together in an order that depends on nothing but the
//! objects (ranked by name, events by origin, every list sorted).

use super::feed::Listing;
use super::work::Output;
use super::Reading;
use crate::event::tables::{FastMap, Tables};

/// Puts every worker's output together, in an order that depends on nothing but the objects.
pub(super) fn gather(listing: Listing, outputs: Vec<Output>, tables: Tables) -> Reading {
    let mut scan = Reading::default();
    scan.counts.objects_listed = listing.listed;
    scan.counts.objects_found = listing.objects;
    scan.counts.skipped = listing.skipped;
    scan.failures = listing.failures;
    scan.archived = listing.archived;
    scan.fewest_in_flight = listing.fewest_in_flight;
    scan.counts.objects_read += listing.remembered;
    scan.counts.records += listing.remembered_records;
    scan.counts.events_out_of_range += listing.remembered_out_of_range;
    let mut names = Vec::new();
    // Sized once: grown a worker's output at a time, the events (the most memory a run holds)
    // would be held twice over while copied to a buffer twice as large as they need.
    let mut events = Vec::with_capacity(outputs.iter().map(|o| o.events.len()).sum());
    for output in outputs {
        scan.counts.objects_read += output.objects_read;
        scan.counts.records += output.records;
        scan.counts.events_out_of_range += output.events_out_of_range;
        scan.failures.extend(output.failures);
        scan.archived.extend(output.archived);
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
    scan.archived.sort();
    scan.partials.sort_by(|a, b| a.name.cmp(&b.name));
    scan
}
