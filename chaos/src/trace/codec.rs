//! The binary trace format: a versioned header, then lz4-compressed blocks of postcard records.
//! SKELETON: API fixed, bodies to be written. See docs/trace-format.md.

use super::{Header, Record};
use std::io::{Read, Write};

/// The determinism fingerprint of a run: xxh3-128 of the uncompressed header and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceHash(pub u128);

impl std::fmt::Display for TraceHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Errors reading or writing a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The underlying stream failed.
    #[error("trace i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Streams records to `out` in bounded memory, hashing as it goes.
pub struct TraceWriter<W: Write> {
    out: W,
}

impl<W: Write> TraceWriter<W> {
    /// Writes the file header and `header`.
    pub fn new(out: W, header: &Header) -> Result<Self, TraceError> {
        let _ = header;
        todo!()
    }
    /// Appends one record.
    pub fn write(&mut self, record: &Record) -> Result<(), TraceError> {
        let _ = (record, &mut self.out);
        todo!()
    }
    /// Records written so far.
    pub fn records(&self) -> u64 {
        todo!()
    }
    /// Flushes the last block and the footer; returns the hash and the stream.
    pub fn finish(self) -> Result<(TraceHash, W), TraceError> {
        todo!()
    }
}

/// Reads a trace written by [`TraceWriter`].
pub struct TraceReader<R: Read> {
    input: R,
}

impl<R: Read> TraceReader<R> {
    /// Reads and checks the file header.
    pub fn new(input: R) -> Result<Self, TraceError> {
        let _ = input;
        todo!()
    }
    /// The run's header.
    pub fn header(&self) -> &Header {
        todo!()
    }
    /// The next record, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        let _ = &mut self.input;
        todo!()
    }
}
