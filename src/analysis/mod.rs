//! The analysis: counts each event once ([`dedup`]), splits events into tunnels, keys and the
//! rest, pairs keys with tunnels ([`pairing`]), attributes both to endpoints, and classifies the
//! fields of the successful ones ([`fields`]); [`rows`] picks the rows of `trailscope
//! connections` from the same paired events and reads them back.

mod dedup;
mod fields;
pub(crate) mod pairing;
pub(crate) mod rows;

use std::collections::BTreeMap;

use crate::error::Reason;
use crate::event::tables::Sym;
use crate::event::{
    EndpointId, Event, Kept, ANALYZED_EVENT_NAMES, OPEN_TUNNEL, SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY,
    SEND_SSH_PUBLIC_KEY,
};
use crate::report::{
    Conflict, DirectUse, EndpointReport, EndpointTimes, EventNameReport, FieldReport, RecordPlace,
};
use crate::time::Timestamp;

pub(crate) use pairing::Window;

/// Conflicting copies listed by name in the report; the count says how many there were in all.
const CONFLICTS_LISTED: usize = 10;

/// What happened, event by event: every distinct event, sorted into tunnels (each with the key
/// that prepared it), keys that went straight to an instance, and the rest.
pub(crate) struct Activity<'k> {
    pub(crate) kept: &'k Kept,
    /// Every distinct event, in origin order.
    pub(crate) events: Vec<&'k Event>,
    pub(crate) duplicates: u64,
    /// (kept event, conflicting copy).
    pub(crate) conflicts: Vec<(&'k Event, &'k Event)>,
    /// Every `OpenTunnel`, successful or not, with its key, in origin order.
    pub(crate) tunnels: Vec<Tunnel<'k>>,
    /// `SendSSHPublicKey` calls no tunnel followed.
    pub(crate) direct_keys: Vec<&'k Event>,
    pub(crate) serial_console_keys: Vec<&'k Event>,
    pub(crate) other: Vec<&'k Event>,
}

/// An `OpenTunnel` and the `SendSSHPublicKey` paired with it.
#[derive(Clone, Copy)]
pub(crate) struct Tunnel<'k> {
    pub(crate) event: &'k Event,
    pub(crate) key: Option<&'k Event>,
}

/// Dedups, splits and pairs the events `kept` holds.
pub(crate) fn activity(kept: &Kept, window: Window) -> Activity<'_> {
    let (distinct, duplicates) = dedup::dedup(&kept.events);
    let events: Vec<&Event> = distinct.into_iter().map(|i| &kept.events[i]).collect();
    let conflicts = duplicates.conflicting.iter().map(|&(a, b)| (&kept.events[a], &kept.events[b])).collect();
    let symbol = |name| kept.vocabulary.find(name);
    let (open_tunnel, send_key, serial) =
        (symbol(OPEN_TUNNEL), symbol(SEND_SSH_PUBLIC_KEY), symbol(SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY));
    let mut activity = Activity {
        kept,
        events: Vec::with_capacity(events.len()),
        duplicates: duplicates.identical,
        conflicts,
        tunnels: Vec::new(),
        direct_keys: Vec::new(),
        serial_console_keys: Vec::new(),
        other: Vec::new(),
    };
    let mut keys = Vec::new();
    let mut tunnels = Vec::new();
    for &event in &events {
        match Some(event.name) {
            name if name == open_tunnel => tunnels.push(event),
            name if name == send_key => keys.push(event),
            name if name == serial => activity.serial_console_keys.push(event),
            _ => activity.other.push(event),
        }
    }
    let key_of_key = pairing::pair(&keys, &tunnels, window);
    let mut key_of_tunnel = vec![None; tunnels.len()];
    for (key, tunnel) in key_of_key.iter().enumerate() {
        match tunnel {
            Some(tunnel) => key_of_tunnel[*tunnel] = Some(keys[key]),
            None => activity.direct_keys.push(keys[key]),
        }
    }
    activity.tunnels =
        tunnels.into_iter().zip(key_of_tunnel).map(|(event, key)| Tunnel { event, key }).collect();
    activity.events = events;
    activity
}

/// Everything the analysis finds; the scan adds object and record counts to make a report.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    pub(crate) instance_connect_events: u64,
    pub(crate) duplicate_events: u64,
    pub(crate) conflicting_duplicates: u64,
    pub(crate) events_without_time: u64,
    pub(crate) connections: u64,
    pub(crate) denied_attempts: u64,
    pub(crate) connections_without_key: u64,
    pub(crate) tunnels_without_endpoint: u64,
    pub(crate) endpoints: Vec<EndpointReport>,
    pub(crate) direct: DirectUse,
    pub(crate) other_events: BTreeMap<String, u64>,
    pub(crate) event_names: Vec<EventNameReport>,
    pub(crate) fields: Vec<FieldReport>,
    pub(crate) conflicts: Vec<Conflict>,
    pub(crate) timeline: Vec<EndpointTimes>,
}

#[derive(Default)]
struct EndpointTally<'k> {
    first_tunnel: Option<&'k Event>,
    connections: u64,
    denied: u64,
    denied_errors: BTreeMap<String, u64>,
    events: BTreeMap<String, u64>,
    connections_without_key: u64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    times: EndpointTimes,
}

impl EndpointTally<'_> {
    fn saw(&mut self, event: &Event, kept: &Kept) {
        *self.events.entry(kept.vocabulary.text(event.name).to_owned()).or_default() += 1;
        if let Some(time) = event.time {
            self.first_seen = Some(self.first_seen.map_or(time, |t| t.min(time)));
            self.last_seen = Some(self.last_seen.map_or(time, |t| t.max(time)));
        }
    }
}

/// Attributes tunnels and their keys to endpoints and classifies the fields of the successful
/// ones.
pub(crate) fn analyze(activity: &Activity<'_>) -> Result<Analysis, Reason> {
    let kept = activity.kept;
    let text = |sym: Sym| kept.vocabulary.text(sym);
    let mut analysis = Analysis {
        instance_connect_events: activity.events.len() as u64,
        duplicate_events: activity.duplicates,
        conflicting_duplicates: activity.conflicts.len() as u64,
        events_without_time: activity.events.iter().filter(|e| e.time.is_none()).count() as u64,
        direct: DirectUse {
            ssh_keys: activity.direct_keys.len() as u64,
            serial_console_keys: activity.serial_console_keys.len() as u64,
        },
        ..Analysis::default()
    };
    for event in &activity.other {
        *analysis.other_events.entry(text(event.name).to_owned()).or_default() += 1;
    }

    let mut tallies: BTreeMap<&str, (Sym, EndpointTally<'_>)> = BTreeMap::new();
    let mut samples: [Vec<(Sym, &Event)>; 2] = [Vec::new(), Vec::new()];
    for &Tunnel { event: tunnel, key } in &activity.tunnels {
        if tunnel.succeeded() {
            analysis.connections += 1;
            analysis.connections_without_key += u64::from(key.is_none());
        } else {
            analysis.denied_attempts += 1;
        }
        let Some(endpoint) = tunnel.endpoint else {
            analysis.tunnels_without_endpoint += 1;
            continue;
        };
        let (_, tally) =
            tallies.entry(text(endpoint)).or_insert_with(|| (endpoint, EndpointTally::default()));
        tally.first_tunnel.get_or_insert(tunnel);
        tally.saw(tunnel, kept);
        if let Some(key) = key {
            tally.saw(key, kept);
        }
        let at = tunnel.time.map(|t| t.millis());
        match tunnel.error {
            None => {
                tally.times.connections.extend(at);
                tally.connections += 1;
                tally.connections_without_key += u64::from(key.is_none());
                samples[0].push((endpoint, tunnel));
                // A key that itself failed pushed nothing: it is counted, not analyzed.
                if let Some(key) = key.filter(|k| k.succeeded()) {
                    samples[1].push((endpoint, key));
                }
            }
            Some(code) => {
                tally.times.denied.extend(at.map(|at| (at, text(code).to_owned())));
                tally.denied += 1;
                *tally.denied_errors.entry(text(code).to_owned()).or_default() += 1;
            }
        }
    }

    // An endpoint's account and region are those of its first tunnel.
    let home: BTreeMap<Sym, (Sym, Sym)> = tallies
        .values()
        .filter_map(|(sym, tally)| tally.first_tunnel.map(|t| (*sym, (t.account, t.region))))
        .collect();
    for (id, (_, tally)) in &mut tallies {
        let mut times = std::mem::take(&mut tally.times);
        times.id = EndpointId((*id).to_owned());
        times.connections.sort_unstable();
        times.denied.sort_unstable();
        analysis.timeline.push(times);
    }
    analysis.endpoints = tallies
        .into_iter()
        .map(|(id, (_, tally))| EndpointReport {
            id: EndpointId(id.to_owned()),
            account: tally.first_tunnel.map(|t| text(t.account).to_owned()).unwrap_or_default(),
            region: tally.first_tunnel.map(|t| text(t.region).to_owned()).unwrap_or_default(),
            connections: tally.connections,
            denied: tally.denied,
            denied_errors: tally.denied_errors,
            events: tally.events,
            connections_without_key: tally.connections_without_key,
            first_seen: tally.first_seen.map(|t| t.to_string()),
            last_seen: tally.last_seen.map(|t| t.to_string()),
        })
        .collect();

    for (name, samples) in ANALYZED_EVENT_NAMES.iter().zip(&samples) {
        // Samples are in tunnel order, which is origin order; a key's samples follow its tunnel.
        let mut samples: Vec<fields::Sample<'_>> = samples
            .iter()
            .map(|&(endpoint, event)| {
                let (account, region) = home[&endpoint];
                fields::Sample { event, endpoint, account, region }
            })
            .collect();
        samples.sort_by_key(|s| s.event.origin);
        let (summary, fields) = fields::classify(name, &samples, kept)?;
        analysis.event_names.push(summary);
        analysis.fields.extend(fields);
    }

    for &(first, copy) in activity.conflicts.iter().take(CONFLICTS_LISTED) {
        let event_id = kept.texts(first)?.remove("eventID").and_then(|t| serde_json::from_str(&t).ok());
        let place = |e: &Event| RecordPlace {
            object: kept.objects[e.origin.object as usize].clone(),
            record: e.origin.record,
        };
        analysis.conflicts.push(Conflict { event_id, kept: place(first), conflicting: place(copy) });
    }
    Ok(analysis)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::spool::{Spool, SpoolWriter};
    use crate::event::tables::Tables;
    use crate::event::Origin;

    /// Builds compact events by hand: each event's one leaf value is its record number, so every
    /// event differs from every other unless copied.
    pub(crate) struct Builder {
        tables: Tables,
        events: Vec<Event>,
        spool: SpoolWriter,
    }

    impl Builder {
        pub(crate) fn new() -> Self {
            Builder {
                tables: Tables::default(),
                events: Vec::new(),
                spool: SpoolWriter::new(0).expect("spool"),
            }
        }

        fn push(
            &mut self,
            name: &str,
            second: i64,
            principal: &str,
            endpoint: Option<&str>,
            error: Option<&str>,
        ) -> usize {
            let record = self.events.len() as u32;
            let text = format!(r#"{{"eventID":"{record}"}}"#);
            let at = self.spool.append(text.as_bytes()).expect("spool");
            let t = &self.tables;
            let shape = t.shape(&[t.path("eventID")]);
            self.events.push(Event {
                origin: Origin { object: 0, record },
                time: Some(Timestamp(second * 1_000)),
                id: u128::from(record),
                content: u64::from(record),
                name: t.symbol(name),
                account: t.symbol("111122223333"),
                region: t.symbol("eu-west-1"),
                principal: t.symbol(principal),
                error: error.map(|e| t.symbol(e)),
                endpoint: endpoint.map(|e| t.symbol(e)),
                shape,
                values: vec![u64::from(record)].into(),
                record: at,
            });
            record as usize
        }

        pub(crate) fn tunnel(
            &mut self,
            second: i64,
            principal: &str,
            endpoint: Option<&str>,
            error: Option<&str>,
        ) -> usize {
            self.push(OPEN_TUNNEL, second, principal, endpoint, error)
        }

        pub(crate) fn key(&mut self, second: i64, principal: &str) -> usize {
            self.push(SEND_SSH_PUBLIC_KEY, second, principal, None, None)
        }

        pub(crate) fn serial(&mut self, second: i64, principal: &str) -> usize {
            self.push(SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY, second, principal, None, None)
        }

        pub(crate) fn other(&mut self, name: &str, second: i64) -> usize {
            self.push(name, second, "alice", None, None)
        }

        /// The same event again, read from object `object`.
        pub(crate) fn copy_of(&mut self, i: usize, object: u32) -> usize {
            let mut copy = self.events[i].clone();
            copy.origin = Origin { object, record: self.events.len() as u32 };
            self.events.push(copy);
            self.events.len() - 1
        }

        pub(crate) fn edit(&mut self, i: usize) {
            self.events[i].content ^= 0xdead_beef;
        }

        pub(crate) fn untimed(&mut self, i: usize) {
            self.events[i].time = None;
        }

        pub(crate) fn move_to_account(&mut self, i: usize, account: &str) {
            self.events[i].account = self.tables.symbol(account);
        }

        /// The events in the order pushed.
        pub(crate) fn events_unsorted(&self) -> Vec<Event> {
            self.events.clone()
        }

        /// The events sorted by origin, as the scan leaves them.
        pub(crate) fn events(&self) -> Vec<Event> {
            let mut events = self.events.clone();
            events.sort_by_key(|e| e.origin);
            events
        }

        /// The events as a run keeps them, for [`activity`] and [`analyze`].
        pub(crate) fn kept(self) -> Kept {
            let events = self.events();
            let mut spool = Spool::default();
            spool.add(0, self.spool.finish().expect("spool"));
            Kept {
                events,
                objects: (0..16).map(|i| format!("object-{i}")).collect(),
                vocabulary: self.tables.freeze(),
                spool,
            }
        }
    }

    #[test]
    fn key_without_tunnel_counts_as_direct_use() {
        let mut b = Builder::new();
        b.key(100, "alice");
        b.serial(200, "alice");
        let kept = b.kept();
        let a = analyze(&activity(&kept, Window::after_seconds(60))).expect("analysis");
        assert_eq!((a.direct.ssh_keys, a.direct.serial_console_keys), (1, 1));
        assert!(a.endpoints.is_empty());
    }

    #[test]
    fn key_of_a_denied_tunnel_belongs_to_the_denied_attempt() {
        let mut b = Builder::new();
        b.key(100, "alice");
        b.tunnel(101, "alice", Some("eice-1"), Some("AccessDenied"));
        b.key(1_000, "bob");
        b.tunnel(1_000, "bob", Some("eice-1"), None);
        b.tunnel(2_000, "carol", Some("eice-1"), None);
        let kept = b.kept();
        let a = analyze(&activity(&kept, Window::after_seconds(60))).expect("analysis");
        assert_eq!(a.direct.ssh_keys, 0);
        assert_eq!((a.connections, a.denied_attempts, a.connections_without_key), (2, 1, 1));
        let endpoint = &a.endpoints[0];
        assert_eq!((endpoint.connections, endpoint.denied), (2, 1));
        assert_eq!(endpoint.denied_errors["AccessDenied"], 1);
        assert_eq!((endpoint.events[OPEN_TUNNEL], endpoint.events[SEND_SSH_PUBLIC_KEY]), (3, 2));
        assert_eq!(endpoint.first_seen.as_deref(), Some("1970-01-01T00:01:40Z"));
        // Only the successful tunnels and the key of the successful one are analyzed.
        assert_eq!((a.event_names[0].events, a.event_names[1].events), (2, 1));
    }

    #[test]
    fn other_event_names_are_counted_not_dropped() {
        let mut b = Builder::new();
        b.other("SomeFutureCall", 1);
        b.other("SomeFutureCall", 2);
        let kept = b.kept();
        let a = analyze(&activity(&kept, Window::after_seconds(60))).expect("analysis");
        assert_eq!(a.other_events["SomeFutureCall"], 2);
        assert_eq!(a.instance_connect_events, 2);
    }

    #[test]
    fn tunnel_without_endpoint_is_a_connection_of_no_endpoint() {
        let mut b = Builder::new();
        b.tunnel(1, "alice", None, None);
        let kept = b.kept();
        let a = analyze(&activity(&kept, Window::after_seconds(60))).expect("analysis");
        assert_eq!((a.connections, a.tunnels_without_endpoint), (1, 1));
        assert!(a.endpoints.is_empty());
    }

    #[test]
    fn duplicates_are_analyzed_once_and_counted() {
        let mut b = Builder::new();
        let key = b.key(100, "alice");
        let tunnel = b.tunnel(100, "alice", Some("eice-1"), None);
        b.copy_of(key, 3);
        b.copy_of(tunnel, 3);
        let kept = b.kept();
        let a = analyze(&activity(&kept, Window::after_seconds(60))).expect("analysis");
        assert_eq!((a.connections, a.direct.ssh_keys), (1, 0), "each key paired with one tunnel, once");
        assert_eq!((a.instance_connect_events, a.duplicate_events, a.conflicting_duplicates), (2, 2, 0));
    }
}
