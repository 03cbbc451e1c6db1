//! Field classification: for one event name, which leaf paths are constant, which change with
//! the endpoint, and which change with every connection.

use std::collections::{BTreeMap, HashSet};

use serde_json::value::RawValue;

use crate::event::{EndpointId, IcEvent};
use crate::report::{EventNameReport, FieldClass, FieldReport};

/// What one endpoint has shown for one path so far.
enum Seen<'a> {
    One(&'a str),
    Several,
}

#[derive(Default)]
struct PathStats<'a> {
    /// Every distinct value (JSON text) over all endpoints.
    values: HashSet<&'a str>,
    /// Per endpoint: events carrying the path, and its value(s).
    endpoints: BTreeMap<&'a EndpointId, (u64, Seen<'a>)>,
}

/// Classifies every path of `samples` (successful events of `event_name`, each with the endpoint
/// that carried it). A path absent from an event counts as a value of its own.
pub fn classify(
    event_name: &str,
    samples: &[(&EndpointId, &IcEvent)],
) -> (EventNameReport, Vec<FieldReport>) {
    let mut events_per_endpoint: BTreeMap<&EndpointId, u64> = BTreeMap::new();
    let mut paths: BTreeMap<&str, PathStats<'_>> = BTreeMap::new();
    for &(endpoint, event) in samples {
        *events_per_endpoint.entry(endpoint).or_default() += 1;
        for field in &event.fields {
            let stats = paths.entry(&field.path).or_default();
            stats.values.insert(&field.value);
            let (present, seen) = stats.endpoints.entry(endpoint).or_insert((0, Seen::One(&field.value)));
            *present += 1;
            if matches!(seen, Seen::One(v) if *v != field.value) {
                *seen = Seen::Several;
            }
        }
    }

    let mut fields = Vec::with_capacity(paths.len());
    for (path, stats) in paths {
        let mut missing_anywhere = false;
        let mut endpoints_varying = 0;
        let mut values = BTreeMap::new();
        let mut missing_in = Vec::new();
        for (&endpoint, &events) in &events_per_endpoint {
            match stats.endpoints.get(endpoint) {
                None => {
                    missing_anywhere = true;
                    missing_in.push(endpoint.clone());
                }
                Some((present, seen)) => {
                    let missing_here = *present < events;
                    missing_anywhere |= missing_here;
                    match seen {
                        Seen::One(value) if !missing_here => {
                            values.insert(endpoint.clone(), raw(value));
                        }
                        _ => endpoints_varying += 1,
                    }
                }
            }
        }
        let distinct = stats.values.len() as u64 + u64::from(missing_anywhere);
        let class = if distinct == 1 {
            FieldClass::Constant
        } else if endpoints_varying == 0 {
            FieldClass::Endpoint
        } else {
            FieldClass::Connection
        };
        let value =
            (class == FieldClass::Constant).then(|| stats.values.iter().next().map(|v| raw(v))).flatten();
        if class != FieldClass::Endpoint {
            values.clear();
            missing_in.clear();
        }
        fields.push(FieldReport {
            event_name: event_name.to_owned(),
            path: path.to_owned(),
            class,
            events: samples.len() as u64,
            distinct,
            endpoints_varying,
            value,
            values,
            missing_in,
        });
    }

    let count = |class| fields.iter().filter(|f| f.class == class).count() as u64;
    let summary = EventNameReport {
        event_name: event_name.to_owned(),
        events: samples.len() as u64,
        endpoints: events_per_endpoint.len() as u64,
        endpoints_with_multiple_events: events_per_endpoint.values().filter(|&&n| n >= 2).count() as u64,
        fields_constant: count(FieldClass::Constant),
        fields_endpoint: count(FieldClass::Endpoint),
        fields_connection: count(FieldClass::Connection),
    };
    (summary, fields)
}

/// A value's JSON text as raw JSON for the report. Texts come from the parser, so they are
/// valid JSON; should one not be, it is carried as a string rather than dropped.
fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap_or_else(|_| {
        let quoted = serde_json::to_string(text).unwrap_or_else(|_| String::from("null"));
        RawValue::from_string(quoted).unwrap_or_else(|_| RawValue::NULL.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Field, Origin};

    fn event(fields: &[(&str, &str)]) -> IcEvent {
        IcEvent {
            origin: Origin::default(),
            name: "OpenTunnel".into(),
            time: None,
            account: String::new(),
            region: String::new(),
            principal: String::new(),
            error_code: None,
            endpoint: None,
            fields: fields.iter().map(|(p, v)| Field { path: p.to_string(), value: v.to_string() }).collect(),
        }
    }

    fn classes(samples: &[(&str, IcEvent)]) -> BTreeMap<String, FieldClass> {
        let ids: Vec<EndpointId> = samples.iter().map(|(id, _)| EndpointId(id.to_string())).collect();
        let refs: Vec<(&EndpointId, &IcEvent)> = ids.iter().zip(samples.iter().map(|(_, e)| e)).collect();
        let (_, fields) = classify("OpenTunnel", &refs);
        fields.into_iter().map(|f| (f.path, f.class)).collect()
    }

    #[test]
    fn one_value_everywhere_is_constant() {
        let c = classes(&[("e1", event(&[("port", "\"22\"")])), ("e2", event(&[("port", "\"22\"")]))]);
        assert_eq!(c["port"], FieldClass::Constant);
    }

    #[test]
    fn one_value_per_endpoint_changes_with_the_endpoint() {
        let c = classes(&[
            ("e1", event(&[("id", "\"e1\"")])),
            ("e1", event(&[("id", "\"e1\"")])),
            ("e2", event(&[("id", "\"e2\"")])),
        ]);
        assert_eq!(c["id"], FieldClass::Endpoint);
    }

    #[test]
    fn several_values_inside_one_endpoint_change_with_the_connection() {
        let c = classes(&[
            ("e1", event(&[("eventID", "\"a\"")])),
            ("e1", event(&[("eventID", "\"b\"")])),
            ("e2", event(&[("eventID", "\"c\"")])),
        ]);
        assert_eq!(c["eventID"], FieldClass::Connection);
    }

    #[test]
    fn missing_is_a_value_of_its_own_distinct_from_null() {
        let c =
            classes(&[("e1", event(&[("x", "null")])), ("e1", event(&[])), ("e2", event(&[("x", "null")]))]);
        assert_eq!(c["x"], FieldClass::Connection, "null and missing differ inside e1");
        let c = classes(&[("e1", event(&[("x", "1")])), ("e1", event(&[("x", "1")])), ("e2", event(&[]))]);
        assert_eq!(c["x"], FieldClass::Endpoint, "present in e1, missing throughout e2");
    }

    #[test]
    fn string_and_number_are_different_values() {
        let c = classes(&[("e1", event(&[("port", "\"22\"")])), ("e2", event(&[("port", "22")]))]);
        assert_eq!(c["port"], FieldClass::Endpoint);
    }

    #[test]
    fn report_counts_endpoints_that_can_separate_classes() {
        let ids = [EndpointId("e1".into()), EndpointId("e2".into())];
        let (a, b, c) = (event(&[("k", "1")]), event(&[("k", "2")]), event(&[("k", "3")]));
        let (summary, fields) = classify("OpenTunnel", &[(&ids[0], &a), (&ids[0], &b), (&ids[1], &c)]);
        assert_eq!((summary.events, summary.endpoints, summary.endpoints_with_multiple_events), (3, 2, 1));
        assert_eq!((fields[0].distinct, fields[0].endpoints_varying), (3, 1));
    }

    #[test]
    fn endpoint_fields_carry_each_endpoints_value_and_where_missing() {
        let ids = [EndpointId("e1".into()), EndpointId("e2".into())];
        let (a, b) = (event(&[("k", "\"v1\"")]), event(&[]));
        let (_, fields) = classify("OpenTunnel", &[(&ids[0], &a), (&ids[1], &b)]);
        assert_eq!(fields[0].class, FieldClass::Endpoint);
        assert_eq!(fields[0].values[&ids[0]].get(), "\"v1\"");
        assert_eq!(fields[0].missing_in, [ids[1].clone()]);
    }
}
