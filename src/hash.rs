//! Hashing, at the bottom of the tree: the SHA-256 CloudTrail records of every log file and digest
//! (the decoder hashes a log file as it inflates it), and the lower-case hex CloudTrail writes
//! hashes and signatures in.

use std::borrow::Cow;
use std::fmt;

use aws_lc_rs::digest as sha;

/// A SHA-256 value; shown as CloudTrail writes it, 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Sha256(pub(crate) [u8; 32]);

impl Sha256 {
    pub(crate) fn of(bytes: &[u8]) -> Sha256 {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// Parses 64 hex digits, in either case.
    pub(crate) fn from_hex(text: &str) -> Option<Sha256> {
        let bytes = unhex(text)?;
        Some(Sha256(bytes.try_into().ok()?))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

/// SHA-256 of bytes fed in pieces: a log file is hashed as it is inflated, never read twice.
pub(crate) struct Hasher(sha::Context);

impl Hasher {
    pub(crate) fn new() -> Hasher {
        Hasher(sha::Context::new(&sha::SHA256))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn finish(self) -> Sha256 {
        let digest = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Sha256(out)
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

/// Text CloudTrail writes in hex (a signature: 512 digits for 2048-bit RSA), kept exactly as
/// written in half the memory: as its bytes when it is lower-case hex, which [`HexText::text`]
/// gives back digit for digit, else as the text itself.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum HexText {
    Bytes(Box<[u8]>),
    Text(Box<str>),
}

impl HexText {
    pub(crate) fn new(text: String) -> HexText {
        match unhex(&text) {
            Some(bytes) if hex(&bytes) == text => HexText::Bytes(bytes.into_boxed_slice()),
            _ => HexText::Text(text.into_boxed_str()),
        }
    }

    /// The text as written.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            HexText::Bytes(bytes) => Cow::Owned(hex(bytes)),
            HexText::Text(text) => Cow::Borrowed(text),
        }
    }
}

impl From<String> for HexText {
    fn from(text: String) -> HexText {
        HexText::new(text)
    }
}

impl From<&str> for HexText {
    fn from(text: &str) -> HexText {
        HexText::new(text.to_owned())
    }
}

impl fmt::Debug for HexText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text())
    }
}

/// Lower-case hex, as CloudTrail writes hashes and signatures.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Hex digits (either case) to bytes; `None` for an odd length or any other character.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let value = |d: u8| char::from(d).to_digit(16).map(|v| v as u8);
    digits.chunks_exact(2).map(|pair| Some(value(pair[0])? << 4 | value(pair[1])?)).collect()
}

/// FNV-1a, 64 bits, of `bytes`: the hash that assigns work by name, the same on every machine,
/// in every run and every version. It is a persisted contract: the shards of one run
/// (`source::shard`: which shard owns a key, which hours of a day folder) may be run by different
/// builds and their partials merged, and `--verify`'s buckets and parts (`verify::facts`,
/// `verify::split`) must file a name where every other fact of it goes. Changing it changes which
/// shard reads what: never do it within a partial format.
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes
        .into_iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        // The FNV-1a test vectors (Fowler, Noll and Vo's reference code, 64-bit).
        assert_eq!(fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn sha256_is_the_standard_one_and_prints_as_cloudtrail_writes_it() {
        // FIPS 180-2 test vector.
        assert_eq!(
            Sha256::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut pieces = Hasher::new();
        pieces.update(b"a");
        pieces.update(b"bc");
        assert_eq!(pieces.finish(), Sha256::of(b"abc"));
    }

    #[test]
    fn hex_round_trips_and_rejects_what_is_not_hex() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        for bad in ["0", "0g", "zz", "ab cd", "é1"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
        assert_eq!(Sha256::from_hex("ab"), None, "too short for a SHA-256");
    }

    #[test]
    fn hex_text_gives_back_exactly_what_was_written() {
        for text in ["00abff", "00ABff", " 00ab", "xyz", "0", ""] {
            assert_eq!(HexText::from(text).text(), text, "{text:?}");
        }
        assert!(matches!(HexText::from("00abff"), HexText::Bytes(_)), "lower-case hex as its bytes");
        assert_ne!(HexText::from("00abff"), HexText::from("00ABff"), "equal as texts are");
    }
}
