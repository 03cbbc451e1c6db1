//! `trailscope connections` against the generator's ground truth: every scheduled connection,
//! denied attempt and key listed once, with its endpoint, instance and key fingerprint; the
//! three formats saying the same rows; filters; determinism; copies counted once; hostile
//! values kept out of spreadsheets and terminals.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{testdata, trailscope};
use serde_json::{json, Value};

fn archive() -> PathBuf {
    testdata("generated/archive")
}

fn truth_rows() -> Vec<Value> {
    let text = std::fs::read_to_string(testdata("generated/truth.json")).expect("truth.json");
    let truth: Value = serde_json::from_str(&text).expect("truth.json is JSON");
    truth["connections"].as_array().expect("truth lists connections").clone()
}

/// `trailscope connections SOURCE... ARGS...`: exit status, stdout, stderr.
fn connections(sources: &[&Path], args: &[&str]) -> (i32, Vec<u8>, String) {
    let mut all: Vec<std::ffi::OsString> = vec!["connections".into()];
    all.extend(args.iter().map(Into::into));
    all.extend(sources.iter().map(|p| p.as_os_str().to_owned()));
    let out = trailscope(&all);
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The JSON Lines rows of `sources`.
fn rows(sources: &[&Path], args: &[&str]) -> Vec<Value> {
    let mut args = args.to_vec();
    args.extend(["--format", "jsonl", "-q"]);
    let (code, stdout, stderr) = connections(sources, &args);
    assert!(matches!(code, 0 | 3), "exit status {code}: {stderr}");
    let text = String::from_utf8(stdout).expect("UTF-8");
    text.lines().map(|line| serde_json::from_str(line).expect("each line is one JSON value")).collect()
}

/// What identifies a row and what it must say, in a form the truth and a row share.
fn summary(row: &Value, instance: &str, fingerprint: &str) -> String {
    json!([
        row["time"],
        row["outcome"],
        row["error_code"],
        row["account"],
        row["region"],
        row["endpoint"],
        row["principal"],
        row[instance],
        row["private_ip"],
        row[fingerprint],
        row["key_to_tunnel_seconds"],
    ])
    .to_string()
}

#[test]
fn each_scheduled_row_appears_exactly_once_with_its_endpoint_instance_and_key() {
    let (code, _, stderr) = connections(&[&archive()], &["-f", "jsonl"]);
    assert_eq!(code, 3, "the archive holds unreadable objects: {stderr}");
    let listed = rows(&[&archive()], &[]);
    let mut got: Vec<String> = listed.iter().map(|r| summary(r, "instance_id", "key_fingerprint")).collect();
    let mut want: Vec<String> =
        truth_rows().iter().map(|r| summary(r, "instance", "key_fingerprint")).collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len());
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
    let times: Vec<&str> = listed.iter().map(|r| r["time"].as_str().expect("a time")).collect();
    assert!(times.is_sorted(), "rows in time order");
}

#[test]
fn counts_per_outcome_match_the_truth() {
    let count = |rows: &[Value]| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for row in rows {
            *counts.entry(row["outcome"].as_str().expect("outcome").to_owned()).or_default() += 1;
        }
        counts
    };
    let truth = count(&truth_rows());
    assert_eq!(truth.len(), 4, "every outcome is in the archive: {truth:?}");
    assert_eq!(count(&rows(&[&archive()], &[])), truth);
}

#[test]
fn rows_name_the_instance_address_port_and_os_user() {
    let listed = rows(&[&archive()], &["--outcome", "connected"]);
    let keyed = listed.iter().find(|r| !r["instance_id"].is_null()).expect("a keyed connection");
    assert_eq!(keyed["os_user"], "ec2-user");
    assert_eq!(keyed["port"], "22");
    assert!(keyed["key_fingerprint"].as_str().expect("a fingerprint").starts_with("SHA256:"));
    assert!(keyed["source_ip"].as_str().expect("an address").starts_with("198.51.100."), "the tunnel's");
    let unkeyed = listed.iter().find(|r| r["instance_id"].is_null()).expect("a tunnel without a key");
    assert!(unkeyed["private_ip"].is_string(), "the tunnel still names its address");
    assert!(unkeyed["key_fingerprint"].is_null() && unkeyed["key_to_tunnel_seconds"].is_null());
}

/// An RFC 4180 reader: records of fields, quoted fields with doubled quotes, CRLF ends.
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && record.is_empty(), "the last record ends with CRLF");
    records
}

#[test]
fn csv_parses_back_to_the_json_lines_rows() {
    let (_, stdout, _) = connections(&[&archive()], &["--format", "csv", "-q"]);
    let records = parse_csv(&String::from_utf8(stdout).expect("UTF-8"));
    let listed = rows(&[&archive()], &[]);
    let (header, records) = records.split_first().expect("a header");
    assert_eq!(records.len(), listed.len());
    for (record, row) in records.iter().zip(&listed) {
        assert_eq!(record.len(), header.len());
        for (name, cell) in header.iter().zip(record) {
            let expected = match &row[name.as_str()] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(cell, &expected, "{name}");
        }
    }
}

/// A log of one connection and one denial whose strings are hostile: to a spreadsheet (cells
/// starting with `=`, `+`, `-`, `@`) and to a terminal; and a tunnel whose time is in
/// another form, which lists with no time, last.
fn hostile_archive(dir: &Path) -> PathBuf {
    let record = |name: &str, time: &str, extra: Value| {
        let mut record = json!({
            "eventVersion": "1.08",
            "eventSource": "ec2-instance-connect.amazonaws.com",
            "eventName": name,
            "eventTime": time,
            "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333",
            "sourceIPAddress": "-2+3",
            "userAgent": "@SUM(1+1)*cmd|' /C calc'!A0",
            "userIdentity": {"type": "IAMUser", "arn": "=HYPERLINK(\"http://evil.example\",\"x\")"},
        });
        record.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        record
    };
    let records = vec![
        record(
            "SendSSHPublicKey",
            "2024-03-01T00:00:00Z",
            json!({"eventID": "k1", "requestParameters": {"instanceId": "+i-1", "instanceOSUser": "ec2-user",
                   "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYONEforEndpointOne0000000000000000"}}),
        ),
        record(
            "OpenTunnel",
            "2024-03-01T00:00:01Z",
            json!({"eventID": "t1", "requestParameters": {"instanceConnectEndpointId": "eice-1\u{1b}[31mRED\u{202e}",
                   "privateIpAddress": "10.0.0.1", "remotePort": 22}}),
        ),
        record(
            "OpenTunnel",
            "2024-03-01T00:05:00Z",
            json!({"eventID": "t2", "errorCode": "=1+1\nAccessDenied",
                   "requestParameters": {"instanceConnectEndpointId": "eice-2"}}),
        ),
        record(
            "OpenTunnel",
            "2024-03-01 00:00:00.000000000",
            json!({"eventID": "t3", "requestParameters": {"instanceConnectEndpointId": "eice-2"}}),
        ),
    ];
    let path = dir.join("hostile.json");
    std::fs::write(&path, serde_json::to_vec(&json!({"Records": records})).expect("JSON")).expect("write");
    path
}

#[test]
fn a_hostile_value_starting_with_equals_is_neutralised_in_csv_and_exact_in_jsonl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = hostile_archive(dir.path());
    let (code, stdout, stderr) = connections(&[&log], &["--format", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    let records = parse_csv(&String::from_utf8(stdout).expect("UTF-8"));
    let header = &records[0];
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let first = &records[1];
    assert_eq!(first[column("principal")], "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(first[column("source_ip")], "'-2+3");
    assert_eq!(first[column("user_agent")], "'@SUM(1+1)*cmd|' /C calc'!A0");
    assert_eq!(first[column("instance_id")], "'+i-1");
    assert_eq!(first[column("port")], "22", "a number in the record is its text");
    assert_eq!(first[column("key_to_tunnel_seconds")], "1", "our own numbers stay numbers");
    assert_eq!(records[2][column("error_code")], "'=1+1\nAccessDenied");
    for record in &records[1..] {
        for (name, cell) in header.iter().zip(record) {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{name}: {cell:?} would be a formula");
        }
    }

    let listed = rows(&[&log], &[]);
    assert_eq!(listed[0]["principal"], "=HYPERLINK(\"http://evil.example\",\"x\")", "JSON Lines is exact");
    assert_eq!(listed[0]["endpoint"], "eice-1\u{1b}[31mRED\u{202e}");
    assert_eq!(listed[1]["error_code"], "=1+1\nAccessDenied");
    assert_eq!(listed[2]["time"], Value::Null, "a time in another form is no time, listed last");
    assert_eq!(listed[2]["endpoint"], "eice-2");
}

#[test]
fn the_table_shows_hostile_strings_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = hostile_archive(dir.path());
    let (code, stdout, _) = connections(&[&log], &[]);
    assert_eq!(code, 0);
    let text = String::from_utf8(stdout).expect("UTF-8");
    let leaked = text.lines().flat_map(str::chars).find(|c| {
        let c = c.to_string();
        trailscope::output::sanitize::escape(&c) != c
    });
    assert_eq!(leaked, None, "a character that needs escaping got through:\n{text}");
    assert!(text.contains(r"eice-1\u{1b}[31mRED\u{202e}"), "{text}");
    assert!(text.contains(r"denied (=1+1\u{a}AccessDenied)"), "{text}");
    assert_eq!(text.lines().count(), 4, "a heading and three rows, one line each");
}

#[test]
fn json_lines_are_one_object_per_line_with_the_same_keys_in_the_same_order() {
    let (_, stdout, _) = connections(&[&archive()], &["-f", "jsonl", "-q"]);
    let text = String::from_utf8(stdout).expect("UTF-8");
    let mut orders = std::collections::BTreeSet::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).expect("valid JSON");
        assert!(value.is_object());
        // Keys in the order written.
        let mut written: Vec<(usize, &str)> = value
            .as_object()
            .expect("object")
            .keys()
            .map(|k| (line.find(&format!("\"{k}\":")).expect("key"), k.as_str()))
            .collect();
        written.sort_unstable();
        orders.insert(written.into_iter().map(|(_, k)| k.to_owned()).collect::<Vec<_>>());
    }
    assert_eq!(orders.len(), 1, "every line has the same keys in the same order: {orders:?}");
    assert_eq!(text.lines().count(), truth_rows().len());
}

#[test]
fn every_format_is_byte_identical_for_one_and_four_jobs() {
    for format in ["table", "csv", "jsonl"] {
        let run = |jobs: &str| connections(&[&archive()], &["--format", format, "--jobs", jobs, "-q"]).1;
        let one = run("1");
        assert!(!one.is_empty());
        assert!(run("4") == one, "{format}: --jobs 4 differs from --jobs 1");
    }
}

#[test]
fn filters_keep_only_what_they_name_and_combine() {
    let all = rows(&[&archive()], &[]);
    let endpoint = all.iter().find_map(|r| r["endpoint"].as_str()).expect("an endpoint").to_owned();
    let count = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|r| f(r)).count();

    let through = rows(&[&archive()], &["--endpoint", &endpoint]);
    assert_eq!(through.len(), count(&|r| r["endpoint"] == endpoint.as_str()));
    assert!(through.iter().all(|r| r["endpoint"] == endpoint.as_str()));

    let some = rows(&[&archive()], &["--outcome", "denied", "--outcome", "serial-console"]);
    assert_eq!(some.len(), count(&|r| r["outcome"] == "denied" || r["outcome"] == "serial-console"));

    let principal = "arn:aws:sts::111122223333:assumed-role/EC2Admin/carol";
    let both = rows(&[&archive()], &["--principal", principal, "--outcome", "connected"]);
    assert!(!both.is_empty());
    assert_eq!(both.len(), count(&|r| r["principal"] == principal && r["outcome"] == "connected"));

    assert!(rows(&[&archive()], &["--endpoint", "eice-0nosuchendpoint"]).is_empty());
    let (code, _, _) = connections(&[&archive()], &["--outcome", "refused"]);
    assert_eq!(code, 2, "an unknown outcome is a usage error");
}

#[test]
fn an_archive_copied_under_two_prefixes_lists_each_connection_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    for prefix in ["trail-a/export", "trail-b"] {
        let copy = dir.path().join(prefix);
        for file in common::files_under(&archive()) {
            let relative = file.strip_prefix(archive()).expect("inside");
            common::put(&copy, relative.to_str().expect("UTF-8"), &std::fs::read(&file).expect("read"));
        }
    }
    let once = rows(&[&archive()], &[]);
    let twice = rows(&[dir.path()], &[]);
    let strip = |rows: Vec<Value>| -> Vec<String> {
        rows.iter().map(|r| summary(r, "instance_id", "key_fingerprint")).collect()
    };
    assert_eq!(strip(twice), strip(once));
}

#[test]
fn redact_hides_accounts_principals_addresses_and_keys_but_keeps_them_apart() {
    let plain = rows(&[&archive()], &[]);
    let redacted = rows(&[&archive()], &["--redact"]);
    assert_eq!(plain.len(), redacted.len());
    let text = redacted.iter().map(Value::to_string).collect::<String>();
    for secret in ["111122223333", "444455556666", "SHA256:", "198.51.100.", "EC2Admin", "alice"] {
        assert!(!text.contains(secret), "{secret} survives --redact");
    }
    assert!(text.contains("eice-0"), "endpoint ids are not secrets");
    let distinct = |rows: &[Value], key: &str| {
        rows.iter().map(|r| r[key].to_string()).collect::<std::collections::BTreeSet<_>>().len()
    };
    for key in ["account", "principal", "source_ip", "key_fingerprint"] {
        assert_eq!(distinct(&plain, key), distinct(&redacted, key), "{key}: equal values stay equal");
    }
}

#[test]
fn fingerprints_are_what_ssh_keygen_prints_for_the_keys_of_the_seed() {
    let seed = testdata("seed/jsonl/seed-events.jsonl");
    let text = std::fs::read_to_string(&seed).expect("seed");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut expected = Vec::new();
    for record in text.lines().map(|l| serde_json::from_str::<Value>(l).expect("JSON")) {
        let Some(key) = record["requestParameters"]["sSHPublicKey"].as_str() else { continue };
        let file = dir.path().join("key.pub");
        std::fs::write(&file, key).expect("write key");
        let out = match Command::new("ssh-keygen").arg("-l").arg("-f").arg(&file).output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipped: no ssh-keygen (Debian's openssh-client) to compare with");
                return;
            }
            Err(e) => panic!("ssh-keygen: {e}"),
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // `256 SHA256:… comment (ED25519)`
        let printed = String::from_utf8(out.stdout).expect("UTF-8");
        expected.push(printed.split_whitespace().nth(1).expect("a fingerprint").to_owned());
    }
    assert_eq!(expected.len(), 2);
    let mut listed: Vec<String> =
        rows(&[&seed], &[]).iter().filter_map(|r| r["key_fingerprint"].as_str().map(str::to_owned)).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn unreadable_objects_give_status_three_and_strict_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("rows.csv");
    std::fs::write(&target, "previous").expect("previous rows");
    let target_arg = target.to_str().expect("UTF-8");
    let (code, stdout, stderr) = connections(&[&archive()], &["--strict", "-f", "csv", "-o", target_arg]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty() && stderr.contains("--strict"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&target).expect("kept"), "previous");
    let (code, stdout, stderr) = connections(&[&archive()], &["-f", "csv", "-o", target_arg]);
    assert_eq!(code, 3);
    assert!(stdout.is_empty());
    assert!(stderr.contains("warning:") && stderr.contains("truncated"), "{stderr}");
    let written = std::fs::read_to_string(&target).expect("written");
    assert_eq!(written.lines().count(), truth_rows().len() + 1, "a header and every row");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary left");
}
