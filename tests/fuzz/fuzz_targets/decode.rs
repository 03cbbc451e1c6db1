//! Fuzzes everything one object goes through: gzip sniffing and streamed inflate, the record
//! splitter and shape walk, simd-json parsing and Instance Connect extraction, then dedup,
//! pairing and field classification of what came out.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trailscope::stages::{Events, Splitter};

fuzz_target!(|data: &[u8]| {
    // A small cap keeps the fuzzer fast; the cap itself is part of what is exercised.
    let split = Splitter::new(4 << 20).split(data);
    // Splitting alone parses no record, so it may read what extraction refuses (a broken record
    // naming Instance Connect); the other way round, never.
    let Ok(events) = Events::read(data, 4 << 20) else { return };
    let (records, candidates) = split.expect("what reading with extraction reads, splitting alone reads");
    assert!(candidates <= records, "more candidates than records");
    assert!(events.len() as u64 <= candidates, "more events than candidates");
    events.analyze(60).expect("the analysis is consistent");
});
