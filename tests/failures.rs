//! Unreadable objects: each is reported by name with its reason, every record of every other
//! object is still counted, and the exit status says the report is incomplete.

use crate::common;

use std::fs;

use common::{gzip, put, report_json, testdata, trailscope};

const RECORDS: &str = "seed/s3/AWSLogs/123456789012/CloudTrail/ap-northeast-1/2023/09/21";

/// A folder with the two seed objects and one object per way of being broken.
fn archive_with_broken_objects() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in fs::read_dir(testdata(RECORDS)).expect("seed objects") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        fs::copy(&path, dir.path().join("good").join(&name))
            .or_else(|_| {
                fs::create_dir_all(dir.path().join("good"))?;
                fs::copy(&path, dir.path().join("good").join(&name))
            })
            .expect("copy seed object");
    }
    let log = br#"{"Records":[{"eventVersion":"1.08","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel"}]}"#;
    let compressed = gzip(log);
    put(dir.path(), "bad/truncated.json.gz", &compressed[..compressed.len() / 2]);
    put(dir.path(), "bad/random.json.gz", &[0x42, 0x17, 0xfe, 0x00, 0x99, 0x12, 0x7f]);
    put(dir.path(), "bad/empty.json.gz", b"");
    put(dir.path(), "bad/invalid.json.gz", &gzip(&log[..40]));
    put(dir.path(), "bad/shape.json", br#"{"foo":[1,2]}"#);
    put(dir.path(), "AWSLogs/1/CloudTrail-Digest/us-east-1/digest.json.gz", &gzip(b"{}"));
    put(dir.path(), "notes.txt", b"not a log");
    dir
}

#[test]
fn broken_objects_are_listed_and_nothing_else_is_lost() {
    let dir = archive_with_broken_objects();
    let (code, report, stderr) = report_json(&[dir.path()], &[]);
    assert_eq!(code, 3, "some objects were unreadable");
    let summary = &report["summary"];
    assert_eq!(summary["objects_read"], 2);
    assert_eq!(summary["records"], 4, "every record of the good objects");
    assert_eq!(summary["connections"], 2);
    assert_eq!(summary["objects_failed"], 5);
    assert_eq!(summary["objects_skipped"], 2);
    assert_eq!(
        (summary["skipped"]["digest"].as_u64(), summary["skipped"]["other"].as_u64()),
        (Some(1), Some(1))
    );

    let failures = common::failures(&report);
    let expect = [
        ("empty.json.gz", "empty object"),
        ("invalid.json.gz", "invalid JSON"),
        ("random.json.gz", "neither gzip nor JSON"),
        ("shape.json", "neither"),
        ("truncated.json.gz", "truncated gzip"),
    ];
    assert_eq!(failures.len(), expect.len());
    for ((object, error), (name, reason)) in failures.iter().zip(expect) {
        assert!(object.ends_with(&format!("bad/{name}")), "{object}");
        assert!(error.contains(reason), "{object}: {error}");
        assert!(stderr.contains(&format!("{object}: {error}")), "warned about {object}: {stderr}");
    }
}

#[test]
fn quiet_silences_warnings_but_not_the_exit_status() {
    let dir = archive_with_broken_objects();
    let (code, report, stderr) = report_json(&[dir.path()], &["-q"]);
    assert_eq!(code, 3);
    assert_eq!(report["summary"]["objects_failed"], 5);
    assert_eq!(stderr, "");
}

#[test]
fn nothing_readable_is_fatal_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    put(dir.path(), "a.json.gz", b"garbage");
    let out = trailscope([std::ffi::OsStr::new("report"), dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no report that could look complete");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().last().is_some_and(|l| l.starts_with("trailscope: none of the 1 objects")),
        "{stderr}"
    );

    let empty = tempfile::tempdir().expect("temp dir");
    let out = trailscope([std::ffi::OsStr::new("report"), empty.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "trailscope: no CloudTrail log objects found in the given sources\n"
    );
}

#[test]
fn oversized_objects_are_unreadable_not_fatal() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("good")).expect("folder");
    for entry in fs::read_dir(testdata(RECORDS)).expect("seed objects") {
        let path = entry.expect("entry").path();
        fs::copy(&path, dir.path().join("good").join(path.file_name().expect("name"))).expect("copy");
    }
    // 4 MiB of spaces inside a valid log: tiny compressed, large inflated.
    let mut big = b"{\"Records\":[".to_vec();
    big.extend(std::iter::repeat_n(b' ', 4 << 20));
    big.extend(b"]}");
    put(dir.path(), "bomb.json.gz", &gzip(&big));
    let (code, report, _) = report_json(&[dir.path()], &["--max-object-size", "1M"]);
    assert_eq!(code, 3);
    assert_eq!(report["summary"]["records"], 4);
    let error = report["failures"][0]["error"].as_str().expect("error");
    assert!(error.contains("larger than 1048576 bytes"), "{error}");
}
