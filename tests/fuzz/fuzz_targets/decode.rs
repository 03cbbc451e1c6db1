//! Fuzzes everything one object goes through: gzip sniffing and inflate, shape detection, simd-json
//! parsing, Instance Connect extraction, then pairing and field classification of what came out.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trailscope::analysis::{analyze, Window};
use trailscope::decode::Decoder;
use trailscope::source::NameHint;

fuzz_target!(|data: &[u8]| {
    // A small cap keeps the fuzzer fast; the cap itself is part of what is exercised.
    let mut decoder = Decoder::new(4 << 20);
    for hint in [NameHint::Document, NameHint::JsonLines] {
        let Ok(decoded) = decoder.decode(data, hint) else { continue };
        assert!(decoded.events.len() as u64 <= decoded.records, "more events than records");
        let analysis = analyze(&decoded.events, Window::after_seconds(60));
        assert_eq!(analysis.instance_connect_events, decoded.events.len() as u64);
        let endpoint_connections: u64 = analysis.endpoints.iter().map(|e| e.connections).sum();
        assert!(endpoint_connections <= analysis.connections);
    }
});
