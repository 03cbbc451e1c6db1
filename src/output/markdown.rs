//! Markdown for tickets and wikis: the same blocks as the text report, as headings and tables.
//!
//! Every string is first [`sanitize::escape`]d (no control, bidi or invisible character, and so
//! no line break, survives from the archive), then escaped for Markdown: in a table cell nothing
//! from the archive may end the cell, start markup or leave a code span early.

use std::borrow::Cow;

use super::document::{Block, Cell, Table};
use super::sanitize;

pub(super) fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Title(title) => out.push_str(&format!("# {}\n\n", inline(title))),
            Block::Heading(heading) | Block::Aside(heading) => {
                out.push_str(&format!("## {}\n\n", inline(heading)))
            }
            Block::Subheading(heading) => out.push_str(&format!("### {}\n\n", inline(heading))),
            Block::Paragraph(text) => out.push_str(&format!("{}\n\n", prose(text))),
            Block::Note(text) => out.push_str(&format!("> **Note:** {}\n\n", prose(text))),
            Block::Table(table) => table_markdown(table, &mut out),
            // A chart: the endpoints table before it already gives each endpoint's span.
            Block::Timeline(_) => {}
        }
    }
    // One trailing newline, not a blank line.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn table_markdown(table: &Table, out: &mut String) {
    let numeric: Vec<bool> = (0..table.headers.len())
        .map(|i| table.rows.iter().all(|row| matches!(row.get(i), Some(Cell::Number(_)))))
        .collect();
    let headers: Vec<String> = if table.key_value {
        vec!["".into(); table.headers.len()]
    } else {
        table.headers.iter().map(|h| inline(h)).collect()
    };
    out.push_str(&format!("| {} |\n", headers.join(" | ")));
    let rule: Vec<&str> = numeric.iter().map(|&n| if n { "---:" } else { "---" }).collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(cell_markdown).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}

fn cell_markdown(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => inline(s),
        Cell::Number(n) => n.to_string(),
        Cell::Code(s) => code_span(&sanitize::escape(s)),
    }
}

/// Prose written by the document model, where backticks mark code spans (`--all`): each part
/// is escaped as what it is. Archive data never starts a paragraph, so no block markup (`#`,
/// `-`, `>`) can be started from it.
fn prose(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { code_span(&sanitize::escape(part)) } else { inline(part) })
        .collect()
}

/// Plain text as Markdown that shows exactly that text. Backslash escapes every ASCII character
/// that can start or end inline markup or a table cell; `&` too, or `&lt;` would show as `<`.
/// A leading `#`, `-`, `+` or `=` needs nothing: it starts a heading, list or underline only at
/// the start of a line, and a table cell, a heading's text or a paragraph's middle is never one
/// (line breaks from the archive are escaped before this).
fn inline(s: &str) -> String {
    let s = sanitize::escape(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '|' | '`' | '*' | '_' | '~' | '<' | '>' | '[' | ']' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `s` (already sanitized) as a code span that shows it verbatim, even inside a table cell.
fn code_span(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    // A span ends at a backtick run as long as its opening one, so the fence is one longer than
    // any run inside. A space pads a content that starts or ends with a backtick (or with spaces
    // on both sides), since Markdown strips one space from each end of a span.
    let longest_run = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if s.starts_with('`')
        || s.ends_with('`')
        || (s.starts_with(' ') && s.ends_with(' ') && s.trim() != "")
    {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", table_safe(s))
}

/// A table row is split at every `|` not escaped by a backslash, code spans included, and a
/// backslash escapes whatever follows it. So `|` becomes `\|`, and a backslash right before a
/// `|` is shown as the escape `\u{5c}` (what [`sanitize::escape`] uses for a backslash that
/// could mislead), or it would escape our backslash instead.
fn table_safe(s: &str) -> Cow<'_, str> {
    if !s.contains('|') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => out.push_str("\\u{5c}"),
            '|' => out.push_str("\\|"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cells_escape_markup_and_table_breakers() {
        assert_eq!(inline("a|b"), r"a\|b");
        assert_eq!(inline("<img src=x onerror=alert(1)>"), r"\<img src=x onerror=alert(1)\>");
        assert_eq!(
            inline("[click](http://x) *b* _i_ ~~s~~ &lt;"),
            r"\[click\](http://x) \*b\* \_i\_ \~\~s\~\~ \&lt;"
        );
        assert_eq!(inline(r"C:\logs"), r"C:\\logs");
    }

    #[test]
    fn text_cells_are_sanitized_before_markdown_escaping() {
        // The sanitizer's backslash is escaped too, so the reader sees `\u{1b}`.
        assert_eq!(inline("a\u{1b}[31m\nb"), r"a\\u{1b}\[31m\\u{a}b");
    }

    #[test]
    fn code_spans_outlast_backticks_from_the_archive() {
        assert_eq!(code_span("plain"), "`plain`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("a``b```c"), "````a``b```c````");
        assert_eq!(code_span("`x`"), "`` `x` ``");
        assert_eq!(code_span(" x "), "`  x  `");
        assert_eq!(code_span("  "), "`  `");
    }

    #[test]
    fn code_spans_cannot_end_a_table_cell() {
        assert_eq!(code_span("a|b"), r"`a\|b`");
        // `\|` would be an escaped `|` followed by nothing: the backslash is shown as an escape.
        assert_eq!(code_span(r"a\|b"), r"`a\u{5c}\|b`");
        assert_eq!(code_span(r"a\\|b"), r"`a\\u{5c}\|b`");
    }

    #[test]
    fn prose_keeps_its_own_code_spans() {
        assert_eq!(prose("list them with `--all`."), "list them with `--all`.");
        assert_eq!(prose("a_b `c|d`"), r"a\_b `c\|d`");
    }
}
