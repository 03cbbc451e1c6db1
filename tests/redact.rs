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
