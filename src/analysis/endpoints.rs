//! Attribution to endpoints: each tunnel, successful or not, and the key paired with it belong to
//! the endpoint the tunnel names; an endpoint's account and region are those of its first
//! tunnel, else of its first lifecycle call. What is attributed, beside each endpoint's life
//! ([`super::lifecycle`]), makes the report's endpoints (those tunnels named and those only
//! lifecycle calls named, unused), its timeline, and the samples whose fields are classified.

use std::collections::BTreeMap;

use crate::event::tables::Sym;
use crate::event::{EndpointId, Event, Kept};
use crate::report::{EndpointReport, EndpointTimes};
use crate::time::Timestamp as Time;
use crate::time::Timestamp;

use super::lifecycle::{Life, Lifecycle};
use super::{fields, Activity, Tunnel};

/// Every tunnel of an activity, counted, and attributed to its endpoint when it names one.
pub(super) struct Attributed<'k> {
    /// Successful tunnels, of an endpoint or not.
    pub(super) connections: u64,
    pub(super) denied_attempts: u64,
    pub(super) connections_without_key: u64,
    pub(super) tunnels_without_endpoint: u64,
    /// By endpoint id: the endpoint's symbol and what it saw.
    endpoints: BTreeMap<&'k str, (Sym, Tally<'k>)>,
    /// The successful tunnels and keys attributed to an endpoint, in tunnel order (a key follows
    /// its tunnel): what the field analysis reads, per analyzed event name.
    samples: [Vec<(Sym, &'k Event)>; 2],
}

/// What one endpoint saw.
#[derive(Default)]
struct Tally<'k> {
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

impl Tally<'_> {
    fn saw(&mut self, event: &Event, kept: &Kept) {
        // Looked up by its text first: a name is copied only the first time it is seen.
        let name = kept.vocabulary.text(event.name);
        match self.events.get_mut(name) {
            Some(count) => *count += 1,
            None => {
                self.events.insert(name.to_owned(), 1);
            }
        }
        if let Some(time) = event.time {
            self.first_seen = Some(self.first_seen.map_or(time, |t| t.min(time)));
            self.last_seen = Some(self.last_seen.map_or(time, |t| t.max(time)));
        }
    }
}

impl<'k> Attributed<'k> {
    /// Counts `activity`'s tunnels and attributes them, with their keys, to endpoints.
    pub(super) fn of(activity: &Activity<'k>) -> Attributed<'k> {
        let kept = activity.kept;
        let text = |sym: Sym| kept.vocabulary.text(sym);
        let mut attributed = Attributed {
            connections: 0,
            denied_attempts: 0,
            connections_without_key: 0,
            tunnels_without_endpoint: 0,
            endpoints: BTreeMap::new(),
            samples: [Vec::new(), Vec::new()],
        };
        for &Tunnel { event: tunnel, key } in &activity.tunnels {
            if tunnel.succeeded() {
                attributed.connections += 1;
                attributed.connections_without_key += u64::from(key.is_none());
            } else {
                attributed.denied_attempts += 1;
            }
            let Some(endpoint) = tunnel.endpoint else {
                attributed.tunnels_without_endpoint += 1;
                continue;
            };
            let (_, tally) =
                attributed.endpoints.entry(text(endpoint)).or_insert_with(|| (endpoint, Tally::default()));
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
                    attributed.samples[0].push((endpoint, tunnel));
                    // A key that itself failed pushed nothing: it is counted, not analyzed.
                    if let Some(key) = key.filter(|k| k.succeeded()) {
                        attributed.samples[1].push((endpoint, key));
                    }
                }
                Some(code) => {
                    tally.times.denied.extend(at.map(|at| (at, text(code).to_owned())));
                    tally.denied += 1;
                    *tally.denied_errors.entry(text(code).to_owned()).or_default() += 1;
                }
            }
        }
        attributed
    }

    /// How many endpoints the tunnels and the lifecycle calls named.
    pub(super) fn endpoint_count(&self, lifecycle: &Lifecycle) -> u64 {
        let only_lifecycle =
            lifecycle.endpoints.keys().filter(|id| !self.endpoints.contains_key(id.as_str()));
        (self.endpoints.len() + only_lifecycle.count()) as u64
    }

    /// The samples of each analyzed event name (tunnels, then keys), each with its endpoint's
    /// account and region, in origin order.
    pub(super) fn samples(&self) -> [Vec<fields::Sample<'k>>; 2] {
        let home: BTreeMap<Sym, (Sym, Sym)> = self
            .endpoints
            .values()
            .filter_map(|(sym, tally)| tally.first_tunnel.map(|t| (*sym, (t.account, t.region))))
            .collect();
        self.samples.each_ref().map(|samples| {
            // Samples are in tunnel order, which is origin order; a key's samples follow its tunnel.
            let mut samples: Vec<fields::Sample<'k>> = samples
                .iter()
                .map(|&(endpoint, event)| {
                    let (account, region) = home[&endpoint];
                    fields::Sample { event, endpoint, account, region }
                })
                .collect();
            samples.sort_by_key(|s| s.event.origin);
            samples
        })
    }

    /// The report's endpoints and their timeline, both in endpoint order: every endpoint a tunnel
    /// or a lifecycle call named, with its life.
    pub(super) fn into_endpoints(
        mut self,
        kept: &Kept,
        mut lifecycle: Lifecycle,
    ) -> (Vec<EndpointReport>, Vec<EndpointTimes>) {
        let text = |sym: Sym| kept.vocabulary.text(sym).to_owned();
        let mut ids: Vec<&str> = self.endpoints.keys().copied().collect();
        ids.extend(
            lifecycle.endpoints.keys().map(String::as_str).filter(|id| !self.endpoints.contains_key(id)),
        );
        ids.sort_unstable();
        let ids: Vec<String> = ids.into_iter().map(str::to_owned).collect();
        let mut timeline = Vec::with_capacity(ids.len());
        let mut endpoints = Vec::with_capacity(ids.len());
        for id in ids {
            let mut tally = self.endpoints.remove(id.as_str()).map(|(_, tally)| tally).unwrap_or_default();
            let life = lifecycle.endpoints.remove(&id).unwrap_or_default();
            let home = |tunnel: Option<Sym>, life: Option<Sym>| tunnel.or(life).map(text).unwrap_or_default();
            let mut times = std::mem::take(&mut tally.times);
            times.id = EndpointId(id.clone());
            times.connections.sort_unstable();
            times.denied.sort_unstable();
            let at =
                |mark: &Option<super::lifecycle::Mark>| mark.as_ref().and_then(|m| m.time).map(Time::millis);
            times.created = at(&life.created);
            times.deleted = at(&life.deleted);
            timeline.push(times);
            endpoints.push(EndpointReport {
                id: EndpointId(id),
                account: home(tally.first_tunnel.map(|t| t.account), life.account),
                region: home(tally.first_tunnel.map(|t| t.region), life.region),
                connections: tally.connections,
                denied: tally.denied,
                denied_errors: tally.denied_errors,
                events: tally.events,
                connections_without_key: tally.connections_without_key,
                first_seen: tally.first_seen.map(|t| t.to_string()),
                last_seen: tally.last_seen.map(|t| t.to_string()),
                life: Life::report(&life),
            });
        }
        (endpoints, timeline)
    }
}
