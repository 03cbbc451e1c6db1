//! The generated archive (`testdata/generated`, made by `trailscope-gen`) against the ground truth
//! the generator wrote from its plan: every count, every endpoint, every field class.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{classes, report_json, testdata};
use serde_json::Value;

fn archive() -> PathBuf {
    testdata("generated/archive")
}

fn truth() -> Value {
    let text = std::fs::read_to_string(testdata("generated/truth.json")).expect("truth.json");
    serde_json::from_str(&text).expect("truth.json is JSON")
}

#[test]
fn report_matches_the_ground_truth() {
    let (code, report, stderr) = report_json(&[&archive()], &[]);
    let truth = truth();
    assert_eq!(code, 3, "the archive holds unreadable objects: {stderr}");
    assert_eq!(report["summary"], truth["summary"]);
    assert_eq!(report["endpoints"], truth["endpoints"]);
    assert_eq!(report["direct"], truth["direct"]);
    assert_eq!(report["event_names"], truth["event_names"]);
    assert_eq!(report["other_events"], serde_json::json!({}));
}

#[test]
fn every_field_has_the_class_it_was_built_with_and_follows_what_it_was_built_to_follow() {
    let (_, report, _) = report_json(&[&archive()], &[]);
    let behaviour = |fields: &Value| -> BTreeMap<(String, String), (String, Option<String>)> {
        fields
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| {
                let key = (
                    f["event_name"].as_str().expect("name").into(),
                    f["path"].as_str().expect("path").into(),
                );
                let varies_with = f["varies_with"].as_str().map(str::to_owned);
                (key, (f["class"].as_str().expect("class").into(), varies_with))
            })
            .collect()
    };
    let expected = behaviour(&truth()["fields"]);
    let reported = behaviour(&report["fields"]);
    for (key, class) in &expected {
        assert_eq!(reported.get(key), Some(class), "{key:?}");
    }
    assert_eq!(reported.len(), expected.len(), "no field beyond the templates' leaves");
    assert_eq!(classes(&report).len(), expected.len());
    // The example the report exists for: endpoints of one VPC told apart.
    let vpce = &expected[&("OpenTunnel".to_owned(), "vpcEndpointId".to_owned())];
    assert_eq!(vpce.1.as_deref(), Some("endpoint"));
}

#[test]
fn unreadable_objects_are_named_with_their_reason_and_warned_about() {
    let (_, report, stderr) = report_json(&[&archive()], &[]);
    let truth = truth();
    let expected = truth["failures"].as_array().expect("failures");
    let reported = report["failures"].as_array().expect("failures");
    assert_eq!(reported.len(), expected.len());
    for (got, want) in reported.iter().zip(expected) {
        let object = archive().join(want["object"].as_str().expect("object"));
        assert_eq!(got["object"], object.to_string_lossy().as_ref());
        let error = got["error"].as_str().expect("error");
        assert!(error.contains(want["reason_contains"].as_str().expect("reason")), "{object:?}: {error}");
        assert!(stderr.contains(&format!("{}: {error}", object.display())), "{stderr}");
    }
}

#[test]
fn a_day_range_keeps_exactly_that_days_events_and_lists_less() {
    let truth = truth();
    let (day, events) = truth["events_by_day"].as_object().expect("by day").iter().next().expect("a day");
    let (_, report, _) = report_json(&[&archive()], &["--from", day, "--to", day]);
    let summary = &report["summary"];
    assert_eq!(summary["instance_connect_events"], *events, "exactly the events of {day}");
    let listed = summary["objects_listed"].as_u64().expect("listed");
    assert!(listed < truth["summary"]["objects_listed"].as_u64().expect("all"), "{day}: listed {listed}");
    assert!(
        summary["events_out_of_range"].as_u64() > Some(0),
        "the next day's folder starts with {day}'s last events"
    );
}

/// The committed archive is what the generator makes today: regenerating gives the same bytes.
#[test]
fn committed_archive_is_what_the_generator_makes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new(env!("CARGO_BIN_EXE_trailscope-gen"))
        .arg(dir.path())
        .output()
        .expect("trailscope-gen runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert_same_tree(&testdata("generated"), dir.path());
}

fn assert_same_tree(committed: &Path, fresh: &Path) {
    let files = |root: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        common::files_under(root)
            .into_iter()
            .map(|path| {
                (path.strip_prefix(root).expect("inside").to_path_buf(), std::fs::read(&path).expect("read"))
            })
            .collect()
    };
    let (committed, fresh) = (files(committed), files(fresh));
    assert_eq!(committed.keys().collect::<Vec<_>>(), fresh.keys().collect::<Vec<_>>());
    for (path, bytes) in &committed {
        assert!(
            fresh[path] == *bytes,
            "{} differs: remove testdata/generated and run `cargo run --bin trailscope-gen testdata/generated`",
            path.display()
        );
    }
}

/// The lifecycle fields every endpoint must have, as the generator's scenario made them.
const LIFE: [&str; 11] = [
    "name",
    "subnet_id",
    "vpc_id",
    "availability_zone",
    "security_group_ids",
    "preserve_client_ip",
    "ip_address_type",
    "created",
    "deleted",
    "modifications",
    "lifecycle_denied",
];

#[test]
fn every_endpoint_has_the_life_its_calls_gave_it() {
    let (_, report, _) = report_json(&[&archive()], &[]);
    let truth = truth();
    let (ours, planned) = (
        report["endpoints"].as_array().expect("endpoints"),
        truth["endpoints"].as_array().expect("endpoints"),
    );
    assert_eq!(ours.len(), planned.len());
    for (endpoint, plan) in ours.iter().zip(planned) {
        assert_eq!(endpoint["id"], plan["id"]);
        for field in LIFE {
            assert_eq!(endpoint[field], plan[field], "{}: {field}", endpoint["id"]);
        }
    }
    // The scenario holds every case the report tells apart.
    let count = |test: &dyn Fn(&Value) -> bool| ours.iter().filter(|e| test(e)).count();
    let changed = |e: &Value, field: &str| {
        e["modifications"]
            .as_array()
            .expect("modifications")
            .iter()
            .any(|m| m["changed"].as_array().expect("changed").iter().any(|c| c == field))
    };
    assert!(count(&|e| !e["created"].is_null() && e["connections"].as_u64() > Some(0)) > 0, "created, used");
    assert!(
        count(&|e| !e["created"].is_null() && e["connections"] == 0 && e["first_seen"].is_null()) >= 2,
        "unused"
    );
    assert!(count(&|e| e["created"].is_null()) > 0, "before the archive");
    assert!(count(&|e| !e["deleted"].is_null()) >= 2, "deleted");
    assert!(count(&|e| changed(e, "security_group_ids")) > 0, "modified");
    assert!(count(&|e| changed(e, "preserve_client_ip")) > 0, "modified");
    assert!(count(&|e| changed(e, "name") && !e["name"].is_null()) > 0, "renamed");
    assert!(count(&|e| changed(e, "name") && e["name"].is_null()) > 0, "name deleted");
    assert!(count(&|e| e["security_group_ids"].as_array().is_some_and(|g| g.len() == 2)) > 0, "lists of two");
    assert!(count(&|e| e["lifecycle_denied"] == 1) > 0, "a refused call names its endpoint");
    assert_eq!(report["summary"]["lifecycle_denied"], 2, "a refused delete and a refused create; no dry run");
    assert!(report["summary"]["lifecycle_events"].as_u64() > Some(10));
    assert_eq!(report["summary"]["schema_version"], Value::Null);
    assert_eq!(report["schema_version"], 2);
}

#[test]
fn rows_name_their_endpoint_in_the_last_column() {
    let out = common::trailscope(["connections", "-q", "-f", "csv", archive().to_str().expect("utf-8")]);
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header.last(), Some(&"endpoint_name"), "appended: readers of the other columns keep them");
    let truth = truth();
    let names: BTreeMap<&str, &str> = truth["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter_map(|e| Some((e["id"].as_str()?, e["name"].as_str()?)))
        .collect();
    let endpoint = header.iter().position(|h| *h == "endpoint").expect("endpoint column");
    let mut named = 0;
    for line in lines {
        // The generated archive's strings hold no comma: the line splits as it was written.
        let cells: Vec<&str> = line.split(',').collect();
        let expected = names.get(cells[endpoint]).copied().unwrap_or("");
        assert_eq!(cells.last().copied(), Some(expected), "{line}");
        named += usize::from(!expected.is_empty());
    }
    assert!(named > 0, "some rows name a named endpoint");
}
