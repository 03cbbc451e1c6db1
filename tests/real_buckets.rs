//! Real buckets as AWS serves them: the bucket's region, archived and KMS-encrypted objects,
//! throttling, failure storms, requester pays, and a network that breaks connections. Garage keeps the objects; the S3 behaviour
//! layer in front of it (`common::s3_layer`) answers what AWS answers and Garage does not. The
//! runs reach the layer as they would reach AWS: through `TRAILSCOPE_TEST_AWS_S3_ENDPOINT`, the
//! tests' stand-in for AWS's S3 endpoints, so regions are looked up and signed for as on AWS
//! (`--endpoint-url` would mean an S3-compatible server, where nothing is looked up).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::garage::Garage;
use common::s3_layer::{Bucket, Cuts, Layer};
use serde_json::Value;
use trailscope::synth::{self, Spec, Truth};

const KMS_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// `trailscope ARGS` against the layer as AWS, with `region` as the profile's region.
fn run(layer: &Layer, garage: &Garage, region: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(args);
    for (key, value) in garage.env() {
        command.env(key, value);
    }
    command
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", region)
        .env("TRAILSCOPE_TEST_AWS_S3_ENDPOINT", &layer.endpoint);
    command.output().expect("trailscope runs")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("a JSON report ({e}); stderr: {}", String::from_utf8_lossy(&output.stderr))
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A small generated archive without anything unreadable, and its ground truth.
fn generated(dir: &Path, objects: u64) -> (PathBuf, Truth) {
    let spec = Spec {
        objects,
        records: objects * 8,
        connections: 4,
        extras: false,
        digests: false,
        ..Spec::testdata()
    };
    let truth = synth::generate(&spec, dir).expect("generate");
    (dir.join("archive"), truth)
}

/// Every file under `root`, as keys (`/`-separated, relative).
fn keys(root: &Path) -> Vec<String> {
    let mut keys: Vec<String> = common::files_under(root)
        .iter()
        .map(|p| p.strip_prefix(root).expect("inside").to_string_lossy().replace('\\', "/"))
        .collect();
    keys.sort();
    keys
}

fn bucket(garage: &Garage) -> Bucket {
    Bucket {
        region: garage.region.clone(),
        upstream: format!("127.0.0.1:{}", garage.port),
        ..Bucket::default()
    }
}

fn value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("serializes")
}

/// The parts of a report the ground truth covers.
fn assert_matches_truth(report: &Value, truth: &Truth) {
    let mut summary = report["summary"].clone();
    summary["requests_throttled"] = Value::from(0);
    summary["requests_retried"] = Value::from(0);
    assert_eq!(summary, value(&truth.summary));
    assert_eq!(report["endpoints"], value(&truth.endpoints));
    assert_eq!(report["direct"], value(&truth.direct));
    assert_eq!(report["event_names"], value(&truth.event_names));
}

#[test]
fn buckets_in_other_regions_are_found_once_each_and_read_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, truth) = generated(dir.path(), 40);
    // The archive split across two buckets by account folder: one in us-east-1 (the central
    // log archive), one in ap-southeast-2; the caller's profile says eu-west-1.
    let (east_dir, south_dir) = (dir.path().join("east"), dir.path().join("south"));
    let mut accounts: Vec<PathBuf> = std::fs::read_dir(archive.join("AWSLogs"))
        .expect("AWSLogs")
        .map(|e| e.expect("entry").path())
        .collect();
    accounts.sort();
    assert!(accounts.len() >= 2, "{accounts:?}");
    for (i, account) in accounts.iter().enumerate() {
        let target = if i % 2 == 0 { &east_dir } else { &south_dir };
        for key in keys(account) {
            let to = target.join("AWSLogs").join(account.file_name().expect("name")).join(&key);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::copy(account.join(&key), to).expect("copy");
        }
    }
    let east = Garage::start_in("us-east-1");
    east.create_bucket("org-trail-archive");
    east.upload("org-trail-archive", &east_dir);
    let south = Garage::start_in("ap-southeast-2");
    south.create_bucket("sydney-trails");
    south.upload("sydney-trails", &south_dir);
    // One answers a request of another region with S3's 301, the other with its 400.
    let sydney = Bucket { malformed_for_other_regions: true, ..bucket(&south) };
    let layer = Layer::start(BTreeMap::from([
        ("org-trail-archive".to_owned(), bucket(&east)),
        ("sydney-trails".to_owned(), sydney),
    ]));

    let output = run(
        &layer,
        &east,
        "eu-west-1",
        &["report", "-v", "-f", "json", "s3://org-trail-archive/AWSLogs/", "s3://sydney-trails/"],
    );
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert_matches_truth(&json(&output), &truth);
    assert!(
        said.contains("s3://org-trail-archive/: region us-east-1 (from HeadBucket's x-amz-bucket-region)"),
        "{said}"
    );
    assert!(
        said.contains("s3://sydney-trails/: region ap-southeast-2 (from HeadBucket's x-amz-bucket-region)"),
        "{said}"
    );
    let seen = layer.seen();
    let heads: Vec<_> = seen.iter().filter(|s| s.method == "HEAD").collect();
    assert_eq!(heads.len(), 2, "one HeadBucket per bucket: {heads:?}");
    assert!(heads.iter().all(|h| h.region == "eu-west-1"), "asked in the profile's region: {heads:?}");
    let status = |bucket: &str| heads.iter().find(|h| h.bucket == bucket).map(|h| h.status);
    assert_eq!((status("org-trail-archive"), status("sydney-trails")), (Some(301), Some(400)));
    let others: Vec<_> = seen.iter().filter(|s| s.method != "HEAD").collect();
    assert!(others.iter().all(|s| s.status == 200), "nothing else redirected or refused");
    assert!(
        others.iter().all(|s| s.region == if s.bucket == "org-trail-archive" { "us-east-1" } else { "ap-southeast-2" }),
        "every other request signed for its bucket's region"
    );

    // --bucket-region is an override: nothing is looked up, and S3's redirect is the answer.
    let forced = run(
        &layer,
        &east,
        "eu-west-1",
        &["report", "--bucket-region", "eu-west-1", "s3://org-trail-archive/"],
    );
    assert_eq!(forced.status.code(), Some(1));
    let said = stderr(&forced);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("s3://org-trail-archive/") && said.contains("PermanentRedirect"), "{said}");
    let heads = layer.seen().iter().filter(|s| s.method == "HEAD").count();
    assert_eq!(heads, 2, "no HeadBucket with --bucket-region");
    let right = run(
        &layer,
        &east,
        "eu-west-1",
        &["report", "-f", "json", "--bucket-region", "us-east-1", "s3://org-trail-archive/"],
    );
    assert_eq!(right.status.code(), Some(0), "{}", stderr(&right));

    // An S3-compatible server (--endpoint-url): one place for every bucket, nothing looked up.
    let before = layer.seen().len();
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(["report", "-f", "json", "--endpoint-url", &layer.endpoint, "s3://org-trail-archive/"]);
    for (key, value) in east.env() {
        command.env(key, value);
    }
    let compatible = command.env_remove("AWS_ENDPOINT_URL").output().expect("runs");
    assert_eq!(compatible.status.code(), Some(0), "{}", stderr(&compatible));
    assert!(
        layer.seen()[before..].iter().all(|s| s.method != "HEAD"),
        "no region lookup with --endpoint-url"
    );
}

#[test]
fn archived_objects_are_never_fetched_counted_apart_and_listed_for_restoring() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, _) = generated(dir.path(), 48);
    let all = keys(&archive);
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("trails");
    garage.upload("trails", &archive);
    let mut trails = bucket(&garage);
    // A lifecycle rule's result: some keys in Glacier Flexible Retrieval, some in Deep Archive,
    // some Intelligent-Tiering objects in an archive tier (known only by GetObject's answer),
    // and one in Glacier Instant Retrieval, which reads as usual.
    for (i, key) in all.iter().enumerate() {
        match i % 8 {
            1 => drop(trails.classes.insert(key.clone(), "GLACIER".into())),
            2 => drop(trails.classes.insert(key.clone(), "DEEP_ARCHIVE".into())),
            3 if i % 16 == 3 => drop(trails.tiers.insert(key.clone(), "ARCHIVE_ACCESS".into())),
            4 => drop(trails.classes.insert(key.clone(), "GLACIER_IR".into())),
            _ => {}
        }
    }
    let listed_archived: Vec<&String> =
        trails.classes.iter().filter(|(_, c)| *c != "GLACIER_IR").map(|(k, _)| k).collect();
    let mut archived: Vec<&String> = listed_archived.iter().copied().chain(trails.tiers.keys()).collect();
    archived.sort();
    assert!(listed_archived.len() >= 8 && !trails.tiers.is_empty());
    let layer = Layer::start(BTreeMap::from([("trails".to_owned(), trails.clone())]));

    let manifest = dir.path().join("restore.csv");
    let output = run(
        &layer,
        &garage,
        "us-east-1",
        &["report", "-f", "json", "--restore-manifest", manifest.to_str().expect("UTF-8"), "s3://trails/"],
    );
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "archived objects make the run incomplete: {said}");
    let report = json(&output);

    // The readable part is exactly what a local run over the same files without the archived
    // ones gives.
    let readable = dir.path().join("readable");
    for key in all.iter().filter(|k| !archived.contains(k)) {
        std::fs::create_dir_all(readable.join(key).parent().expect("parent")).expect("mkdir");
        std::fs::copy(archive.join(key), readable.join(key)).expect("copy");
    }
    let (_, local, _) = common::report_json(&[&readable], &[]);
    for part in ["endpoints", "direct", "event_names", "fields", "other_events"] {
        assert_eq!(report[part], local[part], "{part}");
    }
    let summary = &report["summary"];
    assert_eq!(summary["records"], local["summary"]["records"]);
    assert_eq!(summary["instance_connect_events"], local["summary"]["instance_connect_events"]);
    assert_eq!(summary["objects_read"].as_u64(), Some((all.len() - archived.len()) as u64));
    assert_eq!(summary["objects_failed"], 0, "archived is not unreadable");
    assert_eq!(summary["objects_archived"].as_u64(), Some(archived.len() as u64));
    let by_class = &summary["archived_by_storage_class"];
    assert_eq!(
        by_class["GLACIER"].as_u64(),
        Some(trails.classes.values().filter(|c| *c == "GLACIER").count() as u64)
    );
    assert_eq!(
        by_class["DEEP_ARCHIVE"].as_u64(),
        Some(trails.classes.values().filter(|c| *c == "DEEP_ARCHIVE").count() as u64)
    );
    assert_eq!(by_class["INTELLIGENT_TIERING/ARCHIVE_ACCESS"].as_u64(), Some(trails.tiers.len() as u64));
    let names: Vec<&str> = report["archived"]
        .as_array()
        .expect("archived")
        .iter()
        .filter_map(|a| a["object"].as_str())
        .collect();
    assert_eq!(names, archived.iter().map(|k| format!("s3://trails/{k}")).collect::<Vec<_>>());

    // Zero GETs of what the listing said is archived; one (refused) of an archive tier's.
    for key in &listed_archived {
        assert_eq!(layer.gets_of(key), 0, "{key} was fetched");
    }
    for key in trails.tiers.keys() {
        assert_eq!(layer.gets_of(key), 1, "{key}");
    }

    // The manifest: exactly the archived objects, as S3 Batch Operations takes them.
    let written = std::fs::read_to_string(&manifest).expect("manifest written");
    let expected: String = archived.iter().map(|k| format!("trails,{k}\n")).collect();
    assert_eq!(written, expected);
    assert_eq!(said.lines().count(), 1, "one line about them: {said}");
    assert!(said.contains(&format!("{} objects in archive storage classes", archived.len())), "{said}");
    assert!(said.contains(&format!("restore them with the manifest {}", manifest.display())), "{said}");

    // The human report: a line in the summary and a section.
    let text = run(&layer, &garage, "us-east-1", &["report", "-q", "s3://trails/"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("{} archived:", archived.len())), "{text}");
    assert!(
        text.contains("Archived (not read)")
            && text.contains(&format!("Archived objects ({})", archived.len())),
        "{text}"
    );
}

/// A bucket of `readable` copies of one small log object, then `denied` more whose GETs S3
/// refuses for want of kms:Decrypt.
fn kms_bucket(dir: &Path, readable: usize, denied: usize) -> (Garage, Bucket, Vec<String>) {
    let seed = common::testdata("seed/s3/AWSLogs/123456789012/CloudTrail/ap-northeast-1/2023/09/21");
    let object =
        std::fs::read_dir(&seed).expect("seed").map(|e| e.expect("entry").path()).min().expect("an object");
    let folder = "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2023/09/21";
    let root = dir.join("bucket");
    std::fs::create_dir_all(root.join(folder)).expect("mkdir");
    let mut denied_keys = Vec::new();
    for i in 0..readable + denied {
        // Readable ones sort first: they are what the run reads before the storm.
        let name = if i < readable { format!("a-{i:05}.json.gz") } else { format!("b-{i:05}.json.gz") };
        std::fs::copy(&object, root.join(folder).join(&name)).expect("copy");
        if i >= readable {
            denied_keys.push(format!("{folder}/{name}"));
        }
    }
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("encrypted");
    garage.upload("encrypted", &root);
    let mut bucket = bucket(&garage);
    bucket.kms_denied = denied_keys.iter().map(|k| (k.clone(), KMS_KEY.to_owned())).collect();
    (garage, bucket, denied_keys)
}

#[test]
fn a_storm_of_refusals_after_objects_were_read_is_grouped_and_every_failure_kept_in_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (garage, bucket, denied) = kms_bucket(dir.path(), 40, 2_000);
    let layer = Layer::start(BTreeMap::from([("encrypted".to_owned(), bucket)]));
    let output = run(
        &layer,
        &garage,
        "us-east-1",
        &["report", "-f", "json", "--s3-concurrency", "4", "s3://encrypted/"],
    );
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{said}");
    let report = json(&output);
    assert_eq!(report["summary"]["objects_read"], 40, "the run went on");
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(2_000), "JSON keeps every failure");
    assert_eq!(report["failure_reasons"], serde_json::json!({"cannot download: AccessDenied": 2000}));
    assert_eq!(said.lines().count(), 1, "one line for the reason: {said}");
    let first = format!("s3://encrypted/{}", denied[0]);
    assert!(
        said.starts_with("trailscope: warning: 2,000 objects: cannot download: AccessDenied: ")
            && said.contains(&first)
            && said.trim_end().ends_with("and 1,997 more"),
        "{said}"
    );
    let text =
        run(&layer, &garage, "us-east-1", &["report", "-q", "--s3-concurrency", "4", "s3://encrypted/"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Unreadable objects (2000)") && text.contains("cannot download: AccessDenied"),
        "{text}"
    );
    assert!(text.lines().count() < 200, "the table is one row per reason, not per object");
}

#[test]
fn the_same_access_error_from_the_first_objects_stops_the_run_early_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (garage, bucket, _) = kms_bucket(dir.path(), 0, 2_000);
    let layer = Layer::start(BTreeMap::from([("encrypted".to_owned(), bucket)]));
    let output = run(&layer, &garage, "us-east-1", &["report", "--s3-concurrency", "8", "s3://encrypted/"]);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(output.stdout.is_empty(), "no report of nothing");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("stopped early")
            && said.contains(&format!("missing permission kms:Decrypt on KMS key {KMS_KEY}")),
        "{said}"
    );
    let gets = layer.gets();
    assert!(gets <= 20 + 8 + 1, "{gets} GETs of 2,000 objects");

    // With --redact, the line names no account or principal.
    let redacted = run(
        &layer,
        &garage,
        "us-east-1",
        &["report", "--redact", "--s3-concurrency", "8", "s3://encrypted/"],
    );
    let said = stderr(&redacted);
    assert_eq!((redacted.status.code(), said.lines().count()), (Some(1), 1), "{said}");
    assert!(said.contains("stopped early") && said.contains("kms:Decrypt"), "{said}");
    assert!(!said.contains("111122223333") && !said.contains("Auditor"), "{said}");
}

#[test]
fn slow_down_is_retried_slower_and_counted_and_what_stays_refused_is_unreadable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, truth) = generated(dir.path(), 30);
    let all = keys(&archive);
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("busy");
    garage.upload("busy", &archive);
    let mut busy = bucket(&garage);
    busy.slow_once = all.iter().step_by(3).cloned().collect();
    let layer = Layer::start(BTreeMap::from([("busy".to_owned(), busy.clone())]));
    let output = run(
        &layer,
        &garage,
        "us-east-1",
        &["report", "-v", "-f", "json", "--s3-concurrency", "4", "s3://busy/"],
    );
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "nothing lost: {said}");
    let report = json(&output);
    assert_matches_truth(&report, &truth);
    let throttled = layer.seen().iter().filter(|s| s.status == 503).count();
    assert_eq!(throttled, busy.slow_once.len());
    assert_eq!(report["summary"]["requests_throttled"].as_u64(), Some(throttled as u64));
    assert!(
        said.contains(&format!("{throttled} S3 requests were throttled (503 SlowDown) and retried, GETs in flight lowered from 4 to ")),
        "{said}"
    );

    // Keys S3 keeps refusing: unreadable with reason SlowDown, once all attempts are spent.
    let mut stubborn = bucket(&garage);
    stubborn.slow_always = all.iter().take(2).cloned().collect();
    let layer = Layer::start(BTreeMap::from([("busy".to_owned(), stubborn.clone())]));
    let output = run(&layer, &garage, "us-east-1", &["report", "-f", "json", "s3://busy/"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["failure_reasons"], serde_json::json!({"cannot download: SlowDown": 2}));
    for key in &stubborn.slow_always {
        assert_eq!(layer.gets_of(key), 5, "{key}: every attempt");
    }
}

#[test]
fn requester_pays_buckets_are_read_with_the_header_on_every_request() {
    let archive = common::testdata("seed/s3");
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("public-trails");
    garage.upload("public-trails", &archive);
    let mut paid = bucket(&garage);
    paid.requester_pays = true;
    let layer = Layer::start(BTreeMap::from([("public-trails".to_owned(), paid)]));
    let refused = run(&layer, &garage, "eu-west-1", &["report", "s3://public-trails/"]);
    assert_eq!(refused.status.code(), Some(1), "S3 refuses who does not say they pay");
    assert!(stderr(&refused).contains("AccessDenied"), "{}", stderr(&refused));
    let before = layer.seen().len();
    let output = run(
        &layer,
        &garage,
        "eu-west-1",
        &["report", "-f", "json", "--request-payer", "requester", "s3://public-trails/"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (_, local, _) = common::report_json(&[&archive], &[]);
    assert_eq!(json(&output)["endpoints"], local["endpoints"]);
    let seen = &layer.seen()[before..];
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.iter().all(|s| s.request_payer.as_deref() == Some("requester")), "{seen:?}");
}

#[test]
fn failures_of_a_local_folder_are_grouped_by_reason_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seed = common::testdata("seed/s3");
    for key in keys(&seed) {
        std::fs::create_dir_all(dir.path().join(&key).parent().expect("parent")).expect("mkdir");
        std::fs::copy(seed.join(&key), dir.path().join(&key)).expect("copy");
    }
    for i in 0..1_500 {
        std::fs::write(dir.path().join(format!("empty-{i:04}.json.gz")), b"").expect("write");
    }
    std::fs::write(dir.path().join("cut.json"), b"{\"Records\": [").expect("write");
    let output = common::trailscope([std::ffi::OsStr::new("report"), dir.path().as_os_str()]);
    assert_eq!(output.status.code(), Some(3));
    let said = stderr(&output);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 2, "{said}");
    assert!(
        lines[0].contains("cut.json: invalid JSON"),
        "few of a reason: each with its whole error: {said}"
    );
    let first = dir.path().join("empty-0000.json.gz");
    assert_eq!(
        lines[1],
        format!(
            "trailscope: warning: 1,500 objects: empty object: {}, {}, {} and 1,497 more",
            first.display(),
            dir.path().join("empty-0001.json.gz").display(),
            dir.path().join("empty-0002.json.gz").display()
        )
    );
    let (_, report, _) = common::report_json(&[dir.path()], &[]);
    assert_eq!(report["failure_reasons"], serde_json::json!({"empty object": 1500, "invalid JSON": 1}));
}

/// The same local run of `files` (keys under `archive`), to compare an S3 run's readable part with.
fn local_report_of(archive: &Path, files: &[&String], dir: &Path) -> Value {
    let _ = std::fs::remove_dir_all(dir);
    for key in files {
        std::fs::create_dir_all(dir.join(key).parent().expect("parent")).expect("mkdir");
        std::fs::copy(archive.join(key), dir.join(key)).expect("copy");
    }
    let (_, local, _) = common::report_json(&[dir], &[]);
    local
}

#[test]
fn a_fifth_of_connections_cut_loses_nothing_and_every_retry_is_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, truth) = generated(dir.path(), 150);
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("flaky");
    garage.upload("flaky", &archive);
    // One answer in five cut after a number of its bytes (headers or body), and the listing
    // page cut in its middle once.
    let flaky = Bucket { cuts: Some(Cuts { seed: 33, share: 5 }), cut_listings: 1, ..bucket(&garage) };
    let runs: Vec<(Value, Vec<(String, usize)>)> = (0..2)
        .map(|_| {
            let layer = Layer::start(BTreeMap::from([("flaky".to_owned(), flaky.clone())]));
            let output = run(
                &layer,
                &garage,
                "us-east-1",
                &["report", "-v", "-f", "json", "--s3-concurrency", "8", "s3://flaky/"],
            );
            let said = stderr(&output);
            assert_eq!(output.status.code(), Some(0), "nothing lost: {said}");
            let report = json(&output);
            assert_matches_truth(&report, &truth);
            let cut = layer.cut();
            let retried = report["summary"]["requests_retried"].as_u64().expect("requests_retried");
            // Every cut answer was asked for again (none was cut five times in a row), and
            // each retry is counted once, whoever made it: the SDK (a cut in the headers, or in
            // a listing) or the download (a cut in an object's body).
            assert!(cut.len() > 20, "{} of {} answers cut", cut.len(), layer.seen().len());
            assert_eq!(retried, cut.len() as u64, "{said}");
            assert_eq!(report["summary"]["requests_throttled"], 0);
            assert!(
                said.contains(&format!("{retried} S3 requests were retried after breaking off")),
                "{said}"
            );
            assert!(cut.iter().any(|s| s.listing), "a listing page was cut");
            let lists = layer.seen().iter().filter(|s| s.listing).count();
            assert_eq!(lists, 2, "the cut page was listed again, by the SDK");
            let objects: BTreeSet<&str> = cut.iter().filter(|c| !c.listing).map(|c| c.key.as_str()).collect();
            assert!(objects.len() > 10, "objects were cut: {objects:?}");
            assert!(objects.iter().all(|key| layer.gets_of(key) >= 2), "and read again");
            let mut places: Vec<(String, usize)> =
                cut.iter().map(|s| (s.key.clone(), s.cut.unwrap_or(0))).collect();
            places.sort();
            (report, places)
        })
        .collect();
    assert_eq!(runs[0].1, runs[1].1, "the same answers cut in the same places, run after run");
    assert_eq!(runs[0].0, runs[1].0, "and the same report");
}

#[test]
fn objects_cut_on_every_attempt_are_unreadable_after_five_and_the_rest_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, _) = generated(dir.path(), 60);
    let all = keys(&archive);
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("flaky");
    garage.upload("flaky", &archive);
    let logs: Vec<&String> = all.iter().filter(|k| k.contains("/CloudTrail/")).collect();
    let lost: BTreeSet<String> = [logs[3], logs[17]].into_iter().cloned().collect();
    let flaky =
        Bucket { cuts: Some(Cuts { seed: 7, share: 5 }), cut_always: lost.clone(), ..bucket(&garage) };
    let layer = Layer::start(BTreeMap::from([("flaky".to_owned(), flaky)]));
    let output = run(&layer, &garage, "us-east-1", &["report", "-f", "json", "s3://flaky/"]);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "incomplete: {said}");
    let report = json(&output);
    assert_eq!(report["failure_reasons"], serde_json::json!({"cannot download: interrupted 5 times": 2}));
    let failed: Vec<&str> = common::failures(&report).iter().map(|(object, _)| *object).collect();
    let expected: Vec<String> = lost.iter().map(|k| format!("s3://flaky/{k}")).collect();
    assert_eq!(failed, expected);
    for key in &lost {
        assert_eq!(layer.gets_of(key), 5, "{key}: five GETs in all");
    }
    let readable: Vec<&String> = all.iter().filter(|k| !lost.contains(*k)).collect();
    let local = local_report_of(&archive, &readable, &dir.path().join("readable"));
    for part in ["endpoints", "direct", "event_names", "fields", "other_events"] {
        assert_eq!(report[part], local[part], "{part}");
    }
    assert_eq!(report["summary"]["records"], local["summary"]["records"]);
    assert_eq!(report["summary"]["objects_read"], local["summary"]["objects_read"]);
    assert!(said.contains("cannot download: interrupted 5 times (the last: "), "{said}");
}

#[test]
fn a_body_that_stalls_past_the_timeout_is_abandoned_and_read_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (archive, truth) = generated(dir.path(), 20);
    let all = keys(&archive);
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("stalling");
    garage.upload("stalling", &archive);
    let stalled: BTreeMap<String, std::time::Duration> =
        all.iter().step_by(7).map(|k| (k.clone(), std::time::Duration::from_secs(4))).collect();
    let stalling = Bucket { stall_first: stalled.clone(), ..bucket(&garage) };
    let layer = Layer::start(BTreeMap::from([("stalling".to_owned(), stalling)]));
    let output =
        run(&layer, &garage, "us-east-1", &["report", "-f", "json", "--s3-timeout", "1", "s3://stalling/"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    assert_matches_truth(&report, &truth);
    assert_eq!(report["summary"]["requests_retried"].as_u64(), Some(stalled.len() as u64));
    for key in stalled.keys() {
        assert_eq!(layer.gets_of(key), 2, "{key}");
    }
}

/// A log object larger than the 8 MiB read whole: the seed's records, then enough records of
/// other services to pass it (uncompressed JSON, so its size is its bytes).
fn large_log() -> Vec<u8> {
    let seed: Value = serde_json::from_str(
        &std::fs::read_to_string(common::testdata("seed/records/records.json")).expect("the seed"),
    )
    .expect("JSON");
    let mut records = seed["Records"].as_array().expect("Records").clone();
    for i in 0..36_000 {
        records.push(serde_json::json!({
            "eventVersion": "1.08",
            "eventTime": "2023-09-21T01:30:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "ap-northeast-1",
            "sourceIPAddress": "203.0.113.7",
            "requestParameters": {"bucketName": "photos", "key": format!("2023/09/21/IMG_{i:06}.jpg")},
            "eventID": format!("00000000-0000-4000-8000-{i:012}"),
            "recipientAccountId": "123456789012",
        }));
    }
    let bytes = serde_json::to_vec(&serde_json::json!({ "Records": records })).expect("JSON");
    assert!(bytes.len() > 9 << 20, "{} bytes", bytes.len());
    bytes
}

#[test]
fn a_large_object_cut_mid_stream_resumes_where_it_stopped_and_a_changed_one_is_never_spliced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2023/09/21/123456789012_CloudTrail_ap-northeast-1_20230921T0130Z_large.json";
    let large = large_log();
    common::put(dir.path(), key, &large);
    // And a small one beside it, read whole.
    let small = "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2023/09/21/123456789012_CloudTrail_ap-northeast-1_20230921T0125Z_seed.json";
    common::put(
        dir.path(),
        small,
        &std::fs::read(common::testdata("seed/records/records.json")).expect("seed"),
    );
    let garage = Garage::start_in("us-east-1");
    garage.create_bucket("large");
    garage.upload("large", dir.path());
    let (_, local, _) = common::report_json(&[dir.path()], &[]);

    let once = Bucket { cut_first: BTreeSet::from([key.to_owned()]), ..bucket(&garage) };
    let layer = Layer::start(BTreeMap::from([("large".to_owned(), once)]));
    let output = run(&layer, &garage, "us-east-1", &["report", "-f", "json", "s3://large/"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    for part in ["endpoints", "direct", "event_names", "fields", "other_events"] {
        assert_eq!(report[part], local[part], "{part}");
    }
    assert_eq!(report["summary"]["records"], local["summary"]["records"]);
    assert_eq!(report["summary"]["records"].as_u64(), Some(36_008));
    assert_eq!(report["summary"]["requests_retried"], 1);
    let gets: Vec<_> = layer.seen().into_iter().filter(|s| s.key == key).collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!((gets[0].range.as_deref(), gets[0].if_match.as_deref(), gets[0].status), (None, None, 200));
    let cut = gets[0].cut.expect("the first answer was cut");
    // Resumed exactly after the bytes that arrived (at most those written before the cut),
    // of the same version, and answered with the rest.
    let range = gets[1].range.as_deref().expect("a Range");
    let from: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bytes=N-: {range}"));
    assert!(from > 0 && from < large.len() && from < cut, "{from} of {}, cut at {cut}", large.len());
    let etag = gets[1].if_match.as_deref().expect("If-Match");
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    assert_eq!(gets[1].status, 206);

    // The object replaced between the two reads: S3 answers 412 to If-Match, and the object is
    // unreadable, none of its records counted (never half of one version and half of another).
    let replaced = Bucket {
        cut_first: BTreeSet::from([key.to_owned()]),
        replaced: BTreeSet::from([key.to_owned()]),
        ..bucket(&garage)
    };
    let layer = Layer::start(BTreeMap::from([("large".to_owned(), replaced)]));
    let output = run(&layer, &garage, "us-east-1", &["report", "-f", "json", "s3://large/"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["failure_reasons"], serde_json::json!({"cannot download: changed while read": 1}));
    let error = common::failures(&report)[0];
    assert_eq!(error.0, format!("s3://large/{key}"));
    assert!(
        error.1.starts_with("cannot download: changed while read (its ETag is no longer \""),
        "{error:?}"
    );
    assert_eq!(report["summary"]["records"].as_u64(), Some(4), "only the small object's records");
    let gets: Vec<_> = layer.seen().into_iter().filter(|s| s.key == key).collect();
    assert_eq!(gets.iter().map(|s| s.status).collect::<Vec<_>>(), [200, 412], "never asked a third time");
}
