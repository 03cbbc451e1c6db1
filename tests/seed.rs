//! The seed story (`../shared/seed`): two connections through two endpoints, as S3 delivers
//! them, as a log file body (`seed/records`, the seed's `records.json`), as a LookupEvents export,
//! as LookupEvents events one per line (`seed/lookup-lines`) and as JSON Lines.

use crate::common;

use common::{classes, report_json, testdata};
use serde_json::Value;

fn class(report: &Value, event: &str, path: &str) -> String {
    classes(report)
        .get(&(event.to_owned(), path.to_owned()))
        .cloned()
        .unwrap_or_else(|| panic!("{event} {path}"))
}

#[test]
fn lookup_export_reports_what_changes_with_the_endpoint() {
    let (code, report, _) = report_json(&[&testdata("seed/lookup/lookup-events.json")], &[]);
    assert_eq!(code, 0);
    assert_eq!(class(&report, "OpenTunnel", "requestParameters.instanceConnectEndpointId"), "endpoint");
    assert_eq!(class(&report, "OpenTunnel", "resources[0].ARN"), "endpoint");
    assert_eq!(
        class(&report, "SendSSHPublicKey", "userIdentity.sessionContext.attributes.creationDate"),
        "endpoint"
    );
    // What the by-eye comparison missed.
    assert_eq!(class(&report, "SendSSHPublicKey", "userIdentity.principalId"), "endpoint");
    assert_eq!(class(&report, "OpenTunnel", "requestParameters.remotePort"), "constant");
    assert_eq!(report["summary"]["connections"], 2);
    assert_eq!(report["summary"]["endpoints"], 2);
}

#[test]
fn one_event_per_endpoint_is_flagged_as_inseparable() {
    let (_, report, _) = report_json(&[&testdata("seed/lookup/lookup-events.json")], &[]);
    for name in report["event_names"].as_array().expect("event_names") {
        assert_eq!(name["endpoints"], 2, "{name}");
        assert_eq!(name["endpoints_with_multiple_events"], 0, "{name}");
        assert_eq!(name["fields_connection"], 0, "nothing can be shown to change per connection");
    }
    let text =
        common::trailscope(["report", testdata("seed/lookup/lookup-events.json").to_str().expect("utf-8")]);
    let text = String::from_utf8(text.stdout).expect("utf-8 report");
    assert!(text.contains("No endpoint has two or more OpenTunnel events"), "{text}");
}

#[test]
fn every_seed_layout_gives_the_same_analysis() {
    let reports: Vec<Value> = ["seed/s3", "seed/lookup", "seed/lookup-lines", "seed/records", "seed/jsonl"]
        .iter()
        .map(|dir| {
            let (code, report, stderr) = report_json(&[&testdata(dir)], &[]);
            assert_eq!(code, 0, "{dir}: {stderr}");
            report
        })
        .collect();
    for report in &reports[1..] {
        assert_eq!(report["fields"], reports[0]["fields"]);
        assert_eq!(report["endpoints"], reports[0]["endpoints"]);
        assert_eq!(report["summary"]["records"], 4);
    }
}

#[test]
fn endpoint_values_are_reported_per_endpoint() {
    let (_, report, _) = report_json(&[&testdata("seed/s3")], &[]);
    let field = report["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["path"] == "requestParameters.instanceConnectEndpointId")
        .expect("the endpoint id field");
    assert_eq!(field["values"]["eice-0f94a1b2c3d4e5f60"], "eice-0f94a1b2c3d4e5f60");
    assert_eq!(field["values"]["eice-0307f6e5d4c3b2a10"], "eice-0307f6e5d4c3b2a10");
    let endpoint = &report["endpoints"][1];
    assert_eq!(endpoint["id"], "eice-0f94a1b2c3d4e5f60");
    assert_eq!(endpoint["events"]["SendSSHPublicKey"], 1);
    assert_eq!(endpoint["first_seen"], "2023-09-21T01:24:44Z");
}

/// `seed/lookup-lines/lookup-events.jsonl` is the seed's export (`seed/lookup/lookup-events.json`)
/// as a script saving boto3's `lookup_events` writes it, in the shape of plaso's
/// `test_data/jsonl/aws_cloudtrail.jsonl`: one event a line (`json.dumps` of each), `EventTime` a
/// Python `datetime` turned to text (`2023-09-21 10:24:44+09:00`), the record a JSON string.
#[test]
fn lookup_events_one_per_line_report_what_the_seed_records_report() {
    let (code, lines, stderr) = report_json(&[&testdata("seed/lookup-lines/lookup-events.jsonl")], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (_, records, _) = report_json(&[&testdata("seed/records/records.json")], &[]);
    assert_eq!(lines, records, "the whole report, summary included: one object of four records each");
}

#[test]
fn the_line_per_event_fixture_is_the_seed_export_one_event_per_line() {
    let read = |path: &str| std::fs::read_to_string(testdata(path)).expect("fixture");
    let export: Value = serde_json::from_str(&read("seed/lookup/lookup-events.json")).expect("JSON");
    let lines: Vec<Value> = read("seed/lookup-lines/lookup-events.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one event a line"))
        .collect();
    let mut events = export["Events"].as_array().expect("Events").clone();
    for event in &mut events {
        let time = event["EventTime"].as_str().expect("time").replacen('T', " ", 1);
        event["EventTime"] = Value::from(time);
    }
    assert_eq!(lines, events);
    assert!(lines.iter().all(|e| e["CloudTrailEvent"].is_string()), "records as strings");
}
