//! Synthetic CloudTrail archives, deterministic from a seed, for tests and benchmarks: laid out
//! as S3 delivers them, with Instance Connect connections scheduled so that what the report must
//! say is known in advance, and written beside the archive as its ground truth (`truth.json`).
//!
//! The truth comes from the plan, never from reading the archive back: counts from the
//! activities scheduled, field classes from the tables beside the record templates, and what
//! verification against the digests must find from what was listed in them.

pub mod digest;
mod records;
mod rng;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use rayon::prelude::*;
use serde::Serialize;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

use crate::connections::Outcome;
use crate::event::{EndpointId, OPEN_TUNNEL, SEND_SSH_PUBLIC_KEY};
use crate::hash::Sha256;
use crate::report::{DirectUse, EndpointReport, EventNameReport, FieldClass, Summary, VariesWith};
use crate::source::Skipped;
use crate::time::{Day, Timestamp};
use digest::{Chain, Delivered};
use records::{Account, Call, EndpointSpec, Varies, CONTRACTOR, DIRECT_USER, USERS};
pub use rng::Rng;

/// What archive to make.
#[derive(Debug, Clone)]
pub struct Spec {
    pub seed: u64,
    pub start: Day,
    pub days: u32,
    /// Log objects across all accounts and regions (at least one per account and region).
    pub objects: u64,
    /// Records of other services across the archive, about.
    pub records: u64,
    /// Successful connections per endpoint, about (each endpoint gets a few more or less).
    pub connections: u32,
    /// Endpoints in each account and region, as a multiple of the base layout's (2, 1, 1, 1).
    pub endpoint_scale: usize,
    /// Add what a real bucket also holds: digests, other files, an Insights object, an
    /// uncompressed and a multi-member object, and a few unreadable objects. Without `digests`,
    /// the digests are three fake ones, to be skipped.
    pub extras: bool,
    /// Write real digests: per account and region, a chain of hourly digests listing every log
    /// object with its true SHA-256, signed with the test key (`testdata/keys/`), each with its
    /// signature beside it as `<digest>.sig`.
    pub digests: bool,
    /// gzip level of the log objects.
    pub level: u32,
}

impl Spec {
    /// The committed test archive: small, with every case the report distinguishes.
    pub fn testdata() -> Spec {
        Spec {
            seed: 2024,
            start: Day::from_ymd(2024, 3, 1).unwrap_or(Day(19_783)),
            days: 2,
            objects: 288,
            records: 3_600,
            connections: 30,
            endpoint_scale: 1,
            extras: true,
            digests: true,
            level: 6,
        }
    }

    /// The benchmark archive: 3,500 log objects, 500,394 records: 104 MB gzipped, 870 MB of JSON.
    pub fn bench() -> Spec {
        Spec { objects: 3_500, records: 500_000, connections: 30, extras: false, ..Spec::testdata() }
    }

    /// An archive of Instance Connect traffic and little else: 20 endpoints, about 40,000
    /// connections over 30 days, 60,000 records of other services (about 200 MB of JSON).
    pub fn dense() -> Spec {
        Spec {
            days: 30,
            objects: 6_000,
            records: 60_000,
            connections: 2_000,
            endpoint_scale: 4,
            extras: false,
            ..Spec::testdata()
        }
    }

    /// Many tiny objects: 20,000 objects of 1 to 5 KB of JSON (one to three records).
    pub fn tiny() -> Spec {
        Spec {
            days: 14,
            objects: 20_000,
            records: 40_000,
            connections: 12,
            extras: false,
            ..Spec::testdata()
        }
    }
}

/// The accounts, the regions their trails are delivered from, and their endpoints: one standalone
/// trail and two accounts of an organization trail; two regions hold no endpoint at all.
const ACCOUNTS: [Account; 3] = [
    Account { id: "111122223333", org: None, role_id: "AROAEXAMPLEADMIN00111" },
    Account { id: "444455556666", org: Some("o-a1b2c3d4e5"), role_id: "AROAEXAMPLEADMIN00444" },
    Account { id: "777788889999", org: Some("o-a1b2c3d4e5"), role_id: "AROAEXAMPLEADMIN00777" },
];

/// (account index, region, endpoints there, times `Spec::endpoint_scale`). The endpoint through a
/// VPC interface endpoint is the first one in us-east-1 of the first account, which holds another:
/// `vpcEndpointId` differs between endpoints of one account and region.
const STREAMS: [(usize, &str, usize); 6] = [
    (0, "us-east-1", 2),
    (0, "eu-west-1", 1),
    (1, "ap-northeast-1", 1),
    (1, "us-east-1", 0),
    (2, "eu-west-1", 1),
    (2, "us-east-1", 0),
];

/// Seconds between two Instance Connect activities of one account and region, at least: more
/// than the pairing window, so every key pairs with the tunnel it was made for and no other.
const MIN_GAP: i64 = 130;

/// One thing a user did, scheduled in one account and region.
#[derive(Debug, Clone, Copy)]
enum Activity {
    /// Connection `k` through endpoint `e`: a key (unless `keyed` is false), then the tunnel.
    Connect {
        endpoint: usize,
        k: u32,
        keyed: bool,
    },
    /// A tunnel refused with `code`, after a key when `keyed`.
    Denied {
        endpoint: usize,
        keyed: bool,
        code: &'static str,
    },
    /// A key pushed straight to an instance: no tunnel follows.
    Direct,
    SerialConsole,
}

/// The records of one activity, and what they name that the truth lists.
#[derive(Debug, Clone, Default)]
struct Written {
    records: Vec<String>,
    /// Who made the calls.
    user: &'static str,
    /// The key pushed, if one was.
    key: Option<Pushed>,
    /// The private address the tunnel asked for, if there is a tunnel.
    address: Option<String>,
}

#[derive(Debug, Clone)]
struct Pushed {
    instance: String,
    /// As written in `requestParameters.sSHPublicKey`.
    public_key: String,
    /// In milliseconds.
    time: i64,
}

#[derive(Debug)]
struct Endpoint {
    spec: EndpointSpec,
    stream: usize,
}

/// One log object to write: its key, the window its events fall in, and its records.
#[derive(Debug)]
struct ObjectPlan {
    path: String,
    stream: usize,
    window: (i64, i64),
    background: u64,
    /// Instance Connect records in it: (time in ms, record).
    events: Vec<(i64, String)>,
    /// Written as two concatenated gzip members, as some writers do.
    multi_member: bool,
    /// When CloudTrail delivered it (its name says so, to the minute), in milliseconds.
    delivered: i64,
}

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

/// Writes the archive under `dir/archive/` and its truth at `dir/truth.json`. `dir/archive` must
/// not exist yet or be empty: the truth is only true of exactly what was written.
pub fn generate(spec: &Spec, dir: &Path) -> io::Result<Truth> {
    let archive = dir.join("archive");
    if archive.exists() && fs::read_dir(&archive)?.next().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is not empty: remove it first", archive.display()),
        ));
    }
    let mut plan = Plan::new(spec);
    plan.schedule()?;
    let objects = plan.objects();
    let written = objects
        .par_iter()
        .enumerate()
        .map(|(index, object)| plan.write_object(&archive, index as u64, object))
        .collect::<io::Result<Vec<(u64, Option<Delivered>)>>>()?;
    debug_assert_eq!(
        written.iter().map(|(records, _)| records).sum::<u64>(),
        objects.iter().map(|o| o.background + o.events.len() as u64).sum::<u64>()
    );
    // Per stream, the log objects the digests list.
    let mut listed: Vec<(usize, Delivered)> = objects
        .iter()
        .zip(written)
        .filter_map(|(object, (_, delivered))| Some((object.stream, delivered?)))
        .collect();
    let mut truth = plan.truth(&objects);
    let mut unlisted = Vec::new();
    if spec.extras {
        unlisted = plan.write_extras(&archive, &mut truth, &mut listed)?;
    }
    if spec.digests {
        plan.write_digests(&archive, &mut truth, listed, unlisted)?;
    }
    let mut file = fs::File::create(dir.join("truth.json"))?;
    serde_json::to_writer_pretty(&mut file, &truth)?;
    file.write_all(b"\n")?;
    Ok(truth)
}

struct Plan<'s> {
    spec: &'s Spec,
    rng: Rng,
    endpoints: Vec<Endpoint>,
    /// Per stream: (time in ms, activity, what was written for it).
    activities: Vec<Vec<(i64, Activity, Written)>>,
    serial: u64,
}

impl<'s> Plan<'s> {
    fn new(spec: &'s Spec) -> Self {
        let mut rng = Rng::new(spec.seed);
        let mut endpoints = Vec::new();
        for (stream, &(_, _, count)) in STREAMS.iter().enumerate() {
            for i in 0..count * spec.endpoint_scale.max(1) {
                let subnet = 1 + rng.below(200);
                let instances = (0..3)
                    .map(|_| {
                        (
                            format!("i-0{}", rng.hex(16)),
                            format!("10.{stream}.{subnet}.{}", 10 + rng.below(240)),
                        )
                    })
                    .collect();
                let vpc_endpoint = (stream == 0 && i == 0).then(|| format!("vpce-0{}", rng.hex(16)));
                endpoints.push(Endpoint {
                    spec: EndpointSpec { id: format!("eice-0{}", rng.hex(16)), vpc_endpoint, instances },
                    stream,
                });
            }
        }
        Plan { spec, rng, endpoints, activities: vec![Vec::new(); STREAMS.len()], serial: 0 }
    }

    fn span_ms(&self) -> (i64, i64) {
        let start = self.spec.start.start().millis();
        (start, start + i64::from(self.spec.days.max(1)) * 86_400_000)
    }

    /// Decides every Instance Connect activity, when it happens, and writes its records.
    fn schedule(&mut self) -> io::Result<()> {
        let (start, end) = self.span_ms();
        for stream in 0..STREAMS.len() {
            let mut todo = Vec::new();
            let here: Vec<usize> =
                (0..self.endpoints.len()).filter(|&e| self.endpoints[e].stream == stream).collect();
            for e in here {
                // A few more or fewer per endpoint, never fewer than four: every connection
                // field must be seen to change inside each endpoint.
                let n = (self.spec.connections as i64 + (e as i64 * 7 % 11) - 5).max(4) as u32;
                // Every tenth connection brings its own key: a tunnel with no key before it.
                todo.extend((0..n).map(|k| Activity::Connect { endpoint: e, k, keyed: k % 10 != 9 }));
                todo.push(Activity::Denied { endpoint: e, keyed: true, code: "AccessDenied" });
                todo.push(Activity::Denied { endpoint: e, keyed: false, code: "AccessDenied" });
                if e == 0 {
                    todo.push(Activity::Denied { endpoint: e, keyed: true, code: "ThrottlingException" });
                }
            }
            todo.extend([Activity::Direct, Activity::Direct]);
            if stream % 2 == 1 {
                todo.push(Activity::SerialConsole);
            }
            self.rng.shuffle(&mut todo);
            // Spread over the span, leaving the first and last minutes empty.
            let usable = (end - start) / 1_000 - 1_800;
            let gap = usable / (todo.len() as i64 + 1);
            if gap < MIN_GAP {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} connections per endpoint do not fit in {} days",
                        self.spec.connections, self.spec.days
                    ),
                ));
            }
            for (i, activity) in todo.into_iter().enumerate() {
                let second = start / 1_000
                    + 600
                    + (i as i64 + 1) * gap
                    + self.rng.below((gap - MIN_GAP) as u64) as i64;
                let written = self.records_of(stream, activity, second);
                self.activities[stream].push((second * 1_000, activity, written));
            }
        }
        Ok(())
    }

    /// The records of one activity whose last call is at `second`, in the order they happen,
    /// and what they name.
    fn records_of(&mut self, stream: usize, activity: Activity, second: i64) -> Written {
        let (account, region, _) = STREAMS[stream];
        let account = &ACCOUNTS[account];
        self.serial += 1;
        let serial = self.serial;
        let at = |s: i64| Timestamp(s * 1_000);
        let rng = &mut self.rng;
        let (user, instance, address, key_second) = match activity {
            Activity::Connect { endpoint, k, .. } => {
                let ep = &self.endpoints[endpoint].spec;
                let (instance, address) = &ep.instances[(k as usize / 2) % ep.instances.len()];
                // The key lands in the same second as the tunnel, or one second before it.
                (USERS[k as usize % USERS.len()], instance.clone(), Some(address), second - i64::from(k % 2))
            }
            Activity::Denied { endpoint, .. } => {
                let (instance, address) = &self.endpoints[endpoint].spec.instances[0];
                (CONTRACTOR, instance.clone(), Some(address), second)
            }
            Activity::Direct | Activity::SerialConsole => {
                (DIRECT_USER, format!("i-0{}", rng.hex(16)), None, second)
            }
        };
        let (keyed, error, endpoint) = match activity {
            Activity::Connect { endpoint, keyed, .. } => (keyed, None, Some(endpoint)),
            Activity::Denied { endpoint, keyed, code } => (keyed, Some(code), Some(endpoint)),
            Activity::Direct | Activity::SerialConsole => (true, None, None),
        };
        let mut written = Written { user, address: address.cloned(), ..Written::default() };
        if keyed {
            let call = Call { time: at(key_second), account, region, user, serial, error: None };
            let mut record = String::new();
            let serial_console = matches!(activity, Activity::SerialConsole);
            let public_key = records::send_key(&mut record, rng, &call, &instance, serial_console);
            written.records.push(record);
            written.key = Some(Pushed { instance, public_key, time: key_second * 1_000 });
        }
        if let (Some(endpoint), Some(address)) = (endpoint, address) {
            let call = Call { time: at(second), account, region, user, serial, error };
            let mut record = String::new();
            records::open_tunnel(&mut record, rng, &call, &self.endpoints[endpoint].spec, address);
            written.records.push(record);
        }
        written
    }

    /// The log objects of every stream, with the Instance Connect records placed in the object
    /// whose window holds their time. Objects are delivered a few minutes after their window
    /// closes, so the last one of a day sits in the next day's folder.
    fn objects(&mut self) -> Vec<ObjectPlan> {
        let (start, end) = self.span_ms();
        let streams = STREAMS.len() as u64;
        let mean = (self.spec.records / self.spec.objects.max(1)).max(1);
        let mut objects = Vec::new();
        for (stream, &(account, region, _)) in STREAMS.iter().enumerate() {
            let account = &ACCOUNTS[account];
            let count = (self.spec.objects / streams
                + u64::from((stream as u64) < self.spec.objects % streams))
            .max(1);
            let width = (end - start) / count as i64;
            let mut events: Vec<(i64, String)> = Vec::new();
            for (time, activity, Written { records, .. }) in &self.activities[stream] {
                let offset = match activity {
                    Activity::Connect { k, keyed: true, .. } => -i64::from(k % 2) * 1_000,
                    _ => 0,
                };
                // Keys come first (at `time + offset`), the tunnel last (at `time`).
                let last = records.len() - 1;
                for (i, record) in records.iter().enumerate() {
                    events.push((if i == last { *time } else { time + offset }, record.clone()));
                }
            }
            for j in 0..count {
                let window = (
                    start + j as i64 * width,
                    if j + 1 == count { end } else { start + (j as i64 + 1) * width },
                );
                let delivered = Timestamp(window.1 + 1_000 * self.rng.between(120, 600) as i64);
                let day = Day(delivered.millis().div_euclid(86_400_000));
                let (y, m, d) = day.ymd();
                let stamp = delivered.to_string();
                let compact: String = stamp[..16].chars().filter(|c| *c != '-' && *c != ':').collect();
                let prefix = match account.org {
                    Some(org) => format!("AWSLogs/{org}/{}", account.id),
                    None => format!("AWSLogs/{}", account.id),
                };
                let path = format!(
                    "{prefix}/CloudTrail/{region}/{y:04}/{m:02}/{d:02}/{}_CloudTrail_{region}_{compact}Z_{}.json.gz",
                    account.id,
                    self.rng.alnum(16)
                );
                let background = self.rng.between(mean / 2, mean + mean / 2).max(1);
                // Events are in time order: the window's are one run of them.
                let (first, end) = (
                    events.partition_point(|(t, _)| *t < window.0),
                    events.partition_point(|(t, _)| *t < window.1),
                );
                let in_window = events[first..end].to_vec();
                let multi_member = self.spec.extras && objects.len() % 97 == 13;
                objects.push(ObjectPlan {
                    path,
                    stream,
                    window,
                    background,
                    events: in_window,
                    multi_member,
                    delivered: delivered.millis(),
                });
            }
        }
        objects
    }

    /// Writes one object; returns its record count and, with digests, what they list of it.
    fn write_object(
        &self,
        archive: &Path,
        index: u64,
        object: &ObjectPlan,
    ) -> io::Result<(u64, Option<Delivered>)> {
        let (account, region, _) = STREAMS[object.stream];
        let account = &ACCOUNTS[account];
        let mut rng = Rng::fork(self.spec.seed, index + 1);
        let mut times: Vec<i64> = (0..object.background)
            .map(|_| object.window.0 + rng.below((object.window.1 - object.window.0) as u64) as i64)
            .collect();
        times.sort_unstable();
        let oldest =
            [times.first(), object.events.first().map(|(t, _)| t)].into_iter().flatten().min().copied();
        let newest =
            [times.last(), object.events.last().map(|(t, _)| t)].into_iter().flatten().max().copied();
        let mut body = String::with_capacity(object.background as usize * 1_600 + 64);
        body.push_str("{\"Records\":[");
        let mut events = object.events.iter().peekable();
        let mut first = true;
        let mut separate = |body: &mut String| {
            if !std::mem::take(&mut first) {
                body.push(',');
            }
        };
        for time in times {
            while let Some((_, record)) = events.next_if(|(t, _)| *t <= time) {
                separate(&mut body);
                body.push_str(record);
            }
            separate(&mut body);
            // Sub-second times, as busy trails have; Instance Connect records keep whole seconds.
            records::background(&mut body, &mut rng, account, region, Timestamp(time));
        }
        for (_, record) in events {
            separate(&mut body);
            body.push_str(record);
        }
        body.push_str("]}");
        let bytes = if object.multi_member {
            let middle = body.len() / 2;
            let mut bytes = gzip(&body.as_bytes()[..middle], self.spec.level)?;
            bytes.extend(gzip(&body.as_bytes()[middle..], self.spec.level)?);
            bytes
        } else {
            gzip(body.as_bytes(), self.spec.level)?
        };
        put(&archive.join(&object.path), &bytes)?;
        // What CloudTrail hashes is the uncompressed content: here all of it, both members of a
        // multi-member object included.
        let delivered = self.spec.digests.then(|| Delivered {
            key: object.path.clone(),
            at: object.delivered,
            sha256: Sha256::of(body.as_bytes()),
            events: oldest.zip(newest),
        });
        Ok((object.background + object.events.len() as u64, delivered))
    }

    /// The truth of the log objects; [`Plan::write_extras`] adds the extras to it.
    fn truth(&self, objects: &[ObjectPlan]) -> Truth {
        let mut endpoints: Vec<EndpointReport> = self
            .endpoints
            .iter()
            .map(|ep| {
                let (account, region, _) = STREAMS[ep.stream];
                EndpointReport {
                    id: EndpointId(ep.spec.id.clone()),
                    account: ACCOUNTS[account].id.to_owned(),
                    region: region.to_owned(),
                    connections: 0,
                    denied: 0,
                    denied_errors: BTreeMap::new(),
                    events: BTreeMap::new(),
                    connections_without_key: 0,
                    first_seen: None,
                    last_seen: None,
                }
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

        let connections: u64 = endpoints.iter().map(|e| e.connections).sum();
        let records: u64 = objects.iter().map(|o| o.background + o.events.len() as u64).sum();
        let instance_connect_events: u64 = events_by_day.values().sum();
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
        let event_names = vec![
            name_truth(OPEN_TUNNEL, records::OPEN_TUNNEL_FIELDS, &connections_per_endpoint),
            name_truth(SEND_SSH_PUBLIC_KEY, records::SEND_SSH_PUBLIC_KEY_FIELDS, &keyed_per_endpoint),
        ];
        let fields = [
            (OPEN_TUNNEL, records::OPEN_TUNNEL_FIELDS),
            (SEND_SSH_PUBLIC_KEY, records::SEND_SSH_PUBLIC_KEY_FIELDS),
        ]
        .into_iter()
        .flat_map(|(event_name, table)| {
            table.iter().map(move |&(path, varies)| FieldTruth {
                event_name,
                path,
                class: varies.class(),
                varies_with: varies.varies_with(),
            })
        })
        .collect();

        Truth {
            seed: self.spec.seed,
            connections: self.connections_truth(),
            summary: Summary {
                objects_listed: objects.len() as u64,
                objects_read: objects.len() as u64,
                objects_skipped: 0,
                skipped: Skipped::default(),
                objects_failed: 0,
                objects_archived: 0,
                archived_by_storage_class: Default::default(),
                requests_throttled: 0,
                records,
                instance_connect_events,
                duplicate_events: 0,
                conflicting_duplicates: 0,
                events_without_time: 0,
                events_out_of_range: 0,
                connections,
                denied_attempts: endpoints.iter().map(|e| e.denied).sum(),
                endpoints: endpoints.len() as u64,
                connections_without_key: endpoints.iter().map(|e| e.connections_without_key).sum(),
                tunnels_without_endpoint: 0,
                pair_window_seconds: 60,
            },
            endpoints,
            direct,
            event_names,
            fields,
            failures: Vec::new(),
            events_by_day,
            objects: objects.iter().map(|o| (o.path.clone(), o.background + o.events.len() as u64)).collect(),
            integrity: None,
        }
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

    /// What else a real trail bucket holds, beside the log objects: digests (three fake ones,
    /// unless real ones are written) and stray files (skipped), an Insights object and an
    /// uncompressed `.json.gz` (read), and objects that cannot be read, each broken in its own
    /// way. With digests, the uncompressed object joins `listed` (its content is what CloudTrail
    /// hashed); returns the log objects no digest lists.
    fn write_extras(
        &mut self,
        archive: &Path,
        truth: &mut Truth,
        listed: &mut Vec<(usize, Delivered)>,
    ) -> io::Result<Vec<String>> {
        let digests = self.spec.digests;
        let mut unlisted = Vec::new();
        let rng = &mut self.rng;
        let day = self.spec.start;
        let (y, m, d) = day.ymd();
        let folder = |account: &Account, service: &str, region: &str| match account.org {
            Some(org) => format!("AWSLogs/{org}/{}/{service}/{region}/{y:04}/{m:02}/{d:02}", account.id),
            None => format!("AWSLogs/{}/{service}/{region}/{y:04}/{m:02}/{d:02}", account.id),
        };
        let noon = day.start().millis() + 43_200_000;
        let background_log = |rng: &mut Rng, n: u64| {
            let mut body = String::from("{\"Records\":[");
            for i in 0..n {
                if i > 0 {
                    body.push(',');
                }
                records::background(
                    &mut body,
                    rng,
                    &ACCOUNTS[0],
                    "us-east-1",
                    Timestamp(noon + i as i64 * 1_000),
                );
            }
            body.push_str("]}");
            body
        };
        let readable = |path: String, bytes: Vec<u8>, records: u64, truth: &mut Truth| {
            truth.summary.objects_listed += 1;
            truth.summary.objects_read += 1;
            truth.summary.records += records;
            put(&archive.join(&path), &bytes)?;
            truth.objects.insert(path, records);
            Ok::<(), io::Error>(())
        };

        // Read: an Insights object, and a log someone decompressed but did not rename.
        let mut insights = String::from("{\"Records\":[");
        for i in 0..2 {
            if i > 0 {
                insights.push(',');
            }
            records::insight(&mut insights, rng, &ACCOUNTS[0], "us-east-1", Timestamp(noon + i * 60_000));
        }
        insights.push_str("]}");
        let dir = folder(&ACCOUNTS[0], "CloudTrail-Insight", "us-east-1");
        let name = format!(
            "{}_CloudTrail-Insight_us-east-1_{y:04}{m:02}{d:02}T1200Z_{}.json.gz",
            ACCOUNTS[0].id,
            rng.alnum(16)
        );
        unlisted.push(format!("{dir}/{name}"));
        readable(format!("{dir}/{name}"), gzip(insights.as_bytes(), 6)?, 2, truth)?;
        let dir = folder(&ACCOUNTS[0], "CloudTrail", "us-east-1");
        let plain = background_log(rng, 5);
        let name = format!(
            "{}_CloudTrail_us-east-1_{y:04}{m:02}{d:02}T1201Z_{}.json.gz",
            ACCOUNTS[0].id,
            rng.alnum(16)
        );
        if digests {
            // Stream 0 is the first account's us-east-1; delivered at 12:01 as its name says.
            listed.push((
                0,
                Delivered {
                    key: format!("{dir}/{name}"),
                    at: noon + 60_000,
                    sha256: Sha256::of(plain.as_bytes()),
                    events: Some((noon, noon + 4_000)),
                },
            ));
        }
        readable(format!("{dir}/{name}"), plain.into_bytes(), 5, truth)?;

        // Skipped: digests (fake ones, unless real ones are written), and files that are not logs.
        let fake_digests: &[Account] = if digests { &[] } else { &ACCOUNTS };
        for account in fake_digests {
            let dir = folder(account, "CloudTrail-Digest", "us-east-1");
            let name = format!(
                "{}_CloudTrail-Digest_us-east-1_management_us-east-1_{y:04}{m:02}{d:02}T0000Z.json.gz",
                account.id
            );
            let digest = format!(
                r#"{{"awsAccountId":"{}","digestStartTime":"{day}T00:00:00Z","digestEndTime":"{day}T01:00:00Z","digestS3Bucket":"trail-bucket","logFiles":[]}}"#,
                account.id
            );
            put(&archive.join(dir).join(name), &gzip(digest.as_bytes(), 6)?)?;
            truth.summary.objects_listed += 1;
            truth.summary.skipped.digest += 1;
        }
        for (path, text) in [
            ("README.txt", "Exported from s3://trail-bucket for the audit.\n"),
            ("AWSLogs/111122223333/CloudTrail/us-east-1/manifest.csv", "key,size\n"),
        ] {
            put(&archive.join(path), text.as_bytes())?;
            truth.summary.objects_listed += 1;
            truth.summary.skipped.other += 1;
        }
        truth.summary.objects_skipped = truth.summary.skipped.total();

        // Unreadable, each in its own way; none of them holds an Instance Connect event.
        let dir = folder(&ACCOUNTS[1], "CloudTrail", "ap-northeast-1");
        let log = background_log(rng, 8);
        let compressed = gzip(log.as_bytes(), 6)?;
        let mut flipped = compressed.clone();
        let middle = flipped.len() / 2;
        for byte in &mut flipped[middle..middle + 16] {
            *byte ^= 0x55;
        }
        let mut noise = vec![0u8; 512];
        noise.iter_mut().for_each(|b| *b = rng.below(256) as u8);
        noise[0] = b'Z';
        let broken: [(&str, Vec<u8>, &'static str); 6] = [
            ("truncated", compressed[..compressed.len() / 2].to_vec(), "truncated gzip"),
            ("corrupt", flipped, "gzip"),
            ("empty", Vec::new(), "empty object"),
            ("noise", noise, "neither gzip nor JSON"),
            ("cut-json", gzip(&log.as_bytes()[..log.len() / 3], 6)?, "invalid JSON"),
            ("other-shape", gzip(br#"{"logFiles":[{"s3Object":"x"}]}"#, 6)?, "neither a \"Records\""),
        ];
        for (what, bytes, reason) in broken {
            let name = format!(
                "{}_CloudTrail_ap-northeast-1_{y:04}{m:02}{d:02}T0905Z_{what}.json.gz",
                ACCOUNTS[1].id
            );
            let path = format!("{dir}/{name}");
            put(&archive.join(&path), &bytes)?;
            truth.summary.objects_listed += 1;
            truth.summary.objects_failed += 1;
            unlisted.push(path.clone());
            truth.failures.push(FailureTruth { object: path, reason_contains: reason });
        }
        truth.failures.sort_by(|a, b| a.object.cmp(&b.object));
        unlisted.sort();
        Ok(unlisted)
    }

    /// Writes each stream's chain of digests (in parallel: the chains are independent, and each
    /// draws from its own random stream) and what verification must find into the truth. The
    /// digests and their sidecars are skipped objects for a report without verification.
    fn write_digests(
        &self,
        archive: &Path,
        truth: &mut Truth,
        listed: Vec<(usize, Delivered)>,
        unlisted: Vec<String>,
    ) -> io::Result<()> {
        let (from, until) = self.span_ms();
        let chains: Vec<Chain> = STREAMS
            .iter()
            .enumerate()
            .map(|(stream, &(account, region, _))| Chain {
                index: stream as u64,
                account: ACCOUNTS[account].id,
                org: ACCOUNTS[account].org,
                region,
                from,
                until,
                logs: listed.iter().filter(|(s, _)| *s == stream).map(|(_, d)| d.clone()).collect(),
            })
            .collect();
        let written = chains
            .par_iter()
            .map(|chain| digest::write_chain(archive, self.spec.seed, chain))
            .collect::<io::Result<Vec<_>>>()?;
        let mut streams: Vec<StreamTruth> = chains
            .iter()
            .zip(&written)
            .map(|(chain, written)| StreamTruth {
                account: chain.account.to_owned(),
                region: chain.region.to_owned(),
                trail: digest::TRAIL.to_owned(),
                digests: written.digests.len() as u64,
                log_files: written.log_files,
                from: written.from.to_string(),
                to: written.to.to_string(),
            })
            .collect();
        streams.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
        let digests: u64 = streams.iter().map(|s| s.digests).sum();
        // A digest and its sidecar, both under `CloudTrail-Digest/`.
        truth.summary.objects_listed += 2 * digests;
        truth.summary.skipped.digest += 2 * digests;
        truth.summary.objects_skipped = truth.summary.skipped.total();
        truth.integrity = Some(IntegrityTruth {
            digests,
            log_files: streams.iter().map(|s| s.log_files).sum(),
            public_keys: digest::TEST_PUBLIC_KEYS_PATH,
            streams,
            unlisted,
        });
        Ok(())
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

fn gzip(bytes: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 6), Compression::new(level));
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn put(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, bytes)
}

/// One log object's body in memory, for benchmarks of single stages: `records` records of other
/// services and `connections` connections (a key, then a tunnel) spread among them.
pub fn log_body(seed: u64, records: u64, connections: u64) -> String {
    let mut rng = Rng::new(seed);
    let account = &ACCOUNTS[0];
    let endpoints: Vec<EndpointSpec> = (0..4)
        .map(|_| EndpointSpec {
            id: format!("eice-0{}", rng.hex(16)),
            vpc_endpoint: None,
            instances: vec![(format!("i-0{}", rng.hex(16)), format!("10.0.1.{}", 10 + rng.below(240)))],
        })
        .collect();
    let start = Spec::testdata().start.start().millis() / 1_000;
    let every = (records / connections.max(1)).max(1);
    let mut body = String::from("{\"Records\":[");
    let mut connection = 0;
    for i in 0..records.max(connections) {
        if i > 0 {
            body.push(',');
        }
        if i % every == 0 && connection < connections {
            let (k, second) = (connection, start + connection as i64 * MIN_GAP);
            let endpoint = &endpoints[k as usize % endpoints.len()];
            let user = USERS[k as usize % USERS.len()];
            let call = Call {
                time: Timestamp(second * 1_000),
                account,
                region: "us-east-1",
                user,
                serial: k,
                error: None,
            };
            records::send_key(&mut body, &mut rng, &call, &endpoint.instances[0].0, false);
            body.push(',');
            records::open_tunnel(&mut body, &mut rng, &call, endpoint, &endpoint.instances[0].1);
            connection += 1;
            continue;
        }
        records::background(&mut body, &mut rng, account, "us-east-1", Timestamp((start + i as i64) * 1_000));
    }
    body.push_str("]}");
    body
}
