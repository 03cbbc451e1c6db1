//! How one object's bytes become records, as they arrive: inflate in bounded chunks (gzip is
//! recognised by its magic bytes, not its name), split the stream into records by its structure
//! alone, and hand on only the records whose bytes name Instance Connect. Nothing here holds more
//! than a window of the decompressed stream, whatever the object's size.
//!
//! The shapes read are those real exports come in: CloudTrail log files (`{"Records":[…]}`),
//! LookupEvents exports (`{"Events":[{"CloudTrailEvent":"…"}]}`), top-level arrays of records,
//! JSON Lines, single records, and EventBridge envelopes in any of those places (the event stage
//! unwraps an envelope's `detail`).

mod inflate;
mod input;
pub(crate) mod json;
pub(crate) mod lex;
mod needles;
mod shape;
mod structure;
mod whole;

use std::fs::File;
use std::io::{self, BufReader, Read};

use crate::error::Reason;
use crate::hash::{Hasher, Sha256};
use crate::time::Timestamp;

#[cfg(test)]
use input::WINDOW;

/// Where the records a decoder finds go. Only records that hold every needle of one of the
/// decoder's alternatives, written any way JSON allows (see [`needles`]), are handed on: the
/// others are only counted.
pub(crate) trait Sink {
    /// A record that may be an Instance Connect event. `index` is its position among the
    /// object's records; `record` is its JSON text (which the sink may modify).
    fn candidate(&mut self, index: u32, record: &mut [u8]) -> Result<(), Reason>;

    /// The first member name of a document this sink reads itself, in a format of its own: an
    /// object whose first top-level value is an object starting with this member is not walked
    /// for records; each of its top-level objects is handed to [`Sink::claimed`] whole.
    fn claims(&self) -> Option<&'static [u8]> {
        None
    }

    /// One top-level object of a document this sink claims, whole, in order: the first is the
    /// one that starts with the member [`Sink::claims`] names.
    fn claimed(&mut self, _value: &[u8]) -> Result<(), Reason> {
        Err(Reason::shape("a document of a format this reader does not read"))
    }
}

/// What a readable object held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Every record, Instance Connect or not.
    pub(crate) records: u64,
    /// With [`Decoder::verifying`]: the SHA-256 of every decompressed byte, as CloudTrail's
    /// digests record it, hashed as the bytes were inflated.
    pub(crate) sha256: Option<Sha256>,
    /// With [`Decoder::verifying`]: the earliest and latest `eventTime` of the records.
    pub(crate) events: Option<(Timestamp, Timestamp)>,
}

/// One worker's reusable state: the window over the decompressed stream, the buffers of the
/// whole-object path, the structure scanner and the parser buffers for LookupEvents entries.
pub(crate) struct Decoder {
    window: Vec<u8>,
    /// A small object's compressed bytes, read whole from its file.
    compressed: Vec<u8>,
    /// A small object inflated whole (see [`whole`]).
    inflated: Vec<u8>,
    inflater: whole::Inflater,
    shape: shape::Walker,
    max_object_size: u64,
    verifying: bool,
}

/// Compressed bytes are read in pieces of this size.
const READ_BUFFER: usize = 128 << 10;

impl Decoder {
    /// A decoder that hands on the records that hold every needle of one of `needles` (what the event
    /// stage's candidates hold: a record without any cannot be one of its events; see
    /// [`needles`]), and refuses objects of more than `max_object_size` bytes decompressed.
    pub(crate) fn new(max_object_size: u64, needles: &[&[&[u8]]]) -> Self {
        Decoder {
            window: Vec::new(),
            compressed: Vec::new(),
            inflated: Vec::new(),
            inflater: whole::Inflater::new(),
            shape: shape::Walker::new(needles::Needles::new(needles)),
            max_object_size,
            verifying: false,
        }
    }

    /// Also hashes each object's decompressed bytes and notes the span of its records' times, for
    /// verifying it against CloudTrail's digests (`--verify`).
    pub(crate) fn verifying(mut self) -> Self {
        self.verifying = true;
        self.shape.note_times(true);
        self
    }

    /// Reads one object to its end, handing every record that names Instance Connect to `sink`.
    /// Any error means the whole object is unreadable: the sink must then forget what it was
    /// given for this object.
    pub(crate) fn read(&mut self, raw: &mut dyn Read, sink: &mut dyn Sink) -> Result<Decoded, Reason> {
        let limit = self.max_object_size;
        // Compressed bytes beyond the decompressed limit cannot make a readable object either.
        let mut raw = BufReader::with_capacity(
            READ_BUFFER,
            Limited { inner: raw, left: limit.saturating_add(1), limit },
        );
        let stream = inflate::decompressed(&mut raw)?;
        let mut stream = Hashing { inner: stream, hasher: self.verifying.then(Hasher::new) };
        let mut input = input::Input::new(&mut stream, &mut self.window, limit);
        let walked = self.shape.walk(&mut input, sink)?;
        Ok(Decoded {
            records: walked.records,
            sha256: stream.hasher.map(Hasher::finish),
            events: walked.events,
        })
    }

    /// Decodes an object already in memory: a small single-member gzip object is inflated whole
    /// (see [`whole`]), anything else is streamed as [`Decoder::read`] streams it. The result is
    /// the same either way, reasons included.
    pub(crate) fn decode(&mut self, bytes: &[u8], sink: &mut dyn Sink) -> Result<Decoded, Reason> {
        match self.inflater.inflate(bytes, &mut self.inflated, self.max_object_size) {
            Some(size) => self.walk_inflated(size, sink),
            None => self.read(&mut &bytes[..], sink),
        }
    }

    /// Reads the object in the file at `path`: read whole, then [`Decoder::decode`], when it is
    /// small enough for the whole-object path; else streamed.
    pub(crate) fn read_file(
        &mut self,
        path: &std::path::Path,
        sink: &mut dyn Sink,
    ) -> Result<Decoded, Reason> {
        let mut file = File::open(path).map_err(Reason::read)?;
        let small = file.metadata().is_ok_and(|m| m.len() <= whole::UP_TO as u64);
        if !small {
            return self.read(&mut file, sink);
        }
        let mut compressed = std::mem::take(&mut self.compressed);
        compressed.clear();
        // The file may grow after its size was taken: never read more than the whole path takes.
        let read = (&mut file).take(whole::UP_TO as u64 + 1).read_to_end(&mut compressed);
        let result = match read {
            Ok(n) if n <= whole::UP_TO => self.decode(&compressed, sink),
            // What was read is still the start of the object: stream it and the rest.
            Ok(_) => self.read(&mut (&compressed[..]).chain(&mut file), sink),
            Err(e) => Err(Reason::read(e)),
        };
        self.compressed = compressed;
        result
    }

    /// Walks the first `size` bytes of `self.inflated`, an object inflated whole.
    fn walk_inflated(&mut self, size: usize, sink: &mut dyn Sink) -> Result<Decoded, Reason> {
        // Hashed before the walk: the sink may modify the records it is given in place.
        let sha256 = self.verifying.then(|| {
            let mut hasher = Hasher::new();
            hasher.update(&self.inflated[..size]);
            hasher.finish()
        });
        let mut input = input::Input::whole(&mut self.inflated, size);
        let walked = self.shape.walk(&mut input, sink)?;
        Ok(Decoded { records: walked.records, sha256, events: walked.events })
    }
}

/// A small object (a digest) decompressed whole, with the same recognition of gzip and the same
/// limit and reasons as [`Decoder::read`].
pub(crate) fn read_whole(raw: &mut dyn Read, limit: u64) -> Result<Vec<u8>, Reason> {
    let mut raw = BufReader::new(Limited { inner: raw, left: limit.saturating_add(1), limit });
    let mut content = Vec::new();
    inflate::decompressed(&mut raw)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut content)
        .map_err(Reason::from_io)?;
    if content.len() as u64 > limit {
        return Err(Reason::TooLarge { limit });
    }
    Ok(content)
}

/// Hashes what passes through, when asked to.
struct Hashing<R> {
    inner: R,
    hasher: Option<Hasher>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Refuses to read more than `limit` bytes from the source.
struct Limited<'a> {
    inner: &'a mut dyn Read,
    left: u64,
    limit: u64,
}

impl Read for Limited<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(Reason::TooLarge { limit: self.limit }.into_io());
        }
        let most = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..most]).map_err(|e| {
            // An error of the source itself (a file, a download), not of the data.
            if e.get_ref().is_some_and(|inner| inner.is::<Reason>()) {
                e
            } else {
                Reason::read(e).into_io()
            }
        })?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const NEEDLE: &[&[&[u8]]] = &[&[b"ec2-instance-connect.amazonaws.com"]];

    /// Collects candidates' indexes and texts.
    #[derive(Default)]
    pub(crate) struct Collect(pub(crate) Vec<(u32, String)>);

    impl Sink for Collect {
        fn candidate(&mut self, index: u32, record: &mut [u8]) -> Result<(), Reason> {
            self.0.push((index, String::from_utf8_lossy(record).into_owned()));
            Ok(())
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<(u64, Vec<(u32, String)>), Reason> {
        let mut sink = Collect::default();
        let decoded = Decoder::new(1 << 30, NEEDLE).decode(bytes, &mut sink)?;
        Ok((decoded.records, sink.0))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("write to Vec");
        encoder.finish().expect("finish to Vec")
    }

    const IC: &str = r#"{"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel"}"#;

    #[test]
    fn gzip_is_recognised_by_content_and_members_are_one_object() {
        let log = format!("{{\"Records\":[{IC}]}}");
        let mut bytes = gzip(&log.as_bytes()[..5]);
        bytes.extend(gzip(&log.as_bytes()[5..]));
        assert_eq!(decode(&bytes).expect("multi-member gzip").0, 1);
        assert_eq!(decode(log.as_bytes()).expect("plain").0, 1);
    }

    #[test]
    fn truncated_and_corrupt_gzip_are_unreadable() {
        let log = format!("{{\"Records\":[{}]}}", [IC; 200].join(","));
        let bytes = gzip(log.as_bytes());
        assert!(matches!(decode(&bytes[..bytes.len() / 2]), Err(Reason::Truncated)));
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle..middle + 8].iter_mut().for_each(|b| *b ^= 0x5a);
        assert!(matches!(decode(&flipped), Err(Reason::Gzip(_) | Reason::Truncated)));
    }

    #[test]
    fn a_bomb_is_too_large_not_an_allocation() {
        let bytes = gzip(&vec![b' '; 3 << 20]);
        let mut decoder = Decoder::new(1 << 20, NEEDLE);
        let err = decoder.decode(&bytes, &mut Collect::default()).expect_err("over the limit");
        assert!(matches!(err, Reason::TooLarge { limit } if limit == 1 << 20), "{err}");
    }

    #[test]
    fn a_small_object_read_whole_has_the_same_reasons() {
        let digest = br#"{"awsAccountId":"111122223333"}"#;
        assert_eq!(read_whole(&mut &gzip(digest)[..], 1 << 20).expect("gzip"), digest);
        assert_eq!(read_whole(&mut &digest[..], 1 << 20).expect("plain"), digest);
        let bytes = gzip(&[b' '; 4096]);
        assert!(matches!(read_whole(&mut &bytes[..bytes.len() / 2], 1 << 20), Err(Reason::Truncated)));
        assert!(matches!(read_whole(&mut &bytes[..], 1024), Err(Reason::TooLarge { limit: 1024 })));
        assert!(matches!(read_whole(&mut &b"PK\x03\x04"[..], 1024), Err(Reason::NeitherGzipNorJson(_))));
    }

    #[test]
    fn neither_gzip_nor_json_says_what_it_starts_with() {
        let err = decode(b"PK\x03\x04zipfile").expect_err("not JSON");
        assert_eq!(err.to_string(), "neither gzip nor JSON (starts with bytes 50 4b 03 04 7a 69 70 66)");
        assert!(matches!(decode(b""), Err(Reason::Empty)));
        assert!(matches!(decode(&gzip(b"")), Err(Reason::Empty)));
    }

    /// Decodes `bytes` through the whole-object path where it applies and through the stream
    /// alone, with hashing; both must give the same records, candidates, hash and reason.
    fn both_paths(bytes: &[u8], limit: u64) -> Result<(Decoded, Vec<(u32, String)>), String> {
        let mut decoder = Decoder::new(limit, NEEDLE).verifying();
        let (mut whole, mut streamed) = (Collect::default(), Collect::default());
        let fast = decoder.decode(bytes, &mut whole).map(|d| (d, whole.0)).map_err(|e| e.to_string());
        let slow = decoder.read(&mut &bytes[..], &mut streamed).map(|d| (d, streamed.0));
        assert_eq!(fast, slow.map_err(|e| e.to_string()), "whole-object path and stream differ");
        fast
    }

    fn log_of(records: usize) -> String {
        format!("{{\"Records\":[{}]}}", vec![IC; records].join(","))
    }

    #[test]
    fn a_small_gzip_object_read_whole_reads_as_streamed_with_its_hash() {
        let log = log_of(50);
        let (decoded, candidates) = both_paths(&gzip(log.as_bytes()), 1 << 30).expect("readable");
        assert_eq!((decoded.records, candidates.len()), (50, 50));
        let mut hasher = Hasher::new();
        hasher.update(log.as_bytes());
        assert_eq!(decoded.sha256, Some(hasher.finish()), "the hash of exactly the inflated bytes");
    }

    #[test]
    fn the_hash_is_of_the_inflated_bytes_even_when_the_sink_rewrites_records() {
        struct Scribble;
        impl Sink for Scribble {
            fn candidate(&mut self, _: u32, record: &mut [u8]) -> Result<(), Reason> {
                record.fill(b' ');
                Ok(())
            }
        }
        let log = log_of(3);
        let decoded = Decoder::new(1 << 30, NEEDLE)
            .verifying()
            .decode(&gzip(log.as_bytes()), &mut Scribble)
            .expect("readable");
        let mut hasher = Hasher::new();
        hasher.update(log.as_bytes());
        assert_eq!(decoded.sha256, Some(hasher.finish()));
    }

    #[test]
    fn two_identical_members_are_two_members_not_the_first_alone() {
        // The last trailer's CRC and size match the first member's output: only the count of
        // compressed bytes consumed tells that a second member follows.
        let half = gzip(b"{\"Records\":[]}\n");
        let mut twice = half.clone();
        twice.extend(&half);
        let body = format!("{IC}\n");
        let mut lines = gzip(body.as_bytes());
        lines.extend(gzip(body.as_bytes()));
        let (decoded, candidates) = both_paths(&lines, 1 << 30).expect("JSON Lines in two members");
        assert_eq!((decoded.records, candidates.len()), (2, 2));
        // Whatever two documents in a row read as, both paths read them alike.
        let _ = both_paths(&twice, 1 << 30);
    }

    #[test]
    fn truncated_corrupt_and_lying_objects_give_the_streaming_reasons() {
        let bytes = gzip(log_of(200).as_bytes());
        for cut in [bytes.len() - 1, bytes.len() - 4, bytes.len() - 8, bytes.len() / 2, 19] {
            let err = both_paths(&bytes[..cut], 1 << 30).expect_err("truncated");
            assert!(err.contains("truncated") || err.contains("gzip"), "{cut}: {err}");
        }
        let mut crc = bytes.clone();
        let at = crc.len() - 8;
        crc[at] ^= 1;
        both_paths(&crc, 1 << 30).expect_err("a CRC that does not match");
        // A trailer claiming fewer bytes than the member holds: a bomb that lies about its size.
        let mut lying = gzip(&vec![b' '; 3 << 20]);
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&1000u32.to_le_bytes());
        let err = both_paths(&lying, 1 << 20).expect_err("over the limit");
        assert!(err.contains("1048576") || err.contains("1 MiB"), "{err}");
        both_paths(&lying, 1 << 30).expect_err("ISIZE does not match");
    }

    #[test]
    fn objects_over_the_whole_object_cap_or_the_limit_are_streamed_alike() {
        let records = whole::UP_TO / IC.len() + 10;
        let (decoded, _) = both_paths(&gzip(log_of(records).as_bytes()), 1 << 30).expect("over the cap");
        assert_eq!(decoded.records, records as u64);
        let small = gzip(log_of(100).as_bytes());
        let err = both_paths(&small, 1000).expect_err("over --max-object-size");
        assert!(err.contains("1000") || err.contains("KiB"), "{err}");
    }

    #[test]
    fn a_file_is_read_as_its_bytes_are_decoded() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in [
            ("whole.json.gz", gzip(log_of(20).as_bytes())),
            ("plain.json", log_of(5).into_bytes()),
            ("big.json.gz", gzip(log_of(whole::UP_TO / IC.len() + 10).as_bytes())),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).expect("write");
            let mut decoder = Decoder::new(1 << 30, NEEDLE).verifying();
            let (mut from_file, mut from_bytes) = (Collect::default(), Collect::default());
            let file = decoder.read_file(&path, &mut from_file).expect("file");
            assert_eq!(file, decoder.decode(&bytes, &mut from_bytes).expect("bytes"), "{name}");
            assert_eq!(from_file.0, from_bytes.0, "{name}");
        }
    }

    #[test]
    fn records_larger_than_the_window_are_read_whole() {
        let blob = "x".repeat(3 * WINDOW);
        let big = format!(r#"{{"eventSource":"ec2-instance-connect.amazonaws.com","blob":"{blob}"}}"#);
        let log = format!("{{\"Records\":[{IC},{big},{IC}]}}");
        let (records, candidates) = decode(&gzip(log.as_bytes())).expect("big record");
        assert_eq!(records, 3);
        assert_eq!(candidates[1], (1, big));
    }
}
