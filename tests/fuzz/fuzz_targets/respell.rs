//! Fuzzes reading by meaning: an object of JSON records, and the same object written another way
//! (every string's characters, member names included, kept or written as `\uXXXX` escapes,
//! surrogate pairs, `\/`, and whitespace around structural characters, chosen from the input's
//! first 8 bytes), must give the same events with the same fields and values, whatever bytes the
//! fast path looks for. Only objects that are JSON are compared: what is not has no meaning.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trailscope::stages::{is_json, respell, Events};

fuzz_target!(|data: &[u8]| {
    let Some((seed, object)) = data.split_first_chunk::<8>() else { return };
    // Respelling is of JSON text: gzip is the decode target's.
    if object.starts_with(&[0x1f, 0x8b]) {
        return;
    }
    // Text that is not JSON has no meaning to keep, whatever the reading tolerates of it.
    if !is_json(object) {
        return;
    }
    let Ok(original) = Events::read(object, 4 << 20) else { return };
    // Every character of every string escaped: every record is then parsed (a record that holds
    // a `\u` escape may name Instance Connect), so a record that only the parse refuses (which the
    // original reading, not parsing it, did not) makes this object unreadable, and the input is
    // of no use here.
    let escaped = respell(object, &mut |_| 0);
    let Ok(every) = Events::read(&escaped, 64 << 20) else { return };
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
    let described = original.describe().expect("read back");
    assert_eq!(described, every.describe().expect("read back"), "the same events, every character escaped");
    let read = again.describe().expect("read back");
    assert_eq!(described, read, "the same events, fields and values\n{}", shown());
    assert_eq!(original.analyze(60), again.analyze(60), "the same analysis");
});
