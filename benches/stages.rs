//! Per-stage micro-benchmarks, so a regression shows where it is: inflate (MB/s of output),
//! the byte prefilter (GB/s), parsing a log without Instance Connect events (MB/s), decoding one
//! full of them (extraction and flattening), and pairing plus classification (events/s).
//!
//! `cargo bench --bench stages`. Inputs are synthetic and deterministic; the whole-archive
//! comparison against zcat and other tools is `benches/compare.sh`.

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use memchr::memmem;
use trailscope::analysis::{analyze, Window};
use trailscope::decode::inflate::inflate;
use trailscope::decode::Decoder;
use trailscope::source::NameHint;
use trailscope::synth;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("write to Vec");
    encoder.finish().expect("finish to Vec")
}

fn stages(c: &mut Criterion) {
    // About 2 MB of other services' records, as one CloudTrail object of a busy account, and a
    // log of nothing but Instance Connect connections: the generator's own templates.
    let plain = synth::log_body(42, 1_500, 0).into_bytes();
    let compressed = gzip(&plain);
    let instance_connect = synth::log_body(43, 0, 400).into_bytes();

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(plain.len() as u64));
    let mut out = Vec::new();
    group.bench_function("inflate", |b| b.iter(|| inflate(black_box(&compressed), &mut out, 1 << 30)));
    // The prefilter's worst case is a log that never names Instance Connect: it scans every byte.
    let unmentioned = String::from_utf8_lossy(&plain).replace("ec2-instance-connect", "ec2-instance-kinect");
    let finder = memmem::Finder::new("ec2-instance-connect.amazonaws.com");
    group.bench_function("prefilter", |b| b.iter(|| finder.find(black_box(unmentioned.as_bytes()))));
    let mut decoder = Decoder::new(1 << 30);
    group.bench_function("parse_without_instance_connect", |b| {
        b.iter(|| decoder.decode(black_box(&plain), NameHint::Document).map(|d| d.records))
    });
    group.bench_function("inflate_and_parse", |b| {
        b.iter(|| decoder.decode(black_box(&compressed), NameHint::Document).map(|d| d.records))
    });
    group.throughput(Throughput::Bytes(instance_connect.len() as u64));
    group.bench_function("extract_instance_connect", |b| {
        b.iter(|| decoder.decode(black_box(&instance_connect), NameHint::Document).map(|d| d.events.len()))
    });
    let events = decoder.decode(&instance_connect, NameHint::Document).map(|d| d.events).unwrap_or_default();
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("pair_and_classify", |b| {
        b.iter(|| analyze(black_box(&events), Window::after_seconds(60)).fields.len())
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
