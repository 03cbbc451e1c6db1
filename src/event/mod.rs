//! Records to Instance Connect events: decides on the parsed `eventSource`, and keeps of each
//! event what pairing, attribution and the field analysis need, compactly: who, where, when,
//! which endpoint, and for every leaf of the record a 64-bit hash of its value, in the order of its
//! shape's paths. The record's text stays in the spool ([`crate::spill::records`]), read back only for the few events a
//! report quotes. An endpoint's lifecycle call keeps beside that what it says ([`lifecycle`]),
//! read from the same parse.

mod flat;
pub(crate) mod lifecycle;
pub(crate) mod tables;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use simd_json::{Buffers, Node, StaticNode, Tape};

use crate::decode::json::{push_json_string, with_tape, Json};
use crate::error::Reason;
use crate::spill::records::{self as spool, RecordRef};
use crate::time::Timestamp;
use flat::{scalar_hash, value_hasher, Flat, Scalar};
use lifecycle::Call;
use tables::{Cache, FastMap, PathId, ShapeId, Sym, Tables, Vocabulary};

/// The `eventSource` of every EC2 Instance Connect event.
pub(crate) const EVENT_SOURCE: &str = "ec2-instance-connect.amazonaws.com";
/// What the text of a record that may be an event holds, said once, here: the decoder hands on to
/// [`Extractor::extract`] only the records that hold every needle of one of these alternatives,
/// written any way JSON allows (see `decode::needles`, which refuses a needle that an escape other
/// than `\u` could write). The extractor then decides by the record's parsed values.
///
/// `"ec2-instance-connect.amazonaws.com` is what a record's bytes hold when its `eventSource` is
/// [`EVENT_SOURCE`] written as a JSON string: the value after its opening quote (`\"` inside a
/// LookupEvents `CloudTrailEvent` string too). The quote makes the search find fewer places to
/// check than the bare name does (a fortieth fewer instructions on an Instance Connect-heavy
/// archive).
///
/// The endpoints' lifecycle calls ([`LIFECYCLE_EVENT_NAMES`]) follow, each from [`EC2_SOURCE`]:
/// every endpoint call names `InstanceConnectEndpoint` in its `eventName` (a refused create names
/// no endpoint id), and a tag call on an endpoint names its id after a quote. `CreateTags` of other
/// resources, frequent in busy accounts, holds neither. The short needles are searched for only in
/// records that also hold `"ec2.amazonaws.com`: alone, they were a fifth of a run's instructions
/// (their rarest bytes are common in JSON), and most records are of other services.
///
/// Each alternative starts with `"ec2`, which the rest hold already: most records (of S3, STS,
/// KMS …) are then searched once, for it, and only those that hold it for the rest.
pub(crate) const CANDIDATE_NEEDLES: &[&[&[u8]]] = &[
    &[b"\"ec2", b"\"ec2-instance-connect.amazonaws.com"],
    &[b"\"ec2", b"\"ec2.amazonaws.com", b"InstanceConnectEndpoint"],
    &[b"\"ec2", b"\"ec2.amazonaws.com", b"\"eice-"],
];
/// The `eventSource` of the endpoints' own lifecycle calls ([`LIFECYCLE_EVENT_NAMES`]).
pub(crate) const EC2_SOURCE: &str = "ec2.amazonaws.com";
pub(crate) const CREATE_ENDPOINT: &str = "CreateInstanceConnectEndpoint";
pub(crate) const MODIFY_ENDPOINT: &str = "ModifyInstanceConnectEndpoint";
pub(crate) const DELETE_ENDPOINT: &str = "DeleteInstanceConnectEndpoint";
pub(crate) const CREATE_TAGS: &str = "CreateTags";
pub(crate) const DELETE_TAGS: &str = "DeleteTags";
/// The lifecycle calls of [`EC2_SOURCE`] kept as events: the endpoint calls always, the tag calls
/// when one of their resources is an endpoint (`eice-…`).
pub(crate) const LIFECYCLE_EVENT_NAMES: [&str; 5] =
    [CREATE_ENDPOINT, MODIFY_ENDPOINT, DELETE_ENDPOINT, CREATE_TAGS, DELETE_TAGS];
/// The ending of the `errorCode` of a call made with `DryRun` that would have been allowed
/// (`Client.DryRunOperation`): a permission check, not a call; such records are not kept.
const DRY_RUN: &str = "DryRunOperation";
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
    /// For a lifecycle call of [`EC2_SOURCE`], not an Instance Connect event: what it says, read
    /// here from the tape the record was parsed into, so that the analysis applies it without
    /// reading the record again. Boxed: most events are not lifecycle calls.
    pub(crate) call: Option<Box<Call>>,
    /// The `eventID` is a UUID written as CloudTrail writes it (lowercase `8-4-4-4-12`), so that
    /// [`id`](Event::id) gives its text back without reading the record again.
    pub(crate) id_written_as_uuid: bool,
}

impl Event {
    pub(crate) fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// The `eventID`'s text, when [`id`](Event::id) alone gives it.
    pub(crate) fn event_id(&self) -> Option<String> {
        if !self.id_written_as_uuid {
            return None;
        }
        // `8-4-4-4-12` lowercase hexadecimal digits, most significant first. Written by hand: a
        // findings list names thousands of events, and `format!` twice each was a tenth of it.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(36);
        for i in 0..32 {
            if matches!(i, 8 | 12 | 16 | 20) {
                text.push('-');
            }
            text.push(char::from(DIGITS[(self.id >> (124 - 4 * i)) as usize & 0xf]));
        }
        Some(text)
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
    /// The event's `eventID` as written (its text, unescaped), or, for a record without one, the
    /// hexadecimal digits of the hash that stands for it. A findings list names thousands of
    /// events: most need no reading back.
    pub(crate) fn event_id(&self, event: &Event) -> Result<String, Reason> {
        if let Some(id) = event.event_id() {
            return Ok(id);
        }
        let texts = self.texts(event)?;
        Ok(texts.get("eventID").map_or_else(|| format!("{:032x}", event.id), |t| unquote(t)))
    }

    /// Every leaf of the event's record as `(path, compact JSON text)`, read back from the spool.
    pub(crate) fn texts(&self, event: &Event) -> Result<BTreeMap<String, String>, Reason> {
        let mut bytes = Vec::new();
        self.spool.read(event.record, &mut bytes).map_err(Reason::read)?;
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

/// Where, among the leaves of a record of one structure, the fields an event is made of are: the
/// leaf each path leads to, or `None` where it leads to no leaf (a missing member, a container).
/// The first of repeated keys, as [`Json::get`] finds them.
#[derive(Debug, Default)]
struct Fields {
    name: Option<u32>,
    id: Option<u32>,
    time: Option<u32>,
    region: Option<u32>,
    recipient_account: Option<u32>,
    identity_account: Option<u32>,
    principal: Option<u32>,
    error: Option<u32>,
    requested_endpoint: Option<u32>,
    /// Each element of `resources`: its `type` and its `ARN`.
    resources: Box<[(Option<u32>, Option<u32>)]>,
}

/// The paths and values of a record's shape as the extractor learned it: the shape, for each of
/// its paths the position of the leaf in document order, and where the event's fields are.
struct Learned {
    shape: ShapeId,
    order: Box<[u32]>,
    fields: Fields,
}

/// A structure seen before, and the shape learned from it.
type Known = (Box<[u8]>, Learned);

/// How many of the structures last found are compared before a structure is hashed.
const RECENT: usize = 4;

/// The structures seen (a record's keys and nesting, not its values) and the shape learned from
/// each: found among the few last found by comparing them (records of an archive come in few
/// structures), else under a hash of the whole structure (hashing every candidate's structure was
/// two thirds of the cost of finding its shape).
#[derive(Default)]
struct Shapes {
    known: Vec<Known>,
    /// Numbers in `known`, by [`structure_hash`].
    by_hash: FastMap<u64, Vec<u32>>,
    /// The last found, most recent first.
    recent: [Option<u32>; RECENT],
}

impl Shapes {
    /// What was learned of `structure`, if it was seen before.
    fn find(&mut self, structure: &[u8]) -> Option<&Learned> {
        let is = |n: &u32| *self.known[*n as usize].0 == *structure;
        let number = match self.recent.iter().position(|r| r.as_ref().is_some_and(is)) {
            Some(at) => {
                self.recent[..=at].rotate_right(1);
                self.recent[0]?
            }
            None => {
                let number = *self.by_hash.get(&structure_hash(structure))?.iter().find(|n| is(n))?;
                self.recent.rotate_right(1);
                self.recent[0] = Some(number);
                number
            }
        };
        Some(&self.known[number as usize].1)
    }

    /// What was learned of `structure`, learned now with `learn` if it is new.
    fn learned(&mut self, structure: &[u8], learn: impl FnOnce() -> Learned) -> &Learned {
        let numbers = self.by_hash.entry(structure_hash(structure)).or_default();
        let number = match numbers.iter().find(|&&n| *self.known[n as usize].0 == *structure) {
            Some(&number) => number,
            None => {
                let number = u32::try_from(self.known.len()).expect("fewer than 2^32 structures");
                self.known.push((structure.into(), learn()));
                numbers.push(number);
                number
            }
        };
        &self.known[number as usize].1
    }
}

/// One worker's extraction state: the flat reader, parser buffers, and caches of shapes and
/// symbols.
pub(crate) struct Extractor<'t> {
    tables: &'t Tables,
    cache: Cache,
    shapes: Shapes,
    flat: Flat,
    buffers: Buffers,
    tape: Tape<'static>,
    scratch: Vec<u8>,
}

impl<'t> Extractor<'t> {
    pub(crate) fn new(tables: &'t Tables) -> Self {
        Extractor {
            tables,
            cache: Cache::default(),
            shapes: Shapes::default(),
            flat: Flat::default(),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
            scratch: Vec::new(),
        }
    }

    /// The Instance Connect event in `record`, or `None` when it is a record of another service
    /// (however often it mentions Instance Connect elsewhere). `record` is not modified: the
    /// caller keeps its text. Origin and spool place are left for the caller to fill in.
    ///
    /// A record is read once: flat when it can be (see [`flat`]), else parsed by simd-json,
    /// which is also what learns each new structure. Both give the same event.
    pub(crate) fn extract(&mut self, record: &[u8]) -> Result<Option<Event>, Reason> {
        match self.extract_flat(record) {
            Some(event) => Ok(event),
            None => self.extract_parsed(record),
        }
    }

    /// The event of `record` read flat, or `None` when it is left to simd-json: a record the flat
    /// reader does not read, an EventBridge envelope, an Instance Connect record of a structure
    /// not seen before, or a record of EC2 named as a lifecycle call (the flat reader sets the
    /// other calls of EC2 aside itself).
    fn extract_flat(&mut self, record: &[u8]) -> Option<Option<Event>> {
        let Extractor { tables, cache, shapes, flat, .. } = self;
        flat.read(record)?;
        if flat.member("detail-type").is_some() {
            return None;
        }
        let source = flat.member("eventSource").flatten().and_then(|leaf| flat.text(record, leaf));
        if source != Some(EC2_SOURCE.as_bytes()) && source != Some(EVENT_SOURCE.as_bytes()) {
            return Some(None);
        }
        if source == Some(EC2_SOURCE.as_bytes()) {
            // A lifecycle call is rare, and what makes it one is deeper than the flat reader
            // looks: it is parsed. Other calls of EC2 that name endpoints (a describe of them,
            // a network interface of one) are told apart by their name, here, without a parse.
            let name = flat.member("eventName").map(|leaf| leaf.and_then(|leaf| flat.text(record, leaf)));
            let lifecycle_name = |name: &[u8]| LIFECYCLE_EVENT_NAMES.iter().any(|n| n.as_bytes() == name);
            return match name {
                Some(Some(name)) if lifecycle_name(name) => None,
                _ => Some(None),
            };
        }
        let learned = shapes.find(&flat.structure)?;
        Some(Some(compact(learned, &flat.hashes, &|leaf| flat.text(record, leaf), cache, tables)))
    }

    /// The event of `record` parsed by simd-json, learning its structure if it is new.
    fn extract_parsed(&mut self, record: &[u8]) -> Result<Option<Event>, Reason> {
        let Extractor { tables, cache, shapes, flat, buffers, tape, scratch } = self;
        scratch.clear();
        scratch.extend_from_slice(record);
        with_tape(tape, buffers, scratch, |nodes| {
            let Some(root) = Json::root(nodes) else {
                return Ok(None);
            };
            if !root.is_object() {
                return Err(Reason::shape("a record that is not a JSON object"));
            }
            let record = unwrap_envelope(root);
            let call = match record.get("eventSource").and_then(Json::as_str) {
                Some(EVENT_SOURCE) => None,
                // A dry run (`Client.DryRunOperation`) is a permission check, not a call.
                Some(EC2_SOURCE) if !dry_run(record) => match Call::read(record) {
                    Some(call) => Some(Box::new(call)),
                    None => return Ok(None),
                },
                _ => return Ok(None),
            };
            let (structure, hashes) = (&mut flat.structure, &mut flat.hashes);
            structure.clear();
            hashes.clear();
            let mut texts = Vec::new();
            walk(record, structure, hashes, &mut texts);
            let learned = shapes.learned(structure, || learn(tables, record));
            let text = |leaf: u32| texts[leaf as usize].map(str::as_bytes);
            let mut event = compact(learned, hashes, &text, cache, tables);
            event.call = call;
            Ok(Some(event))
        })
        .map_err(|e| Reason::Json { at: None, detail: e.to_string() })?
    }
}

fn structure_hash(structure: &[u8]) -> u64 {
    foldhash::fast::FixedState::default().hash_one(structure)
}

/// The event of a record of a known shape, from its leaves: `hashes` are their value hashes in
/// document order, `text` the text of a string leaf (UTF-8, as bytes: texts are compared as they
/// are and made `str` only when a symbol is new).
fn compact<'r>(
    learned: &Learned,
    hashes: &[u64],
    text: &dyn Fn(u32) -> Option<&'r [u8]>,
    cache: &mut Cache,
    tables: &Tables,
) -> Event {
    let fields = &learned.fields;
    // A string field with its leaf's hash, which the symbol cache is keyed by.
    let field = |leaf: Option<u32>| leaf.and_then(|i| Some((text(i)?, hashes[i as usize])));
    let empty = || (&b""[..], scalar_hash(Scalar::String(b"")));
    let account =
        field(fields.recipient_account).or_else(|| field(fields.identity_account)).unwrap_or_else(empty);
    let name = field(fields.name).unwrap_or_else(empty);
    let endpoint = (name.0 == OPEN_TUNNEL.as_bytes()).then(|| endpoint_of(fields, &field)).flatten();
    let principal = field(fields.principal).unwrap_or_else(empty);
    let values: Vec<u64> = learned.order.iter().map(|&i| hashes[i as usize]).collect();
    let mut content = value_hasher();
    learned.shape.hash(&mut content);
    values.hash(&mut content);
    let content = content.finish();
    let event_id = fields.id.and_then(text);
    let mut symbol = |(text, hash): (&[u8], u64)| cache.symbol(tables, hash, text);
    Event {
        origin: Origin::default(),
        time: fields.time.and_then(text).and_then(Timestamp::parse_bytes),
        id: event_id.map_or_else(|| u128::from(content), event_key),
        id_written_as_uuid: event_id.is_some_and(written_as_uuid),
        content,
        name: symbol(name),
        account: symbol(account),
        region: symbol(field(fields.region).unwrap_or_else(empty)),
        principal: symbol(principal),
        error: field(fields.error).map(&mut symbol),
        endpoint: endpoint.map(&mut symbol),
        shape: learned.shape,
        values: if ANALYZED_EVENT_NAMES.iter().any(|n| n.as_bytes() == name.0) {
            values.into()
        } else {
            Box::default()
        },
        record: RecordRef { offset: 0, len: 0, segment: 0 },
        call: None,
    }
}

/// Whether a record is a call made with `DryRun` that would have been allowed.
fn dry_run(record: Json<'_, '_>) -> bool {
    record.get("errorCode").and_then(Json::as_str).is_some_and(|code| code.ends_with(DRY_RUN))
}

/// An `eventID`: a UUID is kept exactly as its 128 bits; anything else is hashed to 128 bits.
fn event_key(id: &[u8]) -> u128 {
    if let Some(uuid) = uuid_bits(id) {
        return uuid;
    }
    let half = |salt: u8| {
        let mut h = value_hasher();
        h.write_u8(salt);
        h.write(id);
        u128::from(h.finish())
    };
    half(1) << 64 | half(2)
}

/// Whether `id` is a UUID as CloudTrail writes one: `8-4-4-4-12` lowercase hexadecimal digits.
fn written_as_uuid(id: &[u8]) -> bool {
    id.len() == 36
        && id.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
        })
}

/// A JSON string's text, or any other value's JSON text as it is.
pub(crate) fn unquote(json: &str) -> String {
    match serde_json::from_str::<String>(json) {
        Ok(text) if json.starts_with('"') => text,
        _ => json.to_owned(),
    }
}

/// Each byte's value as a hexadecimal digit; `0xff` for a byte that is none.
const DIGITS: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = match byte as u8 {
            b @ b'0'..=b'9' => b - b'0',
            b @ b'a'..=b'f' => b - b'a' + 10,
            b @ b'A'..=b'F' => b - b'A' + 10,
            _ => 0xff,
        };
        byte += 1;
    }
    table
};

/// The 128 bits of a 36-byte id that is 32 hexadecimal digits once its dashes are left out (as
/// `u128::from_str_radix` reads them, a leading `+` included), without building that text.
fn uuid_bits(id: &[u8]) -> Option<u128> {
    if id.len() != 36 {
        return None;
    }
    if let Some(bits) = canonical_uuid_bits(id) {
        return Some(bits);
    }
    let (mut bits, mut count, mut any) = (0u128, 0, false);
    for &byte in id.iter().filter(|&&b| b != b'-') {
        count += 1;
        if count > 32 {
            return None;
        }
        if count == 1 && byte == b'+' {
            continue;
        }
        let digit = DIGITS[byte as usize];
        if digit == 0xff {
            return None;
        }
        bits = bits << 4 | u128::from(digit);
        any = true;
    }
    (count == 32 && any).then_some(bits)
}

/// [`uuid_bits`] of a UUID as CloudTrail writes it, `8-4-4-4-12` hexadecimal digits, read a digit
/// from a table and a half at a time (a `u128` shifted per digit was a sixtieth of all instructions
/// on an Instance Connect-heavy archive); `None` for any other text of 36 bytes.
fn canonical_uuid_bits(id: &[u8]) -> Option<u128> {
    let id: &[u8; 36] = id.try_into().ok()?;
    if id[8] != b'-' || id[13] != b'-' || id[18] != b'-' || id[23] != b'-' {
        return None;
    }
    let half = |parts: &[&[u8]]| {
        let (mut bits, mut bad) = (0u64, 0u8);
        for &byte in parts.iter().flat_map(|part| part.iter()) {
            let digit = DIGITS[byte as usize];
            bad |= digit;
            bits = bits << 4 | u64::from(digit & 0x0f);
        }
        // A byte that is no digit has the high bits of its table entry set.
        (bad & 0xf0 == 0).then_some(bits)
    };
    let high = half(&[&id[0..8], &id[9..13], &id[14..18]])?;
    let low = half(&[&id[19..23], &id[24..36]])?;
    Some(u128::from(high) << 64 | u128::from(low))
}

/// For `OpenTunnel`: the endpoint from the request, else from the endpoint resource's ARN.
fn endpoint_of<'r>(
    fields: &Fields,
    field: &dyn Fn(Option<u32>) -> Option<(&'r [u8], u64)>,
) -> Option<(&'r [u8], u64)> {
    let requested = field(fields.requested_endpoint).filter(|(id, _)| !id.is_empty());
    let from_resource = || {
        fields.resources.iter().find_map(|&(kind, arn)| {
            if field(kind).map(|(kind, _)| kind) != Some(ENDPOINT_RESOURCE_TYPE.as_bytes()) {
                return None;
            }
            let (arn, _) = field(arn)?;
            let id = arn.rsplit(|&b| b == b'/').next().filter(|id| !id.is_empty() && !id.contains(&b':'))?;
            Some((id, scalar_hash(Scalar::String(id))))
        })
    };
    requested.or_else(from_resource)
}

/// Writes the record's structure (keys, nesting, where leaves are) to `structure`, each leaf's
/// value hash to `hashes` and each leaf's text, if it is a string, to `texts`, in document order,
/// as the flat reader does. Two records with equal structures have equal paths in equal order,
/// which is what lets the shape be looked up instead of rebuilt.
fn walk<'i>(
    value: Json<'_, 'i>,
    structure: &mut Vec<u8>,
    hashes: &mut Vec<u64>,
    texts: &mut Vec<Option<&'i str>>,
) {
    match value.node() {
        Node::Object { len, .. } if len > 0 => {
            structure.push(b'{');
            for (key, child) in value.entries() {
                flat::push_key(structure, key.as_bytes());
                walk(child, structure, hashes, texts);
            }
            structure.push(b'}');
        }
        Node::Array { len, .. } if len > 0 => {
            structure.push(b'[');
            for child in value.elements() {
                walk(child, structure, hashes, texts);
            }
            structure.push(b']');
        }
        _ => {
            structure.push(flat::LEAF);
            hashes.push(value_hash(value));
            texts.push(value.as_str());
        }
    }
}

/// A leaf's value hashed as the flat reader hashes it.
fn value_hash(value: Json<'_, '_>) -> u64 {
    let mut text = String::new();
    let scalar = match value.node() {
        Node::String(s) => Scalar::String(s.as_bytes()),
        Node::Static(StaticNode::Bool(b)) => Scalar::Bool(b),
        Node::Static(StaticNode::Null) => Scalar::Null,
        Node::Object { .. } => Scalar::EmptyObject,
        Node::Array { .. } => Scalar::EmptyArray,
        Node::Static(_) => {
            // Numbers by their text, so 5 read as signed and as unsigned are one value; a
            // float that JSON cannot hold is written as null, and hashes as null.
            value.write_text(&mut text);
            if text == "null" {
                Scalar::Null
            } else {
                Scalar::Number(text.as_bytes())
            }
        }
    };
    scalar_hash(scalar)
}

/// Learns a new shape from `record`: its paths in document order, interned, and the order that
/// sorts them by path id (so a path's place in a shape is found by binary search), keeping the
/// first of repeated paths; and where the event's fields are among its leaves.
fn learn(tables: &Tables, record: Json<'_, '_>) -> Learned {
    let mut paths = Vec::new();
    let mut leaves = Vec::new();
    leaf_paths(record, &mut String::new(), &mut |path, value| {
        paths.push(tables.path(path));
        leaves.push(value);
    });
    let mut order: Vec<u32> = (0..paths.len() as u32).collect();
    // A stable sort keeps document order among equal paths; dedup keeps the first of each.
    order.sort_by_key(|&i| paths[i as usize]);
    order.dedup_by_key(|i| paths[*i as usize]);
    let ids: Vec<PathId> = order.iter().map(|&i| paths[i as usize]).collect();
    Learned { shape: tables.shape(&ids), order: order.into(), fields: fields_of(record, &leaves) }
}

/// Where the event's fields of `record` are among its `leaves` (in document order).
fn fields_of(record: Json<'_, '_>, leaves: &[Json<'_, '_>]) -> Fields {
    let at = |value: Option<Json<'_, '_>>| {
        let value = value?;
        leaves.iter().position(|leaf| leaf.is(value)).map(|i| i as u32)
    };
    let member = |key: &str| at(record.get(key));
    let identity = record.get("userIdentity");
    let resources = record.get("resources").map_or_else(Vec::new, |resources| {
        resources.elements().map(|r| (at(r.get("type")), at(r.get("ARN")))).collect()
    });
    Fields {
        name: member("eventName"),
        id: member("eventID"),
        time: member("eventTime"),
        region: member("awsRegion"),
        recipient_account: member("recipientAccountId"),
        identity_account: at(identity.and_then(|i| i.get("accountId"))),
        principal: at(identity.and_then(|i| i.get("arn"))),
        error: member("errorCode"),
        requested_endpoint: at(record
            .get("requestParameters")
            .and_then(|p| p.get("instanceConnectEndpointId"))),
        resources: resources.into(),
    }
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

    #[test]
    fn the_needles_are_the_event_sources_after_a_quote_and_each_call_holds_an_alternative() {
        assert_eq!(CANDIDATE_NEEDLES[0][1], format!("\"{EVENT_SOURCE}").as_bytes());
        for lifecycle in &CANDIDATE_NEEDLES[1..] {
            assert_eq!(lifecycle[1], format!("\"{EC2_SOURCE}").as_bytes());
        }
        // The gate each alternative opens with is held by the needle after it.
        for all in CANDIDATE_NEEDLES {
            assert!(all[1].starts_with(all[0]), "{:?}", String::from_utf8_lossy(all[0]));
        }
        // Each lifecycle call holds every needle of an alternative, a refused create too (it
        // names no endpoint id).
        let holds =
            |record: &str, needle: &[u8]| record.as_bytes().windows(needle.len()).any(|w| w == needle);
        for name in LIFECYCLE_EVENT_NAMES {
            let record = match name {
                CREATE_TAGS | DELETE_TAGS => {
                    format!(r#"{{"eventSource":"{EC2_SOURCE}","eventName":"{name}","resourceId":"eice-1"}}"#)
                }
                _ => format!(r#"{{"eventSource":"{EC2_SOURCE}","eventName":"{name}"}}"#),
            };
            let held = CANDIDATE_NEEDLES[1..].iter().any(|all| all.iter().all(|n| holds(&record, n)));
            assert!(held, "{name}");
        }
    }

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

    /// A small deterministic generator (xorshift64*), so the random tests repeat exactly.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// The members of an `OpenTunnel` record as CloudTrail writes it.
    const TUNNEL: &[(&str, &str)] = &[
        ("eventVersion", r#""1.08""#),
        (
            "userIdentity",
            r#"{"type":"AssumedRole","principalId":"AROA1:alice","arn":"arn:aws:sts::111:assumed-role/EC2Admin/alice","accountId":"111","accessKeyId":"ASIA1","userName":""}"#,
        ),
        ("eventTime", r#""2024-03-01T10:00:00Z""#),
        ("eventSource", r#""ec2-instance-connect.amazonaws.com""#),
        ("eventName", r#""OpenTunnel""#),
        ("awsRegion", r#""us-east-1""#),
        ("sourceIPAddress", r#""198.51.100.1""#),
        ("userAgent", r#""Mozilla/5.0 (Macintosh)""#),
        (
            "requestParameters",
            r#"{"instanceConnectEndpointId":"eice-1","maxTunnelDuration":3600,"remotePort":22,"privateIpAddress":"10.0.0.1"}"#,
        ),
        ("responseElements", "null"),
        ("requestID", r#""1f2e3d4c-0000-1111-2222-333344445555""#),
        ("eventID", r#""0b7c9f3e-1111-2222-3333-444455556666""#),
        ("readOnly", "false"),
        (
            "resources",
            r#"[{"accountId":"111","type":"AWS::EC2::InstanceConnectEndpoint","ARN":"arn:aws:ec2:us-east-1:111:instance-connect-endpoint/eice-1"}]"#,
        ),
        ("eventType", r#""AwsApiCall""#),
        ("managementEvent", "true"),
        ("recipientAccountId", r#""111""#),
        ("errorCode", r#""AccessDenied""#),
    ];

    /// Values a member may take instead: other texts, escapes, other types, what the flat reader
    /// leaves to simd-json, and values that make the record another service's or another call.
    const VALUES: &[&str] = &[
        r#""eu-west-1""#,
        r#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#,
        r#""é non-ASCII ü""#,
        r#""\ud800 lone""#,
        r#""""#,
        "12",
        "-7",
        "0",
        "1.5",
        "-0",
        "1e3",
        "123456789012345678901",
        "true",
        "null",
        "{}",
        "[]",
        r#"{"arn":"arn:x","accountId":"222","arn":"second"}"#,
        r#"["x",2,{"type":"AWS::EC2::InstanceConnectEndpoint","ARN":"a/eice-9"}]"#,
        r#""ec2-instance-connect.amazonaws.com""#,
        r#"{"source":"ec2-instance-connect.amazonaws.com"}"#,
        r#""iam.amazonaws.com""#,
        r#""ec2.amazonaws.com""#,
        r#""ec2\u002eamazonaws.com""#,
        r#""DeleteInstanceConnectEndpoint""#,
        r#""DescribeInstanceConnectEndpoints""#,
        r#""Create\u0054ags""#,
        r#""SendSSHPublicKey""#,
        r#""OpenTunnel""#,
        r#""not-a-uuid""#,
        r#""+b7c9f3e-1111-2222-3333-444455556666""#,
        r#""2024-03-01T10:00:00.123Z""#,
        r#"{"instanceConnectEndpointId":""}"#,
    ];

    /// A record made of `TUNNEL`'s members, some of them changed, dropped, repeated or moved,
    /// sometimes inside an EventBridge envelope or with whitespace.
    fn variant(rng: &mut Rng) -> String {
        let mut members: Vec<(String, String)> =
            TUNNEL.iter().map(|(k, v)| (format!("\"{k}\""), v.to_string())).collect();
        for _ in 0..rng.below(4) {
            let i = rng.below(members.len());
            match rng.below(8) {
                0 => drop(members.remove(i)),
                1 => members.push(members[i].clone()),
                2 => members.swap(i, 0),
                3 => members[i].0 = r#""odd.key\u0041""#.into(),
                _ => members[i].1 = rng.pick(VALUES).into(),
            }
        }
        let space = if rng.below(6) == 0 { " \n" } else { "" };
        let body: Vec<String> = members.iter().map(|(k, v)| format!("{k}{space}:{space}{v}")).collect();
        let record = format!("{{{space}{}{space}}}", body.join(&format!(",{space}")));
        match rng.below(20) {
            0 => format!(r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{record}}}"#),
            _ => record,
        }
    }

    /// Breaks a record at a random place: a byte dropped, doubled or replaced.
    fn mutate(rng: &mut Rng, record: &str) -> Vec<u8> {
        let mut bytes = record.as_bytes().to_vec();
        let i = rng.below(bytes.len());
        match rng.below(3) {
            0 => drop(bytes.remove(i)),
            1 => bytes.insert(i, bytes[i]),
            _ => bytes[i] = b"{}[]\":,\\ a1-.eu\x01\xc3"[rng.below(17)],
        }
        bytes
    }

    #[test]
    fn records_read_flat_make_the_events_simd_json_makes() {
        let (flat_tables, parsed_tables) = (Tables::default(), Tables::default());
        let mut flat = Extractor::new(&flat_tables);
        let mut parsed = Extractor::new(&parsed_tables);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut read_flat = 0;
        for n in 0..20_000 {
            let record = variant(&mut rng);
            let bytes = if n % 4 == 3 { mutate(&mut rng, &record) } else { record.into_bytes() };
            read_flat += usize::from(flat.extract_flat(&bytes).is_some());
            let (a, b) = (flat.extract(&bytes), parsed.extract_parsed(&bytes));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", String::from_utf8_lossy(&bytes));
        }
        assert!(read_flat > 10_000, "most records are read flat: {read_flat}");
        let (a, b) = (flat_tables.freeze(), parsed_tables.freeze());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "the same vocabulary");
    }

    /// `record` respelled: the same JSON, with escapes and whitespace of `rng`'s choosing.
    fn respelled(rng: &mut Rng, record: &[u8]) -> Vec<u8> {
        crate::decode::lex::respell(record, &mut |n| rng.below(n as usize) as u32)
    }

    #[test]
    fn a_record_is_read_by_its_meaning_whatever_its_escapes() {
        let (tables, other_tables) = (Tables::default(), Tables::default());
        let (mut plain, mut escaped) = (Extractor::new(&tables), Extractor::new(&other_tables));
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (mut events, mut none) = (0, 0);
        for _ in 0..5_000 {
            let record = variant(&mut rng);
            let respelled = respelled(&mut rng, record.as_bytes());
            let (a, b) = (plain.extract(record.as_bytes()), escaped.extract(&respelled));
            match (&a, &b) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", String::from_utf8_lossy(&respelled));
                    events += usize::from(a.is_some());
                    none += usize::from(a.is_none());
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{record}\n{}\n{a:?}\n{b:?}", String::from_utf8_lossy(&respelled)),
            }
        }
        assert!(events > 2_000 && none > 200, "both ways: {events} events, {none} records of none");
        let (a, b) = (tables.freeze(), other_tables.freeze());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "the same texts, paths and shapes");
    }

    #[test]
    fn escaped_instance_connect_records_are_found_with_their_fields() {
        let f = Fixture::new();
        let plain = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel",
            "requestParameters":{"instanceConnectEndpointId":"eice-1"},"recipientAccountId":"111",
            "awsRegion":"us-east-1","userIdentity":{"arn":"arn:aws:iam::111:user/a"},
            "eventTime":"2024-03-01T00:00:00Z","eventID":"0b7c9f3e-1111-2222-3333-444455556666"}"#;
        let escaped = r#"{"event\u0053ource":"ec2\u002dinstance-connect.amazonaws.com","eventName":"Open\u0054unnel",
            "requestParameters":{"instanceConnectEndpointId":"\u0065ice-1"},"recipient\u0041ccountId":"11\u0031",
            "awsRegion":"us\u002deast-1","userIdentity":{"\u0061rn":"arn:aws:iam::111:user\/a"},
            "eventTime":"2024-03-01T00:00:00\u005a","eventID":"0b7c9f3e-1111-2222-3333-44445555666\u0036"}"#;
        let (a, b) = (f.extract(plain).expect("an event"), f.extract(escaped).expect("an event"));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let envelope = format!(r#"{{"detail\u002dtype":"AWS API Call via CloudTrail","detail":{escaped}}}"#);
        assert_eq!(
            format!("{:?}", f.extract(&envelope).expect("an event").values),
            format!("{:?}", a.values)
        );
        let v = f.tables.freeze();
        assert_eq!(b.endpoint.map(|s| v.text(s)), Some("eice-1"));
        assert_eq!(v.text(b.principal), "arn:aws:iam::111:user/a");
        assert_eq!(b.id, 0x0b7c9f3e_1111_2222_3333_444455556666, "the UUID read from its unescaped text");
    }

    #[test]
    fn escaped_records_of_other_services_are_not_instance_connect() {
        let f = Fixture::new();
        for other in [
            r#"{"eventSource":"s3.amazonaws.com","eventName":"OpenTunnel","k":"\u00e9"}"#,
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com\u002eevil","eventName":"OpenTunnel"}"#,
            r#"{"eventSource":"ec2-instance-connect.amazonaws.co\u006D\u0020","eventName":"OpenTunnel"}"#,
            r#"{"event\u0053ourc":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel"}"#,
            r#"{"a":{"eventSource":"ec2\u002dinstance-connect.amazonaws.com"},"eventSource":"iam.amazonaws.com"}"#,
        ] {
            assert!(f.extract(other).is_none(), "{other}");
        }
    }

    #[test]
    fn uuids_are_read_as_from_their_hex_digits() {
        for id in [
            "0b7c9f3e-1111-2222-3333-444455556666",
            "0B7C9F3E-AAAA-bbbb-CcCc-DDDDEEEEFFFF",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "00000000-0000-0000-0000-000000000000",
            "0b7c9f3e-1111-2222-3333-44445555666:",
            "0b7c9f3e-1111-2222-333/-444455556666",
            "+b7c9f3e-1111-2222-3333-444455556666",
            "0b7c9f3e11112222-3333-44445555666-6-",
            "0b7c9f3e-1111-2222-3333-44445555666g",
            "0b7c9f3e-1111-2222-3333-4444555566667",
            "++7c9f3e-1111-2222-3333-444455556666",
            "------------------------------------",
            "+-----------------------------------",
        ] {
            let hex: String = id.chars().filter(|c| *c != '-').collect();
            let expected =
                (id.len() == 36 && hex.len() == 32).then(|| u128::from_str_radix(&hex, 16).ok()).flatten();
            assert_eq!(uuid_bits(id.as_bytes()), expected, "{id}");
        }
    }

    #[test]
    fn an_event_id_written_as_cloudtrail_writes_it_is_given_back_without_the_record() {
        let f = Fixture::new();
        let record = |id: &str| {
            format!(
                r#"{{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","eventID":"{id}"}}"#
            )
        };
        let given = |id: &str| f.extract(&record(id)).expect("an event").event_id();
        for id in [
            "0b7c9f3e-1111-2222-3333-444455556666",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "00000000-0000-0000-0000-000000000001",
            "0123abcd-4567-89ef-0a1b-2c3d4e5f6789",
        ] {
            assert_eq!(given(id).as_deref(), Some(id));
        }
        // Any other spelling is read back from the record, as it was written.
        for id in ["0B7C9F3E-1111-2222-3333-444455556666", "+b7c9f3e-1111-2222-3333-444455556666", "a-1"] {
            assert_eq!(given(id), None, "{id}");
        }
    }

    #[test]
    fn a_day_its_month_does_not_have_is_no_time() {
        let f = Fixture::new();
        let at = |time: &str| {
            let record = format!(
                r#"{{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","eventTime":"{time}"}}"#
            );
            f.extract(&record).expect("an event").time.map(|t| t.to_string())
        };
        assert_eq!(at("2023-02-30T01:24:44Z"), None, "not 2023-03-02");
        assert_eq!(at("2023-02-29T01:24:44Z"), None);
        assert_eq!(at("2024-02-29T01:24:44Z").as_deref(), Some("2024-02-29T01:24:44Z"));
        assert_eq!(at("2024-03-01T10:24:44+09:00").as_deref(), Some("2024-03-01T01:24:44Z"));
    }

    #[test]
    fn other_event_names_keep_no_values() {
        let f = Fixture::new();
        let other =
            f.extract(r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"Future","k":1}"#);
        assert!(other.expect("an event").values.is_empty());
    }
}
