//! The analysis: splits Instance Connect events into tunnels, keys and the rest, pairs keys with
//! tunnels, attributes both to endpoints, and classifies the fields of the successful ones.

mod fields;
pub mod pairing;

use std::collections::BTreeMap;

use crate::event::{
    EndpointId, IcEvent, OPEN_TUNNEL, SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY, SEND_SSH_PUBLIC_KEY,
};
use crate::report::{DirectUse, EndpointReport, EventNameReport, FieldReport};
use crate::time::Timestamp;

pub use pairing::Window;

/// The event names whose fields are classified, in report order.
pub const ANALYZED_EVENT_NAMES: [&str; 2] = [OPEN_TUNNEL, SEND_SSH_PUBLIC_KEY];

/// Everything the analysis finds; the scan adds object and record counts to make a report.
#[derive(Debug, Default)]
pub struct Analysis {
    pub instance_connect_events: u64,
    pub connections: u64,
    pub denied_attempts: u64,
    pub connections_without_key: u64,
    pub tunnels_without_endpoint: u64,
    pub endpoints: Vec<EndpointReport>,
    pub direct: DirectUse,
    pub other_events: BTreeMap<String, u64>,
    pub event_names: Vec<EventNameReport>,
    pub fields: Vec<FieldReport>,
}

#[derive(Default)]
struct EndpointTally<'a> {
    first_tunnel: Option<&'a IcEvent>,
    connections: u64,
    denied: u64,
    denied_errors: BTreeMap<String, u64>,
    events: BTreeMap<String, u64>,
    connections_without_key: u64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
}

impl EndpointTally<'_> {
    fn saw(&mut self, event: &IcEvent) {
        *self.events.entry(event.name.clone()).or_default() += 1;
        if let Some(time) = event.time {
            self.first_seen = Some(self.first_seen.map_or(time, |t| t.min(time)));
            self.last_seen = Some(self.last_seen.map_or(time, |t| t.max(time)));
        }
    }
}

/// Analyzes `events`, which must be sorted by origin (the scan does this).
pub fn analyze(events: &[IcEvent], window: Window) -> Analysis {
    let mut analysis = Analysis { instance_connect_events: events.len() as u64, ..Analysis::default() };
    let (mut keys, mut tunnels) = (Vec::new(), Vec::new());
    for event in events {
        match event.name.as_str() {
            OPEN_TUNNEL => tunnels.push(event),
            SEND_SSH_PUBLIC_KEY => keys.push(event),
            SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY => analysis.direct.serial_console_keys += 1,
            other => *analysis.other_events.entry(other.to_owned()).or_default() += 1,
        }
    }

    let key_of_key = pairing::pair(&keys, &tunnels, window);
    let mut key_of_tunnel = vec![None; tunnels.len()];
    for (key, tunnel) in key_of_key.iter().enumerate() {
        match tunnel {
            Some(tunnel) => key_of_tunnel[*tunnel] = Some(keys[key]),
            None => analysis.direct.ssh_keys += 1,
        }
    }

    let mut tallies: BTreeMap<&EndpointId, EndpointTally<'_>> = BTreeMap::new();
    let mut samples: [Vec<(&EndpointId, &IcEvent)>; 2] = [Vec::new(), Vec::new()];
    for (tunnel, key) in tunnels.iter().zip(&key_of_tunnel) {
        if tunnel.succeeded() {
            analysis.connections += 1;
            analysis.connections_without_key += u64::from(key.is_none());
        } else {
            analysis.denied_attempts += 1;
        }
        let Some(endpoint) = &tunnel.endpoint else {
            analysis.tunnels_without_endpoint += 1;
            continue;
        };
        let tally = tallies.entry(endpoint).or_default();
        tally.first_tunnel.get_or_insert(tunnel);
        tally.saw(tunnel);
        if let Some(key) = key {
            tally.saw(key);
        }
        match &tunnel.error_code {
            None => {
                tally.connections += 1;
                tally.connections_without_key += u64::from(key.is_none());
                samples[0].push((endpoint, tunnel));
                // A key that itself failed pushed nothing: it is counted, not analyzed.
                if let Some(key) = key.filter(|k| k.succeeded()) {
                    samples[1].push((endpoint, key));
                }
            }
            Some(code) => {
                tally.denied += 1;
                *tally.denied_errors.entry(code.clone()).or_default() += 1;
            }
        }
    }

    analysis.endpoints = tallies
        .into_iter()
        .map(|(id, tally)| EndpointReport {
            id: id.clone(),
            account: tally.first_tunnel.map(|t| t.account.clone()).unwrap_or_default(),
            region: tally.first_tunnel.map(|t| t.region.clone()).unwrap_or_default(),
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
        let (summary, fields) = fields::classify(name, samples);
        analysis.event_names.push(summary);
        analysis.fields.extend(fields);
    }
    analysis
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Field, Origin};

    struct Builder {
        events: Vec<IcEvent>,
    }

    impl Builder {
        fn push(
            &mut self,
            name: &str,
            second: i64,
            principal: &str,
            endpoint: Option<&str>,
            error: Option<&str>,
        ) {
            let record = self.events.len() as u32;
            self.events.push(IcEvent {
                origin: Origin { object: 0, record },
                name: name.into(),
                time: Some(Timestamp(second * 1_000)),
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                principal: principal.into(),
                error_code: error.map(str::to_owned),
                endpoint: endpoint.map(|e| EndpointId(e.into())),
                fields: vec![Field { path: "eventID".into(), value: format!("\"{record}\"") }],
            });
        }
    }

    #[test]
    fn key_without_tunnel_counts_as_direct_use() {
        let mut b = Builder { events: Vec::new() };
        b.push(SEND_SSH_PUBLIC_KEY, 100, "alice", None, None);
        b.push(SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY, 200, "alice", None, None);
        let a = analyze(&b.events, Window::after_seconds(60));
        assert_eq!((a.direct.ssh_keys, a.direct.serial_console_keys), (1, 1));
        assert!(a.endpoints.is_empty());
    }

    #[test]
    fn key_of_a_denied_tunnel_belongs_to_the_denied_attempt() {
        let mut b = Builder { events: Vec::new() };
        b.push(SEND_SSH_PUBLIC_KEY, 100, "alice", None, None);
        b.push(OPEN_TUNNEL, 101, "alice", Some("eice-1"), Some("AccessDenied"));
        b.push(SEND_SSH_PUBLIC_KEY, 1_000, "bob", None, None);
        b.push(OPEN_TUNNEL, 1_000, "bob", Some("eice-1"), None);
        b.push(OPEN_TUNNEL, 2_000, "carol", Some("eice-1"), None);
        let a = analyze(&b.events, Window::after_seconds(60));
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
        let mut b = Builder { events: Vec::new() };
        b.push("SomeFutureCall", 1, "alice", None, None);
        b.push("SomeFutureCall", 2, "alice", None, None);
        let a = analyze(&b.events, Window::after_seconds(60));
        assert_eq!(a.other_events["SomeFutureCall"], 2);
        assert_eq!(a.instance_connect_events, 2);
    }

    #[test]
    fn tunnel_without_endpoint_is_a_connection_of_no_endpoint() {
        let mut b = Builder { events: Vec::new() };
        b.push(OPEN_TUNNEL, 1, "alice", None, None);
        let a = analyze(&b.events, Window::after_seconds(60));
        assert_eq!((a.connections, a.tunnels_without_endpoint), (1, 1));
        assert!(a.endpoints.is_empty());
    }
}
