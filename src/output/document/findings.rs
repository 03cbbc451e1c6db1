//! The Findings section that opens the report: each finding with its rule, title, what it is
//! about and the first of its evidence; the suppressed ones apart, each with its reason.

use crate::report::{Finding, Report};

use super::{code, text, Block, Cell, Table};

/// Evidence events shown per finding; the JSON report lists them all.
const EVIDENCE_SHOWN: usize = 5;

pub(super) fn findings_blocks(report: &Report, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading(format!("Findings ({})", report.findings.len())));
    if report.findings.is_empty() {
        blocks.push(Block::Paragraph(
            "No finding: no rule matched (docs/findings.md lists the rules and their thresholds).".into(),
        ));
    } else {
        blocks.push(Block::Paragraph(
            "What the rules say to look at first, most severe first (docs/findings.md says why each rule \
             matters and how to tune it)."
                .into(),
        ));
        blocks.push(Block::Table(Table {
            headers: vec!["Severity", "Rule", "Finding", "Principal", "First seen", "Events"],
            key_value: false,
            rows: report
                .findings
                .iter()
                .map(|f| {
                    vec![
                        text(f.severity.as_str()),
                        code(&f.rule),
                        text(&f.title),
                        code(f.principal.as_deref().unwrap_or("-")),
                        text(f.first_seen.as_deref().unwrap_or("-")),
                        Cell::Number(f.event_count),
                    ]
                })
                .collect(),
        }));
        for finding in &report.findings {
            one(finding, blocks);
        }
    }
    if !report.suppressed.is_empty() {
        blocks.push(Block::Subheading(format!("Suppressed ({})", report.suppressed.len())));
        blocks.push(Block::Paragraph(
            "Known and accepted (`--suppress`): listed, never a cause of `--fail-on`.".into(),
        ));
        blocks.push(Block::Table(Table {
            headers: vec!["Rule", "Finding", "Principal", "Reason", "Until", "Id"],
            key_value: false,
            rows: report
                .suppressed
                .iter()
                .map(|s| {
                    vec![
                        code(&s.finding.rule),
                        text(&s.finding.title),
                        code(s.finding.principal.as_deref().unwrap_or("-")),
                        text(&s.reason),
                        text(s.expires.as_deref().unwrap_or("-")),
                        code(&s.finding.id),
                    ]
                })
                .collect(),
        }));
    }
}

/// One finding: its rule and title, what it is about, and its first evidence events.
fn one(f: &Finding, blocks: &mut Vec<Block>) {
    blocks.push(Block::Subheading(format!("{} ({}, {})", f.title, f.severity.as_str(), f.rule)));
    let mut rows = vec![vec![text("Id"), code(&f.id)]];
    let mut about = |what: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            rows.push(vec![text(what), code(value)]);
        }
    };
    about("Principal", f.principal.clone());
    about("Account", f.account.clone());
    about("Region", f.region.clone());
    about("Endpoint", f.endpoint.clone());
    about("Instances", Some(f.instances.join(", ")));
    about("Port", f.port.clone());
    let when = match (&f.first_seen, &f.last_seen) {
        (Some(first), Some(last)) if first != last => format!("{first} to {last}"),
        (Some(first), _) => first.clone(),
        _ => "-".to_owned(),
    };
    rows.push(vec![text("When"), text(when)]);
    let shown: Vec<&str> = f.event_ids.iter().take(EVIDENCE_SHOWN).map(String::as_str).collect();
    let more = f.event_ids.len().saturating_sub(shown.len()) as u64;
    let evidence = if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") };
    rows.push(vec![text(format!("Evidence ({})", f.event_count)), code(evidence)]);
    blocks.push(Block::Table(Table { headers: vec!["", ""], key_value: true, rows }));
}
