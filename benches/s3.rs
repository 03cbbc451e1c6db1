//! The S3 path against the local path on the same archive: Garage on loopback serves the
//! benchmark archive, and `trailscope report` reads it from there and from disk, alternately.
//! Prints median wall times, the S3 throughput as a share of the local run's, and the CPU time of
//! trailscope and of Garage, which share this machine's cores during the S3 runs.
//!
//! `cargo bench --bench s3` (after `bash benches/compare.sh` has made `benches/data/bench`), or
//! `cargo bench --bench s3 -- DIR` for another archive. Needs Garage (`bash .ci/setup-tests`) and
//! `/usr/bin/time`.

#[path = "../tests/common/garage.rs"]
#[allow(dead_code)]
mod garage;

use std::path::PathBuf;
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

struct Run {
    wall: Duration,
    /// trailscope's own CPU seconds.
    cpu: f64,
}

fn main() {
    // `cargo bench` passes `--bench`; the archive is the first other argument.
    let archive = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/data/bench/archive"));
    assert!(archive.is_dir(), "{} is missing: run `bash benches/compare.sh` first", archive.display());
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);

    let server = garage::Garage::start();
    server.create_bucket("bench");
    let started = Instant::now();
    let uploaded = server.upload("bench", &archive);
    eprintln!("s3 bench: {uploaded} objects uploaded to Garage in {:.1?}", started.elapsed());
    let garage_pid = server.pid().expect("garage runs");

    let times = tempfile::NamedTempFile::new().expect("temp file");
    let run = |source: &str| {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-f").arg("%U %S").arg("-o").arg(times.path());
        command.arg(env!("CARGO_BIN_EXE_trailscope")).args(["report", "--format", "json", "-q", source]);
        for (key, value) in server.env() {
            command.env(key, value);
        }
        let started = Instant::now();
        let output = command.output().expect("trailscope runs under /usr/bin/time");
        let wall = started.elapsed();
        assert!(output.status.success(), "{source}: {}", String::from_utf8_lossy(&output.stderr));
        let cpu = std::fs::read_to_string(times.path())
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|t| t.parse::<f64>().ok())
            .sum();
        Run { wall, cpu }
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
        (middle.wall.as_secs_f64(), middle.cpu)
    };
    garage_cpu.sort_by(f64::total_cmp);
    let ((local_wall, local_cpu), (s3_wall, s3_cpu)) = (median(&mut local), median(&mut remote));
    println!(
        "S3 (Garage on loopback): {s3_wall:.2} s against {local_wall:.2} s local, median of {runs}: \
         S3 throughput {:.0}% of local",
        100.0 * local_wall / s3_wall
    );
    println!(
        "CPU: trailscope {s3_cpu:.2} s reading S3, {local_cpu:.2} s reading disk; Garage {:.2} s serving \
         the same run, on the same {} cores",
        garage_cpu[garage_cpu.len() / 2],
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
