//! What changed since the last report (`changes`): a report's facts kept in the state
//! ([`Baseline`]), and this report's compared with them. Tunnels are told apart by what tells
//! copies of an event apart (recipient account and `eventID`), so a late delivery into an old
//! day folder is new, and a log file read again is not.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::analysis::rows::{self, Filter, Listed, RowReader};
use crate::analysis::Activity;
use crate::error::Reason;
use crate::report::{Changes, FieldChange, FieldShape, Report};
use crate::row::{Outcome, Row};

/// What a report said that the next one is compared with. Unredacted: DIR is 0700, and
/// `--redact` applies to what is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Baseline {
    endpoints: BTreeSet<String>,
    /// ARNs with a successful connection.
    principals: BTreeSet<String>,
    /// Instance ids and private IP addresses reached by a successful connection.
    instances: BTreeSet<String>,
    /// `(event name, field path)` → its class and what it varies with.
    fields: Vec<((String, String), FieldShape)>,
    /// Every tunnel the report counted, successful or denied, as [`tunnel_id`] names it.
    tunnels: BTreeSet<String>,
    /// Per endpoint, the lifecycle calls the report had: its creation's and deletion's event ids,
    /// and its modifications'.
    #[serde(default)]
    lives: BTreeMap<String, Life>,
    /// The ids of the report's findings, suppressed or not (a state kept before findings existed
    /// has none, so its next report finds every finding new).
    #[serde(default)]
    findings: BTreeSet<String>,
}

/// What an endpoint's life was in a report, by event ids (a time and a principal could repeat).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Life {
    created: Option<String>,
    deleted: Option<String>,
    modifications: BTreeSet<String>,
}

impl Life {
    fn of(life: &crate::report::EndpointLife) -> Life {
        // A call recorded without an eventID is told by its time instead.
        let id = |m: &crate::report::LifecycleMark| {
            m.event_id.clone().or_else(|| m.time.clone()).unwrap_or_default()
        };
        Life {
            created: life.created.as_ref().map(id),
            deleted: life.deleted.as_ref().map(id),
            modifications: life.modifications.iter().map(|m| id(&m.mark)).collect(),
        }
    }
}

/// The tunnels `changes` lists: successful connections and denied attempts.
fn tunnels() -> Filter {
    Filter { outcomes: vec![Outcome::Connected, Outcome::Denied], ..Filter::default() }
}

/// A tunnel's identity across runs: its recipient account and its event id (the `eventID`, or
/// the hash of the record that stands for it), as dedup compares them.
fn tunnel_id(activity: &Activity<'_>, listed: &Listed<'_>) -> String {
    let event = listed.event;
    format!("{}/{:032x}", activity.kept.vocabulary.text(event.account), event.id)
}

/// The facts of `report` and of the tunnels in `activity`, to keep for the next report; and,
/// given the last report's (`before`), what changed since: its sets compared with [`compare`],
/// and the rows of the tunnels `before` had not counted, in the order of `trailscope
/// connections`. The tunnels are listed once, and each row read once.
pub(crate) fn baseline(
    report: &Report,
    activity: &Activity<'_>,
    before: Option<&Baseline>,
) -> Result<(Baseline, Option<Changes>), Reason> {
    let mut baseline = Baseline {
        endpoints: report.endpoints.iter().map(|e| e.id.0.clone()).collect(),
        lives: report
            .endpoints
            .iter()
            .map(|e| (e.id.0.clone(), Life::of(&e.life)))
            .filter(|(_, life)| *life != Life::default())
            .collect(),
        fields: report
            .fields
            .iter()
            .map(|f| {
                (
                    (f.event_name.clone(), f.path.clone()),
                    FieldShape { class: f.class, varies_with: f.varies_with },
                )
            })
            .collect(),
        findings: report
            .findings
            .iter()
            .chain(report.suppressed.iter().map(|s| &s.finding))
            .map(|f| f.id.clone())
            .collect(),
        ..Baseline::default()
    };
    let (mut connections, mut denied_attempts) = (Vec::new(), Vec::new());
    let names = report.endpoints.iter().filter_map(|e| Some((e.id.0.clone(), e.life.name.clone()?)));
    let mut reader = RowReader::new(activity.kept).with_names(names);
    for listed in rows::list(activity, &tunnels()) {
        let id = tunnel_id(activity, &listed);
        let new = before.is_some_and(|before| !before.tunnels.contains(&id));
        baseline.tunnels.insert(id);
        let connected = listed.outcome == Outcome::Connected;
        if !connected && !new {
            continue;
        }
        let row: Row = reader.row(&listed)?;
        if connected {
            baseline.principals.extend(row.principal.clone());
            baseline.instances.extend(row.instance_id.clone());
            baseline.instances.extend(row.private_ip.clone());
        }
        if new {
            if connected { &mut connections } else { &mut denied_attempts }.push(row);
        }
    }
    let changes = before.map(|before| Changes { connections, denied_attempts, ..compare(before, &baseline) });
    Ok((baseline, changes))
}

impl Baseline {
    /// Of `ids` (this run's findings), those the last report did not have.
    pub(crate) fn new_findings(&self, ids: &[String]) -> Vec<String> {
        ids.iter().filter(|id| !self.findings.contains(*id)).cloned().collect()
    }

    /// The last report's facts with `ids` as its findings: what `trailscope findings --state`
    /// keeps, so that its next run fails only on findings new since this one, while `report`
    /// still compares everything else with the last report.
    pub(crate) fn with_findings(&self, ids: &[String]) -> Baseline {
        Baseline { findings: ids.iter().cloned().collect(), ..self.clone() }
    }
}

/// What `now` has that `before` had not; fields whose class or `varies_with` differ (or that
/// appeared or went), with both. No rows: [`baseline`] adds them.
fn compare(before: &Baseline, now: &Baseline) -> Changes {
    let new = |now: &BTreeSet<String>, before: &BTreeSet<String>| now.difference(before).cloned().collect();
    let before_fields: BTreeMap<_, _> = before.fields.iter().cloned().collect();
    let now_fields: BTreeMap<_, _> = now.fields.iter().cloned().collect();
    let paths: BTreeSet<&(String, String)> = before_fields.keys().chain(now_fields.keys()).collect();
    let fields_changed = paths
        .into_iter()
        .filter_map(|key| {
            let (was, is) = (before_fields.get(key).copied(), now_fields.get(key).copied());
            (was != is).then(|| FieldChange {
                event_name: key.0.clone(),
                path: key.1.clone(),
                before: was,
                after: is,
            })
        })
        .collect();
    let none = Life::default();
    let lives = |changed: &dyn Fn(&Life, &Life) -> bool| -> Vec<String> {
        now.lives
            .iter()
            .filter(|(id, life)| changed(before.lives.get(*id).unwrap_or(&none), life))
            .map(|(id, _)| id.clone())
            .collect()
    };
    Changes {
        new_endpoints: new(&now.endpoints, &before.endpoints),
        endpoints_created: lives(&|was, is| is.created.is_some() && was.created != is.created),
        endpoints_modified: lives(&|was, is| !is.modifications.is_subset(&was.modifications)),
        endpoints_deleted: lives(&|was, is| is.deleted.is_some() && was.deleted != is.deleted),
        new_principals: new(&now.principals, &before.principals),
        new_instances: new(&now.instances, &before.instances),
        fields_changed,
        connections: Vec::new(),
        denied_attempts: Vec::new(),
        new_findings: new(&now.findings, &before.findings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FieldClass, VariesWith};

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_what_is_new_or_different_is_a_change() {
        let shape = |class, varies_with| FieldShape { class, varies_with };
        let key = |p: &str| ("OpenTunnel".to_owned(), p.to_owned());
        let before = Baseline {
            endpoints: set(&["eice-1"]),
            principals: set(&["arn:a"]),
            instances: set(&["i-1", "10.0.0.1"]),
            fields: vec![
                (key("a"), shape(FieldClass::Constant, None)),
                (key("b"), shape(FieldClass::Endpoint, Some(VariesWith::Endpoint))),
            ],
            tunnels: set(&["111122223333/01"]),
            lives: BTreeMap::from([(
                "eice-1".to_owned(),
                Life { created: None, deleted: None, modifications: set(&["m1"]) },
            )]),
            findings: set(&["f1"]),
        };
        assert_eq!(compare(&before, &before), Changes::default(), "nothing new, nothing changed");
        let now = Baseline {
            endpoints: set(&["eice-1", "eice-2"]),
            principals: set(&["arn:a", "arn:b"]),
            instances: set(&["i-1", "10.0.0.1", "i-2"]),
            fields: vec![
                (key("a"), shape(FieldClass::Endpoint, Some(VariesWith::Account))),
                (key("b"), shape(FieldClass::Endpoint, Some(VariesWith::Endpoint))),
                (key("c"), shape(FieldClass::Constant, None)),
            ],
            tunnels: set(&["111122223333/01", "111122223333/02"]),
            lives: BTreeMap::from([
                (
                    "eice-1".to_owned(),
                    Life { created: None, deleted: Some("d1".into()), modifications: set(&["m1"]) },
                ),
                (
                    "eice-2".to_owned(),
                    Life { created: Some("c2".into()), deleted: None, modifications: set(&["m2"]) },
                ),
            ]),
            findings: set(&["f1", "f2"]),
        };
        let changed = compare(&before, &now);
        assert_eq!(changed.endpoints_created, ["eice-2"]);
        assert_eq!(changed.endpoints_modified, ["eice-2"], "eice-1's modification was known");
        assert_eq!(changed.endpoints_deleted, ["eice-1"]);
        assert_eq!(changed.new_endpoints, ["eice-2"]);
        assert_eq!(changed.new_principals, ["arn:b"]);
        assert_eq!(changed.new_instances, ["i-2"]);
        assert_eq!(changed.new_findings, ["f2"]);
        let paths: Vec<_> =
            changed.fields_changed.iter().map(|f| (f.path.as_str(), f.before, f.after)).collect();
        assert_eq!(
            paths,
            [
                (
                    "a",
                    Some(shape(FieldClass::Constant, None)),
                    Some(shape(FieldClass::Endpoint, Some(VariesWith::Account)))
                ),
                ("c", None, Some(shape(FieldClass::Constant, None))),
            ]
        );
        assert!(!changed.is_empty());
    }
}
