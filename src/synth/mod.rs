//! Synthetic CloudTrail archives, deterministic from a seed, for tests and benchmarks: laid out
//! as S3 delivers them, with Instance Connect connections scheduled so that what the report must
//! say is known in advance, and written beside the archive as its ground truth (`truth.json`).
//!
//! The truth comes from the plan, never from reading the archive back: counts from the
//! activities scheduled, field classes from the tables beside the record templates, and what
//! verification against the digests must find from what was listed in them.
//!
//! [`generate`] runs the steps in order, each in its own part: the `schedule` of endpoints and
//! activities (their records from the templates of `records`), the log `objects` cut from it, the
//! `truth` of both, then the `extras` a real bucket holds and its [`digest`]s. Every
//! random choice comes from one [`Rng`] (or a fork of it per object), in a fixed order.

pub mod digest;
mod extras;
mod findings;
mod lifecycle;
mod objects;
mod records;
mod rng;
mod schedule;
mod truth;

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use rayon::prelude::*;

use crate::time::{Day, Timestamp};
use digest::Delivered;
pub use findings::FindingTruth;
use records::{Account, Call, EndpointSpec, USERS};
pub use rng::Rng;
pub use truth::{ConnectionTruth, FailureTruth, FieldTruth, IntegrityTruth, StreamTruth, Truth};

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
    /// Add the endpoints' lifecycle scenario (`lifecycle.rs`): endpoints created, modified,
    /// renamed, deleted, never used. Off for the benchmark archives, which stay as they were.
    pub lifecycle: bool,
    /// Inject what each finding rule must find, in the last hours of the span (`synth::findings`),
    /// and list the findings in the truth.
    pub findings: bool,
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
            lifecycle: true,
            findings: true,
        }
    }

    /// The benchmark archive: 3,500 log objects, 500,394 records: 104 MB gzipped, 870 MB of JSON.
    pub fn bench() -> Spec {
        Spec {
            objects: 3_500,
            records: 500_000,
            connections: 30,
            extras: false,
            lifecycle: false,
            findings: false,
            ..Spec::testdata()
        }
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
            lifecycle: false,
            findings: false,
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
            lifecycle: false,
            findings: false,
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
    let mut lives = plan.lifecycle();
    plan.lifetime_evidence(&lives);
    let objects = plan.objects(std::mem::take(&mut lives.records));
    let written = objects
        .par_iter()
        .enumerate()
        .map(|(index, object)| plan.write_object(&archive, index as u64, object))
        .collect::<io::Result<Vec<objects::WrittenObject>>>()?;
    debug_assert_eq!(
        written.iter().map(|w| w.records).sum::<u64>(),
        objects.iter().map(|o| o.background + o.events.len() as u64).sum::<u64>()
    );
    // The endpoints background records created, by the stream of their object.
    for (object, written) in objects.iter().zip(&written) {
        for created in &written.created {
            let (id, life) = lifecycle::background_endpoint(created, object.stream);
            lives.lives.insert(id, life);
            lives.events += 1;
        }
    }
    // Per stream, the log objects the digests list.
    let mut listed: Vec<(usize, Delivered)> = objects
        .iter()
        .zip(written)
        .filter_map(|(object, written)| Some((object.stream, written.delivered?)))
        .collect();
    let mut truth = plan.truth(&objects);
    let mut unlisted = Vec::new();
    if spec.extras {
        unlisted = plan.write_extras(&archive, &mut truth, &mut listed, &mut lives)?;
    }
    lifecycle::add_to_truth(&mut truth, lives);
    if spec.digests {
        plan.write_digests(&archive, &mut truth, listed, unlisted)?;
    }
    let mut file = fs::File::create(dir.join("truth.json"))?;
    serde_json::to_writer_pretty(&mut file, &truth)?;
    file.write_all(b"\n")?;
    Ok(truth)
}

/// What the archive holds, decided before anything is written: the endpoints, and every
/// activity of every stream with its records.
struct Plan<'s> {
    spec: &'s Spec,
    rng: Rng,
    endpoints: Vec<Endpoint>,
    /// Per stream: (time in ms, activity, what was written for it).
    activities: Vec<Vec<(i64, Activity, Written)>>,
    serial: u64,
    /// With `Spec::findings`: what the rules must find.
    findings: Vec<FindingTruth>,
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
        let time = Timestamp((start + i as i64) * 1_000);
        let _ = records::background(&mut body, &mut rng, account, "us-east-1", time, true);
    }
    body.push_str("]}");
    body
}
