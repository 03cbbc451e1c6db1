//! The decompressed stream as a window of bytes: filled from the reader in large pieces, with what
//! is no longer needed dropped from the front on each refill. A value larger than the window grows
//! it for as long as that value is read, and the window shrinks back afterwards, so memory stays a
//! fixed buffer per worker whatever the size of the object.

use std::io::{self, Read};

use super::Reason;

/// Bytes read ahead at most in one refill; the window's size when no record is larger.
pub(crate) const WINDOW: usize = 1 << 20;

pub(crate) struct Input<'r> {
    /// None for an object read whole ([`Input::whole`]).
    reader: Option<&'r mut dyn Read>,
    buf: &'r mut Vec<u8>,
    /// Offset in the stream of `buf[0]`.
    base: u64,
    /// Bytes of `buf` that hold data.
    len: usize,
    /// Stream offset before which bytes may be dropped.
    keep: u64,
    eof: bool,
    limit: u64,
}

impl<'r> Input<'r> {
    /// A window over `reader`, which may yield at most `limit` bytes: more is [`Reason::TooLarge`].
    pub(crate) fn new(reader: &'r mut dyn Read, buf: &'r mut Vec<u8>, limit: u64) -> Self {
        // What the last object left in the window is never read (only `..len` is): the window is
        // zeroed once per worker, not once per object, and given back if a large record grew it.
        if buf.len() > WINDOW {
            buf.truncate(WINDOW);
            buf.shrink_to(WINDOW);
        }
        if buf.len() < WINDOW {
            buf.resize(WINDOW, 0);
        }
        Input { reader: Some(reader), buf, base: 0, len: 0, keep: 0, eof: false, limit }
    }

    /// The first `len` bytes of `buf`, an object already read whole: nothing more is read, and
    /// `buf` is left as it is (no window is kept for later objects).
    pub(crate) fn whole(buf: &'r mut Vec<u8>, len: usize) -> Self {
        Input { reader: None, buf, base: 0, len, keep: 0, eof: true, limit: len as u64 }
    }

    /// The bytes from stream offset `from` to the end of what has been read.
    pub(crate) fn from(&mut self, from: u64) -> &mut [u8] {
        let start = (from - self.base) as usize;
        &mut self.buf[start..self.len]
    }

    /// The byte at stream offset `at`, reading more if needed; `None` at the end of the stream.
    pub(crate) fn byte(&mut self, at: u64) -> Result<Option<u8>, Reason> {
        while at >= self.end() {
            if !self.refill()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[(at - self.base) as usize]))
    }

    /// Stream offset one past the last byte read so far.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.len as u64
    }

    /// Bytes before `offset` will not be asked for again.
    pub(crate) fn release(&mut self, offset: u64) {
        self.keep = self.keep.max(offset);
    }

    /// Reads more: drops released bytes, grows the window if it is full of bytes still needed,
    /// and fills it. False at the end of the stream.
    pub(crate) fn refill(&mut self) -> Result<bool, Reason> {
        let (false, Some(reader)) = (self.eof, self.reader.as_mut()) else {
            return Ok(false);
        };
        let dropped = (self.keep.min(self.base + self.len as u64) - self.base) as usize;
        if dropped > 0 {
            self.buf.copy_within(dropped..self.len, 0);
            self.len -= dropped;
            self.base += dropped as u64;
        }
        if self.len == self.buf.len() {
            // One value fills the window: grow it for this value alone.
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        } else if self.buf.len() > WINDOW && self.len < WINDOW / 2 {
            // The large value is gone: give the memory back.
            self.buf.truncate(WINDOW);
            self.buf.shrink_to(WINDOW);
        }
        let before = self.len;
        while self.len < self.buf.len() {
            match reader.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Reason::from_io(e)),
            }
            if self.base + self.len as u64 > self.limit {
                return Err(Reason::TooLarge { limit: self.limit });
            }
        }
        Ok(self.len > before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_bytes_are_dropped_and_kept_bytes_survive_a_refill() {
        let data: Vec<u8> = (0..3 * WINDOW).map(|i| (i % 251) as u8).collect();
        let mut reader = &data[..];
        let mut buf = Vec::new();
        let mut input = Input::new(&mut reader, &mut buf, u64::MAX);
        assert_eq!(input.byte(10).expect("read"), Some(10));
        input.release(WINDOW as u64 - 5);
        assert_eq!(input.byte(WINDOW as u64 + 7).expect("read"), Some(data[WINDOW + 7]));
        assert_eq!(input.from(WINDOW as u64 - 5)[0], data[WINDOW - 5]);
        assert_eq!(input.byte(3 * WINDOW as u64).expect("read"), None);
    }

    #[test]
    fn a_value_larger_than_the_window_grows_it() {
        let data = vec![7u8; 3 * WINDOW + 3];
        let mut reader = &data[..];
        let mut buf = Vec::new();
        let mut input = Input::new(&mut reader, &mut buf, u64::MAX);
        assert_eq!(input.byte(3 * WINDOW as u64 + 2).expect("read"), Some(7));
        assert_eq!(input.from(0).len(), data.len(), "nothing released, nothing dropped");
    }

    #[test]
    fn more_than_the_limit_is_too_large() {
        let data = vec![b' '; 5000];
        let mut reader = &data[..];
        let mut buf = Vec::new();
        let mut input = Input::new(&mut reader, &mut buf, 4999);
        assert!(matches!(input.byte(0), Err(Reason::TooLarge { limit: 4999 })));
    }
}
