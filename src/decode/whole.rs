//! The fast path for the common object: one small gzip member, inflated whole by libdeflate (about
//! 1.5 times the speed of zlib-ng's streaming inflate on CloudTrail objects) into a buffer the
//! worker keeps. The member's trailer gives its inflated size (ISIZE), so the buffer is sized
//! exactly and nothing beyond [`UP_TO`] or the object size limit is ever allocated.
//!
//! Only an object libdeflate reads completely and correctly takes this path: one member whose CRC
//! and size check, ending where the object ends. Anything else (several members, a truncated or
//! corrupt member, a trailer that lies, a header CRC, which libdeflate does not check) is left to
//! the streaming path, which gives the same reasons it always gave.

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Objects up to this size inflated are inflated whole, and local files up to this size are read
/// whole first. Each worker keeps both buffers at the size of the largest such object it has
/// read, so at most `--jobs` x 16 MiB beside the 1 MiB streaming windows; CloudTrail's objects
/// are mostly far smaller (the bench preset's: 30 KB gzipped, 250 KB inflated, on average).
pub(crate) const UP_TO: usize = 8 << 20;

/// gzip header flag: a CRC of the header follows it.
const FHCRC: u8 = 1 << 1;

/// A libdeflate decompressor (a few KiB of tables), one per worker.
pub(super) struct Inflater {
    raw: *mut libdeflate_decompressor,
}

// SAFETY: the decompressor is plain memory owned by this value, used through `&mut self` only;
// libdeflate keeps no other reference to it and no thread-local state.
unsafe impl Send for Inflater {}

impl Inflater {
    pub(super) fn new() -> Self {
        // SAFETY: no arguments; a null result (out of memory) is checked below.
        let raw = unsafe { libdeflate_alloc_decompressor() };
        assert!(!raw.is_null(), "libdeflate: out of memory for a decompressor");
        Inflater { raw }
    }

    /// Inflates `gzip` whole into `out` (grown as needed, never shrunk) and returns the inflated
    /// length, or `None` when the object is not one well-formed member of at most `limit` bytes
    /// inflated: then the streaming path reads it.
    pub(super) fn inflate(&mut self, gzip: &[u8], out: &mut Vec<u8>, limit: u64) -> Option<usize> {
        // Header (10 bytes) and trailer (CRC and ISIZE, 8 bytes), at least.
        if gzip.len() < 18 || gzip[..3] != [0x1f, 0x8b, 8] || gzip[3] & FHCRC != 0 {
            return None;
        }
        let size = u32::from_le_bytes(gzip[gzip.len() - 4..].try_into().ok()?) as usize;
        if size == 0 || size > UP_TO || size as u64 > limit || gzip.len() as u64 > limit {
            return None;
        }
        if out.len() < size {
            // Zeroed once up to the largest object the worker has met, not once per object.
            out.resize(size, 0);
        }
        let (mut read, mut written) = (0usize, 0usize);
        // SAFETY: both pointers come from live slices and the lengths are theirs; libdeflate
        // writes at most `size` bytes to `out` and reads at most `gzip.len()` bytes.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.raw,
                gzip.as_ptr().cast(),
                gzip.len(),
                out.as_mut_ptr().cast(),
                size,
                &mut read,
                &mut written,
            )
        };
        // libdeflate has checked the member's CRC and ISIZE; what follows it (another member,
        // or anything else) is the streaming path's to judge.
        (result == libdeflate_result_LIBDEFLATE_SUCCESS && read == gzip.len() && written == size)
            .then_some(size)
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once, here.
        unsafe { libdeflate_free_decompressor(self.raw) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("write to Vec");
        encoder.finish().expect("finish to Vec")
    }

    #[test]
    fn one_member_is_inflated_whole_and_anything_else_is_left_to_the_stream() {
        let (mut inflater, mut out) = (Inflater::new(), Vec::new());
        let member = gzip(b"{\"Records\":[]}");
        assert_eq!(inflater.inflate(&member, &mut out, 1 << 30), Some(14));
        assert_eq!(&out[..14], b"{\"Records\":[]}");
        let mut two = member.clone();
        two.extend(&member);
        assert_eq!(inflater.inflate(&two, &mut out, 1 << 30), None, "a second member follows");
        assert_eq!(inflater.inflate(&member[..member.len() - 1], &mut out, 1 << 30), None, "truncated");
        assert_eq!(inflater.inflate(&member, &mut out, 13), None, "over the limit");
        let big = gzip(&vec![b' '; UP_TO + 1]);
        assert_eq!(inflater.inflate(&big, &mut out, 1 << 30), None, "over the per-worker cap");
        assert!(out.len() <= UP_TO, "the buffer never grows past the cap");
        let mut lying = gzip(b"{\"Records\":[{}]}");
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(inflater.inflate(&lying, &mut out, 1 << 30), None, "ISIZE that lies");
    }
}
