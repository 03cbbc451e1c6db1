//! Per-stage micro-benchmarks, so a regression shows where it is: inflate alone (MB/s of output),
//! the record splitter on plain JSON and behind inflate (whole-object and streamed), the byte
//! prefilter, extracting Instance Connect events from a log full of them, and pairing plus
//! classification (events/s).
//!
//! `cargo bench --bench stages`. Inputs are synthetic and deterministic (the generator's record
//! templates); the whole-archive comparison against zcat and other tools is `benches/compare.sh`.

use std::hint::black_box;
use std::io::{self, Read, Write};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use memchr::memmem;
use trailscope::stages::{Events, Splitter};
use trailscope::synth;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("write to Vec");
    encoder.finish().expect("finish to Vec")
}

/// Inflates in the chunks the reader uses, into a buffer that is thrown away: inflate's own cost.
fn inflate(compressed: &[u8], buf: &mut [u8]) -> usize {
    let mut decoder = MultiGzDecoder::new(compressed);
    let mut total = 0;
    loop {
        match decoder.read(buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("inflate: {e}"),
        }
    }
}

fn stages(c: &mut Criterion) {
    // About 2 MB of other services' records, as one CloudTrail object of a busy account, and a
    // log of nothing but Instance Connect connections.
    let plain = synth::log_body(42, 1_500, 0).into_bytes();
    let compressed = gzip(&plain);
    let instance_connect = synth::log_body(43, 0, 400).into_bytes();

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(plain.len() as u64));
    let mut buf = vec![0; 1 << 20];
    group.bench_function("inflate", |b| b.iter(|| inflate(black_box(&compressed), &mut buf)));
    // The prefilter's worst case is a log that never names Instance Connect: it scans every byte.
    let unmentioned = String::from_utf8_lossy(&plain).replace("ec2-instance-connect", "ec2-instance-kinect");
    let finder = memmem::Finder::new("ec2-instance-connect.amazonaws.com");
    group.bench_function("prefilter", |b| b.iter(|| finder.find(black_box(unmentioned.as_bytes()))));
    let mut splitter = Splitter::new(1 << 30);
    group.bench_function("split", |b| b.iter(|| splitter.split(black_box(&plain))));
    // As a worker reads a small gzip object (inflated whole by libdeflate), and as it streams a
    // large one (zlib-ng through the window).
    group.bench_function("inflate_and_split", |b| b.iter(|| splitter.split(black_box(&compressed))));
    group.bench_function("inflate_and_split_streamed", |b| {
        b.iter(|| splitter.split_streamed(black_box(&compressed)))
    });
    group.throughput(Throughput::Bytes(instance_connect.len() as u64));
    group.bench_function("extract_instance_connect", |b| {
        b.iter(|| Events::read(black_box(&instance_connect), 1 << 30).map(|e| e.len()))
    });
    let events = Events::read(&instance_connect, 1 << 30).expect("the templates read");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("pair_and_classify", |b| b.iter(|| black_box(&events).analyze(60)));
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
