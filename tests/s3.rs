//! Reading from S3, against a real S3-compatible server (Garage) on loopback: the same answers as
//! the local run, pruning that lists less, and failures that end fast with a clear message.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::garage::Garage;
use common::proxy::{self, Proxy};
use common::testdata;
use serde_json::Value;

fn run_against(endpoint: &str, garage: &Garage, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.arg("report").args(args);
    for (key, value) in garage.env() {
        command.env(key, value);
    }
    command.env("AWS_ENDPOINT_URL", endpoint).env_remove("AWS_PROFILE");
    let output = command.output().expect("trailscope runs");
    (output, start.elapsed())
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("a JSON report ({e}); stderr: {}", String::from_utf8_lossy(&output.stderr))
    })
}

fn local_json(source: &Path, args: &[&str]) -> Value {
    let (_, report, _) = common::report_json(&[source], args);
    report
}

/// Replaces object names (`s3://bucket/key` or a local path) by their key, so reports of the
/// same files from two places compare equal.
fn without_object_prefix(mut report: Value, prefix: &str) -> Value {
    if let Some(failures) = report["failures"].as_array_mut() {
        for failure in failures {
            let object = failure["object"].as_str().unwrap_or_default();
            failure["object"] = Value::from(object.strip_prefix(prefix).unwrap_or(object));
        }
    }
    report
}

fn garage_with(bucket: &str, archive: &Path) -> Garage {
    let garage = Garage::start();
    garage.create_bucket(bucket);
    garage.upload(bucket, archive);
    garage
}

#[test]
fn s3_report_equals_the_local_report_of_the_same_files() {
    // The generated archive: several accounts, an organization trail, multi-member and
    // uncompressed objects, digests, stray files and unreadable objects.
    let archive = testdata("generated/archive");
    let garage = garage_with("trails", &archive);
    let (output, _) = run_against(&garage.endpoint, &garage, &["-f", "json", "-q", "s3://trails/"]);
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let local = without_object_prefix(local_json(&archive, &["-q"]), &format!("{}/", archive.display()));
    let remote = without_object_prefix(json(&output), "s3://trails/");
    assert_eq!(remote, local);
}

#[test]
fn pruned_listing_reads_only_the_days_asked_for_and_agrees_with_the_local_run() {
    let archive = testdata("generated/archive");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(testdata("generated/truth.json")).expect("truth.json"))
            .expect("JSON");
    let garage = garage_with("trails", &archive);
    let run = |extra: &[&str]| {
        let mut args = vec!["-f", "json", "-q"];
        args.extend(extra);
        args.push("s3://trails/AWSLogs/");
        let (output, _) = run_against(&garage.endpoint, &garage, &args);
        assert!(matches!(output.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&output.stderr));
        json(&output)
    };
    let everything = run(&[]);
    let listed_in_all = everything["summary"]["objects_listed"].as_u64().expect("listed");

    for (day, events) in truth["events_by_day"].as_object().expect("days") {
        let range = ["--from", day.as_str(), "--to", day.as_str()];
        let remote = run(&range);
        assert_eq!(remote["summary"]["instance_connect_events"], *events, "{day}: exactly its events");
        let listed = remote["summary"]["objects_listed"].as_u64().expect("listed");
        assert!(listed < listed_in_all, "{day}: listed {listed} of {listed_in_all}");
        let local = local_json(&archive.join("AWSLogs"), &[&range[..], &["-q"]].concat());
        assert_eq!(
            without_object_prefix(remote, "s3://trails/AWSLogs/"),
            without_object_prefix(local, &format!("{}/", archive.join("AWSLogs").display())),
            "{day}: S3 and local runs agree"
        );
    }

    // One account and one region: only their folders are listed.
    let narrowed = run(&["--account", "111122223333", "--region", "eu-west-1"]);
    let listed = narrowed["summary"]["objects_listed"].as_u64().expect("listed");
    assert!(listed * 4 < listed_in_all, "listed {listed} of {listed_in_all}");
    let endpoints = narrowed["endpoints"].as_array().expect("endpoints");
    assert!(!endpoints.is_empty());
    for endpoint in endpoints {
        assert_eq!(
            (endpoint["account"].as_str(), endpoint["region"].as_str()),
            (Some("111122223333"), Some("eu-west-1"))
        );
    }
    let expected: Vec<&Value> = truth["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter(|e| e["account"] == "111122223333" && e["region"] == "eu-west-1")
        .collect();
    assert_eq!(endpoints.iter().collect::<Vec<_>>(), expected);
}

#[test]
fn missing_bucket_is_fatal_and_fast() {
    let garage = Garage::start();
    let (output, took) = run_against(&garage.endpoint, &garage, &["s3://no-such-bucket/AWSLogs/"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "no report that could look complete");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("s3://no-such-bucket/AWSLogs/") && stderr.contains("NoSuchBucket"), "{stderr}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn wrong_secret_is_fatal_and_never_printed() {
    let garage = garage_with("trails", &testdata("seed/s3"));
    let wrong = "wrongsecretwrongsecretwrongsecretwrongsecret0000000000000000000";
    let start = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(["report", "s3://trails/"]);
    for (key, value) in garage.env() {
        command.env(key, value);
    }
    let output = command.env("AWS_SECRET_ACCESS_KEY", wrong).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("s3://trails/") && stderr.contains("AccessDenied"), "{stderr}");
    assert!(!stderr.contains(wrong) && !stderr.contains(common::garage::SECRET), "secrets stay secret");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn verbose_names_the_client_but_never_the_credentials() {
    let garage = garage_with("trails", &testdata("seed/s3"));
    let (output, _) = run_against(&garage.endpoint, &garage, &["-v", "-f", "json", "s3://trails/"]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("S3 client: region garage, endpoint {}", garage.endpoint)), "{stderr}");
    assert!(stderr.contains("signed requests") && stderr.contains("listed 2 objects"), "{stderr}");
    let everything = format!("{stderr}{}", String::from_utf8_lossy(&output.stdout));
    assert!(!everything.contains(common::garage::SECRET), "the secret key stays secret");
    assert!(!everything.contains(common::garage::KEY_ID), "so does the access key id");
}

#[test]
fn endpoint_down_is_fatal_and_fast() {
    let mut garage = Garage::start();
    garage.stop();
    let (output, took) = run_against(&garage.endpoint, &garage, &["s3://trails/"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("s3://trails/") && stderr.contains("Connection refused"), "{stderr}");
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn server_stopping_mid_run_ends_in_bounded_time_with_unread_objects_reported() {
    // Many small objects, so the server goes down with most of them unread.
    let dir = tempfile::tempdir().expect("temp dir");
    let seed = testdata("seed/s3/AWSLogs/123456789012/CloudTrail/ap-northeast-1/2023/09/21");
    let objects: Vec<_> = std::fs::read_dir(&seed).expect("seed").map(|e| e.expect("entry").path()).collect();
    for i in 0..40 {
        for (j, object) in objects.iter().enumerate() {
            let target = dir.path().join(format!(
                "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2023/09/21/copy{i:02}-{j}.json.gz"
            ));
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::copy(object, target).expect("copy");
        }
    }
    let garage = garage_with("trails", dir.path());
    let proxy = Proxy::start(&format!("127.0.0.1:{}", garage.port), 10);
    let (output, took) =
        run_against(&proxy.endpoint, &garage, &["-f", "json", "--s3-concurrency", "4", "s3://trails/"]);
    assert!(proxy.is_down(), "the proxy went down mid-run");
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let report = json(&output);
    let (read, failed) =
        (report["summary"]["objects_read"].as_u64(), report["summary"]["objects_failed"].as_u64());
    assert_eq!(read.zip(failed).map(|(r, f)| r + f), Some(80), "every object read or reported");
    assert!(failed.unwrap_or(0) >= 60, "{failed:?} unread");
    for failure in report["failures"].as_array().expect("failures") {
        assert!(failure["object"].as_str().is_some_and(|o| o.starts_with("s3://trails/AWSLogs/")));
        assert!(failure["error"].as_str().is_some_and(|e| e.starts_with("cannot download")), "{failure}");
    }
    assert!(took < Duration::from_secs(60), "bounded: {took:?}");
}

#[test]
fn a_server_that_never_answers_cannot_hang_the_run() {
    let garage = Garage::start();
    let (endpoint, _server) = proxy::stalled();
    let (output, took) = run_against(&endpoint, &garage, &["--s3-timeout", "1", "s3://trails/AWSLogs/"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("s3://trails/AWSLogs/") && stderr.contains("timeout"), "{stderr}");
    assert!(took < Duration::from_secs(30), "bounded by the timeout and retries: {took:?}");
}

#[test]
fn throttling_is_retried_with_backoff() {
    let archive = testdata("seed/s3");
    let garage = garage_with("trails", &archive);
    let (endpoint, throttled) = proxy::throttling(&format!("127.0.0.1:{}", garage.port), 2);
    let (output, _) =
        run_against(&endpoint, &garage, &["-f", "json", "--s3-concurrency", "1", "s3://trails/"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(throttled.load(std::sync::atomic::Ordering::SeqCst), 2, "the first requests were throttled");
    let local = without_object_prefix(local_json(&archive, &[]), &format!("{}/", archive.display()));
    let mut remote = without_object_prefix(json(&output), "s3://trails/");
    assert_eq!(remote["summary"]["requests_throttled"], 2, "counted");
    remote["summary"]["requests_throttled"] = Value::from(0);
    assert_eq!(remote, local);
}

/// What the verification tests on S3 rest on: a generated archive's digests go up with their
/// signature in the object metadata, as CloudTrail delivers them, and the `.sig` sidecars stay
/// behind.
#[test]
fn generated_digests_upload_with_their_signature_as_object_metadata() {
    use trailscope::synth::{self, Spec};
    let dir = tempfile::tempdir().expect("temp dir");
    let spec =
        Spec { objects: 12, records: 60, connections: 4, extras: false, digests: true, ..Spec::testdata() };
    let truth = synth::generate(&spec, dir.path()).expect("generate");
    let digests = truth.integrity.expect("digests written").digests as usize;
    let archive = dir.path().join("archive");
    let garage = Garage::start();
    garage.create_bucket("signed");
    let uploaded = garage.upload_with_metadata("signed", &archive, common::garage::cloudtrail_metadata);
    assert_eq!(uploaded, 12 + digests, "log objects and digests, no sidecars");

    let sidecar = common::files_under(&archive)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".json.gz.sig"))
        .expect("a sidecar");
    let signature = std::fs::read_to_string(&sidecar).expect("read sidecar");
    let key = sidecar.strip_prefix(&archive).expect("inside").to_string_lossy().replace('\\', "/");
    let key = key.strip_suffix(".sig").expect("a .sig");
    let client = garage.client();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let head = runtime
        .block_on(client.head_object().bucket("signed").key(key).send())
        .unwrap_or_else(|e| panic!("head {key}: {e:?}"));
    let metadata = head.metadata().expect("user metadata");
    assert_eq!(metadata.get("signature"), Some(&signature));
    assert_eq!(metadata.get("signature-algorithm").map(String::as_str), Some("SHA256withRSA"));
    let sidecars = runtime
        .block_on(client.list_objects_v2().bucket("signed").send())
        .expect("list")
        .contents()
        .iter()
        .filter(|o| o.key().is_some_and(|k| k.ends_with(".sig")))
        .count();
    assert_eq!(sidecars, 0);
}

#[test]
fn include_widens_the_names_read_under_a_prefix() {
    let exports = common::log_named_exports();
    let garage = garage_with("exports", exports.path());
    let (skipped, _) = run_against(&garage.endpoint, &garage, &["-f", "json", "s3://exports/cloudtrail/"]);
    assert_eq!(skipped.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert!(
        stderr.contains("3 objects were skipped by their names") && stderr.contains("--include"),
        "{stderr}"
    );
    let (read, _) = run_against(
        &garage.endpoint,
        &garage,
        &["-f", "json", "--include", "*.log", "s3://exports/cloudtrail/"],
    );
    assert_eq!(read.status.code(), Some(0), "{}", String::from_utf8_lossy(&read.stderr));
    let local = local_json(exports.path(), &["--include", "*.log"]);
    assert_eq!(json(&read), local, "the same report as the local folder's");
}
