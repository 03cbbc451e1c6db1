//! JSON lexing shared by the readers that look into records without a parse tree: the shape walk
//! (`decode/shape.rs`: member names, a record's `eventTime`) and the flat reader of candidates
//! (`event/flat.rs`): whitespace, where a string ends, and its text with every escape JSON has
//! undone (`\uXXXX` of any character, surrogate pairs, `\/`, …), so that what they compare is a
//! string's meaning, never the bytes a writer chose for it.

/// Whether `byte` is JSON whitespace (which `u8::is_ascii_whitespace` is not: it takes form feed).
#[inline(always)]
pub(crate) fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t')
}

/// The offset of the first byte from `at` that is not JSON whitespace (`bytes.len()` if none).
#[inline(always)]
pub(crate) fn whitespace(bytes: &[u8], mut at: usize) -> usize {
    // Compact JSON has none: one comparison tells.
    if bytes.get(at).is_some_and(|&b| b > b' ') {
        return at;
    }
    while bytes.get(at).is_some_and(|&b| is_whitespace(b)) {
        at += 1;
    }
    at
}

/// The offset of the closing quote of the string whose text starts at `at`, and whether it holds
/// escapes. Its bytes are valid UTF-8 with no control character, else `None`.
// Inlined into its callers: a call per string was a tenth of its cost.
#[inline(always)]
pub(crate) fn string_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut at = start;
    let mut escaped = false;
    let mut ascii = true;
    loop {
        let (stop, high) = next_special(bytes.get(at..)?);
        ascii &= !high;
        at += stop;
        match bytes.get(at)? {
            b'"' => break,
            // The escaped character is checked when unescaping; only `\"` matters here.
            b'\\' => {
                escaped = true;
                at += 2;
            }
            _ => return None,
        }
    }
    if !ascii {
        std::str::from_utf8(&bytes[start..at]).ok()?;
    }
    Some((at, escaped))
}

/// The offset of the first `"`, `\` or control character in `bytes` (`bytes.len()` if none),
/// and whether a byte before it is not ASCII.
#[inline(always)]
fn next_special(bytes: &[u8]) -> (usize, bool) {
    let mut at = 0;
    let mut high = false;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        while at + 16 <= bytes.len() {
            // SAFETY: SSE2 is part of every x86_64 processor; the load reads the 16 bytes at
            // `at`, within `bytes`, and `_mm_loadu_si128` has no alignment requirement.
            let (special, upper) = unsafe {
                let chunk = _mm_loadu_si128(bytes[at..].as_ptr().cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
                // Bytes up to 0x1f are those equal to their minimum with 0x1f.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, _mm_set1_epi8(0x1f)), chunk);
                let special = _mm_or_si128(_mm_or_si128(quote, backslash), control);
                (_mm_movemask_epi8(special) as u32, _mm_movemask_epi8(chunk) as u32)
            };
            if special != 0 {
                let stop = special.trailing_zeros();
                high |= upper & ((1 << stop) - 1) != 0;
                return (at + stop as usize, high);
            }
            high |= upper != 0;
            at += 16;
        }
    }
    for &byte in &bytes[at..] {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        high |= byte >= 0x80;
        at += 1;
    }
    (at, high)
}

/// Appends the unescaped text of a string's raw text `raw` to `out`; `None` for an escape JSON
/// does not have or a `\u` escape of a lone surrogate.
pub(crate) fn unescape(raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut rest = raw;
    while let Some(backslash) = rest.iter().position(|&b| b == b'\\') {
        out.extend_from_slice(&rest[..backslash]);
        let escape = *rest.get(backslash + 1)?;
        rest = &rest[backslash + 2..];
        let byte = match escape {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let (c, after) = code_point(rest)?;
                rest = after;
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(byte);
    }
    out.extend_from_slice(rest);
    Some(())
}

/// The character of a `\u` escape whose four hex digits start `rest` (a high surrogate followed by
/// the `\u` escape of a low one makes one character), and what follows it.
fn code_point(rest: &[u8]) -> Option<(char, &[u8])> {
    let unit = hex4(rest)?;
    let rest = &rest[4..];
    match unit {
        0xd800..=0xdbff => {
            let low = rest.strip_prefix(b"\\u").and_then(hex4).filter(|u| (0xdc00..=0xdfff).contains(u))?;
            let c = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            Some((char::from_u32(c)?, &rest[6..]))
        }
        _ => Some((char::from_u32(unit)?, rest)),
    }
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    digits.iter().try_fold(0, |n, &b| Some(n << 4 | (b as char).to_digit(16)?))
}

/// The text of a string's raw text `raw` (between its quotes): `raw` itself when it holds no
/// escape, else unescaped into `out`; `None` as for [`unescape`].
pub(crate) fn text<'a>(raw: &'a [u8], out: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    if memchr::memchr(b'\\', raw).is_none() {
        return Some(raw);
    }
    out.clear();
    unescape(raw, out)?;
    Some(out)
}

/// The offset after the value at `at` (a string, an object or array with everything in it, or a
/// scalar up to the delimiter after it), checked for where it ends only; `None` if it does not.
pub(crate) fn value_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *bytes.get(at)? {
            b'"' => at = string_end(bytes, at + 1)?.0 + 1,
            b'{' | b'[' => {
                depth += 1;
                at += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                at += 1;
            }
            _ if depth > 0 => at += 1,
            _ => {
                while bytes.get(at).is_some_and(|&b| !matches!(b, b',' | b'}' | b']') && !is_whitespace(b)) {
                    at += 1;
                }
                return Some(at);
            }
        }
        if depth == 0 {
            return Some(at);
        }
    }
}

/// `json` written another way with the same meaning, for the tests and the fuzz target that
/// check that records are read by meaning: each character of each string (member names too)
/// kept, or written as a `\uXXXX` escape (a surrogate pair beyond the first plane, in either
/// case of hex digit), and `/` sometimes as `\/`; escapes already there kept; JSON whitespace
/// added around structural characters. `choose(n)` picks each choice below `n` (a seeded
/// generator, or the fuzzer's bytes). Bytes of what is not JSON are copied as they are.
pub(crate) fn respell(json: &[u8], choose: &mut dyn FnMut(u32) -> u32) -> Vec<u8> {
    const SPACES: [&[u8]; 5] = [b"", b" ", b"\n", b"\t ", b"\r\n  "];
    let mut out = Vec::with_capacity(json.len() * 2);
    let mut at = 0;
    let mut in_string = false;
    let space = |out: &mut Vec<u8>, choose: &mut dyn FnMut(u32) -> u32| {
        if choose(4) == 0 {
            out.extend_from_slice(SPACES[choose(SPACES.len() as u32) as usize % SPACES.len()]);
        }
    };
    while at < json.len() {
        let byte = json[at];
        if !in_string {
            match byte {
                b'"' => in_string = true,
                b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                    space(&mut out, choose);
                    out.push(byte);
                    space(&mut out, choose);
                    at += 1;
                    continue;
                }
                _ => {}
            }
            out.push(byte);
            at += 1;
            continue;
        }
        match byte {
            b'"' => {
                in_string = false;
                out.push(byte);
                at += 1;
            }
            b'\\' => {
                // An escape already there, kept whole.
                let len = if json.get(at + 1) == Some(&b'u') { 6 } else { 2 };
                let end = (at + len).min(json.len());
                out.extend_from_slice(&json[at..end]);
                at = end;
            }
            _ => {
                let len = match byte {
                    0xf0..=0xf7 => 4,
                    0xe0..=0xef => 3,
                    0xc0..=0xdf => 2,
                    _ => 1,
                };
                let Some(c) =
                    json.get(at..at + len).and_then(|b| std::str::from_utf8(b).ok()?.chars().next())
                else {
                    out.push(byte);
                    at += 1;
                    continue;
                };
                at += len;
                match choose(4) {
                    0 | 1 => {
                        let upper = choose(2) == 0;
                        let mut units = [0; 2];
                        for unit in c.encode_utf16(&mut units) {
                            let escape =
                                if upper { format!("\\u{unit:04X}") } else { format!("\\u{unit:04x}") };
                            out.extend_from_slice(escape.as_bytes());
                        }
                    }
                    2 if c == '/' => out.extend_from_slice(b"\\/"),
                    _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped(raw: &str) -> Option<String> {
        let mut out = Vec::new();
        text(raw.as_bytes(), &mut out).map(|t| String::from_utf8(t.to_vec()).expect("UTF-8"))
    }

    #[test]
    fn every_escape_json_has_is_undone() {
        assert_eq!(unescaped("plain").as_deref(), Some("plain"));
        assert_eq!(unescaped(r#"a\"b\\c\/d\b\f\n\r\t"#).as_deref(), Some("a\"b\\c/d\u{8}\u{c}\n\r\t"));
        assert_eq!(unescaped(r"\u0065ventSource").as_deref(), Some("eventSource"));
        assert_eq!(unescaped(r"\u00E9\u00e9").as_deref(), Some("éé"));
        assert_eq!(unescaped(r"\ud83d\ude00").as_deref(), Some("😀"), "a surrogate pair is one character");
        assert_eq!(unescaped(r"\u0000").as_deref(), Some("\0"));
        for bad in [r"\x", r"\u12", r"\u12g4", r"\ud800", r"\ud800\u0041", r"\ude00", "\\"] {
            assert_eq!(unescaped(bad), None, "{bad}");
        }
    }

    #[test]
    fn strings_end_at_their_closing_quote() {
        assert_eq!(string_end(br#""abc" "#, 1), Some((4, false)));
        assert_eq!(string_end(br#""a\"b" "#, 1), Some((5, true)));
        assert_eq!(string_end(br#""a\\" "#, 1), Some((4, true)));
        assert_eq!(string_end(br#""abc"#, 1), None, "unterminated");
        assert_eq!(string_end(b"\"a\tb\"", 1), None, "a control character");
        assert_eq!(string_end(b"\"\xc3\x28\"", 1), None, "not UTF-8");
    }

    #[test]
    fn values_are_skipped_whole() {
        for (text, end) in [
            (r#""s\"}" ,"#, 6),
            (r#"{"a":[1,{"b":"]}"}],"c":{}} ,"#, 27),
            ("-1.5e3,", 6),
            ("true}", 4),
            ("null ]", 4),
            ("[[],{}]x", 7),
        ] {
            assert_eq!(value_end(text.as_bytes(), 0), Some(end), "{text}");
        }
        assert_eq!(value_end(b"{\"a\":[1", 0), None, "unterminated");
        assert_eq!(value_end(b"]", 0), None);
        assert_eq!(whitespace(b" \t\r\n x", 0), 5);
        assert_eq!(whitespace(b"\x0cx", 0), 0, "form feed is not JSON whitespace");
    }

    #[test]
    fn respelled_json_means_the_same() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut choose = |n: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % u64::from(n)) as u32
        };
        let json = r#"{"a/b":"x\"é😀/\u0041","n":[1,-2.5e3,true,null,{}],"s":{"k":"v"}}"#;
        let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
        let mut differed = 0;
        for _ in 0..200 {
            let respelled = respell(json.as_bytes(), &mut choose);
            differed += usize::from(respelled != json.as_bytes());
            let again: serde_json::Value = serde_json::from_slice(&respelled).expect("still JSON");
            assert_eq!(again, value, "{}", String::from_utf8_lossy(&respelled));
        }
        assert!(differed > 190, "respelled most times: {differed}");
    }
}
