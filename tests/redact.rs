//! `--redact`: no access key, SSH key, address, account id or principal name of the archive in
//! any output format, and the same analysis as without it.

use crate::common;

use common::{classes, report_json, testdata, trailscope};

const SECRETS: [&str; 7] = [
    "123456789012",
    "ASIAEXAMPLEKEY000001",
    "AROAEXAMPLEROLEID0001",
    "AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYONE",
    "203.0.113.10",
    "198.51.100.24",
    "username",
];

#[test]
fn no_sensitive_value_survives_in_any_format() {
    let seed = testdata("seed");
    for format in ["json", "text", "markdown", "html"] {
        let out =
            trailscope(["report", "--redact", "--all", "--format", format, seed.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(0));
        // HTML marks where a long value may wrap (`203.<wbr>0.<wbr>…`): without the marks, a
        // leaked address reads as itself.
        let report = String::from_utf8(out.stdout).expect("utf-8").replace("<wbr>", "");
        for secret in SECRETS {
            assert!(!report.contains(secret), "{format} report leaks {secret}");
        }
        assert!(report.contains("eice-0f94a1b2c3d4e5f60"), "endpoint ids are not secrets");
    }
}

#[test]
fn redaction_keeps_the_analysis() {
    let seed = testdata("seed/s3");
    let (_, plain, _) = report_json(&[&seed], &[]);
    let (_, redacted, _) = report_json(&[&seed], &["--redact"]);
    assert_eq!(classes(&plain), classes(&redacted));
    assert_eq!(plain["summary"], redacted["summary"]);
    let ssh = |report: &serde_json::Value| {
        report["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["path"] == "requestParameters.sSHPublicKey")
            .map(|f| f["values"].clone())
            .expect("the key field")
    };
    let values = ssh(&redacted);
    assert_eq!(values["eice-0307f6e5d4c3b2a10"], "ssh-key-1");
    assert_eq!(values["eice-0f94a1b2c3d4e5f60"], "ssh-key-2");
}

#[test]
fn warnings_are_redacted_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    common::put(
        dir.path(),
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/broken.json.gz",
        b"\x1f\x8b\x08",
    );
    std::fs::copy(testdata("seed/lookup/lookup-events.json"), dir.path().join("export.json")).expect("copy");
    for extra in [&["--redact"][..], &["--redact", "--strict"][..]] {
        let mut args = vec!["report"];
        args.extend(extra);
        args.push(dir.path().to_str().expect("utf-8"));
        let out = trailscope(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("broken.json.gz"), "{stderr}");
        assert!(
            !stderr.contains("123456789012")
                && !String::from_utf8_lossy(&out.stdout).contains("123456789012")
        );
    }
}

/// The generated archive (an organization trail beside account trails, unreadable objects,
/// digests) with what it lacks added: a plain second copy of one log file (duplicates), an edited
/// copy of another (a conflict, and a log file modified after delivery) and a deleted one (a
/// missing file). Returns the folder holding it.
fn archive_with_every_section() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = testdata("generated/archive");
    let trail = dir.path().join("trail");
    for file in common::files_under(&original) {
        let target = trail.join(file.strip_prefix(&original).expect("under"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
    let mut logs = common::files_under(&trail)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .filter_map(|p| Some((log_records(&p)?, p)))
        .filter(|(records, _)| {
            records.iter().any(|r| r["eventName"] == "OpenTunnel" && r["errorCode"].is_null())
        });
    let (_, edited) = logs.next().expect("a log file with a tunnel");
    let (_, copied) = logs.next().expect("another");
    let (_, deleted) = logs.next().expect("a third");
    for path in [&edited, &copied] {
        let copy = dir.path().join("copy").join(path.strip_prefix(&trail).expect("under"));
        std::fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
        std::fs::copy(path, &copy).expect("copy");
    }
    let mut log = serde_json::json!({ "Records": log_records(&edited).expect("a log") });
    let tunnel = log["Records"]
        .as_array_mut()
        .expect("records")
        .iter_mut()
        .find(|r| r["eventName"] == "OpenTunnel" && r["errorCode"].is_null())
        .expect("a tunnel");
    tunnel["requestParameters"]["privateIpAddress"] = "192.0.2.99".into();
    std::fs::write(&edited, common::gzip(&serde_json::to_vec(&log).expect("JSON"))).expect("edit");
    std::fs::remove_file(&deleted).expect("delete");
    dir
}

/// The records of a log file, `None` for what is not one (digests, the corrupt objects).
fn log_records(path: &std::path::Path) -> Option<Vec<serde_json::Value>> {
    use std::io::Read;
    let bytes = std::fs::read(path).ok()?;
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text).ok()?;
    let log: serde_json::Value = serde_json::from_str(&text).ok()?;
    log.get("Records")?.as_array().cloned()
}

/// What must not survive `--redact`, read from the archive itself: every account id in its object
/// names and records, and of the Instance Connect records (what reaches a report) the access key
/// ids, unique ids, principal names, addresses and SSH keys.
fn secrets_of(archive: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut secrets = std::collections::BTreeSet::new();
    let account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    for file in common::files_under(archive) {
        let name = file.strip_prefix(archive).expect("under").to_string_lossy().into_owned();
        secrets.extend(name.split(['/', '_']).filter(|part| account(part)).map(str::to_owned));
        for record in log_records(&file).unwrap_or_default() {
            let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
            let identity = &record["userIdentity"];
            secrets
                .extend([&record["recipientAccountId"], &identity["accountId"]].into_iter().filter_map(text));
            if record["eventSource"] != "ec2-instance-connect.amazonaws.com" {
                continue;
            }
            secrets.extend([&identity["accessKeyId"], &identity["userName"]].into_iter().filter_map(text));
            if let Some((id, session)) = identity["principalId"].as_str().and_then(|p| p.split_once(':')) {
                secrets.extend([id.to_owned(), session.to_owned()]);
            }
            if let Some(arn) = identity["arn"].as_str() {
                // `…:assumed-role/ROLE/SESSION`, `…:user/NAME`: the names after the kind.
                if let Some((_, names)) = arn.split_once('/') {
                    secrets.extend(names.split('/').map(str::to_owned));
                }
            }
            let request = &record["requestParameters"];
            for address in
                [&record["sourceIPAddress"], &request["privateIpAddress"]].into_iter().filter_map(text)
            {
                if address.parse::<std::net::IpAddr>().is_ok() {
                    secrets.insert(address);
                }
            }
            if let Some(key) = request["sSHPublicKey"].as_str().and_then(|k| k.split_whitespace().nth(1)) {
                // In pieces: a key cut short, or wrapped, must not show either.
                let key: Vec<char> = key.chars().collect();
                secrets
                    .extend(key.chunks(16).filter(|c| c.len() == 16).map(|c| c.iter().collect::<String>()));
            }
        }
    }
    secrets
}

/// Every output `--redact` makes of one archive, named: every format of `report` with every
/// section, every format of `connections`, their warnings, the `--strict` endings, and a report
/// merged from partials (and a merge refused over a broken partial).
fn redacted_outputs(archive: &std::path::Path) -> Vec<(String, String)> {
    let source = archive.to_str().expect("utf-8");
    let keys = testdata("keys/test-public-keys.json");
    let keys = keys.to_str().expect("utf-8");
    let verify = ["--verify", "--public-keys", keys];
    let mut outputs = Vec::new();
    let mut run = |name: String, args: Vec<&str>, expected: i32| {
        let out = trailscope(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(expected), "{name}: {stderr}");
        // HTML marks where a long value may wrap (`203.<wbr>0.<wbr>…`): without the marks, a
        // leaked address reads as itself.
        outputs.push((format!("{name} (stdout)"), String::from_utf8_lossy(&out.stdout).replace("<wbr>", "")));
        outputs.push((format!("{name} (stderr)"), stderr));
    };
    for format in ["json", "text", "markdown", "html"] {
        let mut args = vec!["report", "--redact", "--all", "-v", "--format", format];
        args.extend(verify);
        args.push(source);
        run(format!("report --format {format}"), args, 3);
    }
    // Without --verify too: the conflicts and failures carry object names on their own.
    run("report --format text".into(), vec!["report", "--redact", "--format", "text", source], 3);
    for format in ["table", "csv", "jsonl"] {
        let mut args = vec!["connections", "--redact", "-v", "--format", format];
        args.extend(verify);
        args.push(source);
        run(format!("connections --format {format}"), args, 3);
    }
    let mut strict = vec!["report", "--redact", "--strict", "--format", "json"];
    run("report --strict".into(), [&strict[..], &[source]].concat(), 1);
    strict.extend(verify);
    run("report --strict --verify".into(), [&strict[..], &[source]].concat(), 1);
    let partials = tempfile::tempdir().expect("temp dir");
    for shard in ["0/2", "1/2"] {
        let target = partials.path().join(format!("part-{}.jsonl.gz", &shard[..1]));
        let out = trailscope(["scan", "-q", "--shard", shard, "-o", target.to_str().expect("utf-8"), source]);
        // 3 for the shard that owns the unreadable objects.
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let merged = partials.path().to_str().expect("utf-8");
    for format in ["json", "text"] {
        run(
            format!("report PARTIAL... --format {format}"),
            vec!["report", "--redact", "-f", format, merged],
            3,
        );
    }
    let account = secrets_of(archive).into_iter().find(|s| s.len() == 12).expect("an account id");
    common::put(partials.path(), &format!("{account}_broken.jsonl.gz"), b"\x1f\x8b\x08");
    run("report PARTIAL... (refused)".into(), vec!["report", "--redact", merged], 1);
    outputs
}

#[test]
fn every_section_of_every_output_is_redacted() {
    let dir = archive_with_every_section();
    let secrets = secrets_of(dir.path());
    for kind in ["111122223333", "192.0.2.99", "alice", "EC2Admin"] {
        assert!(secrets.contains(kind), "the archive's secrets include {kind}");
    }
    let outputs = redacted_outputs(dir.path());
    // The outputs hold every section, so the test is worth something.
    let (_, json) = &outputs[0];
    let report: serde_json::Value = serde_json::from_str(json).expect("a JSON report");
    for section in
        ["conflicts", "failures", "/integrity/missing", "/integrity/modified", "/integrity/unlisted"]
    {
        let section = if section.starts_with('/') { report.pointer(section) } else { report.get(section) };
        assert!(section.and_then(|s| s.as_array()).is_some_and(|s| !s.is_empty()), "{json}");
    }
    assert!(report["summary"]["duplicate_events"].as_u64() > Some(0));
    assert!(json.contains("/o-a1b2c3d4e5/account-"), "the organization trail's objects, redacted");
    assert!(outputs.iter().any(|(name, text)| name.ends_with("(stderr)") && text.contains("modified")));
    for (name, text) in &outputs {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{name} leaks {secret}:\n{text}");
        }
    }
}
