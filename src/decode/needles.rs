//! Which records are handed on to be parsed: those whose text holds all the needles of one of a
//! few alternatives (the event stage says which, in one place: `event::CANDIDATE_NEEDLES`),
//! decided exactly whatever JSON escapes their writer used, and without a parse.
//!
//! A needle is made of characters that JSON can write only as themselves or as a `\u` escape
//! (letters, digits, `-`, `.`, …: not `"`, `\`, `/` or a control character, which have short
//! escapes of their own), but for a leading `"`: the opening quote of a string, which is never
//! escaped (inside a string that holds a record, a LookupEvents `CloudTrailEvent`, it is written
//! `\"`, which holds it, or `\u0022`). So a record that holds no `\u` holds a needle's text if and
//! only if its bytes hold the needle: one search each, the common case. A record that holds a
//! `\u` escape (CloudTrail writes few) is searched again with its escapes undone, one level at a
//! time (a record inside a string is escaped twice), so that a needle written with escapes is
//! found, and a record that holds none, however written, is not handed on. No parse decides:
//! a record the parse would refuse (raw control characters in a string, say) is handed on, and
//! so made unreadable, exactly when another spelling of it would be.
//!
//! A search costs a pass over the record, and a stop at every place where two chosen bytes of the
//! needle stand at their distance apart ([`Rank`] chooses them for CloudTrail JSON). An
//! alternative of several needles is searched one needle at a time, each at most once per record,
//! so that a short gate (`"ec2`, which every alternative of the event stage holds) spares most
//! records the other searches. A needle that begins with another (`"ec2.amazonaws.com` and
//! `"ec2-instance-connect.amazonaws.com` with `"ec2`) is not searched for itself once the shorter
//! one is: every place it stands is a place the shorter one stands, so it is looked for at the
//! shorter one's, and one pass over the record finds them all.

use memchr::arch::all::packedpair::HeuristicFrequencyRank;
use memchr::memmem::{self, FinderBuilder};

/// What a record's text is searched for.
pub(crate) struct Needles {
    finders: Box<[memmem::Finder<'static>]>,
    /// Each alternative: the needles (indexes into `finders`) that a candidate holds all of.
    alternatives: Box<[Box<[usize]>]>,
    /// For each needle, the longer needles that begin with it, as a set of bits.
    longer: Box<[u64]>,
    /// `\u`, the escape that can write any character of a needle.
    escape: memmem::Finder<'static>,
}

/// What a `\u` escape of a character no needle holds (any beyond ASCII) is read as.
const OTHER: u8 = 0x80;

impl Needles {
    /// Searches for each alternative of `alternatives`: a record holding every needle of one of
    /// them may hold a candidate. Panics if a needle could be written with an escape other than
    /// `\u` (see the module's documentation), or if an alternative has no needle: the set is a
    /// constant of the event stage, and a test builds it.
    pub(crate) fn new(alternatives: &[&[&[u8]]]) -> Needles {
        let mut needles: Vec<&[u8]> = Vec::new();
        let alternatives = alternatives
            .iter()
            .map(|all| {
                assert!(!all.is_empty(), "an alternative of no needle");
                all.iter()
                    .map(|&needle| {
                        check(needle);
                        needles.iter().position(|&n| n == needle).unwrap_or_else(|| {
                            needles.push(needle);
                            needles.len() - 1
                        })
                    })
                    .collect()
            })
            .collect();
        assert!(needles.len() <= 64, "more needles than a search remembers");
        let builder = FinderBuilder::new();
        let longer = needles
            .iter()
            .map(|short| {
                needles
                    .iter()
                    .enumerate()
                    .filter(|(_, long)| long.len() > short.len() && long.starts_with(short))
                    .fold(0u64, |bits, (j, _)| bits | 1 << j)
            })
            .collect();
        Needles {
            longer,
            finders: needles
                .iter()
                .map(|n| builder.build_forward_with_ranker(Rank, n).into_owned())
                .collect(),
            alternatives,
            escape: memmem::Finder::new(b"\\u").into_owned(),
        }
    }

    /// Whether `bytes` may hold a candidate: they hold every needle of an alternative, written
    /// any way JSON allows. `backslash` is `false` only when the caller knows that `bytes` hold
    /// no backslash (the structure scan tells, for nothing): then there is no escape to undo.
    #[inline]
    pub(crate) fn may_hold(&self, bytes: &[u8], backslash: bool) -> bool {
        if self.holds(bytes) {
            return true;
        }
        if !backslash || self.escape.find(bytes).is_none() {
            return false;
        }
        let mut text = unescaped(bytes);
        loop {
            if self.holds(&text) {
                return true;
            }
            let next = unescaped(&text);
            // Every escape undone makes the text shorter: the same length, nothing to undo.
            if next.len() == text.len() {
                return false;
            }
            text = next;
        }
    }

    /// Whether `text` holds every needle of an alternative, searching each needle at most once.
    fn holds(&self, text: &[u8]) -> bool {
        let (mut searched, mut found) = (0u64, 0u64);
        'alternatives: for all in &self.alternatives {
            for &i in all.iter() {
                let bit = 1 << i;
                if searched & bit == 0 {
                    let (more_searched, more_found) = self.search(i, text);
                    searched |= more_searched;
                    found |= more_found;
                }
                if found & bit == 0 {
                    continue 'alternatives;
                }
            }
            return true;
        }
        false
    }
}

impl Needles {
    /// Searches `text` for needle `i`, and for the longer needles that begin with it where it
    /// stands: the needles searched, and those found, as sets of bits.
    fn search(&self, i: usize, text: &[u8]) -> (u64, u64) {
        let bit = 1 << i;
        let longer = self.longer[i];
        if longer == 0 {
            return (bit, if self.finders[i].find(text).is_some() { bit } else { 0 });
        }
        let mut found = 0;
        // Every place it stands, overlapping ones too (`find_iter` would step over those, and a
        // longer needle may begin at one).
        let mut from = 0;
        while let Some(offset) = text.get(from..).and_then(|rest| self.finders[i].find(rest)) {
            let at = from + offset;
            from = at + 1;
            found |= bit;
            let mut rest = longer & !found;
            while rest != 0 {
                let j = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                if text[at..].starts_with(self.finders[j].needle()) {
                    found |= 1 << j;
                }
            }
            if found & longer == longer {
                break;
            }
        }
        (bit | longer, found)
    }
}

/// Which two bytes of a needle memchr's search stops at: the two it ranks rarest. Its default
/// ranking is of text and code at large, where `"`, `-` and digits are rare; in CloudTrail JSON
/// they are everywhere (`"eice-` was searched by `"` and `-`, which every `"2024-…` date holds at
/// that distance), as are the letters of `amazonaws`. The bytes ranked rare here are those whose
/// pairs were found least in 12 MB of the bench archive's records: `2` and `z` stand apart only in
/// `"ec2.amazonaws.com` and `"ec2-instance-connect.amazonaws.com` (no false stop), `I` and `p` in
/// `InstanceConnectEndpoint` (125 stops for 94 matches), `i` and `e` in `"eice-` (69 for 64), `2`
/// and `e` in `"ec2` (4,047 for 1,215). Any other byte ranks alike, after them.
#[derive(Clone, Copy)]
struct Rank;

impl HeuristicFrequencyRank for Rank {
    fn rank(&self, byte: u8) -> u8 {
        const RAREST_FIRST: &[u8] = b"2zIpie";
        RAREST_FIRST.iter().position(|&b| b == byte).map_or(u8::MAX, |at| at as u8)
    }
}

/// Panics unless `needle` is written as itself or with `\u` escapes only (a leading `"` aside).
fn check(needle: &[u8]) {
    let rest = needle.strip_prefix(b"\"").unwrap_or(needle);
    assert!(
        !rest.is_empty() && rest.iter().all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'/')),
        "{:?} could be written with escapes a search for it and for \\u would miss",
        String::from_utf8_lossy(needle)
    );
}

/// `text` with the escapes of one level undone: `\uXXXX` as its character if ASCII (else as
/// [`OTHER`]: no needle holds it), the short escapes as theirs. A backslash that starts no escape
/// (the record is then invalid, for its parse to say) is kept as it is, so that this never fails.
fn unescaped(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        let after = &rest[at + 1..];
        let (byte, used) = match after.first() {
            Some(b'u') => match after.get(1..5).and_then(hex4) {
                Some(unit) => (u8::try_from(unit).ok().filter(u8::is_ascii).unwrap_or(OTHER), 5),
                None => (b'\\', 0),
            },
            Some(&c @ (b'"' | b'\\' | b'/')) => (c, 1),
            Some(b'b') => (0x08, 1),
            Some(b'f') => (0x0c, 1),
            Some(b'n') => (b'\n', 1),
            Some(b'r') => (b'\r', 1),
            Some(b't') => (b'\t', 1),
            _ => (b'\\', 0),
        };
        out.push(byte);
        rest = &after[used..];
    }
    out.extend_from_slice(rest);
    out
}

/// Four hex digits, as a number.
fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |n, &d| Some(n * 16 + char::from(d).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Needles {
        fn may_hold_any(&self, bytes: &[u8]) -> bool {
            let answer = self.may_hold(bytes, true);
            if !bytes.contains(&b'\\') {
                assert_eq!(self.may_hold(bytes, false), answer, "no backslash, no escape to undo");
            }
            answer
        }
    }

    const ONE_EACH: &[&[&[u8]]] =
        &[&[b"\"ec2-instance-connect.amazonaws.com"], &[b"InstanceConnectEndpoint"], &[b"eice-"]];

    #[test]
    fn each_needle_of_a_set_is_found() {
        let needles = Needles::new(ONE_EACH);
        for record in [
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com"}"#,
            r#"{"eventName":"CreateInstanceConnectEndpoint"}"#,
            r#"{"eventName":"CreateTags","requestParameters":{"resourcesSet":{"items":[{"resourceId":"eice-0a1"}]}}}"#,
            // Inside a LookupEvents string, the opening quote is escaped, and still there.
            r#"{"CloudTrailEvent":"{\"eventSource\":\"ec2-instance-connect.amazonaws.com\"}"}"#,
        ] {
            assert!(needles.may_hold_any(record.as_bytes()), "{record}");
        }
        for record in [
            r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#,
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"CreateTags","x":"eice"}"#,
            // The name without the quote a string opens with is not a value that is the name.
            r#"{"policy":"arn:aws:ec2-instance-connect.amazonaws.com"}"#,
            // Short escapes cannot spell a needle's characters: no need to look further.
            r#"{"a":"\/\"\\\n\t","b":"ec2-instance-connect.amazonaws.co"}"#,
        ] {
            assert!(!needles.may_hold_any(record.as_bytes()), "{record}");
        }
    }

    #[test]
    fn a_needle_written_with_escapes_is_found_and_other_escapes_hand_nothing_on() {
        let needles = Needles::new(ONE_EACH);
        for record in [
            r#"{"eventSource":"ec2\u002dinstance-connect.amazonaws.com"}"#,
            r#"{"eventSource":"\u0065c2-instance-connect.amazonaws.com"}"#,
            r#"{"eventName":"CreateInstanceConnect\u0045ndpoint"}"#,
            r#"{"resourceId":"\u0065ice-1"}"#,
            // The opening quote of the value escaped one level down.
            r#"{"CloudTrailEvent":"{\"eventSource\":\u0022ec2-instance-connect.amazonaws.com\"}"}"#,
            // A record in a string, its own escapes escaped: `\\u0065` is `\u0065` one level down.
            r#"{"CloudTrailEvent":"{\"eventSource\":\"\\u0065c2-instance-connect.amazonaws.com\"}"}"#,
            // A backslash written `\u005c`, starting an escape one level down.
            r#"{"CloudTrailEvent":"{\"eventSource\":\"\u005cu0065c2-instance-connect.amazonaws.com\"}"}"#,
        ] {
            assert!(needles.may_hold_any(record.as_bytes()), "{record}");
        }
        for record in [
            // An escape anywhere is no needle.
            r#"{"eventSource":"s3.amazonaws.com","k":"\u00e9"}"#,
            r#"{"eventSource":"s3\u002eamazonaws.com","k":"\ud83d\ude00 eice"}"#,
            // Nor is a backslash that starts no escape, nor a raw control character.
            "{\"eventSource\":\"s3.amazonaws.com\",\"k\":\"\\x\u{0}\\u00\\u0041\"}",
        ] {
            assert!(!needles.may_hold_any(record.as_bytes()), "{record}");
        }
    }

    #[test]
    fn an_alternative_wants_all_its_needles() {
        let needles = Needles::new(&[&[b"\"ec2.amazonaws.com", b"\"eice-"], &[b"\"ec2-instance-connect"]]);
        assert!(needles.may_hold_any(br#"{"eventSource":"ec2.amazonaws.com","id":"eice-1"}"#));
        assert!(needles.may_hold_any(br#"{"id":"eice-1","eventSource":"ec2.amazonaws.com"}"#));
        assert!(needles.may_hold_any(br#"{"eventSource":"ec2-instance-connect"}"#));
        assert!(!needles.may_hold_any(br#"{"eventSource":"s3.amazonaws.com","id":"eice-1"}"#));
        assert!(!needles.may_hold_any(br#"{"eventSource":"ec2.amazonaws.com","id":"i-1"}"#));
        // Each needle written its own way.
        assert!(needles.may_hold_any(br#"{"eventSource":"\u0065c2.amazonaws.com","id":"eic\u0065-1"}"#));
    }

    #[test]
    fn a_needle_that_begins_with_another_is_found_wherever_the_shorter_one_stands() {
        // The event stage's own alternatives: every one gated by `"ec2`.
        let needles = Needles::new(crate::event::CANDIDATE_NEEDLES);
        let source =
            |s: &str| format!(r#"{{"eventSource":"{s}","eventName":"CreateInstanceConnectEndpoint"}}"#);
        assert!(needles.may_hold_any(source("ec2.amazonaws.com").as_bytes()));
        assert!(!needles.may_hold_any(source("s3.amazonaws.com").as_bytes()));
        // The longer needle after other places the gate stands, and not at the first.
        let late = r#"{"a":"ec2","b":"ec2x","c":"ec2-instance-connect.amazonaws.co","eventSource":"ec2-instance-connect.amazonaws.com"}"#;
        assert!(needles.may_hold_any(late.as_bytes()));
        assert!(!needles.may_hold_any(late.replace(".com\"}", ".con\"}").as_bytes()));
        // Both longer needles, each after the gate elsewhere; one of them only in an escape.
        let both = r#"{"x":"ec2","y":"ec2.amazonaws.com","z":"\u0065ice-1"}"#;
        assert!(needles.may_hold_any(both.as_bytes()));
        assert!(!needles.may_hold_any(both.replace("u0065", "u0066").as_bytes()));
        // Built from any set: a needle and its extensions, in either order.
        let set = Needles::new(&[&[b"\"ab", b"\"abcd"], &[b"\"abc"]]);
        assert!(set.may_hold_any(br#"{"k":"ab","l":"abcd"}"#));
        assert!(set.may_hold_any(br#"{"k":"abc"}"#));
        assert!(!set.may_hold_any(br#"{"k":"ab","l":"abd"}"#));
        let set = Needles::new(&[&[b"\"abcd", b"\"ab"]]);
        assert!(set.may_hold_any(br#"{"l":"abcd"}"#));
        assert!(!set.may_hold_any(br#"{"l":"abc"}"#));
        // A longer needle that begins where the shorter one overlaps an earlier place of itself.
        let set = Needles::new(&[&[b"abab", b"ababX"]]);
        assert!(set.may_hold_any(b"abababX"));
        assert!(!set.may_hold_any(b"abababY"));
    }

    #[test]
    fn one_level_of_escapes_is_undone_at_a_time_and_never_fails() {
        assert_eq!(unescaped(br#"a\u0041\"\\\/\n\u00e9\x\u12"#), b"aA\"\\/\n\x80\\x\\u12");
        assert_eq!(unescaped(br"\\u0041"), br"\u0041");
        assert_eq!(unescaped(br"\u005cu0041"), br"\u0041");
        assert_eq!(unescaped(b"\\"), b"\\");
        assert_eq!(unescaped(b""), b"");
    }

    #[test]
    fn needles_a_short_escape_could_write_are_refused() {
        for bad in [&b"a/b"[..], b"a\"b", b"a\\b", b"tab\t", b"", b"\"", b"two words"] {
            let refused = std::panic::catch_unwind(|| Needles::new(&[&[bad]])).is_err();
            assert!(refused, "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(std::panic::catch_unwind(|| Needles::new(&[&[]])).is_err(), "an alternative of none");
    }
}
