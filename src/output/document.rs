//! What the human-readable report says, as a list of blocks: headings, paragraphs, notes and
//! tables. Text and Markdown render the same blocks, each in its own way.

use crate::report::{FieldClass, FieldReport, Report};

use super::RenderOptions;

pub enum Block {
    Title(String),
    Heading(String),
    Subheading(String),
    /// Prose; `code` spans are marked with backticks.
    Paragraph(String),
    /// A caveat the reader must not miss.
    Note(String),
    Table(Table),
}

pub struct Table {
    pub headers: Vec<&'static str>,
    /// A two-column list of facts: text output shows no header line.
    pub key_value: bool,
    pub rows: Vec<Vec<Cell>>,
}

pub enum Cell {
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

pub fn build(report: &Report, options: &RenderOptions) -> Vec<Block> {
    let s = &report.summary;
    let mut blocks = vec![
        Block::Title("trailscope report".into()),
        Block::Paragraph(format!(
            "{} read, {} skipped, {} unreadable: {} with {}.",
            plural(s.objects_read, "object", "objects"),
            s.objects_skipped,
            s.objects_failed,
            plural(s.records, "record", "records"),
            plural(s.instance_connect_events, "Instance Connect event", "Instance Connect events"),
        )),
        Block::Heading("Summary".into()),
    ];
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
            "Key/tunnel pairing",
            format!("tunnel from 5 s before to {} s after the key", s.pair_window_seconds),
        ),
    ];
    if s.tunnels_without_endpoint > 0 {
        facts.insert(2, ("Tunnels naming no endpoint", s.tunnels_without_endpoint.to_string()));
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
        event_fields(name, &fields, options, &mut blocks);
    }
    if !report.failures.is_empty() {
        blocks.push(Block::Heading(format!("Unreadable objects ({})", report.failures.len())));
        blocks.push(Block::Table(Table {
            headers: vec!["Object", "Reason"],
            key_value: false,
            rows: report.failures.iter().map(|f| vec![code(&f.object), text(&f.error)]).collect(),
        }));
    }
    blocks
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

    let of = |class| fields.iter().copied().filter(move |f| f.class == class);
    let endpoint_rows: Vec<Vec<Cell>> = of(FieldClass::Endpoint)
        .flat_map(|f| {
            let values = f.values.iter().map(|(id, v)| (id.0.as_str(), v.get()));
            let missing = f.missing_in.iter().map(|id| (id.0.as_str(), "(missing)"));
            let mut rows: Vec<(&str, &str)> = values.chain(missing).collect();
            rows.sort();
            rows.into_iter()
                .enumerate()
                .map(|(i, (id, value))| {
                    let path = if i == 0 { code(&f.path) } else { text("") };
                    vec![path, code(id), code(value)]
                })
                .collect::<Vec<_>>()
        })
        .collect();
    blocks.push(Block::Subheading(format!(
        "Changes with the endpoint ({})",
        plural(name.fields_endpoint, "field", "fields")
    )));
    if endpoint_rows.is_empty() {
        blocks.push(Block::Paragraph("None.".into()));
    } else {
        blocks.push(Block::Table(Table {
            headers: vec!["Field", "Endpoint", "Value"],
            key_value: false,
            rows: endpoint_rows,
        }));
    }

    blocks.push(Block::Subheading(format!(
        "Changes with each connection ({})",
        plural(name.fields_connection, "field", "fields")
    )));
    let connection_rows: Vec<Vec<Cell>> = of(FieldClass::Connection)
        .map(|f| vec![code(&f.path), Cell::Number(f.distinct), Cell::Number(f.endpoints_varying)])
        .collect();
    if connection_rows.is_empty() {
        blocks.push(Block::Paragraph("None.".into()));
    } else {
        blocks.push(Block::Table(Table {
            headers: vec!["Field", "Distinct values", "Endpoints where it varies"],
            key_value: false,
            rows: connection_rows,
        }));
    }

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
