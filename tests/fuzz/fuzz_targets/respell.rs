//! Fuzzes reading by meaning: an object of JSON records, and the same object written another way
//! (every string's characters, member names included, kept or written as `\uXXXX` escapes,
//! surrogate pairs, `\/`, and whitespace around structural characters, chosen from the input's
//! first 8 bytes), must give the same events with the same fields and values, whatever bytes the
//! fast path looks for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trailscope::stages::{respell, Events};

fuzz_target!(|data: &[u8]| {
    let Some((seed, object)) = data.split_first_chunk::<8>() else { return };
    // Respelling is of JSON text: gzip is another fuzz target's, as is JSON that does not parse
    // (whose records the original reading need not parse either, when they do not name Instance
    // Connect, and the respelled one may, for their escapes).
    if object.starts_with(&[0x1f, 0x8b]) || !every_value_is_json(object) {
        return;
    }
    let Ok(original) = Events::read(object, 4 << 20) else { return };
    let mut state = u64::from_le_bytes(*seed) | 1;
    let respelled = respell(object, &mut |n| {
        // xorshift64*, seeded by the input.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        ((state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % u64::from(n)) as u32
    });
    let shown = || String::from_utf8_lossy(&respelled).into_owned();
    let again = Events::read(&respelled, 64 << 20).unwrap_or_else(|e| panic!("{e}\n{}", shown()));
    let (a, b) = (original.describe().expect("read back"), again.describe().expect("read back"));
    assert_eq!(a, b, "the same events, fields and values\n{}", shown());
    assert_eq!(original.analyze(60), again.analyze(60), "the same analysis");
});

/// Whether `bytes` is a sequence of JSON values (after a byte order mark), each of which parses.
fn every_value_is_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::de::IgnoredAny>().all(|v| v.is_ok())
}
