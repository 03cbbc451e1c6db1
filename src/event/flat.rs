//! A candidate record read in one pass straight from its bytes: its structure (keys and nesting),
//! a hash of each leaf's value and where each string leaf's text is, in document order, without
//! a parse tree and without copying the record. This is all the extractor needs of a record whose
//! structure it has seen before.
//!
//! It reads a strict subset of JSON on which simd-json cannot disagree: a record it does not
//! read (numbers other than plain integers of up to 18 digits, `\u` escapes of lone surrogates,
//! control characters in strings, nesting deeper than [`MAX_DEPTH`], or anything malformed) is
//! left to simd-json, so that what a record reads as, and why a broken one is refused, is always
//! simd-json's answer.

use std::hash::{BuildHasher, Hasher};

use crate::decode::lex::{string_end, unescape, whitespace};

/// Deeper records are left to simd-json (CloudTrail records nest a few levels).
const MAX_DEPTH: usize = 64;

/// Integers of more digits are left to simd-json, so that every integer read here fits an `i64`
/// whatever its sign, and its text is the one simd-json's value prints.
const MAX_DIGITS: usize = 18;

/// A leaf's value, as hashed: equal compact JSON texts hash equal and nothing else does (but by a
/// 2^-64 chance): the string `"22"` and the number `22` differ, as `null` and a missing path do.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scalar<'a> {
    /// A string's text, unescaped.
    String(&'a [u8]),
    /// A number's compact JSON text.
    Number(&'a [u8]),
    Bool(bool),
    Null,
    EmptyObject,
    EmptyArray,
}

/// The hasher of values, contents and event ids: fixed-seeded, so equal inputs hash equal in
/// every run and on every worker. These hashes only tell equal from different (sorted only to
/// bring equal ones together; never shown or stored), so which function makes them does not
/// reach a report: foldhash's quality variant, where `std`'s SipHash was 8% of all instructions
/// on an Instance Connect-heavy archive.
pub(super) fn value_hasher() -> foldhash::quality::FoldHasher<'static> {
    foldhash::quality::FixedState::default().build_hasher()
}

/// The hashers of strings and of numbers: seeded apart, so that the string `"22"` and the
/// number `22` differ without a byte written before each text (every leaf of a candidate is
/// hashed: one write less each saved 0.7% of the instructions on an Instance Connect-heavy
/// archive).
const STRINGS: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0x7374_7269_6e67);
const NUMBERS: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0x6e75_6d62_6572);

#[inline]
pub(super) fn scalar_hash(value: Scalar<'_>) -> u64 {
    let mut h = match value {
        Scalar::String(_) => STRINGS.build_hasher(),
        Scalar::Number(_) => NUMBERS.build_hasher(),
        _ => value_hasher(),
    };
    match value {
        Scalar::String(text) | Scalar::Number(text) => h.write(text),
        Scalar::Bool(b) => h.write_u8(if b { b't' } else { b'f' }),
        Scalar::Null => h.write_u8(b'z'),
        Scalar::EmptyObject => h.write_u8(b'{'),
        Scalar::EmptyArray => h.write_u8(b'['),
    }
    h.finish()
}

/// Appends the structure's mark of a leaf.
pub(super) const LEAF: u8 = b'.';

/// Appends a member's key to a structure: its length, then its unescaped bytes.
pub(super) fn push_key(structure: &mut Vec<u8>, key: &[u8]) {
    structure.extend_from_slice(&(key.len() as u32).to_le_bytes());
    structure.extend_from_slice(key);
}

/// Where a string leaf's unescaped text is.
#[derive(Debug, Clone, Copy)]
enum Text {
    /// Not a string.
    None,
    /// In the record, at this range (a string without escapes).
    Record(u32, u32),
    /// In [`Flat::unescaped`], at this range.
    Unescaped(u32, u32),
}

/// A member of the record's root object.
#[derive(Debug, Clone, Copy)]
struct Member {
    /// Where its key is in the structure.
    key: (u32, u32),
    /// Its value's leaf, if the value is a leaf.
    leaf: Option<u32>,
}

/// One record read flat, and the buffers the next one reuses.
#[derive(Debug, Default)]
pub(super) struct Flat {
    /// Keys, nesting and where leaves are, exactly as the tape walk writes them.
    pub(super) structure: Vec<u8>,
    /// Each leaf's [`scalar_hash`], in document order.
    pub(super) hashes: Vec<u64>,
    texts: Vec<Text>,
    members: Vec<Member>,
    /// Strings that had escapes, unescaped.
    unescaped: Vec<u8>,
}

impl Flat {
    /// Reads `record`, a JSON object. `None` when it is not one this reader reads (see the
    /// module's documentation); what it held then is meaningless.
    pub(super) fn read(&mut self, record: &[u8]) -> Option<()> {
        // Places in the record are kept as u32.
        if record.len() >= u32::MAX as usize {
            return None;
        }
        self.structure.clear();
        self.hashes.clear();
        self.texts.clear();
        self.members.clear();
        self.unescaped.clear();
        let at = whitespace(record, 0);
        if record.get(at) != Some(&b'{') {
            return None;
        }
        let end = Reader { bytes: record, flat: self }.read(at)?;
        (whitespace(record, end) == record.len()).then_some(())
    }

    /// The text of leaf `leaf` when it is a string: UTF-8, validated when read (as bytes, so
    /// that the caller compares it without validating it again, and converts it only to keep it).
    pub(super) fn text<'a>(&'a self, record: &'a [u8], leaf: u32) -> Option<&'a [u8]> {
        match *self.texts.get(leaf as usize)? {
            Text::None => None,
            Text::Record(start, end) => record.get(start as usize..end as usize),
            Text::Unescaped(start, end) => self.unescaped.get(start as usize..end as usize),
        }
    }

    /// The first member of the root object named `key`: `Some(leaf)` with its leaf when its value
    /// is one, `Some(None)` when it is an object or array that is not empty.
    pub(super) fn member(&self, key: &str) -> Option<Option<u32>> {
        self.members
            .iter()
            .find(|m| self.structure.get(m.key.0 as usize..m.key.1 as usize) == Some(key.as_bytes()))
            .map(|m| m.leaf)
    }
}

/// What the reader expects next.
#[derive(Clone, Copy)]
enum Next {
    Value,
    /// A member's key, or the end of an empty object.
    Key,
    /// A `,` or the end of the container the value just read is in.
    After,
}

struct Reader<'r, 'f> {
    bytes: &'r [u8],
    flat: &'f mut Flat,
}

impl Reader<'_, '_> {
    /// Reads the value at `at` (the root object's `{`) to its end, without recursion: `open`
    /// holds the containers being read, `true` for an object. Returns the offset after it.
    fn read(self, mut at: usize) -> Option<usize> {
        let Reader { bytes, flat } = self;
        let Flat { structure, hashes, texts, members, unescaped } = flat;
        let mut open = [false; MAX_DEPTH];
        let mut depth = 0;
        // The root member whose value is being read, and the structure's length before it.
        let mut member: Option<usize> = None;
        let mut next = Next::Value;
        loop {
            match next {
                Next::Value => {
                    at = whitespace(bytes, at);
                    next = Next::After;
                    let leaf = match *bytes.get(at)? {
                        b'{' => {
                            at = whitespace(bytes, at + 1);
                            if bytes.get(at) == Some(&b'}') {
                                at += 1;
                                Scalar::EmptyObject
                            } else {
                                *open.get_mut(depth)? = true;
                                depth += 1;
                                structure.push(b'{');
                                next = Next::Key;
                                continue;
                            }
                        }
                        b'[' => {
                            at = whitespace(bytes, at + 1);
                            if bytes.get(at) == Some(&b']') {
                                at += 1;
                                Scalar::EmptyArray
                            } else {
                                *open.get_mut(depth)? = false;
                                depth += 1;
                                structure.push(b'[');
                                next = Next::Value;
                                continue;
                            }
                        }
                        b'"' => {
                            let (end, escaped) = string_end(bytes, at + 1)?;
                            let raw = &bytes[at + 1..end];
                            let (hash, text) = if escaped {
                                let from = unescaped.len();
                                unescape(raw, unescaped)?;
                                let text = Text::Unescaped(from as u32, unescaped.len() as u32);
                                (scalar_hash(Scalar::String(&unescaped[from..])), text)
                            } else {
                                (scalar_hash(Scalar::String(raw)), Text::Record(at as u32 + 1, end as u32))
                            };
                            at = end + 1;
                            structure.push(LEAF);
                            hashes.push(hash);
                            texts.push(text);
                            continue;
                        }
                        b't' => literal(bytes, &mut at, b"true", Scalar::Bool(true))?,
                        b'f' => literal(bytes, &mut at, b"false", Scalar::Bool(false))?,
                        b'n' => literal(bytes, &mut at, b"null", Scalar::Null)?,
                        _ => {
                            let start = at;
                            at = integer_end(bytes, at)?;
                            Scalar::Number(&bytes[start..at])
                        }
                    };
                    structure.push(LEAF);
                    hashes.push(scalar_hash(leaf));
                    texts.push(Text::None);
                }
                Next::Key => {
                    at = whitespace(bytes, at);
                    if bytes.get(at) != Some(&b'"') {
                        return None;
                    }
                    let (end, escaped) = string_end(bytes, at + 1)?;
                    let raw = &bytes[at + 1..end];
                    let key_at = structure.len();
                    if escaped {
                        structure.extend_from_slice(&[0; 4]);
                        unescape(raw, structure)?;
                        let len = (structure.len() - key_at - 4) as u32;
                        structure[key_at..key_at + 4].copy_from_slice(&len.to_le_bytes());
                    } else {
                        push_key(structure, raw);
                    }
                    // `"key":` as CloudTrail writes it, else with whitespace before the colon.
                    at = end + 1;
                    if bytes.get(at) != Some(&b':') {
                        at = whitespace(bytes, at);
                        if bytes.get(at) != Some(&b':') {
                            return None;
                        }
                    }
                    at += 1;
                    if depth == 1 {
                        let key = ((key_at + 4) as u32, structure.len() as u32);
                        members.push(Member { key, leaf: Some(hashes.len() as u32) });
                        member = Some(structure.len());
                    }
                    next = Next::Value;
                }
                Next::After => {
                    if depth == 1 {
                        // A leaf adds its one mark to the structure; a container more.
                        if member.take().is_some_and(|before| structure.len() != before + 1) {
                            members.last_mut()?.leaf = None;
                        }
                    }
                    at = whitespace(bytes, at);
                    let object = *open.get(depth.checked_sub(1)?)?;
                    match (bytes.get(at)?, object) {
                        (b',', true) => next = Next::Key,
                        (b',', false) => next = Next::Value,
                        (b'}', true) | (b']', false) => {
                            structure.push(if object { b'}' } else { b']' });
                            depth -= 1;
                            if depth == 0 {
                                return Some(at + 1);
                            }
                        }
                        _ => return None,
                    }
                    at += 1;
                }
            }
        }
    }
}

/// Takes `word` at `at`, the leaf `value`.
fn literal<'a>(bytes: &[u8], at: &mut usize, word: &[u8], value: Scalar<'a>) -> Option<Scalar<'a>> {
    if !bytes.get(*at..)?.starts_with(word) {
        return None;
    }
    *at += word.len();
    Some(value)
}

/// The end of the integer at `at`: `-?(0|[1-9][0-9]*)`, not `-0`, at most [`MAX_DIGITS`]
/// digits, not followed by a fraction or an exponent; its text is then exactly what simd-json's
/// integer prints.
fn integer_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    let negative = bytes.get(at) == Some(&b'-');
    at += usize::from(negative);
    let digits = bytes.get(at..)?.iter().take_while(|b| b.is_ascii_digit()).count();
    let first = *bytes.get(at)?;
    if digits == 0 || digits > MAX_DIGITS || (first == b'0' && (digits > 1 || negative)) {
        return None;
    }
    at += digits;
    if let Some(b'.' | b'e' | b'E') = bytes.get(at) {
        return None;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<Flat> {
        let mut flat = Flat::default();
        flat.read(text.as_bytes()).map(|()| flat)
    }

    #[test]
    fn leaves_hash_as_their_values_and_strings_keep_their_text() {
        let text = r#"{"a":"x\"y\u00e9\ud83d\ude00","b":[1,-2,true,false,null,{},[]],"c":{"d":"plain"}}"#;
        let flat = read(text).expect("read");
        let expected = [
            Scalar::String("x\"yé😀".as_bytes()),
            Scalar::Number(b"1"),
            Scalar::Number(b"-2"),
            Scalar::Bool(true),
            Scalar::Bool(false),
            Scalar::Null,
            Scalar::EmptyObject,
            Scalar::EmptyArray,
            Scalar::String(b"plain"),
        ];
        assert_eq!(flat.hashes, expected.map(scalar_hash));
        assert_eq!(flat.text(text.as_bytes(), 0), Some("x\"yé😀".as_bytes()));
        assert_eq!(flat.text(text.as_bytes(), 1), None, "a number has no text");
        assert_eq!(flat.text(text.as_bytes(), 8), Some(&b"plain"[..]));
        assert_eq!(flat.member("a"), Some(Some(0)));
        assert_eq!(flat.member("c"), Some(None), "an object that is not empty is no leaf");
        assert_eq!(flat.member("d"), None, "only the root's members");
    }

    #[test]
    fn what_simd_json_might_read_otherwise_is_left_to_it() {
        for text in [
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":1234567890123456789}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\x"}"#,
            "{\"a\":\"tab\tin\"}",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":tru}"#,
            r#"{"a":1} {"#,
            r#"[1]"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":"\"#,
        ] {
            assert!(read(text).is_none(), "{text}");
        }
        let bad_utf8 = b"{\"a\":\"\xc3\x28\"}";
        assert!(Flat::default().read(bad_utf8).is_none());
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read(&deep).is_none());
        assert!(read(" {\"a\" : [ 1 , 2 ] }\n").is_some(), "whitespace is JSON's");
    }

    #[test]
    fn strings_are_scanned_across_chunks() {
        for len in 0..40 {
            let body = "é".repeat(len / 2) + &"a".repeat(len);
            let text = format!(r#"{{"k":"{body}\"{body}","l":"{body}"}}"#);
            let flat = read(&text).expect("read");
            assert_eq!(flat.text(text.as_bytes(), 0), Some(format!("{body}\"{body}").as_bytes()));
            assert_eq!(flat.text(text.as_bytes(), 1), Some(body.as_bytes()));
        }
    }
}
