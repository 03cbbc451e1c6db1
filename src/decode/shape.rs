//! Recognises what a decompressed object holds and walks its records on a simd-json tape:
//! a CloudTrail log (`{"Records":[...]}`), a LookupEvents export (`{"Events":[{"CloudTrailEvent":
//! "<record as a string>"}]}`), JSON Lines, or a single record.

use memchr::memmem;
use simd_json::{Buffers, Node, Tape};

use super::json::Json;
use super::Reason;
use crate::event::EVENT_SOURCE;
use crate::source::NameHint;

/// Called once per record with the record, its index in the object, and whether its bytes contain
/// the Instance Connect event source at all (when false the record cannot be one).
pub type Visit<'a> = dyn for<'t, 'i> FnMut(Json<'t, 'i>, u32, bool) + 'a;

/// Parser buffers and tapes, reused from one object to the next.
pub struct Parser {
    buffers: Buffers,
    tape: Tape<'static>,
    /// A LookupEvents record, copied out of its JSON string to be parsed on its own.
    embedded: Vec<u8>,
    embedded_tape: Tape<'static>,
    finder: memmem::Finder<'static>,
}

impl Parser {
    pub fn new() -> Self {
        Parser {
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
            embedded: Vec::new(),
            embedded_tape: Tape(Vec::new()),
            finder: memmem::Finder::new(EVENT_SOURCE.as_bytes()),
        }
    }

    /// Parses `document` (modified in place) and visits each record; returns how many records
    /// the object holds. Any error means the whole object is unreadable.
    pub fn records(
        &mut self,
        document: &mut [u8],
        hint: NameHint,
        visit: &mut Visit<'_>,
    ) -> Result<u64, Reason> {
        let body = trim(document);
        if body.is_empty() {
            return Err(Reason::Empty);
        }
        if hint == NameHint::JsonLines || looks_like_json_lines(body) {
            return self.json_lines(body, visit);
        }
        let Parser { buffers, tape, embedded, embedded_tape, finder } = self;
        let maybe_ic = finder.find(body).is_some();
        with_tape(tape, buffers, body, |nodes, buffers| {
            let root = Json::root(nodes).ok_or_else(|| shape("an empty JSON document"))?;
            if !root.is_object() {
                return Err(shape("the top-level JSON value is not an object: not a CloudTrail log"));
            }
            if let Some(records) = root.get("Records") {
                return cloudtrail_log(records, maybe_ic, visit);
            }
            if let Some(events) = root.get("Events") {
                let mut embedded = Embedded { buffers, bytes: embedded, tape: embedded_tape, finder };
                return lookup_export(events, maybe_ic, &mut embedded, visit);
            }
            if root.get("eventVersion").is_some() || root.get("eventSource").is_some() {
                visit(root, 0, maybe_ic);
                return Ok(1);
            }
            Err(shape(
                "a JSON object with neither a \"Records\" nor an \"Events\" array: not a CloudTrail log",
            ))
        })
        .map_err(|e| Reason::Json { at: None, detail: e.to_string() })?
    }

    fn json_lines(&mut self, body: &mut [u8], visit: &mut Visit<'_>) -> Result<u64, Reason> {
        let Parser { buffers, tape, finder, .. } = self;
        let mut records = 0u32;
        for (number, line) in body.split_mut(|&b| b == b'\n').enumerate() {
            let line = trim(line);
            if line.is_empty() {
                continue;
            }
            let at = || format!("line {}", number + 1);
            let maybe_ic = finder.find(line).is_some();
            with_tape(tape, buffers, line, |nodes, _| match Json::root(nodes) {
                Some(record) if record.is_object() => {
                    visit(record, records, maybe_ic);
                    Ok(())
                }
                _ => Err(shape(format!("{}: not a JSON object", at()))),
            })
            .map_err(|e| Reason::Json { at: Some(at()), detail: e.to_string() })??;
            records += 1;
        }
        Ok(u64::from(records))
    }
}

fn cloudtrail_log(records: Json<'_, '_>, maybe_ic: bool, visit: &mut Visit<'_>) -> Result<u64, Reason> {
    if !matches!(records.node(), Node::Array { .. }) {
        return Err(shape("\"Records\" is not an array"));
    }
    let mut count = 0u32;
    for record in records.elements() {
        if !record.is_object() {
            return Err(shape(format!("Records[{count}] is not a JSON object")));
        }
        visit(record, count, maybe_ic);
        count += 1;
    }
    Ok(u64::from(count))
}

/// What parsing an embedded record needs, borrowed from the [`Parser`].
struct Embedded<'a> {
    buffers: &'a mut Buffers,
    bytes: &'a mut Vec<u8>,
    tape: &'a mut Tape<'static>,
    finder: &'a memmem::Finder<'static>,
}

fn lookup_export(
    events: Json<'_, '_>,
    maybe_ic: bool,
    embedded: &mut Embedded<'_>,
    visit: &mut Visit<'_>,
) -> Result<u64, Reason> {
    if !matches!(events.node(), Node::Array { .. }) {
        return Err(shape("\"Events\" is not an array"));
    }
    let mut count = 0u32;
    for event in events.elements() {
        let at = || format!("Events[{count}].CloudTrailEvent");
        let text = event
            .get("CloudTrailEvent")
            .and_then(Json::as_str)
            .ok_or_else(|| shape(format!("Events[{count}] has no \"CloudTrailEvent\" string")))?;
        let record_maybe_ic = maybe_ic && embedded.finder.find(text.as_bytes()).is_some();
        embedded.bytes.clear();
        embedded.bytes.extend_from_slice(text.as_bytes());
        with_tape(embedded.tape, embedded.buffers, embedded.bytes, |nodes, _| match Json::root(nodes) {
            Some(record) if record.is_object() => {
                visit(record, count, record_maybe_ic);
                Ok(())
            }
            _ => Err(shape(format!("{}: not a JSON object", at()))),
        })
        .map_err(|e| Reason::Json { at: Some(at()), detail: e.to_string() })??;
        count += 1;
    }
    Ok(u64::from(count))
}

/// Parses `input` into the tape kept in `slot` and runs `f` on its nodes. The tape's allocation
/// goes back into `slot` afterwards, whatever happened, so the next object reuses it.
fn with_tape<R>(
    slot: &mut Tape<'static>,
    buffers: &mut Buffers,
    input: &mut [u8],
    f: impl FnOnce(&[Node<'_>], &mut Buffers) -> R,
) -> Result<R, simd_json::Error> {
    let mut tape = std::mem::replace(slot, Tape(Vec::new())).reset();
    let result = simd_json::fill_tape(input, buffers, &mut tape).map(|()| f(&tape.0, buffers));
    *slot = tape.reset();
    result
}

fn shape(detail: impl Into<String>) -> Reason {
    Reason::Shape(detail.into())
}

/// The slice without a UTF-8 byte order mark and surrounding JSON whitespace.
fn trim(bytes: &mut [u8]) -> &mut [u8] {
    let bytes = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => rest,
        all => all,
    };
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes.iter().position(|b| !is_space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_space(b)).map_or(start, |i| i + 1);
    &mut bytes[start..end]
}

/// JSON Lines by content: a first line that is a whole object, and more lines after it. A
/// CloudTrail log is one line; a pretty-printed document's first line is a lone `{`.
fn looks_like_json_lines(body: &[u8]) -> bool {
    let Some(newline) = memchr::memchr(b'\n', body) else {
        return false;
    };
    let first = body[..newline].trim_ascii();
    let rest = body[newline..].trim_ascii();
    first.len() >= 2 && first[0] == b'{' && first[first.len() - 1] == b'}' && !rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the parser and returns (records, indexes of records visited with maybe_ic).
    fn parse(text: &str, hint: NameHint) -> Result<(u64, Vec<u32>), Reason> {
        let mut parser = Parser::new();
        let mut bytes = text.as_bytes().to_vec();
        let mut flagged = Vec::new();
        let records = parser.records(&mut bytes, hint, &mut |_, index, maybe_ic| {
            if maybe_ic {
                flagged.push(index);
            }
        })?;
        Ok((records, flagged))
    }

    const IC: &str = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel"}"#;
    const S3: &str = r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#;

    #[test]
    fn cloudtrail_log_counts_every_record() {
        let log = format!("{{\"Records\":[{S3},{IC},{S3}]}}\n");
        assert_eq!(parse(&log, NameHint::Document).expect("valid log").0, 3);
        assert_eq!(parse("{\"Records\":[]}", NameHint::Document).expect("empty log").0, 0);
    }

    #[test]
    fn lookup_export_parses_each_embedded_record() {
        let export = serde_json::json!({"Events": [
            {"EventId": "1", "CloudTrailEvent": S3},
            {"EventId": "2", "CloudTrailEvent": IC},
        ]})
        .to_string();
        let (records, flagged) = parse(&export, NameHint::Document).expect("valid export");
        assert_eq!(records, 2);
        assert_eq!(flagged, [1], "only the Instance Connect record is worth extracting");
    }

    #[test]
    fn lookup_export_with_a_broken_embedded_record_is_unreadable() {
        let export = serde_json::json!({"Events": [{"CloudTrailEvent": "{\"eventSource\": "}]}).to_string();
        let err = parse(&export, NameHint::Document).expect_err("broken record");
        assert!(err.to_string().contains("Events[0].CloudTrailEvent"), "{err}");
    }

    #[test]
    fn json_lines_by_name_or_by_content() {
        let lines = format!("{S3}\n\n{IC}\r\n{S3}\n");
        assert_eq!(parse(&lines, NameHint::JsonLines).expect("jsonl").0, 3);
        let (records, flagged) = parse(&lines, NameHint::Document).expect("sniffed jsonl");
        assert_eq!((records, flagged), (3, vec![1]));
        assert_eq!(parse(IC, NameHint::JsonLines).expect("one line").0, 1);
    }

    #[test]
    fn a_bad_line_names_its_line_number() {
        let err = parse(&format!("{S3}\n{{\"eventSource\":\n"), NameHint::JsonLines).expect_err("bad");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn pretty_printed_documents_are_not_json_lines() {
        let pretty = format!("{{\n  \"Records\": [\n    {IC}\n  ]\n}}\n");
        assert_eq!(parse(&pretty, NameHint::Document).expect("pretty log").0, 1);
    }

    #[test]
    fn other_shapes_are_unreadable_with_a_reason() {
        for (text, expected) in [
            ("", "empty object"),
            ("  \n", "empty object"),
            ("[1,2]", "not an object"),
            ("{\"foo\":[1]}", "neither"),
            ("{\"Records\":{}}", "not an array"),
            ("{\"Records\":[1]}", "Records[0]"),
            ("{\"Records\":[", "invalid JSON"),
            ("\u{1f}\u{8b}garbage", "invalid JSON"),
        ] {
            let err = parse(text, NameHint::Document).expect_err(text);
            assert!(err.to_string().contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let log = format!("\u{feff}{{\"Records\":[{IC}]}}");
        assert_eq!(parse(&log, NameHint::Document).expect("BOM").0, 1);
    }
}
