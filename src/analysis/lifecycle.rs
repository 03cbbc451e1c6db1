//! Endpoints' lives: who created, changed and deleted each endpoint, and what it is (name,
//! network, security groups), from the lifecycle calls of `ec2.amazonaws.com` the extractor kept
//! ([`crate::event::LIFECYCLE_EVENT_NAMES`]). They are rare, so each is read back from the spool
//! and parsed whole here, instead of being made compact on the hot path.
//!
//! CloudTrail records the endpoint calls as it records EC2's newer APIs: the request under
//! `requestParameters.<Action>Request`, the answer under `responseElements.<Action>Response`,
//! both EC2's XML rendered as JSON, where a list of one is its element alone (`{"item": x}`) and a
//! longer one a list (`{"item": [x, y]}`), and a request's value may be `{"content": v, "tag": n}`.
//! Every list here is read in both forms. The tag calls use the older form
//! (`resourcesSet.items[].resourceId`, `tagSet.items[]`). Modify answers only `{"return": true}`
//! and applies later: its effect is taken from what it asked for.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Reason;
use crate::event::tables::Sym;
use crate::event::{
    Event, Kept, Origin, CREATE_ENDPOINT, CREATE_TAGS, DELETE_ENDPOINT, DELETE_TAGS, MODIFY_ENDPOINT,
};
use crate::report::{EndpointLife, LifecycleMark, Modification};
use crate::time::Timestamp;

use super::Activity;

/// The tag whose value is an endpoint's name.
const NAME_TAG: &str = "Name";

/// What the lifecycle events of an activity say, per endpoint, and how many there were.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    /// By endpoint id (`eice-…`).
    pub(crate) endpoints: BTreeMap<String, Life>,
    /// Distinct lifecycle events, failed ones included (dry runs are not kept at all).
    pub(crate) events: u64,
    /// Lifecycle events that failed (`errorCode`): they changed nothing.
    pub(crate) denied: u64,
}

/// One call that changed an endpoint: when, by whom, which event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) time: Option<Timestamp>,
    /// `userIdentity.arn`, when the record has one.
    pub(crate) principal: Option<String>,
    /// The record's `eventID`.
    pub(crate) event_id: Option<String>,
    /// The event itself, in [`Activity::lifecycle`]: a finding names it as evidence.
    pub(crate) origin: Origin,
}

/// One endpoint's life as the archive records it: each field as it stands after the last call
/// read, `None` where no call read says.
#[derive(Debug, Default)]
pub(crate) struct Life {
    /// The account and region of the first call that named the endpoint.
    pub(crate) account: Option<Sym>,
    pub(crate) region: Option<Sym>,
    pub(crate) name: Option<String>,
    pub(crate) subnet_id: Option<String>,
    pub(crate) vpc_id: Option<String>,
    pub(crate) availability_zone: Option<String>,
    pub(crate) security_group_ids: Option<Vec<String>>,
    pub(crate) preserve_client_ip: Option<bool>,
    pub(crate) ip_address_type: Option<String>,
    /// The successful `CreateInstanceConnectEndpoint`, if the archive holds it.
    pub(crate) created: Option<Mark>,
    /// The successful `DeleteInstanceConnectEndpoint`, if the archive holds it.
    pub(crate) deleted: Option<Mark>,
    /// Successful modifications and renames, in time order, each with the fields it changed.
    pub(crate) modifications: Vec<(Mark, Vec<&'static str>)>,
    /// Failed lifecycle calls that named the endpoint.
    pub(crate) denied: u64,
}

impl Lifecycle {
    /// Reads back and applies, in time order, every lifecycle event of `activity`.
    pub(crate) fn of(activity: &Activity<'_>) -> Result<Lifecycle, Reason> {
        let kept = activity.kept;
        let mut events: Vec<&Event> = activity.lifecycle.clone();
        // Untimed events last: they cannot be placed, and are applied after the rest.
        events.sort_by_key(|e| (e.time.is_none(), e.time, e.origin));
        let mut lifecycle = Lifecycle::default();
        let mut bytes = Vec::new();
        for event in events {
            kept.spool.read(event.record, &mut bytes).map_err(Reason::read)?;
            let record: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Reason::Json { at: None, detail: e.to_string() })?;
            // An EventBridge envelope stands for the record in its `detail`, as the extractor reads it.
            let record = match (record.get("detail-type"), record.get("detail")) {
                (Some(_), Some(detail)) if detail.is_object() => detail,
                _ => &record,
            };
            lifecycle.apply(event, kept, record);
        }
        Ok(lifecycle)
    }

    /// Each named endpoint's name, by id.
    pub(crate) fn names(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.endpoints.iter().filter_map(|(id, life)| Some((id.clone(), life.name.clone()?)))
    }

    fn apply(&mut self, event: &Event, kept: &Kept, record: &Value) {
        self.events += 1;
        let vocabulary = &kept.vocabulary;
        let name = vocabulary.text(event.name);
        let request = record.get("requestParameters").unwrap_or(&Value::Null);
        let response = record.get("responseElements").unwrap_or(&Value::Null);
        let ids = endpoints_named(name, request, response);
        if !event.succeeded() {
            self.denied += 1;
            for id in &ids {
                Life::of(&mut self.endpoints, id, event).denied += 1;
            }
            return;
        }
        let principal = vocabulary.text(event.principal);
        let mark = Mark {
            time: event.time,
            principal: (!principal.is_empty()).then(|| principal.to_owned()),
            event_id: record.get("eventID").and_then(Value::as_str).map(str::to_owned),
            origin: event.origin,
        };
        match name {
            CREATE_ENDPOINT => {
                let asked = member(request, "CreateInstanceConnectEndpointRequest");
                let answer = member(
                    member(response, "CreateInstanceConnectEndpointResponse"),
                    "instanceConnectEndpoint",
                );
                for id in &ids {
                    let life = Life::of(&mut self.endpoints, id, event);
                    life.created.get_or_insert_with(|| mark.clone());
                    life.created_as(asked, answer);
                }
            }
            MODIFY_ENDPOINT => {
                let asked = member(request, "ModifyInstanceConnectEndpointRequest");
                for id in &ids {
                    let life = Life::of(&mut self.endpoints, id, event);
                    let changed = life.modified(asked);
                    if !changed.is_empty() {
                        life.modifications.push((mark.clone(), changed));
                    }
                }
            }
            DELETE_ENDPOINT => {
                for id in &ids {
                    Life::of(&mut self.endpoints, id, event).deleted.get_or_insert_with(|| mark.clone());
                }
            }
            CREATE_TAGS | DELETE_TAGS => {
                let named = tag_value(request, name == CREATE_TAGS);
                for id in &ids {
                    let life = Life::of(&mut self.endpoints, id, event);
                    let renamed = match &named {
                        Tagged::Set(value) => {
                            life.name = Some(value.clone());
                            true
                        }
                        // DeleteTags with a value removes the tag only if it has that value.
                        Tagged::Removed(value) => {
                            let removes = value.is_none() || life.name.is_none() || life.name == *value;
                            if removes {
                                life.name = None;
                            }
                            removes
                        }
                        Tagged::Untouched => false,
                    };
                    if renamed {
                        life.modifications.push((mark.clone(), vec!["name"]));
                    }
                }
            }
            _ => {}
        }
    }
}

impl Life {
    /// The life of endpoint `id` in `endpoints`, begun at `event` if this is its first call.
    fn of<'l>(endpoints: &'l mut BTreeMap<String, Life>, id: &str, event: &Event) -> &'l mut Life {
        let life = endpoints.entry(id.to_owned()).or_default();
        life.account.get_or_insert(event.account);
        life.region.get_or_insert(event.region);
        life
    }

    /// Takes what a successful create says: the answer first (what EC2 made), the request
    /// where the answer is silent.
    fn created_as(&mut self, asked: &Value, answer: &Value) {
        let either = |answered: &str, requested: &str| {
            text(member(answer, answered)).or_else(|| text(member(asked, requested)))
        };
        self.subnet_id = either("subnetId", "SubnetId").or(self.subnet_id.take());
        self.vpc_id = text(member(answer, "vpcId")).or(self.vpc_id.take());
        self.availability_zone = text(member(answer, "availabilityZone")).or(self.availability_zone.take());
        self.ip_address_type = either("ipAddressType", "IpAddressType").or(self.ip_address_type.take());
        self.preserve_client_ip = boolean(member(answer, "preserveClientIp"))
            .or_else(|| boolean(member(asked, "PreserveClientIp")))
            .or(self.preserve_client_ip);
        self.security_group_ids = groups(member(answer, "securityGroupIdSet"))
            .or_else(|| groups(member(asked, "SecurityGroupId")))
            .or(self.security_group_ids.take());
        let tags = tags(member(answer, "tagSet"));
        let tags = if tags.is_empty() {
            // The request's TagSpecification: one or a list, each with its `Tag` one or a list.
            elements(member(asked, "TagSpecification"))
                .flat_map(|spec| self::tags(member(spec, "Tag")))
                .collect()
        } else {
            tags
        };
        if let Some((_, value)) = tags.into_iter().find(|(key, _)| key == NAME_TAG) {
            self.name = value;
        }
    }

    /// Applies what a modification asked for; the fields it set, by their JSON names.
    fn modified(&mut self, asked: &Value) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if let Some(groups) = groups(member(asked, "SecurityGroupId")) {
            self.security_group_ids = Some(groups);
            changed.push("security_group_ids");
        }
        if let Some(preserve) = boolean(member(asked, "PreserveClientIp")) {
            self.preserve_client_ip = Some(preserve);
            changed.push("preserve_client_ip");
        }
        if let Some(kind) = text(member(asked, "IpAddressType")) {
            self.ip_address_type = Some(kind);
            changed.push("ip_address_type");
        }
        changed
    }

    /// The report's view of this life.
    pub(crate) fn report(&self) -> EndpointLife {
        let mark = |m: &Mark| LifecycleMark {
            time: m.time.map(|t| t.to_string()),
            principal: m.principal.clone(),
            event_id: m.event_id.clone(),
        };
        EndpointLife {
            name: self.name.clone(),
            subnet_id: self.subnet_id.clone(),
            vpc_id: self.vpc_id.clone(),
            availability_zone: self.availability_zone.clone(),
            security_group_ids: self.security_group_ids.clone(),
            preserve_client_ip: self.preserve_client_ip,
            ip_address_type: self.ip_address_type.clone(),
            created: self.created.as_ref().map(mark),
            deleted: self.deleted.as_ref().map(mark),
            modifications: self
                .modifications
                .iter()
                .map(|(m, changed)| Modification {
                    mark: mark(m),
                    changed: changed.iter().map(|c| (*c).to_owned()).collect(),
                })
                .collect(),
            lifecycle_denied: self.denied,
        }
    }
}

/// What a tag call does to the `Name` tag.
enum Tagged {
    Set(String),
    /// Removed; with a value, only if the tag has it.
    Removed(Option<String>),
    Untouched,
}

/// The `Name` tag of a tag call's `tagSet`: set by `CreateTags`, removed by `DeleteTags`.
fn tag_value(request: &Value, create: bool) -> Tagged {
    match tags(member(request, "tagSet")).into_iter().find(|(key, _)| key == NAME_TAG) {
        Some((_, value)) if create => Tagged::Set(value.unwrap_or_default()),
        Some((_, value)) => Tagged::Removed(value),
        None => Tagged::Untouched,
    }
}

/// The endpoints a lifecycle call is about: the created one as the answer names it; the one a
/// modification or deletion asks for; the `eice-…` resources of a tag call.
fn endpoints_named(name: &str, request: &Value, response: &Value) -> Vec<String> {
    let id = |v: &Value| text(v).filter(|id| id.starts_with("eice-"));
    let ids: Vec<String> = match name {
        CREATE_ENDPOINT => {
            let answer =
                member(member(response, "CreateInstanceConnectEndpointResponse"), "instanceConnectEndpoint");
            id(member(answer, "instanceConnectEndpointId")).into_iter().collect()
        }
        MODIFY_ENDPOINT | DELETE_ENDPOINT => {
            let action = if name == MODIFY_ENDPOINT {
                "ModifyInstanceConnectEndpointRequest"
            } else {
                "DeleteInstanceConnectEndpointRequest"
            };
            id(member(member(request, action), "InstanceConnectEndpointId")).into_iter().collect()
        }
        _ => elements(member(request, "resourcesSet")).filter_map(|r| id(member(r, "resourceId"))).collect(),
    };
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    ids
}

/// The member `key` of an object, its name's case ignored (EC2 writes requests in Pascal case
/// and answers in camel case); `null` when there is none.
fn member<'v>(value: &'v Value, key: &str) -> &'v Value {
    let Value::Object(map) = value else {
        return &Value::Null;
    };
    map.get(key)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
        .unwrap_or(&Value::Null)
}

/// The elements of a list as EC2's XML answers render it: `{"item": x}` (one) or `{"item": [x,
/// y]}`, `{"items": [...]}`, a bare list, or one value alone.
fn elements(value: &Value) -> impl Iterator<Item = &Value> {
    let inner = match value {
        Value::Object(map) if map.len() == 1 && (map.contains_key("item") || map.contains_key("items")) => {
            map.values().next().unwrap_or(&Value::Null)
        }
        other => other,
    };
    let list: Vec<&Value> = match inner {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    };
    list.into_iter()
}

/// A string, or the `content` of a request's `{"content": v, "tag": n}`.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => member(value, "content").as_str().map(str::to_owned),
        _ => None,
    }
}

/// A boolean, or its text (`"true"`, `"false"`), or the `content` holding either.
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Object(_) => boolean(member(value, "content")),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Security group ids, sorted, of one or a list of them; `None` when there is none.
fn groups(value: &Value) -> Option<Vec<String>> {
    let mut groups: Vec<String> = elements(value).filter_map(text).collect();
    groups.sort();
    groups.dedup();
    (!groups.is_empty()).then_some(groups)
}

/// The `(key, value)` of one tag or a list of them, keys in either case (`Key`, `key`).
fn tags(value: &Value) -> Vec<(String, Option<String>)> {
    elements(value).filter_map(|tag| Some((text(member(tag, "key"))?, text(member(tag, "value"))))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{activity, report, Objects, Window};
    use crate::event::tables::Tables;
    use crate::event::{Extractor, Origin};
    use crate::report::Report;
    use crate::spill::records::{Spool, SpoolWriter};
    use serde_json::json;

    /// The events the extractor keeps of `records` (one object, in this order), as a run keeps
    /// them.
    fn kept(records: &[String]) -> Kept {
        let tables = Tables::default();
        let mut extractor = Extractor::new(&tables);
        let mut spool = SpoolWriter::new(0).expect("spool");
        let mut events = Vec::new();
        for (i, record) in records.iter().enumerate() {
            if let Some(mut event) = extractor.extract(record.as_bytes()).expect("valid JSON") {
                event.origin = Origin { object: 0, record: i as u32 };
                event.record = spool.append(record.as_bytes()).expect("spool");
                events.push(event);
            }
        }
        let mut kept_spool = Spool::default();
        kept_spool.add(0, spool.finish().expect("spool"));
        Kept { events, objects: vec!["object".into()], vocabulary: tables.freeze(), spool: kept_spool }
    }

    fn analyzed(records: &[String]) -> Report {
        report(
            &activity(&kept(records), Window::after_seconds(60)),
            Objects::default(),
            &crate::analysis::FindingPlan::default(),
        )
        .expect("report")
    }

    /// A record of `ec2.amazonaws.com` at `time` by `user`, with `rest` (members after
    /// `eventName`, ending in a comma) and its `eventID`.
    fn ec2(name: &str, time: &str, user: &str, id: &str, rest: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/EC2Admin/{user}","accountId":"111122223333"}},"eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1",{rest}"eventID":"{id}","recipientAccountId":"111122223333"}}"#
        )
    }

    fn tunnel(time: &str, endpoint: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"arn":"arn:aws:sts::111122223333:assumed-role/EC2Admin/alice"}},"eventTime":"{time}","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","awsRegion":"us-east-1","requestParameters":{{"instanceConnectEndpointId":"{endpoint}","remotePort":"22","privateIpAddress":"10.0.0.1"}},"eventID":"0b7c9f3e-1111-2222-3333-44445555{n:04}","recipientAccountId":"111122223333"}}"#,
            n = time.len() + endpoint.len()
        )
    }

    /// A life as the archive tells it: created (one group, one tag), tunnelled through,
    /// modified (two groups), renamed by a tag call naming an instance too, a deletion refused,
    /// a dry run, then deleted; another endpoint only renamed; a create refused.
    fn story() -> Vec<String> {
        let create = r#""requestParameters":{"CreateInstanceConnectEndpointRequest":{"SubnetId":"subnet-1","SecurityGroupId":{"content":"sg-1","tag":1},"PreserveClientIp":false,"ClientToken":"t","TagSpecification":{"ResourceType":"instance-connect-endpoint","tag":1,"Tag":{"Key":"Name","tag":1,"Value":"eic-endpoint-1"}}}},"responseElements":{"CreateInstanceConnectEndpointResponse":{"instanceConnectEndpoint":{"instanceConnectEndpointId":"eice-1","vpcId":"vpc-1","subnetId":"subnet-1","availabilityZone":"us-east-1a","preserveClientIp":false,"securityGroupIdSet":{"item":"sg-1"},"ipAddressType":"ipv4","tagSet":{"item":{"key":"Name","value":"eic-endpoint-1"}},"state":"create-in-progress"}}},"#;
        let modify = r#""requestParameters":{"ModifyInstanceConnectEndpointRequest":{"InstanceConnectEndpointId":"eice-1","SecurityGroupId":[{"content":"sg-3","tag":1},{"content":"sg-2","tag":2}]}},"responseElements":{"ModifyInstanceConnectEndpointResponse":{"return":true}},"#;
        let rename = r#""requestParameters":{"resourcesSet":{"items":[{"resourceId":"i-1"},{"resourceId":"eice-1"}]},"tagSet":{"items":[{"key":"Name","value":"bastion"}]}},"responseElements":{"_return":true},"#;
        let refused = r#""errorCode":"Client.UnauthorizedOperation","requestParameters":{"DeleteInstanceConnectEndpointRequest":{"InstanceConnectEndpointId":"eice-1"}},"responseElements":null,"#;
        let dry = r#""errorCode":"Client.DryRunOperation","requestParameters":{"DeleteInstanceConnectEndpointRequest":{"DryRun":true,"InstanceConnectEndpointId":"eice-1"}},"responseElements":null,"#;
        let delete = r#""requestParameters":{"DeleteInstanceConnectEndpointRequest":{"InstanceConnectEndpointId":"eice-1"}},"responseElements":{"DeleteInstanceConnectEndpointResponse":{"instanceConnectEndpoint":{"instanceConnectEndpointId":"eice-1","state":"delete-in-progress"}}},"#;
        let other = r#""requestParameters":{"resourcesSet":{"items":[{"resourceId":"eice-2"}]},"tagSet":{"items":[{"key":"Name","value":"old-door"}]}},"responseElements":{"_return":true},"#;
        let instance_only = r#""requestParameters":{"resourcesSet":{"items":[{"resourceId":"i-1"}]},"tagSet":{"items":[{"key":"Name","value":"eice-lookalike"}]}},"responseElements":{"_return":true},"#;
        let create_refused = r#""errorCode":"Client.UnauthorizedOperation","requestParameters":{"CreateInstanceConnectEndpointRequest":{"SubnetId":"subnet-9"}},"responseElements":null,"#;
        vec![
            ec2(CREATE_ENDPOINT, "2024-03-01T00:05:00Z", "netadmin", "e-create", create),
            tunnel("2024-03-01T01:00:00Z", "eice-1"),
            ec2(MODIFY_ENDPOINT, "2024-03-01T02:00:00Z", "netadmin", "e-modify", modify),
            ec2(CREATE_TAGS, "2024-03-01T03:00:00Z", "netadmin", "e-rename", rename),
            ec2(DELETE_ENDPOINT, "2024-03-01T04:00:00Z", "contractor", "e-refused", refused),
            ec2(DELETE_ENDPOINT, "2024-03-01T04:01:00Z", "netadmin", "e-dry", dry),
            ec2(DELETE_ENDPOINT, "2024-03-01T05:00:00Z", "netadmin", "e-delete", delete),
            ec2(CREATE_TAGS, "2024-03-01T06:00:00Z", "netadmin", "e-other", other),
            ec2(CREATE_TAGS, "2024-03-01T06:30:00Z", "netadmin", "e-instance", instance_only),
            ec2(CREATE_ENDPOINT, "2024-03-01T07:00:00Z", "contractor", "e-create-refused", create_refused),
        ]
    }

    fn at(time: &str, user: &str, id: &str) -> LifecycleMark {
        LifecycleMark {
            time: Some(time.into()),
            principal: Some(format!("arn:aws:sts::111122223333:assumed-role/EC2Admin/{user}")),
            event_id: Some(id.into()),
        }
    }

    #[test]
    fn an_endpoints_life_is_read_from_its_calls() {
        let report = analyzed(&story());
        let s = &report.summary;
        // Create, modify, rename, refused delete, delete, other rename, refused create: the dry
        // run and the instance's tags are not lifecycle events.
        assert_eq!((s.lifecycle_events, s.lifecycle_denied), (7, 2));
        assert_eq!((s.instance_connect_events, s.denied_attempts, s.connections), (1, 0, 1));
        assert_eq!(s.endpoints, 2, "the renamed endpoint no tunnel used is listed");
        assert!(report.other_events.is_empty(), "lifecycle events are not Instance Connect events");
        let one = &report.endpoints[0];
        assert_eq!((one.id.0.as_str(), one.connections), ("eice-1", 1));
        let life = &one.life;
        assert_eq!(life.name.as_deref(), Some("bastion"));
        assert_eq!(life.subnet_id.as_deref(), Some("subnet-1"));
        assert_eq!(life.vpc_id.as_deref(), Some("vpc-1"));
        assert_eq!(life.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(life.security_group_ids, Some(vec!["sg-2".to_owned(), "sg-3".to_owned()]));
        assert_eq!((life.preserve_client_ip, life.ip_address_type.as_deref()), (Some(false), Some("ipv4")));
        assert_eq!(life.created, Some(at("2024-03-01T00:05:00Z", "netadmin", "e-create")));
        assert_eq!(life.deleted, Some(at("2024-03-01T05:00:00Z", "netadmin", "e-delete")));
        assert_eq!(
            life.modifications,
            [
                Modification {
                    mark: at("2024-03-01T02:00:00Z", "netadmin", "e-modify"),
                    changed: vec!["security_group_ids".into()]
                },
                Modification {
                    mark: at("2024-03-01T03:00:00Z", "netadmin", "e-rename"),
                    changed: vec!["name".into()]
                },
            ]
        );
        assert_eq!(life.lifecycle_denied, 1, "the refused deletion, not the dry run");
        let two = &report.endpoints[1];
        assert_eq!((two.id.0.as_str(), two.connections, two.first_seen.as_deref()), ("eice-2", 0, None));
        assert_eq!((two.account.as_str(), two.region.as_str()), ("111122223333", "us-east-1"));
        assert_eq!(two.life.name.as_deref(), Some("old-door"));
        assert_eq!(
            (two.life.created.as_ref(), two.life.subnet_id.as_ref()),
            (None, None),
            "before the archive"
        );
    }

    #[test]
    fn the_order_read_does_not_matter_only_the_time() {
        let mut shuffled = story();
        shuffled.reverse();
        let (a, b) = (analyzed(&story()), analyzed(&shuffled));
        let lives = |r: &Report| r.endpoints.iter().map(|e| e.life.clone()).collect::<Vec<_>>();
        assert_eq!(lives(&a), lives(&b));
    }

    #[test]
    fn a_dry_run_and_other_tags_are_not_kept() {
        let records = story();
        let kept = kept(&records);
        let names: Vec<&str> = kept.events.iter().map(|e| kept.vocabulary.text(e.name)).collect();
        assert_eq!(names.len(), 8, "{names:?}");
        assert_eq!(kept.events.iter().filter(|e| e.lifecycle).count(), 7, "all but the tunnel");
    }

    #[test]
    fn lists_are_read_in_both_of_ec2s_forms() {
        let one = json!({"item": "sg-2"});
        let two = json!({"item": ["sg-2", "sg-1"]});
        assert_eq!(groups(&one), Some(vec!["sg-2".to_owned()]));
        assert_eq!(groups(&two), Some(vec!["sg-1".to_owned(), "sg-2".to_owned()]), "sorted");
        let request_one = json!({"content": "sg-9", "tag": 1});
        let request_two = json!([{"content": "sg-9", "tag": 1}, {"content": "sg-3", "tag": 2}]);
        assert_eq!(groups(&request_one), Some(vec!["sg-9".to_owned()]));
        assert_eq!(groups(&request_two), Some(vec!["sg-3".to_owned(), "sg-9".to_owned()]));
        assert_eq!(groups(&Value::Null), None);
        let tag_one = json!({"item": {"key": "Name", "value": "bastion"}});
        let tag_two = json!({"item": [{"key": "team", "value": "ops"}, {"key": "Name", "value": "b"}]});
        assert_eq!(tags(&tag_one), vec![("Name".to_owned(), Some("bastion".to_owned()))]);
        assert_eq!(tags(&tag_two).len(), 2);
        let items = json!({"items": [{"resourceId": "eice-1"}, {"resourceId": "i-1"}]});
        assert_eq!(endpoints_named(CREATE_TAGS, &json!({"resourcesSet": items}), &Value::Null), ["eice-1"]);
    }

    #[test]
    fn a_create_takes_the_answer_then_the_request() {
        let asked = json!({"SubnetId": "subnet-1", "PreserveClientIp": true, "IpAddressType": "ipv4",
            "SecurityGroupId": {"content": "sg-1", "tag": 1},
            "TagSpecification": {"ResourceType": "instance-connect-endpoint", "tag": 1,
                "Tag": {"Key": "Name", "Value": "eic-endpoint-1", "tag": 1}}});
        let answer = json!({"instanceConnectEndpointId": "eice-1", "vpcId": "vpc-1",
            "availabilityZone": "us-east-1a", "securityGroupIdSet": {"item": ["sg-2", "sg-1"]},
            "state": "create-in-progress"});
        let mut life = Life::default();
        life.created_as(&asked, &answer);
        assert_eq!(life.name.as_deref(), Some("eic-endpoint-1"), "from the request's TagSpecification");
        assert_eq!((life.subnet_id.as_deref(), life.vpc_id.as_deref()), (Some("subnet-1"), Some("vpc-1")));
        assert_eq!(life.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(life.security_group_ids, Some(vec!["sg-1".to_owned(), "sg-2".to_owned()]));
        assert_eq!((life.preserve_client_ip, life.ip_address_type.as_deref()), (Some(true), Some("ipv4")));
    }

    #[test]
    fn a_modification_changes_only_what_it_asked_for() {
        let mut life = Life { preserve_client_ip: Some(false), ..Life::default() };
        let changed = life.modified(&json!({"InstanceConnectEndpointId": "eice-1",
            "SecurityGroupId": [{"content": "sg-5", "tag": 1}, {"content": "sg-4", "tag": 2}]}));
        assert_eq!(changed, ["security_group_ids"]);
        assert_eq!(life.security_group_ids, Some(vec!["sg-4".to_owned(), "sg-5".to_owned()]));
        assert_eq!(life.preserve_client_ip, Some(false), "not asked for, not changed");
        let changed = life.modified(&json!({"PreserveClientIp": "true", "IpAddressType": "dualstack"}));
        assert_eq!(changed, ["preserve_client_ip", "ip_address_type"]);
    }

    #[test]
    fn tag_calls_rename_or_unname() {
        let create = json!({"resourcesSet": {"items": [{"resourceId": "eice-1"}]},
            "tagSet": {"items": [{"key": "Name", "value": "new"}]}});
        assert!(matches!(tag_value(&create, true), Tagged::Set(v) if v == "new"));
        let delete = json!({"tagSet": {"items": [{"key": "Name"}]}});
        assert!(matches!(tag_value(&delete, false), Tagged::Removed(None)));
        let other = json!({"tagSet": {"items": [{"key": "team", "value": "ops"}]}});
        assert!(matches!(tag_value(&other, true), Tagged::Untouched));
    }
}
