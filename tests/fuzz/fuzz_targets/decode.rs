//! Fuzzes everything one object goes through: gzip sniffing, the whole-object inflate of small
//! gzip objects and the streamed inflate of the others (which must agree), the record splitter
//! and shape walk, simd-json parsing and Instance Connect extraction through the worker's own
//! sink, then dedup, pairing and field classification of what came out.

#![no_main]

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use trailscope::stages::{Events, Splitter};

fuzz_target!(|data: &[u8]| {
    // A small cap keeps the fuzzer fast; the cap itself is part of what is exercised.
    let mut splitter = Splitter::new(4 << 20);
    let split = splitter.split(data);
    assert_eq!(split, splitter.split_streamed(data), "read whole and streamed differ");
    // Mutated gzip rarely passes its CRC: the input gzipped too, so that the whole-object path
    // reads every shape the fuzzer finds, and agrees with the stream on it.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).expect("write to Vec");
    let gzipped = encoder.finish().expect("finish to Vec");
    let split_gzipped = splitter.split(&gzipped);
    assert_eq!(split_gzipped, splitter.split_streamed(&gzipped), "read whole and streamed differ");
    // What reads as it is reads the same gzipped (gzip is recognised by its magic bytes alone).
    if split.is_ok() && !data.starts_with(&[0x1f, 0x8b]) {
        assert_eq!(split_gzipped, split, "gzipped, the same object");
    }
    // Splitting alone parses no record, so it may read what extraction refuses (a broken record
    // naming Instance Connect); the other way round, never.
    let Ok(events) = Events::read(data, 4 << 20) else { return };
    let (records, candidates) = split.expect("what reading with extraction reads, splitting alone reads");
    assert!(candidates <= records, "more candidates than records");
    assert!(events.len() as u64 <= candidates, "more events than candidates");
    if !data.starts_with(&[0x1f, 0x8b]) {
        let whole = Events::read(&gzipped, 4 << 20).expect("what reads as it is reads gzipped");
        assert_eq!(whole.len(), events.len(), "gzipped, the same events");
    }
    events.analyze(60).expect("the analysis is consistent");
});
