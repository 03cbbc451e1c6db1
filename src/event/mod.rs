//! Records to Instance Connect events: decides on the parsed `eventSource`, and keeps of each
//! event what pairing, attribution and the field analysis need, compactly: who, where, when,
//! which endpoint, and for every leaf of the record a 64-bit hash of its value, in the order of its
//! shape's paths. The record's text stays in the [`spool`], read back only for the few events a
//! report quotes.

pub(crate) mod spool;
pub(crate) mod tables;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use simd_json::{Buffers, Node, StaticNode, Tape};

use crate::decode::json::{push_json_string, with_tape, Json};
use crate::error::Reason;
use crate::time::Timestamp;
use spool::RecordRef;
use tables::{Cache, FastMap, PathId, ShapeId, Sym, Tables, Vocabulary};

/// The `eventSource` of every EC2 Instance Connect event.
pub(crate) const EVENT_SOURCE: &str = "ec2-instance-connect.amazonaws.com";
pub(crate) const OPEN_TUNNEL: &str = "OpenTunnel";
pub(crate) const SEND_SSH_PUBLIC_KEY: &str = "SendSSHPublicKey";
pub(crate) const SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY: &str = "SendSerialConsoleSSHPublicKey";
const ENDPOINT_RESOURCE_TYPE: &str = "AWS::EC2::InstanceConnectEndpoint";

/// The event names whose fields are analyzed: only their events keep leaf values.
pub(crate) const ANALYZED_EVENT_NAMES: [&str; 2] = [OPEN_TUNNEL, SEND_SSH_PUBLIC_KEY];

/// Where an event was read: the object's rank among the objects that held Instance Connect
/// events, sorted by name, and the record's position in the object. Sorting by origin is what
/// makes results independent of threads, listing order and shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Origin {
    pub(crate) object: u32,
    pub(crate) record: u32,
}

/// An Instance Connect Endpoint id (`eice-…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointId(pub String);

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One Instance Connect event, reduced to what the analysis needs (a few hundred bytes).
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) origin: Origin,
    pub(crate) time: Option<Timestamp>,
    /// What makes two copies of the event the same event: its `eventID` (a UUID, kept exactly,
    /// or a 128-bit hash of another text), else a hash of its whole content.
    pub(crate) id: u128,
    /// A hash of every (path, value) of the record: equal for equal copies.
    pub(crate) content: u64,
    pub(crate) name: Sym,
    /// `recipientAccountId` (the account whose trail logged it), else `userIdentity.accountId`.
    pub(crate) account: Sym,
    pub(crate) region: Sym,
    /// `userIdentity.arn`: who made the call.
    pub(crate) principal: Sym,
    pub(crate) error: Option<Sym>,
    /// For `OpenTunnel`: the endpoint from the request, else from the endpoint resource's ARN.
    pub(crate) endpoint: Option<Sym>,
    pub(crate) shape: ShapeId,
    /// A hash of each leaf's value, in the order of the shape's paths; empty for event names
    /// that are not analyzed.
    pub(crate) values: Box<[u64]>,
    pub(crate) record: RecordRef,
}

impl Event {
    pub(crate) fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// What a run keeps of the Instance Connect events it read.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// Sorted by origin.
    pub(crate) events: Vec<Event>,
    /// The names of the objects events came from, by `Origin::object`.
    pub(crate) objects: Vec<String>,
    pub(crate) vocabulary: Vocabulary,
    pub(crate) spool: spool::Spool,
}

impl Kept {
    /// Every leaf of the event's record as `(path, compact JSON text)`, read back from the spool.
    pub(crate) fn texts(&self, event: &Event) -> Result<BTreeMap<String, String>, Reason> {
        let mut bytes = Vec::new();
        self.spool.read(event.record, &mut bytes).map_err(Reason::Read)?;
        let mut buffers = Buffers::default();
        let mut tape = Tape(Vec::new());
        with_tape(&mut tape, &mut buffers, &mut bytes, |nodes| {
            let mut fields = BTreeMap::new();
            if let Some(record) = Json::root(nodes).map(unwrap_envelope) {
                let mut leaves = Vec::new();
                leaf_paths(record, &mut String::new(), &mut |path, value| {
                    let mut text = String::new();
                    value.write_text(&mut text);
                    leaves.push((path.to_owned(), text));
                });
                // The first of repeated paths, as the extractor keeps.
                for (path, text) in leaves {
                    fields.entry(path).or_insert(text);
                }
            }
            fields
        })
        .map_err(|e| Reason::Json { at: None, detail: e.to_string() })
    }
}

/// A record that is an EventBridge envelope stands for the record in its `detail`.
pub(crate) fn unwrap_envelope<'t, 'i>(root: Json<'t, 'i>) -> Json<'t, 'i> {
    match (root.get("detail-type"), root.get("detail")) {
        (Some(_), Some(detail)) if detail.is_object() => detail,
        _ => root,
    }
}

/// The paths and values of a record's shape as the extractor learned it: the shape, and for each
/// of its paths the position of the leaf in document order.
struct Learned {
    shape: ShapeId,
    order: Box<[u32]>,
}

/// A structure seen before, and the shape learned from it.
type Known = (Box<[u8]>, Learned);

/// One worker's extraction state: parser buffers, and caches of shapes and symbols.
pub(crate) struct Extractor<'t> {
    tables: &'t Tables,
    cache: Cache,
    /// Shapes by the record's structure (its keys and nesting, not its values), under a hash of
    /// the structure so that it is hashed once per record.
    shapes: FastMap<u64, Vec<Known>>,
    buffers: Buffers,
    tape: Tape<'static>,
    scratch: Vec<u8>,
    structure: Vec<u8>,
    leaves: Vec<u64>,
}

impl<'t> Extractor<'t> {
    pub(crate) fn new(tables: &'t Tables) -> Self {
        Extractor {
            tables,
            cache: Cache::default(),
            shapes: FastMap::default(),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
            scratch: Vec::new(),
            structure: Vec::new(),
            leaves: Vec::new(),
        }
    }

    /// The Instance Connect event in `record`, or `None` when it is a record of another service
    /// (however often it mentions Instance Connect elsewhere). `record` is not modified: the
    /// caller keeps its text. Origin and spool place are left for the caller to fill in.
    pub(crate) fn extract(&mut self, record: &[u8]) -> Result<Option<Event>, Reason> {
        let Extractor { tables, cache, shapes, buffers, tape, scratch, structure, leaves } = self;
        scratch.clear();
        scratch.extend_from_slice(record);
        with_tape(tape, buffers, scratch, |nodes| {
            let Some(root) = Json::root(nodes) else {
                return Ok(None);
            };
            if !root.is_object() {
                return Err(Reason::Shape("a record that is not a JSON object".into()));
            }
            let record = unwrap_envelope(root);
            if record.get("eventSource").and_then(Json::as_str) != Some(EVENT_SOURCE) {
                return Ok(None);
            }
            structure.clear();
            leaves.clear();
            walk(record, structure, leaves);
            let known =
                shapes.entry(foldhash::fast::FixedState::default().hash_one(&structure[..])).or_default();
            let i = match known.iter().position(|(s, _)| **s == structure[..]) {
                Some(i) => i,
                None => {
                    known.push((structure.as_slice().into(), learn(tables, record)));
                    known.len() - 1
                }
            };
            Ok(Some(compact(record, &known[i].1, leaves, cache, tables)))
        })
        .map_err(|e| Reason::Json { at: None, detail: e.to_string() })?
    }
}

/// The event of `record`, whose leaves' value hashes are `leaves` in document order.
fn compact(
    record: Json<'_, '_>,
    learned: &Learned,
    leaves: &[u64],
    cache: &mut Cache,
    tables: &Tables,
) -> Event {
    let text = |key: &str| record.get(key).and_then(Json::as_str);
    let identity = record.get("userIdentity");
    let account = text("recipientAccountId")
        .or_else(|| identity.and_then(|i| i.get("accountId")).and_then(Json::as_str))
        .unwrap_or_default();
    let name = text("eventName").unwrap_or_default();
    let endpoint = (name == OPEN_TUNNEL).then(|| endpoint_of(record)).flatten();
    let principal = identity.and_then(|i| i.get("arn")).and_then(Json::as_str).unwrap_or_default();
    let values: Vec<u64> = learned.order.iter().map(|&i| leaves[i as usize]).collect();
    let mut content = value_hasher();
    learned.shape.hash(&mut content);
    values.hash(&mut content);
    let content = content.finish();
    let event_id = text("eventID");
    let mut symbol = |s: &str| cache.symbol(tables, s);
    Event {
        origin: Origin::default(),
        time: text("eventTime").and_then(Timestamp::parse),
        id: event_id.map_or_else(|| u128::from(content), event_key),
        content,
        name: symbol(name),
        account: symbol(account),
        region: symbol(text("awsRegion").unwrap_or_default()),
        principal: symbol(principal),
        error: text("errorCode").map(&mut symbol),
        endpoint: endpoint.map(&mut symbol),
        shape: learned.shape,
        values: if ANALYZED_EVENT_NAMES.contains(&name) { values.into() } else { Box::default() },
        record: RecordRef { offset: 0, len: 0, segment: 0 },
    }
}

/// An `eventID`: a UUID is kept exactly as its 128 bits; anything else is hashed to 128 bits.
fn event_key(id: &str) -> u128 {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if id.len() == 36 && hex.len() == 32 {
        if let Ok(uuid) = u128::from_str_radix(&hex, 16) {
            return uuid;
        }
    }
    let half = |salt: u8| {
        let mut h = value_hasher();
        h.write_u8(salt);
        h.write(id.as_bytes());
        u128::from(h.finish())
    };
    half(1) << 64 | half(2)
}

fn endpoint_of<'i>(record: Json<'_, 'i>) -> Option<&'i str> {
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
    requested.or_else(from_resource)
}

/// Writes the record's structure (keys, nesting, where leaves are) to `structure`, and each
/// leaf's value hash to `leaves`, in document order. Two records with equal structures have equal
/// paths in equal order, which is what lets the shape be looked up instead of rebuilt.
fn walk(value: Json<'_, '_>, structure: &mut Vec<u8>, leaves: &mut Vec<u64>) {
    match value.node() {
        Node::Object { len, .. } if len > 0 => {
            structure.push(b'{');
            for (key, child) in value.entries() {
                structure.extend_from_slice(&(key.len() as u32).to_le_bytes());
                structure.extend_from_slice(key.as_bytes());
                walk(child, structure, leaves);
            }
            structure.push(b'}');
        }
        Node::Array { len, .. } if len > 0 => {
            structure.push(b'[');
            for child in value.elements() {
                walk(child, structure, leaves);
            }
            structure.push(b']');
        }
        _ => {
            structure.push(b'.');
            leaves.push(value_hash(value));
        }
    }
}

/// The hasher of values, contents and event ids: fixed-seeded, so equal inputs hash equal in
/// every run and on every worker. These hashes only tell equal from different (sorted only to
/// bring equal ones together; never shown or stored), so which function makes them does not
/// reach a report: foldhash's quality variant, where `std`'s SipHash was 8% of all instructions
/// on an Instance Connect-heavy archive.
fn value_hasher() -> foldhash::quality::FoldHasher<'static> {
    foldhash::quality::FixedState::default().build_hasher()
}

/// A leaf's value, hashed so that equal compact JSON texts hash equal and nothing else does
/// (but by a 2^-64 chance): the string `"22"` and the number `22` differ, as `null` and a
/// missing path do.
fn value_hash(value: Json<'_, '_>) -> u64 {
    let mut h = value_hasher();
    match value.node() {
        Node::String(s) => {
            h.write_u8(b's');
            h.write(s.as_bytes());
        }
        Node::Static(StaticNode::Bool(b)) => h.write_u8(if b { b't' } else { b'f' }),
        Node::Static(StaticNode::Null) => h.write_u8(b'z'),
        Node::Object { .. } => h.write_u8(b'{'),
        Node::Array { .. } => h.write_u8(b'['),
        Node::Static(_) => {
            // Numbers by their text, so 5 read as signed and as unsigned are one value; a
            // float that JSON cannot hold is written as null, and hashes as null.
            let mut text = String::new();
            value.write_text(&mut text);
            if text == "null" {
                h.write_u8(b'z');
            } else {
                h.write_u8(b'n');
                h.write(text.as_bytes());
            }
        }
    }
    h.finish()
}

/// Learns a new shape from `record`: its paths in document order, interned, and the order that
/// sorts them by path id (so a path's place in a shape is found by binary search), keeping the
/// first of repeated paths.
fn learn(tables: &Tables, record: Json<'_, '_>) -> Learned {
    let mut paths = Vec::new();
    leaf_paths(record, &mut String::new(), &mut |path, _| paths.push(tables.path(path)));
    let mut order: Vec<u32> = (0..paths.len() as u32).collect();
    // A stable sort keeps document order among equal paths; dedup keeps the first of each.
    order.sort_by_key(|&i| paths[i as usize]);
    order.dedup_by_key(|i| paths[*i as usize]);
    let ids: Vec<PathId> = order.iter().map(|&i| paths[i as usize]).collect();
    Learned { shape: tables.shape(&ids), order: order.into() }
}

/// Calls `leaf` with each leaf's path and value, in document order. Leaves are scalars, null,
/// `{}` and `[]`; paths read `a.b`, `a[0].b`, and `a["odd.key"]` where a dot path could not show
/// the key unambiguously.
fn leaf_paths<'t, 'i>(value: Json<'t, 'i>, path: &mut String, leaf: &mut dyn FnMut(&str, Json<'t, 'i>)) {
    let parent = path.len();
    let mut has_children = false;
    for (key, child) in value.entries() {
        has_children = true;
        push_key(path, key);
        leaf_paths(child, path, leaf);
        path.truncate(parent);
    }
    for (index, child) in value.elements().enumerate() {
        has_children = true;
        path.push('[');
        path.push_str(&index.to_string());
        path.push(']');
        leaf_paths(child, path, leaf);
        path.truncate(parent);
    }
    if !has_children {
        leaf(path, value);
    }
}

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

    struct Fixture {
        tables: Tables,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture { tables: Tables::default() }
        }

        fn extract(&self, text: &str) -> Option<Event> {
            Extractor::new(&self.tables).extract(text.as_bytes()).expect("valid JSON")
        }
    }

    fn flat(text: &str) -> Vec<(String, String)> {
        let mut bytes = text.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("valid JSON");
        let mut out = Vec::new();
        leaf_paths(Json::root(&tape.0).expect("root"), &mut String::new(), &mut |p, v| {
            let mut t = String::new();
            v.write_text(&mut t);
            out.push((p.to_owned(), t));
        });
        out.sort();
        out
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(p, v)| (p.to_string(), v.to_string())).collect()
    }

    #[test]
    fn leaves_are_named_by_dotted_path_and_index() {
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
        let fields = flat(r#"{"tags":{"a.b":1,"":2}}"#);
        assert_eq!(fields, pairs(&[("tags[\"\"]", "2"), ("tags[\"a.b\"]", "1")]));
    }

    #[test]
    fn only_the_parsed_event_source_makes_an_event() {
        let f = Fixture::new();
        let policy = r#"{"eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy",
            "requestParameters":{"policyDocument":"{\"Principal\":{\"Service\":\"ec2-instance-connect.amazonaws.com\"}}"}}"#;
        assert!(f.extract(policy).is_none());
        let near_miss =
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com.evil","eventName":"OpenTunnel"}"#;
        assert!(f.extract(near_miss).is_none());
    }

    #[test]
    fn open_tunnel_endpoint_comes_from_request_or_resource_arn() {
        let f = Fixture::new();
        let from_request = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel",
            "requestParameters":{"instanceConnectEndpointId":"eice-1"},"recipientAccountId":"111",
            "awsRegion":"us-east-1","userIdentity":{"arn":"arn:aws:iam::111:user/a"},
            "eventTime":"2024-03-01T00:00:00Z","eventID":"0b7c9f3e-1111-2222-3333-444455556666"}"#;
        let event = f.extract(from_request).expect("an event");
        let from_resource = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel",
            "errorCode":"AccessDenied","requestParameters":{},"resources":[
            {"type":"AWS::EC2::Instance","ARN":"arn:aws:ec2:us-east-1:111:instance/i-1"},
            {"type":"AWS::EC2::InstanceConnectEndpoint",
             "ARN":"arn:aws:ec2:us-east-1:111:instance-connect-endpoint/eice-2"}]}"#;
        let denied = f.extract(from_resource).expect("an event");
        let v = f.tables.freeze();
        assert_eq!(event.endpoint.map(|s| v.text(s)), Some("eice-1"));
        assert_eq!((v.text(event.account), v.text(event.region)), ("111", "us-east-1"));
        assert_eq!(v.text(event.principal), "arn:aws:iam::111:user/a");
        assert_eq!(event.id, 0x0b7c9f3e_1111_2222_3333_444455556666, "a UUID is kept exactly");
        assert!(event.time.is_some() && event.succeeded());
        assert_eq!(denied.endpoint.map(|s| v.text(s)), Some("eice-2"));
        assert_eq!(denied.error.map(|s| v.text(s)), Some("AccessDenied"));
    }

    #[test]
    fn keys_name_no_endpoint() {
        let f = Fixture::new();
        let key = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey",
            "requestParameters":{"instanceId":"i-1","instanceConnectEndpointId":"eice-9"}}"#;
        assert_eq!(f.extract(key).expect("an event").endpoint, None, "only a tunnel names its endpoint");
    }

    #[test]
    fn values_follow_the_shape_and_equal_texts_hash_equal() {
        let f = Fixture::new();
        let a = f.extract(
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","k":"22","n":5}"#,
        );
        // Other key order, same values: the same shape, the same hashes in the same places.
        let b = f.extract(
            r#"{"n":5,"eventName":"OpenTunnel","k":"22","eventSource":"ec2-instance-connect.amazonaws.com"}"#,
        );
        let c = f.extract(
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","k":22,"n":5}"#,
        );
        let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
        assert_eq!(a.shape, b.shape);
        assert_eq!(a.values, b.values);
        assert_eq!(a.content, b.content, "copies in another key order are the same content");
        assert_ne!(a.values, c.values, "the string \"22\" is not the number 22");
        let v = f.tables.freeze();
        let mut paths: Vec<&str> = v.shape(a.shape).iter().map(|&p| v.path(p)).collect();
        assert!(v.shape(a.shape).is_sorted(), "sorted by path id");
        paths.sort();
        assert_eq!(paths, ["eventName", "eventSource", "k", "n"]);
    }

    #[test]
    fn repeated_keys_keep_the_first_value() {
        let f = Fixture::new();
        let a = f.extract(
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","k":1,"k":2}"#,
        );
        let b = f.extract(
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","k":1}"#,
        );
        assert_eq!(a.expect("a").values, b.expect("b").values);
    }

    #[test]
    fn an_eventbridge_envelope_is_its_detail() {
        let f = Fixture::new();
        let envelope = r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.ec2-instance-connect",
            "detail":{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey","awsRegion":"eu-west-1"}}"#;
        let event = f.extract(envelope).expect("an event");
        let v = f.tables.freeze();
        assert_eq!((v.text(event.name), v.text(event.region)), ("SendSSHPublicKey", "eu-west-1"));
        assert_eq!(v.shape(event.shape).len(), 3, "the envelope's own fields are not the record's");
    }

    #[test]
    fn other_event_names_keep_no_values() {
        let f = Fixture::new();
        let other =
            f.extract(r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"Future","k":1}"#);
        assert!(other.expect("an event").values.is_empty());
    }
}
