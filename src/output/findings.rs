//! The list of `trailscope findings`: a table for a terminal (every string escaped), CSV (each
//! archive string through [`csv_cell`]), JSON Lines (the report's findings serialized, with
//! `suppressed` and `expires`), or OCSF. The findings first, most severe first; then the
//! suppressed ones, each with its reason.

use std::borrow::Cow;

use serde::Serialize;

use super::sanitize::{csv_cell, escape};
use super::FindingsFormat;
use crate::report::{Finding, SuppressedFinding};

const HEADINGS: [&str; 12] = [
    "ID",
    "SEVERITY",
    "RULE",
    "FIRST SEEN",
    "LAST SEEN",
    "ACCOUNT",
    "REGION",
    "ENDPOINT",
    "PRINCIPAL",
    "INSTANCES",
    "EVENTS",
    "TITLE",
];

const CSV_HEADER: [&str; 14] = [
    "id",
    "severity",
    "rule",
    "first_seen",
    "last_seen",
    "account",
    "region",
    "endpoint",
    "principal",
    "instances",
    "event_count",
    "title",
    "suppressed",
    "expires",
];

/// A JSON Lines row: the finding, and the reason and expiry of the entry that suppresses it.
#[derive(Serialize)]
struct Line<'f> {
    #[serde(flatten)]
    finding: &'f Finding,
    suppressed: Option<&'f str>,
    expires: Option<&'f str>,
}

/// Every finding, then every suppressed one, in `format`.
pub(crate) fn render(
    findings: &[Finding],
    suppressed: &[SuppressedFinding],
    format: FindingsFormat,
) -> Vec<u8> {
    let all: Vec<(&Finding, Option<&SuppressedFinding>)> =
        findings.iter().map(|f| (f, None)).chain(suppressed.iter().map(|s| (&s.finding, Some(s)))).collect();
    match format {
        FindingsFormat::Ocsf => super::ocsf::lines(findings, suppressed),
        FindingsFormat::Jsonl => {
            let mut out = String::new();
            for (finding, s) in all {
                let line = Line {
                    finding,
                    suppressed: s.map(|s| s.reason.as_str()),
                    expires: s.and_then(|s| s.expires.as_deref()),
                };
                out.push_str(&super::sanitize::json(&serde_json::to_string(&line).unwrap_or_default()));
                out.push('\n');
            }
            out.into_bytes()
        }
        FindingsFormat::Csv => {
            let mut out = CSV_HEADER.join(",") + "\r\n";
            for (f, s) in all {
                let instances = f.instances.join(" ");
                let cells = [
                    Cow::Borrowed(f.id.as_str()),
                    Cow::Borrowed(f.severity.as_str()),
                    Cow::Borrowed(f.rule.as_str()),
                    cell(&f.first_seen),
                    cell(&f.last_seen),
                    cell(&f.account),
                    cell(&f.region),
                    cell(&f.endpoint),
                    cell(&f.principal),
                    csv_cell(&instances),
                    Cow::Owned(f.event_count.to_string()),
                    csv_cell(&f.title),
                    s.map_or(Cow::Borrowed(""), |s| csv_cell(&s.reason)),
                    s.and_then(|s| s.expires.as_deref()).map_or(Cow::Borrowed(""), csv_cell),
                ];
                out.push_str(&cells.join(","));
                out.push_str("\r\n");
            }
            out.into_bytes()
        }
        FindingsFormat::Table => table(&all),
    }
}

/// An aligned table, a suppressed finding's title followed by its reason.
fn table(all: &[(&Finding, Option<&SuppressedFinding>)]) -> Vec<u8> {
    let rows: Vec<[Cow<'_, str>; 12]> = all
        .iter()
        .map(|(f, s)| {
            let title = match s {
                Some(s) => Cow::Owned(format!("{} (suppressed: {})", escape(&f.title), escape(&s.reason))),
                None => escape(&f.title),
            };
            [
                Cow::Borrowed(f.id.as_str()),
                Cow::Borrowed(f.severity.as_str()),
                Cow::Borrowed(f.rule.as_str()),
                text(&f.first_seen),
                text(&f.last_seen),
                text(&f.account),
                text(&f.region),
                text(&f.endpoint),
                text(&f.principal),
                escape(&f.instances.join(" ")).into_owned().into(),
                Cow::Owned(f.event_count.to_string()),
                title,
            ]
        })
        .collect();
    let mut widths = HEADINGS.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[Cow<'_, str>]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&HEADINGS.map(Cow::Borrowed));
    for row in &rows {
        line(row);
    }
    out.into_bytes()
}

/// An archive string for a terminal; nothing for a missing one.
fn text(value: &Option<String>) -> Cow<'_, str> {
    value.as_deref().map_or(Cow::Borrowed(""), escape)
}

/// An archive string as a CSV field; an empty field for a missing one.
fn cell(value: &Option<String>) -> Cow<'_, str> {
    value.as_deref().map_or(Cow::Borrowed(""), csv_cell)
}
