//! What the human-readable report says, as a list of blocks: headings, paragraphs, notes and
//! tables. Text, Markdown and HTML render the same blocks, each in its own way.

use std::collections::BTreeMap;

use crate::report::{Changes, EndpointReport, FieldReport, FieldShape, LifecycleMark, Modification, Report};
use crate::row::Row;
use crate::time::Timestamp;

use super::timeline::{self, Timeline};
use super::RenderOptions;
use fields::event_fields;
use findings::findings_blocks;
use integrity::integrity_blocks;

mod fields;
mod findings;
mod integrity;

pub(super) enum Block {
    Title(String),
    Heading(String),
    /// A section apart from the report's own sections (`--state`'s changes): a heading as any
    /// other in text and Markdown; in HTML a section of its own, outside the numbered contents.
    Aside(String),
    Subheading(String),
    /// Prose; `code` spans are marked with backticks.
    Paragraph(String),
    /// A caveat the reader must not miss.
    Note(String),
    Table(Table),
    /// Each endpoint's tunnels over time, for formats that can draw (HTML). Text and Markdown
    /// leave it out: the endpoints table already gives each endpoint's first and last tunnel.
    Timeline(Timeline),
}

pub(super) struct Table {
    pub headers: Vec<&'static str>,
    /// A two-column list of facts: text output shows no header line.
    pub key_value: bool,
    pub rows: Vec<Vec<Cell>>,
}

pub(super) enum Cell {
    Text(String),
    /// A field path, id or JSON value: shown verbatim.
    Code(String),
    Number(u64),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn code(s: impl Into<String>) -> Cell {
    Cell::Code(s.into())
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(super) fn build(report: &Report, options: &RenderOptions) -> Vec<Block> {
    let s = &report.summary;
    let archived =
        if s.objects_archived > 0 { format!(", {} archived", s.objects_archived) } else { String::new() };
    let mut blocks = vec![
        Block::Title("trailscope report".into()),
        Block::Paragraph(format!(
            "{} read, {} skipped, {} unreadable{archived}: {} with {}.",
            plural(s.objects_read, "object", "objects"),
            s.objects_skipped,
            s.objects_failed,
            plural(s.records, "record", "records"),
            plural(s.instance_connect_events, "Instance Connect event", "Instance Connect events"),
        )),
    ];
    // What to look at first; then, apart from the report's own sections (which are the same as
    // without --state), what changed since the last report.
    findings_blocks(report, &mut blocks);
    if let Some(changes) = &report.changes {
        since_last_report(changes, options, &mut blocks);
    }
    blocks.push(Block::Heading("Summary".into()));
    let mut facts = vec![
        (
            "Connections",
            format!(
                "{} through {} ({} without a pushed key)",
                s.connections,
                plural(s.endpoints, "endpoint", "endpoints"),
                s.connections_without_key
            ),
        ),
        ("Denied attempts", s.denied_attempts.to_string()),
        (
            "Direct use (no endpoint)",
            format!(
                "{} SendSSHPublicKey, {} SendSerialConsoleSSHPublicKey",
                report.direct.ssh_keys, report.direct.serial_console_keys
            ),
        ),
        (
            "Objects",
            format!(
                "{} read; {} skipped ({} digest, {} other, {} directory links); {} unreadable",
                s.objects_read,
                s.objects_skipped,
                s.skipped.digest,
                s.skipped.other,
                s.skipped.directory_links,
                s.objects_failed
            ),
        ),
        (
            "Duplicate events dropped",
            format!(
                "{} (copies of an event already counted: same eventID and recipientAccountId); {} conflicting",
                s.duplicate_events, s.conflicting_duplicates
            ),
        ),
        (
            "Key/tunnel pairing",
            format!("tunnel from 5 s before to {} s after the key", s.pair_window_seconds),
        ),
    ];
    if s.tunnels_without_endpoint > 0 {
        facts.insert(2, ("Tunnels naming no endpoint", s.tunnels_without_endpoint.to_string()));
    }
    if s.objects_archived > 0 {
        let classes: Vec<String> =
            s.archived_by_storage_class.iter().map(|(class, n)| format!("{n} {class}")).collect();
        facts.push((
            "Archived (not read)",
            format!("{} ({}): restore them, then run again", s.objects_archived, classes.join(", ")),
        ));
    }
    if s.requests_throttled > 0 {
        facts.push((
            "S3 requests throttled",
            format!("{} (SlowDown, retried more slowly)", s.requests_throttled),
        ));
    }
    if let Some(throttled) = s.lookup_requests_throttled.filter(|&n| n > 0) {
        facts.push((
            "LookupEvents requests throttled",
            format!("{throttled} (ThrottlingException, asked again)"),
        ));
    }
    if s.requests_retried > 0 {
        facts.push((
            "S3 requests retried",
            format!("{} (broken off, stalled or failed, and asked again)", s.requests_retried),
        ));
    }
    if s.lifecycle_events > 0 {
        facts.push((
            "Endpoint lifecycle calls",
            format!("{} ({} refused, changing nothing)", s.lifecycle_events, s.lifecycle_denied),
        ));
    }
    if s.events_without_time > 0 {
        let events = plural(s.events_without_time, "event", "events");
        facts.push(("Without a readable eventTime", format!("{events}: not paired, not placed in time")));
    }
    blocks.push(Block::Table(Table {
        headers: vec!["", ""],
        key_value: true,
        rows: facts.into_iter().map(|(k, v)| vec![text(k), text(v)]).collect(),
    }));

    endpoints(report, &mut blocks);
    direct_and_other(report, &mut blocks);
    for name in &report.event_names {
        let fields: Vec<&FieldReport> =
            report.fields.iter().filter(|f| f.event_name == name.event_name).collect();
        event_fields(report, name, &fields, options, &mut blocks);
    }
    if !report.conflicts.is_empty() {
        conflicts(report, &mut blocks);
    }
    if let Some(integrity) = &report.integrity {
        integrity_blocks(integrity, &mut blocks);
    }
    if !report.failures.is_empty() {
        unreadable(report, &mut blocks);
    }
    if !report.archived.is_empty() {
        archived_blocks(report, &mut blocks);
    }
    if let Some(state) = &report.state {
        // What only this run did (`--state`), apart from everything above, in one line.
        blocks.push(Block::Paragraph(format!("{}.", crate::state::line(state))));
    }
    blocks
}

/// The unreadable objects: one row each for reasons with few objects, and one row per reason
/// (count, a few names) for the others, so a storm of failures stays a short table.
fn unreadable(report: &Report, blocks: &mut Vec<Block>) {
    use super::failures::{some_names, split, thousands};
    blocks.push(Block::Heading(format!("Unreadable objects ({})", report.failures.len())));
    let (few, many) = split(&report.failures);
    if !few.is_empty() {
        blocks.push(Block::Table(Table {
            headers: vec!["Object", "Reason"],
            key_value: false,
            rows: few.iter().map(|f| vec![code(&f.object), text(f.reason.to_string())]).collect(),
        }));
    }
    if !many.is_empty() {
        blocks.push(Block::Paragraph(
            "Reasons shared by many objects, each once (the JSON report lists every object):".into(),
        ));
        blocks.push(Block::Table(Table {
            headers: vec!["Reason", "Objects", "For example"],
            key_value: false,
            rows: many
                .iter()
                .map(|group| {
                    let names: Vec<&str> = group.failures.iter().map(|f| f.object.as_str()).collect();
                    vec![text(&*group.reason), text(thousands(names.len())), code(some_names(&names))]
                })
                .collect(),
        }));
    }
}

/// The archived objects, by storage class, and what to do about them.
fn archived_blocks(report: &Report, blocks: &mut Vec<Block>) {
    use super::failures::{some_names, thousands};
    blocks.push(Block::Heading(format!("Archived objects ({})", report.archived.len())));
    blocks.push(Block::Paragraph(
        "These objects are in archive storage classes: S3 serves them only once restored, so they were not \
         read, and the report lacks their events. `--restore-manifest FILE` lists them as an S3 Batch \
         Operations manifest (a Restore job); run again once they are restored."
            .into(),
    ));
    let mut classes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for object in &report.archived {
        classes.entry(&object.storage_class).or_default().push(&object.object);
    }
    blocks.push(Block::Table(Table {
        headers: vec!["Storage class", "Objects", "For example"],
        key_value: false,
        rows: classes
            .iter()
            .map(|(class, names)| vec![code(*class), text(thousands(names.len())), code(some_names(names))])
            .collect(),
    }));
}

/// Tunnels since the last report listed in text, Markdown and HTML without `--all`: a night's
/// handful whole, a burst cut short (JSON lists them all).
const TUNNELS_SHOWN: usize = 20;

/// `--state`: what changed since the previous report, first, for the reader who reads only that.
fn since_last_report(changes: &Changes, options: &RenderOptions, blocks: &mut Vec<Block>) {
    blocks.push(Block::Aside("Since the last report".into()));
    if changes.is_empty() {
        blocks.push(Block::Paragraph("Nothing new, nothing changed.".into()));
        return;
    }
    blocks.push(Block::Paragraph(format!(
        "{} and {}.",
        plural(changes.connections.len() as u64, "connection", "connections"),
        plural(changes.denied_attempts.len() as u64, "denied attempt", "denied attempts")
    )));
    let mut rows = Vec::new();
    for (what, items) in [
        ("New endpoint", &changes.new_endpoints),
        ("Endpoint created", &changes.endpoints_created),
        ("Endpoint modified", &changes.endpoints_modified),
        ("Endpoint deleted", &changes.endpoints_deleted),
        ("New principal", &changes.new_principals),
        ("New instance or address", &changes.new_instances),
        ("New finding", &changes.new_findings),
    ] {
        rows.extend(items.iter().map(|item| vec![text(what), code(item)]));
    }
    if !rows.is_empty() {
        blocks.push(Block::Table(Table { headers: vec!["What", "Value"], key_value: false, rows }));
    }
    if !changes.fields_changed.is_empty() {
        let shape = |s: &Option<FieldShape>| match s {
            None => "absent".to_owned(),
            Some(FieldShape { class, varies_with: None }) => format!("{class:?}").to_lowercase(),
            Some(FieldShape { class, varies_with: Some(v) }) => {
                format!("{} (with {})", format!("{class:?}").to_lowercase(), format!("{v:?}").to_lowercase())
            }
        };
        blocks.push(Block::Table(Table {
            headers: vec!["Event", "Field", "Before", "Now"],
            key_value: false,
            rows: changes
                .fields_changed
                .iter()
                .map(|f| {
                    vec![code(&f.event_name), code(&f.path), text(shape(&f.before)), text(shape(&f.after))]
                })
                .collect(),
        }));
    }
    new_tunnels(changes, options, blocks);
}

/// The connections and denied attempts since the last report, in time order, as
/// `trailscope connections` lists them.
fn new_tunnels(changes: &Changes, options: &RenderOptions, blocks: &mut Vec<Block>) {
    let mut tunnels: Vec<&Row> = changes.connections.iter().chain(&changes.denied_attempts).collect();
    if tunnels.is_empty() {
        return;
    }
    // Both lists are in the listing's order (time, then where the record was read; rows without
    // a readable time last); merged by time, a stable sort keeps that order among equal times.
    let time = |row: &Row| row.time.as_deref().and_then(Timestamp::parse);
    tunnels.sort_by_key(|row| (time(row).is_none(), time(row)));
    let total = tunnels.len();
    let shown = if options.all { total } else { total.min(TUNNELS_SHOWN) };
    let cell = |value: &Option<String>| code(value.as_deref().unwrap_or(""));
    let rows = tunnels[..shown]
        .iter()
        .map(|row| {
            let outcome = match &row.error_code {
                Some(error) => format!("denied ({error})"),
                None => row.outcome.as_str().to_owned(),
            };
            let instance = row.instance_id.as_ref().or(row.private_ip.as_ref()).cloned();
            vec![
                cell(&row.time),
                text(outcome),
                cell(&row.endpoint),
                cell(&row.principal),
                cell(&instance),
                cell(&row.source_ip),
            ]
        })
        .collect();
    blocks.push(Block::Table(Table {
        headers: vec!["Time", "Outcome", "Endpoint", "Principal", "Instance or address", "Source IP"],
        key_value: false,
        rows,
    }));
    if shown < total {
        blocks.push(Block::Paragraph(format!(
            "And {} more (all of them with `--all`, or in `--format json`).",
            super::failures::thousands(total - shown)
        )));
    }
}

/// An endpoint's name, or `-` when it has none (or none the archive says).
fn name(e: &EndpointReport) -> Cell {
    text(e.life.name.clone().unwrap_or_else(|| "-".into()))
}

fn endpoints(report: &Report, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading("Endpoints".into()));
    if report.endpoints.is_empty() {
        blocks.push(Block::Paragraph(
            "No OpenTunnel and no lifecycle call names an endpoint: no endpoint is known.".into(),
        ));
        return;
    }
    let seen = |t: &Option<String>| text(t.clone().unwrap_or_else(|| "-".into()));
    blocks.push(Block::Table(Table {
        headers: vec![
            "Endpoint",
            "Name",
            "Account",
            "Region",
            "Connections",
            "Denied",
            "First seen",
            "Last seen",
        ],
        key_value: false,
        rows: report
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    code(&e.id.0),
                    name(e),
                    text(&e.account),
                    text(&e.region),
                    Cell::Number(e.connections),
                    Cell::Number(e.denied),
                    seen(&e.first_seen),
                    seen(&e.last_seen),
                ]
            })
            .collect(),
    }));
    // Right below the table it draws, row for row.
    if let Some(timeline) = timeline::build(report) {
        blocks.push(Block::Timeline(timeline));
    }
    let denied: Vec<Vec<Cell>> = report
        .endpoints
        .iter()
        .flat_map(|e| {
            e.denied_errors
                .iter()
                .map(|(error, n)| vec![code(&e.id.0), name(e), text(error), Cell::Number(*n)])
        })
        .collect();
    if !denied.is_empty() {
        blocks.push(Block::Subheading("Denied attempts".into()));
        blocks.push(Block::Table(Table {
            headers: vec!["Endpoint", "Name", "Error code", "Attempts"],
            key_value: false,
            rows: denied,
        }));
    }
    lives(report, blocks);
}

/// Each endpoint's life: created and deleted (by whom), what it is, what changed.
fn lives(report: &Report, blocks: &mut Vec<Block>) {
    blocks.push(Block::Subheading("Lifecycle".into()));
    if report.summary.lifecycle_events == 0 {
        blocks.push(Block::Paragraph(
            "No lifecycle call (CreateInstanceConnectEndpoint, ModifyInstanceConnectEndpoint, \
             DeleteInstanceConnectEndpoint, tags of an endpoint) in what was read: every endpoint was \
             created before the archive."
                .into(),
        ));
        return;
    }
    let time = |mark: &Option<LifecycleMark>, unknown: &str| {
        text(mark.as_ref().map_or(unknown, |m| m.time.as_deref().unwrap_or("(no time)")))
    };
    let by = |mark: &Option<LifecycleMark>| {
        text(mark.as_ref().and_then(|m| m.principal.clone()).unwrap_or_else(|| "-".into()))
    };
    blocks.push(Block::Table(Table {
        headers: vec![
            "Endpoint",
            "Name",
            "Created",
            "Created by",
            "Deleted",
            "Deleted by",
            "Changes",
            "Refused calls",
        ],
        key_value: false,
        rows: report
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    code(&e.id.0),
                    name(e),
                    time(&e.life.created, "before the archive"),
                    by(&e.life.created),
                    time(&e.life.deleted, "-"),
                    by(&e.life.deleted),
                    Cell::Number(e.life.modifications.len() as u64),
                    Cell::Number(e.life.lifecycle_denied),
                ]
            })
            .collect(),
    }));
    let or_dash = |v: &Option<String>| text(v.clone().unwrap_or_else(|| "-".into()));
    let configured: Vec<Vec<Cell>> = report
        .endpoints
        .iter()
        .filter(|e| {
            let l = &e.life;
            l.subnet_id.is_some()
                || l.vpc_id.is_some()
                || l.security_group_ids.is_some()
                || l.preserve_client_ip.is_some()
                || l.ip_address_type.is_some()
        })
        .map(|e| {
            let l = &e.life;
            vec![
                code(&e.id.0),
                name(e),
                or_dash(&l.vpc_id),
                or_dash(&l.subnet_id),
                or_dash(&l.availability_zone),
                or_dash(&l.security_group_ids.as_ref().map(|g| g.join(", "))),
                or_dash(&l.preserve_client_ip.map(|p| if p { "yes" } else { "no" }.to_owned())),
                or_dash(&l.ip_address_type),
            ]
        })
        .collect();
    if !configured.is_empty() {
        blocks.push(Block::Paragraph(
            "As the lifecycle calls read leave them (a modification as it was asked for: EC2 applies \
             it afterwards); `-` where no call read says:"
                .into(),
        ));
        blocks.push(Block::Table(Table {
            headers: vec![
                "Endpoint",
                "Name",
                "VPC",
                "Subnet",
                "Zone",
                "Security groups",
                "Client IP kept",
                "IP type",
            ],
            key_value: false,
            rows: configured,
        }));
    }
    let mut changes: Vec<(&EndpointReport, &Modification)> =
        report.endpoints.iter().flat_map(|e| e.life.modifications.iter().map(move |m| (e, m))).collect();
    changes.sort_by(|a, b| (&a.1.mark.time, &a.0.id).cmp(&(&b.1.mark.time, &b.0.id)));
    if !changes.is_empty() {
        blocks.push(Block::Paragraph("Changes and renames, in time order:".into()));
        blocks.push(Block::Table(Table {
            headers: vec!["Changed", "Endpoint", "Name", "By", "Fields"],
            key_value: false,
            rows: changes
                .into_iter()
                .map(|(e, m)| {
                    vec![
                        text(m.mark.time.clone().unwrap_or_else(|| "-".into())),
                        code(&e.id.0),
                        name(e),
                        or_dash(&m.mark.principal),
                        code(m.changed.join(", ")),
                    ]
                })
                .collect(),
        }));
    }
}

fn direct_and_other(report: &Report, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading("Direct use (no endpoint)".into()));
    blocks.push(Block::Table(Table {
        headers: vec!["", ""],
        key_value: true,
        rows: vec![
            vec![text("SendSSHPublicKey with no tunnel"), Cell::Number(report.direct.ssh_keys)],
            vec![text("SendSerialConsoleSSHPublicKey"), Cell::Number(report.direct.serial_console_keys)],
        ],
    }));
    if !report.other_events.is_empty() {
        blocks.push(Block::Heading("Other Instance Connect events".into()));
        blocks.push(Block::Table(Table {
            headers: vec!["Event name", "Events"],
            key_value: false,
            rows: report.other_events.iter().map(|(name, n)| vec![code(name), Cell::Number(*n)]).collect(),
        }));
    }
}

fn conflicts(report: &Report, blocks: &mut Vec<Block>) {
    let s = &report.summary;
    blocks.push(Block::Heading(format!("Conflicting copies ({})", s.conflicting_duplicates)));
    blocks.push(Block::Paragraph(format!(
        "These events were delivered more than once with the same eventID and recipientAccountId but \
         different content: one copy was edited. The copy read first (by object name) is the one \
         analyzed.{}",
        if s.conflicting_duplicates > report.conflicts.len() as u64 {
            format!(" The first {} are listed.", report.conflicts.len())
        } else {
            String::new()
        }
    )));
    blocks.push(Block::Table(Table {
        headers: vec!["Event ID", "Analyzed copy", "Record", "Conflicting copy", "Record"],
        key_value: false,
        rows: report
            .conflicts
            .iter()
            .map(|c| {
                vec![
                    code(c.event_id.clone().unwrap_or_default()),
                    code(&c.kept.object),
                    Cell::Number(u64::from(c.kept.record)),
                    code(&c.conflicting.object),
                    Cell::Number(u64::from(c.conflicting.record)),
                ]
            })
            .collect(),
    }));
}
