//! Writing a partial: the header, every kept record, then any residue.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::Header;
use crate::event::Kept;
use crate::verify::fact::Fact;

/// Writes the partial of `kept` (every kept record, in origin order) under `header` to `out`, then
/// the residue (`header.residue` facts, with `--verify`; an error taking one ends the writing).
pub(crate) fn write(
    out: impl Write,
    header: &Header,
    kept: &Kept,
    residue: impl Iterator<Item = io::Result<Fact>>,
) -> io::Result<()> {
    let mut gz = GzEncoder::new(io::BufWriter::with_capacity(1 << 16, out), Compression::fast());
    serde_json::to_writer(&mut gz, header)?;
    gz.write_all(b"\n")?;
    let mut record = Vec::new();
    for event in &kept.events {
        kept.spool.read(event.record, &mut record)?;
        // JSON Lines: a record's own line breaks can only be whitespace between its tokens (inside
        // strings they are escaped), so they become spaces and the record stays the same JSON.
        for byte in &mut record {
            if matches!(*byte, b'\n' | b'\r') {
                *byte = b' ';
            }
        }
        gz.write_all(b"{\"o\":")?;
        serde_json::to_writer(&mut gz, &kept.objects[event.origin.object as usize])?;
        write!(gz, ",\"i\":{},\"r\":", event.origin.record)?;
        gz.write_all(&record)?;
        gz.write_all(b"}\n")?;
    }
    for fact in residue {
        let fact = fact?;
        gz.write_all(b"{\"v\":")?;
        serde_json::to_writer(&mut gz, &fact)?;
        gz.write_all(b"}\n")?;
    }
    gz.finish()?.flush()
}
