//! Strings from an archive are data, never terminal control or markup. An archive is written by
//! whoever could write to the bucket, and its object names, endpoint ids, error codes, JSON keys
//! and values reach the reader's terminal (or a file that is `cat` later) through the text and
//! Markdown reports and the warnings on stderr. [`escape`] is applied to all of those at the
//! output edge, so no renderer has to remember which of its strings came from the archive.
//!
//! What is escaped, as `\u{1b}` (lowercase hex, no padding, like Rust's own escapes):
//!
//! - C0 controls (U+0000 to U+001F, newline and tab included: inside a value they would start a
//!   line or a column the report did not write), DEL (U+007F) and C1 controls (U+0080 to U+009F:
//!   U+009B is CSI on terminals that honour 8-bit controls);
//! - bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A to
//!   U+202E, U+2066 to U+2069), which reorder what is shown (Trojan Source);
//! - zero-width and other invisible format characters (U+00AD, U+180E, U+200B to U+200D, U+2060
//!   to U+2065, U+206A to U+206F, U+FEFF, U+FFF9 to U+FFFB, and the tag characters U+E0000 to
//!   U+E007F), which make two different strings look equal;
//! - the line and paragraph separators U+2028 and U+2029, which some viewers break lines at.
//!
//! A literal backslash is shown as itself, except when `u{` follows it: then it is shown as
//! `\u{5c}`. So every `\u{` in the output starts an escape trailscope wrote, and an archive
//! cannot forge one: the 6 characters `\u{1b}` in a value are shown as `\u{5c}u{1b}`. Keeping
//! other backslashes as they are leaves JSON values (`"a\"b"`) and Windows paths readable.
//!
//! [`csv_cell`] is the same idea for CSV, where the danger is a spreadsheet formula.

use std::borrow::Cow;
use std::fmt::Write;

/// True for the characters [`escape`] never lets through (see the module documentation).
fn needs_escape(c: char) -> bool {
    // `is_control` is exactly C0, DEL and C1 (Unicode general category Cc).
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// Whether `suspect(i, c)` holds for a character `c` of `text` (at byte `i`), asked only of the
/// characters in blocks of bytes that are not all `plain` (printable ASCII, where the caller
/// escapes none): a report of megabytes is nearly all such blocks, and a byte test over a block
/// costs a fraction of decoding each character.
fn any_char(text: &str, plain: impl Fn(u8) -> bool, mut suspect: impl FnMut(usize, char) -> bool) -> bool {
    const BLOCK: usize = 32;
    let bytes = text.as_bytes();
    // Always a character boundary: a plain block ends in an ASCII byte, and a block looked into
    // is left at the end of the character that crosses its end.
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + BLOCK).min(bytes.len());
        if bytes[at..end].iter().fold(true, |all, &b| all & plain(b)) {
            at = end;
            continue;
        }
        let mut next = bytes.len();
        for (i, c) in text[at..].char_indices() {
            if suspect(at + i, c) {
                return true;
            }
            let after = at + i + c.len_utf8();
            if after >= end {
                next = after;
                break;
            }
        }
        at = next;
    }
    false
}

/// JSON text with every character [`escape`] would escape written as a JSON escape (`\u009b`,
/// `\u202e`; a pair of them beyond U+FFFF): the same JSON values, exactly, but nothing a terminal
/// or viewer acts on when the file is shown raw (`cat report.json`). serde_json already escapes C0
/// controls; DEL, C1, bidirectional and zero-width characters it writes as they are. Outside
/// strings JSON is ASCII, so every such character is inside a string, where an escape means it.
pub(crate) fn json(text: &str) -> Cow<'_, str> {
    // Raw line breaks and tabs are the layout between tokens: inside strings serde escapes them.
    let unsafe_in_json = |c: char| needs_escape(c) && !matches!(c, '\n' | '\r' | '\t');
    let plain = |b: u8| matches!(b, b' '..=b'~' | b'\n' | b'\r' | b'\t');
    if !any_char(text, plain, |_, c| unsafe_in_json(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_in_json(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`json`] as the text is written: what is written to it goes on to `inner` escaped. A character
/// whose bytes are split between two writes is held until its last byte arrives; [`finish`]
/// says if the text ended inside one (it was not UTF-8).
///
/// [`finish`]: JsonWriter::finish
pub(crate) struct JsonWriter<W> {
    inner: W,
    /// The first bytes of a character cut at the end of the last write.
    cut: Vec<u8>,
}

impl<W: std::io::Write> JsonWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        JsonWriter { inner, cut: Vec::new() }
    }

    /// Ends the text: an error if it ended inside a character.
    pub(crate) fn finish(self) -> std::io::Result<()> {
        if self.cut.is_empty() {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "JSON text that ends inside a character",
            ))
        }
    }
}

impl<W: std::io::Write> std::io::Write for JsonWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut joined = std::mem::take(&mut self.cut);
        let text = if joined.is_empty() {
            bytes
        } else {
            joined.extend_from_slice(bytes);
            &joined
        };
        let (whole, cut) = match std::str::from_utf8(text) {
            Ok(whole) => (whole, &[][..]),
            // Cut short, not invalid: the rest comes with the next write.
            Err(e) if e.error_len().is_none() => {
                let (whole, cut) = text.split_at(e.valid_up_to());
                (std::str::from_utf8(whole).unwrap_or_default(), cut)
            }
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        };
        self.inner.write_all(json(whole).as_bytes())?;
        self.cut = cut.to_vec();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `s` with every character a terminal or viewer could act on shown as a `\u{…}` escape, and a
/// backslash that would read as the start of one shown as `\u{5c}`. Borrows when nothing needs
/// escaping, which is nearly always.
pub fn escape(s: &str) -> Cow<'_, str> {
    // The character `c` at byte `i`: escaped itself, or a backslash an escape could be forged from.
    let escaped = |i: usize, c: char| needs_escape(c) || (c == '\\' && s[i + 1..].starts_with("u{"));
    // No printable ASCII byte is escaped but the backslash, which is looked at.
    let plain = |b: u8| matches!(b, b' '..=b'~') && b != b'\\';
    if !any_char(s, plain, escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (i, c) in s.char_indices() {
        if escaped(i, c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One CSV field (RFC 4180) holding `s`, safe to open in a spreadsheet.
///
/// A value starting with `=`, `+`, `-`, `@`, tab or carriage return would be taken for a formula
/// by Excel, LibreOffice or Google Sheets (`=HYPERLINK(…)` exfiltrates, `=cmd|…` runs things), so
/// it is prefixed with `'`, which makes a spreadsheet take it as text (Excel hides the `'`, a CSV
/// import elsewhere may show it: a visible mark is the price of not running it). The field is
/// quoted when it holds a comma, a double quote (doubled inside), a carriage return or a line
/// feed, or was neutralised. Meant for strings from the archive: write numbers as numbers, or a
/// negative one would gain the `'` too. Control characters are kept: CSV is a data format, and
/// quoting carries them exactly.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || s.contains([',', '"', '\r', '\n']);
    if !quote {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 3);
    out.push('"');
    if formula {
        out.push('\'');
    }
    out.push_str(&s.replace('"', "\"\""));
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod json_tests {
    use super::json;

    #[test]
    fn json_escapes_what_a_terminal_acts_on_and_stays_the_same_json() {
        let value = serde_json::json!({"k": "a\u{9b}31m\u{202e}b\u{7f}c\u{E0041}\u{2028}é\t"});
        let text = serde_json::to_string_pretty(&value).expect("JSON");
        let safe = json(&text);
        assert!(safe.contains("{\n  \"k\""), "the layout is kept: {safe}");
        assert!(safe.is_ascii() || safe.chars().all(|c| c == 'é' || c.is_ascii()), "{safe}");
        assert!(
            safe.contains("\\u009b") && safe.contains("\\u202e") && safe.contains("\\udb40\\udc41"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value, "the same values");
        assert!(matches!(json("{\"plain\":1}"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn json_written_in_pieces_is_escaped_as_json_of_it_whole() {
        use std::io::Write;
        let value =
            serde_json::json!({"k": "a\u{9b}31m\u{202e}b\u{7f}c\u{E0041}\u{2028}é文🦀\t", "n": [1, 2]});
        let text = serde_json::to_string_pretty(&value).expect("JSON");
        // Every way of cutting it in two, and in pieces of one to seven bytes: characters cut
        // anywhere in their bytes.
        for at in 0..=text.len() {
            let mut out = Vec::new();
            let mut writer = super::JsonWriter::new(&mut out);
            writer.write_all(&text.as_bytes()[..at]).expect("write");
            writer.write_all(&text.as_bytes()[at..]).expect("write");
            writer.finish().expect("whole characters");
            assert_eq!(String::from_utf8(out).expect("UTF-8"), json(&text), "cut at {at}");
        }
        for size in 1..8 {
            let mut out = Vec::new();
            let mut writer = super::JsonWriter::new(&mut out);
            for piece in text.as_bytes().chunks(size) {
                writer.write_all(piece).expect("write");
            }
            writer.finish().expect("whole characters");
            assert_eq!(String::from_utf8(out).expect("UTF-8"), json(&text), "pieces of {size}");
        }
        // Text that ends inside a character, or that is not UTF-8, is refused.
        let mut writer = super::JsonWriter::new(Vec::new());
        writer.write_all("é".as_bytes().get(..1).expect("a byte")).expect("held");
        assert!(writer.finish().is_err());
        assert!(super::JsonWriter::new(Vec::new()).write_all(b"\xff\xfe").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in [
            "eice-0f94a1b2c3d4e5f60",
            "résumé 文档 🦀",
            r#""C:\\logs\\a.json""#,
            r"a\b \x1b \u001b \u",
            "\u{FFFD}",
            "heart\u{2764}\u{FE0F}",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s:?}");
        }
    }

    #[test]
    fn what_needs_escaping_is_found_wherever_it_falls_among_the_blocks_looked_at() {
        // Before, on and after a block's edge (32 bytes), a character of several bytes across it,
        // and at the very end: each found, by `escape` and `json` alike.
        for at in [0, 1, 30, 31, 32, 33, 63, 64, 65, 100] {
            for bad in ['\u{1b}', '\u{9b}', '\u{202e}', '\u{E0041}', '\u{7f}'] {
                let mut s = "a".repeat(at);
                s.push(bad);
                let plain = escape(&s);
                assert!(matches!(plain, Cow::Owned(_)), "{at} {bad:?}");
                assert!(!plain.contains(bad), "{at} {bad:?}");
                assert!(matches!(json(&s), Cow::Owned(_)), "{at} {bad:?}");
                s.push_str(&"b".repeat(at));
                assert!(matches!(escape(&s), Cow::Owned(_)), "{at} {bad:?}");
            }
            // Characters of two, three and four bytes that need nothing, across block edges.
            let fine = format!("{}é{}文{}🦀x", "a".repeat(at), "b".repeat(at % 7), "c".repeat(31));
            assert!(matches!(escape(&fine), Cow::Borrowed(_)), "{at}");
            assert!(matches!(json(&fine), Cow::Borrowed(_)), "{at}");
            // A backslash is looked at, and let through unless `u{` follows.
            let slash = format!("{}\\x{}\\u{{1b}}", "a".repeat(at), "b".repeat(at));
            assert_eq!(escape(&slash), slash.replace("\\u{", "\\u{5c}u{"), "{at}");
        }
        // Layout is plain in JSON, and not in text.
        assert!(matches!(json("{\n\t\"a\": 1\r\n}"), Cow::Borrowed(_)));
        assert_eq!(escape("a\nb"), r"a\u{a}b");
    }

    #[test]
    fn terminal_escape_sequences_are_shown_not_sent() {
        assert_eq!(escape("eice-1\u{1b}[31mRED\u{1b}[0m"), r"eice-1\u{1b}[31mRED\u{1b}[0m");
        // OSC 52 writes the reader's clipboard; OSC 8 makes a link; BEL ends both.
        assert_eq!(escape("\u{1b}]52;c;aGk=\u{7}"), r"\u{1b}]52;c;aGk=\u{7}");
    }

    #[test]
    fn newline_tab_and_carriage_return_inside_a_value_are_escaped() {
        assert_eq!(escape("a\nb\tc\rd"), r"a\u{a}b\u{9}c\u{d}d");
    }

    #[test]
    fn nul_del_and_c1_controls_are_escaped() {
        assert_eq!(escape("\0\u{7f}\u{80}\u{9b}31m\u{9f}"), r"\u{0}\u{7f}\u{80}\u{9b}31m\u{9f}");
    }

    #[test]
    fn bidi_controls_are_escaped() {
        let all = "\u{202A}\u{202B}\u{202C}\u{202D}\u{202E}\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}\u{061C}";
        assert_eq!(
            escape(all),
            r"\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}"
        );
        assert_eq!(escape("invoice\u{202E}fdp.exe"), r"invoice\u{202e}fdp.exe");
    }

    #[test]
    fn invisible_characters_and_line_separators_are_escaped() {
        let all = "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}\u{2028}\u{2029}\u{AD}\u{E0041}";
        assert_eq!(escape(all), r"\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}\u{2028}\u{2029}\u{ad}\u{e0041}");
    }

    #[test]
    fn an_escape_written_in_the_archive_cannot_pass_for_one_of_ours() {
        // The six characters `\u{1b}` and a real ESC must not look the same.
        assert_eq!(escape(r"\u{1b}"), r"\u{5c}u{1b}");
        assert_eq!(escape("\u{1b}"), r"\u{1b}");
        // A backslash before a real control is kept: the escape after it is unambiguous.
        assert_eq!(escape("\\\u{1b}"), r"\\u{1b}");
        assert_eq!(escape(r"\\u{1b}"), r"\\u{5c}u{1b}");
    }

    #[test]
    fn every_escape_decodes_back_to_the_original() {
        // The rule is reversible: `\u{…}` is always an escape, any other backslash is itself.
        fn decode(s: &str) -> String {
            let mut out = String::new();
            let mut rest = s;
            while let Some(i) = rest.find("\\u{") {
                out.push_str(&rest[..i]);
                let end = rest[i..].find('}').expect("closed") + i;
                let code = u32::from_str_radix(&rest[i + 3..end], 16).expect("hex");
                out.push(char::from_u32(code).expect("a char"));
                rest = &rest[end + 1..];
            }
            out + rest
        }
        for s in ["\\u{1b}\u{1b}\\", "\\\\u{\u{202e}", "a\n\\u{5c}", "\u{9b}\\u"] {
            assert_eq!(decode(&escape(s)), s, "{s:?}");
        }
    }

    #[test]
    fn csv_cells_quote_per_rfc_4180() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("cr\r"), "\"cr\r\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn csv_cells_that_would_start_a_formula_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
        assert_eq!(csv_cell("+1"), "\"'+1\"");
        assert_eq!(csv_cell("-2+3"), "\"'-2+3\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("\t=1"), "\"'\t=1\"");
        assert_eq!(csv_cell("\r=1"), "\"'\r=1\"");
        // Only the start matters: a formula character later is text to every spreadsheet.
        assert_eq!(csv_cell("a=b-c"), "a=b-c");
    }
}
