//! Records to Instance Connect events: decides on the parsed `eventSource`, pulls out what pairing
//! and attribution need, and flattens the record to leaf paths for the field analysis.

use std::fmt;

use serde::Serialize;

use crate::decode::json::{push_json_string, Json};
use crate::time::Timestamp;

/// The `eventSource` of every EC2 Instance Connect event.
pub const EVENT_SOURCE: &str = "ec2-instance-connect.amazonaws.com";
pub const OPEN_TUNNEL: &str = "OpenTunnel";
pub const SEND_SSH_PUBLIC_KEY: &str = "SendSSHPublicKey";
pub const SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY: &str = "SendSerialConsoleSSHPublicKey";
const ENDPOINT_RESOURCE_TYPE: &str = "AWS::EC2::InstanceConnectEndpoint";

/// Where an event was read: the object's position in the sorted listing and the record's
/// position in the object. Sorting by origin is what makes results independent of threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub object: u32,
    pub record: u32,
}

/// An Instance Connect Endpoint id (`eice-…`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EndpointId(pub String);

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A leaf of a flattened record: `resources[0].ARN` and its compact JSON text (`"arn:…"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Field {
    pub path: String,
    pub value: String,
}

/// One record whose `eventSource` is Instance Connect, reduced to what the analysis needs.
#[derive(Debug, Clone)]
pub struct IcEvent {
    pub origin: Origin,
    pub name: String,
    pub time: Option<Timestamp>,
    /// `recipientAccountId` (the account whose trail logged it).
    pub account: String,
    pub region: String,
    /// `userIdentity.arn`: who made the call.
    pub principal: String,
    pub error_code: Option<String>,
    /// For `OpenTunnel`: the endpoint from the request, else from the endpoint resource's ARN.
    pub endpoint: Option<EndpointId>,
    /// Every leaf of the record, sorted by path, one entry per path.
    pub fields: Vec<Field>,
}

impl IcEvent {
    pub fn succeeded(&self) -> bool {
        self.error_code.is_none()
    }
}

/// The Instance Connect event in `record`, or `None` when the record is of another service
/// (however often it mentions Instance Connect elsewhere).
pub fn extract(record: Json<'_, '_>, record_index: u32) -> Option<IcEvent> {
    if record.get("eventSource").and_then(Json::as_str) != Some(EVENT_SOURCE) {
        return None;
    }
    let text = |key: &str| record.get(key).and_then(Json::as_str);
    let identity = record.get("userIdentity");
    let account = text("recipientAccountId")
        .or_else(|| identity.and_then(|i| i.get("accountId")).and_then(Json::as_str))
        .unwrap_or_default();
    let name = text("eventName").unwrap_or_default().to_owned();
    let endpoint = (name == OPEN_TUNNEL).then(|| endpoint_of(record)).flatten();
    let mut fields = Vec::new();
    flatten(record, &mut String::new(), &mut fields);
    Some(IcEvent {
        origin: Origin { object: 0, record: record_index },
        name,
        time: text("eventTime").and_then(Timestamp::parse),
        account: account.to_owned(),
        region: text("awsRegion").unwrap_or_default().to_owned(),
        principal: identity.and_then(|i| i.get("arn")).and_then(Json::as_str).unwrap_or_default().to_owned(),
        error_code: text("errorCode").map(str::to_owned),
        endpoint,
        fields,
    })
}

fn endpoint_of(record: Json<'_, '_>) -> Option<EndpointId> {
    let requested = record
        .get("requestParameters")
        .and_then(|p| p.get("instanceConnectEndpointId"))
        .and_then(Json::as_str)
        .filter(|id| !id.is_empty());
    let from_resource = || {
        record.get("resources")?.elements().find_map(|resource| {
            if resource.get("type").and_then(Json::as_str) != Some(ENDPOINT_RESOURCE_TYPE) {
                return None;
            }
            let arn = resource.get("ARN").and_then(Json::as_str)?;
            arn.rsplit('/').next().filter(|id| !id.is_empty() && !id.contains(':'))
        })
    };
    requested.or_else(from_resource).map(|id| EndpointId(id.to_owned()))
}

/// Flattens `value` into `out` as leaf paths, sorted, one per path (a repeated key keeps its
/// first value). Leaves are scalars, null, `{}` and `[]`.
pub fn flatten(value: Json<'_, '_>, path: &mut String, out: &mut Vec<Field>) {
    let mut leaves = Vec::new();
    flatten_into(value, path, &mut leaves);
    // A stable sort keeps document order among equal paths, and dedup keeps the first of each.
    leaves.sort_by(|a, b| a.path.cmp(&b.path));
    leaves.dedup_by(|later, earlier| later.path == earlier.path);
    out.extend(leaves);
}

fn flatten_into(value: Json<'_, '_>, path: &mut String, out: &mut Vec<Field>) {
    let parent = path.len();
    let mut has_children = false;
    for (key, child) in value.entries() {
        has_children = true;
        push_key(path, key);
        flatten_into(child, path, out);
        path.truncate(parent);
    }
    for (index, child) in value.elements().enumerate() {
        has_children = true;
        path.push('[');
        path.push_str(&index.to_string());
        path.push(']');
        flatten_into(child, path, out);
        path.truncate(parent);
    }
    if !has_children {
        let mut text = String::new();
        value.write_text(&mut text);
        out.push(Field { path: path.clone(), value: text });
    }
}

/// `a.b` for plain keys; `a["odd.key"]` for keys a dot path could not show unambiguously.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty() && !key.contains(['.', '[', ']', '"', '\\']);
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        push_json_string(key, path);
        path.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_record<R>(text: &str, f: impl FnOnce(Json<'_, '_>) -> R) -> R {
        let mut bytes = text.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("valid JSON");
        f(Json::root(&tape.0).expect("root"))
    }

    fn flat(text: &str) -> Vec<(String, String)> {
        with_record(text, |record| {
            let mut out = Vec::new();
            flatten(record, &mut String::new(), &mut out);
            out.into_iter().map(|f| (f.path, f.value)).collect()
        })
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(p, v)| (p.to_string(), v.to_string())).collect()
    }

    #[test]
    fn flatten_names_leaves_by_dotted_path_and_index() {
        let fields = flat(r#"{"b":{"c":"22","d":22},"a":[{"ARN":"x"},[]],"e":null,"f":{}}"#);
        assert_eq!(
            fields,
            pairs(&[
                ("a[0].ARN", "\"x\""),
                ("a[1]", "[]"),
                ("b.c", "\"22\""),
                ("b.d", "22"),
                ("e", "null"),
                ("f", "{}"),
            ])
        );
    }

    #[test]
    fn flatten_quotes_keys_a_dot_path_would_confuse() {
        let fields = flat(r#"{"tags":{"a.b":1,"":2}}"#);
        assert_eq!(fields, pairs(&[("tags[\"\"]", "2"), ("tags[\"a.b\"]", "1")]));
    }

    #[test]
    fn flatten_keeps_the_first_of_repeated_keys() {
        assert_eq!(flat(r#"{"k":1,"k":2,"j":0}"#), pairs(&[("j", "0"), ("k", "1")]));
    }

    #[test]
    fn only_the_parsed_event_source_makes_an_event() {
        let policy = r#"{"eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy",
            "requestParameters":{"policyDocument":"{\"Principal\":{\"Service\":\"ec2-instance-connect.amazonaws.com\"}}"}}"#;
        assert!(with_record(policy, |r| extract(r, 0)).is_none());
        let near_miss =
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com.evil","eventName":"OpenTunnel"}"#;
        assert!(with_record(near_miss, |r| extract(r, 0)).is_none());
    }

    #[test]
    fn open_tunnel_endpoint_comes_from_request_or_resource_arn() {
        let from_request = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel",
            "requestParameters":{"instanceConnectEndpointId":"eice-1"},"recipientAccountId":"111",
            "awsRegion":"us-east-1","userIdentity":{"arn":"arn:aws:iam::111:user/a"},
            "eventTime":"2024-03-01T00:00:00Z"}"#;
        let event = with_record(from_request, |r| extract(r, 7)).expect("an event");
        assert_eq!(event.endpoint, Some(EndpointId("eice-1".into())));
        assert_eq!((event.account.as_str(), event.region.as_str()), ("111", "us-east-1"));
        assert_eq!(event.principal, "arn:aws:iam::111:user/a");
        assert_eq!(event.origin.record, 7);
        assert!(event.time.is_some() && event.succeeded());

        let from_resource = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel",
            "errorCode":"AccessDenied","requestParameters":{},"resources":[
            {"type":"AWS::EC2::Instance","ARN":"arn:aws:ec2:us-east-1:111:instance/i-1"},
            {"type":"AWS::EC2::InstanceConnectEndpoint",
             "ARN":"arn:aws:ec2:us-east-1:111:instance-connect-endpoint/eice-2"}]}"#;
        let event = with_record(from_resource, |r| extract(r, 0)).expect("an event");
        assert_eq!(event.endpoint, Some(EndpointId("eice-2".into())));
        assert_eq!(event.error_code.as_deref(), Some("AccessDenied"));
    }

    #[test]
    fn keys_name_no_endpoint() {
        let key = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey",
            "requestParameters":{"instanceId":"i-1","instanceConnectEndpointId":"eice-9"}}"#;
        let event = with_record(key, |r| extract(r, 0)).expect("an event");
        assert_eq!(event.endpoint, None, "only a tunnel says which endpoint carried it");
    }
}
