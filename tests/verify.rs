//! `--verify`: an archive generated with real, signed digests verifies clean; tampered with in
//! six ways (a log file deleted, one edited, one added; a digest deleted, two in a row deleted,
//! one truncated) and a digest signed with another key, every change is reported
//! exactly, locally and on S3, where signatures come from object metadata and the keys from the
//! CloudTrail API.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::garage::{cloudtrail_metadata, files_under, Garage};
use common::{gzip, report_json};
use serde_json::Value;
use trailscope::synth::digest::{resign, OTHER_TEST_SIGNING_KEY, SIGNATURE_SUFFIX, TEST_PUBLIC_KEYS};
use trailscope::synth::{self, Spec};

fn keys() -> String {
    common::root().join(synth::digest::TEST_PUBLIC_KEYS_PATH).to_string_lossy().into_owned()
}

/// A small archive with digests and nothing broken: 48 log objects over six account-regions and
/// two days, 49 hourly digests each.
pub(crate) fn generate(dir: &Path) -> PathBuf {
    let spec =
        Spec { objects: 48, records: 600, connections: 5, extras: false, digests: true, ..Spec::testdata() };
    synth::generate(&spec, dir).expect("generate");
    dir.join("archive")
}

/// A digest on disk, read back.
struct DigestFile {
    path: PathBuf,
    json: Value,
}

impl DigestFile {
    fn lists_nothing(&self) -> bool {
        self.json["logFiles"].as_array().is_none_or(Vec::is_empty)
    }
}

/// The digests of each account-region (`.../ACCOUNT/CloudTrail-Digest/REGION`), oldest first.
fn digest_chains(archive: &Path) -> Vec<Vec<DigestFile>> {
    let mut chains: BTreeMap<String, Vec<DigestFile>> = BTreeMap::new();
    for path in files_under(archive) {
        let text = path.to_string_lossy().into_owned();
        if !text.contains("CloudTrail-Digest") || text.ends_with(SIGNATURE_SUFFIX) {
            continue;
        }
        let (stream, _) = text.split_once("CloudTrail-Digest/").expect("a digest folder");
        let region =
            text.split("CloudTrail-Digest/").nth(1).and_then(|r| r.split('/').next()).expect("region");
        let mut json = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).expect("digest"))
            .read_to_string(&mut json)
            .expect("gzip");
        let json = serde_json::from_str(&json).expect("digest JSON");
        chains.entry(format!("{stream}{region}")).or_default().push(DigestFile { path, json });
    }
    let mut chains: Vec<Vec<DigestFile>> = chains.into_values().collect();
    for chain in &mut chains {
        chain.sort_by(|a, b| a.path.cmp(&b.path));
    }
    chains
}

/// Log objects of the archive, sorted.
fn logs(archive: &Path) -> Vec<PathBuf> {
    files_under(archive).into_iter().filter(|p| p.to_string_lossy().contains("/CloudTrail/")).collect()
}

/// What was done to the archive, and what verification must therefore say.
pub(crate) struct Tampering {
    deleted_log: PathBuf,
    edited_log: PathBuf,
    deleted_digest: PathBuf,
    /// Two digests in a row: the earlier (only its hours can be reported) and the later (named
    /// by the digest after it).
    deleted_pair: (DigestFile, PathBuf),
    truncated_digest: PathBuf,
    added_log: PathBuf,
    resigned_digest: PathBuf,
}

/// Tampers with `archive` in one account-region per case, choosing digests that list no log file
/// so that no case spills into another's list.
pub(crate) fn tamper(archive: &Path) -> Tampering {
    let logs = logs(archive);
    let chains = digest_chains(archive);
    assert_eq!(chains.len(), 6, "six account-regions");
    let empty_in = |chain: &[DigestFile], from: usize| {
        (from..chain.len() - 2)
            .find(|&i| chain[i].lists_nothing() && chain[i + 1].lists_nothing())
            .expect("empty digests")
    };
    let stream_of = |path: &Path| {
        let text = path.to_string_lossy().into_owned();
        let account = text.split("AWSLogs/").nth(1).expect("layout").replace("o-a1b2c3d4e5/", "");
        account.split('/').next().map(str::to_owned).unwrap_or_default()
            + text.split("/CloudTrail/").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default()
    };

    // A log file deleted, another edited (one record's source address), in two account-regions.
    let deleted_log = logs[0].clone();
    let edited_log =
        logs.iter().find(|p| stream_of(p) != stream_of(&deleted_log)).expect("another stream").clone();
    std::fs::remove_file(&deleted_log).expect("delete log");
    let mut json = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&edited_log).expect("log"))
        .read_to_string(&mut json)
        .expect("gzip");
    let at = json.find("\"sourceIPAddress\":\"").expect("a source address") + "\"sourceIPAddress\":\"".len();
    json.replace_range(at..at + 1, if &json[at..at + 1] == "9" { "8" } else { "9" });
    std::fs::write(&edited_log, gzip(json.as_bytes())).expect("write edited log");

    // Digest chains 0..6: one deleted, two in a row deleted, one truncated, one re-signed.
    let mut chains = chains.into_iter();
    let (c0, c1, c2, c3) = (
        chains.next().expect("chain"),
        chains.next().expect("chain"),
        chains.next().expect("chain"),
        chains.next().expect("chain"),
    );
    let deleted_digest = c0[empty_in(&c0, 10)].path.clone();
    remove_with_sidecar(&deleted_digest);
    let i = empty_in(&c1, 10);
    let mut c1 = c1.into_iter().skip(i);
    let (first, second) = (c1.next().expect("digest"), c1.next().expect("digest"));
    remove_with_sidecar(&first.path);
    remove_with_sidecar(&second.path);
    let truncated_digest = c2[empty_in(&c2, 10)].path.clone();
    let bytes = std::fs::read(&truncated_digest).expect("digest");
    std::fs::write(&truncated_digest, &bytes[..bytes.len() / 2]).expect("truncate");
    let resigned_digest = c3[20].path.clone();
    resign(&resigned_digest, OTHER_TEST_SIGNING_KEY).expect("re-sign");

    // A log file no digest lists, in a folder of the archive, delivered in the middle of its span.
    let source = logs.last().expect("a log").clone();
    let added_log = source.with_file_name(source.file_name().expect("name").to_string_lossy().replacen(
        ".json.gz",
        "X.json.gz",
        1,
    ));
    std::fs::copy(&source, &added_log).expect("add a log");

    Tampering {
        deleted_log,
        edited_log,
        deleted_digest,
        deleted_pair: (first, second.path),
        truncated_digest,
        added_log,
        resigned_digest,
    }
}

fn remove_with_sidecar(path: &Path) {
    std::fs::remove_file(path).expect("delete digest");
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(SIGNATURE_SUFFIX);
    let _ = std::fs::remove_file(sidecar);
}

/// `object` fields of a list in the integrity report.
fn objects<'a>(integrity: &'a Value, list: &str) -> Vec<&'a str> {
    integrity[list].as_array().expect(list).iter().map(|e| e["object"].as_str().expect("object")).collect()
}

/// Checks that verification reports exactly what `tampering` did; `name` turns a local path into
/// the name the run reports (itself, or `s3://bucket/key`).
fn assert_reported_exactly(integrity: &Value, tampering: &Tampering, name: &dyn Fn(&Path) -> String) {
    assert_eq!(objects(integrity, "missing"), [name(&tampering.deleted_log)], "missing");
    assert_eq!(objects(integrity, "modified"), [name(&tampering.edited_log)], "modified");
    assert_eq!(objects(integrity, "unreadable_digests"), [name(&tampering.truncated_digest)], "unreadable");
    let unlisted = integrity["unlisted"].as_array().expect("unlisted");
    assert_eq!(unlisted.len(), 1, "{unlisted:#?}");
    assert_eq!(unlisted[0]["object"], name(&tampering.added_log).as_str());
    assert_eq!(unlisted[0]["cause"], "not_listed");
    let failures = &integrity["signatures"]["failures"];
    assert_eq!(
        failures
            .as_array()
            .expect("failures")
            .iter()
            .map(|f| f["object"].as_str().expect("o"))
            .collect::<Vec<_>>(),
        [name(&tampering.resigned_digest)],
        "signatures"
    );

    let breaks = integrity["chain_breaks"].as_array().expect("chain breaks");
    let kinds: Vec<(&str, Option<&str>)> =
        breaks.iter().map(|b| (b["kind"].as_str().expect("kind"), b["object"].as_str())).collect();
    let absent = name(&tampering.deleted_digest);
    let (first, second) = (&tampering.deleted_pair.0, name(&tampering.deleted_pair.1));
    let resigned = name(&tampering.resigned_digest);
    assert!(kinds.contains(&("previous_digest_absent", Some(absent.as_str()))), "{kinds:?}");
    assert!(kinds.contains(&("previous_digest_absent", Some(second.as_str()))), "{kinds:?}");
    assert!(kinds.contains(&("previous_signature_mismatch", Some(resigned.as_str()))), "{kinds:?}");
    // The first of two deleted in a row is named by nothing left: its hour is reported exactly.
    let gap = breaks.iter().find(|b| b["kind"] == "no_digest").expect("a span without digest");
    assert_eq!((&gap["from"], &gap["to"]), (&first.json["digestStartTime"], &first.json["digestEndTime"]));
    assert_eq!(breaks.len(), 4, "nothing else: {kinds:?}");
}

#[test]
fn an_untouched_archive_verifies_clean_and_signatures_check_with_the_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = generate(dir.path());
    let (code, report, stderr) = report_json(&[&archive], &["--verify", "--public-keys", &keys()]);
    assert_eq!(code, 0, "{stderr}");
    let integrity = &report["integrity"];
    assert_eq!(integrity["digests_read"], 294);
    assert_eq!(integrity["signatures"]["verified"], 294);
    assert_eq!(integrity["log_files_verified"], 48);
    for list in ["missing", "modified", "unlisted", "chain_breaks", "unreadable_digests"] {
        assert_eq!(integrity[list], serde_json::json!([]), "{list}");
    }
    // Without keys, a local copy is verified by hashes and chain; signatures say why unchecked.
    let (code, report, _) = report_json(&[&archive], &["--verify"]);
    assert_eq!(code, 0);
    assert_eq!(report["integrity"]["signatures"]["unchecked"], 294);
    assert!(!report["integrity"]["signatures"]["unchecked_reasons"].as_object().expect("reasons").is_empty());
    let listed = common::trailscope([
        "connections",
        "--verify",
        "--public-keys",
        &keys(),
        archive.to_str().expect("utf-8"),
    ]);
    assert_eq!(listed.status.code(), Some(0), "{}", String::from_utf8_lossy(&listed.stderr));
    // Without --verify, no digest is read.
    let (_, report, _) = report_json(&[&archive], &[]);
    assert!(report.get("integrity").is_none());
}

#[test]
fn every_tampering_is_reported_exactly_on_a_local_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = generate(dir.path());
    let tampering = tamper(&archive);
    let (code, report, stderr) = report_json(&[&archive], &["--verify", "--public-keys", &keys()]);
    assert_eq!(code, 3, "problems are exit status 3");
    assert_reported_exactly(&report["integrity"], &tampering, &|p| p.to_string_lossy().into_owned());
    // Warned on stderr, each problem on its line, as the golden file of this tampering has them
    // (written with the names relative to the archive's folder).
    let relative = |text: &str| text.replace(&format!("{}/", dir.path().display()), "");
    let golden = common::root().join("tests/golden/verify-tampered.stderr");
    common::golden::assert_golden(&golden, relative(&stderr).as_bytes());
    // The connections of the edited file still count: verification reports, it does not drop.
    assert_eq!(report["summary"]["objects_failed"], 0);
    let strict = common::trailscope([
        "report",
        "--verify",
        "--public-keys",
        &keys(),
        "--strict",
        archive.to_str().expect("utf-8"),
    ]);
    assert_eq!(strict.status.code(), Some(1), "--strict makes problems fatal");
    assert!(strict.stdout.is_empty(), "and writes no report");
    // The connections listing verifies the same way: rows, then the problems as warnings.
    let listed = common::trailscope([
        "connections",
        "--verify",
        "--public-keys",
        &keys(),
        archive.to_str().expect("utf-8"),
    ]);
    assert_eq!(listed.status.code(), Some(3));
    assert!(!listed.stdout.is_empty(), "the rows are written");
    let warnings = String::from_utf8_lossy(&listed.stderr);
    common::golden::assert_golden(&golden, relative(&warnings).as_bytes());
    assert!(warnings.contains(&*tampering.deleted_log.to_string_lossy()), "{warnings}");
}

/// A stand-in for CloudTrail's API on loopback: answers `ListPublicKeys` with the test keys and
/// counts the requests. The SDK is real; only the server is not AWS.
struct FakeCloudTrail {
    endpoint: String,
    requests: Arc<AtomicUsize>,
}

impl FakeCloudTrail {
    fn start() -> FakeCloudTrail {
        FakeCloudTrail::cutting(0)
    }

    /// One whose first `cut` answers break off in the middle of their body (the connection
    /// closed), as a network that resets connections does.
    fn cutting(cut: usize) -> FakeCloudTrail {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || serve(stream, &counter, cut));
            }
        });
        FakeCloudTrail { endpoint, requests }
    }
}

fn serve(stream: std::net::TcpStream, requests: &AtomicUsize, cut: usize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let (mut length, mut target) = (0usize, String::new());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if let Some(value) = lower.strip_prefix("x-amz-target:") {
                target = value.trim().to_owned();
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let seen = requests.fetch_add(1, Ordering::SeqCst);
        let (status, reply) = if target.ends_with(".listpublickeys") {
            ("200 OK", String::from_utf8(TEST_PUBLIC_KEYS.to_vec()).expect("utf-8"))
        } else {
            ("400 Bad Request", r#"{"__type":"UnknownOperationException"}"#.to_owned())
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if seen < cut {
            let _ = writer.write_all(&response.as_bytes()[..response.len() - reply.len() / 2]);
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn run_s3(garage: &Garage, cloudtrail: &FakeCloudTrail, args: &[&str]) -> (i32, Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(["report", "--format", "json"]).args(args);
    for (key, value) in garage.env() {
        command.env(key, value);
    }
    command.env("AWS_ENDPOINT_URL_CLOUDTRAIL", &cloudtrail.endpoint).env_remove("AWS_PROFILE");
    let out = command.output().expect("trailscope runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

#[test]
fn on_s3_signatures_come_from_metadata_keys_from_the_api_and_tampering_is_reported_exactly() {
    let garage = Garage::start();
    let cloudtrail = FakeCloudTrail::start();
    let (clean_dir, tampered_dir) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let clean = generate(clean_dir.path());
    let tampered = generate(tampered_dir.path());
    let tampering = tamper(&tampered);
    garage.create_bucket("clean");
    garage.create_bucket("tampered");
    garage.upload_with_metadata("clean", &clean, cloudtrail_metadata);
    garage.upload_with_metadata("tampered", &tampered, cloudtrail_metadata);

    let (code, report, stderr) = run_s3(&garage, &cloudtrail, &["--verify", "s3://clean/"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["integrity"]["signatures"]["verified"], 294, "signatures from object metadata");
    assert!(cloudtrail.requests.load(Ordering::SeqCst) >= 1, "keys fetched with ListPublicKeys");

    let (code, report, stderr) = run_s3(&garage, &cloudtrail, &["--verify", "s3://tampered/"]);
    assert_eq!(code, 3, "{stderr}");
    let key =
        |p: &Path| format!("s3://tampered/{}", p.strip_prefix(&tampered).expect("under").to_string_lossy());
    assert_reported_exactly(&report["integrity"], &tampering, &key);
}

const FORMATS: [&str; 4] = ["json", "text", "markdown", "html"];

/// `trailscope ARGS` with `env`, without any AWS profile of the machine: exit status and stdout.
fn run_with(args: &[&str], env: &[(&str, String)]) -> (i32, Vec<u8>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(args).env_remove("AWS_PROFILE");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("trailscope runs");
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The report of `sources` in every format, with `extra` options: (exit status, bytes) each.
fn every_format(sources: &[&str], extra: &[&str], env: &[(&str, String)]) -> Vec<(i32, Vec<u8>)> {
    FORMATS
        .iter()
        .map(|format| {
            let mut args = vec!["report", "-q", "-f", format];
            args.extend(extra);
            args.extend(sources);
            let (code, stdout, stderr) = run_with(&args, env);
            assert!(!stdout.is_empty(), "report -f {format}: {stderr}");
            (code, stdout)
        })
        .collect()
}

/// `scan --verify --shard I/N` of `source` for every I, each partial written under `out` (a folder
/// or an `s3://` prefix, ending in `/`), with `extra` options.
fn scan_verified(source: &str, n: u32, out: &str, extra: &[&str], env: &[(&str, String)]) {
    for i in 0..n {
        let (shard, target) = (format!("{i}/{n}"), format!("{out}shard-{i}.jsonl.gz"));
        let mut args = vec!["scan", "-q", "--verify", "--shard", &shard, "-o", &target];
        args.extend(extra);
        args.push(source);
        let (code, _, stderr) = run_with(&args, env);
        assert!(matches!(code, 0 | 3), "shard {shard}: {code}: {stderr}");
    }
}

fn assert_same_reports(single: &[(i32, Vec<u8>)], merged: &[(i32, Vec<u8>)], what: &str) {
    for ((format, one), many) in FORMATS.iter().zip(single).zip(merged) {
        assert_eq!(one.0, many.0, "{what}: exit status of -f {format}");
        assert!(one.1 == many.1, "{what}: report -f {format} differs from one run");
    }
}

/// The archive of [`generate`], tampered with: its folder (deleted when dropped), what was done,
/// and its path as a source.
fn tampered() -> (tempfile::TempDir, Tampering, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = generate(dir.path());
    let tampering = tamper(&archive);
    (dir, tampering, archive.to_string_lossy().into_owned())
}

#[test]
fn sharded_runs_report_every_tampering_as_one_run_does_byte_for_byte() {
    let (_dir, tampering, source) = tampered();
    let keys = keys();
    let with_keys = ["--public-keys", keys.as_str()];
    let single = every_format(&[&source], &[&["--verify"][..], &with_keys].concat(), &[]);
    assert_eq!(single[0].0, 3, "problems are exit status 3");
    for n in [1, 2, 3, 7] {
        let parts = tempfile::tempdir().expect("temp dir");
        let out = format!("{}/", parts.path().display());
        scan_verified(&source, n, &out, &with_keys, &[]);
        let merged = every_format(&[&out], &[], &[]);
        assert_same_reports(&single, &merged, &format!("{n} shards"));
        let report: Value = serde_json::from_slice(&merged[0].1).expect("JSON");
        assert_reported_exactly(&report["integrity"], &tampering, &|p| p.to_string_lossy().into_owned());
        if n == 3 {
            // The same warnings, and the same connections listing with the same exit status.
            let one = run_with(&["report", "-f", "json", "--verify", "--public-keys", &keys, &source], &[]);
            let many = run_with(&["report", "-f", "json", &out], &[]);
            assert_eq!(one.2, many.2, "warnings");
            let one = run_with(
                &["connections", "-q", "-f", "jsonl", "--verify", "--public-keys", &keys, &source],
                &[],
            );
            let many = run_with(&["connections", "-q", "-f", "jsonl", &out], &[]);
            assert_eq!((one.0, &one.1), (many.0, &many.1), "connections");
            // `report --verify` of the partials is the same report; --strict makes problems fatal.
            assert_same_reports(&single, &every_format(&[&out], &["--verify"], &[]), "report --verify");
            let (code, stdout, _) = run_with(&["report", "-q", "--strict", &out], &[]);
            assert_eq!((code, stdout.is_empty()), (1, true), "--strict at the merge");
        }
    }
    // Without keys, on both sides: signatures unchecked the same way.
    let single = every_format(&[&source], &["--verify"], &[]);
    let parts = tempfile::tempdir().expect("temp dir");
    let out = format!("{}/", parts.path().display());
    scan_verified(&source, 2, &out, &[], &[]);
    assert_same_reports(&single, &every_format(&[&out], &[], &[]), "2 shards without keys");
    // A range: the shards judge only what was read, as one run does.
    let range = ["--from", "2024-03-02", "--to", "2024-03-02"];
    let single = every_format(&[&source], &[&["--verify"][..], &with_keys, &range].concat(), &[]);
    let parts = tempfile::tempdir().expect("temp dir");
    let out = format!("{}/", parts.path().display());
    scan_verified(&source, 3, &out, &[&with_keys[..], &range].concat(), &[]);
    assert_same_reports(&single, &every_format(&[&out], &[], &[]), "3 shards of a range");
}

#[test]
fn streams_verified_a_part_at_a_time_report_every_tampering_as_a_whole_run_does() {
    // Parts of 1,500 bytes of facts split each stream's two days in dozens of parts by file
    // name, each part matched alone, as a stream of a year is split by the default size.
    let (_dir, tampering, source) = tampered();
    let keys = keys();
    let args = ["--verify", "--public-keys", keys.as_str()];
    let whole = every_format(&[&source], &args, &[]);
    let small = [("TRAILSCOPE_VERIFY_PART_BYTES", "1500".to_owned())];
    let in_parts = every_format(&[&source], &args, &small);
    assert_same_reports(&whole, &in_parts, "verified in parts");
    let report: Value = serde_json::from_slice(&in_parts[0].1).expect("JSON");
    assert_reported_exactly(&report["integrity"], &tampering, &|p| p.to_string_lossy().into_owned());
    // A shard puts its residue in order a few facts at a time, sorted on disk: the same
    // partials, byte for byte; and the merge splits the streams in parts as one run does.
    let (parts, small_parts) =
        (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let (out, small_out) =
        (format!("{}/", parts.path().display()), format!("{}/", small_parts.path().display()));
    scan_verified(&source, 3, &out, &args[1..], &[]);
    scan_verified(&source, 3, &small_out, &args[1..], &small);
    for i in 0..3 {
        let name = format!("shard-{i}.jsonl.gz");
        let read = |dir: &Path| std::fs::read(dir.join(&name)).expect("a partial");
        assert!(read(parts.path()) == read(small_parts.path()), "{name} differs");
    }
    assert_same_reports(&whole, &every_format(&[&out], &[], &small), "3 shards merged in parts");
    // A size that is not one is a usage error, before anything is read.
    let (code, stdout, stderr) =
        run_with(&["report", "--verify", &source], &[("TRAILSCOPE_VERIFY_PART_BYTES", "lots".to_owned())]);
    assert_eq!((code, stdout.is_empty()), (2, true), "{stderr}");
    assert!(
        stderr.contains("TRAILSCOPE_VERIFY_PART_BYTES=\"lots\" is not a positive number of bytes"),
        "{stderr}"
    );
}

#[test]
fn partials_made_with_and_without_verify_are_not_merged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = generate(dir.path());
    let source = archive.to_string_lossy().into_owned();
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).expect("mkdir");
    let out = format!("{}/", parts.display());
    scan_verified(&source, 2, &out, &[], &[]);
    // Shard 1 again, without --verify.
    let plain = parts.join("shard-1.jsonl.gz");
    let (code, _, stderr) =
        run_with(&["scan", "-q", "--shard", "1/2", "-o", plain.to_str().expect("utf-8"), &source], &[]);
    assert!(matches!(code, 0 | 3), "{stderr}");
    let (code, stdout, stderr) = run_with(&["report", &out], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("made with --verify") && stderr.contains("without"), "{stderr}");
    // Partials without --verify, merged with --verify: refused, not a report without integrity.
    let plain_parts = dir.path().join("plain");
    std::fs::create_dir(&plain_parts).expect("mkdir");
    for i in 0..2 {
        let target = plain_parts.join(format!("shard-{i}.jsonl.gz"));
        let shard = format!("{i}/2");
        let (code, _, _) =
            run_with(&["scan", "-q", "--shard", &shard, "-o", target.to_str().expect("utf-8"), &source], &[]);
        assert!(matches!(code, 0 | 3));
    }
    let (code, stdout, stderr) = run_with(&["report", "--verify", plain_parts.to_str().expect("utf-8")], &[]);
    assert_eq!((code, stdout.is_empty()), (1, true), "{stderr}");
    assert!(stderr.contains("made without it"), "{stderr}");
}

#[test]
fn on_s3_sharded_runs_report_every_tampering_as_one_run_does() {
    let garage = Garage::start();
    let cloudtrail = FakeCloudTrail::start();
    let dir = tempfile::tempdir().expect("temp");
    let tampered = generate(dir.path());
    let tampering = tamper(&tampered);
    garage.create_bucket("tampered");
    garage.create_bucket("partials");
    garage.upload_with_metadata("tampered", &tampered, cloudtrail_metadata);
    let mut env = garage.env();
    env.push(("AWS_ENDPOINT_URL_CLOUDTRAIL", cloudtrail.endpoint.clone()));
    let single = every_format(&["s3://tampered/"], &["--verify"], &env);
    assert_eq!(single[0].0, 3);
    for n in [1, 2, 3, 7] {
        let prefix = format!("s3://partials/run-{n}/");
        scan_verified("s3://tampered/", n, &prefix, &[], &env);
        let merged = every_format(&[&prefix], &[], &env);
        assert_same_reports(&single, &merged, &format!("{n} shards on S3"));
        let report: Value = serde_json::from_slice(&merged[0].1).expect("JSON");
        let key = |p: &Path| {
            format!("s3://tampered/{}", p.strip_prefix(&tampered).expect("under").to_string_lossy())
        };
        assert_reported_exactly(&report["integrity"], &tampering, &key);
        assert_eq!(report["integrity"]["signatures"]["unchecked"], 0, "keys from the API, in every shard");
    }
}

/// Digests cut in the middle of their body, and CloudTrail's answer to ListPublicKeys cut too:
/// each is asked for again (the digests by the download, the keys by the SDK, which the test
/// checks rather than assumes) and every signature verifies.
#[test]
fn digests_and_public_keys_cut_mid_answer_are_asked_again_and_verify() {
    use common::s3_layer::{Bucket, Layer};
    let garage = Garage::start_in("us-east-1");
    let cloudtrail = FakeCloudTrail::cutting(1);
    let dir = tempfile::tempdir().expect("temp");
    let archive = generate(dir.path());
    garage.create_bucket("trails");
    garage.upload_with_metadata("trails", &archive, cloudtrail_metadata);
    let digests: Vec<String> = common::files_under(&archive)
        .iter()
        .map(|p| p.strip_prefix(&archive).expect("under").to_string_lossy().replace('\\', "/"))
        .filter(|k| k.contains("/CloudTrail-Digest/") && k.ends_with(".json.gz"))
        .collect();
    let cut: std::collections::BTreeSet<String> = digests.iter().step_by(50).cloned().collect();
    assert!(cut.len() >= 3, "{}", digests.len());
    let bucket = Bucket {
        region: garage.region.clone(),
        upstream: format!("127.0.0.1:{}", garage.port),
        cut_first: cut.clone(),
        ..Bucket::default()
    };
    let layer = Layer::start(std::collections::BTreeMap::from([("trails".to_owned(), bucket)]));
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(["report", "--format", "json", "--verify", "s3://trails/"]);
    for (key, value) in garage.env() {
        command.env(key, value);
    }
    command
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("TRAILSCOPE_TEST_AWS_S3_ENDPOINT", &layer.endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &cloudtrail.endpoint);
    let out = command.output().expect("trailscope runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["integrity"]["digests_read"], 294);
    assert_eq!(report["integrity"]["signatures"]["verified"], 294, "{stderr}");
    for problem in ["missing", "modified", "unlisted", "chain_breaks", "unreadable_digests"] {
        assert_eq!(report["integrity"][problem], serde_json::json!([]), "{problem}");
    }
    assert_eq!(cloudtrail.requests.load(Ordering::SeqCst), 2, "the cut answer was asked for again");
    for key in &cut {
        assert_eq!(layer.gets_of(key), 2, "{key}");
    }
    assert_eq!(report["summary"]["requests_retried"].as_u64(), Some(cut.len() as u64 + 1));
}
