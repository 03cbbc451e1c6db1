//! What the human-readable report says, as a list of blocks: headings, paragraphs, notes and
//! tables. Text, Markdown and HTML render the same blocks, each in its own way.

use std::collections::BTreeMap;

use crate::report::{Changes, FieldClass, FieldReport, FieldShape, Report, VariesWith};
use crate::verify::Integrity;

use super::timeline::{self, Timeline};
use super::RenderOptions;

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
    // The first section, apart from the report's own (which is the same as without --state).
    if let Some(changes) = &report.changes {
        since_last_report(changes, &mut blocks);
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
    use crate::error::{some_names, split_failures, thousands};
    blocks.push(Block::Heading(format!("Unreadable objects ({})", report.failures.len())));
    let (few, many) = split_failures(&report.failures);
    if !few.is_empty() {
        blocks.push(Block::Table(Table {
            headers: vec!["Object", "Reason"],
            key_value: false,
            rows: few.iter().map(|f| vec![code(&f.object), text(&f.error)]).collect(),
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
                    vec![text(group.reason), text(thousands(names.len())), code(some_names(&names))]
                })
                .collect(),
        }));
    }
}

/// The archived objects, by storage class, and what to do about them.
fn archived_blocks(report: &Report, blocks: &mut Vec<Block>) {
    use crate::error::{some_names, thousands};
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

/// `--state`: what changed since the previous report, first, for the reader who reads only that.
fn since_last_report(changes: &Changes, blocks: &mut Vec<Block>) {
    blocks.push(Block::Aside("Since the last report".into()));
    if changes.is_empty() {
        blocks.push(Block::Paragraph("Nothing new, nothing changed.".into()));
        return;
    }
    blocks.push(Block::Paragraph(format!(
        "{} and {}.",
        plural(changes.connections, "connection", "connections"),
        plural(changes.denied_attempts, "denied attempt", "denied attempts")
    )));
    let mut rows = Vec::new();
    for (what, items) in [
        ("New endpoint", &changes.new_endpoints),
        ("New principal", &changes.new_principals),
        ("New instance or address", &changes.new_instances),
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
}

fn endpoints(report: &Report, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading("Endpoints".into()));
    if report.endpoints.is_empty() {
        blocks.push(Block::Paragraph("No OpenTunnel names an endpoint: no endpoint was used.".into()));
        return;
    }
    let seen = |t: &Option<String>| text(t.clone().unwrap_or_else(|| "-".into()));
    blocks.push(Block::Table(Table {
        headers: vec!["Endpoint", "Account", "Region", "Connections", "Denied", "First seen", "Last seen"],
        key_value: false,
        rows: report
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    code(&e.id.0),
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
            e.denied_errors.iter().map(|(error, n)| vec![code(&e.id.0), text(error), Cell::Number(*n)])
        })
        .collect();
    if !denied.is_empty() {
        blocks.push(Block::Subheading("Denied attempts".into()));
        blocks.push(Block::Table(Table {
            headers: vec!["Endpoint", "Error code", "Attempts"],
            key_value: false,
            rows: denied,
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

fn event_fields(
    report: &Report,
    name: &crate::report::EventNameReport,
    fields: &[&FieldReport],
    options: &RenderOptions,
    blocks: &mut Vec<Block>,
) {
    let event = &name.event_name;
    blocks.push(Block::Heading(format!(
        "{event}: {} over {} ({} with two or more)",
        plural(name.events, "event", "events"),
        plural(name.endpoints, "endpoint", "endpoints"),
        name.endpoints_with_multiple_events
    )));
    if name.events == 0 {
        blocks.push(Block::Paragraph(format!("No successful {event} attributed to an endpoint.")));
        return;
    }
    let single = name.endpoints - name.endpoints_with_multiple_events;
    if name.endpoints_with_multiple_events == 0 {
        blocks.push(Block::Note(format!(
            "No endpoint has two or more {event} events, so a field that changes with every \
             connection cannot be told apart from one that changes with the endpoint: \
             \"changes with the endpoint\" below only means \"differs between endpoints\". \
             More connections per endpoint are needed to separate them."
        )));
    } else if single > 0 {
        blocks.push(Block::Note(format!(
            "{} of {} have a single {event} event; for them a field that changes with every \
             connection looks like one that changes with the endpoint.",
            single,
            plural(name.endpoints, "endpoint", "endpoints"),
        )));
    }

    let with = |variation| fields.iter().copied().filter(move |f| f.varies_with == Some(variation));
    let homes: BTreeMap<&str, (&str, &str)> =
        report.endpoints.iter().map(|e| (e.id.0.as_str(), (e.account.as_str(), e.region.as_str()))).collect();

    // What a person comparing two endpoints of one VPC wants first.
    let rows: Vec<Vec<Cell>> = with(VariesWith::Endpoint)
        .flat_map(|f| {
            let mut values: Vec<((&str, &str), &str, &str)> = f
                .values
                .iter()
                .map(|(id, v)| {
                    (homes.get(id.0.as_str()).copied().unwrap_or_default(), id.0.as_str(), v.get())
                })
                .chain(f.missing_in.iter().map(|id| {
                    (homes.get(id.0.as_str()).copied().unwrap_or_default(), id.0.as_str(), "(missing)")
                }))
                .collect();
            values.sort();
            values
                .into_iter()
                .enumerate()
                .map(|(i, ((account, region), id, value))| {
                    let path = if i == 0 { code(&f.path) } else { text("") };
                    vec![path, text(account), text(region), code(id), code(value)]
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let count = with(VariesWith::Endpoint).count() as u64;
    blocks.push(Block::Subheading(format!(
        "Differs between endpoints in the same account and region ({})",
        plural(count, "field", "fields")
    )));
    table_or_none(blocks, vec!["Field", "Account", "Region", "Endpoint", "Value"], rows);
    let mut per_home: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (id, home) in &homes {
        per_home.entry(*home).or_default().push(id);
    }
    let alone: Vec<String> = per_home
        .iter()
        .filter(|(_, ids)| ids.len() == 1)
        .map(|((account, region), ids)| format!("{account} {region} ({})", ids[0]))
        .collect();
    if !alone.is_empty() && per_home.len() > 1 {
        blocks.push(Block::Note(format!(
            "{} {} a single endpoint, so differences between endpoints of one account and region \
             cannot be seen there: {}.",
            plural(alone.len() as u64, "account and region holds", "accounts and regions hold"),
            if alone.len() == 1 { "only" } else { "each only" },
            alone.join(", ")
        )));
    }

    // Fields that differ only because the endpoints live in different accounts or regions: one
    // row per account (or account and region), not per endpoint.
    let rows: Vec<Vec<Cell>> = fields
        .iter()
        .filter(|f| matches!(f.varies_with, Some(VariesWith::Account | VariesWith::Region)))
        .flat_map(|f| {
            let by_region = f.varies_with == Some(VariesWith::Region);
            let mut values: BTreeMap<(&str, &str), &str> = BTreeMap::new();
            let missing = f.missing_in.iter().map(|id| (id, "(missing)"));
            for (id, value) in f.values.iter().map(|(id, v)| (id, v.get())).chain(missing) {
                let (account, region) = homes.get(id.0.as_str()).copied().unwrap_or_default();
                values.insert((account, if by_region { region } else { "" }), value);
            }
            values
                .into_iter()
                .enumerate()
                .map(|(i, ((account, region), value))| {
                    let path = if i == 0 { code(&f.path) } else { text("") };
                    let follows = if i > 0 {
                        text("")
                    } else if by_region {
                        text("region")
                    } else {
                        text("account")
                    };
                    vec![
                        path,
                        follows,
                        text(account),
                        text(if by_region { region } else { "(all)" }),
                        code(value),
                    ]
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let count = with(VariesWith::Account).count() as u64 + with(VariesWith::Region).count() as u64;
    blocks.push(Block::Subheading(format!(
        "Differs only because the endpoints are in different accounts or regions ({})",
        plural(count, "field", "fields")
    )));
    table_or_none(blocks, vec!["Field", "Follows", "Account", "Region", "Value"], rows);

    let rows: Vec<Vec<Cell>> = with(VariesWith::Principal)
        .map(|f| vec![code(&f.path), Cell::Number(f.distinct), Cell::Number(f.endpoints_varying)])
        .collect();
    blocks.push(Block::Subheading(format!(
        "Follows the caller ({})",
        plural(rows.len() as u64, "field", "fields")
    )));
    table_or_none(blocks, vec!["Field", "Distinct values", "Endpoints where it varies"], rows);

    let rows: Vec<Vec<Cell>> = with(VariesWith::Connection)
        .map(|f| vec![code(&f.path), Cell::Number(f.distinct), Cell::Number(f.endpoints_varying)])
        .collect();
    blocks.push(Block::Subheading(format!(
        "Changes with every connection ({})",
        plural(rows.len() as u64, "field", "fields")
    )));
    table_or_none(blocks, vec!["Field", "Distinct values", "Endpoints where it varies"], rows);

    let of = |class| fields.iter().copied().filter(move |f| f.class == class);
    blocks
        .push(Block::Subheading(format!("Unchanged ({})", plural(name.fields_constant, "field", "fields"))));
    if options.all {
        blocks.push(Block::Table(Table {
            headers: vec!["Field", "Value"],
            key_value: false,
            rows: of(FieldClass::Constant)
                .map(|f| vec![code(&f.path), code(f.value.as_ref().map_or("", |v| v.get()))])
                .collect(),
        }));
    } else if name.fields_constant > 0 {
        blocks.push(Block::Paragraph(format!(
            "{} one value in every {event} analyzed (list them with `--all`).",
            plural(name.fields_constant, "field has", "fields have")
        )));
    }
}

/// A table, or "None." when it has no rows.
fn table_or_none(blocks: &mut Vec<Block>, headers: Vec<&'static str>, rows: Vec<Vec<Cell>>) {
    if rows.is_empty() {
        blocks.push(Block::Paragraph("None.".into()));
    } else {
        blocks.push(Block::Table(Table { headers, key_value: false, rows }));
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

/// `--verify`: what the digests say of the archive.
fn integrity_blocks(integrity: &Integrity, blocks: &mut Vec<Block>) {
    let problems = integrity.problems();
    blocks.push(Block::Heading("Is the archive complete?".into()));
    let s = &integrity.signatures;
    blocks.push(Block::Paragraph(format!(
        "{} verified against {}; signatures: {} verified, {} failed, {} unchecked. {}",
        plural(integrity.log_files_verified, "log file", "log files"),
        plural(integrity.digests_read, "digest", "digests"),
        s.verified,
        s.failed,
        s.unchecked,
        match problems {
            0 => "No problem found: every log file the digests list is here and unmodified, and the chain of digests is whole.".to_owned(),
            n => format!("{} found, listed below.", plural(n as u64, "problem", "problems")),
        }
    )));
    if !s.unchecked_reasons.is_empty() {
        blocks.push(Block::Table(Table {
            headers: vec!["Signatures not checked because", "Digests"],
            key_value: false,
            rows: s.unchecked_reasons.iter().map(|(why, n)| vec![text(why), Cell::Number(*n)]).collect(),
        }));
    }
    if !integrity.streams.is_empty() {
        blocks.push(Block::Table(Table {
            headers: vec!["Account", "Region", "Digests", "Log files verified", "From", "To"],
            key_value: false,
            rows: integrity
                .streams
                .iter()
                .map(|st| {
                    vec![
                        text(&st.account),
                        text(&st.region),
                        Cell::Number(st.digests),
                        Cell::Number(st.log_files_verified),
                        text(st.from.clone().unwrap_or_else(|| "-".into())),
                        text(st.to.clone().unwrap_or_else(|| "-".into())),
                    ]
                })
                .collect(),
        }));
    }
    let mut section = |title: String, headers: Vec<&'static str>, rows: Vec<Vec<Cell>>| {
        if !rows.is_empty() {
            blocks.push(Block::Subheading(title));
            blocks.push(Block::Table(Table { headers, key_value: false, rows }));
        }
    };
    section(
        format!("Missing: listed by a digest, not in the archive ({})", integrity.missing.len()),
        vec!["Log file", "Listed by"],
        integrity.missing.iter().map(|m| vec![code(&m.object), code(&m.listed_by)]).collect(),
    );
    section(
        format!("Modified: not what the digest recorded ({})", integrity.modified.len()),
        vec!["Log file", "Listed by", "SHA-256 recorded", "SHA-256 now"],
        integrity
            .modified
            .iter()
            .map(|m| {
                let now = m.actual_sha256.clone().unwrap_or_else(|| "(unreadable)".into());
                vec![code(&m.object), code(&m.listed_by), code(&m.expected_sha256), code(now)]
            })
            .collect(),
    );
    let unlisted: Vec<_> = integrity.unlisted.iter().collect();
    section(
        format!("Listed by no digest ({})", unlisted.len()),
        vec!["Log file", "Delivered", "Events from", "Events to", "Why"],
        unlisted
            .iter()
            .map(|u| {
                let or_dash = |t: &Option<String>| text(t.clone().unwrap_or_else(|| "-".into()));
                vec![
                    code(&u.object),
                    or_dash(&u.delivered),
                    or_dash(&u.first_event),
                    or_dash(&u.last_event),
                    text(u.cause.describe()),
                ]
            })
            .collect(),
    );
    section(
        format!("Breaks in the chain of digests ({})", integrity.chain_breaks.len()),
        vec!["Account", "Region", "What", "From", "To"],
        integrity
            .chain_breaks
            .iter()
            .map(|b| {
                let or_dash = |t: &Option<String>| text(t.clone().unwrap_or_else(|| "-".into()));
                vec![text(&b.account), text(&b.region), text(&b.detail), or_dash(&b.from), or_dash(&b.to)]
            })
            .collect(),
    );
    section(
        format!("Unreadable digests ({})", integrity.unreadable_digests.len()),
        vec!["Digest", "Reason"],
        integrity.unreadable_digests.iter().map(|d| vec![code(&d.object), text(&d.error)]).collect(),
    );
    section(
        format!("Signatures that do not verify ({})", s.failures.len()),
        vec!["Digest", "Reason"],
        s.failures.iter().map(|f| vec![code(&f.object), text(&f.reason)]).collect(),
    );
}
