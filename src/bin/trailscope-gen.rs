//! `trailscope-gen`: writes a synthetic CloudTrail archive, deterministic from a seed, and its
//! ground truth. It makes `testdata/generated` and the benchmark archives.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use trailscope::synth::{self, Spec};

/// Write a synthetic CloudTrail archive (`DIR/archive/`, laid out as S3 delivers trails) and what
/// `trailscope report` must say of it (`DIR/truth.json`). The same options give the same bytes.
#[derive(Debug, Parser)]
#[command(name = "trailscope-gen", version)]
struct Args {
    /// Folder to write into; its `archive/` must not exist yet or be empty.
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    /// Starting point: `testdata` (small, with digests, stray files and unreadable objects),
    /// `bench` (3,500 log objects, 500,394 records: 104 MB gzipped, 870 MB of JSON), `dense` (Instance Connect
    /// traffic and little else: 20 endpoints, 40,000 connections), `tiny` (20,000 objects of
    /// 1-5 KB). The options below override it.
    #[arg(long, value_enum, default_value_t = Preset::Testdata)]
    preset: Preset,

    /// Seed of every random choice.
    #[arg(long)]
    seed: Option<u64>,

    /// Days the archive covers, from 2024-03-01.
    #[arg(long)]
    days: Option<u32>,

    /// Log objects in all.
    #[arg(long)]
    objects: Option<u64>,

    /// Records of other services in all, about.
    #[arg(long)]
    records: Option<u64>,

    /// Successful connections per endpoint, about.
    #[arg(long)]
    connections: Option<u32>,

    /// Endpoints per account and region, as a multiple of the base layout (2, 1, 1 and 1
    /// endpoints in four of the six account-regions).
    #[arg(long, value_name = "N")]
    endpoint_scale: Option<usize>,

    /// Write real digests: hourly per account and region, chained, listing every log object with
    /// its SHA-256, signed with the test key (testdata/keys/), each with its signature beside it
    /// in `<digest>.sig`.
    #[arg(long)]
    digests: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Preset {
    Testdata,
    Bench,
    Dense,
    Tiny,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut spec = match args.preset {
        Preset::Testdata => Spec::testdata(),
        Preset::Bench => Spec::bench(),
        Preset::Dense => Spec::dense(),
        Preset::Tiny => Spec::tiny(),
    };
    spec.seed = args.seed.unwrap_or(spec.seed);
    spec.days = args.days.unwrap_or(spec.days);
    spec.objects = args.objects.unwrap_or(spec.objects);
    spec.records = args.records.unwrap_or(spec.records);
    spec.connections = args.connections.unwrap_or(spec.connections);
    spec.endpoint_scale = args.endpoint_scale.unwrap_or(spec.endpoint_scale);
    spec.digests |= args.digests;
    match synth::generate(&spec, &args.dir) {
        Ok(truth) => {
            let s = &truth.summary;
            let digests =
                truth.integrity.as_ref().map_or(String::new(), |i| format!(", {} signed digests", i.digests));
            eprintln!(
                "trailscope-gen: {} objects ({} unreadable, {} skipped{digests}), {} records, {} Instance Connect events, {} connections through {} endpoints -> {}",
                s.objects_listed,
                s.objects_failed,
                s.objects_skipped,
                s.records,
                s.instance_connect_events,
                s.connections,
                s.endpoints,
                args.dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("trailscope-gen: {}: {error}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}
