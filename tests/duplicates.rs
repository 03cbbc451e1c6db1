//! Every event counted once, however many trails delivered it: the generated archive under two
//! prefixes (an organization trail and an account trail delivering to one bucket) gives the
//! analysis of the archive once, with the copies counted; a copy edited after delivery is
//! reported as conflicting, not merged.

use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::{files_under, gzip, report_json, testdata};

fn copy_tree(from: &Path, to: &Path) {
    for file in files_under(from) {
        let target = to.join(file.strip_prefix(from).expect("under"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
}

/// What the analysis found, without what depends on how many objects there were.
fn analysis(report: &Value) -> Value {
    let s = &report["summary"];
    json!({
        "endpoints": report["endpoints"],
        "direct": report["direct"],
        "other_events": report["other_events"],
        "event_names": report["event_names"],
        "fields": report["fields"],
        "counts": [s["instance_connect_events"], s["connections"], s["denied_attempts"],
                   s["connections_without_key"], s["endpoints"]],
    })
}

#[test]
fn an_archive_delivered_twice_is_analyzed_once_and_the_copies_counted() {
    let once = testdata("generated/archive");
    let (_, single, _) = report_json(&[&once], &[]);
    assert_eq!(single["summary"]["duplicate_events"], 0);
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&once, &dir.path().join("org-trail"));
    copy_tree(&once, &dir.path().join("account-trail"));
    let (code, twice, stderr) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(analysis(&twice), analysis(&single));
    // Lifecycle events are events too: their copies are counted with the rest.
    let events = single["summary"]["instance_connect_events"].as_u64().expect("n")
        + single["summary"]["lifecycle_events"].as_u64().expect("n");
    assert_eq!(twice["summary"]["duplicate_events"], events, "every event once more");
    assert_eq!(twice["summary"]["conflicting_duplicates"], 0);
    assert_eq!(twice["summary"]["records"], 2 * single["summary"]["records"].as_u64().expect("n"));
    assert!(twice.get("conflicts").is_none());
}

#[test]
fn an_edited_copy_is_counted_apart_and_listed_with_both_objects() {
    let once = testdata("generated/archive");
    let dir = tempfile::tempdir().expect("temp dir");
    let (first, second) = (dir.path().join("a-first"), dir.path().join("b-second"));
    copy_tree(&once, &first);
    copy_tree(&once, &second);
    // In the second copy, one OpenTunnel's target address is changed.
    let (path, record_index, event_id) = edit_one_tunnel(&second);
    let (code, report, stderr) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 3, "{stderr}");
    let summary = &report["summary"];
    assert_eq!(summary["conflicting_duplicates"], 1);
    let events = summary["instance_connect_events"].as_u64().expect("n")
        + summary["lifecycle_events"].as_u64().expect("n");
    assert_eq!(summary["duplicate_events"], events - 1, "the others are plain copies");
    let conflict = &report["conflicts"][0];
    assert_eq!(conflict["event_id"], event_id.as_str());
    let kept = conflict["kept"]["object"].as_str().expect("object");
    assert!(kept.starts_with(&*first.to_string_lossy()), "the copy read first is analyzed: {kept}");
    assert_eq!(conflict["conflicting"]["object"], path.to_string_lossy().as_ref());
    assert_eq!(conflict["conflicting"]["record"], record_index);
    // The analysis is that of the untouched copy.
    let (_, single, _) = report_json(&[&once], &[]);
    assert_eq!(analysis(&report), analysis(&single));
    let text = crate::common::trailscope(["report", dir.path().to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Conflicting copies (1)") && text.contains(&event_id), "{text}");
}

/// Changes `requestParameters.privateIpAddress` of the first successful OpenTunnel found under
/// `root`; returns the object, the record's position and its eventID.
fn edit_one_tunnel(root: &Path) -> (std::path::PathBuf, u64, String) {
    for path in files_under(root) {
        if !path.to_string_lossy().ends_with(".json.gz") || path.to_string_lossy().contains("Digest") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("object");
        let mut text = String::new();
        if flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text).is_err() {
            continue;
        }
        let Ok(mut log) = serde_json::from_str::<Value>(&text) else { continue };
        let Some(records) = log["Records"].as_array_mut() else { continue };
        let found =
            records.iter().position(|r| r["eventName"] == "OpenTunnel" && r.get("errorCode").is_none());
        if let Some(i) = found {
            records[i]["requestParameters"]["privateIpAddress"] = Value::from("192.0.2.99");
            let event_id = records[i]["eventID"].as_str().expect("eventID").to_owned();
            std::fs::write(&path, gzip(&serde_json::to_vec(&log).expect("JSON"))).expect("write");
            return (path, i as u64, event_id);
        }
    }
    panic!("no OpenTunnel under {}", root.display());
}
