//! Field classification: for one event name, which leaf paths are constant, which change with
//! the endpoint, and which with every connection; and for each that changes, the coarsest grouping
//! it follows (the endpoint's account, its region, the endpoint, the caller, the connection).
//!
//! Values are compared by their hashes; the text of a value is read back from the spool only where
//! the report shows it, from one sample per endpoint (for a value that is the same throughout an
//! endpoint, any of its samples holds it).

use std::collections::BTreeMap;

use rayon::prelude::*;

use serde_json::value::RawValue;

use crate::error::Reason;
use crate::event::tables::{FastMap, PathId, ShapeId, Sym};
use crate::event::{EndpointId, Event, Kept};
use crate::report::{EventNameReport, FieldClass, FieldReport, VariesWith};

/// A successful event attributed to an endpoint, with the endpoint's account and region (those of
/// its first tunnel).
#[derive(Clone, Copy)]
pub(crate) struct Sample<'k> {
    pub(crate) event: &'k Event,
    pub(crate) endpoint: Sym,
    pub(crate) account: Sym,
    pub(crate) region: Sym,
}

/// What one endpoint has shown for one path so far.
#[derive(Clone, Copy)]
enum Seen {
    One(u64),
    Several,
}

/// A path's value in an event that does not have the path, in a column of value hashes: a value
/// of its own, as a hash that no value has but by the 2^-64 chance two values share one (a column
/// of `Option<u64>` was twice the size and slower to compare).
const ABSENT: u64 = 0x9e37_79b9_7f4a_7c15;

/// Classifies every path of `samples` (the successful events of `event_name` attributed to an
/// endpoint, in origin order). A path absent from an event counts as a value of its own.
pub(crate) fn classify(
    event_name: &str,
    samples: &[Sample<'_>],
    kept: &Kept,
) -> Result<(EventNameReport, Vec<FieldReport>), Reason> {
    let vocabulary = &kept.vocabulary;
    let endpoint_name = |sym: Sym| EndpointId(vocabulary.text(sym).to_owned());

    // Events per endpoint, and each endpoint's first sample: the one whose texts are shown.
    let mut per_endpoint: FastMap<Sym, (u64, usize)> = FastMap::default();
    for (i, sample) in samples.iter().enumerate() {
        per_endpoint.entry(sample.endpoint).or_insert((0, i)).0 += 1;
    }
    let mut endpoints: Vec<Sym> = per_endpoint.keys().copied().collect();
    endpoints.sort_by(|a, b| vocabulary.text(*a).cmp(vocabulary.text(*b)));
    // The texts of each endpoint's first sample, read back once: a value the report shows is the
    // same in every sample of its endpoint, so it is there.
    let mut texts: BTreeMap<Sym, BTreeMap<String, String>> = BTreeMap::new();
    for &endpoint in &endpoints {
        texts.insert(endpoint, kept.texts(samples[per_endpoint[&endpoint].1].event)?);
    }

    // The shapes the samples have (few: events of one name mostly share one), and each sample's
    // place among them, so that a path is looked up once per shape, not once per event.
    let mut shapes: Vec<ShapeId> = samples.iter().map(|s| s.event.shape).collect();
    shapes.sort_unstable();
    shapes.dedup();
    let shape_of: Vec<u32> =
        samples.iter().map(|s| shapes.binary_search(&s.event.shape).map_or(0, |i| i as u32)).collect();
    let mut paths: Vec<PathId> = shapes.iter().flat_map(|&s| vocabulary.shape(s).iter().copied()).collect();
    paths.sort_unstable();
    paths.dedup();
    paths.sort_by(|a, b| vocabulary.path(*a).cmp(vocabulary.path(*b)));
    let groups = Groups::of(samples, &endpoints);

    // Each path is classified on its own: in parallel, collected in path order.
    let fields: Vec<FieldReport> = paths
        .par_iter()
        .map(|&path| {
            // Where the path's value sits in an event of each shape, if it has the path.
            let slots: Vec<Option<usize>> =
                shapes.iter().map(|&shape| vocabulary.shape(shape).binary_search(&path).ok()).collect();
            let column: Vec<u64> = samples
                .iter()
                .zip(&shape_of)
                .map(|(s, &shape)| slots[shape as usize].map_or(ABSENT, |i| s.event.values[i]))
                .collect();
            classify_path(
                event_name,
                vocabulary.path(path),
                &column,
                &groups,
                &endpoints,
                &texts,
                &endpoint_name,
            )
        })
        .collect();

    let count = |class| fields.iter().filter(|f| f.class == class).count() as u64;
    let summary = EventNameReport {
        event_name: event_name.to_owned(),
        events: samples.len() as u64,
        endpoints: endpoints.len() as u64,
        endpoints_with_multiple_events: per_endpoint.values().filter(|(n, _)| *n >= 2).count() as u64,
        fields_constant: count(FieldClass::Constant),
        fields_endpoint: count(FieldClass::Endpoint),
        fields_connection: count(FieldClass::Connection),
    };
    Ok((summary, fields))
}

/// Each sample's place in every grouping a field can follow, numbered once per event name so that
/// classifying a path indexes arrays instead of hashing keys (a path is read once per sample in
/// each grouping, and an event name has tens of paths).
struct Groups {
    /// Each grouping, in the order [`varies_with`] tries them (the endpoint's account, account and
    /// region, the endpoint, the caller): the sample's group number, and how many groups there
    /// are. The endpoint's groups are its index in the endpoints, sorted by name.
    ladder: [(Vec<u32>, usize); 4],
}

/// Where the endpoint is on the ladder.
const BY_ENDPOINT: usize = 2;

impl Groups {
    fn of(samples: &[Sample<'_>], endpoints: &[Sym]) -> Groups {
        fn numbered<K: std::hash::Hash + Eq>(
            samples: &[Sample<'_>],
            key: impl Fn(&Sample<'_>) -> K,
        ) -> (Vec<u32>, usize) {
            let mut numbers: FastMap<K, u32> = FastMap::default();
            let of = samples
                .iter()
                .map(|sample| {
                    let next = numbers.len() as u32;
                    *numbers.entry(key(sample)).or_insert(next)
                })
                .collect();
            (of, numbers.len())
        }
        let index: FastMap<Sym, u32> = endpoints.iter().enumerate().map(|(i, &e)| (e, i as u32)).collect();
        let endpoint: Vec<u32> =
            samples.iter().map(|s| index.get(&s.endpoint).copied().unwrap_or(0)).collect();
        Groups {
            ladder: [
                numbered(samples, |s| s.account),
                numbered(samples, |s| (s.account, s.region)),
                (endpoint, endpoints.len()),
                numbered(samples, |s| s.event.principal),
            ],
        }
    }

    /// The index in the endpoints (sorted by name) of each sample's endpoint.
    fn endpoint(&self) -> &[u32] {
        &self.ladder[BY_ENDPOINT].0
    }
}

/// The report of one path, whose value in each sample is `column`.
fn classify_path(
    event_name: &str,
    path_text: &str,
    column: &[u64],
    groups: &Groups,
    endpoints: &[Sym],
    texts: &BTreeMap<Sym, BTreeMap<String, String>>,
    endpoint_name: &(dyn Fn(Sym) -> EndpointId + Sync),
) -> FieldReport {
    // A constant is told without a set (most paths are); others are counted in a hash set:
    // sorting each column was a sixth of all the work on an Instance Connect-heavy archive.
    let distinct = match column.first() {
        Some(first) if column.iter().all(|v| v == first) => 1,
        _ => column.iter().collect::<std::collections::HashSet<_, foldhash::fast::FixedState>>().len() as u64,
    };

    // Per endpoint: in how many samples the path is present, and whether it has shown one value.
    let mut seen: Vec<Option<(u64, Seen)>> = vec![None; endpoints.len()];
    for (&endpoint, &value) in groups.endpoint().iter().zip(column) {
        let entry = seen[endpoint as usize].get_or_insert((0, Seen::One(value)));
        entry.0 += u64::from(value != ABSENT);
        if matches!(entry.1, Seen::One(v) if v != value) {
            entry.1 = Seen::Several;
        }
    }
    // Every endpoint has a sample; one without would be one where the path is never present.
    let seen: Vec<(u64, Seen)> = seen.into_iter().map(|s| s.unwrap_or((0, Seen::One(ABSENT)))).collect();
    let varying: Vec<Sym> = endpoints
        .iter()
        .zip(&seen)
        .filter(|(_, (_, s))| matches!(s, Seen::Several))
        .map(|(&e, _)| e)
        .collect();
    let class = if distinct == 1 {
        FieldClass::Constant
    } else if varying.is_empty() {
        FieldClass::Endpoint
    } else {
        FieldClass::Connection
    };
    let varies_with = match class {
        FieldClass::Constant => None,
        _ => Some(varies_with(groups, column)),
    };

    let mut value = None;
    let mut values = BTreeMap::new();
    let mut missing_in = Vec::new();
    if class != FieldClass::Connection {
        for (&endpoint, &(present, _)) in endpoints.iter().zip(&seen) {
            let id = endpoint_name(endpoint);
            if present == 0 {
                missing_in.push(id);
                continue;
            }
            if let Some(text) = texts[&endpoint].get(path_text) {
                values.insert(id, raw(text));
            }
        }
    }
    if class == FieldClass::Constant {
        value = values.values().next().cloned();
        values.clear();
        missing_in.clear();
    }
    FieldReport {
        event_name: event_name.to_owned(),
        path: path_text.to_owned(),
        class,
        varies_with,
        events: column.len() as u64,
        distinct,
        endpoints_varying: varying.len() as u64,
        value,
        values,
        missing_in,
    }
}

/// The coarsest grouping inside which the values of a field that is not constant are one: the
/// endpoint's account, its account and region, the endpoint, the caller, else the connection.
fn varies_with(groups: &Groups, column: &[u64]) -> VariesWith {
    let uniform = |(of, count): &(Vec<u32>, usize)| {
        let mut first: Vec<Option<u64>> = vec![None; *count];
        of.iter().zip(column).all(|(&group, &value)| *first[group as usize].get_or_insert(value) == value)
    };
    let kinds = [VariesWith::Account, VariesWith::Region, VariesWith::Endpoint, VariesWith::Principal];
    groups
        .ladder
        .iter()
        .zip(kinds)
        .find(|(grouping, _)| uniform(grouping))
        .map_or(VariesWith::Connection, |(_, kind)| kind)
}

/// A value's JSON text as raw JSON for the report. Texts come from the parser, so they are
/// valid JSON; should one not be, it is carried as a string rather than dropped.
fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap_or_else(|_| {
        let quoted = serde_json::to_string(text).unwrap_or_else(|_| String::from("null"));
        RawValue::from_string(quoted).unwrap_or_else(|_| RawValue::NULL.to_owned())
    })
}
