//! What an endpoint's lifecycle call says ([`Call`]), read once by the worker that parsed its
//! record, from the same simd-json tape: the endpoints it names, its `eventID`, and what it does
//! to them. The analysis ([`crate::analysis::lifecycle`]) only applies the calls in time order.
//!
//! CloudTrail records the endpoint calls as it records EC2's newer APIs: the request under
//! `requestParameters.<Action>Request`, the answer under `responseElements.<Action>Response`,
//! both EC2's XML rendered as JSON, where a list of one is its element alone (`{"item": x}`) and a
//! longer one a list (`{"item": [x, y]}`), and a request's value may be `{"content": v, "tag": n}`.
//! Every list here is read in both forms. The tag calls use the older form
//! (`resourcesSet.items[].resourceId`, `tagSet.items[]`). Modify answers only `{"return": true}`
//! and applies later: its effect is taken from what it asked for.
//!
//! A member repeated in a record is read as [`Json::get`] finds it, the first, as the rest of
//! the event is.

use simd_json::{Node, StaticNode};

use crate::decode::json::Json;

use super::{CREATE_ENDPOINT, CREATE_TAGS, DELETE_ENDPOINT, DELETE_TAGS, MODIFY_ENDPOINT};

/// The tag whose value is an endpoint's name.
const NAME_TAG: &str = "Name";

/// One lifecycle call, as its record says it, whether it succeeded or not (the event says that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// The endpoints (`eice-…`) it is about, sorted, each once: the created one as the answer
    /// names it; the one a modification or deletion asks for; the endpoints among a tag call's
    /// resources.
    pub(crate) endpoints: Vec<String>,
    /// The record's `eventID`, when it is a string.
    pub(crate) event_id: Option<String>,
    pub(crate) does: Does,
}

/// What a lifecycle call does to the endpoints it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Does {
    /// `CreateInstanceConnectEndpoint`: what the endpoint is, the answer first (what EC2 made),
    /// the request where the answer is silent.
    Created(Settings),
    /// `ModifyInstanceConnectEndpoint`: only what it asked for (security groups, client IP,
    /// address type).
    Modified(Settings),
    Deleted,
    /// A tag call's effect on the `Name` tag.
    Tagged(Tagged),
}

/// An endpoint's fields as one call sets them; `None` where the call does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The `Name` tag, when the call has one: its value, which may be missing.
    pub(crate) name: Option<Option<String>>,
    pub(crate) subnet_id: Option<String>,
    pub(crate) vpc_id: Option<String>,
    pub(crate) availability_zone: Option<String>,
    /// Sorted, each once.
    pub(crate) security_group_ids: Option<Vec<String>>,
    pub(crate) preserve_client_ip: Option<bool>,
    pub(crate) ip_address_type: Option<String>,
}

/// What a tag call does to the `Name` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tagged {
    Set(String),
    /// Removed; with a value, only if the tag has it.
    Removed(Option<String>),
    Untouched,
}

impl Call {
    /// The call `record` (of `ec2.amazonaws.com`, its envelope unwrapped) makes; `None` for a
    /// record that is no lifecycle call: its `eventName` none of theirs, or a tag call that names
    /// no endpoint among its resources.
    pub(crate) fn read(record: Json<'_, '_>) -> Option<Call> {
        let name = record.get("eventName").and_then(Json::as_str)?;
        let request = record.get("requestParameters");
        let response = record.get("responseElements");
        let does = match name {
            CREATE_ENDPOINT => {
                let asked = member(request, "CreateInstanceConnectEndpointRequest");
                let answer = member(
                    member(response, "CreateInstanceConnectEndpointResponse"),
                    "instanceConnectEndpoint",
                );
                Does::Created(created(asked, answer))
            }
            MODIFY_ENDPOINT => {
                Does::Modified(modified(member(request, "ModifyInstanceConnectEndpointRequest")))
            }
            DELETE_ENDPOINT => Does::Deleted,
            CREATE_TAGS | DELETE_TAGS => Does::Tagged(tag_value(request, name == CREATE_TAGS)),
            _ => return None,
        };
        let endpoints = endpoints_named(name, request, response);
        if matches!(does, Does::Tagged(_)) && endpoints.is_empty() {
            return None;
        }
        Some(Call {
            endpoints,
            event_id: record.get("eventID").and_then(Json::as_str).map(str::to_owned),
            does,
        })
    }
}

/// What a create says: the answer first, the request where the answer is silent.
fn created(asked: Option<Json<'_, '_>>, answer: Option<Json<'_, '_>>) -> Settings {
    let either = |answered: &str, requested: &str| {
        text(member(answer, answered)).or_else(|| text(member(asked, requested)))
    };
    let tags = tags(member(answer, "tagSet"));
    let tags = if tags.is_empty() {
        // The request's TagSpecification: one or a list, each with its `Tag` one or a list.
        elements(member(asked, "TagSpecification"))
            .into_iter()
            .flat_map(|spec| self::tags(member(Some(spec), "Tag")))
            .collect()
    } else {
        tags
    };
    Settings {
        name: tags.into_iter().find(|(key, _)| key == NAME_TAG).map(|(_, value)| value),
        subnet_id: either("subnetId", "SubnetId"),
        vpc_id: text(member(answer, "vpcId")),
        availability_zone: text(member(answer, "availabilityZone")),
        security_group_ids: groups(member(answer, "securityGroupIdSet"))
            .or_else(|| groups(member(asked, "SecurityGroupId"))),
        preserve_client_ip: boolean(member(answer, "preserveClientIp"))
            .or_else(|| boolean(member(asked, "PreserveClientIp"))),
        ip_address_type: either("ipAddressType", "IpAddressType"),
    }
}

/// What a modification asked for, and only that.
fn modified(asked: Option<Json<'_, '_>>) -> Settings {
    Settings {
        security_group_ids: groups(member(asked, "SecurityGroupId")),
        preserve_client_ip: boolean(member(asked, "PreserveClientIp")),
        ip_address_type: text(member(asked, "IpAddressType")),
        ..Settings::default()
    }
}

/// The `Name` tag of a tag call's `tagSet`: set by `CreateTags`, removed by `DeleteTags`.
fn tag_value(request: Option<Json<'_, '_>>, create: bool) -> Tagged {
    match tags(member(request, "tagSet")).into_iter().find(|(key, _)| key == NAME_TAG) {
        Some((_, value)) if create => Tagged::Set(value.unwrap_or_default()),
        Some((_, value)) => Tagged::Removed(value),
        None => Tagged::Untouched,
    }
}

/// The endpoints a lifecycle call is about: the created one as the answer names it; the one a
/// modification or deletion asks for; the `eice-…` resources of a tag call.
fn endpoints_named(name: &str, request: Option<Json<'_, '_>>, response: Option<Json<'_, '_>>) -> Vec<String> {
    let id = |v: Option<Json<'_, '_>>| text(v).filter(|id| id.starts_with("eice-"));
    let mut ids: Vec<String> = match name {
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
        _ => elements(member(request, "resourcesSet"))
            .into_iter()
            .filter_map(|r| id(member(Some(r), "resourceId")))
            .collect(),
    };
    ids.sort();
    ids.dedup();
    ids
}

/// The member `key` of an object, its name's case ignored (EC2 writes requests in Pascal case
/// and answers in camel case): the one named exactly so, else the first named so in any case.
fn member<'t, 'i>(value: Option<Json<'t, 'i>>, key: &str) -> Option<Json<'t, 'i>> {
    let value = value?;
    value.get(key).or_else(|| value.entries().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The elements of a list as EC2's XML answers render it: `{"item": x}` (one) or `{"item": [x,
/// y]}`, `{"items": [...]}`, a bare list, or one value alone; none for `null` or nothing.
fn elements<'t, 'i>(value: Option<Json<'t, 'i>>) -> Vec<Json<'t, 'i>> {
    let Some(value) = value else {
        return Vec::new();
    };
    let mut entries = value.entries();
    let inner = match (entries.next(), entries.next()) {
        (Some((key, inner)), None) if key == "item" || key == "items" => inner,
        _ => value,
    };
    match inner.node() {
        Node::Array { .. } => inner.elements().collect(),
        Node::Static(StaticNode::Null) => Vec::new(),
        _ => vec![inner],
    }
}

/// A string, or the `content` of a request's `{"content": v, "tag": n}`.
fn text(value: Option<Json<'_, '_>>) -> Option<String> {
    let value = value?;
    match value.node() {
        Node::String(s) => Some(s.to_owned()),
        Node::Object { .. } => member(Some(value), "content").and_then(Json::as_str).map(str::to_owned),
        _ => None,
    }
}

/// A boolean, or its text (`"true"`, `"false"`), or the `content` holding either (however deep:
/// read in a loop, so that no record can make it recurse).
fn boolean(mut value: Option<Json<'_, '_>>) -> Option<bool> {
    loop {
        let json = value?;
        match json.node() {
            Node::Static(StaticNode::Bool(b)) => return Some(b),
            Node::Object { .. } => value = member(Some(json), "content"),
            Node::String(s) if s.eq_ignore_ascii_case("true") => return Some(true),
            Node::String(s) if s.eq_ignore_ascii_case("false") => return Some(false),
            _ => return None,
        }
    }
}

/// Security group ids, sorted, of one or a list of them; `None` when there is none.
fn groups(value: Option<Json<'_, '_>>) -> Option<Vec<String>> {
    let mut groups: Vec<String> = elements(value).into_iter().filter_map(|g| text(Some(g))).collect();
    groups.sort();
    groups.dedup();
    (!groups.is_empty()).then_some(groups)
}

/// The `(key, value)` of one tag or a list of them, keys in either case (`Key`, `key`).
fn tags(value: Option<Json<'_, '_>>) -> Vec<(String, Option<String>)> {
    elements(value)
        .into_iter()
        .filter_map(|tag| Some((text(member(Some(tag), "key"))?, text(member(Some(tag), "value")))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tables::Tables;
    use crate::event::Extractor;

    /// Runs `f` on the root value of `text`.
    fn with<R>(text: &str, f: impl FnOnce(Option<Json<'_, '_>>) -> R) -> R {
        let mut bytes = text.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("valid JSON");
        f(Json::root(&tape.0))
    }

    fn strings(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn lists_are_read_in_both_of_ec2s_forms() {
        assert_eq!(with(r#"{"item": "sg-2"}"#, groups), strings(&["sg-2"]));
        assert_eq!(with(r#"{"item": ["sg-2", "sg-1"]}"#, groups), strings(&["sg-1", "sg-2"]), "sorted");
        assert_eq!(with(r#"{"items": ["sg-2", "sg-2"]}"#, groups), strings(&["sg-2"]), "each once");
        assert_eq!(with(r#"{"content": "sg-9", "tag": 1}"#, groups), strings(&["sg-9"]));
        let request_two = r#"[{"content": "sg-9", "tag": 1}, {"content": "sg-3", "tag": 2}]"#;
        assert_eq!(with(request_two, groups), strings(&["sg-3", "sg-9"]));
        assert_eq!(with("null", groups), None);
        assert_eq!(groups(None), None);
        assert_eq!(with(r#"{"item": null}"#, groups), None);
        // An object with more than the list is one value, not a list.
        assert_eq!(with(r#"{"item": ["a"], "more": 1}"#, |v| elements(v).len()), 1);
        let tag_one = r#"{"item": {"key": "Name", "value": "bastion"}}"#;
        assert_eq!(with(tag_one, tags), vec![("Name".to_owned(), Some("bastion".to_owned()))]);
        let tag_two = r#"{"item": [{"key": "team", "value": "ops"}, {"Key": "Name", "Value": "b"}]}"#;
        assert_eq!(
            with(tag_two, tags),
            [("team".to_owned(), Some("ops".to_owned())), ("Name".to_owned(), Some("b".to_owned()))]
        );
        let items = r#"{"resourcesSet": {"items": [{"resourceId": "eice-1"}, {"resourceId": "i-1"},
            {"resourceId": "eice-1"}]}}"#;
        assert_eq!(with(items, |request| endpoints_named(CREATE_TAGS, request, None)), ["eice-1"]);
    }

    #[test]
    fn values_are_read_bare_or_in_content_and_members_in_either_case() {
        assert_eq!(with(r#""subnet-1""#, text).as_deref(), Some("subnet-1"), "a bare value");
        assert_eq!(with(r#"{"content": "subnet-1", "tag": 1}"#, text).as_deref(), Some("subnet-1"));
        assert_eq!(with(r#"{"Content": "subnet-1"}"#, text).as_deref(), Some("subnet-1"));
        assert_eq!(with("7", text), None, "a number is no text");
        assert_eq!(
            with(r#"{"SubnetId": "a", "subnetid": "b"}"#, |v| text(member(v, "subnetid"))).as_deref(),
            Some("b"),
            "the exact name first"
        );
        assert_eq!(
            with(r#"{"SUBNETID": "a", "subnetId": "b"}"#, |v| text(member(v, "SubnetId"))).as_deref(),
            Some("a"),
            "else the first in any case"
        );
        assert!(with(r#"["SubnetId"]"#, |v| member(v, "SubnetId").is_none()), "a list has no members");
        for (json, expected) in [
            ("true", Some(true)),
            ("false", Some(false)),
            (r#""true""#, Some(true)),
            (r#""FALSE""#, Some(false)),
            (r#"{"content": "True", "tag": 1}"#, Some(true)),
            (r#"{"content": {"content": false}}"#, Some(false)),
            (r#""yes""#, None),
            ("1", None),
            ("null", None),
        ] {
            assert_eq!(with(json, boolean), expected, "{json}");
        }
    }

    #[test]
    fn a_create_takes_the_answer_then_the_request() {
        let asked = r#"{"SubnetId": "subnet-1", "PreserveClientIp": true, "IpAddressType": "ipv4",
            "SecurityGroupId": {"content": "sg-1", "tag": 1},
            "TagSpecification": {"ResourceType": "instance-connect-endpoint", "tag": 1,
                "Tag": {"Key": "Name", "Value": "eic-endpoint-1", "tag": 1}}}"#;
        let answer = r#"{"instanceConnectEndpointId": "eice-1", "vpcId": "vpc-1",
            "availabilityZone": "us-east-1a", "securityGroupIdSet": {"item": ["sg-2", "sg-1"]},
            "state": "create-in-progress"}"#;
        let settings = with(asked, |asked| with(answer, |answer| created(asked, answer)));
        assert_eq!(
            settings,
            Settings {
                name: Some(Some("eic-endpoint-1".into())),
                subnet_id: Some("subnet-1".into()),
                vpc_id: Some("vpc-1".into()),
                availability_zone: Some("us-east-1a".into()),
                security_group_ids: strings(&["sg-1", "sg-2"]),
                preserve_client_ip: Some(true),
                ip_address_type: Some("ipv4".into()),
            },
            "the groups answered, the name from the request's TagSpecification"
        );
        let answered_name = r#"{"tagSet": {"item": {"key": "Name", "value": "answered"}}}"#;
        let settings = with(asked, |asked| with(answered_name, |answer| created(asked, answer)));
        assert_eq!(settings.name, Some(Some("answered".into())));
        assert_eq!(settings.security_group_ids, strings(&["sg-1"]), "from the request");
    }

    #[test]
    fn a_modification_says_only_what_it_asked_for() {
        let asked = r#"{"InstanceConnectEndpointId": "eice-1",
            "SecurityGroupId": [{"content": "sg-5", "tag": 1}, {"content": "sg-4", "tag": 2}]}"#;
        assert_eq!(
            with(asked, modified),
            Settings { security_group_ids: strings(&["sg-4", "sg-5"]), ..Settings::default() }
        );
        let asked = r#"{"PreserveClientIp": "true", "IpAddressType": "dualstack", "SubnetId": "s"}"#;
        assert_eq!(
            with(asked, modified),
            Settings {
                preserve_client_ip: Some(true),
                ip_address_type: Some("dualstack".into()),
                ..Settings::default()
            }
        );
    }

    #[test]
    fn tag_calls_rename_or_unname() {
        let create = r#"{"resourcesSet": {"items": [{"resourceId": "eice-1"}]},
            "tagSet": {"items": [{"key": "Name", "value": "new"}]}}"#;
        assert_eq!(with(create, |r| tag_value(r, true)), Tagged::Set("new".into()));
        let delete = r#"{"tagSet": {"items": [{"key": "Name"}]}}"#;
        assert_eq!(with(delete, |r| tag_value(r, false)), Tagged::Removed(None));
        let other = r#"{"tagSet": {"items": [{"key": "team", "value": "ops"}]}}"#;
        assert_eq!(with(other, |r| tag_value(r, true)), Tagged::Untouched);
    }

    /// The call the extractor keeps on the event of `record`, if it keeps an event.
    fn call_of(record: &str) -> Option<Option<Call>> {
        let tables = Tables::default();
        let event = Extractor::new(&tables).extract(record.as_bytes()).expect("valid JSON")?;
        Some(event.call.map(|call| *call))
    }

    #[test]
    fn the_extractor_keeps_the_call_of_a_lifecycle_event_only() {
        let ec2 = |name: &str, rest: &str| {
            format!(
                r#"{{"eventTime":"2024-03-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"{name}",{rest}"eventID":"e-1","awsRegion":"us-east-1"}}"#
            )
        };
        let delete = r#""requestParameters":{"DeleteInstanceConnectEndpointRequest":{"InstanceConnectEndpointId":"eice-1"}},"#;
        assert_eq!(
            call_of(&ec2(DELETE_ENDPOINT, delete)),
            Some(Some(Call {
                endpoints: vec!["eice-1".into()],
                event_id: Some("e-1".into()),
                does: Does::Deleted
            }))
        );
        // In an EventBridge envelope, the record in its `detail`.
        let envelope = format!(
            r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#,
            ec2(DELETE_ENDPOINT, delete)
        );
        assert_eq!(call_of(&envelope), call_of(&ec2(DELETE_ENDPOINT, delete)));
        // Records of EC2 that hold the needles and are no lifecycle call: none is kept.
        let describe = r#""requestParameters":{"DescribeInstanceConnectEndpointsRequest":{"InstanceConnectEndpointId":"eice-1"}},"#;
        assert_eq!(call_of(&ec2("DescribeInstanceConnectEndpoints", describe)), None);
        let instance_tags = r#""requestParameters":{"resourcesSet":{"items":[{"resourceId":"i-1"}]},"tagSet":{"items":[{"key":"Name","value":"\"eice-x"}]}},"#;
        assert_eq!(call_of(&ec2(CREATE_TAGS, instance_tags)), None);
        // A tag call is one when an endpoint is among its resources, in whichever form the list
        // is written, and a dry run is none.
        for resources in [
            r#"{"items":[{"resourceId":"i-1"},{"resourceId":"eice-2"}]}"#,
            r#"{"item":{"resourceId":"eice-2"}}"#,
        ] {
            let tags = format!(
                r#""requestParameters":{{"resourcesSet":{resources},"tagSet":{{"items":[{{"key":"Name","value":"db"}}]}}}},"#
            );
            let call = call_of(&ec2(CREATE_TAGS, &tags)).flatten().expect("a lifecycle call");
            assert_eq!(
                (call.endpoints, call.does),
                (vec!["eice-2".to_owned()], Does::Tagged(Tagged::Set("db".into())))
            );
            let dry = format!(r#"{tags}"errorCode":"Client.DryRunOperation","#);
            assert_eq!(call_of(&ec2(CREATE_TAGS, &dry)), None, "{resources}");
        }
        // An Instance Connect event is kept, and has no call.
        let tunnel = r#"{"eventTime":"2024-03-01T00:00:00Z","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","requestParameters":{"instanceConnectEndpointId":"eice-1"}}"#;
        assert_eq!(call_of(tunnel), Some(None));
    }
}
