//! Finds where a JSON object or array ends without parsing it: strings, escapes and nesting are
//! tracked 64 bytes at a time with bit masks (the technique of simdjson's first stage; with AVX2
//! where the processor has it, else SSE2), so a record that does not name Instance Connect costs
//! one pass over its bytes and nothing else.
//!
//! The scan is resumable: when the bytes run out before the value closes, the state is kept and the
//! next call goes on from where this one stopped, so a record split across two reads of the
//! decompressed stream is never scanned twice.
//!
//! What it checks: strings are closed, every bracket is closed by its own kind, nesting is at most
//! [`MAX_DEPTH`] levels. What it does not: the tokens between brackets (a record that is scanned,
//! not parsed, may hold `tru` or a missing comma). Records that name Instance Connect are parsed in
//! full by simd-json afterwards.

/// Deeper nesting than this makes the object unreadable: simd-json refuses the same depth, and no
/// CloudTrail record comes near it.
pub(crate) const MAX_DEPTH: usize = 1024;

/// Where a scan stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The value ends just before this offset (relative to the value's first byte).
    End(usize),
    /// Every byte given was consumed; call again with more.
    More,
    /// Not well-formed; the object is unreadable.
    Invalid(Malformed),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// `}` closing an `[`, or `]` closing a `{`.
    Mismatched,
    TooDeep,
}

/// The state of one container's scan, carried from one call to the next.
#[derive(Debug, Default)]
pub(crate) struct ValueScan {
    /// Bytes of the value already consumed.
    scanned: usize,
    /// The next byte is escaped by an odd run of backslashes.
    escaped: bool,
    in_string: bool,
    /// A backslash was among the bytes scanned (or among those of the last block after the
    /// value's end): without one, the value holds no escape, and no `\u` to search for.
    backslash: bool,
    /// Open containers, innermost last: `true` for an object.
    open: Vec<bool>,
}

impl ValueScan {
    /// Starts over for a new value.
    pub(crate) fn reset(&mut self) {
        self.scanned = 0;
        self.escaped = false;
        self.in_string = false;
        self.backslash = false;
        self.open.clear();
    }

    /// Whether the value scanned may hold a backslash: `false` only when none of its bytes is.
    pub(crate) fn saw_backslash(&self) -> bool {
        self.backslash
    }

    /// Scans `value`, the bytes of a value that starts with `{` or `[` at offset 0, as far as they
    /// go. Bytes already consumed by an earlier call (the same value, fewer bytes) are skipped.
    pub(crate) fn scan(&mut self, value: &[u8]) -> Scan {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("pclmulqdq") {
            // SAFETY: this processor has AVX2 and PCLMULQDQ, just checked.
            return unsafe { self.scan_avx2(value) };
        }
        self.scan_with(value, Masks::of, prefix_xor)
    }

    /// [`scan`](Self::scan) compiled for AVX2: the masks of a block in two loads, not four, and
    /// the inside of strings in one carry-less multiplication.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,pclmulqdq")]
    ///
    /// # Safety
    ///
    /// Only where the processor has AVX2 and PCLMULQDQ.
    unsafe fn scan_avx2(&mut self, value: &[u8]) -> Scan {
        self.scan_with(
            value,
            // SAFETY: this function runs only where AVX2 is (its own contract).
            |block| unsafe { Masks::of_avx2(block) },
            // SAFETY: this function runs only where PCLMULQDQ is (its own contract).
            |bits| unsafe { prefix_xor_clmul(bits) },
        )
    }

    /// The scan, with `masks` to find the characters of each 64-byte block and `prefix_xor` to
    /// tell the inside of its strings.
    #[inline(always)]
    fn scan_with(
        &mut self,
        value: &[u8],
        masks: impl Fn(&[u8; 64]) -> Masks,
        prefix_xor: impl Fn(u64) -> u64,
    ) -> Scan {
        let mut at = self.scanned;
        while at + 64 <= value.len() {
            let block: &[u8; 64] = value[at..at + 64].try_into().expect("a 64-byte slice");
            if let Some(result) = self.block(block, masks(block), &prefix_xor, at) {
                return result;
            }
            at += 64;
        }
        for (i, &byte) in value.iter().enumerate().skip(at) {
            if let Some(result) = self.byte(byte, i) {
                return result;
            }
        }
        self.scanned = value.len();
        Scan::More
    }

    /// One byte, the reference semantics the block version must equal: an unescaped quote
    /// toggles the string state, and outside strings brackets open and close containers.
    fn byte(&mut self, byte: u8, at: usize) -> Option<Scan> {
        let escaped = std::mem::take(&mut self.escaped);
        if byte == b'\\' && !escaped {
            self.escaped = true;
            self.backslash = true;
        } else if byte == b'"' && !escaped {
            self.in_string = !self.in_string;
        } else if !self.in_string {
            match byte {
                b'{' | b'[' => return self.push(byte == b'{'),
                b'}' | b']' => return self.pop(byte == b'}', at),
                _ => {}
            }
        }
        None
    }

    /// 64 bytes at once: masks of quotes, backslashes and brackets, escapes resolved with carries,
    /// the inside of strings as a prefix XOR of the quotes, then only the brackets outside strings
    /// are visited one by one.
    #[inline(always)]
    fn block(
        &mut self,
        block: &[u8; 64],
        masks: Masks,
        prefix_xor: impl Fn(u64) -> u64,
        base: usize,
    ) -> Option<Scan> {
        self.backslash |= masks.backslash != 0;
        let escaped = escaped_bits(masks.backslash, &mut self.escaped);
        let quotes = masks.quote & !escaped;
        let inside = prefix_xor(quotes) ^ if self.in_string { u64::MAX } else { 0 };
        self.in_string = inside >> 63 == 1;
        let mut brackets = (masks.open | masks.close) & !inside;
        while brackets != 0 {
            let bit = brackets.trailing_zeros() as usize;
            brackets &= brackets - 1;
            let byte = block[bit];
            let result = if masks.open >> bit & 1 == 1 {
                self.push(byte == b'{')
            } else {
                self.pop(byte == b'}', base + bit)
            };
            if result.is_some() {
                return result;
            }
        }
        None
    }

    fn push(&mut self, object: bool) -> Option<Scan> {
        if self.open.len() >= MAX_DEPTH {
            return Some(Scan::Invalid(Malformed::TooDeep));
        }
        self.open.push(object);
        None
    }

    fn pop(&mut self, object: bool, at: usize) -> Option<Scan> {
        match self.open.pop() {
            Some(opened) if opened == object => self.open.is_empty().then_some(Scan::End(at + 1)),
            _ => Some(Scan::Invalid(Malformed::Mismatched)),
        }
    }
}

/// Bit `i` set where byte `i` of a block is the character in question.
struct Masks {
    quote: u64,
    backslash: u64,
    /// `{` or `[`.
    open: u64,
    /// `}` or `]`.
    close: u64,
}

impl Masks {
    #[cfg(target_arch = "x86_64")]
    fn of(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut masks = Masks { quote: 0, backslash: 0, open: 0, close: 0 };
        // SAFETY: SSE2 is part of every x86_64 processor, so these instructions always exist;
        // each load reads 16 bytes of `block` and `_mm_loadu_si128` has no alignment requirement.
        unsafe {
            // `{`/`[` and `}`/`]` differ only in bit 0x20: one OR and one comparison finds a pair.
            let (quote, backslash, case) =
                (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8), _mm_set1_epi8(0x20));
            let (open, close) = (_mm_set1_epi8(b'{' as i8), _mm_set1_epi8(b'}' as i8));
            for (k, chunk) in block.chunks_exact(16).enumerate() {
                let bytes = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let folded = _mm_or_si128(bytes, case);
                let bits = |m| u64::from(_mm_movemask_epi8(m) as u16) << (16 * k);
                masks.quote |= bits(_mm_cmpeq_epi8(bytes, quote));
                masks.backslash |= bits(_mm_cmpeq_epi8(bytes, backslash));
                masks.open |= bits(_mm_cmpeq_epi8(folded, open));
                masks.close |= bits(_mm_cmpeq_epi8(folded, close));
            }
        }
        masks
    }

    /// [`of`](Self::of) with 32-byte registers.
    ///
    /// # Safety
    ///
    /// Only where the processor has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn of_avx2(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
            _mm256_set1_epi8,
        };
        let mut masks = Masks { quote: 0, backslash: 0, open: 0, close: 0 };
        // SAFETY: the caller runs this only where AVX2 is; each load reads 32 bytes of `block`,
        // and `_mm256_loadu_si256` has no alignment requirement.
        unsafe {
            let (quote, backslash, case) =
                (_mm256_set1_epi8(b'"' as i8), _mm256_set1_epi8(b'\\' as i8), _mm256_set1_epi8(0x20));
            let (open, close) = (_mm256_set1_epi8(b'{' as i8), _mm256_set1_epi8(b'}' as i8));
            for (k, chunk) in block.chunks_exact(32).enumerate() {
                let bytes = _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>());
                let folded = _mm256_or_si256(bytes, case);
                let bits = |m| u64::from(_mm256_movemask_epi8(m) as u32) << (32 * k);
                masks.quote |= bits(_mm256_cmpeq_epi8(bytes, quote));
                masks.backslash |= bits(_mm256_cmpeq_epi8(bytes, backslash));
                masks.open |= bits(_mm256_cmpeq_epi8(folded, open));
                masks.close |= bits(_mm256_cmpeq_epi8(folded, close));
            }
        }
        masks
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn of(block: &[u8; 64]) -> Masks {
        Masks::scalar(block)
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))] // the portable path; tests compare it
    fn scalar(block: &[u8; 64]) -> Masks {
        let mut masks = Masks { quote: 0, backslash: 0, open: 0, close: 0 };
        for (i, &byte) in block.iter().enumerate() {
            let bit = 1u64 << i;
            match byte {
                b'"' => masks.quote |= bit,
                b'\\' => masks.backslash |= bit,
                b'{' | b'[' => masks.open |= bit,
                b'}' | b']' => masks.close |= bit,
                _ => {}
            }
        }
        masks
    }
}

/// The bits of characters escaped by a preceding odd-length run of backslashes, with the run
/// carried in from the previous block and out to the next (simdjson's branch-free method: runs
/// starting on odd and even bits are told apart by an addition whose carries ripple through them).
fn escaped_bits(backslash: u64, carry: &mut bool) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let prev = u64::from(*carry);
    let backslash = backslash & !prev;
    let follows_escape = (backslash << 1) | prev;
    let odd_starts = backslash & !EVEN & !follows_escape;
    let (sequences_on_even, overflow) = odd_starts.overflowing_add(backslash);
    *carry = overflow;
    let invert = sequences_on_even << 1;
    (EVEN ^ invert) & follows_escape
}

/// Bit `i` of the result is the XOR of bits `0..=i`: set inside a string (its opening quote
/// included, its closing quote not).
fn prefix_xor(mut bits: u64) -> u64 {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    bits
}

/// [`prefix_xor`] in one instruction: the carry-less product with all ones (simdjson's way).
///
/// # Safety
///
/// Only where the processor has PCLMULQDQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
unsafe fn prefix_xor_clmul(bits: u64) -> u64 {
    use std::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set1_epi8, _mm_set_epi64x};
    // Unsafe only to call: these intrinsics take registers, and this function is compiled with
    // PCLMULQDQ, which its callers check the processor has.
    _mm_cvtsi128_si64(_mm_clmulepi64_si128(_mm_set_epi64x(0, bits as i64), _mm_set1_epi8(-1), 0)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the random tests repeat exactly.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn between(&mut self, low: u64, high: u64) -> u64 {
            low + self.below(high - low + 1)
        }
    }

    fn end_of(text: &[u8]) -> Scan {
        ValueScan::default().scan(text)
    }

    /// The same scan one byte at a time: the reference the block version is checked against.
    fn end_bytewise(text: &[u8]) -> Scan {
        let mut scan = ValueScan::default();
        for (i, &b) in text.iter().enumerate() {
            if let Some(result) = scan.byte(b, i) {
                return result;
            }
        }
        Scan::More
    }

    #[test]
    fn a_backslash_is_seen_in_blocks_and_in_the_tail() {
        for len in [10, 63, 64, 65, 200] {
            for at in [1, len / 2, len - 3] {
                let mut text = vec![b'a'; len];
                text[0] = b'"';
                text[len - 1] = b'"';
                let plain = format!("[{}]", String::from_utf8(text.clone()).expect("ASCII"));
                text[at] = b'\\';
                text[at + 1] = b'u';
                let escaped = format!("[{}]", String::from_utf8(text).expect("ASCII"));
                let mut scan = ValueScan::default();
                assert!(matches!(scan.scan(plain.as_bytes()), Scan::End(_)));
                assert!(!scan.saw_backslash(), "{plain}");
                scan.reset();
                assert!(matches!(scan.scan(escaped.as_bytes()), Scan::End(_)));
                assert!(scan.saw_backslash(), "{escaped}");
                scan.reset();
                assert!(!scan.saw_backslash(), "reset");
            }
        }
    }

    #[test]
    fn finds_the_end_of_nested_values() {
        assert_eq!(end_of(br#"{"a":[1,{"b":"}"}]} trailing"#), Scan::End(19));
        assert_eq!(end_of(b"[]"), Scan::End(2));
        assert_eq!(end_of(br#"{"a":"\\"}x"#), Scan::End(10));
        assert_eq!(end_of(br#"{"a":"\"}"}"#), Scan::End(11));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!(r#"{{"k":"{}"}}"#, "}]{[".repeat(40));
        assert_eq!(end_of(text.as_bytes()), Scan::End(text.len()));
    }

    #[test]
    fn wrong_closer_and_excess_depth_are_malformed() {
        assert_eq!(end_of(b"{]"), Scan::Invalid(Malformed::Mismatched));
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(end_of(deep.as_bytes()), Scan::Invalid(Malformed::TooDeep));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(end_of(ok.as_bytes()), Scan::End(ok.len()));
    }

    #[test]
    fn an_unclosed_value_asks_for_more_and_resumes_where_it_stopped() {
        let text = br#"{"a":"x\"y","b":[1,2,{"c":"\\"}]}"#;
        for split in 0..text.len() {
            let mut scan = ValueScan::default();
            let first = scan.scan(&text[..split]);
            assert_eq!(first, Scan::More, "split at {split}");
            assert_eq!(scan.scan(text), Scan::End(text.len()), "split at {split}");
        }
    }

    #[test]
    fn escapes_carry_across_block_boundaries() {
        // Runs of backslashes of every length ending at every position around the 64-byte edge.
        for run in 1..6 {
            for end in 56..72 {
                let mut text = vec![b'{', b'"'];
                text.resize(end - run, b'a');
                text.extend(std::iter::repeat_n(b'\\', run));
                text.extend_from_slice(b"\"}\"}");
                let expected = end_bytewise(&text);
                assert_eq!(end_of(&text), expected, "run {run} ending at {end}");
            }
        }
    }

    #[test]
    fn block_scan_equals_the_bytewise_reference_on_random_input() {
        let alphabet = b"{}[]\"\\a,:";
        let mut rng = Rng::new(7);
        for _ in 0..20_000 {
            let len = rng.between(1, 300) as usize;
            let mut text: Vec<u8> = (0..len).map(|_| alphabet[rng.below(9) as usize]).collect();
            text[0] = if rng.below(2) == 0 { b'{' } else { b'[' };
            assert_eq!(end_of(&text), end_bytewise(&text), "{}", String::from_utf8_lossy(&text));
            // And resumed at a random split.
            let split = rng.below(len as u64) as usize;
            let mut scan = ValueScan::default();
            let expected = end_bytewise(&text);
            let result = match scan.scan(&text[..split]) {
                Scan::More => scan.scan(&text),
                done => done,
            };
            let comparable = match (&result, &expected) {
                // A value that ended before the split is found either way.
                (Scan::End(a), Scan::End(b)) => a == b,
                (a, b) => a == b,
            };
            assert!(comparable, "split {split}: {result:?} vs {expected:?}");
        }
    }

    #[test]
    fn the_carry_less_prefix_xor_equals_the_shifts() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("pclmulqdq") {
            let mut rng = Rng::new(13);
            for bits in [0, 1, u64::MAX, 1 << 63].into_iter().chain((0..10_000).map(|_| rng.next())) {
                // SAFETY: this processor has PCLMULQDQ, just checked.
                assert_eq!(unsafe { prefix_xor_clmul(bits) }, prefix_xor(bits), "{bits:#x}");
            }
        }
    }

    #[test]
    fn portable_masks_equal_the_simd_masks() {
        let mut rng = Rng::new(11);
        for _ in 0..2_000 {
            let block: [u8; 64] = std::array::from_fn(|_| rng.below(256) as u8);
            let (a, b) = (Masks::of(&block), Masks::scalar(&block));
            assert_eq!((a.quote, a.backslash, a.open, a.close), (b.quote, b.backslash, b.open, b.close));
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: this processor has AVX2, just checked.
                let c = unsafe { Masks::of_avx2(&block) };
                assert_eq!((c.quote, c.backslash, c.open, c.close), (b.quote, b.backslash, b.open, b.close));
            }
        }
    }
}
