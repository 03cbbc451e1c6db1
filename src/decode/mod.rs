//! How one object becomes records: read its bytes, inflate if gzip, recognise the shape
//! (CloudTrail log, LookupEvents export, JSON Lines), parse with simd-json, and hand every record
//! to the Instance Connect extractor. All buffers are owned by a [`Decoder`] and reused.

pub mod inflate;
pub mod json;
mod shape;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::event::{self, IcEvent};
use crate::source::{Location, NameHint, ObjectRef};

pub use inflate::is_gzip;

/// Why an object could not be read.
#[derive(Debug)]
pub enum Reason {
    Read(io::Error),
    /// An S3 download that failed after the SDK's retries.
    Fetch(String),
    Empty,
    TooLarge {
        limit: u64,
    },
    Gzip(String),
    Truncated,
    /// The bytes are not JSON; `at` says where inside the object when that helps.
    Json {
        at: Option<String>,
        detail: String,
    },
    /// Valid JSON, but not a shape trailscope knows.
    Shape(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Read(e) => write!(f, "cannot read: {e}"),
            Reason::Fetch(cause) => write!(f, "cannot download: {cause}"),
            Reason::Empty => f.write_str("empty object"),
            Reason::TooLarge { limit } => {
                write!(f, "larger than {limit} bytes when decompressed (see --max-object-size)")
            }
            Reason::Gzip(detail) => write!(f, "corrupt gzip data: {detail}"),
            Reason::Truncated => f.write_str("truncated gzip stream (unexpected end of data)"),
            Reason::Json { at: Some(at), detail } => write!(f, "invalid JSON in {at}: {detail}"),
            Reason::Json { at: None, detail } => write!(f, "invalid JSON: {detail}"),
            Reason::Shape(detail) => f.write_str(detail),
        }
    }
}

/// What a readable object contributed.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Every record in the object, Instance Connect or not.
    pub records: u64,
    /// The Instance Connect events, in record order, origins carrying only the record index.
    pub events: Vec<IcEvent>,
}

/// One worker's reusable state: read buffer, inflate buffer, parser buffers and tapes.
pub struct Decoder {
    raw: Vec<u8>,
    inflated: Vec<u8>,
    parser: shape::Parser,
    max_object_size: u64,
}

impl Decoder {
    pub fn new(max_object_size: u64) -> Self {
        Decoder { raw: Vec::new(), inflated: Vec::new(), parser: shape::Parser::new(), max_object_size }
    }

    /// Reads and decodes one object.
    pub fn read(&mut self, object: &ObjectRef) -> Result<Decoded, Reason> {
        match &object.location {
            Location::Local(path) => read_file(path, &mut self.raw, self.max_object_size)?,
            // Downloads arrive as bytes through `decode_owned`; reaching here is a wiring bug,
            // reported as an unreadable object rather than a panic.
            Location::S3 { .. } => return Err(Reason::Fetch("S3 object read without a download".into())),
        }
        self.decode_raw(object.hint)
    }

    /// Decodes downloaded bytes, taking them over as this worker's read buffer (no copy).
    pub fn decode_owned(&mut self, mut bytes: Vec<u8>, hint: NameHint) -> Result<Decoded, Reason> {
        if bytes.len() as u64 > self.max_object_size {
            return Err(Reason::TooLarge { limit: self.max_object_size });
        }
        std::mem::swap(&mut self.raw, &mut bytes);
        self.decode_raw(hint)
    }

    /// Decodes an object already in memory (tests, fuzzing, other sources).
    pub fn decode(&mut self, bytes: &[u8], hint: NameHint) -> Result<Decoded, Reason> {
        if bytes.len() as u64 > self.max_object_size {
            return Err(Reason::TooLarge { limit: self.max_object_size });
        }
        self.raw.clear();
        self.raw.extend_from_slice(bytes);
        self.decode_raw(hint)
    }

    fn decode_raw(&mut self, hint: NameHint) -> Result<Decoded, Reason> {
        let Decoder { raw, inflated, parser, max_object_size } = self;
        if raw.is_empty() {
            return Err(Reason::Empty);
        }
        let document = if is_gzip(raw) {
            inflate::inflate(raw, inflated, *max_object_size)?;
            inflated
        } else if !looks_like_json(raw) {
            let start: Vec<String> = raw.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(Reason::Shape(format!(
                "neither gzip nor JSON (starts with bytes {})",
                start.join(" ")
            )));
        } else {
            raw
        };
        let mut decoded = Decoded::default();
        decoded.records = parser.records(document, hint, &mut |record, index, maybe_ic| {
            if maybe_ic {
                if let Some(event) = event::extract(record, index) {
                    decoded.events.push(event);
                }
            }
        })?;
        Ok(decoded)
    }
}

/// Whether uncompressed bytes can be JSON at all: an object or array after optional whitespace
/// and byte order mark. Anything else gets a clearer reason than a parser error.
fn looks_like_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => true,
        Some(_) => false,
        None => true, // only whitespace: the parser reports it as empty
    }
}

fn read_file(path: &Path, buf: &mut Vec<u8>, limit: u64) -> Result<(), Reason> {
    buf.clear();
    let file = File::open(path).map_err(Reason::Read)?;
    // Compressed bytes beyond the decompressed limit cannot be a readable object either.
    file.take(limit.saturating_add(1)).read_to_end(buf).map_err(Reason::Read)?;
    if buf.len() as u64 > limit {
        buf.clear();
        return Err(Reason::TooLarge { limit });
    }
    Ok(())
}
