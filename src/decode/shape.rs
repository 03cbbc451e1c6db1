//! Walks the decompressed stream as a sequence of top-level JSON values and finds the records in
//! each, by structure alone:
//!
//! - an object with a `Records` array: a CloudTrail log file, each element a record;
//! - an object with an `Events` array: a LookupEvents export, each element's `CloudTrailEvent`
//!   string a record (or object, once a tool has parsed it);
//! - an object with a `CloudTrailEvent` member (and no `Records` or `Events`): one LookupEvents
//!   event on its own, as a script saving what boto3's `lookup_events` returns writes them, one
//!   per line (`{"EventId": …, "EventTime": "2022-02-08 09:23:37+11:00", …, "CloudTrailEvent":
//!   "<the record as a JSON string>"}`): its string is the record, as in an `Events` array;
//! - any other object that looks like a record (`eventVersion`, `eventSource`, `eventName`,
//!   `eventTime`) or an EventBridge envelope (`detail-type` and `detail`): one record;
//! - an array: each element a record.
//!
//! One value per file, one per line (JSON Lines) or several back to back are all the same walk.
//! The members of a `Records` or `Events` array are found one at a time as the bytes arrive, so a
//! log file of any size is read in a window; only a record that names Instance Connect is copied
//! out, to be parsed.

use simd_json::{Buffers, Tape};

use super::input::Input;
use super::json::{with_tape, Json};
use super::lex;
use super::needles::Needles;
use super::structure::{Malformed, Scan, ValueScan, MAX_DEPTH};
use super::{Reason, Sink};
use crate::time::Timestamp;

/// Keys that make an object a record (or an envelope of one) rather than an unknown document.
const RECORD_KEYS: [&[u8]; 5] = [b"eventVersion", b"eventSource", b"eventName", b"eventTime", b"detail"];

pub(super) struct Walker {
    needles: Needles,
    /// Whether the span of the records' times is wanted.
    times: bool,
    scan: ValueScan,
    /// A member name with escapes, unescaped.
    name: Vec<u8>,
    /// A LookupEvents entry, copied to be parsed, and the record taken out of its string.
    entry: Vec<u8>,
    record: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

/// Where in the object a value is, for error messages.
#[derive(Clone, Copy)]
struct Place {
    /// 1-based line of the top-level value, counted only between values: exact for JSON Lines.
    line: u64,
    /// Whether the object has held more than one top-level value so far.
    several: bool,
}

impl Place {
    fn describe(self, inner: Option<String>) -> Option<String> {
        match (self.several || self.line > 1, inner) {
            (true, Some(inner)) => Some(format!("line {}, {inner}", self.line)),
            (true, None) => Some(format!("line {}", self.line)),
            (false, inner) => inner,
        }
    }
}

/// A member name of a top-level object, as far as the walk cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Records,
    Events,
    /// `CloudTrailEvent`: the object is one LookupEvents event.
    Entry,
    /// One of [`RECORD_KEYS`].
    OfRecord,
    Other,
}

impl Key {
    fn of(name: &[u8]) -> Key {
        match name {
            b"Records" => Key::Records,
            b"Events" => Key::Events,
            b"CloudTrailEvent" => Key::Entry,
            name if RECORD_KEYS.contains(&name) => Key::OfRecord,
            _ => Key::Other,
        }
    }
}

/// How the elements of an array are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Elements {
    /// `Records` of a log file, or a top-level array: each element is a record.
    Records,
    /// `Events` of a LookupEvents export: each element holds a record as a string.
    Entries,
}

impl Walker {
    pub(super) fn new(needles: Needles) -> Self {
        Walker {
            needles,
            times: false,
            scan: ValueScan::default(),
            name: Vec::new(),
            entry: Vec::new(),
            record: Vec::new(),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
        }
    }

    /// Whether to note the earliest and latest `eventTime` of the records.
    pub(super) fn note_times(&mut self, times: bool) {
        self.times = times;
    }

    /// Walks every top-level value of `input`: how many records the object holds, and the span of
    /// their times if asked for.
    pub(super) fn walk(&mut self, input: &mut Input<'_>, sink: &mut dyn Sink) -> Result<Walked, Reason> {
        let mut walk = Walk { walker: self, input, sink, records: 0, events: None, backslash: false };
        let mut at = match walk.input.byte(0)? {
            Some(0xEF) if walk.input.byte(1)? == Some(0xBB) && walk.input.byte(2)? == Some(0xBF) => 3,
            _ => 0,
        };
        let mut place = Place { line: 1, several: false };
        let mut values = 0u64;
        let mut claimed = false;
        loop {
            at = walk.whitespace(at, Some(&mut place.line))?;
            let Some(first) = walk.input.byte(at)? else { break };
            values += 1;
            place.several = values > 1;
            at = match first {
                // A document the sink reads itself is known by its first value's first member;
                // every object after that one is the sink's too.
                b'{' if values == 1 && walk.claims(at)? => {
                    claimed = true;
                    walk.claimed(at, place)?
                }
                b'{' if claimed => walk.claimed(at, place)?,
                b'{' => walk.root_object(at, place)?,
                b'[' => walk.array(at, Elements::Records, place, "the top-level array")?,
                other => {
                    return Err(json(
                        place.describe(None),
                        format!("expected an object or an array, found {}", shown(other)),
                    ))
                }
            };
            walk.input.release(at);
        }
        if values == 0 {
            return Err(Reason::Empty);
        }
        Ok(Walked { records: walk.records, events: walk.events })
    }
}

/// What a walk found.
pub(super) struct Walked {
    pub(super) records: u64,
    pub(super) events: Option<(Timestamp, Timestamp)>,
}

struct Walk<'w, 'i, 'r> {
    walker: &'w mut Walker,
    input: &'i mut Input<'r>,
    sink: &'w mut dyn Sink,
    records: u64,
    events: Option<(Timestamp, Timestamp)>,
    /// A backslash was among the bytes of the strings and containers skipped since this was last
    /// cleared: what a root object that is one record tells the candidate search.
    backslash: bool,
}

impl Walk<'_, '_, '_> {
    /// A top-level object: a log file or export streamed member by member, else one record.
    fn root_object(&mut self, start: u64, place: Place) -> Result<u64, Reason> {
        let mut at = start + 1;
        let mut streamed = false;
        let mut record_like = false;
        let mut entry = false;
        let mut first = true;
        self.backslash = false;
        loop {
            at = self.whitespace(at, None)?;
            match self.need(at, place)? {
                b'}' => {
                    at += 1;
                    break;
                }
                b',' if !first => at = self.whitespace(at + 1, None)?,
                _ if first => {}
                other => {
                    return Err(json(
                        place.describe(None),
                        format!("expected , or }} in an object, found {}", shown(other)),
                    ))
                }
            }
            first = false;
            if self.need(at, place)? != b'"' {
                return Err(json(place.describe(None), "expected a member name".into()));
            }
            let key_end = self.string_end(at, place)?;
            let raw = &self.input.from(at + 1)[..(key_end - at - 2) as usize];
            // By its meaning: `"Rec\u006frds"` is `Records` (a name JSON cannot read is none of them).
            let key = lex::text(raw, &mut self.walker.name).map_or(Key::Other, Key::of);
            at = self.whitespace(key_end, None)?;
            if self.need(at, place)? != b':' {
                return Err(json(place.describe(None), "expected : after a member name".into()));
            }
            at = self.whitespace(at + 1, None)?;
            let is_array = self.need(at, place)? == b'[';
            match key {
                Key::Records | Key::Events if streamed => {
                    return Err(Reason::shape_of(
                        "a JSON object with both \"Records\" and \"Events\"",
                        "not a CloudTrail log",
                    ))
                }
                Key::Records | Key::Events if !is_array => {
                    let name = if key == Key::Records { "Records" } else { "Events" };
                    return Err(Reason::shape(format!("\"{name}\" is not an array")));
                }
                Key::Records | Key::Events => {
                    streamed = true;
                    self.input.release(at);
                    at = if key == Key::Records {
                        self.array(at, Elements::Records, place, "Records")?
                    } else {
                        self.array(at, Elements::Entries, place, "Events")?
                    };
                }
                Key::Entry | Key::OfRecord | Key::Other => {
                    record_like |= key == Key::OfRecord;
                    entry |= key == Key::Entry;
                    at = self.value_end(at, place)?;
                }
            }
        }
        if streamed {
            return Ok(at);
        }
        if entry {
            self.entry(start, at, place, None)?;
            return Ok(at);
        }
        if !record_like {
            return Err(Reason::shape_of(
                "a JSON object with neither a \"Records\" nor an \"Events\" array",
                "not a CloudTrail log",
            ));
        }
        // Its members were skipped one by one, each telling whether it held a backslash.
        self.record(start, at, self.backslash)?;
        Ok(at)
    }

    /// The array at `start`, element by element; returns the offset after its `]`.
    fn array(&mut self, start: u64, elements: Elements, place: Place, name: &str) -> Result<u64, Reason> {
        let mut at = start + 1;
        let mut index = 0u64;
        loop {
            at = self.whitespace(at, None)?;
            let mut next = self.need(at, place)?;
            if next == b']' {
                return Ok(at + 1);
            }
            if index > 0 {
                if next != b',' {
                    let at = place.describe(Some(format!("{name}[{index}]")));
                    return Err(json(at, format!("expected , or ] between elements, found {}", shown(next))));
                }
                at = self.whitespace(at + 1, None)?;
                next = self.need(at, place)?;
            }
            if next != b'{' {
                let what = if name == "the top-level array" {
                    format!("element {index} of the top-level array")
                } else {
                    format!("{name}[{index}]")
                };
                return Err(Reason::shape(format!("{what} is not a JSON object")));
            }
            let end = self.container_end(at, place, || format!("{name}[{index}]"))?;
            match elements {
                Elements::Records => {
                    let backslash = self.walker.scan.saw_backslash();
                    self.record(at, end, backslash)?;
                }
                Elements::Entries => self.entry(at, end, place, Some(index))?,
            }
            self.input.release(end);
            at = end;
            index += 1;
        }
    }

    /// One record, the bytes from `start` to `end`; `backslash` is `false` only when none of them
    /// is a backslash.
    fn record(&mut self, start: u64, end: u64, backslash: bool) -> Result<(), Reason> {
        let index = u32::try_from(self.records).unwrap_or(u32::MAX);
        self.records += 1;
        let bytes = &mut self.input.from(start)[..(end - start) as usize];
        if let Some(time) = self.walker.times.then(|| event_time(bytes, &mut self.walker.name)).flatten() {
            let (first, last) = self.events.get_or_insert((time, time));
            *first = (*first).min(time);
            *last = (*last).max(time);
        }
        if self.walker.needles.may_hold(bytes, backslash) {
            self.sink.candidate(index, bytes)?;
        }
        Ok(())
    }

    /// One LookupEvents event, element `index` of an `Events` array or (`None`) one on its own:
    /// its `CloudTrailEvent` string is the record.
    fn entry(&mut self, start: u64, end: u64, place: Place, index: Option<u64>) -> Result<(), Reason> {
        let record_index = u32::try_from(self.records).unwrap_or(u32::MAX);
        self.records += 1;
        let Walker { needles, entry, record, buffers, tape, .. } = &mut *self.walker;
        let bytes = &self.input.from(start)[..(end - start) as usize];
        if !needles.may_hold(bytes, true) {
            return Ok(());
        }
        let member = match index {
            Some(index) => format!("Events[{index}].CloudTrailEvent"),
            None => "CloudTrailEvent".to_owned(),
        };
        let at = || place.describe(Some(member.clone()));
        entry.clear();
        entry.extend_from_slice(bytes);
        with_tape(tape, buffers, entry, |nodes| {
            let event = Json::root(nodes).and_then(|e| e.get("CloudTrailEvent"));
            record.clear();
            match event {
                // As LookupEvents returns it: the record as a JSON string.
                Some(event) if event.as_str().is_some() => {
                    record.extend_from_slice(event.as_str().unwrap_or_default().as_bytes());
                    Ok(())
                }
                // Already parsed, as `jq '.CloudTrailEvent |= fromjson'` writes it.
                Some(event) if event.is_object() => {
                    let mut text = String::new();
                    event.write_text(&mut text);
                    record.extend_from_slice(text.as_bytes());
                    Ok(())
                }
                _ => Err(Reason::shape(match index {
                    Some(index) => format!("Events[{index}] has no \"CloudTrailEvent\" string or object"),
                    None => "\"CloudTrailEvent\" is neither a string nor an object".to_owned(),
                })),
            }
        })
        .map_err(|e| json(at(), e.to_string()))??;
        if record.trim_ascii_start().first() != Some(&b'{') {
            return Err(json(at(), "not a JSON object".into()));
        }
        self.sink.candidate(record_index, record).map_err(|e| match e {
            Reason::Json { at: None, detail } => json(at(), detail),
            other => other,
        })
    }

    /// Whether the sink claims the document whose first value, an object, starts at `start`.
    fn claims(&mut self, start: u64) -> Result<bool, Reason> {
        match self.sink.claims() {
            Some(name) => self.first_member_is(start, name),
            None => Ok(false),
        }
    }

    /// Hands the object starting at `start` to the sink whole; the offset after it.
    fn claimed(&mut self, start: u64, place: Place) -> Result<u64, Reason> {
        let end = self.container_end(start, place, String::new)?;
        let value = &self.input.from(start)[..(end - start) as usize];
        self.sink.claimed(value).map_err(|e| match e {
            Reason::Json { at: None, detail } => json(Some(format!("line {}", place.line)), detail),
            other => other,
        })?;
        Ok(end)
    }

    /// Whether the object at `start` begins with the member name `name` (without its quotes):
    /// read a byte at a time, so a large object is not read ahead to find out.
    fn first_member_is(&mut self, start: u64, name: &[u8]) -> Result<bool, Reason> {
        let at = self.whitespace(start + 1, None)?;
        let quoted = [&b"\""[..], name, b"\""].concat();
        for (i, &expected) in quoted.iter().enumerate() {
            if self.input.byte(at + i as u64)? != Some(expected) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The offset after the value starting at `at`, whatever its kind.
    fn value_end(&mut self, at: u64, place: Place) -> Result<u64, Reason> {
        match self.need(at, place)? {
            b'{' | b'[' => {
                let end = self.container_end(at, place, String::new)?;
                self.backslash |= self.walker.scan.saw_backslash();
                Ok(end)
            }
            b'"' => self.string_end(at, place),
            _ => self.scalar_end(at),
        }
    }

    /// The offset after the object or array starting at `start`, reading more as needed.
    fn container_end(&mut self, start: u64, place: Place, name: impl Fn() -> String) -> Result<u64, Reason> {
        let scan = &mut self.walker.scan;
        scan.reset();
        loop {
            match scan.scan(self.input.from(start)) {
                Scan::End(n) => return Ok(start + n as u64),
                Scan::More => {
                    if !self.input.refill()? {
                        return Err(unexpected_end(place));
                    }
                }
                Scan::Invalid(Malformed::Mismatched) => {
                    let inner = Some(name()).filter(|n| !n.is_empty());
                    return Err(json(place.describe(inner), "a bracket closed by the other kind".into()));
                }
                Scan::Invalid(Malformed::TooDeep) => {
                    return Err(json(place.describe(None), format!("nested deeper than {MAX_DEPTH} levels")))
                }
            }
        }
    }

    /// The offset after the string whose opening quote is at `start` (noting whether it held a
    /// backslash).
    fn string_end(&mut self, start: u64, place: Place) -> Result<u64, Reason> {
        let mut at = start + 1;
        loop {
            let rest = self.input.from(at);
            match memchr::memchr2(b'"', b'\\', rest) {
                Some(i) if rest[i] == b'"' => return Ok(at + i as u64 + 1),
                Some(i) => {
                    // A backslash escapes the byte after it, which may not have arrived yet.
                    self.backslash = true;
                    at += i as u64 + 2;
                    while at > self.input.end() {
                        if !self.input.refill()? {
                            return Err(unexpected_end(place));
                        }
                    }
                }
                None => {
                    at += rest.len() as u64;
                    if !self.input.refill()? {
                        return Err(unexpected_end(place));
                    }
                }
            }
        }
    }

    /// The offset after a number, `true`, `false` or `null` (checked only for where it ends).
    fn scalar_end(&mut self, mut at: u64) -> Result<u64, Reason> {
        while let Some(byte) = self.input.byte(at)? {
            if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                break;
            }
            at += 1;
        }
        Ok(at)
    }

    /// The offset of the first byte after JSON whitespace from `at`, counting newlines if asked.
    fn whitespace(&mut self, mut at: u64, mut lines: Option<&mut u64>) -> Result<u64, Reason> {
        while let Some(byte) = self.input.byte(at)? {
            match byte {
                b'\n' => {
                    if let Some(lines) = lines.as_deref_mut() {
                        *lines += 1;
                    }
                }
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            at += 1;
        }
        Ok(at)
    }

    /// The byte at `at`, which must exist: the data ending there is an error.
    fn need(&mut self, at: u64, place: Place) -> Result<u8, Reason> {
        self.input.byte(at)?.ok_or_else(|| unexpected_end(place))
    }
}

/// The record's `eventTime`: the first member of its root object of that name (as a parse reads
/// it), read by meaning (names and values with escapes unescaped) without parsing the record:
/// the members before it are skipped, and CloudTrail writes it third. `None` when the record has
/// none, or is not JSON this reads.
fn event_time(record: &[u8], scratch: &mut Vec<u8>) -> Option<Timestamp> {
    let mut at = lex::whitespace(record, 0);
    if record.get(at) != Some(&b'{') {
        return None;
    }
    loop {
        at = lex::whitespace(record, at + 1);
        if record.get(at) != Some(&b'"') {
            return None;
        }
        let (end, _) = lex::string_end(record, at + 1)?;
        let is_time = lex::text(&record[at + 1..end], scratch)? == b"eventTime";
        at = lex::whitespace(record, end + 1);
        if record.get(at) != Some(&b':') {
            return None;
        }
        at = lex::whitespace(record, at + 1);
        if is_time {
            if record.get(at) != Some(&b'"') {
                return None;
            }
            let (end, _) = lex::string_end(record, at + 1)?;
            return Timestamp::parse_bytes(lex::text(&record[at + 1..end], scratch)?);
        }
        at = lex::whitespace(record, lex::value_end(record, at)?);
        if record.get(at) != Some(&b',') {
            return None;
        }
    }
}

fn json(at: Option<String>, detail: String) -> Reason {
    Reason::Json { at, detail }
}

fn unexpected_end(place: Place) -> Reason {
    json(place.describe(None), "the data ends inside a value".into())
}

fn shown(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte {byte:#04x}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::decode;

    const IC: &str = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel"}"#;
    const S3: &str = r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#;

    fn flagged(text: &str) -> (u64, Vec<u32>) {
        let (records, candidates) = decode(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        (records, candidates.into_iter().map(|(i, _)| i).collect())
    }

    fn error(text: &str) -> String {
        decode(text.as_bytes()).map(|r| format!("read: {r:?}")).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn a_log_file_counts_every_record_and_hands_on_those_naming_instance_connect() {
        assert_eq!(flagged(&format!("{{\"Records\":[{S3},{IC},{S3}]}}\n")), (3, vec![1]));
        assert_eq!(flagged("{\"Records\":[]}"), (0, vec![]));
        let pretty = format!("{{\n  \"Records\": [\n    {IC} ,\n {S3}\n  ]\n}}\n");
        assert_eq!(flagged(&pretty), (2, vec![0]));
    }

    #[test]
    fn members_around_records_are_skipped_whatever_they_hold() {
        let log =
            format!(r#"{{"meta":{{"a":["]",{{}}]}},"n":-1.5e3,"s":"x\"}}","Records":[{IC}],"t":true}}"#);
        assert_eq!(flagged(&log), (1, vec![0]));
    }

    #[test]
    fn a_lookup_export_hands_on_each_embedded_record() {
        let export = serde_json::json!({"Events": [
            {"EventId": "1", "CloudTrailEvent": S3},
            {"EventId": "2", "CloudTrailEvent": IC},
        ]})
        .to_string();
        let (records, candidates) = decode(export.as_bytes()).expect("export");
        assert_eq!(records, 2);
        assert_eq!(candidates, vec![(1, IC.to_owned())], "the record, unescaped from its string");
    }

    #[test]
    fn lookup_events_one_per_line_are_read_as_their_embedded_records() {
        let line = |id: &str, record: &str| {
            serde_json::json!({"EventId": id, "EventName": "x", "EventTime": "2022-02-08 09:23:37+11:00",
                               "Resources": [], "CloudTrailEvent": record})
            .to_string()
        };
        let lines = format!("{}\n{}\n{}\n", line("1", S3), line("2", IC), line("3", S3));
        let (records, candidates) = decode(lines.as_bytes()).expect("lines");
        assert_eq!(records, 3);
        assert_eq!(candidates, vec![(1, IC.to_owned())], "the record, unescaped from its string");
        let broken =
            format!("{}\n{}\n", line("1", S3), line("2", "[\"ec2-instance-connect.amazonaws.com\"]"));
        let err = error(&broken);
        assert!(err.contains("line 2, CloudTrailEvent"), "{err}");
        let number = r#"{"EventId":"1","CloudTrailEvent":7,"x":"ec2-instance-connect.amazonaws.com"}"#;
        assert!(error(number).contains("neither a string nor an object"), "{}", error(number));
    }

    #[test]
    fn a_cloudtrail_event_already_parsed_is_the_record_itself() {
        let line = format!(r#"{{"EventId":"1","CloudTrailEvent":{IC}}}"#);
        let (records, candidates) = decode(format!("{line}\n{line}\n").as_bytes()).expect("lines");
        assert_eq!(records, 2);
        assert_eq!(candidates, vec![(0, IC.to_owned()), (1, IC.to_owned())]);
        let export = format!(r#"{{"Events":[{line}]}}"#);
        assert_eq!(decode(export.as_bytes()).expect("export").1, vec![(0, IC.to_owned())]);
    }

    #[test]
    fn a_broken_embedded_instance_connect_record_names_its_place() {
        let export =
            serde_json::json!({"Events": [{"CloudTrailEvent": "[\"ec2-instance-connect.amazonaws.com\"]"}]});
        let err = error(&export.to_string());
        assert!(err.contains("Events[0].CloudTrailEvent"), "{err}");
        let export = serde_json::json!({"Events": [{"Other": "ec2-instance-connect.amazonaws.com"}]});
        assert!(error(&export.to_string()).contains("has no \"CloudTrailEvent\" string or object"));
    }

    #[test]
    fn json_lines_arrays_and_single_records_are_records() {
        assert_eq!(flagged(&format!("{S3}\n\n{IC}\r\n{S3}\n")), (3, vec![1]));
        assert_eq!(flagged(&format!("[{S3},{IC}]")), (2, vec![1]));
        assert_eq!(flagged(IC), (1, vec![0]));
        assert_eq!(flagged(&format!("{{\"Records\":[{S3}]}}\n{{\"Records\":[{IC}]}}")), (2, vec![1]));
    }

    #[test]
    fn eventbridge_envelopes_are_records() {
        let envelope = format!(
            r#"{{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2-instance-connect","detail":{IC}}}"#
        );
        assert_eq!(flagged(&format!("{envelope}\n{envelope}\n")), (2, vec![0, 1]));
    }

    #[test]
    fn a_bad_line_names_its_line_number() {
        let err = error(&format!("{S3}\n{{\"eventSource\":\"x\"]\n"));
        assert!(err.contains("line 2"), "{err}");
        let err = error(&format!("{S3}\n{S3}\n{{\"eventSource\": "));
        assert!(err.contains("line 3") && err.contains("ends inside"), "{err}");
    }

    #[test]
    fn other_shapes_are_unreadable_with_a_reason() {
        for (text, expected) in [
            ("", "empty object"),
            ("  \n", "empty object"),
            ("[1,2]", "element 0 of the top-level array is not a JSON object"),
            ("{\"foo\":[1]}", "neither a \"Records\" nor an \"Events\" array"),
            ("{\"Records\":{}}", "\"Records\" is not an array"),
            ("{\"Records\":[1]}", "Records[0] is not a JSON object"),
            ("{\"Records\":[", "invalid JSON"),
            ("{\"Records\":[{}", "invalid JSON"),
            ("{\"Records\":[{\"a\":\"}", "ends inside a value"),
            ("{\"Records\":[{}}", "expected , or ]"),
            ("{\"Records\":[{]}", "closed by the other kind"),
            ("\"text\"", "neither gzip nor JSON"),
            ("{\"Records\":[]}\n\"text\"", "expected an object or an array"),
            ("{\"Records\":[],\"Events\":[]}", "both"),
        ] {
            let err = error(text);
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn escaped_member_names_are_the_names_they_spell() {
        // `Records`, `Events`, `CloudTrailEvent` and a record's keys, each written with escapes.
        let log = format!("{{\"Rec\\u006frds\":[{S3},{IC}]}}");
        assert_eq!(flagged(&log), (2, vec![1]));
        let record = r#"{"\u0065ventSource":"ec2-instance-connect.amazonaws.com"}"#;
        assert_eq!(flagged(record), (1, vec![0]), "a record by its keys");
        let record = r#"{"\u0065ventSource":"s3.amazonaws.com"}"#;
        assert_eq!(flagged(record), (1, vec![]), "its escape undone, it names no candidate");
        let entry = serde_json::json!({"EventId": "1", "CloudTrailEvent": IC}).to_string();
        let entry = entry.replace("CloudTrailEvent", "Cloud\\u0054railEvent");
        let (records, candidates) = decode(entry.as_bytes()).expect("an entry");
        assert_eq!((records, candidates), (1, vec![(0, IC.to_owned())]));
        let export = serde_json::json!({"Events": [{"CloudTrailEvent": IC}]}).to_string();
        let export = export.replacen("Events", "\\u0045vents", 1);
        assert_eq!(decode(export.as_bytes()).expect("an export").1, vec![(0, IC.to_owned())]);
        // Names that only look alike are other names.
        let other = format!("{{\"Records\\u0020\":[{IC}]}}");
        assert!(error(&other).contains("neither a \"Records\" nor an \"Events\" array"), "{}", error(&other));
    }

    #[test]
    fn a_record_naming_instance_connect_with_escapes_is_handed_on() {
        let escaped = [
            r#"{"eventSource":"ec2\u002dinstance-connect.amazonaws.com","eventName":"OpenTunnel"}"#,
            r#"{"eventSource":"\u0065\u0063\u0032-instance-connect\u002eamazonaws\u002ecom"}"#,
        ];
        for record in escaped {
            assert_eq!(flagged(&format!("{{\"Records\":[{S3},{record}]}}")), (2, vec![1]), "{record}");
            let export =
                serde_json::json!({"Events": [{"CloudTrailEvent": S3}, {"CloudTrailEvent": record}]});
            let (_, candidates) = decode(export.to_string().as_bytes()).expect("export");
            assert_eq!(candidates, vec![(1, record.to_owned())], "{record}");
        }
        // The quote that opens the value, escaped inside a LookupEvents string.
        let entry = r#"{"CloudTrailEvent":"{\"eventSource\":\u0022ec2-instance-connect.amazonaws.com\"}"}"#;
        assert_eq!(decode(entry.as_bytes()).expect("entry").1.len(), 1);
        // Records one per line, whose members are skipped one at a time: an escape in any of them
        // is seen, and undone. (The event stage then decides by values: these are not events.)
        let lines = [
            r#"{"eventSource":"s3.amazonaws.com","x":{"y":["\u0065c2-instance-connect.amazonaws.com"]}}"#,
            r#"{"eventSource":"s3.amazonaws.com","x":"ec2-instance-conn\u0065ct.amazonaws.com"}"#,
            r#"{"eventSource":"s3.amazonaws.com","x\u0065":"ec2-instance-connect\u002eamazonaws.com"}"#,
            r#"{"eventSource":"s3.amazonaws.com","x":{"y":["ec2-instance-connect"]}}"#,
            r#"{"eventSource":"s3.amazonaws.com","x":{"y":["\u0065c2-instance-connect"]}}"#,
        ];
        assert_eq!(flagged(&lines.join("\n")), (5, vec![0, 1, 2]));
        // Short escapes spell none of the name's characters: such a record is only counted.
        let slashes = r#"{"eventSource":"s3.amazonaws.com","key":"a\/b\"c\\d\n"}"#;
        assert_eq!(flagged(&format!("{{\"Records\":[{slashes}]}}")), (1, vec![]));
    }

    #[test]
    fn event_times_are_read_by_meaning_from_the_root_member() {
        let time =
            |record: &str| super::event_time(record.as_bytes(), &mut Vec::new()).map(|t| t.to_string());
        let plain = r#"{"eventVersion":"1.08","userIdentity":{"eventTime":"2020-01-01T00:00:00Z","a":[1,{"b":"]"}]},"eventTime":"2024-03-01T10:00:00Z"}"#;
        assert_eq!(time(plain).as_deref(), Some("2024-03-01T10:00:00Z"), "the root's, not a nested one");
        for escaped in [
            r#"{"event\u0054ime":"2024-03-01T10:00:00Z"}"#,
            r#"{"eventTime":"2024\u002d03-01T10:00:00Z"}"#,
            r#"{ "n" : -1.5e3 , "s" : "x\"y" , "t" : true , "eventTime" : "2024-03-01T19:00:00+09:00" }"#,
        ] {
            assert_eq!(time(escaped).as_deref(), Some("2024-03-01T10:00:00Z"), "{escaped}");
        }
        for none in [
            r#"{"a":{"eventTime":"2024-03-01T10:00:00Z"}}"#,
            r#"{"eventTimes":"2024-03-01T10:00:00Z"}"#,
            r#"{"eventTime":"2023-02-30T10:00:00Z"}"#,
            r#"{"eventTime":1709287200}"#,
            r#"["eventTime","2024-03-01T10:00:00Z"]"#,
        ] {
            assert_eq!(time(none), None, "{none}");
        }
        let repeated = r#"{"eventTime":"2024-03-01T10:00:00Z","eventTime":"2025-01-01T00:00:00Z"}"#;
        assert_eq!(time(repeated).as_deref(), Some("2024-03-01T10:00:00Z"), "the first, as a parse reads it");
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        assert_eq!(flagged(&format!("\u{feff}{{\"Records\":[{IC}]}}")), (1, vec![0]));
    }

    #[test]
    fn deep_nesting_is_unreadable_not_a_crash() {
        let deep = format!("{{\"Records\":[{{\"a\":{}{}}}]}}", "[".repeat(200_000), "]".repeat(200_000));
        assert!(error(&deep).contains("nested deeper"));
    }
}
