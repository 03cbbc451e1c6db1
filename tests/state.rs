//! `--state DIR`: a daily sequence over the generated archive (the first day, minus a few of its
//! files; then the second day, the first day's late files and a new endpoint; then nothing new),
//! on disk and on S3 (Garage, GETs counted by a proxy). At each step the report is the report of
//! a run without --state, byte for byte but for the `state` and `changes` blocks; only the new
//! objects are read; `changes` says what the step introduced. A run killed with SIGKILL changes
//! nothing of that; a locked, foreign or damaged DIR is refused with one line.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use common::garage::Garage;
use common::{files_under, testdata};
use serde_json::Value;

const FORMATS: [&str; 4] = ["json", "text", "markdown", "html"];

/// The generated archive's files by step: (relative path, step).
fn steps() -> Vec<(String, usize)> {
    let root = testdata("generated/archive");
    let mut first_day = 0;
    files_under(&root)
        .into_iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(&root).expect("under root").to_string_lossy().into_owned();
            let step = if relative.contains("/2024/03/01/") {
                first_day += 1;
                // Every fifth file of the first day arrives late, with the second day.
                if first_day % 5 == 0 {
                    2
                } else {
                    1
                }
            } else if relative.contains("/2024/03/02/") {
                2
            } else {
                return None;
            };
            Some((relative, step))
        })
        .collect()
}

/// A log file with one successful tunnel through an endpoint the archive does not have, by a
/// principal it does not have, to an address it does not have.
const NEW_ENDPOINT_KEY: &str = "AWSLogs/o-a1b2c3d4e5/777788889999/CloudTrail/eu-west-1/2024/03/02/\
                                777788889999_CloudTrail_eu-west-1_20240302T0420Z_newendpoint.json.gz";
const NEW_ENDPOINT: &str = "eice-0feedfacefeedface";
const NEW_PRINCIPAL: &str = "arn:aws:sts::777788889999:assumed-role/EC2Admin/mallory";
const NEW_ADDRESS: &str = "10.99.1.2";

fn new_endpoint_log() -> Vec<u8> {
    let record = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLEADMIN00777:mallory",
            "arn": NEW_PRINCIPAL, "accountId": "777788889999", "accessKeyId": "ASIA0000000000000F00"},
        "eventTime": "2024-03-02T04:20:00Z",
        "eventSource": "ec2-instance-connect.amazonaws.com",
        "eventName": "OpenTunnel",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.77",
        "userAgent": "Mozilla/5.0",
        "requestParameters": {"instanceConnectEndpointId": NEW_ENDPOINT, "maxTunnelDuration": "3600",
            "remotePort": "22", "privateIpAddress": NEW_ADDRESS},
        "responseElements": null,
        "requestID": "00000000-0000-4000-8000-000000000001",
        "eventID": "00000000-0000-4000-8000-0000000000f1",
        "readOnly": false,
        "resources": [{"accountId": "777788889999", "type": "AWS::EC2::InstanceConnectEndpoint",
            "ARN": format!("arn:aws:ec2:eu-west-1:777788889999:instance-connect-endpoint/{NEW_ENDPOINT}")}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "777788889999",
        "eventCategory": "Management"
    });
    common::gzip(serde_json::json!({ "Records": [record] }).to_string().as_bytes())
}

/// Copies the files of `step` into `dir` (the new endpoint's log with step 2); returns how many
/// of them are log objects (what a run reads or finds unreadable).
fn stage(dir: &Path, step: usize) -> usize {
    let root = testdata("generated/archive");
    let mut logs = 0;
    for (relative, _) in steps().into_iter().filter(|(_, s)| *s == step) {
        let bytes = std::fs::read(root.join(&relative)).expect("read fixture");
        common::put(dir, &relative, &bytes);
        logs += usize::from(is_log(&relative));
    }
    if step == 2 {
        common::put(dir, NEW_ENDPOINT_KEY, &new_endpoint_log());
        logs += 1;
    }
    logs
}

fn is_log(relative: &str) -> bool {
    !relative.contains("CloudTrail-Digest") && (relative.ends_with(".json.gz") || relative.ends_with(".json"))
}

fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(args).env_remove("AWS_PROFILE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("trailscope runs")
}

fn ok(output: Output, what: &str) -> Output {
    assert!(
        matches!(output.status.code(), Some(0 | 3 | 4)),
        "{what}: {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The report in `format` of a run with `--state state` (when given).
fn report(format: &str, source: &str, state: Option<&Path>, env: &[(&str, String)]) -> Vec<u8> {
    let mut args = vec!["report", "-q", "-f", format];
    let state = state.map(|s| s.to_string_lossy().into_owned());
    if let Some(state) = &state {
        args.extend(["--state", state]);
    }
    args.push(source);
    ok(run(&args, env), &format!("report -f {format}")).stdout
}

/// A report with --state without its `state` and `changes` blocks, which must then be the
/// report of a run without --state byte for byte; and the two blocks (JSON: parsed).
fn split(format: &str, with_state: &[u8]) -> (Vec<u8>, Option<Value>) {
    let text = String::from_utf8(with_state.to_vec()).expect("UTF-8");
    if format == "json" {
        let mut value: Value = serde_json::from_str(&text).expect("a JSON report");
        let object = value.as_object_mut().expect("an object");
        let blocks =
            serde_json::json!({"state": object.remove("state"), "changes": object.remove("changes")});
        let mut rest = serde_json::to_string_pretty(&value).expect("serializable");
        rest.push('\n');
        return (rest.into_bytes(), Some(blocks));
    }
    // The "Since the last report" section, and the one `state` line (last).
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let find = |lines: &[&str], from: usize, start: &str| {
        lines.iter().skip(from).position(|l| l.starts_with(start)).map(|i| i + from)
    };
    let (first, next) = match format {
        "html" => ("<section id=\"since-last-report\">", "</section>"),
        "markdown" => ("## Since the last report", "## Summary"),
        _ => ("Since the last report", "Summary"),
    };
    if let Some(a) = find(&lines, 0, first) {
        let b = find(&lines, a, next).expect("the section ends");
        lines.drain(a..if format == "html" { b + 1 } else { b });
    }
    let state = if format == "html" { "<p>state: " } else { "state: " };
    let at = find(&lines, 0, state).expect("the state line");
    assert!(at + 5 >= lines.len(), "the state line comes last");
    lines.remove(at);
    if format == "markdown" {
        if lines.get(at).is_some_and(|l| l.trim().is_empty()) {
            lines.remove(at); // its paragraph's blank line
        } else if lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop(); // the blank line before it, when it ends the file
        }
    }
    (lines.concat().into_bytes(), None)
}

fn normalized_json(full: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(full).expect("a JSON report");
    let mut text = serde_json::to_string_pretty(&value).expect("serializable");
    text.push('\n');
    text.into_bytes()
}

/// The facts `changes` is about, from a report and a connections listing without --state.
struct Facts {
    endpoints: BTreeSet<String>,
    principals: BTreeSet<String>,
    instances: BTreeSet<String>,
    fields: BTreeSet<(String, String, String)>,
    connections: u64,
    denied: u64,
    /// The rows of its connections and denied attempts, as `trailscope connections` lists them.
    tunnels: Vec<Value>,
    /// Each endpoint's `created`, `deleted` and `modifications`.
    lives: BTreeMap<String, Life>,
    /// The ids of its findings.
    findings: BTreeSet<String>,
}

/// An endpoint's `created`, `deleted` and `modifications`, as the JSON report gives them.
type Life = (Value, Value, Value);

fn facts(source: &str, env: &[(&str, String)]) -> Facts {
    let report: Value = serde_json::from_slice(&report("json", source, None, env)).expect("JSON");
    let args = ["connections", "-q", "-f", "jsonl", "--outcome", "connected", "--outcome", "denied", source];
    let tunnels: Vec<Value> = ok(run(&args, env), "rows")
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("row"))
        .collect();
    let rows: Vec<&Value> = tunnels.iter().filter(|r| r["outcome"] == "connected").collect();
    let strings = |key: &str| -> BTreeSet<String> {
        rows.iter().filter_map(|r| r[key].as_str().map(str::to_owned)).collect()
    };
    let mut instances = strings("instance_id");
    instances.extend(strings("private_ip"));
    Facts {
        endpoints: report["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect(),
        principals: strings("principal"),
        instances,
        fields: report["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| {
                (
                    f["event_name"].to_string(),
                    f["path"].to_string(),
                    format!("{}/{}", f["class"], f["varies_with"]),
                )
            })
            .collect(),
        lives: report["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .map(|e| {
                let id = e["id"].as_str().expect("id").to_owned();
                (id, (e["created"].clone(), e["deleted"].clone(), e["modifications"].clone()))
            })
            .collect(),
        connections: report["summary"]["connections"].as_u64().expect("connections"),
        denied: report["summary"]["denied_attempts"].as_u64().expect("denied"),
        tunnels,
        findings: report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["id"].as_str().expect("id").to_owned())
            .collect(),
    }
}

fn strings(value: &Value) -> BTreeSet<String> {
    value.as_array().expect("a list").iter().map(|v| v.as_str().expect("a string").to_owned()).collect()
}

/// `changes` says exactly what went from `before` to `after`.
fn assert_changes(changes: &Value, before: &Facts, after: &Facts) {
    let new = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> BTreeSet<String> {
        a.difference(b).cloned().collect()
    };
    assert_eq!(strings(&changes["new_endpoints"]), new(&after.endpoints, &before.endpoints));
    assert_eq!(strings(&changes["new_principals"]), new(&after.principals, &before.principals));
    assert_eq!(strings(&changes["new_instances"]), new(&after.instances, &before.instances));
    assert_eq!(strings(&changes["new_findings"]), new(&after.findings, &before.findings));
    // The rows of the tunnels `before` had not, each as `trailscope connections` prints it.
    // A tunnel is the same tunnel whatever its endpoint's name became since (a rename is told by
    // `endpoints_modified`): rows are compared without it.
    let unnamed = |row: &Value| {
        let mut row = row.clone();
        row.as_object_mut().expect("a row").remove("endpoint_name");
        row
    };
    let known: Vec<Value> = before.tunnels.iter().map(unnamed).collect();
    let new_rows = |outcome: &str| -> Vec<Value> {
        after
            .tunnels
            .iter()
            .filter(|r| r["outcome"] == outcome && !known.contains(&unnamed(r)))
            .cloned()
            .collect()
    };
    let listed = |key: &str| changes[key].as_array().cloned().unwrap_or_else(|| panic!("{key}: {changes}"));
    assert_eq!(listed("connections"), new_rows("connected"), "connections since the last report");
    assert_eq!(listed("denied_attempts"), new_rows("denied"), "denied attempts since the last report");
    assert_eq!(listed("connections").len() as u64, after.connections - before.connections);
    assert_eq!(listed("denied_attempts").len() as u64, after.denied - before.denied);
    let changed: BTreeSet<(String, String)> =
        before.fields.symmetric_difference(&after.fields).map(|(e, p, _)| (e.clone(), p.clone())).collect();
    let reported: BTreeSet<(String, String)> = changes["fields_changed"]
        .as_array()
        .expect("fields_changed")
        .iter()
        .map(|f| (f["event_name"].to_string(), f["path"].to_string()))
        .collect();
    assert_eq!(reported, changed, "fields whose class or varies_with changed");
    // Endpoints' lives: what `after` has of each that `before` had not.
    let none = (Value::Null, Value::Null, serde_json::json!([]));
    let lives = |changed: &dyn Fn(&Life, &Life) -> bool| {
        after
            .lives
            .iter()
            .filter(|(id, life)| changed(before.lives.get(*id).unwrap_or(&none), life))
            .map(|(id, _)| id.clone())
            .collect::<BTreeSet<String>>()
    };
    assert_eq!(strings(&changes["endpoints_created"]), lives(&|was, is| !is.0.is_null() && was.0 != is.0));
    assert_eq!(strings(&changes["endpoints_deleted"]), lives(&|was, is| !is.1.is_null() && was.1 != is.1));
    let modified = lives(&|was, is| {
        let known = was.2.as_array().expect("modifications");
        is.2.as_array().expect("modifications").iter().any(|m| !known.contains(m))
    });
    assert_eq!(strings(&changes["endpoints_modified"]), modified);
}

/// Copies a state folder (to run each format against the same state).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read state") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// One step of the sequence: every format with --state (each against a copy of the state as it
/// was) equals the run without; returns the JSON run's `state` and `changes`.
fn step(source: &str, state: &Path, scratch: &Path, env: &[(&str, String)]) -> Value {
    for format in &FORMATS[1..] {
        let copy = scratch.join(format!("state-{format}"));
        let _ = std::fs::remove_dir_all(&copy);
        if state.exists() {
            copy_dir(state, &copy);
        }
        let (rest, _) = split(format, &report(format, source, Some(&copy), env));
        let full = report(format, source, None, env);
        assert!(
            rest == full,
            "{format}: differs from a run without --state:\n{}",
            common::golden::diff(&full, &rest)
        );
    }
    let (rest, blocks) = split("json", &report("json", source, Some(state), env));
    assert!(
        rest == normalized_json(&report("json", source, None, env)),
        "json differs from a run without --state"
    );
    blocks.expect("the JSON blocks")
}

#[test]
fn a_daily_sequence_reads_only_new_objects_and_reports_as_a_full_run_on_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();

    let logs = stage(&archive, 1);
    let first = step(&source, &state, dir.path(), &[]);
    assert!(first["changes"].is_null(), "no changes on the first run: {first}");
    assert_eq!(first["state"]["objects_from_state"], 0);
    let failed_first = failures(&source);
    assert_eq!(first["state"]["objects_read_now"].as_u64(), Some((logs - failed_first) as u64));
    let before = facts(&source, &[]);

    let new_logs = stage(&archive, 2);
    let second = step(&source, &state, dir.path(), &[]);
    let failed_second = failures(&source);
    assert_eq!(second["state"]["objects_from_state"].as_u64(), Some(logs as u64), "{second}");
    assert_eq!(
        second["state"]["objects_read_now"].as_u64(),
        Some((new_logs - (failed_second - failed_first)) as u64),
        "exactly the new objects, the first day's late ones included"
    );
    let after = facts(&source, &[]);
    assert_changes(&second["changes"], &before, &after);
    let new_endpoints = strings(&second["changes"]["new_endpoints"]);
    assert!(new_endpoints.contains(NEW_ENDPOINT), "{new_endpoints:?}");
    assert!(strings(&second["changes"]["new_principals"]).contains(NEW_PRINCIPAL));
    assert!(strings(&second["changes"]["new_instances"]).contains(NEW_ADDRESS));
    // The second day creates and modifies endpoints (the generator's lifecycle scenario; its
    // deletions are on the first day, and in the third day's folder, which is not staged).
    for what in ["endpoints_created", "endpoints_modified"] {
        assert!(!strings(&second["changes"][what]).is_empty(), "{what}: {second}");
    }
    assert!(
        strings(&second["changes"]["new_findings"]).len() >= 4,
        "the injected findings are on the second day: {second}"
    );

    let third = step(&source, &state, dir.path(), &[]);
    assert_eq!(third["state"]["objects_read_now"], 0, "nothing new: nothing read");
    assert_eq!(third["state"]["objects_from_state"].as_u64(), Some((logs + new_logs) as u64));
    assert_changes(&third["changes"], &after, &after);
}

fn failures(source: &str) -> usize {
    let report: Value = serde_json::from_slice(&report("json", source, None, &[])).expect("JSON");
    report["failures"].as_array().expect("failures").len()
}

/// Garage with a bucket `trail`, behind the proxy that counts every request, and the environment
/// that sends trailscope through the proxy.
fn counted_garage() -> (Garage, Arc<common::proxy::Requests>, Vec<(&'static str, String)>) {
    let garage = Garage::start();
    garage.create_bucket("trail");
    let (endpoint, requests) = common::proxy::delayed(&format!("127.0.0.1:{}", garage.port), Duration::ZERO);
    let mut env = garage.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", endpoint));
    (garage, requests, env)
}

#[test]
fn on_s3_a_daily_sequence_gets_exactly_the_new_objects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (garage, requests, env) = counted_garage();
    let state = dir.path().join("state");
    let mut logs_so_far = 0;
    let mut facts_before = None;
    for step_number in [1, 2, 3] {
        let new_logs = if step_number < 3 {
            let staged = dir.path().join(format!("step-{step_number}"));
            let logs = stage(&staged, step_number);
            garage.upload("trail", &staged);
            logs
        } else {
            0
        };
        requests.reset();
        let with_state = report("json", "s3://trail/", Some(&state), &env);
        let counted = requests.reset();
        assert_eq!(counted.gets, new_logs, "step {step_number}: GETs of exactly the new objects");
        let full = report("json", "s3://trail/", None, &env);
        let listed_full = requests.reset();
        assert_eq!(counted.listings, listed_full.listings, "step {step_number}: the same listing");
        let (rest, blocks) = split("json", &with_state);
        assert!(rest == normalized_json(&full), "step {step_number}: differs from a run without --state");
        let blocks = blocks.expect("blocks");
        assert_eq!(blocks["state"]["objects_from_state"].as_u64(), Some(logs_so_far as u64));
        let facts_now = facts("s3://trail/", &env);
        match &facts_before {
            None => assert!(blocks["changes"].is_null()),
            Some(before) => assert_changes(&blocks["changes"], before, &facts_now),
        }
        facts_before = Some(facts_now);
        logs_so_far += new_logs;
    }
}

#[test]
fn a_run_killed_part_way_leaves_the_state_whole_and_the_next_run_completes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state, first) =
        (dir.path().join("archive"), dir.path().join("state"), dir.path().join("first"));
    let source = archive.to_string_lossy().into_owned();
    stage(&archive, 1);
    report("json", &source, Some(&first), &[]);
    let new_logs = stage(&archive, 2) as u64;
    let full = normalized_json(&report("json", &source, None, &[]));
    let start = |state: &Path| {
        Command::new(env!("CARGO_BIN_EXE_trailscope"))
            .args(["report", "-q", "-f", "json", "-j", "1", "--state"])
            .arg(state)
            .arg(&source)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    // How long a whole run takes here, to kill runs from its start to its end (listing, reading,
    // writing the report, writing the state).
    copy_dir(&first, &state);
    let began = std::time::Instant::now();
    start(&state).wait().expect("a whole run");
    let whole = began.elapsed();
    for tenth in 0..=10u32 {
        std::fs::remove_dir_all(&state).expect("remove");
        copy_dir(&first, &state);
        let mut child = start(&state);
        std::thread::sleep(whole * tenth / 10);
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let (rest, blocks) = split("json", &report("json", &source, Some(&state), &[]));
        assert!(rest == full, "killed at {tenth}/10 of a run: the next run reports as a full run");
        let read_now = blocks.expect("blocks")["state"]["objects_read_now"].as_u64().expect("a count");
        // Killed before it committed, the next run reads what was new; after, nothing.
        assert!(read_now <= new_logs, "killed at {tenth}/10: {read_now} read, {new_logs} new");
        // What a killed run left behind is gone once a run completes.
        let names: BTreeSet<String> = std::fs::read_dir(&state)
            .expect("state")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "lock, manifest, one records file: {names:?}");
    }
}

/// A refused run: exit 1, no report, one line on stderr, containing `expected`.
fn refused(args: &[&str], expected: &str) {
    let out = run(args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no report");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expected), "{expected:?} in {stderr}");
}

#[test]
fn a_locked_foreign_or_damaged_state_is_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    stage(&archive, 1);
    let (source, dir_arg) = (archive.to_string_lossy().into_owned(), state.to_string_lossy().into_owned());
    report("json", &source, Some(&state), &[]);

    // Another run holds the lock.
    let lock = std::fs::File::options().write(true).open(state.join("lock")).expect("lock file");
    lock.try_lock().expect("the test takes the lock");
    refused(&["report", "--state", &dir_arg, &source], "in use by another trailscope run");
    drop(lock);

    // Other sources, other options.
    let other = dir.path().join("other");
    stage(&other, 1);
    refused(&["report", "--state", &dir_arg, other.to_str().expect("utf-8")], "made for sources");
    refused(&["report", "--state", &dir_arg, "--from", "2024-03-01", &source], "made with options");

    // Another version.
    let manifest = std::fs::read_to_string(state.join("state.json")).expect("manifest");
    let older =
        manifest.replacen(&format!("trailscope {}", env!("CARGO_PKG_VERSION")), "trailscope 0.0.1", 1);
    std::fs::write(state.join("state.json"), &older).expect("write");
    refused(&["report", "--state", &dir_arg, &source], "made by trailscope 0.0.1");

    // Damaged: the manifest, then the records file.
    std::fs::write(state.join("state.json"), &manifest[..manifest.len() / 2]).expect("write");
    refused(&["report", "--state", &dir_arg, &source], "damaged");
    std::fs::write(state.join("state.json"), &manifest).expect("write");
    let records = std::fs::read_dir(&state)
        .expect("state")
        .map(|e| e.expect("entry").path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("records-")))
        .expect("a records file");
    let mut bytes = std::fs::read(&records).expect("records");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&records, &bytes).expect("write");
    refused(&["report", "--state", &dir_arg, &source], "damaged");
    // A folder with other things in it is not taken over.
    refused(&["report", "--state", dir.path().to_str().expect("utf-8"), &source], "not a trailscope state");
    // Removing DIR rebuilds it from the archive.
    std::fs::remove_dir_all(&state).expect("remove");
    report("json", &source, Some(&state), &[]);
}

#[test]
fn the_state_is_private_whatever_the_umask() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    stage(&archive, 1);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec '{}' report -q --state '{}' '{}' >/dev/null",
            env!("CARGO_BIN_EXE_trailscope"),
            state.display(),
            archive.display()
        ))
        .output()
        .expect("sh");
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    for entry in std::fs::read_dir(&state).expect("state") {
        let path: PathBuf = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[test]
fn fail_on_change_exits_4_and_unreadable_objects_exit_3_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();
    let dir_arg = state.to_string_lossy().into_owned();
    // Day one without its unreadable objects, then the new endpoint.
    stage(&archive, 1);
    let full: Value = serde_json::from_slice(&report("json", &source, None, &[])).expect("JSON");
    for failure in full["failures"].as_array().expect("failures") {
        std::fs::remove_file(failure["object"].as_str().expect("a path")).expect("remove");
    }
    let code = |args: &[&str]| run(args, &[]).status.code();
    let args = ["report", "-q", "--fail-on-change", "--state", &dir_arg, &source];
    assert_eq!(code(&args), Some(0), "the first run has nothing to compare with");
    assert_eq!(code(&args), Some(0), "nothing changed");
    common::put(&archive, NEW_ENDPOINT_KEY, &new_endpoint_log());
    assert_eq!(code(&args), Some(4), "a new endpoint");
    assert_eq!(code(&args), Some(0), "compared with the last report, nothing changed");
    common::put(
        &archive,
        NEW_ENDPOINT_KEY.replace("newendpoint", "changed").as_str(),
        &new_endpoint_log()[..20],
    );
    let moved = NEW_ENDPOINT_KEY.replace("0420Z", "0425Z");
    let mut log = new_endpoint_log();
    log = common::gzip(
        &String::from_utf8(flate2_decode(&log))
            .expect("utf-8")
            .replace("0000000000f1", "0000000000f2")
            .into_bytes(),
    );
    common::put(&archive, &moved, &log);
    assert_eq!(code(&args), Some(3), "a new connection, and an unreadable object: 3 wins");
}

fn flate2_decode(gz: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut out).expect("gzip");
    out
}

#[test]
fn an_object_that_changed_after_it_was_read_is_read_again_and_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();
    let log = common::put(&archive, NEW_ENDPOINT_KEY, &new_endpoint_log());
    report("json", &source, Some(&state), &[]);
    // The same file, rewritten with a second record.
    let text = String::from_utf8(flate2_decode(&new_endpoint_log())).expect("utf-8");
    let record = text.trim_start_matches("{\"Records\":[").trim_end_matches("]}");
    let two = format!("{{\"Records\":[{record},{}]}}", record.replace("0000000000f1", "0000000000f3"));
    std::fs::write(&log, common::gzip(two.as_bytes())).expect("rewrite");
    let out = run(&["report", "-f", "json", "--state", state.to_str().expect("utf-8"), &source], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("changed since an earlier run read it"), "{stderr}");
    let (rest, blocks) = split("json", &out.stdout);
    assert!(rest == normalized_json(&report("json", &source, None, &[])));
    let blocks = blocks.expect("blocks");
    assert_eq!(blocks["state"]["objects_read_now"], 1);
    assert_eq!(blocks["state"]["objects_changed"].as_array().map(Vec::len), Some(1));
    let since = blocks["changes"]["connections"].as_array().expect("connections since");
    assert_eq!(since.len(), 1, "only the record added to the changed file is new: {since:?}");
}

#[test]
fn redact_applies_to_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();
    let dir_arg = state.to_string_lossy().into_owned();
    stage(&archive, 1);
    ok(run(&["report", "-q", "--redact", "--state", &dir_arg, &source], &[]), "first");
    stage(&archive, 2);
    let out =
        ok(run(&["report", "-q", "-f", "json", "--redact", "--state", &dir_arg, &source], &[]), "second");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).expect("JSON");
    let changes = &report["changes"];
    assert!(!changes["new_principals"].as_array().expect("principals").is_empty());
    for leaked in [NEW_PRINCIPAL, NEW_ADDRESS, "777788889999", "mallory"] {
        assert!(!changes.to_string().contains(leaked), "{leaked} in {changes}");
    }
}

#[test]
fn the_records_kept_are_not_bounded_by_max_object_size() {
    // Each object is below the limit, the records of all of them together are not.
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();
    stage(&archive, 1);
    let args = |state: Option<&Path>| {
        let mut args = vec![
            "report".to_owned(),
            "-q".into(),
            "-f".into(),
            "json".into(),
            "--max-object-size".into(),
            "100K".into(),
        ];
        if let Some(state) = state {
            args.extend(["--state".into(), state.to_string_lossy().into_owned()]);
        }
        args.push(source.clone());
        args
    };
    let full = ok(run(&args(None).iter().map(String::as_str).collect::<Vec<_>>(), &[]), "full").stdout;
    for _ in 0..2 {
        let with_state =
            ok(run(&args(Some(&state)).iter().map(String::as_str).collect::<Vec<_>>(), &[]), "state");
        assert!(split("json", &with_state.stdout).0 == normalized_json(&full));
    }
}

#[test]
fn connections_with_state_lists_the_rows_of_a_full_run_and_says_what_it_read_on_stderr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();
    let dir_arg = state.to_string_lossy().into_owned();
    for step in [1, 2, 3] {
        let new_logs = if step < 3 { stage(&archive, step) } else { 0 };
        let with_state = ok(run(&["connections", "-f", "csv", "--state", &dir_arg, &source], &[]), "rows");
        let full = ok(run(&["connections", "-q", "-f", "csv", &source], &[]), "rows");
        assert!(with_state.stdout == full.stdout, "step {step}: the same rows");
        let stderr = String::from_utf8_lossy(&with_state.stderr);
        let line = stderr.lines().find(|l| l.starts_with("trailscope: state: ")).expect("the state line");
        if step == 3 {
            assert!(line.starts_with("trailscope: state: 0 objects read now"), "{line}");
        } else {
            assert!(new_logs > 0 && !line.starts_with("trailscope: state: 0 objects read now"), "{line}");
        }
    }
}

/// The old day folders of [`spread`]: copies of the generated archive's first day.
const OLD_DAYS: [&str; 3] = ["/2024/02/01/", "/2024/02/10/", "/2024/02/20/"];

/// The generated archive (March 1 to 3) with its March 1 log folders copied into three February
/// days, so that with the default window (7 days before the newest, March 3) the February
/// folders are old; returns the names (relative) of the old CloudTrail day folders.
fn spread(dir: &Path) -> BTreeSet<String> {
    let root = testdata("generated/archive");
    let mut old = BTreeSet::new();
    for file in files_under(&root) {
        let relative = file.strip_prefix(&root).expect("under root").to_string_lossy().into_owned();
        let bytes = std::fs::read(&file).expect("read fixture");
        common::put(dir, &relative, &bytes);
        if relative.contains("/CloudTrail/") && relative.contains("/2024/03/01/") {
            for day in OLD_DAYS {
                let moved = relative.replace("/2024/03/01/", day);
                old.insert(moved[..moved.find(day).expect("the day") + day.len() - 1].to_owned());
                common::put(dir, &moved, &bytes);
            }
        }
    }
    old
}

/// The `-v` line saying how many day folders were listed and how many taken without listing.
fn folders_listed(stderr: &[u8]) -> (u64, u64) {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().find(|l| l.contains("day folders listed")).expect("the -v state line");
    let line = line.split(" [").next().expect("the line");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().expect("a number"))
        .collect();
    // Listed, then not listed (the elapsed time after ` [` is left out).
    (numbers[0], numbers[1])
}

fn endpoints(report: &[u8]) -> BTreeSet<String> {
    let value: Value = serde_json::from_slice(report).expect("JSON");
    value["endpoints"].as_array().expect("endpoints").iter().map(|e| e["id"].to_string()).collect()
}

#[test]
fn old_day_folders_are_not_listed_again_and_the_report_is_a_full_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();
    let old = spread(&archive);
    let state_arg = state.to_string_lossy().into_owned();
    let verbose = |extra: &[&str]| {
        let mut args = vec!["report", "-v", "-f", "json", "--state", &state_arg];
        args.extend(extra);
        args.push(&source);
        ok(run(&args, &[]), "report -v --state")
    };
    let first = verbose(&[]);
    let (listed, not_listed) = folders_listed(&first.stderr);
    assert_eq!(not_listed, 0, "a first run lists everything");
    // Every format, against copies of this state, is a full run's report.
    step(&source, &state, dir.path(), &[]);
    let second = verbose(&[]);
    assert_eq!(folders_listed(&second.stderr), (listed - old.len() as u64, old.len() as u64));
    let (rest, _) = split("json", &second.stdout);
    assert!(rest == normalized_json(&report("json", &source, None, &[])), "the same report as a full run");

    // A late file into an old folder is not seen within the window; --relist sees it.
    let late = NEW_ENDPOINT_KEY.replace("/2024/03/02/", "/2024/02/10/");
    assert!(old.iter().any(|f| late.starts_with(f.as_str())), "{late} is in an old folder");
    common::put(&archive, &late, &new_endpoint_log());
    let (missed, _) = split("json", &verbose(&[]).stdout);
    assert!(!endpoints(&missed).iter().any(|e| e.contains(NEW_ENDPOINT)), "not listed: not seen");
    let relisted = verbose(&["--relist"]);
    assert_eq!(folders_listed(&relisted.stderr).1, 0, "--relist lists every folder");
    let (rest, _) = split("json", &relisted.stdout);
    assert!(endpoints(&rest).iter().any(|e| e.contains(NEW_ENDPOINT)));
    assert!(rest == normalized_json(&report("json", &source, None, &[])), "--relist: a full run's report");
    let all = verbose(&["--relist-days", "all"]);
    assert_eq!(folders_listed(&all.stderr).1, 0, "--relist-days all lists every folder");

    // A new day is seen; the window moves with it.
    let new_day = NEW_ENDPOINT_KEY.replace("/2024/03/02/", "/2024/03/04/").replace("newendpoint", "nextday");
    common::put(&archive, &new_day, &new_endpoint_log());
    let next = verbose(&[]);
    let (rest, _) = split("json", &next.stdout);
    assert!(rest == normalized_json(&report("json", &source, None, &[])), "a new day: a full run's report");
    let (_, not_listed) = folders_listed(&next.stderr);
    assert_eq!(not_listed, old.len() as u64, "the February folders only: March is within 7 days");
    // With a window of 0 days, only the newest day folder is listed (and folders outside it).
    let narrow = verbose(&["--relist-days", "0"]);
    let (rest, _) = split("json", &narrow.stdout);
    assert!(rest == normalized_json(&report("json", &source, None, &[])), "--relist-days 0: the same report");
    assert_eq!(folders_listed(&narrow.stderr).0, 1, "only March 4's folder");
}

#[test]
fn on_s3_old_day_folders_are_not_listed_again_when_that_asks_fewer_lists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (garage, requests, env) = counted_garage();
    let staged = dir.path().join("archive");
    let old = spread(&staged);
    // One account's old folder with 8,000 more names (skipped: not logs), so that for that
    // account one flat listing takes 9 pages, more than walking to its region folders asks.
    let account = "AWSLogs/111122223333/";
    for n in 0..8000 {
        common::put(&staged, &format!("{account}CloudTrail/us-east-1/2024/02/01/filler-{n:05}.txt"), b"");
    }
    garage.upload("trail", &staged);
    // Whether a listing request can return keys of the day folder `old` (relative).
    let covers = |listed: &common::proxy::Listed, old: &str| {
        let under = format!("{old}/");
        // A delimited listing returns the keys right under its prefix only.
        let reaches = if listed.delimited {
            listed.prefix == under
        } else {
            under.starts_with(&listed.prefix) || listed.prefix.starts_with(&under)
        };
        reaches && listed.start_after.as_deref().is_none_or(|s| s < under.as_str())
    };
    let full_report = |source: &str| normalized_json(&report("json", source, None, &env));

    // The whole bucket: its day folders are small, so one flat listing asks least, and is kept.
    let (source, state) = ("s3://trail/", dir.path().join("state"));
    let _ = report("json", source, Some(&state), &env);
    requests.reset();
    let second = report("json", source, Some(&state), &env);
    let with_state = requests.reset();
    let (rest, _) = split("json", &second);
    assert!(rest == full_report(source), "the same report as a full run");
    let full = requests.reset();
    assert_eq!(with_state.gets, 0, "nothing new: no GET");
    assert_eq!(with_state.listings, full.listings, "small day folders: the flat listing");
    requests.take_prefixes();

    // One account, whose old folder is large: its old day folders are not listed again.
    let source = format!("s3://trail/{account}");
    let state = dir.path().join("state-account");
    let old: BTreeSet<String> = old.into_iter().filter(|f| f.starts_with(account)).collect();
    let _ = report("json", &source, Some(&state), &env);
    requests.reset();
    requests.take_prefixes();
    let second = report("json", &source, Some(&state), &env);
    let with_state = requests.reset();
    let listings = requests.take_prefixes();
    assert_eq!(with_state.gets, 0, "nothing new: no GET");
    for old in &old {
        assert!(!listings.iter().any(|l| covers(l, old)), "{old} listed again: {listings:?}");
    }
    let recent = format!("{account}CloudTrail/us-east-1/2024/03/01");
    assert!(listings.iter().any(|l| covers(l, &recent)), "{recent} is listed: {listings:?}");
    let (rest, _) = split("json", &second);
    let full = full_report(&source);
    assert!(rest == full, "the same report as a full run:\n{}", common::golden::diff(&full, &rest));
    let flat = requests.reset();
    assert!(
        with_state.listings < flat.listings,
        "{} LISTs, {} without --state",
        with_state.listings,
        flat.listings
    );

    // A late file into an old folder: not seen, then seen with --relist (which lists the whole
    // prefix again, and GETs only that file).
    let late = format!("{account}CloudTrail/us-east-1/2024/02/10/111122223333_CloudTrail_us-east-1_20240210T0420Z_late.json.gz");
    let late_dir = dir.path().join("late");
    common::put(&late_dir, &late, &new_endpoint_log());
    garage.upload("trail", &late_dir);
    requests.reset();
    let (missed, _) = split("json", &report("json", &source, Some(&state), &env));
    assert_eq!(requests.reset().gets, 0);
    assert!(!endpoints(&missed).iter().any(|e| e.contains(NEW_ENDPOINT)));
    requests.take_prefixes();
    let state_arg = state.to_string_lossy().into_owned();
    let relisted = ok(
        run(&["report", "-q", "-f", "json", "--state", &state_arg, "--relist", &source], &env),
        "--relist",
    );
    assert_eq!(requests.reset().gets, 1, "--relist GETs the late file only");
    let listings = requests.take_prefixes();
    assert!(listings.iter().all(|l| l.prefix == account && !l.delimited), "--relist: one flat listing");
    let (rest, _) = split("json", &relisted.stdout);
    assert!(endpoints(&rest).iter().any(|e| e.contains(NEW_ENDPOINT)));
    assert!(rest == full_report(&source), "--relist: a full run's report");
}

/// The "Since the last report" section of a report in `format` (text, Markdown or HTML).
fn since_section(format: &str, report: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(report.to_vec()).expect("UTF-8");
    let (first, next) = match format {
        "html" => ("<section id=\"since-last-report\">", "</section>"),
        "markdown" => ("## Since the last report", "## Summary"),
        _ => ("Since the last report", "Summary"),
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let a = lines.iter().position(|l| l.starts_with(first)).expect("the section");
    let b = a + lines[a..].iter().position(|l| l.starts_with(next)).expect("its end");
    lines[a..if format == "html" { b + 1 } else { b }].concat().into_bytes()
}

#[test]
fn the_since_last_report_section_matches_the_golden_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, state) = (dir.path().join("archive"), dir.path().join("state"));
    let source = archive.to_string_lossy().into_owned();
    stage(&archive, 1);
    report("json", &source, Some(&state), &[]);
    stage(&archive, 2);
    for (format, extension) in [("text", "txt"), ("markdown", "md"), ("html", "html")] {
        let copy = dir.path().join(format!("state-{format}"));
        copy_dir(&state, &copy);
        let section = since_section(format, &report(format, &source, Some(&copy), &[]));
        let golden = common::root().join(format!("tests/golden/since-last-report.{extension}"));
        common::golden::assert_golden(&golden, &section);
    }
    // With --all, every row: one line per tunnel since the last report, and no "And N more".
    let mut args = vec!["report", "-q", "--all", "--state"];
    let copy = dir.path().join("state-all");
    copy_dir(&state, &copy);
    let copy_arg = copy.to_string_lossy().into_owned();
    args.extend([copy_arg.as_str(), source.as_str()]);
    let section =
        String::from_utf8(since_section("text", &ok(run(&args, &[]), "--all").stdout)).expect("UTF-8");
    let rows = section.lines().filter(|l| l.contains(" connected ") || l.contains(" denied (")).count();
    assert_eq!(rows, 89 + 13, "{section}");
    assert!(!section.contains("more (all of them"), "{section}");
}
