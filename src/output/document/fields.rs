//! A section per analyzed event name: how much evidence its fields' classes rest on, then its
//! fields by what their changes follow (the endpoint, the account or region, the caller, the
//! connection) and those that never change.

use std::collections::BTreeMap;

use crate::output::RenderOptions;
use crate::report::{EventNameReport, FieldClass, FieldReport, Report, VariesWith};

use super::{code, plural, text, Block, Cell, Table};

/// Each endpoint's account and region, by endpoint id.
type Homes<'r> = BTreeMap<&'r str, (&'r str, &'r str)>;

/// The section of `name`, whose fields are `fields`.
pub(super) fn event_fields(
    report: &Report,
    name: &EventNameReport,
    fields: &[&FieldReport],
    options: &RenderOptions,
    blocks: &mut Vec<Block>,
) {
    if !evidence(name, blocks) {
        return;
    }
    let homes: Homes<'_> =
        report.endpoints.iter().map(|e| (e.id.0.as_str(), (e.account.as_str(), e.region.as_str()))).collect();
    between_endpoints(fields, &homes, blocks);
    between_homes(fields, &homes, blocks);
    for (variation, title) in [
        (VariesWith::Principal, "Follows the caller"),
        (VariesWith::Connection, "Changes with every connection"),
    ] {
        counted_table(fields, variation, title, blocks);
    }
    unchanged(name, fields, options, blocks);
}

/// The heading, and a note when the evidence cannot tell a field that changes with every
/// connection from one that changes with the endpoint; false when no event was analyzed.
fn evidence(name: &EventNameReport, blocks: &mut Vec<Block>) -> bool {
    let event = &name.event_name;
    blocks.push(Block::Heading(format!(
        "{event}: {} over {} ({} with two or more)",
        plural(name.events, "event", "events"),
        plural(name.endpoints, "endpoint", "endpoints"),
        name.endpoints_with_multiple_events
    )));
    if name.events == 0 {
        blocks.push(Block::Paragraph(format!("No successful {event} attributed to an endpoint.")));
        return false;
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
    true
}

/// The fields of `fields` that change with `variation`.
fn varying<'f, 'r>(
    fields: &'f [&'r FieldReport],
    variation: VariesWith,
) -> impl Iterator<Item = &'r FieldReport> + 'f {
    fields.iter().copied().filter(move |f| f.varies_with == Some(variation))
}

/// Fields that differ between endpoints of one account and region, each endpoint's value; and a
/// note naming the accounts and regions with a single endpoint, where that cannot be seen.
fn between_endpoints(fields: &[&FieldReport], homes: &Homes<'_>, blocks: &mut Vec<Block>) {
    let with = |variation| varying(fields, variation);
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
    for (id, home) in homes {
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
}

/// Fields that differ only because the endpoints are in different accounts or regions: one row
/// per account (or account and region), not per endpoint.
fn between_homes(fields: &[&FieldReport], homes: &Homes<'_>, blocks: &mut Vec<Block>) {
    let with = |variation| varying(fields, variation);
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
}

/// The fields that change with `variation`, with how many values and where they vary.
fn counted_table(fields: &[&FieldReport], variation: VariesWith, title: &str, blocks: &mut Vec<Block>) {
    let rows: Vec<Vec<Cell>> = varying(fields, variation)
        .map(|f| vec![code(&f.path), Cell::Number(f.distinct), Cell::Number(f.endpoints_varying)])
        .collect();
    blocks.push(Block::Subheading(format!("{title} ({})", plural(rows.len() as u64, "field", "fields"))));
    table_or_none(blocks, vec!["Field", "Distinct values", "Endpoints where it varies"], rows);
}

/// The fields with one value throughout: listed with `--all`, else counted.
fn unchanged(
    name: &EventNameReport,
    fields: &[&FieldReport],
    options: &RenderOptions,
    blocks: &mut Vec<Block>,
) {
    let event = &name.event_name;
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
