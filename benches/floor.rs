//! The floor any reader of a gzipped archive meets: every object inflated on every core, the output
//! thrown away, and nothing else (no splitting, no parsing). `benches/compare.sh` runs it beside
//! trailscope so that each figure has its floor from the same run.
//!
//!   floor flate2 PATH...       # flate2's streaming inflate (the backend this build has: zlib-ng
//!                              # by default, zlib-rs with --no-default-features --features zlib-rs)
//!   floor libdeflate PATH...   # libdeflate, whole object into a reused buffer sized by ISIZE
//!
//! PATH is an archive folder (every `*.json.gz` below it) or one object. Prints the objects and
//! the bytes inflated, to stderr.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;
use rayon::prelude::*;

fn objects(path: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            objects(&entry?.path(), found)?;
        }
    } else if path.to_string_lossy().ends_with(".json.gz") || found.is_empty() {
        found.push(path.to_owned());
    }
    Ok(())
}

/// Streams through flate2 in the pieces trailscope's window reads, as zcat does.
fn flate2(compressed: &[u8], out: &mut Vec<u8>) -> u64 {
    out.resize(1 << 20, 0);
    let mut decoder = MultiGzDecoder::new(compressed);
    let mut total = 0;
    loop {
        match decoder.read(out) {
            Ok(0) => return total,
            Ok(n) => total += n as u64,
            Err(e) => panic!("inflate: {e}"),
        }
    }
}

/// One libdeflate call per object into a buffer of the size the gzip trailer gives (single-member
/// objects, as CloudTrail writes them).
fn libdeflate(decompressor: &mut libdeflater::Decompressor, compressed: &[u8], out: &mut Vec<u8>) -> u64 {
    let isize = u32::from_le_bytes(compressed[compressed.len() - 4..].try_into().expect("4 bytes")) as usize;
    if out.len() < isize {
        out.resize(isize, 0);
    }
    decompressor.gzip_decompress(compressed, &mut out[..isize]).expect("inflate") as u64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (inflater, paths) = args.split_first().expect("usage: floor flate2|libdeflate PATH...");
    let mut found = Vec::new();
    for path in paths {
        objects(Path::new(path), &mut found).expect("list the archive");
    }
    let bytes = AtomicU64::new(0);
    let whole = inflater == "libdeflate";
    assert!(whole || inflater == "flate2", "inflater: flate2 or libdeflate, not {inflater}");
    found.par_iter().for_each_init(
        || (Vec::new(), Vec::new(), libdeflater::Decompressor::new()),
        |(compressed, out, decompressor), path| {
            compressed.clear();
            std::fs::File::open(path).and_then(|mut f| f.read_to_end(compressed)).expect("read");
            let n = if whole { libdeflate(decompressor, compressed, out) } else { flate2(compressed, out) };
            bytes.fetch_add(n, Ordering::Relaxed);
        },
    );
    let backend = if cfg!(feature = "zlib-ng") { "zlib-ng" } else { "zlib-rs" };
    let used = if whole { "libdeflate" } else { backend };
    eprintln!("floor ({used}): {} objects, {} bytes inflated", found.len(), bytes.into_inner());
}
