//! Gzip detection by magic bytes (not by name) and bounded decompression into a reused buffer.

use std::io::{self, Read};

use flate2::bufread::MultiGzDecoder;

use super::Reason;

/// True when `bytes` start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses every gzip member of `compressed` (S3 objects may hold several, concatenated)
/// into `out`, refusing to produce more than `limit` bytes so that a gzip bomb is an
/// unreadable object, not an out-of-memory kill.
pub fn inflate(compressed: &[u8], out: &mut Vec<u8>, limit: u64) -> Result<(), Reason> {
    out.clear();
    let decoder = MultiGzDecoder::new(compressed);
    decoder.take(limit.saturating_add(1)).read_to_end(out).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Reason::Truncated,
        _ => Reason::Gzip(e.to_string()),
    })?;
    if out.len() as u64 > limit {
        out.clear();
        return Err(Reason::TooLarge { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).expect("write to Vec");
        encoder.finish().expect("finish to Vec")
    }

    #[test]
    fn concatenated_members_are_one_object() {
        let mut bytes = gzip(b"{\"Records\":");
        bytes.extend(gzip(b"[]}"));
        let mut out = Vec::new();
        inflate(&bytes, &mut out, 1 << 20).expect("valid multi-member gzip");
        assert_eq!(out, b"{\"Records\":[]}");
    }

    #[test]
    fn truncated_stream_is_reported_as_truncated() {
        let bytes = gzip(&[b'x'; 10_000]);
        let mut out = Vec::new();
        let err = inflate(&bytes[..bytes.len() / 2], &mut out, 1 << 20).expect_err("truncated");
        assert!(matches!(err, Reason::Truncated), "{err}");
    }

    #[test]
    fn output_beyond_the_limit_is_refused() {
        let bytes = gzip(&vec![b' '; 100_000]);
        let mut out = Vec::new();
        let err = inflate(&bytes, &mut out, 99_999).expect_err("over the limit");
        assert!(matches!(err, Reason::TooLarge { limit: 99_999 }), "{err}");
        inflate(&bytes, &mut out, 100_000).expect("exactly at the limit");
    }

    #[test]
    fn corrupt_deflate_data_is_a_gzip_error() {
        let mut bytes = gzip(&[b'y'; 1_000]);
        let middle = bytes.len() / 2;
        for b in &mut bytes[10..middle] {
            *b ^= 0x5a;
        }
        let mut out = Vec::new();
        let err = inflate(&bytes, &mut out, 1 << 20).expect_err("corrupt");
        assert!(matches!(err, Reason::Gzip(_) | Reason::Truncated), "{err}");
    }
}
