//! The analysis: counts each event once ([`dedup`]), splits events into tunnels, keys and the
//! rest, pairs keys with tunnels ([`pairing`]) into an [`Activity`]. Of that, [`report`] makes
//! the report: it attributes tunnels and keys to endpoints ([`endpoints`]) and classifies the
//! fields of the successful ones ([`fields`]), and runs the rules that say what to look at
//! ([`findings`]); [`rows`] picks the rows of `trailscope connections` from the same activity and
//! reads them back; [`changes`] compares a report with the last one (`--state` keeps its facts).

pub(crate) mod changes;
mod dedup;
mod endpoints;
mod fields;
pub(crate) mod findings;
pub(crate) mod lifecycle;
pub(crate) mod pairing;
pub(crate) mod rows;

use std::collections::BTreeMap;

use crate::counts::Counts;
use crate::error::{ArchivedObject, ObjectError, Reason};
use crate::event::{
    Event, Kept, ANALYZED_EVENT_NAMES, OPEN_TUNNEL, SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY, SEND_SSH_PUBLIC_KEY,
};
use crate::report::{
    Conflict, DirectUse, EventNameReport, FieldReport, RecordPlace, Report, Summary, SCHEMA_VERSION,
};
use crate::verify::Integrity;

use endpoints::Attributed;
pub(crate) use findings::{suppress::Suppressions, Rules};
use lifecycle::Lifecycle;

/// What the report's findings are made with: the rules' thresholds and the suppressions.
#[derive(Debug, Clone, Default)]
pub(crate) struct FindingPlan {
    pub(crate) rules: Rules,
    pub(crate) suppressions: Suppressions,
}

pub(crate) use pairing::Window;

/// Conflicting copies listed by name in the report; the count says how many there were in all.
const CONFLICTS_LISTED: usize = 10;

/// What happened, event by event: every distinct event, sorted into tunnels (each with the key
/// that prepared it), keys that went straight to an instance, and the rest.
pub(crate) struct Activity<'k> {
    pub(crate) kept: &'k Kept,
    /// The window keys were paired with tunnels in.
    pub(crate) window: Window,
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
    /// The endpoints' lifecycle calls ([`lifecycle`]), in origin order: not Instance Connect
    /// events, so in none of the above, nor in `events`.
    pub(crate) lifecycle: Vec<&'k Event>,
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
        window,
        events: Vec::with_capacity(events.len()),
        duplicates: duplicates.identical,
        conflicts,
        tunnels: Vec::new(),
        direct_keys: Vec::new(),
        serial_console_keys: Vec::new(),
        other: Vec::new(),
        lifecycle: Vec::new(),
    };
    let (lifecycle, events): (Vec<&Event>, Vec<&Event>) = events.into_iter().partition(|e| e.call.is_some());
    activity.lifecycle = lifecycle;
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

/// What the reading stage found besides the events: the objects it counted, those it could not
/// read, those it left in archive storage, and with `--verify` the archive's integrity.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    pub(crate) counts: Counts,
    pub(crate) failures: Vec<ObjectError>,
    pub(crate) archived: Vec<ArchivedObject>,
    pub(crate) integrity: Option<Integrity>,
}

/// The report of `activity`, whose events were read as `objects` says. What depends on more than
/// this run is left for the caller: `changes` and `state` (`--state`), and `failure_reasons`,
/// counted once the failures are final (redacted or not).
pub(crate) fn report(
    activity: &Activity<'_>,
    objects: Objects,
    plan: &FindingPlan,
) -> Result<Report, Reason> {
    let kept = activity.kept;
    let lifecycle = Lifecycle::of(activity);
    // The findings and the connections' analysis read the same activity and nothing of each
    // other: the findings on a thread of their own meanwhile.
    let (found, analysed) = std::thread::scope(|scope| {
        let found = scope.spawn(|| findings::find(activity, &lifecycle, &plan.rules));
        let analysed = (|| -> Result<_, Reason> {
            let attributed = Attributed::of(activity);
            let (event_names, fields) = classify(&attributed, kept)?;
            Ok((attributed, event_names, fields, conflicts(activity)?))
        })();
        (found.join(), analysed)
    });
    let found = found.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let (findings, suppressed) = plan.suppressions.apply(found?);
    let (attributed, event_names, fields, conflicts) = analysed?;
    let summary = summary(activity, &attributed, &lifecycle, &objects);
    let (endpoints, timeline) = attributed.into_endpoints(kept, lifecycle);
    let mut other_events = BTreeMap::new();
    for event in &activity.other {
        *other_events.entry(kept.vocabulary.text(event.name).to_owned()).or_default() += 1;
    }
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        summary,
        findings,
        suppressed,
        endpoints,
        direct: DirectUse {
            ssh_keys: activity.direct_keys.len() as u64,
            serial_console_keys: activity.serial_console_keys.len() as u64,
        },
        other_events,
        event_names,
        fields,
        conflicts,
        failures: objects.failures,
        failure_reasons: BTreeMap::new(),
        archived: objects.archived,
        integrity: objects.integrity,
        timeline,
        changes: None,
        state: None,
    })
}

/// The summary's counts: of objects and records from the reading, of events from the analysis.
fn summary(
    activity: &Activity<'_>,
    attributed: &Attributed<'_>,
    lifecycle: &Lifecycle,
    objects: &Objects,
) -> Summary {
    let counts = &objects.counts;
    Summary {
        objects_listed: counts.objects_listed,
        objects_read: counts.objects_read,
        objects_skipped: counts.skipped.total(),
        skipped: counts.skipped,
        objects_failed: objects.failures.len() as u64,
        objects_archived: objects.archived.len() as u64,
        archived_by_storage_class: by_storage_class(&objects.archived),
        requests_throttled: counts.requests_throttled,
        requests_retried: counts.requests_retried,
        lookup_requests_throttled: (counts.lookup_requests > 0).then_some(counts.lookup_requests_throttled),
        records: counts.records,
        instance_connect_events: activity.events.len() as u64,
        duplicate_events: activity.duplicates,
        conflicting_duplicates: activity.conflicts.len() as u64,
        events_without_time: activity.events.iter().filter(|e| e.time.is_none()).count() as u64,
        events_out_of_range: counts.events_out_of_range,
        connections: attributed.connections,
        denied_attempts: attributed.denied_attempts,
        endpoints: attributed.endpoint_count(lifecycle),
        connections_without_key: attributed.connections_without_key,
        tunnels_without_endpoint: attributed.tunnels_without_endpoint,
        pair_window_seconds: activity.window.seconds(),
        lifecycle_events: lifecycle.events,
        lifecycle_denied: lifecycle.denied,
    }
}

/// Archived objects counted by storage class.
fn by_storage_class(archived: &[ArchivedObject]) -> BTreeMap<String, u64> {
    let mut classes = BTreeMap::new();
    for object in archived {
        *classes.entry(object.storage_class.clone()).or_insert(0) += 1;
    }
    classes
}

/// The fields of the successful events attributed to endpoints, classified per analyzed event
/// name: how much evidence each name's classes rest on, and every field.
fn classify(
    attributed: &Attributed<'_>,
    kept: &Kept,
) -> Result<(Vec<EventNameReport>, Vec<FieldReport>), Reason> {
    let mut event_names = Vec::new();
    let mut all = Vec::new();
    for (name, samples) in ANALYZED_EVENT_NAMES.iter().zip(attributed.samples()) {
        let (summary, fields) = fields::classify(name, &samples, kept)?;
        event_names.push(summary);
        all.extend(fields);
    }
    Ok((event_names, all))
}

/// The first few conflicting copies, each with the copy analyzed.
fn conflicts(activity: &Activity<'_>) -> Result<Vec<Conflict>, Reason> {
    let kept = activity.kept;
    let place = |e: &Event| RecordPlace {
        object: kept.objects[e.origin.object as usize].clone(),
        record: e.origin.record,
    };
    let mut conflicts = Vec::new();
    for &(first, copy) in activity.conflicts.iter().take(CONFLICTS_LISTED) {
        let event_id = kept.texts(first)?.remove("eventID").and_then(|t| serde_json::from_str(&t).ok());
        conflicts.push(Conflict { event_id, kept: place(first), conflicting: place(copy) });
    }
    Ok(conflicts)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::json::Json;
    use crate::event::lifecycle::Call;
    use crate::event::tables::Tables;
    use crate::event::Origin;
    use crate::spill::records::{RecordRef, Spool, SpoolWriter};
    use crate::time::Timestamp;

    /// The report of `kept`'s events, paired within a minute, of no objects.
    fn analyzed(kept: &Kept) -> Report {
        report(&activity(kept, Window::after_seconds(60)), Objects::default(), &FindingPlan::default())
            .expect("report")
    }

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
            self.push_with(name, second, principal, endpoint, error, &[])
        }

        /// An event whose record has `requestParameters` with these string values besides its
        /// `eventID` (the record number); each value's hash is a hash of its text.
        pub(crate) fn push_with(
            &mut self,
            name: &str,
            second: i64,
            principal: &str,
            endpoint: Option<&str>,
            error: Option<&str>,
            parameters: &[(&str, &str)],
        ) -> usize {
            use std::hash::BuildHasher;
            let record = self.events.len() as u32;
            let mut text = format!(r#"{{"eventID":"{record}""#);
            if !parameters.is_empty() {
                let parameters: serde_json::Map<String, serde_json::Value> =
                    parameters.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
                text.push_str(&format!(r#","requestParameters":{}"#, serde_json::Value::Object(parameters)));
            }
            text.push('}');
            let at = self.spool.append(text.as_bytes()).expect("spool");
            let t = &self.tables;
            let mut paths = vec![t.path("eventID")];
            let mut values = vec![u64::from(record)];
            for (key, value) in parameters {
                paths.push(t.path(&format!("requestParameters.{key}")));
                values.push(foldhash::fast::FixedState::default().hash_one(value));
            }
            let event = Event {
                endpoint: endpoint.map(|e| t.symbol(e)),
                shape: t.shape(&paths),
                values: values.into(),
                ..self.event(record, at, name, second, principal, error)
            };
            self.events.push(event);
            record as usize
        }

        /// Event number `record`, spooled at `at`, of account 111122223333 in eu-west-1: its only
        /// leaf is its `eventID`.
        fn event(
            &self,
            record: u32,
            at: RecordRef,
            name: &str,
            second: i64,
            principal: &str,
            error: Option<&str>,
        ) -> Event {
            let t = &self.tables;
            Event {
                origin: Origin { object: 0, record },
                time: Some(Timestamp(second * 1_000)),
                id: u128::from(record),
                content: u64::from(record),
                name: t.symbol(name),
                account: t.symbol("111122223333"),
                region: t.symbol("eu-west-1"),
                principal: t.symbol(principal),
                error: error.map(|e| t.symbol(e)),
                endpoint: None,
                shape: t.shape(&[t.path("eventID")]),
                values: vec![u64::from(record)].into(),
                record: at,
                call: None,
                id_written_as_uuid: false,
            }
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

        /// A lifecycle call of `ec2.amazonaws.com`: its record is `members` (`requestParameters`,
        /// `responseElements`) and its `eventID`, the record number; its call read from that
        /// record as the extractor reads it.
        pub(crate) fn lifecycle_call(
            &mut self,
            name: &str,
            second: i64,
            error: Option<&str>,
            members: serde_json::Value,
        ) -> usize {
            let record = self.events.len() as u32;
            let mut members = members;
            members["eventID"] = serde_json::Value::from(record.to_string());
            let at = self.spool.append(members.to_string().as_bytes()).expect("spool");
            members["eventName"] = serde_json::Value::from(name);
            let mut bytes = members.to_string().into_bytes();
            let tape = simd_json::to_tape(&mut bytes).expect("valid JSON");
            let call = Json::root(&tape.0).and_then(Call::read).expect("a lifecycle call");
            let event = Event {
                call: Some(Box::new(call)),
                ..self.event(record, at, name, second, "netadmin", error)
            };
            self.events.push(event);
            record as usize
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

        /// The events as a run keeps them, for [`activity`] and [`report`].
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
    fn the_report_counts_the_objects_read_beside_the_events() {
        let mut b = Builder::new();
        b.tunnel(1, "alice", Some("eice-1"), None);
        let kept = b.kept();
        let archived =
            |class: &str| ArchivedObject { object: format!("s3://b/{class}"), storage_class: class.into() };
        let objects = Objects {
            counts: Counts { objects_listed: 9, objects_read: 4, records: 70, ..Counts::default() },
            failures: vec![ObjectError { object: "s3://b/x".into(), reason: Reason::Empty }],
            archived: vec![archived("GLACIER"), archived("DEEP_ARCHIVE")],
            integrity: None,
        };
        let report = report(&activity(&kept, Window::after_seconds(90)), objects, &FindingPlan::default())
            .expect("report");
        let s = &report.summary;
        assert_eq!((s.objects_listed, s.objects_read, s.records), (9, 4, 70));
        assert_eq!((s.objects_failed, s.objects_archived), (1, 2));
        assert_eq!(s.archived_by_storage_class.len(), 2);
        assert_eq!((s.connections, s.endpoints, s.pair_window_seconds), (1, 1, 90));
        assert_eq!(report.failures.len(), 1, "the failures are listed, not only counted");
        assert!(report.failure_reasons.is_empty(), "counted by the caller, once the failures are final");
    }

    #[test]
    fn key_without_tunnel_counts_as_direct_use() {
        let mut b = Builder::new();
        b.key(100, "alice");
        b.serial(200, "alice");
        let kept = b.kept();
        let a = analyzed(&kept);
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
        let a = analyzed(&kept);
        assert_eq!(a.direct.ssh_keys, 0);
        assert_eq!(
            (a.summary.connections, a.summary.denied_attempts, a.summary.connections_without_key),
            (2, 1, 1)
        );
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
        let a = analyzed(&kept);
        assert_eq!(a.other_events["SomeFutureCall"], 2);
        assert_eq!(a.summary.instance_connect_events, 2);
    }

    #[test]
    fn tunnel_without_endpoint_is_a_connection_of_no_endpoint() {
        let mut b = Builder::new();
        b.tunnel(1, "alice", None, None);
        let kept = b.kept();
        let a = analyzed(&kept);
        assert_eq!((a.summary.connections, a.summary.tunnels_without_endpoint), (1, 1));
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
        let a = analyzed(&kept);
        assert_eq!(
            (a.summary.connections, a.direct.ssh_keys),
            (1, 0),
            "each key paired with one tunnel, once"
        );
        assert_eq!(
            (a.summary.instance_connect_events, a.summary.duplicate_events, a.summary.conflicting_duplicates),
            (2, 2, 0)
        );
    }
}
