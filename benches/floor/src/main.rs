//! The floor any reader of a gzipped archive meets: every object inflated on every core, the output
//! thrown away, and nothing else (no splitting, no parsing). `benches/compare.sh` runs it beside
//! trailscope so that each figure has its floor from the same run.
//!
//!   cargo build --release --manifest-path benches/floor/Cargo.toml   # what compare.sh does
//!   trailscope-floor flate2 PATH...      # flate2's streaming inflate, in 1 MiB pieces (zlib-ng;
//!                                        # zlib-rs with --no-default-features --features zlib-rs)
//!   trailscope-floor libdeflate PATH...  # libdeflate, each object whole into a reused buffer
//!
//! PATH is an archive folder (every `*.json.gz` below it) or one object. Prints the objects, how
//! many were unreadable, and the bytes inflated, to stderr.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;
use rayon::prelude::*;

/// Every `*.json.gz` below `dir`, as `find DIR -name '*.json.gz'` (compare.sh's zcat) lists them.
fn objects(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            objects(&path, found)?;
        } else if path.to_string_lossy().ends_with(".json.gz") {
            found.push(path);
        }
    }
    Ok(())
}

/// Streams through flate2 in pieces of the size of trailscope's window, as zcat does. `None` for
/// an unreadable object (generated archives hold a few on purpose).
fn flate2(compressed: &[u8], out: &mut Vec<u8>) -> Option<u64> {
    out.resize(1 << 20, 0);
    let mut decoder = MultiGzDecoder::new(compressed);
    let mut total = 0;
    loop {
        match decoder.read(out) {
            Ok(0) => return Some(total),
            Ok(n) => total += n as u64,
            Err(_) => return None,
        }
    }
}

/// One libdeflate call per object into a buffer of the size the gzip trailer gives (one member,
/// as CloudTrail writes them), never more than deflate's largest ratio (1032:1) allows.
fn libdeflate(
    decompressor: &mut libdeflater::Decompressor,
    compressed: &[u8],
    out: &mut Vec<u8>,
) -> Option<u64> {
    let trailer = compressed.len().checked_sub(4)?;
    let isize = u32::from_le_bytes(compressed[trailer..].try_into().ok()?) as usize;
    let isize = isize.min(compressed.len().saturating_mul(1032));
    if out.len() < isize {
        out.resize(isize, 0);
    }
    decompressor.gzip_decompress(compressed, &mut out[..isize]).ok().map(|n| n as u64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (inflater, paths) = args.split_first().expect("usage: trailscope-floor flate2|libdeflate PATH...");
    let mut found = Vec::new();
    for path in paths {
        let path = Path::new(path);
        if path.is_dir() {
            objects(path, &mut found).expect("list the archive");
        } else {
            found.push(path.to_owned());
        }
    }
    let (bytes, unreadable) = (AtomicU64::new(0), AtomicU64::new(0));
    let whole = inflater == "libdeflate";
    assert!(whole || inflater == "flate2", "inflater: flate2 or libdeflate, not {inflater}");
    found.par_iter().for_each_init(
        || (Vec::new(), Vec::new(), libdeflater::Decompressor::new()),
        |(compressed, out, decompressor), path| {
            compressed.clear();
            std::fs::File::open(path).and_then(|mut f| f.read_to_end(compressed)).expect("read");
            let n = if whole { libdeflate(decompressor, compressed, out) } else { flate2(compressed, out) };
            match n {
                Some(n) => bytes.fetch_add(n, Ordering::Relaxed),
                None => unreadable.fetch_add(1, Ordering::Relaxed),
            };
        },
    );
    let backend = if cfg!(feature = "zlib-ng") { "zlib-ng" } else { "zlib-rs" };
    let used = if whole { "libdeflate" } else { backend };
    eprintln!(
        "floor ({used}): {} objects ({} unreadable), {} bytes inflated",
        found.len(),
        unreadable.into_inner(),
        bytes.into_inner()
    );
}
