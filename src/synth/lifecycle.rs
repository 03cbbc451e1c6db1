//! The endpoints' own lives (issue 31): `ec2.amazonaws.com` calls that create, modify, rename and
//! delete endpoints, written into the committed test archive only (`Spec::lifecycle`), so that
//! the benchmark archives stay as they were. What each endpoint's life must read as is decided
//! here, beside the records written from it, and becomes the truth of its `endpoints[]` entry.
//!
//! The scenario, with the endpoints in plan order (`e0`, `e1` in the first account's us-east-1,
//! `e2` in eu-west-1, `e3`, `e4` in the other accounts):
//! - `e0` created in the archive's first minutes (one security group, one tag: the forms of a list
//!   of one), its groups modified to two, renamed by a `CreateTags` that names an instance too,
//!   and a `DeleteInstanceConnectEndpoint` refused (`Client.UnauthorizedOperation`);
//! - `e1` older than the archive, named by a `CreateTags`;
//! - `e2` created (lists of two: groups and tags) and deleted after its last tunnel;
//! - `e3` older than the archive and untouched: nothing known but its id;
//! - `e4` older than the archive: `PreserveClientIp` modified, its `Name` deleted;
//! - two endpoints of an account with no tunnels: one created and never used, one created and
//!   deleted within hours;
//! - in another account, a create refused and a dry run (a permission check, left out).
//!
//! Background records (`records::background`) create endpoints too, in every preset: those are
//! added to the truth from what `background` says it wrote ([`background_endpoint`]).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::records::{principal_arn, Account, BackgroundEndpoint};
use super::truth::Truth;
use super::{Plan, Rng, ACCOUNTS, STREAMS};
use crate::event::EndpointId;
use crate::report::{EndpointLife, EndpointReport, LifecycleMark, Modification};
use crate::time::{Timestamp, DAY, HOUR, MINUTE};

/// How long before the span's end `e2` is deleted: `synth::findings` opens a tunnel through it
/// after that.
pub(super) const E2_DELETED_BEFORE_END: i64 = 15 * MINUTE;

/// Who manages the endpoints (a user of the `EC2Admin` role), and who is refused.
const NETADMIN: &str = "netadmin";
const REFUSED: &str = "contractor";
const AGENT: &str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.create-instance-connect-endpoint";

/// The lifecycle records scheduled, per stream, and each endpoint's life as they make it.
#[derive(Debug, Default)]
pub(super) struct Lives {
    /// Per stream: (time in ms, record).
    pub(super) records: Vec<Vec<(i64, String)>>,
    /// By endpoint id: its life, and for an endpoint no tunnel uses, its stream.
    pub(super) lives: BTreeMap<String, (EndpointLife, Option<usize>)>,
    /// Records written, dry runs left out.
    pub(super) events: u64,
    pub(super) denied: u64,
}

/// One call about to be written: who, when, where.
struct Call<'a> {
    account: &'a Account,
    region: &'a str,
    user: &'a str,
    time: Timestamp,
}

impl Lives {
    fn life(&mut self, id: &str, stream: Option<usize>) -> &mut EndpointLife {
        &mut self.lives.entry(id.to_owned()).or_insert_with(|| (EndpointLife::default(), stream)).0
    }

    fn push(&mut self, stream: usize, time: Timestamp, record: String) {
        self.records[stream].push((time.millis(), record));
    }
}

/// A security group or subnet or VPC id of the scenario, from its random part.
fn id(rng: &mut Rng, kind: &str) -> String {
    format!("{kind}-0{}", rng.hex(16))
}

fn mark(call: &Call<'_>, event_id: &str) -> LifecycleMark {
    LifecycleMark {
        time: Some(call.time.to_string()),
        principal: Some(principal_arn(call.account, call.user)),
        event_id: Some(event_id.to_owned()),
    }
}

/// The start of a record of `name` up to its `requestParameters`, and with `error` its code.
fn head(out: &mut String, rng: &mut Rng, call: &Call<'_>, name: &str, error: Option<(&str, &str)>) {
    let Call { account, region, user, time } = call;
    let acct = account.id;
    let _ = write!(
        out,
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","principalId":"{role}:{user}","arn":"{arn}","accountId":"{acct}","accessKeyId":"ASIA{key}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"{role}","arn":"arn:aws:iam::{acct}:role/EC2Admin","accountId":"{acct}","userName":"EC2Admin"}},"attributes":{{"creationDate":"{time}","mfaAuthenticated":"true"}}}}}},"eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"203.0.113.{ip}","userAgent":"{AGENT}","#,
        role = account.role_id,
        arn = principal_arn(account, user),
        key = rng.alnum(16),
        ip = 1 + rng.below(250),
    );
    if let Some((code, message)) = error {
        let _ = write!(out, r#""errorCode":"{code}","errorMessage":"{message}","#);
    }
}

/// The rest of a record after its `responseElements`; returns its `eventID`.
fn tail(out: &mut String, rng: &mut Rng, call: &Call<'_>) -> String {
    let (rid, eid) = (rng.uuid(), rng.uuid());
    let _ = write!(
        out,
        r#""requestID":"{rid}","eventID":"{eid}","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{acct}","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2.{region}.amazonaws.com"}}}}"#,
        acct = call.account.id,
        region = call.region,
    );
    eid
}

/// A value of EC2's XML answer rendered as JSON: one element alone, more in a list.
fn items(values: &[String]) -> String {
    match values {
        [one] => format!(r#"{{"item":{one}}}"#),
        many => format!(r#"{{"item":[{}]}}"#, many.join(",")),
    }
}

/// A request's list as CloudTrail writes EC2's newer APIs: one `{"content", "tag"}` alone, more
/// in a list.
fn contents(values: &[String]) -> String {
    let each: Vec<String> =
        values.iter().enumerate().map(|(i, v)| format!(r#"{{"content":"{v}","tag":{}}}"#, i + 1)).collect();
    match each.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(",")),
    }
}

/// What a `CreateInstanceConnectEndpoint` asks for.
struct Create {
    subnet: String,
    vpc: String,
    zone: String,
    groups: Vec<String>,
    preserve: bool,
    ip_type: &'static str,
    tags: Vec<(&'static str, &'static str)>,
}

impl Create {
    fn new(rng: &mut Rng, region: &str, groups: usize, preserve: bool, ip_type: &'static str) -> Create {
        Create {
            subnet: id(rng, "subnet"),
            vpc: id(rng, "vpc"),
            zone: format!("{region}a"),
            groups: (0..groups).map(|_| id(rng, "sg")).collect(),
            preserve,
            ip_type,
            tags: Vec::new(),
        }
    }

    /// Writes the call (refused with `error`) and returns its `eventID`; `id` is the endpoint
    /// EC2 answers with when it succeeds.
    fn write(
        &self,
        out: &mut String,
        rng: &mut Rng,
        call: &Call<'_>,
        id: &str,
        error: Option<(&str, &str)>,
    ) -> String {
        head(out, rng, call, "CreateInstanceConnectEndpoint", error);
        let tags: Vec<String> = self
            .tags
            .iter()
            .enumerate()
            .map(|(i, (k, v))| format!(r#"{{"Key":"{k}","tag":{},"Value":"{v}"}}"#, i + 1))
            .collect();
        let spec = match tags.as_slice() {
            [] => String::new(),
            [one] => format!(
                r#","TagSpecification":{{"ResourceType":"instance-connect-endpoint","tag":1,"Tag":{one}}}"#
            ),
            many => format!(
                r#","TagSpecification":{{"ResourceType":"instance-connect-endpoint","tag":1,"Tag":[{}]}}"#,
                many.join(",")
            ),
        };
        let dry = if matches!(error, Some((code, _)) if code.ends_with("DryRunOperation")) {
            r#""DryRun":true,"#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#""requestParameters":{{"CreateInstanceConnectEndpointRequest":{{{dry}"SubnetId":"{subnet}","SecurityGroupId":{groups},"PreserveClientIp":{preserve},"IpAddressType":"{ip}","ClientToken":"{token}"{spec}}}}},"#,
            subnet = self.subnet,
            groups = contents(&self.groups),
            preserve = self.preserve,
            ip = self.ip_type,
            token = rng.uuid(),
        );
        if error.is_some() {
            out.push_str(r#""responseElements":null,"#);
        } else {
            let (acct, region) = (call.account.id, call.region);
            let groups: Vec<String> = self.groups.iter().map(|g| format!("\"{g}\"")).collect();
            let tags: Vec<String> =
                self.tags.iter().map(|(k, v)| format!(r#"{{"key":"{k}","value":"{v}"}}"#)).collect();
            let tag_set =
                if tags.is_empty() { String::new() } else { format!(r#","tagSet":{}"#, items(&tags)) };
            let _ = write!(
                out,
                r#""responseElements":{{"CreateInstanceConnectEndpointResponse":{{"xmlns":"http://ec2.amazonaws.com/doc/2016-11-15/","requestId":"{rid}","instanceConnectEndpoint":{{"ownerId":"{acct}","instanceConnectEndpointId":"{id}","instanceConnectEndpointArn":"arn:aws:ec2:{region}:{acct}:instance-connect-endpoint/{id}","state":"create-in-progress","dnsName":"{id}.{h}.ec2-instance-connect-endpoint.{region}.amazonaws.com","networkInterfaceIdSet":"","vpcId":"{vpc}","availabilityZone":"{zone}","createdAt":"{time}","subnetId":"{subnet}","preserveClientIp":{preserve},"securityGroupIdSet":{groups},"ipAddressType":"{ip}"{tag_set}}}}}}},"#,
                rid = rng.uuid(),
                h = rng.hex(8),
                vpc = self.vpc,
                zone = self.zone,
                time = call.time,
                subnet = self.subnet,
                preserve = self.preserve,
                groups = items(&groups),
                ip = self.ip_type,
            );
        }
        tail(out, rng, call)
    }

    /// The life a successful create begins.
    fn life(&self, mark: LifecycleMark) -> EndpointLife {
        let mut groups = self.groups.clone();
        groups.sort();
        EndpointLife {
            name: self.tags.iter().find(|(k, _)| *k == "Name").map(|(_, v)| (*v).to_owned()),
            subnet_id: Some(self.subnet.clone()),
            vpc_id: Some(self.vpc.clone()),
            availability_zone: Some(self.zone.clone()),
            security_group_ids: Some(groups),
            preserve_client_ip: Some(self.preserve),
            ip_address_type: Some(self.ip_type.to_owned()),
            created: Some(mark),
            ..EndpointLife::default()
        }
    }
}

/// `ModifyInstanceConnectEndpoint` of `id` asking for `asked` (JSON members of its request);
/// returns its `eventID`.
fn modify(out: &mut String, rng: &mut Rng, call: &Call<'_>, id: &str, asked: &str) -> String {
    head(out, rng, call, "ModifyInstanceConnectEndpoint", None);
    let _ = write!(
        out,
        r#""requestParameters":{{"ModifyInstanceConnectEndpointRequest":{{"InstanceConnectEndpointId":"{id}",{asked}}}}},"responseElements":{{"ModifyInstanceConnectEndpointResponse":{{"xmlns":"http://ec2.amazonaws.com/doc/2016-11-15/","requestId":"{rid}","return":true}}}},"#,
        rid = rng.uuid(),
    );
    tail(out, rng, call)
}

/// `DeleteInstanceConnectEndpoint` of `id` (refused with `error`); returns its `eventID`.
fn delete(out: &mut String, rng: &mut Rng, call: &Call<'_>, id: &str, error: Option<(&str, &str)>) -> String {
    head(out, rng, call, "DeleteInstanceConnectEndpoint", error);
    let _ = write!(
        out,
        r#""requestParameters":{{"DeleteInstanceConnectEndpointRequest":{{"InstanceConnectEndpointId":"{id}"}}}},"#
    );
    if error.is_some() {
        out.push_str(r#""responseElements":null,"#);
    } else {
        let _ = write!(
            out,
            r#""responseElements":{{"DeleteInstanceConnectEndpointResponse":{{"xmlns":"http://ec2.amazonaws.com/doc/2016-11-15/","requestId":"{rid}","instanceConnectEndpoint":{{"ownerId":"{acct}","instanceConnectEndpointId":"{id}","state":"delete-in-progress"}}}}}},"#,
            rid = rng.uuid(),
            acct = call.account.id,
        );
    }
    tail(out, rng, call)
}

/// `CreateTags` (`value` given) or `DeleteTags` of the `Name` tag of `resources`; returns its
/// `eventID`.
fn tags(out: &mut String, rng: &mut Rng, call: &Call<'_>, resources: &[&str], value: Option<&str>) -> String {
    let name = if value.is_some() { "CreateTags" } else { "DeleteTags" };
    head(out, rng, call, name, None);
    let resources: Vec<String> = resources.iter().map(|r| format!(r#"{{"resourceId":"{r}"}}"#)).collect();
    let tag = match value {
        Some(value) => format!(r#"{{"key":"Name","value":"{value}"}}"#),
        None => r#"{"key":"Name"}"#.to_owned(),
    };
    let _ = write!(
        out,
        r#""requestParameters":{{"resourcesSet":{{"items":[{}]}},"tagSet":{{"items":[{tag}]}}}},"responseElements":{{"requestId":"{rid}","_return":true}},"#,
        resources.join(","),
        rid = rng.uuid(),
    );
    tail(out, rng, call)
}

const UNAUTHORIZED: (&str, &str) = (
    "Client.UnauthorizedOperation",
    "You are not authorized to perform this operation. User is not authorized to perform: ec2:DeleteInstanceConnectEndpoint",
);
const CREATE_UNAUTHORIZED: (&str, &str) = (
    "Client.UnauthorizedOperation",
    "You are not authorized to perform this operation. User is not authorized to perform: ec2:CreateInstanceConnectEndpoint",
);
const DRY_RUN: (&str, &str) =
    ("Client.DryRunOperation", "Request would have succeeded, but DryRun flag is set.");

impl Plan<'_> {
    /// Whether the archive gets the scenario: asked for, and enough endpoints to play it.
    pub(super) fn has_lifecycle(&self) -> bool {
        self.spec.lifecycle && self.endpoints.len() >= 5
    }

    /// The scenario of the module's documentation, on a random stream of its own (the rest of the
    /// archive draws what it drew without it).
    pub(super) fn lifecycle(&self) -> Lives {
        let mut lives = Lives { records: vec![Vec::new(); STREAMS.len()], ..Lives::default() };
        if !self.has_lifecycle() {
            return lives;
        }
        let mut rng = Rng::fork(self.spec.seed, u64::from(u32::MAX) + 31);
        let rng = &mut rng;
        let start = self.span_ms().0;
        let (_, end) = self.span_ms();
        let at = |ms: i64| Timestamp(ms);
        let call = |stream: usize, user: &'static str, time: i64| {
            let (account, region, _) = STREAMS[stream];
            Call { account: &ACCOUNTS[account], region, user, time: at(time) }
        };
        let ep = |e: usize| (self.endpoints[e].spec.id.clone(), self.endpoints[e].stream);
        let mut out = String::new();
        let take = |out: &mut String| std::mem::take(out);

        // e0: created, its groups modified, renamed (beside an instance), a deletion refused.
        let (e0, s0) = ep(0);
        let c = call(s0, NETADMIN, start + 5 * MINUTE);
        let mut create = Create::new(rng, c.region, 1, false, "ipv4");
        create.tags = vec![("Name", "eic-endpoint-1")];
        let eid = create.write(&mut out, rng, &c, &e0, None);
        lives.push(s0, c.time, take(&mut out));
        let mut life = create.life(mark(&c, &eid));
        let c = call(s0, NETADMIN, start + DAY);
        let mut groups = vec![id(rng, "sg"), create.groups[0].clone()];
        let eid = modify(&mut out, rng, &c, &e0, &format!(r#""SecurityGroupId":{}"#, contents(&groups)));
        lives.push(s0, c.time, take(&mut out));
        groups.sort();
        life.security_group_ids = Some(groups);
        life.modifications
            .push(Modification { mark: mark(&c, &eid), changed: vec!["security_group_ids".into()] });
        let c = call(s0, NETADMIN, start + DAY + HOUR);
        let instance = self.endpoints[0].spec.instances[0].0.clone();
        let eid = tags(&mut out, rng, &c, &[&instance, &e0], Some("bastion-prod"));
        lives.push(s0, c.time, take(&mut out));
        life.name = Some("bastion-prod".into());
        life.modifications.push(Modification { mark: mark(&c, &eid), changed: vec!["name".into()] });
        let c = call(s0, REFUSED, start + DAY + 2 * HOUR);
        delete(&mut out, rng, &c, &e0, Some(UNAUTHORIZED));
        lives.push(s0, c.time, take(&mut out));
        life.lifecycle_denied = 1;
        *lives.life(&e0, None) = life;

        // e1: older than the archive, named.
        let (e1, s1) = ep(1);
        let c = call(s1, NETADMIN, start + 2 * HOUR);
        let eid = tags(&mut out, rng, &c, &[&e1], Some("eic-endpoint-2"));
        lives.push(s1, c.time, take(&mut out));
        let life = lives.life(&e1, None);
        life.name = Some("eic-endpoint-2".into());
        life.modifications.push(Modification { mark: mark(&c, &eid), changed: vec!["name".into()] });

        // e2: created with lists of two, deleted after its last tunnel.
        let (e2, s2) = ep(2);
        let c = call(s2, NETADMIN, start + 5 * MINUTE);
        let mut create = Create::new(rng, c.region, 2, true, "dualstack");
        create.tags = vec![("team", "platform"), ("Name", "eic-eu")];
        let eid = create.write(&mut out, rng, &c, &e2, None);
        lives.push(s2, c.time, take(&mut out));
        let mut life = create.life(mark(&c, &eid));
        let c = call(s2, NETADMIN, end - E2_DELETED_BEFORE_END);
        let eid = delete(&mut out, rng, &c, &e2, None);
        lives.push(s2, c.time, take(&mut out));
        life.deleted = Some(mark(&c, &eid));
        *lives.life(&e2, None) = life;

        // e4: older than the archive; PreserveClientIp modified, its Name deleted.
        let (e4, s4) = ep(4);
        let c = call(s4, NETADMIN, start + DAY + 10 * MINUTE);
        let eid = modify(&mut out, rng, &c, &e4, r#""PreserveClientIp":true"#);
        lives.push(s4, c.time, take(&mut out));
        let mut life = EndpointLife { preserve_client_ip: Some(true), ..EndpointLife::default() };
        life.modifications
            .push(Modification { mark: mark(&c, &eid), changed: vec!["preserve_client_ip".into()] });
        let c = call(s4, NETADMIN, start + DAY + 20 * MINUTE);
        let eid = tags(&mut out, rng, &c, &[&e4], None);
        lives.push(s4, c.time, take(&mut out));
        life.modifications.push(Modification { mark: mark(&c, &eid), changed: vec!["name".into()] });
        *lives.life(&e4, None) = life;

        // Two endpoints no tunnel uses, in an account and region with no other: one kept, one
        // deleted within hours.
        let spare_stream = 3;
        let spare = format!("eice-0{}", rng.hex(16));
        let c = call(spare_stream, NETADMIN, start + DAY + 30 * MINUTE);
        let mut create = Create::new(rng, c.region, 1, false, "ipv4");
        create.tags = vec![("Name", "eic-spare")];
        let eid = create.write(&mut out, rng, &c, &spare, None);
        lives.push(spare_stream, c.time, take(&mut out));
        *lives.life(&spare, Some(spare_stream)) = create.life(mark(&c, &eid));
        let brief = format!("eice-0{}", rng.hex(16));
        let c = call(spare_stream, NETADMIN, start + 2 * HOUR);
        let create = Create::new(rng, c.region, 1, true, "ipv4");
        let eid = create.write(&mut out, rng, &c, &brief, None);
        lives.push(spare_stream, c.time, take(&mut out));
        let mut life = create.life(mark(&c, &eid));
        let c = call(spare_stream, NETADMIN, start + 5 * HOUR);
        let eid = delete(&mut out, rng, &c, &brief, None);
        lives.push(spare_stream, c.time, take(&mut out));
        life.deleted = Some(mark(&c, &eid));
        *lives.life(&brief, Some(spare_stream)) = life;

        // A create refused and a dry run, in an account and region with no endpoint.
        let refused_stream = 5;
        let c = call(refused_stream, REFUSED, start + 3 * HOUR);
        let create = Create::new(rng, c.region, 1, false, "ipv4");
        create.write(&mut out, rng, &c, "", Some(CREATE_UNAUTHORIZED));
        lives.push(refused_stream, c.time, take(&mut out));
        let c = call(refused_stream, NETADMIN, start + 3 * HOUR + MINUTE);
        create.write(&mut out, rng, &c, "", Some(DRY_RUN));
        lives.push(refused_stream, c.time, take(&mut out));
        // Every record but the dry run; two refused.
        lives.events = lives.records.iter().map(|r| r.len() as u64).sum::<u64>() - 1;
        lives.denied = 2;
        lives
    }
}

/// The endpoint a background record created, as its truth: never used, created by an
/// application's session, with no more than the request and the answer said.
pub(super) fn background_endpoint(
    created: &BackgroundEndpoint,
    stream: usize,
) -> (String, (EndpointLife, Option<usize>)) {
    let life = EndpointLife {
        subnet_id: Some(created.subnet.clone()),
        preserve_client_ip: Some(false),
        created: Some(LifecycleMark {
            time: Some(created.time.to_string()),
            principal: Some(created.principal.clone()),
            event_id: Some(created.event_id.clone()),
        }),
        ..EndpointLife::default()
    };
    (created.id.clone(), (life, Some(stream)))
}

/// Adds the lives to the truth: each endpoint's life, and the endpoints no tunnel uses, listed
/// with no connection, in id order; the lifecycle counts.
pub(super) fn add_to_truth(truth: &mut Truth, lives: Lives) {
    let Lives { lives, events, denied, .. } = lives;
    for (id, (life, stream)) in lives {
        if let Some(endpoint) = truth.endpoints.iter_mut().find(|e| e.id.0 == id) {
            endpoint.life = life;
            continue;
        }
        let (account, region, _) = STREAMS[stream.unwrap_or(0)];
        truth.endpoints.push(EndpointReport::unused(
            EndpointId(id),
            ACCOUNTS[account].id.to_owned(),
            region.to_owned(),
            life,
        ));
    }
    truth.endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    truth.summary.endpoints = truth.endpoints.len() as u64;
    truth.summary.lifecycle_events += events;
    truth.summary.lifecycle_denied += denied;
}
