//! Gzip recognised by its magic bytes, not by the object's name, and inflated as a stream: one
//! member or several concatenated (S3 objects may hold several), never the whole object at once.

use std::io::{BufRead, Read};

use flate2::bufread::MultiGzDecoder;

use super::Reason;

/// The object's decompressed bytes: inflated when it starts like gzip, else as they are, which
/// must then look like JSON (an object or array after optional whitespace and byte order mark).
pub(super) fn decompressed<'a>(raw: &'a mut dyn BufRead) -> Result<Box<dyn Read + 'a>, Reason> {
    let start = raw.fill_buf().map_err(Reason::from_io)?;
    if start.is_empty() {
        return Err(Reason::Empty);
    }
    if start.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(MultiGzDecoder::new(raw)));
    }
    let text = start.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(start);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') | None => Ok(Box::new(raw)),
        Some(_) => {
            let first: Vec<String> = start.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(Reason::NeitherGzipNorJson(first.join(" ")))
        }
    }
}
