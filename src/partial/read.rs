//! Reading a partial: what its lines are, what a `--verify` partial's residue holds, and the
//! numbers given to the objects its records name.
//!
//! The decoder hands every top-level value of a partial to the reader whole (the reader claims
//! the object by the header's first member, [`MARKER`]): [`Claim`] is that reader, which a
//! worker's sink hands each value claimed; [`Reading`] is what one partial has given so far, and
//! [`Numbers`] numbers the objects partials name apart from the listing's own.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::Reason;
use crate::event::tables::{FastMap, FastSet};
use crate::event::{Event, Extractor, Origin};
use crate::keys::PublicKey;
use crate::verify::fact::{self, Fact};
use crate::verify::Facts;

/// The first member name of a partial's header line.
pub(crate) const MARKER: &[u8] = b"trailscope_partial";

/// The only member of a residue line (`scan --verify`): `{"v":<fact>}`.
const RESIDUE: &[u8] = b"v";

/// A partial read whole: its name, its header line as it is, how many record lines followed,
/// and, of a `--verify` partial, how many residue lines and the public keys among them (its
/// digests and log files were filed with the run's own as they were read).
#[derive(Debug)]
pub(crate) struct PartialRead {
    pub(crate) name: String,
    pub(crate) header: Vec<u8>,
    pub(crate) lines: u64,
    pub(crate) residue: u64,
    pub(crate) keys: Option<Vec<PublicKey>>,
}

/// One line of a partial after its header.
pub(crate) enum Line<'a> {
    /// `{"o":"<object name>","i":<record index>,"r":<record>}`.
    Record(Record<'a>),
    /// `{"v":<fact>}`, a fact of a `--verify` partial's verification.
    Residue(&'a [u8]),
}

/// A record line: the object the record was read from, its position there, and its JSON text.
#[derive(Debug, Deserialize)]
pub(crate) struct Record<'a> {
    #[serde(rename = "o", borrow)]
    pub(crate) object: &'a str,
    #[serde(rename = "i")]
    pub(crate) index: u32,
    #[serde(rename = "r", borrow)]
    record: &'a RawValue,
}

impl<'a> Record<'a> {
    pub(crate) fn record(&self) -> &'a [u8] {
        self.record.get().as_bytes()
    }
}

#[derive(Deserialize)]
struct ResidueLine<'a> {
    #[serde(rename = "v", borrow)]
    fact: &'a RawValue,
}

impl<'a> Line<'a> {
    /// The line `bytes` (one JSON object), told apart by its first member.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Line<'a>, Reason> {
        let json = |e: serde_json::Error| Reason::Json { at: None, detail: e.to_string() };
        if first_member_is(bytes, RESIDUE) {
            let line: ResidueLine<'a> = serde_json::from_slice(bytes).map_err(json)?;
            return Ok(Line::Residue(line.fact.get().as_bytes()));
        }
        serde_json::from_slice(bytes).map(Line::Record).map_err(json)
    }
}

/// Whether the JSON object `bytes` begins with the member name `name` (without its quotes).
fn first_member_is(bytes: &[u8], name: &[u8]) -> bool {
    let rest = bytes.strip_prefix(b"{").unwrap_or(bytes);
    let start = rest.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')).unwrap_or(rest.len());
    let rest = &rest[start..];
    rest.len() > name.len() + 1
        && rest[0] == b'"'
        && &rest[1..=name.len()] == name
        && rest[name.len() + 1] == b'"'
}

/// The reader of one object's claimed values, which a worker's sink hands on as the decoder hands
/// them to it: the first is a partial's header, then each line is a record (handed back to keep)
/// or a residue fact (filed for verification as it is read, whatever this run's options: the
/// merge verifies it).
pub(crate) struct Claim<'a, 'n> {
    /// The partial, once its header was claimed.
    reading: Option<Reading>,
    facts: &'a Facts,
    numbers: &'a mut Numbers<'n>,
    /// The state's partial: records of these objects only are kept.
    only: Option<&'a FastSet<String>>,
    /// Why the last value failed, when it was this run's failure and not the partial's (the
    /// facts could not be filed in the temporary folder).
    pub(crate) failed: Option<io::Error>,
}

/// A record of a partial to keep: the event, where it was read, and its text.
pub(crate) struct Claimed<'v> {
    pub(crate) event: Event,
    pub(crate) origin: Origin,
    pub(crate) record: &'v [u8],
}

impl<'a, 'n> Claim<'a, 'n> {
    pub(crate) fn new(
        facts: &'a Facts,
        numbers: &'a mut Numbers<'n>,
        only: Option<&'a FastSet<String>>,
    ) -> Claim<'a, 'n> {
        Claim { reading: None, facts, numbers, only, failed: None }
    }

    /// One value claimed: the header, a residue line (filed), or a record line (its event, read
    /// by `extractor`, handed back unless the state keeps it from elsewhere).
    pub(crate) fn value<'v>(
        &mut self,
        value: &'v [u8],
        extractor: &mut Extractor<'_>,
    ) -> Result<Option<Claimed<'v>>, Reason> {
        let Some(partial) = self.reading.as_mut() else {
            self.reading = Some(Reading::new(value));
            return Ok(None);
        };
        let line = match Line::parse(value)? {
            Line::Residue(fact) => {
                let filed = match partial.residue(fact)? {
                    Some(fact::Object::Digest(digest)) => self.facts.add_digest(&digest),
                    Some(fact::Object::Log(log)) => self.facts.add_log(&log),
                    None => Ok(()),
                };
                return filed.map(|()| None).map_err(|e| {
                    self.failed = Some(e);
                    Reason::Spool
                });
            }
            Line::Record(line) => line,
        };
        let Some(event) = extractor.extract(line.record())? else {
            return Err(Reason::shape("a partial's record that is not an Instance Connect event"));
        };
        partial.lines += 1;
        if self.only.is_some_and(|only| !only.contains(line.object)) {
            return Ok(None);
        }
        let number = partial.number(line.object, self.numbers);
        Ok(Some(Claimed {
            event,
            origin: Origin { object: number, record: line.index },
            record: line.record(),
        }))
    }

    /// The partial read, when the object was one.
    pub(crate) fn take(&mut self) -> Option<Reading> {
        self.reading.take()
    }
}

/// A partial being read: its header, and what it has given so far.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    pub(crate) header: Vec<u8>,
    /// Record lines read.
    pub(crate) lines: u64,
    /// Objects first named in this partial: (number, name).
    pub(crate) objects: Vec<(u32, String)>,
    /// Residue lines, and the public keys among them.
    pub(crate) residue: u64,
    pub(crate) keys: Option<Vec<PublicKey>>,
}

impl Reading {
    /// A partial whose header line is `header`.
    pub(crate) fn new(header: &[u8]) -> Reading {
        Reading { header: header.to_vec(), ..Reading::default() }
    }

    /// A residue line's fact: public keys are kept with the partial; a digest or a log file is
    /// handed back, for the caller to file for verification at the merge as it is read (a
    /// partial that then fails to read stops the run, so nothing of it is ever half counted).
    pub(crate) fn residue(&mut self, fact: &[u8]) -> Result<Option<fact::Object>, Reason> {
        let fact: Fact = serde_json::from_slice(fact)
            .map_err(|e| Reason::shape_of("a residue line that is not a fact of --verify", e))?;
        self.residue += 1;
        match fact.read().map_err(|e| Reason::shape_of("a residue line", e))? {
            fact::Read::Keys(keys) => {
                self.keys.get_or_insert_with(Vec::new).extend(keys);
                Ok(None)
            }
            fact::Read::Object(object) => Ok(Some(object)),
        }
    }

    /// The number of `object`, named by a record of this partial.
    pub(crate) fn number(&mut self, object: &str, numbers: &mut Numbers<'_>) -> u32 {
        if let Some(&number) = numbers.named.get(object) {
            return number;
        }
        let number = numbers.next.0.fetch_add(1, Ordering::Relaxed);
        numbers.named.insert(object.to_owned(), number);
        self.objects.push((number, object.to_owned()));
        number
    }

    /// What was read, once the partial named `name` read whole.
    pub(crate) fn finish(self, name: String) -> Finished {
        Finished {
            read: PartialRead {
                name,
                header: self.header,
                lines: self.lines,
                residue: self.residue,
                keys: self.keys,
            },
            objects: self.objects,
        }
    }
}

/// A partial read whole: the partial itself, and the objects first named in it (number, name).
pub(crate) struct Finished {
    pub(crate) read: PartialRead,
    pub(crate) objects: Vec<(u32, String)>,
}

/// The numbers of the objects partials name, shared by every worker of a run: from `1 << 31`,
/// apart from the listing's own (which count from 0), so that the two never meet.
#[derive(Debug)]
pub(crate) struct Numbering(AtomicU32);

impl Default for Numbering {
    fn default() -> Numbering {
        Numbering(AtomicU32::new(1 << 31))
    }
}

/// One worker's numbers: the objects it has numbered, by name, and the run's numbering.
pub(crate) struct Numbers<'n> {
    next: &'n Numbering,
    named: FastMap<String, u32>,
}

impl<'n> Numbers<'n> {
    pub(crate) fn new(next: &'n Numbering) -> Numbers<'n> {
        Numbers { next, named: FastMap::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_told_apart_by_their_first_member() {
        let record = br#"{"o":"a.json.gz","i":3,"r":{"eventName":"OpenTunnel"}}"#;
        let Ok(Line::Record(line)) = Line::parse(record) else { panic!("a record line") };
        assert_eq!(
            (line.object, line.index, line.record()),
            ("a.json.gz", 3, &br#"{"eventName":"OpenTunnel"}"#[..])
        );
        let Ok(Line::Residue(fact)) = Line::parse(b"{ \"v\" :{\"k\":1}}") else { panic!("a residue line") };
        assert_eq!(fact, br#"{"k":1}"#);
        assert!(matches!(Line::parse(br#"{"vv":1}"#), Err(Reason::Json { at: None, .. })));
    }

    #[test]
    fn objects_partials_name_are_numbered_once_apart_from_the_listing() {
        let numbering = Numbering::default();
        let (mut one, mut other) = (Numbers::new(&numbering), Numbers::new(&numbering));
        let mut reading = Reading::new(b"{}");
        let a = reading.number("a", &mut one);
        assert_eq!((a, reading.number("a", &mut one)), (1 << 31, 1 << 31));
        assert_eq!(reading.number("b", &mut other), (1 << 31) + 1, "another worker, the next number");
        assert_eq!(reading.objects, [(1 << 31, "a".to_owned()), ((1 << 31) + 1, "b".to_owned())]);
    }
}
