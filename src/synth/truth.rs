//! The ground truth, from the plan alone: what the report and the connections listing of the
//! archive must say, and what verifying it must find.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde::Serialize;

use super::records::{self, Varies};
use super::{Activity, FindingTruth, ObjectPlan, Plan, Written, ACCOUNTS, STREAMS};
use crate::event::{EndpointId, OPEN_TUNNEL, SEND_SSH_PUBLIC_KEY};
use crate::hash::Sha256;
use crate::report::{DirectUse, EndpointReport, EventNameReport, FieldClass, Summary, VariesWith};
use crate::row::Outcome;
use crate::source::Skipped;
use crate::time::{Day, Timestamp};

/// The ground truth: what `trailscope report --format json` of the archive must say.
#[derive(Debug, Serialize)]
pub struct Truth {
    pub seed: u64,
    pub summary: Summary,
    pub endpoints: Vec<EndpointReport>,
    pub direct: DirectUse,
    pub event_names: Vec<EventNameReport>,
    pub fields: Vec<FieldTruth>,
    /// Every row `trailscope connections` must list, in time order: each connection, denied
    /// attempt, direct and serial-console key scheduled.
    pub connections: Vec<ConnectionTruth>,
    /// Unreadable objects, relative to the archive, and a phrase their reason must contain.
    pub failures: Vec<FailureTruth>,
    /// Instance Connect events per UTC day of `eventTime`.
    pub events_by_day: BTreeMap<String, u64>,
    /// Every readable object, relative to the archive, and its record count.
    pub objects: BTreeMap<String, u64>,
    /// With `Spec::findings`: every finding the report must have (and no other), most severe
    /// first, then by time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<FindingTruth>>,
    /// With `digests`: what verifying the untouched archive against them must find.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegrityTruth>,
}

/// What verification of the untouched archive against its digests must say: everything listed
/// verifies, every signature checks with the test public keys, and nothing is missing, modified
/// or broken. The only log objects no digest lists are the extras CloudTrail would not list.
#[derive(Debug, Serialize)]
pub struct IntegrityTruth {
    /// Digests written, each signed and with its `.sig` sidecar: all read, verified, and with a
    /// signature that checks.
    pub digests: u64,
    /// Log objects the digests list, each with its true SHA-256: all verify.
    pub log_files: u64,
    /// The `list-public-keys` JSON that checks the signatures, relative to the repository.
    pub public_keys: &'static str,
    /// Per account and region, in order.
    pub streams: Vec<StreamTruth>,
    /// Log objects present that no digest lists, relative to the archive: the Insights object
    /// (whether CloudTrail's digests list Insights files is not settled) and the unreadable
    /// objects, which CloudTrail never delivered.
    pub unlisted: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct StreamTruth {
    pub account: String,
    pub region: String,
    pub trail: String,
    pub digests: u64,
    pub log_files: u64,
    /// The delivery times the digests cover.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize)]
pub struct FieldTruth {
    pub event_name: &'static str,
    pub path: &'static str,
    pub class: FieldClass,
    /// What the field's changes follow, by how the template builds it; absent when constant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub varies_with: Option<VariesWith>,
}

/// One scheduled connection, denied attempt or key, as written.
#[derive(Debug, Serialize)]
pub struct ConnectionTruth {
    /// Of the tunnel, or of the key when there is no tunnel.
    pub time: String,
    pub outcome: Outcome,
    pub error_code: Option<&'static str>,
    pub account: &'static str,
    pub region: &'static str,
    pub endpoint: Option<String>,
    pub principal: String,
    /// The instance the key was pushed to; none when the tunnel had no key before it.
    pub instance: Option<String>,
    /// The address the tunnel asked for.
    pub private_ip: Option<String>,
    /// Of the key pushed, as `ssh-keygen -l` prints it.
    pub key_fingerprint: Option<String>,
    /// From the key to the tunnel, when there are both.
    pub key_to_tunnel_seconds: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct FailureTruth {
    pub object: String,
    pub reason_contains: &'static str,
}

/// What the scheduled activities add up to.
struct Activities {
    endpoints: Vec<EndpointReport>,
    direct: DirectUse,
    events_by_day: BTreeMap<String, u64>,
}

impl Plan<'_> {
    /// The truth of the log objects; [`Plan::write_extras`] adds the extras to it.
    pub(super) fn truth(&self, objects: &[ObjectPlan]) -> Truth {
        let Activities { endpoints, direct, events_by_day } = self.activities_truth();
        let records: u64 = objects.iter().map(|o| o.background + o.events.len() as u64).sum();
        let instance_connect_events: u64 = events_by_day.values().sum();
        Truth {
            seed: self.spec.seed,
            connections: self.connections_truth(),
            summary: summary_truth(objects.len() as u64, records, instance_connect_events, &endpoints),
            event_names: event_names_truth(&endpoints, self.spec.findings),
            endpoints,
            direct,
            fields: fields_truth(self.spec.findings),
            findings: self.spec.findings.then(|| self.findings.clone()),
            failures: Vec::new(),
            events_by_day,
            objects: objects.iter().map(|o| (o.path.clone(), o.background + o.events.len() as u64)).collect(),
            integrity: None,
        }
    }

    /// What the scheduled activities add up to: per endpoint (in id order), directly, per day.
    fn activities_truth(&self) -> Activities {
        let mut endpoints: Vec<EndpointReport> = self
            .endpoints
            .iter()
            .map(|ep| {
                let (account, region, _) = STREAMS[ep.stream];
                EndpointReport::unused(
                    EndpointId(ep.spec.id.clone()),
                    ACCOUNTS[account].id.to_owned(),
                    region.to_owned(),
                    Default::default(),
                )
            })
            .collect();
        let mut seen: Vec<Option<(i64, i64)>> = vec![None; endpoints.len()];
        let mut direct = DirectUse::default();
        let mut events_by_day: BTreeMap<String, u64> = BTreeMap::new();
        for (time, activity, Written { records, .. }) in self.activities.iter().flatten() {
            let day = Day(time.div_euclid(86_400_000)).to_string();
            *events_by_day.entry(day).or_default() += records.len() as u64;
            let (e, keyed) = match *activity {
                Activity::Connect { endpoint, keyed, .. } => {
                    let ep = &mut endpoints[endpoint];
                    ep.connections += 1;
                    ep.connections_without_key += u64::from(!keyed);
                    (endpoint, keyed)
                }
                Activity::Denied { endpoint, keyed, code } => {
                    let ep = &mut endpoints[endpoint];
                    ep.denied += 1;
                    *ep.denied_errors.entry(code.to_owned()).or_default() += 1;
                    (endpoint, keyed)
                }
                Activity::Direct => {
                    direct.ssh_keys += 1;
                    continue;
                }
                Activity::SerialConsole => {
                    direct.serial_console_keys += 1;
                    continue;
                }
            };
            let ep = &mut endpoints[e];
            *ep.events.entry(OPEN_TUNNEL.to_owned()).or_default() += 1;
            if keyed {
                *ep.events.entry(SEND_SSH_PUBLIC_KEY.to_owned()).or_default() += 1;
            }
            // The key of connection k is k % 2 seconds before the tunnel.
            let earliest = match activity {
                Activity::Connect { k, keyed: true, .. } => time - i64::from(k % 2) * 1_000,
                _ => *time,
            };
            let span = seen[e].get_or_insert((earliest, *time));
            *span = (span.0.min(earliest), span.1.max(*time));
        }
        for (ep, span) in endpoints.iter_mut().zip(&seen) {
            ep.first_seen = span.map(|(first, _)| Timestamp(first).to_string());
            ep.last_seen = span.map(|(_, last)| Timestamp(last).to_string());
        }
        endpoints.sort_by(|a, b| a.id.cmp(&b.id));
        Activities { endpoints, direct, events_by_day }
    }

    /// Every activity as a row of `trailscope connections`, in time order (activities of one
    /// account and region never share a second; those of two are ordered by account and region).
    fn connections_truth(&self) -> Vec<ConnectionTruth> {
        let mut rows = Vec::new();
        for (stream, activities) in self.activities.iter().enumerate() {
            let (account, region, _) = STREAMS[stream];
            let account = &ACCOUNTS[account];
            for (time, activity, written) in activities {
                let (outcome, error_code, endpoint) = match *activity {
                    Activity::Connect { endpoint, .. } => (Outcome::Connected, None, Some(endpoint)),
                    Activity::Denied { endpoint, code, .. } => (Outcome::Denied, Some(code), Some(endpoint)),
                    Activity::Direct => (Outcome::Direct, None, None),
                    Activity::SerialConsole => (Outcome::SerialConsole, None, None),
                };
                let key = written.key.as_ref();
                rows.push(ConnectionTruth {
                    time: Timestamp(*time).to_string(),
                    outcome,
                    error_code,
                    account: account.id,
                    region,
                    endpoint: endpoint.map(|e| self.endpoints[e].spec.id.clone()),
                    principal: records::principal_arn(account, written.user),
                    instance: key.map(|k| k.instance.clone()),
                    private_ip: written.address.clone(),
                    key_fingerprint: key.and_then(|k| fingerprint(&k.public_key)),
                    key_to_tunnel_seconds: key
                        .filter(|_| endpoint.is_some())
                        .map(|k| (time - k.time) / 1_000),
                });
            }
        }
        rows.sort_by(|a, b| (&a.time, a.account, a.region).cmp(&(&b.time, b.account, b.region)));
        rows
    }
}

/// How much evidence each analyzed event name's classes rest on: every successful tunnel, and
/// the key of every one that had a key, is analyzed.
fn event_names_truth(endpoints: &[EndpointReport], findings: bool) -> Vec<EventNameReport> {
    let connections_per_endpoint: Vec<u64> = endpoints.iter().map(|e| e.connections).collect();
    let keyed_per_endpoint: Vec<u64> =
        endpoints.iter().map(|e| e.connections - e.connections_without_key).collect();
    let name_truth = |name: &'static str, table: &[(&'static str, Varies)], per_endpoint: &[u64]| {
        let events = per_endpoint.iter().sum();
        let with_events = per_endpoint.iter().filter(|&&n| n >= 1).count() as u64;
        let multiple = per_endpoint.iter().filter(|&&n| n >= 2).count() as u64;
        let count = |class| table.iter().filter(|(_, v)| v.class() == class).count() as u64;
        EventNameReport {
            event_name: name.to_owned(),
            events,
            endpoints: with_events,
            endpoints_with_multiple_events: multiple,
            fields_constant: count(FieldClass::Constant),
            fields_endpoint: count(FieldClass::Endpoint),
            fields_connection: count(FieldClass::Connection),
        }
    };
    vec![
        name_truth(OPEN_TUNNEL, &open_tunnel_fields(findings), &connections_per_endpoint),
        name_truth(SEND_SSH_PUBLIC_KEY, records::SEND_SSH_PUBLIC_KEY_FIELDS, &keyed_per_endpoint),
    ]
}

/// How each leaf of a successful `OpenTunnel` behaves: as the template builds it, but for the
/// tunnels injected for `tunnel-unusual-port` (`synth::findings`), whose ports other connections
/// of the same users and endpoint do not share.
fn open_tunnel_fields(findings: bool) -> Vec<(&'static str, Varies)> {
    let mut table = records::OPEN_TUNNEL_FIELDS.to_vec();
    if findings {
        for (path, varies) in &mut table {
            if *path == "requestParameters.remotePort" {
                *varies = Varies::Connection;
            }
        }
    }
    table
}

/// Every field of the record templates, classed by how its template builds it.
fn fields_truth(findings: bool) -> Vec<FieldTruth> {
    [
        (OPEN_TUNNEL, open_tunnel_fields(findings)),
        (SEND_SSH_PUBLIC_KEY, records::SEND_SSH_PUBLIC_KEY_FIELDS.to_vec()),
    ]
    .into_iter()
    .flat_map(|(event_name, table)| {
        table.into_iter().map(move |(path, varies)| FieldTruth {
            event_name,
            path,
            class: varies.class(),
            varies_with: varies.varies_with(),
        })
    })
    .collect()
}

/// The summary of `objects` log objects holding `records` records, `instance_connect_events` of
/// them Instance Connect's, of the activities `endpoints` add up.
fn summary_truth(
    objects: u64,
    records: u64,
    instance_connect_events: u64,
    endpoints: &[EndpointReport],
) -> Summary {
    Summary {
        objects_listed: objects,
        objects_read: objects,
        objects_skipped: 0,
        skipped: Skipped::default(),
        objects_failed: 0,
        objects_archived: 0,
        archived_by_storage_class: Default::default(),
        requests_throttled: 0,
        requests_retried: 0,
        lookup_requests_throttled: None,
        records,
        instance_connect_events,
        duplicate_events: 0,
        conflicting_duplicates: 0,
        events_without_time: 0,
        events_out_of_range: 0,
        connections: endpoints.iter().map(|e| e.connections).sum(),
        denied_attempts: endpoints.iter().map(|e| e.denied).sum(),
        endpoints: endpoints.len() as u64,
        connections_without_key: endpoints.iter().map(|e| e.connections_without_key).sum(),
        tunnels_without_endpoint: 0,
        pair_window_seconds: 60,
        lifecycle_events: 0,
        lifecycle_denied: 0,
    }
}

/// The fingerprint `ssh-keygen -l` prints for a public key the generator wrote, worked out here
/// from the key's text alone (the base64 blob after the type, its SHA-256, in base64 without
/// padding), apart from how `trailscope connections` reads keys from records.
fn fingerprint(public_key: &str) -> Option<String> {
    let (_, blob) = public_key.split_once(' ')?;
    let blob = STANDARD.decode(blob).ok()?;
    Some(format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::of(&blob).0)))
}
