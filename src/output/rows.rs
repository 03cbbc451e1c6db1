//! The rows of `trailscope connections`, written one at a time: an aligned table for a terminal
//! (every string [`escape`](sanitize::escape)d), CSV (RFC 4180, each archive string through
//! [`csv_cell`](sanitize::csv_cell)), or JSON Lines ([`Row`] serialized, exact strings).
//!
//! A table's columns must be as wide as their widest cell, so a table is laid out from a first
//! pass over the rows ([`Table::measure`]) that keeps only the widths; CSV and JSON Lines need
//! none. Either way no more than one row is held at a time.

use std::borrow::Cow;
use std::io::{self, Write};

use super::sanitize::{csv_cell, escape};
use super::ListFormat;
use crate::row::Row;

/// The table's headings, one per column.
const HEADINGS: [&str; 15] = [
    "TIME",
    "OUTCOME",
    "ACCOUNT",
    "REGION",
    "ENDPOINT",
    "NAME",
    "PRINCIPAL",
    "SOURCE IP",
    "INSTANCE",
    "OS USER",
    "PRIVATE IP",
    "PORT",
    "KEY FINGERPRINT",
    "KEY TO TUNNEL (S)",
    "USER AGENT",
];

/// The column of [`HEADINGS`] whose numbers are aligned on the right.
const SECONDS_COLUMN: usize = 13;

/// The CSV header: the JSON Lines keys, in the same order.
const CSV_HEADER: [&str; 16] = [
    "time",
    "outcome",
    "error_code",
    "account",
    "region",
    "endpoint",
    "principal",
    "source_ip",
    "instance_id",
    "os_user",
    "private_ip",
    "port",
    "key_fingerprint",
    "key_to_tunnel_seconds",
    "user_agent",
    "endpoint_name",
];

/// How rows are written.
pub(crate) enum Layout {
    Table(Table),
    Csv,
    Jsonl,
}

/// The width of each column of a table, in characters, from every row it will hold.
pub(crate) struct Table {
    widths: [usize; HEADINGS.len()],
}

impl Table {
    pub(crate) fn new() -> Table {
        Table { widths: HEADINGS.map(|h| h.chars().count()) }
    }

    /// Widens the columns to fit `row`.
    pub(crate) fn measure(&mut self, row: &Row) {
        for (width, cell) in self.widths.iter_mut().zip(table_cells(row)) {
            *width = (*width).max(cell.chars().count());
        }
    }
}

impl Layout {
    /// A layout of `format`; a table needs its widths measured before rows are written.
    pub(crate) fn new(format: ListFormat) -> Layout {
        match format {
            ListFormat::Table => Layout::Table(Table::new()),
            ListFormat::Csv => Layout::Csv,
            ListFormat::Jsonl => Layout::Jsonl,
        }
    }

    /// What comes before the rows: the headings of a table, the header line of CSV.
    pub(crate) fn header(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Layout::Table(table) => table_line(table, HEADINGS.map(Cow::Borrowed), out),
            Layout::Csv => csv_line(CSV_HEADER.map(Cow::Borrowed), out),
            Layout::Jsonl => Ok(()),
        }
    }

    pub(crate) fn row(&self, row: &Row, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Layout::Table(table) => table_line(table, table_cells(row), out),
            Layout::Csv => csv_line(csv_cells(row), out),
            Layout::Jsonl => {
                let line = serde_json::to_string(row)?;
                out.write_all(super::sanitize::json(&line).as_bytes())?;
                out.write_all(b"\n")
            }
        }
    }
}

/// A row's table cells, escaped; a denied attempt's outcome carries its error code.
fn table_cells(row: &Row) -> [Cow<'_, str>; HEADINGS.len()] {
    let outcome = match &row.error_code {
        Some(code) => Cow::Owned(format!("{} ({})", row.outcome, escape(code))),
        None => Cow::Borrowed(row.outcome.as_str()),
    };
    [
        text(&row.time),
        outcome,
        text(&row.account),
        text(&row.region),
        text(&row.endpoint),
        text(&row.endpoint_name),
        text(&row.principal),
        text(&row.source_ip),
        text(&row.instance_id),
        text(&row.os_user),
        text(&row.private_ip),
        text(&row.port),
        text(&row.key_fingerprint),
        row.key_to_tunnel_seconds.map_or(Cow::Borrowed(""), |s| Cow::Owned(s.to_string())),
        text(&row.user_agent),
    ]
}

/// Cells padded to their column, two spaces apart, the seconds on the right; no trailing blanks.
fn table_line<const N: usize>(
    table: &Table,
    cells: [Cow<'_, str>; N],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(table.widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let pad = width.saturating_sub(cell.chars().count());
        if i == SECONDS_COLUMN {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(cell);
        } else {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    out.write_all(line.trim_end().as_bytes())?;
    out.write_all(b"\n")
}

/// A row's CSV fields. Strings from the archive go through [`csv_cell`]; the time, the outcome
/// and the seconds are trailscope's own and written as they are (a negative number must stay a
/// number).
fn csv_cells(row: &Row) -> [Cow<'_, str>; CSV_HEADER.len()] {
    [
        cell(&row.time),
        Cow::Borrowed(row.outcome.as_str()),
        cell(&row.error_code),
        cell(&row.account),
        cell(&row.region),
        cell(&row.endpoint),
        cell(&row.principal),
        cell(&row.source_ip),
        cell(&row.instance_id),
        cell(&row.os_user),
        cell(&row.private_ip),
        cell(&row.port),
        cell(&row.key_fingerprint),
        row.key_to_tunnel_seconds.map_or(Cow::Borrowed(""), |s| Cow::Owned(s.to_string())),
        cell(&row.user_agent),
        cell(&row.endpoint_name),
    ]
}

/// An archive string for a terminal; nothing for a missing one.
fn text(value: &Option<String>) -> Cow<'_, str> {
    value.as_deref().map_or(Cow::Borrowed(""), escape)
}

/// An archive string as a CSV field; an empty field for a missing one.
fn cell(value: &Option<String>) -> Cow<'_, str> {
    value.as_deref().map_or(Cow::Borrowed(""), csv_cell)
}

/// One CSV record, ended by CRLF as RFC 4180 has it.
fn csv_line<const N: usize>(cells: [Cow<'_, str>; N], out: &mut dyn Write) -> io::Result<()> {
    out.write_all(cells.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Outcome, Seconds};

    fn row() -> Row {
        Row {
            time: Some("2024-03-01T00:10:00Z".into()),
            outcome: Outcome::Denied,
            error_code: Some("AccessDenied".into()),
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            endpoint: Some("eice-1\u{1b}[31m".into()),
            principal: Some("=HYPERLINK(\"http://evil\")".into()),
            source_ip: Some("198.51.100.1".into()),
            instance_id: None,
            os_user: None,
            private_ip: Some("10.0.0.1".into()),
            port: Some("22".into()),
            key_fingerprint: None,
            key_to_tunnel_seconds: Some(Seconds(-2_000)),
            user_agent: Some("agent, with \"quotes\"".into()),
            endpoint_name: Some("=bastion".into()),
        }
    }

    fn written(layout: &Layout, row: &Row) -> String {
        let mut out = Vec::new();
        layout.header(&mut out).expect("header");
        layout.row(row, &mut out).expect("row");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn csv_quotes_neutralises_formulas_and_keeps_numbers() {
        let csv = written(&Layout::Csv, &row());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert_eq!(
            lines[1],
            "2024-03-01T00:10:00Z,denied,AccessDenied,111122223333,us-east-1,eice-1\u{1b}[31m,\
             \"'=HYPERLINK(\"\"http://evil\"\")\",198.51.100.1,,,10.0.0.1,22,,-2,\"agent, with \"\"quotes\"\"\",\
             \"'=bastion\""
        );
        assert_eq!(lines[2], "", "every record ends with CRLF");
    }

    #[test]
    fn table_columns_fit_the_widest_cell_and_strings_are_escaped() {
        let mut table = Table::new();
        let row = row();
        table.measure(&row);
        let text = written(&Layout::Table(table), &row);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("denied (AccessDenied)"), "{text}");
        assert!(lines[1].contains(r"eice-1\u{1b}[31m"), "{text}");
        assert!(!text.contains('\u{1b}'));
        // Every column starts at the same place in both lines.
        let at = |line: &str, s: &str| line.find(s).expect(s);
        assert_eq!(at(lines[0], "PRINCIPAL"), at(lines[1], "=HYPERLINK"));
        assert_eq!(at(lines[0], "NAME"), at(lines[1], "=bastion"), "the name beside the endpoint");
        assert_eq!(at(lines[0], "USER AGENT"), at(lines[1], "agent,"));
        assert!(lines[1].contains("  -2  agent"), "seconds aligned right: {text}");
    }

    #[test]
    fn jsonl_is_one_exact_object_per_row_in_a_stable_key_order() {
        let text = written(&Layout::Jsonl, &row());
        assert_eq!(text.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["endpoint"], "eice-1\u{1b}[31m");
        assert_eq!(value["instance_id"], serde_json::Value::Null);
        assert_eq!(value["key_to_tunnel_seconds"], -2);
        assert_eq!(
            value.as_object().expect("object").len(),
            CSV_HEADER.len(),
            "the CSV columns, and no more"
        );
        // Keys are written in the order of the CSV columns.
        let places: Vec<usize> =
            CSV_HEADER.iter().map(|key| text.find(&format!("\"{key}\":")).expect(key)).collect();
        assert!(places.is_sorted(), "{text}");
    }
}
