//! Values kept as JSON lines in a temporary file: written, then read back in the order written.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The buffer of a file of lines, written or read: small, as a run may hold some 500 of them
/// open at once (`--verify`'s buckets and parts).
const BUFFER: usize = 1 << 13;

/// A temporary file of JSON lines, one value a line.
pub(crate) struct Lines {
    file: BufWriter<File>,
}

impl Lines {
    pub(crate) fn new() -> io::Result<Lines> {
        Ok(Lines { file: BufWriter::with_capacity(BUFFER, super::file()?) })
    }

    /// Writes `value` as one line.
    pub(crate) fn push(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.file, value).map_err(io::Error::other)?;
        self.file.write_all(b"\n")
    }

    /// Writes a line already made (without its newline), for writers that make it before they
    /// take a lock.
    pub(crate) fn push_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.file.write_all(line)?;
        self.file.write_all(b"\n")
    }

    /// The bytes written so far.
    pub(crate) fn bytes(&mut self) -> io::Result<u64> {
        self.file.flush()?;
        Ok(self.file.get_ref().metadata()?.len())
    }

    /// Hands every value written so far to `visit`, in order; writing may go on after.
    pub(crate) fn each<T: DeserializeOwned>(
        &mut self,
        visit: &mut dyn FnMut(T) -> io::Result<()>,
    ) -> io::Result<()> {
        self.file.flush()?;
        let mut reader = self.file.get_ref().try_clone()?;
        reader.seek(SeekFrom::Start(0))?;
        for value in Reader::<T>::new(reader) {
            visit(value?)?;
        }
        // The clone shares the file's offset: writing goes on at the end, where it was.
        self.file.get_mut().seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Every value written, read back in order, once.
    pub(crate) fn read<T: DeserializeOwned>(self) -> io::Result<Reader<T>> {
        let mut file = self.file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Reader::new(file))
    }
}

/// The values of a file of lines, read back.
pub(crate) struct Reader<T> {
    lines: io::Lines<BufReader<File>>,
    value: PhantomData<fn() -> T>,
}

impl<T> Reader<T> {
    fn new(file: File) -> Reader<T> {
        Reader { lines: BufReader::with_capacity(BUFFER, file).lines(), value: PhantomData }
    }
}

impl<T: DeserializeOwned> Iterator for Reader<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        let line = self.lines.next()?;
        Some(line.and_then(|line| serde_json::from_str(&line).map_err(io::Error::other)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_in_order_while_writing_goes_on() {
        let mut lines = Lines::new().expect("spill");
        lines.push(&(1, "one")).expect("write");
        lines.push_line(br#"[2,"two"]"#).expect("write");
        let mut seen: Vec<(u32, String)> = Vec::new();
        lines
            .each(&mut |v| {
                seen.push(v);
                Ok(())
            })
            .expect("read");
        assert_eq!(seen, [(1, "one".to_owned()), (2, "two".to_owned())]);
        lines.push(&(3, "three")).expect("write after a read");
        assert_eq!(lines.bytes().expect("size"), 32);
        let all: Vec<(u32, String)> = lines.read().expect("read").collect::<io::Result<_>>().expect("lines");
        assert_eq!(all.len(), 3);
        assert_eq!(all[2], (3, "three".to_owned()));
    }

    #[test]
    fn a_line_that_is_not_the_value_is_an_error() {
        let mut lines = Lines::new().expect("spill");
        lines.push(&"text").expect("write");
        let mut read = lines.read::<u32>().expect("read");
        assert!(read.next().expect("a line").is_err());
    }
}
