//! The report: one struct that every output format renders and that `--format json` serializes,
//! so the JSON schema is this type. Version it when a field changes meaning or goes away. It reads
//! back too (`Deserialize`): `--redact` redacts it as one value, so every type in it must.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::error::{ArchivedObject, ObjectError};
use crate::event::EndpointId;
use crate::source::Skipped;
use crate::verify::Integrity;

/// 2: every endpoint has its life (`name` … `lifecycle_denied`), endpoints known only from their
/// lifecycle calls are listed, and the summary counts `lifecycle_events` and `lifecycle_denied`.
pub(crate) const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub summary: Summary,
    /// What to look at first: the findings of the rules (docs/findings.md), most severe first.
    /// Those a `--suppress` entry accepts are in `suppressed` instead, never in both.
    pub findings: Vec<Finding>,
    /// Findings a `--suppress` entry accepts, each with the entry's reason: listed apart, never
    /// dropped, and never a cause of `--fail-on`.
    pub suppressed: Vec<SuppressedFinding>,
    pub endpoints: Vec<EndpointReport>,
    pub direct: DirectUse,
    /// Event names seen from Instance Connect that are neither tunnels nor keys, with counts.
    pub other_events: BTreeMap<String, u64>,
    /// Per analyzed event name: how much evidence the field classes rest on.
    pub event_names: Vec<EventNameReport>,
    pub fields: Vec<FieldReport>,
    /// A few copies of an event that differ from the copy analyzed (an edited copy); all of them
    /// are counted in `summary.conflicting_duplicates`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    pub failures: Vec<ObjectError>,
    /// The unreadable objects counted by reason (`cannot download: AccessDenied`, `invalid
    /// JSON`): what the human formats group them by.
    pub failure_reasons: BTreeMap<String, u64>,
    /// Objects in archive storage classes, not read: restore them (`--restore-manifest`) and run
    /// again.
    pub archived: Vec<ArchivedObject>,
    /// With `--verify`: whether the archive is whole and unmodified, by CloudTrail's digests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
    /// When each endpoint's tunnels happened, for charts; not part of the JSON schema (so
    /// `redact` redacts it apart from the rest).
    #[serde(skip)]
    pub timeline: Vec<EndpointTimes>,
    /// With `--state`, from the second report on: what changed since the previous report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// With `--state`: what this run read itself and what it took from DIR. The only part of a
    /// report with `--state` that a run without it does not have, apart from `changes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateSummary>,
}

/// How much a finding asks for attention. Ordered: `Low < Medium < High`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    /// The word every format uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Something a rule says to look at, with the events that prove it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable across runs and shards: a hash of the rule and the first evidence's `eventID`
    /// (the OCSF `finding_info.uid` too).
    pub id: String,
    /// The rule's id (`tunnel-unusual-port`, …).
    pub rule: String,
    pub severity: Severity,
    /// What happened, for a person.
    pub title: String,
    /// Of the first evidence event: `recipientAccountId`, else `userIdentity.accountId`.
    pub account: Option<String>,
    pub region: Option<String>,
    /// The endpoint the evidence's tunnels went through, when they name one and the same one.
    pub endpoint: Option<String>,
    /// `userIdentity.arn` of the evidence, as `--principal` matches it.
    pub principal: Option<String>,
    /// The instances the evidence's keys were pushed to, sorted.
    pub instances: Vec<String>,
    /// The port of a tunnel's finding (`requestParameters.remotePort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// `eventTime` of the first and last evidence event.
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub event_count: u64,
    /// The evidence's `eventID`s, in time order.
    pub event_ids: Vec<String>,
}

/// A finding a `--suppress` entry accepts, with the entry's reason and expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressedFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
    /// The last day the entry holds (YYYY-MM-DD), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// What changed since the previous report kept in `--state DIR`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Endpoints with a first event in this report.
    pub new_endpoints: Vec<String>,
    /// Endpoints whose creation is in this report and was not in the previous one.
    #[serde(default)]
    pub endpoints_created: Vec<String>,
    /// Endpoints with a modification or rename the previous report did not have.
    #[serde(default)]
    pub endpoints_modified: Vec<String>,
    /// Endpoints whose deletion is in this report and was not in the previous one.
    #[serde(default)]
    pub endpoints_deleted: Vec<String>,
    /// ARNs whose first successful connection is in this report.
    pub new_principals: Vec<String>,
    /// Instance ids and private IP addresses a successful connection first reached.
    pub new_instances: Vec<String>,
    /// Fields whose class or `varies_with` is not what it was (or that appeared or went).
    pub fields_changed: Vec<FieldChange>,
    /// Successful connections the previous report did not count, as `trailscope connections`
    /// lists them (the same row, the same order).
    pub connections: Vec<crate::row::Row>,
    /// Denied attempts the previous report did not count, likewise.
    pub denied_attempts: Vec<crate::row::Row>,
    /// Ids of the findings (suppressed or not) the previous report did not have: what
    /// `--fail-on` looks at with `--state`.
    #[serde(default)]
    pub new_findings: Vec<String>,
}

impl Changes {
    /// Nothing new and nothing different: `--fail-on-change` passes.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub event_name: String,
    pub path: String,
    /// `None`: the field was not in the previous report (or is not in this one, for `after`).
    pub before: Option<FieldShape>,
    pub after: Option<FieldShape>,
}

/// A field's classification, as `changes` compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldShape {
    pub class: FieldClass,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub varies_with: Option<VariesWith>,
}

/// The times (milliseconds since the epoch) of one endpoint's tunnels with a readable time.
#[derive(Debug, Clone, Default)]
pub struct EndpointTimes {
    pub id: EndpointId,
    /// Successful tunnels, in time order.
    pub connections: Vec<i64>,
    /// Denied attempts and their error codes, in time order.
    pub denied: Vec<(i64, String)>,
    /// When the endpoint was created and deleted, if the archive says.
    pub created: Option<i64>,
    pub deleted: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Files or keys the listing returned (after pruning by `--from/--to/--account/--region`).
    pub objects_listed: u64,
    pub objects_read: u64,
    pub objects_skipped: u64,
    pub skipped: Skipped,
    pub objects_failed: u64,
    /// Objects in an archive storage class (`GLACIER`, `DEEP_ARCHIVE`, an Intelligent-Tiering
    /// archive tier): listed, not read. The run is incomplete until they are restored.
    pub objects_archived: u64,
    /// `objects_archived` by storage class.
    pub archived_by_storage_class: BTreeMap<String, u64>,
    /// S3 requests answered `503 SlowDown` (or another 503) and retried, slower.
    pub requests_throttled: u64,
    /// S3 (and CloudTrail) requests sent again after a connection that broke, stalled or timed
    /// out, or another failed answer than a 503: throttling apart. (Absent from reports of older
    /// writers, which `--state` keeps.)
    #[serde(default)]
    pub requests_retried: u64,
    /// CloudTrail LookupEvents requests (event history, `cloudtrail://`) answered
    /// `ThrottlingException` and asked again, more slowly. Only when event history was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_requests_throttled: Option<u64>,
    /// Every record of every readable object, Instance Connect or not.
    pub records: u64,
    /// Distinct Instance Connect events: copies delivered more than once count once.
    pub instance_connect_events: u64,
    /// Copies of an event already counted (same `eventID` and `recipientAccountId`, same
    /// content), dropped: two trails delivering the same events, or a file read twice. Copies of
    /// lifecycle events count here too.
    pub duplicate_events: u64,
    /// Copies that share an `eventID` with a counted event but differ in content: an edited copy.
    /// Dropped from the analysis too, and listed in `conflicts`.
    pub conflicting_duplicates: u64,
    /// Distinct Instance Connect events whose `eventTime` could not be read: they cannot be
    /// paired or placed in time.
    pub events_without_time: u64,
    /// Instance Connect events read but outside `--from`..`--to`, left out of everything below.
    pub events_out_of_range: u64,
    /// Successful `OpenTunnel` calls (including those of unknown endpoint).
    pub connections: u64,
    /// `OpenTunnel` calls that failed (`errorCode` set).
    pub denied_attempts: u64,
    pub endpoints: u64,
    /// Successful tunnels no `SendSSHPublicKey` paired with (the user brought their own key).
    pub connections_without_key: u64,
    /// `OpenTunnel` calls naming no endpoint, neither in the request nor in `resources`.
    pub tunnels_without_endpoint: u64,
    /// Distinct lifecycle calls of `ec2.amazonaws.com` read (endpoints created, modified,
    /// deleted, tagged), failed ones included, dry runs not: never Instance Connect events.
    #[serde(default)]
    pub lifecycle_events: u64,
    /// Lifecycle calls that failed (`errorCode`), which changed nothing; `denied_attempts` is
    /// tunnels only.
    #[serde(default)]
    pub lifecycle_denied: u64,
    /// The pairing window after a key, in seconds (`--pair-window`).
    pub pair_window_seconds: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointReport {
    pub id: EndpointId,
    pub account: String,
    pub region: String,
    /// Successful tunnels through this endpoint.
    pub connections: u64,
    /// Failed tunnel attempts, and their error codes.
    pub denied: u64,
    pub denied_errors: BTreeMap<String, u64>,
    /// Events attributed to the endpoint: its tunnels (successful or not) and the keys paired
    /// with them.
    pub events: BTreeMap<String, u64>,
    pub connections_without_key: u64,
    /// Of the endpoint's tunnels and keys: `null` for an endpoint never used.
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    #[serde(flatten)]
    pub life: EndpointLife,
}

impl EndpointReport {
    /// An endpoint no tunnel used: its place and its life, every count zero.
    pub fn unused(id: EndpointId, account: String, region: String, life: EndpointLife) -> EndpointReport {
        EndpointReport {
            id,
            account,
            region,
            connections: 0,
            denied: 0,
            denied_errors: BTreeMap::new(),
            events: BTreeMap::new(),
            connections_without_key: 0,
            first_seen: None,
            last_seen: None,
            life,
        }
    }
}

/// An endpoint's life, from its lifecycle calls: each field as it stands after the last call
/// read, `null` where none says (an endpoint created before the archive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointLife {
    /// Its `Name` tag.
    pub name: Option<String>,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    /// Sorted.
    pub security_group_ids: Option<Vec<String>>,
    pub preserve_client_ip: Option<bool>,
    pub ip_address_type: Option<String>,
    /// Its successful `CreateInstanceConnectEndpoint`; `null`: before the archive.
    pub created: Option<LifecycleMark>,
    /// Its successful `DeleteInstanceConnectEndpoint`; `null`: not deleted as far as the archive
    /// says.
    pub deleted: Option<LifecycleMark>,
    /// Successful `ModifyInstanceConnectEndpoint` (what it asked for: EC2 applies it later) and
    /// renames (`CreateTags`/`DeleteTags` of its `Name`), in time order.
    pub modifications: Vec<Modification>,
    /// Failed lifecycle calls naming the endpoint.
    pub lifecycle_denied: u64,
}

/// One lifecycle call: when, by whom (`userIdentity.arn`), which event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleMark {
    pub time: Option<String>,
    pub principal: Option<String>,
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modification {
    #[serde(flatten)]
    pub mark: LifecycleMark,
    /// The fields of [`EndpointLife`] it set, by their JSON names.
    pub changed: Vec<String>,
}

/// Instance Connect used without an endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DirectUse {
    /// Keys pushed with no tunnel of the same principal, account and region in the window.
    #[serde(rename = "SendSSHPublicKey")]
    pub ssh_keys: u64,
    /// Serial console keys: never through an endpoint.
    #[serde(rename = "SendSerialConsoleSSHPublicKey")]
    pub serial_console_keys: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventNameReport {
    pub event_name: String,
    /// Successful events of this name attributed to an endpoint: what the field analysis reads.
    pub events: u64,
    pub endpoints: u64,
    /// Endpoints with two or more events: only there can a field that changes with every
    /// connection be told apart from one that changes with the endpoint.
    pub endpoints_with_multiple_events: u64,
    pub fields_constant: u64,
    pub fields_endpoint: u64,
    pub fields_connection: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldClass {
    /// One value across all events.
    Constant,
    /// Several values overall, exactly one within each endpoint.
    Endpoint,
    /// Some endpoint has several values.
    Connection,
}

/// The coarsest grouping inside which a field that changes has one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariesWith {
    /// One value per account (the endpoint's account): it differs only between accounts.
    Account,
    /// One value per account and region.
    Region,
    /// One value per endpoint, and endpoints of one account and region differ.
    Endpoint,
    /// One value per caller (`userIdentity.arn`), whatever the endpoint.
    Principal,
    /// None of the above: it changes from one connection to the next.
    Connection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldReport {
    pub event_name: String,
    pub path: String,
    pub class: FieldClass,
    /// What the field's changes follow; absent for constant fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub varies_with: Option<VariesWith>,
    /// Events of this name analyzed (the path may be missing from some).
    pub events: u64,
    /// Distinct values overall; "missing" counts as one.
    pub distinct: u64,
    /// Endpoints in which the field takes more than one value.
    pub endpoints_varying: u64,
    /// The value, for a constant field.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub value: Option<Box<RawValue>>,
    /// Each endpoint's value, for a field that changes with the endpoint (endpoints where the
    /// path is missing are in `missing_in` instead).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<EndpointId, Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_in: Vec<EndpointId>,
}

/// A value read back is there, `null` included: `null` is a value a constant field can have.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// Where a record was read: the object, and the record's position in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordPlace {
    pub object: String,
    pub record: u32,
}

/// An event whose copies disagree: the copy analyzed (read first) and one that differs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conflict {
    pub event_id: Option<String>,
    pub kept: RecordPlace,
    pub conflicting: RecordPlace,
}

/// What a run with `--state` did, for the report's `state` block.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateSummary {
    /// Objects fetched and read by this run.
    pub objects_read_now: u64,
    /// Objects listed unchanged since an earlier run read them: taken from DIR, not fetched.
    pub objects_from_state: u64,
    /// Objects read before whose size or ETag (or modification time) changed: read again. A
    /// CloudTrail log file never changes after delivery: each is warned about.
    pub objects_changed: Vec<String>,
}
