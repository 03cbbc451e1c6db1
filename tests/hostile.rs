//! Input built to hurt: deep nesting, huge records, link loops. Each is survived, and what can
//! be read is read.

use crate::common;

use std::fs;

use common::{gzip, put, report_json, testdata, trailscope};

const IC_RECORD: &str = r#"{"eventVersion":"1.08","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","eventTime":"2024-03-01T00:00:00Z","recipientAccountId":"111122223333","awsRegion":"us-east-1","userIdentity":{"arn":"arn:aws:iam::111122223333:user/a"},"requestParameters":{"instanceConnectEndpointId":"eice-00000000000000001"}"#;

#[test]
fn deeply_nested_json_is_unreadable_not_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let depth = 200_000;
    let nested = format!("{{\"Records\":[{}{}]}}", "[".repeat(depth), "]".repeat(depth));
    put(dir.path(), "deep.json.gz", &gzip(nested.as_bytes()));
    put(dir.path(), "good.json", format!("{{\"Records\":[{IC_RECORD}}}]}}").as_bytes());
    let (code, report, _) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 3);
    assert_eq!(report["summary"]["records"], 1);
    assert!(report["failures"][0]["object"].as_str().is_some_and(|o| o.ends_with("deep.json.gz")));
}

#[test]
fn nesting_inside_an_instance_connect_record_is_flattened_safely() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Deep, but within the parser's limit: every leaf path is still produced.
    let depth = 900;
    let value = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    put(dir.path(), "nested.json", format!("{{\"Records\":[{IC_RECORD},\"extra\":{value}}}]}}").as_bytes());
    let (code, report, stderr) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 0, "{stderr}");
    let deepest = format!("extra{}", ".a".repeat(depth));
    assert!(report["fields"].as_array().expect("fields").iter().any(|f| f["path"] == deepest.as_str()));
}

#[test]
fn a_record_of_many_megabytes_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = "x".repeat(8 << 20);
    put(
        dir.path(),
        "big.json.gz",
        &gzip(format!("{{\"Records\":[{IC_RECORD},\"blob\":\"{big}\"}}]}}").as_bytes()),
    );
    let (code, report, stderr) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["summary"]["connections"], 1);
}

#[cfg(unix)]
#[test]
fn directory_link_loops_do_not_hang_the_walk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).expect("mkdir");
    fs::copy(testdata("seed/lookup/lookup-events.json"), logs.join("export.json")).expect("copy");
    std::os::unix::fs::symlink(dir.path(), logs.join("loop")).expect("symlink to an ancestor");
    let (code, report, _) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["records"], 4, "read once, not once per lap");
    assert_eq!(report["summary"]["skipped"]["directory_links"], 1);
}

#[test]
fn strict_writes_no_report_when_anything_is_unreadable() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::copy(testdata("seed/lookup/lookup-events.json"), dir.path().join("export.json")).expect("copy");
    put(dir.path(), "broken.json.gz", b"\x1f\x8b\x08\x00broken");
    let target = dir.path().join("out").join("report.json");
    fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    fs::write(&target, "previous").expect("previous report");
    let out = trailscope([
        "report",
        "--strict",
        "-o",
        target.to_str().expect("utf-8"),
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.json.gz") && stderr.contains("--strict"), "{stderr}");
    assert_eq!(fs::read_to_string(&target).expect("kept"), "previous");
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_archive_is_reported_not_waited_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::copy(testdata("seed/lookup/lookup-events.json"), dir.path().join("export.json")).expect("copy");
    let fifo = dir.path().join("pipe.json.gz");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let (code, report, stderr) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(report["summary"]["records"], 4);
    assert_eq!(report["failures"][0]["object"], fifo.to_string_lossy().as_ref());
    assert!(report["failures"][0]["error"].as_str().is_some_and(|e| e.contains("not a regular file")));
}

/// Runs `trailscope report --format json DIR` as a user the permissions apply to: as root (CI),
/// through `setpriv` as `nobody`, since root reads everything.
#[cfg(unix)]
fn report_as_unprivileged(dir: &std::path::Path) -> (i32, serde_json::Value) {
    let uid = std::process::Command::new("id").arg("-u").output().expect("id runs");
    let mut command = if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_trailscope")]);
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_trailscope"))
    };
    let out = command.args(["report", "--format", "json", "-q"]).arg(dir).output().expect("trailscope runs");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

#[cfg(unix)]
#[test]
fn unreadable_files_and_folders_are_listed_and_the_rest_is_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let mode = |path: &std::path::Path, mode| fs::set_permissions(path, fs::Permissions::from_mode(mode));
    mode(dir.path(), 0o755).expect("chmod");
    let (readable, locked, secret) =
        (dir.path().join("ok"), dir.path().join("locked"), dir.path().join("secret.json"));
    for folder in [&readable, &locked] {
        fs::create_dir(folder).expect("mkdir");
    }
    fs::copy(testdata("seed/lookup/lookup-events.json"), readable.join("export.json")).expect("copy");
    fs::copy(testdata("seed/lookup/lookup-events.json"), &secret).expect("copy");
    mode(&readable, 0o755).expect("chmod");
    mode(&readable.join("export.json"), 0o644).expect("chmod");
    mode(&locked, 0o000).expect("chmod");
    mode(&secret, 0o000).expect("chmod");

    let (code, report) = report_as_unprivileged(dir.path());
    assert_eq!(code, 3);
    assert_eq!(report["summary"]["records"], 4, "the readable export is read whole");
    let failures = common::failures(&report);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0].0, locked.to_string_lossy());
    assert!(failures[0].1.starts_with("cannot list directory") && failures[0].1.contains("ermission denied"));
    assert_eq!(failures[1].0, secret.to_string_lossy());
    assert!(failures[1].1.starts_with("cannot read") && failures[1].1.contains("ermission denied"));
    mode(&locked, 0o755).expect("chmod back, so the temp dir can be removed");
}
