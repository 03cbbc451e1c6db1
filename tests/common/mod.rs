//! Shared helpers for the integration tests: run the real binary, read its JSON report, and
//! build small archives in temporary folders.

#![allow(dead_code)] // each test file uses its own subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod cloudtrail;
pub mod garage;
pub mod golden;
pub mod proxy;
pub mod s3_layer;

#[allow(unused_imports)] // used by some test files, not all
pub use garage::files_under;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;

/// The repository root, where `testdata/` lives.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(path: &str) -> PathBuf {
    root().join("testdata").join(path)
}

/// Runs `trailscope` with `args` and no AWS or terminal surprises.
pub fn trailscope<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_trailscope"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the trailscope binary runs")
}

/// `trailscope report --format json SOURCE... EXTRA...`: exit code and parsed report.
pub fn report_json(sources: &[&Path], extra: &[&str]) -> (i32, Value, String) {
    let mut args: Vec<std::ffi::OsString> = vec!["report".into(), "--format".into(), "json".into()];
    args.extend(extra.iter().map(Into::into));
    args.extend(sources.iter().map(|p| p.as_os_str().to_owned()));
    let out = trailscope(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is a JSON report ({e}); stderr: {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("write to Vec");
    encoder.finish().expect("finish to Vec")
}

/// Writes `bytes` at `dir/relative`, creating folders.
pub fn put(dir: &Path, relative: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folders");
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

/// The `fields` entries of a report as (event name, path) -> class.
pub fn classes(report: &Value) -> std::collections::BTreeMap<(String, String), String> {
    report["fields"]
        .as_array()
        .expect("fields array")
        .iter()
        .map(|f| {
            let key = (
                f["event_name"].as_str().expect("name").to_owned(),
                f["path"].as_str().expect("path").to_owned(),
            );
            (key, f["class"].as_str().expect("class").to_owned())
        })
        .collect()
}

/// The `failures` of a report as (object, error) pairs, in report order.
pub fn failures(report: &Value) -> Vec<(&str, &str)> {
    report["failures"]
        .as_array()
        .expect("failures array")
        .iter()
        .map(|f| (f["object"].as_str().expect("object"), f["error"].as_str().expect("error")))
        .collect()
}

/// A folder of exports named `*.log`, as Elastic's CloudTrail test files are
/// (`x-pack/filebeat/module/aws/cloudtrail/test/*.log` in elastic/beats: one record a line): the
/// seed's four records in two files, one a record a line and one a log file body, beside a
/// README that is not a log. Returns the folder.
pub fn log_named_exports() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let seed: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("seed/records/records.json")).expect("the seed's records"),
    )
    .expect("JSON");
    let records = seed["Records"].as_array().expect("Records");
    let (first, second) = records.split_at(2);
    let log = |records: &[Value]| serde_json::json!({ "Records": records });
    let lines: String = first.iter().map(|record| format!("{record}\n")).collect();
    put(dir.path(), "cloudtrail/first-endpoint.log", lines.as_bytes());
    put(
        dir.path(),
        "cloudtrail/second-endpoint.log",
        &serde_json::to_vec_pretty(&log(second)).expect("JSON"),
    );
    put(dir.path(), "cloudtrail/README.md", b"Test files for the CloudTrail module.\n");
    dir
}
