//! Sharded runs: N `scan --shard I/N` processes over the generated archive, merged by `report`,
//! give the report of one run byte for byte, for every N and format, on disk and on S3 (Garage);
//! a missing, doubled, foreign, cut-short or corrupt partial is refused with one line.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::garage::Garage;
use common::{testdata, trailscope};

const FORMATS: [&str; 4] = ["json", "text", "markdown", "html"];

fn archive() -> PathBuf {
    testdata("generated/archive")
}

/// `trailscope ARGS`, with `env` added to its environment.
fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("trailscope runs")
}

/// Writes the N partials of `source` under `out` (a folder, or an `s3://` prefix ending in `/`).
fn scan_all(source: &str, n: u32, out: &str, env: &[(&str, String)]) {
    for i in 0..n {
        let target = format!("{out}shard-{i}.jsonl.gz");
        let shard = format!("{i}/{n}");
        let done = run(&["scan", "-q", "--shard", &shard, "-o", &target, source], env);
        let code = done.status.code();
        assert!(
            matches!(code, Some(0 | 3)),
            "shard {shard}: {:?}: {}",
            code,
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

/// Every output of `report` (and of `connections`) for `source`: the bytes each format gives.
fn outputs(source: &str, env: &[(&str, String)]) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = FORMATS
        .iter()
        .map(|format| (format!("report {format}"), run(&["report", "-q", "-f", format, source], env).stdout))
        .collect();
    all.push(("connections jsonl".into(), run(&["connections", "-q", "-f", "jsonl", source], env).stdout));
    all
}

fn assert_same(single: &[(String, Vec<u8>)], merged: &[(String, Vec<u8>)], what: &str) {
    for ((name, one), (_, many)) in single.iter().zip(merged) {
        assert!(!one.is_empty(), "{what}: {name} printed something");
        assert!(one == many, "{what}: {name} differs from one run");
    }
}

#[test]
fn merged_partials_equal_one_run_byte_for_byte_on_disk() {
    let source = archive().to_string_lossy().into_owned();
    let single = outputs(&source, &[]);
    for n in [1, 2, 3, 7] {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = format!("{}/", dir.path().display());
        scan_all(&source, n, &out, &[]);
        let merged = outputs(&out, &[]);
        assert_same(&single, &merged, &format!("{n} shards"));
    }
}

#[test]
fn on_s3_shards_list_only_their_part_and_merge_from_a_prefix() {
    let garage = Garage::start();
    garage.create_bucket("trail");
    garage.create_bucket("partials");
    garage.upload("trail", &archive());
    let env: Vec<(&str, String)> = garage.env();
    let single = outputs("s3://trail/", &env);
    let listed_once: u64 = summary(&single)["objects_listed"].as_u64().expect("listed");
    for n in [1, 2, 3, 7] {
        let prefix = format!("s3://partials/run-{n}/");
        scan_all("s3://trail/", n, &prefix, &env);
        let merged = outputs(&prefix, &env);
        assert_same(&single, &merged, &format!("{n} shards on S3"));
        // Each key was listed by one shard only: none lists the whole bucket.
        let listed: Vec<u64> = (0..n)
            .map(|i| {
                let header = header_of(&garage, "partials", &format!("run-{n}/shard-{i}.jsonl.gz"));
                header["counts"]["objects_listed"].as_u64().expect("listed")
            })
            .collect();
        assert_eq!(listed.iter().sum::<u64>(), listed_once, "{n} shards: {listed:?}");
        if n > 1 {
            assert!(listed.iter().all(|&l| l < listed_once), "{n} shards: {listed:?}");
        }
    }
}

fn summary(outputs: &[(String, Vec<u8>)]) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_slice(&outputs[0].1).expect("the JSON report");
    report["summary"].clone()
}

/// The header (first line) of a partial stored in Garage.
fn header_of(garage: &Garage, bucket: &str, key: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let bytes = runtime.block_on(async {
        let object = garage.client().get_object().bucket(bucket).key(key).send().await.expect("partial");
        object.body.collect().await.expect("body").into_bytes()
    });
    first_line(&bytes)
}

fn first_line(gzipped: &[u8]) -> serde_json::Value {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(flate2::read::MultiGzDecoder::new(gzipped)).read_line(&mut line).expect("a line");
    serde_json::from_str(&line).expect("a JSON header")
}

/// Three partials of the archive in a temporary folder.
fn three_partials() -> (tempfile::TempDir, [PathBuf; 3]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = format!("{}/", dir.path().display());
    scan_all(&archive().to_string_lossy(), 3, &out, &[]);
    let parts = [0, 1, 2].map(|i| dir.path().join(format!("shard-{i}.jsonl.gz")));
    (dir, parts)
}

/// `report` of `paths`: it must write nothing and say why in one line.
fn refused(paths: &[&Path]) -> String {
    let mut args: Vec<std::ffi::OsString> = vec!["report".into()];
    args.extend(paths.iter().map(|p| p.as_os_str().to_owned()));
    let out = trailscope(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no report");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn a_missing_doubled_or_foreign_shard_writes_no_report() {
    let (dir, [a, b, c]) = three_partials();
    assert!(refused(&[&a, &c]).contains("shard 1/3 missing"));
    let copy = dir.path().join("copy-of-0.jsonl.gz");
    std::fs::copy(&a, &copy).expect("copy");
    assert!(refused(&[&a, &b, &c, &copy]).contains("shard 0/3 is given twice"));
    // A shard of a run over other days.
    let other = dir.path().join("other.jsonl.gz");
    let done = run(
        &[
            "scan",
            "-q",
            "--shard",
            "1/3",
            "--from",
            "2024-03-02",
            "-o",
            other.to_str().expect("utf-8"),
            &archive().to_string_lossy(),
        ],
        &[],
    );
    assert!(matches!(done.status.code(), Some(0 | 3)));
    assert!(refused(&[&a, &other, &c]).contains("not shards of one run"));
    // Partials and logs together.
    assert!(refused(&[&a, &b, &c, &testdata("seed/s3")]).contains("give partials only"));
}

#[test]
fn shards_read_with_other_include_globs_are_not_shards_of_one_run() {
    let (dir, [a, _, c]) = three_partials();
    let other = dir.path().join("included.jsonl.gz");
    let archive = archive();
    let scan = |include: &[&str], target: &Path| {
        let mut args = vec!["scan", "-q", "--shard", "1/3", "-o", target.to_str().expect("utf-8")];
        args.extend(include);
        args.push(archive.to_str().expect("utf-8"));
        let done = run(&args, &[]);
        assert!(matches!(done.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&done.stderr));
    };
    scan(&["--include", "*.log"], &other);
    assert_eq!(
        first_line(&std::fs::read(&other).expect("partial"))["options"]["include"],
        serde_json::json!(["*.log"])
    );
    let stderr = refused(&[&a, &other, &c]);
    assert!(stderr.contains("not shards of one run: options"), "{stderr}");
    assert!(stderr.contains(r#"include: ["*.log"] }"#), "{stderr}");
    // Without --include the header has no `include` member: partials are as they were.
    assert!(first_line(&std::fs::read(&a).expect("partial"))["options"].get("include").is_none());
    // The same globs on every shard merge.
    let same = tempfile::tempdir().expect("temp dir");
    let parts = [0, 1, 2].map(|i| same.path().join(format!("shard-{i}.jsonl.gz")));
    for (i, part) in parts.iter().enumerate() {
        let shard = format!("{i}/3");
        let mut args = vec!["scan", "-q", "--shard", &shard, "--include", "*.log", "-o"];
        args.extend([part.to_str().expect("utf-8"), archive.to_str().expect("utf-8")]);
        assert!(matches!(run(&args, &[]).status.code(), Some(0 | 3)));
    }
    let merged = run(&["report", "-q", "-f", "json", same.path().to_str().expect("utf-8")], &[]);
    assert!(matches!(merged.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&merged.stderr));
}

#[test]
fn a_cut_short_or_corrupt_partial_is_an_error_never_a_smaller_report() {
    let (_dir, [a, b, c]) = three_partials();
    let whole = std::fs::read(&b).expect("partial");
    std::fs::write(&b, &whole[..whole.len() * 2 / 3]).expect("cut short");
    assert!(refused(&[&a, &b, &c]).contains(&*b.to_string_lossy()));
    let mut flipped = whole.clone();
    let middle = flipped.len() / 2;
    flipped[middle..middle + 8].iter_mut().for_each(|x| *x ^= 0x5a);
    std::fs::write(&b, &flipped).expect("corrupt");
    assert!(refused(&[&a, &b, &c]).contains("cannot merge partials"));
}

#[test]
fn the_shard_index_can_come_from_the_orchestrator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = archive().to_string_lossy().into_owned();
    for (variable, index) in [("JOB_COMPLETION_INDEX", "2"), ("AWS_BATCH_JOB_ARRAY_INDEX", "1")] {
        let out = dir.path().join(format!("{variable}.jsonl.gz"));
        let done = run(
            &["scan", "-q", "--shard", "env/3", "-o", out.to_str().expect("utf-8"), &source],
            &[(variable, index.into())],
        );
        assert!(matches!(done.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&done.stderr));
        let header = first_line(&std::fs::read(&out).expect("partial"));
        assert_eq!(
            header["shard"],
            serde_json::json!({"index": index.parse::<u32>().expect("n"), "count": 3})
        );
    }
    let out = dir.path().join("none.jsonl.gz");
    let done = run(&["scan", "--shard", "env/3", "-o", out.to_str().expect("utf-8"), &source], &[]);
    assert_eq!(done.status.code(), Some(2), "neither variable set is a usage error");
    assert!(String::from_utf8_lossy(&done.stderr).contains("JOB_COMPLETION_INDEX"));
    let done = run(&["scan", "--shard", "0/3", "-o", "partial.json", &source], &[]);
    assert_eq!(done.status.code(), Some(2), "partials are named *.jsonl.gz");
}

#[test]
fn copies_in_different_shards_are_counted_once_as_in_one_run() {
    // The archive under two prefixes: the copies of an event can land in different shards.
    let dir = tempfile::tempdir().expect("temp dir");
    let twice = dir.path().join("twice");
    for prefix in ["org-trail", "account-trail"] {
        copy_tree(&archive(), &twice.join(prefix));
    }
    let source = twice.to_string_lossy().into_owned();
    let single = outputs(&source, &[]);
    assert!(summary(&single)["duplicate_events"].as_u64().expect("n") > 300, "every event twice");
    let out = format!("{}/parts/", dir.path().display());
    std::fs::create_dir_all(&out).expect("mkdir");
    scan_all(&source, 3, &out, &[]);
    assert_same(&single, &outputs(&out, &[]), "3 shards of a doubled archive");
}

fn copy_tree(from: &Path, to: &Path) {
    for file in common::files_under(from) {
        let target = to.join(file.strip_prefix(from).expect("under"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
}
