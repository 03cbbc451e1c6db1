//! The S3 path, two ways. `local`: Garage on loopback serves the benchmark archive, and
//! `trailscope report` reads it from there and from disk, alternately; prints median wall times,
//! the S3 throughput as a share of the local run's, and the CPU time of trailscope and of Garage,
//! which share this machine's cores during the S3 runs. `latency`: Garage behind a proxy that puts
//! 30 ms on every request serves many tiny objects (the tiny preset), and trailscope reads them
//! at each `--s3-concurrency`; prints the objects per second reached against the ceiling
//! `concurrency / latency`, and the listing rate apart (see [`latency`]).
//!
//! `cargo bench --bench s3` (after `bash benches/compare.sh` has made `benches/data/`) runs both;
//! `cargo bench --bench s3 -- local [DIR]` or `-- latency [DIR]` one of them, on another archive
//! if given. `cargo bench --bench s3 -- incremental [DIR]` measures `--state` on a year-shaped
//! archive (made by `benches/incremental.sh`): the requests of each run (see [`incremental`]).
//! `cargo bench --bench s3 -- cuts [OBJECTS]` reads a generated archive (4,443 log objects by
//! default) through the S3 behaviour layer with no connection cut, a tenth and a fifth cut: the
//! objects lost, the requests retried and the wall time of each (see [`cuts`]); `TRAILSCOPE_BIN`
//! runs another build instead, `CUTS` (default "0 10 5": none, one in 10, one in 5) the shares. `RUNS` (default 3), `LATENCY_MS` (default 30) and `CONCURRENCY` (default "128 32")
//! change the runs. Needs Garage (`bash .ci/setup-tests`) and `/usr/bin/time`.

#[path = "../tests/common/garage.rs"]
#[allow(dead_code)]
mod garage;
#[path = "../tests/common/proxy.rs"]
#[allow(dead_code)]
mod proxy;
#[path = "../tests/common/s3_layer.rs"]
#[allow(dead_code)]
mod s3_layer;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/data").join(name).join("archive")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; then an optional part and an optional archive.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let part =
        args.first().map(String::as_str).filter(|a| ["local", "latency", "incremental", "cuts"].contains(a));
    let dir = args.get(usize::from(part.is_some())).map(PathBuf::from);
    let runs: usize = env_or("RUNS", 3);
    // Not part of the default runs: it needs an archive of its own (see `incremental`).
    if part == Some("incremental") {
        incremental(&dir.unwrap_or_else(|| data("year")));
        return;
    }
    if part == Some("cuts") {
        cuts(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(4_443));
        return;
    }
    if part != Some("latency") {
        local(&dir.clone().unwrap_or_else(|| data("bench")), runs);
    }
    if part != Some("local") {
        latency(&dir.unwrap_or_else(|| data("tiny")), runs);
    }
}

struct Run {
    wall: Duration,
    /// trailscope's own CPU seconds.
    cpu: f64,
    /// trailscope's peak RSS, MiB.
    rss: f64,
}

/// The same archive from disk and from Garage, alternately.
fn local(archive: &Path, runs: usize) {
    assert!(archive.is_dir(), "{} is missing: run `bash benches/compare.sh` first", archive.display());

    let server = garage::Garage::start();
    server.create_bucket("bench");
    let started = Instant::now();
    let uploaded = server.upload("bench", archive);
    eprintln!("s3 bench: {uploaded} objects uploaded to Garage in {:.1?}", started.elapsed());
    let garage_pid = server.pid().expect("garage runs");

    let times = tempfile::NamedTempFile::new().expect("temp file");
    let run = |source: &str| {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-f").arg("%U %S %M").arg("-o").arg(times.path());
        command.arg(env!("CARGO_BIN_EXE_trailscope")).args(["report", "--format", "json", "-q", source]);
        for (key, value) in server.env() {
            command.env(key, value);
        }
        let started = Instant::now();
        let output = command.output().expect("trailscope runs under /usr/bin/time");
        let wall = started.elapsed();
        assert!(output.status.success(), "{source}: {}", String::from_utf8_lossy(&output.stderr));
        let measured: Vec<f64> = std::fs::read_to_string(times.path())
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|t| t.parse::<f64>().ok())
            .collect();
        Run {
            wall,
            cpu: measured.iter().take(2).sum(),
            rss: measured.get(2).copied().unwrap_or(f64::NAN) / 1024.0,
        }
    };
    let local_source = archive.to_string_lossy().into_owned();
    let (mut local, mut remote, mut garage_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        local.push(run(&local_source));
        let before = process_cpu(garage_pid);
        remote.push(run("s3://bench/"));
        garage_cpu.push(process_cpu(garage_pid) - before);
    }
    let median = |runs: &mut Vec<Run>| {
        runs.sort_by_key(|r| r.wall);
        let middle = &runs[runs.len() / 2];
        (middle.wall.as_secs_f64(), middle.cpu, runs.iter().map(|r| r.rss).fold(0.0, f64::max))
    };
    garage_cpu.sort_by(f64::total_cmp);
    let ((local_wall, local_cpu, local_rss), (s3_wall, s3_cpu, s3_rss)) =
        (median(&mut local), median(&mut remote));
    println!(
        "S3 (Garage on loopback): {s3_wall:.2} s against {local_wall:.2} s local, median of {runs}: \
         S3 throughput {:.0}% of local; peak RSS {s3_rss:.0} MiB reading S3, {local_rss:.0} MiB reading disk",
        100.0 * local_wall / s3_wall
    );
    println!(
        "CPU: trailscope {s3_cpu:.2} s reading S3, {local_cpu:.2} s reading disk; Garage {:.2} s serving \
         the same run, on the same {} cores",
        garage_cpu[garage_cpu.len() / 2],
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// One run of trailscope against the delayed proxy.
struct Remote {
    wall: f64,
    /// trailscope's CPU seconds, Garage's, and this process's (the proxy) during the run.
    cpu: (f64, f64, f64),
    /// trailscope's peak RSS, MiB.
    rss: f64,
    requests: proxy::RequestLog,
    /// When the run started, for the request log's times.
    started: Instant,
}

impl Remote {
    fn since(&self, at: Option<Instant>) -> f64 {
        at.map_or(f64::NAN, |at| at.duration_since(self.started).as_secs_f64())
    }
}

/// Many tiny objects through a proxy that adds `LATENCY_MS` to every request, at each
/// `--s3-concurrency` of `CONCURRENCY`. Three kinds of run, interleaved:
/// - *start-up*: a bucket of one object (client set-up, one listing, one download);
/// - *list only*: the whole bucket with `--max-object-size 1`: every object is refused on its
///   listed size, so the run lists every key and downloads nothing (the proxy counts no GET; the
///   run ends with "nothing readable", which is expected here);
/// - *full*: the whole bucket read.
///
/// Reading rate: objects over the span from the first GET to the last one as the proxy passed
/// them on (listing feeds downloads as it goes, so the span holds the listing's pages too, and
/// the proxy's times show whether downloads started before the listing ended); and objects over
/// (full − start-up) wall time. Listing rate: keys over (list only − start-up). The ceiling is
/// `concurrency / latency`; the goal, 70% of it.
fn latency(archive: &Path, runs: usize) {
    assert!(archive.is_dir(), "{} is missing: run `bash benches/compare.sh` first", archive.display());
    let delay = Duration::from_millis(env_or("LATENCY_MS", 30));
    let concurrencies: Vec<usize> = std::env::var("CONCURRENCY")
        .unwrap_or_else(|_| "128 32".into())
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect();

    let server = garage::Garage::start();
    server.create_bucket("many");
    server.create_bucket("one");
    let started = Instant::now();
    let objects = server.upload("many", archive);
    eprintln!("s3 bench: {objects} objects uploaded to Garage in {:.1?}", started.elapsed());
    let single = tempfile::tempdir().expect("temp dir");
    let first = garage::files_under(archive).into_iter().find(|f| f.to_string_lossy().ends_with(".json.gz"));
    let first = first.expect("a log object");
    let target = single.path().join(first.strip_prefix(archive).expect("inside"));
    std::fs::create_dir_all(target.parent().expect("a folder")).expect("mkdir");
    std::fs::copy(&first, &target).expect("copy");
    server.upload("one", single.path());
    let garage_pid = server.pid().expect("garage runs");
    let (endpoint, requests) = proxy::delayed(&format!("127.0.0.1:{}", server.port), delay);

    let times = tempfile::NamedTempFile::new().expect("temp file");
    let run = |source: &str, concurrency: usize, extra: &[&str], must_succeed: bool| {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-f").arg("%U %S %M").arg("-o").arg(times.path());
        command.arg(env!("CARGO_BIN_EXE_trailscope")).args(["report", "--format", "json", "-q"]);
        command.args(["--s3-concurrency", &concurrency.to_string()]).args(extra).arg(source);
        for (key, value) in server.env() {
            command.env(key, value);
        }
        command.env("AWS_ENDPOINT_URL", &endpoint);
        requests.reset();
        let (garage_before, own_before) = (process_cpu(garage_pid), process_cpu(std::process::id()));
        let started = Instant::now();
        let output = command.output().expect("trailscope runs under /usr/bin/time");
        let wall = started.elapsed().as_secs_f64();
        // `/usr/bin/time` writes "Command exited with non-zero status" first when it did.
        let measured: Vec<f64> = std::fs::read_to_string(times.path())
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|t| t.parse::<f64>().ok())
            .collect();
        let rss = measured.get(2).copied().unwrap_or(f64::NAN) / 1024.0;
        let cpu = (
            measured.iter().take(2).sum(),
            process_cpu(garage_pid) - garage_before,
            process_cpu(std::process::id()) - own_before,
        );
        if must_succeed {
            assert!(output.status.success(), "{source}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Remote { wall, cpu, rss, requests: requests.reset(), started }
    };

    println!();
    println!(
        "S3 at bucket scale: {objects} tiny objects from Garage through a proxy adding {} ms to every \
         request, median of {runs} runs (start-up, list-only and full runs interleaved):",
        delay.as_millis()
    );
    println!();
    println!(
        "| --s3-concurrency | ceiling | objects/s, first to last GET | objects/s, wall | share of ceiling | \
         listing, keys/s | start-up | list only | full run | downloads start, listing ends | \
         CPU: trailscope, Garage, proxy | peak RSS |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for &concurrency in &concurrencies {
        let (mut startup, mut listing, mut full) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            startup.push(run("s3://one/", concurrency, &[], true));
            let list = run("s3://many/", concurrency, &["--max-object-size", "1"], false);
            assert_eq!(list.requests.gets, 0, "a list-only run downloads nothing");
            listing.push(list);
            let read = run("s3://many/", concurrency, &[], true);
            assert!(read.requests.gets >= objects, "every object downloaded: {}", read.requests.gets);
            full.push(read);
        }
        let wall = |runs: &[Remote]| median(&mut runs.iter().map(|r| r.wall).collect::<Vec<_>>());
        let (startup_wall, list_wall, full_wall) = (wall(&startup), wall(&listing), wall(&full));
        let span_rate = median(
            &mut full
                .iter()
                .map(|r| {
                    let span = r.since(r.requests.last_get) - r.since(r.requests.first_get);
                    (r.requests.gets - 1) as f64 / span
                })
                .collect::<Vec<_>>(),
        );
        let wall_rate = objects as f64 / (full_wall - startup_wall);
        let list_rate = objects as f64 / (list_wall - startup_wall);
        let ceiling = concurrency as f64 / delay.as_secs_f64();
        // The median full run's own figures.
        full.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        let middle = &full[full.len() / 2];
        let (first_get, last_listing) = (
            middle.since(middle.requests.first_get) - middle.since(middle.requests.first_listing),
            middle.since(middle.requests.last_listing) - middle.since(middle.requests.first_listing),
        );
        println!(
            "| {concurrency} | {ceiling:.0}/s | {span_rate:.0}/s | {wall_rate:.0}/s | {:.0}% | {list_rate:.0}/s \
             ({} pages) | {startup_wall:.2} s | {list_wall:.2} s | {full_wall:.2} s | {first_get:.2} s, \
             {last_listing:.2} s after the first listing | {:.2} s, {:.2} s, {:.2} s | {:.0} MiB |",
            100.0 * span_rate / ceiling,
            middle.requests.listings,
            middle.cpu.0,
            middle.cpu.1,
            middle.cpu.2,
            full.iter().map(|r| r.rss).fold(0.0, f64::max),
        );
    }
    println!();
    println!(
        "Share of ceiling: objects/s from the first GET to the last, over concurrency / latency (goal: \
         at least 70%). The {} cores are shared by trailscope, Garage and the proxy.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// `--state` on a year-shaped archive (365 day folders per account and region; its digests are
/// left out): the year but its last day is in the bucket; then a first run with --state, the
/// last day arriving, a run with --state, a run with nothing new, and a run without --state,
/// through a proxy that counts the requests (and adds `LATENCY_MS`, default 30, to each).
fn incremental(archive: &Path) {
    assert!(archive.is_dir(), "{} is missing: run `bash benches/incremental.sh` first", archive.display());
    let delay = Duration::from_millis(env_or("LATENCY_MS", 30));
    let server = garage::Garage::start();
    server.create_bucket("year");
    let day = |file: &Path| -> Option<String> {
        let text = file.to_string_lossy().into_owned();
        let parts: Vec<&str> = text.split('/').collect();
        let at = parts.iter().position(|p| p.len() == 4 && p.starts_with("20"))?;
        parts.get(at..at + 3).map(|d| d.join("/"))
    };
    let files = garage::files_under(archive);
    let last = files
        .iter()
        .filter(|f| !f.to_string_lossy().contains("CloudTrail-Digest"))
        .filter_map(|f| day(f))
        .max();
    let last = last.expect("day folders");
    let part = |later: bool| {
        let last = last.clone();
        move |file: &Path| {
            let log = !file.to_string_lossy().contains("CloudTrail-Digest");
            (log && (day(file).as_deref() == Some(last.as_str())) == later).then(Vec::new)
        }
    };
    let started = Instant::now();
    let before = server.upload_with_metadata("year", archive, part(false));
    eprintln!("s3 bench: {before} objects uploaded to Garage in {:.1?}", started.elapsed());
    let (endpoint, requests) = proxy::delayed(&format!("127.0.0.1:{}", server.port), delay);
    let state = tempfile::tempdir().expect("temp dir");
    let state_dir = state.path().join("state");
    let times = tempfile::NamedTempFile::new().expect("temp file");
    let run = |with_state: bool, relist: bool| {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-f").arg("%M").arg("-o").arg(times.path());
        command.arg(env!("CARGO_BIN_EXE_trailscope")).args(["report", "--format", "json", "-q"]);
        if with_state {
            command.arg("--state").arg(&state_dir);
        }
        if relist {
            command.arg("--relist");
        }
        command.arg("s3://year/");
        for (key, value) in server.env() {
            command.env(key, value);
        }
        command.env("AWS_ENDPOINT_URL", &endpoint);
        requests.reset();
        let started = Instant::now();
        let output = command.output().expect("trailscope runs under /usr/bin/time");
        let wall = started.elapsed().as_secs_f64();
        assert!(matches!(output.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&output.stderr));
        let rss = std::fs::read_to_string(times.path())
            .unwrap_or_default()
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
            / 1024.0;
        (wall, rss, requests.reset())
    };
    println!();
    println!(
        "--state on a year-shaped archive from Garage, {} ms added to every request ({before} log objects, \
         then the last day's):",
        delay.as_millis()
    );
    println!();
    println!("| run | LIST | GET | wall s | peak MiB |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let show = |what: &str, (wall, rss, log): (f64, f64, proxy::RequestLog)| {
        println!("| {what} | {} | {} | {wall:.2} | {rss:.0} |", log.listings, log.gets);
    };
    show("first run with --state (the year but its last day)", run(true, false));
    let after = server.upload_with_metadata("year", archive, part(true));
    show(&format!("with --state, the last day ({after} objects) arrived"), run(true, false));
    show("with --state, nothing new", run(true, false));
    show("with --state --relist, nothing new", run(true, true));
    show("without --state (the whole year)", run(false, false));
}

/// A generated archive of `objects` log objects (no broken ones) read through the S3 behaviour
/// layer as AWS (`TRAILSCOPE_TEST_AWS_S3_ENDPOINT`), with no answer cut, then a tenth and a fifth
/// of them cut after a random number of their bytes (seeded: the same answers each time). For
/// each: the objects lost (listed but not read), the requests retried, the exit status, the wall
/// time, and whether the report equals the generator's ground truth.
fn cuts(objects: u64) {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = trailscope::synth::Spec {
        objects,
        records: objects * 8,
        connections: 4,
        extras: false,
        digests: false,
        ..trailscope::synth::Spec::testdata()
    };
    let truth = trailscope::synth::generate(&spec, dir.path()).expect("generate");
    let server = garage::Garage::start_in("us-east-1");
    server.create_bucket("trails");
    let uploaded = server.upload("trails", &dir.path().join("archive"));
    eprintln!("s3 bench: {uploaded} objects uploaded to Garage");
    let truth_summary = serde_json::to_value(&truth.summary).expect("JSON");
    let shares: Vec<u64> = std::env::var("CUTS")
        .unwrap_or_else(|_| "0 10 5".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    for share in shares {
        let bucket = s3_layer::Bucket {
            region: server.region.clone(),
            upstream: format!("127.0.0.1:{}", server.port),
            cuts: (share > 0).then_some(s3_layer::Cuts { seed: 33, share }),
            ..s3_layer::Bucket::default()
        };
        let layer = s3_layer::Layer::start(BTreeMap::from([("trails".to_owned(), bucket)]));
        // TRAILSCOPE_BIN: another build to compare with (an earlier commit's, say).
        let binary =
            std::env::var("TRAILSCOPE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_trailscope").to_owned());
        let mut command = Command::new(binary);
        command.args(["report", "--format", "json", "-q", "s3://trails/"]);
        for (key, value) in server.env() {
            command.env(key, value);
        }
        command
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_REGION", "us-east-1")
            .env("TRAILSCOPE_TEST_AWS_S3_ENDPOINT", &layer.endpoint);
        let started = Instant::now();
        let output = command.output().expect("trailscope runs");
        let wall = started.elapsed().as_secs_f64();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("a JSON report ({e}): {}", String::from_utf8_lossy(&output.stderr)));
        let summary = &report["summary"];
        let lost =
            summary["objects_listed"].as_u64().unwrap_or(0) - summary["objects_read"].as_u64().unwrap_or(0);
        let mut compared = summary.clone();
        compared["requests_retried"] = 0.into();
        let exact = compared == truth_summary
            && report["endpoints"] == serde_json::to_value(&truth.endpoints).expect("JSON");
        println!(
            "cuts: {} of answers cut ({} of {} requests): {lost} of {uploaded} objects lost, {} requests retried, \
             exit {}, {wall:.1} s, report {} the ground truth{}",
            if share == 0 { "none".to_owned() } else { format!("1 in {share}") },
            layer.cut().len(),
            layer.seen().len(),
            summary["requests_retried"],
            output.status.code().unwrap_or(-1),
            if exact { "equals" } else { "DIFFERS FROM" },
            match report["failure_reasons"].as_object().filter(|r| !r.is_empty()) {
                Some(reasons) => format!(" (unreadable: {})", serde_json::Value::from(reasons.clone())),
                None => String::new(),
            },
        );
    }
}
