//! The shapes real exports come in: the generated archive's records, re-exported as a top-level
//! array (`jq -s`), as EventBridge envelopes one per line (as Firehose delivers them, gzipped),
//! and as one file per record, give the analysis its ground truth says. Times written in other
//! forms are counted as "no time"; days that do not exist too; offsets are the same instants; and
//! records written with any escapes read as they mean.

use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};

use trailscope::synth::Rng;

use crate::common::{self, gzip, put, report_json, testdata};

/// Every record of every readable log object of the generated archive, in a fixed order.
fn records() -> Vec<Value> {
    let archive = testdata("generated/archive");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(testdata("generated/truth.json")).expect("truth"))
            .expect("JSON");
    let mut records = Vec::new();
    for object in truth["objects"].as_object().expect("objects").keys() {
        let bytes = std::fs::read(archive.join(object)).expect("object");
        let mut text = String::new();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text).expect("gzip");
        } else {
            text = String::from_utf8(bytes).expect("utf-8");
        }
        let log: Value = serde_json::from_str(&text).expect("a log");
        records.extend(log["Records"].as_array().expect("Records").iter().cloned());
    }
    records
}

/// The parts of a report that say what was found, not how it was stored.
fn analysis(report: &Value) -> Value {
    json!({
        "endpoints": report["endpoints"],
        "direct": report["direct"],
        "event_names": report["event_names"],
        "fields": report["fields"],
        "connections": report["summary"]["connections"],
        "events": report["summary"]["instance_connect_events"],
        "records": report["summary"]["records"],
    })
}

fn expected() -> Value {
    let (code, report, stderr) = report_json(&[&testdata("generated/archive")], &[]);
    assert_eq!(code, 3, "{stderr}");
    analysis(&report)
}

fn clean_report(dir: &Path) -> Value {
    let (code, report, stderr) = report_json(&[dir], &[]);
    assert_eq!(code, 0, "every object readable: {stderr}");
    report
}

#[test]
fn a_top_level_array_of_records_is_read_as_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    put(dir.path(), "export.json", &serde_json::to_vec(&records()).expect("JSON"));
    assert_eq!(analysis(&clean_report(dir.path())), expected());
}

#[test]
fn eventbridge_envelopes_one_per_line_are_read_as_their_detail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lines: String = records()
        .into_iter()
        .map(|record| {
            let envelope = json!({
                "version": "0",
                "id": "7e4d3c2b-0000-4000-8000-000000000000",
                "detail-type": "AWS API Call via CloudTrail",
                "source": format!("aws.{}", record["eventSource"].as_str().unwrap_or("unknown").split('.').next().unwrap_or("")),
                "account": record["recipientAccountId"],
                "time": record["eventTime"],
                "region": record["awsRegion"],
                "resources": [],
                "detail": record,
            });
            format!("{envelope}\n")
        })
        .collect();
    // As Firehose writes them to S3: gzipped, and named with neither `.json` nor `.jsonl`; named
    // on the command line, a file is read whatever its name.
    let file = put(
        dir.path(),
        "firehose/2024/03/01/cloudtrail-stream-1-2024-03-01-00-00-00",
        &gzip(lines.as_bytes()),
    );
    let (code, report, stderr) = report_json(&[&file], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(analysis(&report), expected());
}

#[test]
fn lookup_events_one_per_line_are_read_as_their_cloudtrail_event() {
    // As a script saving what boto3's `lookup_events` returns writes them (plaso's test data has
    // such a file): one event a line, its time in Python's form, the record as a JSON string.
    let lines: String = records()
        .into_iter()
        .map(|record| {
            let event = json!({
                "EventId": record["eventID"],
                "EventName": record["eventName"],
                "ReadOnly": "false",
                "EventTime": record["eventTime"].as_str().map(|t| t.replace('T', " ").replace('Z', "+00:00")),
                "EventSource": record["eventSource"],
                "Resources": [],
                "CloudTrailEvent": record.to_string(),
            });
            format!("{event}\n")
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    put(dir.path(), "lookup-events.jsonl", lines.as_bytes());
    assert_eq!(analysis(&clean_report(dir.path())), expected());
}

#[test]
fn lookup_events_with_the_cloudtrail_event_already_parsed_are_read_as_it() {
    // As `jq '.Events[] | .CloudTrailEvent |= fromjson'` leaves them.
    let lines: String = records()
        .into_iter()
        .map(|record| format!("{}\n", json!({"EventId": record["eventID"], "CloudTrailEvent": record})))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    put(dir.path(), "parsed.jsonl", lines.as_bytes());
    assert_eq!(analysis(&clean_report(dir.path())), expected());
}

#[test]
fn single_record_files_are_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, record) in records().into_iter().enumerate() {
        put(dir.path(), &format!("records/{i:05}.json"), &serde_json::to_vec_pretty(&record).expect("JSON"));
    }
    assert_eq!(analysis(&clean_report(dir.path())), expected());
}

#[test]
fn times_in_other_forms_are_no_time_and_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut records = records();
    let mut odd = 0;
    for record in &mut records {
        if record["eventSource"] == "ec2-instance-connect.amazonaws.com" && odd < 7 {
            // As CloudTrail Lake and some SIEM exports write it.
            let time =
                record["eventTime"].as_str().expect("time").replace('T', " ").replace('Z', ".000000000");
            record["eventTime"] = Value::from(time);
            odd += 1;
        }
    }
    put(dir.path(), "export.json", &serde_json::to_vec(&json!({"Records": records})).expect("JSON"));
    let report = clean_report(dir.path());
    assert_eq!(report["summary"]["events_without_time"], 7);
    assert_eq!(report["summary"]["instance_connect_events"], expected()["events"], "still counted");
    let text = common::trailscope(["report", dir.path().to_str().expect("utf-8")]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("Without a readable eventTime  7 events"));
}

/// `2024-03-01T22:05:31Z` written at `+09:00` (`2024-03-02T07:05:31+09:00`), or at `-05:30`
/// (on the first of a month, `+09:00` all the same).
fn at_offset(utc: &str, east: bool) -> String {
    let (date, clock) = utc.trim_end_matches('Z').split_once('T').expect("a CloudTrail time");
    let (prefix, day) = date.rsplit_once('-').expect("a date");
    let (hour, rest) = clock.split_once(':').expect("a clock");
    let (day, hour, minute_rest): (i32, i32, &str) =
        (day.parse().expect("day"), hour.parse().expect("hour"), rest);
    assert!((1..28).contains(&day), "the archive's days stay inside their month: {utc}");
    // West of UTC, the first of a month would start in the month before.
    let east = east || day == 1;
    let (minute, seconds) = minute_rest.split_once(':').expect("minutes");
    let minutes = hour * 60 + minute.parse::<i32>().expect("minute") + if east { 540 } else { -330 };
    let (day, minutes) = (day + minutes.div_euclid(1440), minutes.rem_euclid(1440));
    let offset = if east { "+09:00" } else { "-05:30" };
    format!("{prefix}-{day:02}T{:02}:{:02}:{seconds}{offset}", minutes / 60, minutes % 60)
}

#[test]
fn times_with_an_offset_are_the_same_instants() {
    assert_eq!(at_offset("2024-03-01T22:05:31Z", true), "2024-03-02T07:05:31+09:00");
    assert_eq!(at_offset("2024-03-02T03:05:31.250Z", false), "2024-03-01T21:35:31.250-05:30");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut records = records();
    for (i, record) in records.iter_mut().enumerate() {
        let time = record["eventTime"].as_str().expect("time").to_owned();
        record["eventTime"] = Value::from(at_offset(&time, i % 2 == 0));
    }
    put(dir.path(), "export.json", &serde_json::to_vec(&json!({"Records": records})).expect("JSON"));
    let report = clean_report(dir.path());
    assert_eq!(analysis(&report), expected());
    assert_eq!(report["summary"]["events_without_time"], 0);
}

#[test]
fn days_that_do_not_exist_are_no_time_and_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut records = records();
    let mut odd = 0;
    for record in &mut records {
        if record["eventSource"] == "ec2-instance-connect.amazonaws.com" && odd < 3 {
            // Read as 2023-03-02 before, a date found nowhere in the record.
            let time = record["eventTime"].as_str().expect("time");
            let day = ["2023-02-30", "2023-02-29", "2024-04-31"][odd];
            record["eventTime"] = Value::from(format!("{day}{}", &time[10..]));
            odd += 1;
        }
    }
    put(dir.path(), "export.json", &serde_json::to_vec(&json!({"Records": records})).expect("JSON"));
    let report = clean_report(dir.path());
    assert_eq!(report["summary"]["events_without_time"], 3);
    assert_eq!(report["summary"]["instance_connect_events"], expected()["events"], "still counted");
    let text = serde_json::to_string(&report).expect("JSON");
    assert!(!text.contains("2023-03-0"), "no day the records do not hold");
}

/// `json` with escapes and whitespace chosen by a seeded generator (see `stages::respell`).
fn respelled(json: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    trailscope::stages::respell(json, &mut |n| rng.below(u64::from(n)) as u32)
}

#[test]
fn records_written_with_any_escapes_are_read_as_they_mean() {
    // Every character of every string, names included, kept or written as `\uXXXX` (surrogate
    // pairs too), `/` as `\/`, whitespace around every structural character: the same analysis.
    let dir = tempfile::tempdir().expect("temp dir");
    let log = serde_json::to_vec(&json!({"Records": records()})).expect("JSON");
    let escaped = respelled(&log, 7);
    assert!(escaped.windows(2).filter(|w| w == b"\\u").count() > 100_000, "escaped throughout");
    assert!(escaped.windows(35).all(|w| w != b"\"ec2-instance-connect.amazonaws.com"), "no needle left");
    put(dir.path(), "export.json", &escaped);
    // And as a LookupEvents export, whose records are strings: escaped at both levels.
    let entries: Vec<Value> = records()
        .into_iter()
        .map(|record| {
            let inner = String::from_utf8(respelled(record.to_string().as_bytes(), 11)).expect("UTF-8");
            json!({"EventId": record["eventID"], "CloudTrailEvent": inner})
        })
        .collect();
    let export = serde_json::to_vec(&json!({"Events": entries})).expect("JSON");
    let lookup = tempfile::tempdir().expect("temp dir");
    put(lookup.path(), "lookup.json", &respelled(&export, 13));
    assert_eq!(analysis(&clean_report(dir.path())), expected());
    assert_eq!(analysis(&clean_report(lookup.path())), expected());
}

#[test]
fn records_of_other_services_written_with_escapes_are_not_instance_connect() {
    // Each Instance Connect record's source changed to another service's, then escaped: no event.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut records = records();
    for record in &mut records {
        if record["eventSource"] == "ec2-instance-connect.amazonaws.com" {
            record["eventSource"] = Value::from("ec2-instance-connect.amazonaws.com.example");
        }
    }
    let log = serde_json::to_vec(&json!({"Records": records})).expect("JSON");
    put(dir.path(), "export.json", &respelled(&log, 17));
    let report = clean_report(dir.path());
    assert_eq!(report["summary"]["instance_connect_events"], 0);
    assert_eq!(report["summary"]["records"], expected()["records"], "every record still counted");
}

#[test]
fn a_record_the_parse_refuses_is_read_alike_however_its_writer_escaped_it() {
    // Found by the `respell` fuzz target (tests/fuzz/known/): a record with a raw control character
    // in a string, which JSON forbids. Of another service, it is counted and not parsed, as
    // written or with a `\u` escape elsewhere (which once had it parsed, and its object refused);
    // of Instance Connect, it is parsed, and its object unreadable, either way.
    let record = |source: &str, name: &str| {
        format!(
            "{{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-03-01T00:00:00Z\",\"eventSource\":\"{source}\",\
             \"eventName\":\"{name}\",\"awsRegion\":\"us-east-1\",\"userAgent\":\"a\u{0}b\"}}"
        )
    };
    let read = |records: &[String]| {
        let dir = tempfile::tempdir().expect("temp dir");
        put(dir.path(), "log.json", format!("{{\"Records\":[{}]}}", records.join(",")).as_bytes());
        // A run none of whose objects reads writes no report: one more that reads.
        put(dir.path(), "more.json", br#"{"Records":[{"eventSource":"s3.amazonaws.com"}]}"#);
        let (code, report, stderr) = report_json(&[dir.path()], &[]);
        (code, report["summary"]["records"].clone(), report["summary"]["objects_failed"].clone(), stderr)
    };
    let other = [record("s3.amazonaws.com", "GetObject"), record("s3.amazonaws.com", "G\\u0065tObject")];
    for records in [&other[..1], &other[1..], &other[..]] {
        let (code, count, unreadable, stderr) = read(records);
        assert_eq!((code, unreadable), (0, json!(0)), "{stderr}");
        assert_eq!(count, json!(records.len() + 1));
    }
    let connect = [
        record("ec2-instance-connect.amazonaws.com", "OpenTunnel"),
        record("ec2-instance-connect.amazonaws.com", "Op\\u0065nTunnel"),
        record("ec2-instance-connect.amazonaws.com", "OpenTunnel")
            .replace("\"eventSource\":\"ec2", "\"eventSource\":\"\\u0065c2"),
    ];
    for one in connect {
        let (code, _, unreadable, stderr) = read(std::slice::from_ref(&one));
        assert_eq!((code, unreadable), (3, json!(1)), "{one}: {stderr}");
    }
}
