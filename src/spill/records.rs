//! The record spool: the Instance Connect records kept, verbatim, in temporary files (one per
//! worker): the compact events in memory point into them, and the few records whose text a
//! report shows (or a connections listing, or a partial) are read back from here. Nothing else
//! of a record is kept.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

/// Where a kept record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef {
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) segment: u16,
}

/// One worker's spool file while it is written.
pub(crate) struct SpoolWriter {
    file: BufWriter<File>,
    written: u64,
    segment: u16,
}

impl SpoolWriter {
    /// A new temporary file ([`file`](super::file)).
    pub(crate) fn new(segment: u16) -> io::Result<SpoolWriter> {
        Ok(SpoolWriter { file: BufWriter::with_capacity(1 << 16, super::file()?), written: 0, segment })
    }

    pub(crate) fn append(&mut self, record: &[u8]) -> io::Result<RecordRef> {
        let len = u32::try_from(record.len()).map_err(|_| io::Error::other("a record of 4 GiB or more"))?;
        self.file.write_all(record)?;
        let at = RecordRef { offset: self.written, len, segment: self.segment };
        self.written += record.len() as u64;
        Ok(at)
    }

    /// The offset the next record will be written at.
    pub(crate) fn mark(&self) -> u64 {
        self.written
    }

    /// Forgets every record written since `mark`: an object that turned out unreadable.
    pub(crate) fn rollback(&mut self, mark: u64) -> io::Result<()> {
        if mark == self.written {
            return Ok(());
        }
        self.file.flush()?;
        let file = self.file.get_mut();
        file.set_len(mark)?;
        file.seek(SeekFrom::Start(mark))?;
        self.written = mark;
        Ok(())
    }

    pub(crate) fn finish(self) -> io::Result<File> {
        self.file.into_inner().map_err(|e| e.into_error())
    }
}

/// Every worker's spool, for reading records back.
#[derive(Debug, Default)]
pub(crate) struct Spool {
    segments: Vec<Option<File>>,
}

impl Spool {
    pub(crate) fn add(&mut self, segment: u16, file: File) {
        let i = usize::from(segment);
        if self.segments.len() <= i {
            self.segments.resize_with(i + 1, || None);
        }
        self.segments[i] = Some(file);
    }

    /// Reads the record at `at` into `out` (replacing what it held).
    pub(crate) fn read(&self, at: RecordRef, out: &mut Vec<u8>) -> io::Result<()> {
        let file = self
            .segments
            .get(usize::from(at.segment))
            .and_then(Option::as_ref)
            .ok_or_else(|| io::Error::other("a record of a spool that does not exist"))?;
        out.clear();
        out.resize(at.len as usize, 0);
        // At an offset, without moving the file's own: the analysis reads from several threads.
        file.read_exact_at(out, at.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_rolled_back_records_are_gone() {
        let mut writer = SpoolWriter::new(3).expect("spool");
        let a = writer.append(b"{\"a\":1}").expect("write");
        let mark = writer.mark();
        writer.append(b"{\"unreadable object\":1}").expect("write");
        writer.rollback(mark).expect("rollback");
        let b = writer.append(b"{\"b\":2}").expect("write");
        assert_eq!(b.offset, mark);
        let mut spool = Spool::default();
        spool.add(3, writer.finish().expect("finish"));
        let mut out = Vec::new();
        spool.read(b, &mut out).expect("read");
        assert_eq!(out, b"{\"b\":2}");
        spool.read(a, &mut out).expect("read");
        assert_eq!(out, b"{\"a\":1}");
    }

    #[test]
    fn threads_reading_one_spool_at_once_each_get_their_own_records() {
        // The analysis reads records back from several threads: a shared file position would
        // hand one thread the bytes another asked for.
        let mut writer = SpoolWriter::new(0).expect("spool");
        let records: Vec<(RecordRef, Vec<u8>)> = (0..200)
            .map(|i| {
                let text = format!("{{\"record\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 37)).into_bytes();
                (writer.append(&text).expect("write"), text)
            })
            .collect();
        let mut spool = Spool::default();
        spool.add(0, writer.finish().expect("finish"));
        std::thread::scope(|scope| {
            for start in 0..4 {
                let (spool, records) = (&spool, &records);
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for _ in 0..20 {
                        for (at, text) in records.iter().skip(start).step_by(3) {
                            spool.read(*at, &mut out).expect("read");
                            assert_eq!(&out, text);
                        }
                    }
                });
            }
        });
    }
}
