//! Fuzzes everything one object goes through: gzip sniffing and streamed inflate, the record
//! splitter and shape walk, simd-json parsing and Instance Connect extraction, then dedup,
//! pairing and field classification of what came out.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trailscope::stages::{Events, Splitter};

fuzz_target!(|data: &[u8]| {
    // A small cap keeps the fuzzer fast; the cap itself is part of what is exercised.
    let split = Splitter::new(4 << 20).split(data);
    let Ok(events) = Events::read(data, 4 << 20) else {
        assert!(split.is_err(), "splitting alone read what reading with extraction refused");
        return;
    };
    let (records, candidates) = split.expect("reading with extraction read it");
    assert!(candidates <= records, "more candidates than records");
    assert!(events.len() as u64 <= candidates, "more events than candidates");
    events.analyze(60).expect("the analysis is consistent");
});
