//! The binary trace format, documented byte by byte in `docs/trace-format.md`: magic bytes,
//! the format version, the postcard [`Header`], then lz4-compressed blocks of postcard records
//! with delta-encoded times, then a footer with the record count and the [`TraceHash`].
//!
//! Owns: encoding and decoding trace streams, and the trace hash. Must not: hold a whole trace
//! in memory (writer and reader both stream one block at a time), panic on any input, or
//! allocate without bound on hostile input (every length field is capped before anything is
//! allocated for it).
//!
//! Decisions:
//! - A record is `varint(t_ns - previous t_ns)` then the postcard [`Event`]; the delta runs
//!   across block boundaries, so the record bytes (and the hash) do not depend on where blocks
//!   end. Postcard is self-delimiting, so records need no length prefix; a record never spans
//!   two blocks.
//! - The hash is xxh3-128 over the uncompressed header bytes then every uncompressed record
//!   byte, in order; it is stored big-endian so a hex dump of the file shows its `Display` form.
//! - Records must be written in time order: a record earlier than the previous one is an error,
//!   not a wrap-around.
//! - The reader is fused: after it reports an error, [`TraceReader::next_record`] answers
//!   [`TraceError::AfterError`], never a clean end.

use super::{Event, FORMAT_VERSION, Header, Record};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use xxhash_rust::xxh3::Xxh3;

/// The first bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"FLTRACE\0";
/// The oldest format version this build still reads.
pub const MIN_FORMAT_VERSION: u16 = 1;
/// The writer compresses a block once this many uncompressed record bytes are buffered.
pub const BLOCK_TARGET_BYTES: usize = 64 * 1024;
/// The largest uncompressed block (and so the largest single record) a trace may hold.
pub const MAX_BLOCK_BYTES: usize = 16 << 20;
/// The largest encoded header a trace may hold.
pub const MAX_HEADER_BYTES: usize = 16 << 20;

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
    /// The input does not start with [`MAGIC`].
    #[error("not a Faultline trace: it starts with bytes {found} instead of {expected} (\"FLTRACE\\0\")", expected = hex(&MAGIC))]
    NotATrace {
        /// The first bytes found, in hex.
        found: String,
    },
    /// The trace was written by a newer build than this one.
    #[error("trace written by format version {found}; this build reads up to {supported}")]
    NewerVersion {
        /// The version in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The trace was written in a format version this build no longer reads.
    #[error("trace written by format version {found}; this build reads versions {min} to {max}", max = FORMAT_VERSION)]
    OlderVersion {
        /// The version in the file.
        found: u16,
        /// The oldest version this build reads.
        min: u16,
    },
    /// The input ended before the trace did.
    #[error("trace truncated at byte {offset}: {what}")]
    Truncated {
        /// Where the input ended.
        offset: u64,
        /// What was being read.
        what: String,
    },
    /// A length field is over its cap (a corrupt or hostile file).
    #[error("corrupt trace at byte {offset}: {what} length {len} exceeds the cap of {cap} bytes")]
    TooLarge {
        /// Where the length field is.
        offset: u64,
        /// What the length is of.
        what: &'static str,
        /// The length found.
        len: u64,
        /// The cap.
        cap: u64,
    },
    /// The header bytes do not decode.
    #[error("corrupt trace header: {detail}")]
    CorruptHeader {
        /// Why.
        detail: String,
    },
    /// A block's framing or compressed bytes are invalid.
    #[error("corrupt trace block #{block} at byte {offset}: {detail}")]
    CorruptBlock {
        /// The block's index, from 0.
        block: u64,
        /// Where the block starts in the file.
        offset: u64,
        /// Why.
        detail: String,
    },
    /// A record inside a block does not decode.
    #[error(
        "corrupt record in trace block #{block} (block at byte {offset}, record at byte {record_offset} of the uncompressed block): {detail}"
    )]
    CorruptRecord {
        /// The block's index, from 0.
        block: u64,
        /// Where the block starts in the file.
        offset: u64,
        /// Where the record starts in the uncompressed block.
        record_offset: u64,
        /// Why.
        detail: String,
    },
    /// The footer's record count differs from the records decoded.
    #[error("corrupt trace footer: it counts {footer} records but the blocks hold {decoded}")]
    CountMismatch {
        /// The count in the footer.
        footer: u64,
        /// The records decoded.
        decoded: u64,
    },
    /// The footer's hash differs from the hash of the decoded bytes.
    #[error("trace hash mismatch: the footer says {footer} but the content hashes to {computed}")]
    HashMismatch {
        /// The hash in the footer.
        footer: TraceHash,
        /// The hash of what was read.
        computed: TraceHash,
    },
    /// Bytes follow the footer.
    #[error("corrupt trace: unexpected data after the footer at byte {offset}")]
    TrailingData {
        /// Where the extra data starts.
        offset: u64,
    },
    /// The reader already reported an error and cannot go on.
    #[error("the trace reader already reported an error; the rest of the trace cannot be read")]
    AfterError,
    /// A record was written out of time order.
    #[error(
        "record at t = {t_ns} ns comes before the previous record at {previous_ns} ns; records must be written in time order"
    )]
    OutOfOrder {
        /// The record's time.
        t_ns: u64,
        /// The previous record's time.
        previous_ns: u64,
    },
    /// One record encodes to more than [`MAX_BLOCK_BYTES`].
    #[error("record at t = {t_ns} ns encodes to {len} bytes, over the cap of {cap} bytes")]
    RecordTooLarge {
        /// The record's time.
        t_ns: u64,
        /// Its encoded length.
        len: u64,
        /// The cap.
        cap: u64,
    },
    /// A value could not be encoded or compressed.
    #[error("cannot encode the trace: {detail}")]
    Encode {
        /// Why.
        detail: String,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A record as written: the time delta, then the event.
#[derive(Serialize)]
struct WireRecordRef<'a> {
    dt_ns: u64,
    event: &'a Event,
}

/// A record as read: same bytes as [`WireRecordRef`].
#[derive(Deserialize)]
struct WireRecord {
    dt_ns: u64,
    event: Event,
}

/// Streams records to `out` in bounded memory, hashing as it goes.
///
/// Memory: one block of about [`BLOCK_TARGET_BYTES`] plus its compressed copy, whatever the
/// length of the trace. Dropping the writer without [`TraceWriter::finish`] leaves a file
/// without a footer, which readers report as truncated.
pub struct TraceWriter<W: Write> {
    out: W,
    hasher: Xxh3,
    block: Vec<u8>,
    compressed: Vec<u8>,
    block_target: usize,
    /// Where one record is encoded before it joins the block.
    scratch: Box<[u8; SCRATCH_BYTES]>,
    records: u64,
    blocks: u64,
    last_t_ns: u64,
}

/// Size of the writer's per-record scratch buffer; larger records are encoded by allocation.
const SCRATCH_BYTES: usize = 4096;

impl<W: Write> TraceWriter<W> {
    /// Writes the file header and `header`.
    pub fn new(out: W, header: &Header) -> Result<Self, TraceError> {
        Self::with_block_target(out, header, BLOCK_TARGET_BYTES)
    }

    fn with_block_target(mut out: W, header: &Header, block_target: usize) -> Result<Self, TraceError> {
        let header_bytes = postcard::to_stdvec(header).map_err(|e| TraceError::Encode { detail: e.to_string() })?;
        if header_bytes.len() > MAX_HEADER_BYTES {
            return Err(TraceError::TooLarge {
                offset: 10,
                what: "header",
                len: header_bytes.len() as u64,
                cap: MAX_HEADER_BYTES as u64,
            });
        }
        out.write_all(&MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&(header_bytes.len() as u32).to_le_bytes())?;
        out.write_all(&header_bytes)?;
        let mut hasher = Xxh3::new();
        hasher.update(&header_bytes);
        Ok(Self {
            out,
            hasher,
            block: Vec::with_capacity(2 * block_target),
            compressed: Vec::new(),
            block_target,
            scratch: Box::new([0; SCRATCH_BYTES]),
            records: 0,
            blocks: 0,
            last_t_ns: 0,
        })
    }

    /// Appends one record. Records must come in time order (equal times are fine).
    pub fn write(&mut self, record: &Record) -> Result<(), TraceError> {
        if record.t_ns < self.last_t_ns {
            return Err(TraceError::OutOfOrder { t_ns: record.t_ns, previous_ns: self.last_t_ns });
        }
        let start = self.block.len();
        let wire = WireRecordRef { dt_ns: record.t_ns - self.last_t_ns, event: &record.event };
        // Encode into a fixed scratch slice (one bounds check per field, no per-byte writes);
        // a record too large for it takes the allocating path.
        match postcard::to_slice(&wire, &mut self.scratch[..]) {
            Ok(bytes) => self.block.extend_from_slice(bytes),
            Err(postcard::Error::SerializeBufferFull) => match postcard::to_stdvec(&wire) {
                Ok(bytes) => self.block.extend_from_slice(&bytes),
                Err(e) => return Err(TraceError::Encode { detail: e.to_string() }),
            },
            Err(e) => return Err(TraceError::Encode { detail: e.to_string() }),
        }
        let len = self.block.len() - start;
        if len > MAX_BLOCK_BYTES {
            self.block.truncate(start);
            return Err(TraceError::RecordTooLarge { t_ns: record.t_ns, len: len as u64, cap: MAX_BLOCK_BYTES as u64 });
        }
        self.last_t_ns = record.t_ns;
        self.records += 1;
        if self.block.len() > self.block_target && start > 0 {
            // The new record would overfill the block: ship what came before it.
            self.flush_block(start)?;
            self.block.drain(..start);
        }
        if self.block.len() >= self.block_target {
            self.flush_block(self.block.len())?;
            self.block.clear();
        }
        Ok(())
    }

    /// Hashes, compresses and writes the first `len` bytes of the current block.
    fn flush_block(&mut self, len: usize) -> Result<(), TraceError> {
        let raw = &self.block[..len];
        self.hasher.update(raw);
        let bound = lz4_flex::block::get_maximum_output_size(len);
        if bound > self.compressed.capacity() {
            // Exact, so that the buffer is as large as the largest block needs and no larger.
            self.compressed.reserve_exact(bound - self.compressed.len());
        }
        self.compressed.resize(bound, 0);
        let compressed_len = lz4_flex::block::compress_into(raw, &mut self.compressed)
            .map_err(|e| TraceError::Encode { detail: format!("lz4: {e}") })?;
        self.out.write_all(&(compressed_len as u32).to_le_bytes())?;
        self.out.write_all(&(len as u32).to_le_bytes())?;
        self.out.write_all(&self.compressed[..compressed_len])?;
        self.blocks += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Blocks written to the stream so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Encoded record bytes not yet written to the stream (at most about one block).
    pub fn buffered_bytes(&self) -> usize {
        self.block.len()
    }

    /// Memory held by the writer's buffers, in bytes: bounded by about three blocks, however
    /// long the trace.
    pub fn buffer_capacity_bytes(&self) -> usize {
        self.block.capacity() + self.compressed.capacity()
    }

    /// Flushes the last block and the footer; returns the hash and the stream.
    pub fn finish(mut self) -> Result<(TraceHash, W), TraceError> {
        if !self.block.is_empty() {
            self.flush_block(self.block.len())?;
            self.block.clear();
        }
        let hash = TraceHash(self.hasher.digest128());
        self.out.write_all(&0u32.to_le_bytes())?;
        self.out.write_all(&0u32.to_le_bytes())?;
        self.out.write_all(&self.records.to_le_bytes())?;
        self.out.write_all(&hash.0.to_be_bytes())?;
        self.out.flush()?;
        Ok((hash, self.out))
    }
}

/// The input stream and how many bytes have been consumed from it.
struct Input<R: Read> {
    inner: R,
    offset: u64,
}

impl<R: Read> Input<R> {
    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, TraceError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(filled)
    }

    /// Fills `buf` exactly, or reports the truncation while reading `what`.
    fn fill(&mut self, buf: &mut [u8], what: impl FnOnce() -> String) -> Result<(), TraceError> {
        if self.read_up_to(buf)? < buf.len() {
            return Err(TraceError::Truncated { offset: self.offset, what: what() });
        }
        Ok(())
    }

    /// Replaces `buf` with exactly `len` bytes (`len` is already capped by the caller).
    fn fill_vec(&mut self, buf: &mut Vec<u8>, len: usize, what: impl FnOnce() -> String) -> Result<(), TraceError> {
        buf.clear();
        let n = (&mut self.inner).take(len as u64).read_to_end(buf)?;
        self.offset += n as u64;
        if n < len {
            return Err(TraceError::Truncated { offset: self.offset, what: what() });
        }
        Ok(())
    }

    fn read_u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, TraceError> {
        let mut bytes = [0u8; 4];
        self.fill(&mut bytes, what)?;
        Ok(u32::from_le_bytes(bytes))
    }
}

enum ReadState {
    Records,
    Done(TraceHash),
    Failed,
}

/// Reads a trace written by [`TraceWriter`], one block in memory at a time, and verifies its
/// footer (record count and hash) at the end.
pub struct TraceReader<R: Read> {
    input: Input<R>,
    header: Header,
    version: u16,
    hasher: Xxh3,
    compressed: Vec<u8>,
    block: Vec<u8>,
    pos: usize,
    blocks: u64,
    block_offset: u64,
    last_t_ns: u64,
    records: u64,
    state: ReadState,
}

impl<R: Read> TraceReader<R> {
    /// Reads and checks the file header.
    pub fn new(input: R) -> Result<Self, TraceError> {
        let mut input = Input { inner: input, offset: 0 };
        let version = read_preamble(&mut input)?;
        let len = input.read_u32(|| "file ended inside the header length".into())? as usize;
        if len > MAX_HEADER_BYTES {
            return Err(TraceError::TooLarge {
                offset: input.offset - 4,
                what: "header",
                len: len as u64,
                cap: MAX_HEADER_BYTES as u64,
            });
        }
        let mut header_bytes = Vec::new();
        input.fill_vec(&mut header_bytes, len, || format!("file ended inside the {len}-byte header"))?;
        let header = decode_header(&header_bytes)?;
        let mut hasher = Xxh3::new();
        hasher.update(&header_bytes);
        Ok(Self {
            block_offset: input.offset,
            input,
            header,
            version,
            hasher,
            compressed: Vec::new(),
            block: Vec::new(),
            pos: 0,
            blocks: 0,
            last_t_ns: 0,
            records: 0,
            state: ReadState::Records,
        })
    }

    /// The run's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The format version the trace was written in.
    pub fn format_version(&self) -> u16 {
        self.version
    }

    /// Records read so far; after the end, the trace's record count (checked against the footer).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The verified trace hash, once [`TraceReader::next_record`] has returned `None`.
    pub fn hash(&self) -> Option<TraceHash> {
        match self.state {
            ReadState::Done(hash) => Some(hash),
            _ => None,
        }
    }

    /// The next record, or `None` at the end (after the footer has been verified).
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        match self.state {
            ReadState::Done(_) => return Ok(None),
            ReadState::Failed => return Err(TraceError::AfterError),
            ReadState::Records => {}
        }
        let next = self.advance();
        if next.is_err() {
            self.state = ReadState::Failed;
        }
        next
    }

    fn advance(&mut self) -> Result<Option<Record>, TraceError> {
        while self.pos >= self.block.len() {
            if !self.load_block()? {
                return Ok(None);
            }
        }
        self.decode_record().map(Some)
    }

    /// Loads the next block; `false` when the footer was reached (and verified) instead.
    fn load_block(&mut self) -> Result<bool, TraceError> {
        let block = self.blocks;
        self.block_offset = self.input.offset;
        let mut framing = [0u8; 8];
        match self.input.read_up_to(&mut framing)? {
            0 => {
                return Err(TraceError::Truncated {
                    offset: self.input.offset,
                    what: format!("no footer: the file ends after {block} block(s)"),
                });
            }
            8 => {}
            _ => {
                return Err(TraceError::Truncated {
                    offset: self.input.offset,
                    what: format!("file ended inside the framing of block #{block}"),
                });
            }
        }
        let compressed_len = u32::from_le_bytes([framing[0], framing[1], framing[2], framing[3]]) as usize;
        let raw_len = u32::from_le_bytes([framing[4], framing[5], framing[6], framing[7]]) as usize;
        if compressed_len == 0 && raw_len == 0 {
            self.read_footer()?;
            return Ok(false);
        }
        self.check_framing(compressed_len, raw_len)?;
        self.input.fill_vec(&mut self.compressed, compressed_len, || {
            format!("file ended inside block #{block} ({compressed_len} compressed bytes expected)")
        })?;
        self.block.clear();
        self.block.resize(raw_len, 0);
        let corrupt = |detail: String| TraceError::CorruptBlock { block, offset: self.block_offset, detail };
        match lz4_flex::block::decompress_into(&self.compressed, &mut self.block) {
            Ok(n) if n == raw_len => {}
            Ok(n) => {
                return Err(corrupt(format!("decompressed to {n} bytes, the framing says {raw_len}")));
            }
            Err(e) => return Err(corrupt(format!("lz4: {e}"))),
        }
        self.hasher.update(&self.block);
        self.pos = 0;
        self.blocks += 1;
        Ok(true)
    }

    fn check_framing(&self, compressed_len: usize, raw_len: usize) -> Result<(), TraceError> {
        let (block, offset) = (self.blocks, self.block_offset);
        if raw_len > MAX_BLOCK_BYTES {
            let (len, cap) = (raw_len as u64, MAX_BLOCK_BYTES as u64);
            return Err(TraceError::TooLarge { offset: offset + 4, what: "uncompressed block", len, cap });
        }
        if compressed_len == 0 || raw_len == 0 {
            let detail = format!("empty block (compressed {compressed_len} bytes, uncompressed {raw_len})");
            return Err(TraceError::CorruptBlock { block, offset, detail });
        }
        let bound = lz4_flex::block::get_maximum_output_size(raw_len);
        if compressed_len > bound {
            let detail =
                format!("{compressed_len} compressed bytes for {raw_len} bytes, over the lz4 bound of {bound}");
            return Err(TraceError::CorruptBlock { block, offset, detail });
        }
        Ok(())
    }

    fn decode_record(&mut self) -> Result<Record, TraceError> {
        let slice = &self.block[self.pos..];
        let corrupt = |detail: String| TraceError::CorruptRecord {
            block: self.blocks - 1,
            offset: self.block_offset,
            record_offset: self.pos as u64,
            detail,
        };
        let (wire, rest) =
            postcard::take_from_bytes::<WireRecord>(slice).map_err(|e| corrupt(format!("postcard: {e}")))?;
        let t_ns = self
            .last_t_ns
            .checked_add(wire.dt_ns)
            .ok_or_else(|| corrupt(format!("time {} ns + {} ns overflows", self.last_t_ns, wire.dt_ns)))?;
        self.pos += slice.len() - rest.len();
        self.last_t_ns = t_ns;
        self.records += 1;
        Ok(Record { t_ns, event: wire.event })
    }

    fn read_footer(&mut self) -> Result<(), TraceError> {
        let mut footer = [0u8; 24];
        self.input.fill(&mut footer, || "file ended inside the footer".into())?;
        let mut count = [0u8; 8];
        count.copy_from_slice(&footer[..8]);
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&footer[8..]);
        let count = u64::from_le_bytes(count);
        if count != self.records {
            return Err(TraceError::CountMismatch { footer: count, decoded: self.records });
        }
        let footer_hash = TraceHash(u128::from_be_bytes(hash));
        let computed = TraceHash(self.hasher.digest128());
        if footer_hash != computed {
            return Err(TraceError::HashMismatch { footer: footer_hash, computed });
        }
        let offset = self.input.offset;
        if self.input.read_up_to(&mut [0u8; 1])? > 0 {
            return Err(TraceError::TrailingData { offset });
        }
        self.state = ReadState::Done(computed);
        Ok(())
    }
}

/// Reads the magic bytes and the format version; checks the version is one this build reads.
fn read_preamble<R: Read>(input: &mut Input<R>) -> Result<u16, TraceError> {
    let mut magic = [0u8; 8];
    let n = input.read_up_to(&mut magic)?;
    if magic[..n] != MAGIC[..n] {
        return Err(TraceError::NotATrace { found: hex(&magic[..n]) });
    }
    if n < MAGIC.len() {
        let what = if n == 0 { "the input is empty" } else { "file ended inside the magic bytes" };
        return Err(TraceError::Truncated { offset: input.offset, what: what.into() });
    }
    let mut version = [0u8; 2];
    input.fill(&mut version, || "file ended inside the format version".into())?;
    let version = u16::from_le_bytes(version);
    if version > FORMAT_VERSION {
        return Err(TraceError::NewerVersion { found: version, supported: FORMAT_VERSION });
    }
    if version < MIN_FORMAT_VERSION {
        return Err(TraceError::OlderVersion { found: version, min: MIN_FORMAT_VERSION });
    }
    Ok(version)
}

fn decode_header(bytes: &[u8]) -> Result<Header, TraceError> {
    let (header, rest) = postcard::take_from_bytes::<Header>(bytes)
        .map_err(|e| TraceError::CorruptHeader { detail: format!("postcard: {e}") })?;
    if !rest.is_empty() {
        return Err(TraceError::CorruptHeader { detail: format!("{} unexpected bytes after the header", rest.len()) });
    }
    Ok(header)
}

/// Iterates over the records; an error is yielded once, then the iteration ends.
impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) | Err(TraceError::AfterError) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;
    use crate::slo::{Slo, SloKind};
    use crate::trace::{HostInfo, LinkInfo, Op, Outcome};
    use proptest::prelude::*;

    fn header() -> Header {
        let host =
            |name: &str, service: &str| HostInfo { name: name.into(), service: service.into(), group: "tier".into() };
        Header {
            tool_version: "0.1.0".into(),
            rand_version: "0.9".into(),
            scenario: "unit".into(),
            seed: 42,
            duration_ns: 10_000_000_000,
            window_ns: 1_000_000_000,
            hosts: vec![host("lg0", "loadgen"), host("app", "app"), host("db", "kv-primary")],
            links: vec![LinkInfo { a: 0, b: 1, latency_ns: 500_000, jitter_ns: 100_000, loss: 0.01 }],
            slos: vec![Slo {
                name: "p99".into(),
                service: None,
                kind: SloKind::Latency { quantile: 0.99, max_ns: 50_000_000 },
            }],
        }
    }

    /// One record of every event kind (and every outcome and fault kind).
    fn every_variant() -> Vec<Record> {
        let events = vec![
            Event::Invoke { req: 1, user: 3, client: 0, service: 1, op: Op::Read, key: 42 },
            Event::Complete { req: 1, outcome: Outcome::Ok },
            Event::Complete { req: 2, outcome: Outcome::Error(7) },
            Event::Complete { req: 3, outcome: Outcome::Unreachable },
            Event::Complete { req: 4, outcome: Outcome::Timeout },
            Event::Served { host: 1, op: Op::Write, latency_ns: 1_234_567, ok: false },
            Event::Message { from: 1, to: 2, bytes: 512, retransmitted: true },
            Event::State { host: 2, key: "role".into(), value: "primary".into() },
            Event::Power { host: 2, up: false },
            Event::Sample { host: 1, gauge: "inflight".into(), last: -3, mean: 2.75 },
            Event::Fault(Fault::Kill { host: 2 }),
            Event::Fault(Fault::Restart { host: 2 }),
            Event::Fault(Fault::Partition { a: vec![0, 1], b: vec![2] }),
            Event::Fault(Fault::Heal { a: vec![0, 1], b: vec![2] }),
            Event::Fault(Fault::LinkDegrade { a: 1, b: 2, latency_ns: 9, jitter_ns: 8, loss: 0.5 }),
            Event::Fault(Fault::LinkRestore { a: 1, b: 2 }),
            Event::End,
        ];
        events.into_iter().enumerate().map(|(i, event)| Record { t_ns: i as u64 * 1_000_003, event }).collect()
    }

    fn write_with(records: &[Record], block_target: usize) -> (TraceHash, Vec<u8>) {
        let mut writer = TraceWriter::with_block_target(Vec::new(), &header(), block_target).expect("header encodes");
        for record in records {
            writer.write(record).expect("record encodes");
        }
        writer.finish().expect("vec never fails")
    }

    fn write(records: &[Record]) -> (TraceHash, Vec<u8>) {
        write_with(records, BLOCK_TARGET_BYTES)
    }

    fn read(bytes: &[u8]) -> Result<(Header, Vec<Record>, TraceHash), TraceError> {
        let mut reader = TraceReader::new(bytes)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        assert_eq!(reader.records(), records.len() as u64);
        let hash = reader.hash().expect("a finished reader has a hash");
        Ok((reader.header().clone(), records, hash))
    }

    /// Writes `records`, reads them back and checks everything survived.
    fn check(records: &[Record]) {
        let (hash, bytes) = write(records);
        let (read_header, read_records, read_hash) = read(&bytes).expect("own output reads back");
        assert_eq!(read_header, header());
        assert_eq!(read_records, records);
        assert_eq!(read_hash, hash);
    }

    #[test]
    fn every_variant_round_trips() {
        check(&every_variant());
        check(&[]);
    }

    #[test]
    fn file_starts_with_magic_version_and_header_length() {
        let (_, bytes) = write(&every_variant());
        assert_eq!(&bytes[..8], b"FLTRACE\0");
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), FORMAT_VERSION);
        let header_len = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
        assert_eq!(header_len, postcard::to_stdvec(&header()).unwrap().len());
        let footer = &bytes[bytes.len() - 32..];
        assert_eq!(&footer[..8], &[0; 8], "zero-length block marker");
        assert_eq!(u64::from_le_bytes(footer[8..16].try_into().unwrap()), every_variant().len() as u64);
    }

    /// The worked example in docs/trace-format.md.
    #[test]
    fn record_bytes_match_the_documented_example() {
        let records = [
            Record { t_ns: 1_000, event: Event::End },
            Record {
                t_ns: 1_500,
                event: Event::Invoke { req: 17, user: 3, client: 0, service: 1, op: Op::Read, key: 42 },
            },
        ];
        let (_, bytes) = write(&records);
        let header_len = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
        let block = &bytes[14 + header_len..];
        let (compressed_len, raw_len) =
            (u32::from_le_bytes(block[..4].try_into().unwrap()) as usize, block[4..8].to_vec());
        let mut raw = vec![0u8; u32::from_le_bytes(raw_len.try_into().unwrap()) as usize];
        lz4_flex::block::decompress_into(&block[8..8 + compressed_len], &mut raw).unwrap();
        assert_eq!(raw, [0xe8, 0x07, 0x08, 0xf4, 0x03, 0x00, 0x11, 0x03, 0x00, 0x01, 0x00, 0x2a]);
    }

    #[test]
    fn hash_is_deterministic_and_sensitive() {
        let records = every_variant();
        let (a, _) = write(&records);
        let (b, _) = write(&records);
        assert_eq!(a, b);
        assert_eq!(a.to_string().len(), 32);
        let mut changed = records.clone();
        changed[5].event = Event::Served { host: 1, op: Op::Write, latency_ns: 1_234_568, ok: false };
        assert_ne!(write(&changed).0, a, "one field changed");
        let mut later = records;
        later[3].t_ns += 1;
        assert_ne!(write(&later).0, a, "one time changed");
    }

    #[test]
    fn hash_does_not_depend_on_block_size() {
        let records = every_variant();
        let (big, big_bytes) = write(&records);
        let (small, small_bytes) = write_with(&records, 16);
        assert_eq!(big, small);
        assert_ne!(big_bytes, small_bytes, "the small-block file has more blocks");
        assert_eq!(read(&small_bytes).unwrap().1, records);
    }

    #[test]
    fn records_counts_what_was_written() {
        let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
        assert_eq!(writer.records(), 0);
        for record in every_variant() {
            writer.write(&record).unwrap();
        }
        assert_eq!(writer.records(), every_variant().len() as u64);
    }

    #[test]
    fn out_of_order_record_is_refused() {
        let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
        writer.write(&Record { t_ns: 10, event: Event::End }).unwrap();
        let err = writer.write(&Record { t_ns: 9, event: Event::End }).unwrap_err();
        assert!(matches!(err, TraceError::OutOfOrder { t_ns: 9, previous_ns: 10 }), "{err}");
        assert_eq!(writer.records(), 1);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (_, bytes) = write_with(&every_variant(), 40);
        for len in 0..bytes.len() {
            match read(&bytes[..len]) {
                Err(TraceError::Truncated { offset, .. }) => assert_eq!(offset, len as u64),
                other => panic!("prefix of {len} bytes: expected truncation, got {:?}", other.map(|r| r.1.len())),
            }
        }
        assert!(read(&bytes).is_ok());
    }

    /// A flipped byte is either reported or harmless: lz4 can copy a run of equal bytes from
    /// more than one offset, so some flips decode to the very same records, and then the hash
    /// rightly agrees. What must never happen is different content read back without an error.
    #[test]
    fn every_flipped_byte_is_reported_or_harmless() {
        let (hash, bytes) = write_with(&every_variant(), 40);
        let mut reported = 0;
        for i in 0..bytes.len() {
            let mut corrupt = bytes.clone();
            corrupt[i] ^= 0x01;
            match read(&corrupt) {
                Err(_) => reported += 1,
                Ok((read_header, records, read_hash)) => {
                    assert_eq!(read_header, header(), "byte {i}");
                    assert_eq!(records, every_variant(), "byte {i}");
                    assert_eq!(read_hash, hash, "byte {i}");
                }
            }
        }
        assert!(reported > bytes.len() * 9 / 10, "{reported} of {} flips reported", bytes.len());
    }

    #[test]
    fn bad_magic_is_not_a_trace() {
        let err = read(b"PK\x03\x04 this is a zip file").unwrap_err();
        assert!(matches!(err, TraceError::NotATrace { .. }), "{err}");
        assert!(err.to_string().contains("not a Faultline trace"), "{err}");
    }

    #[test]
    fn newer_version_is_refused_with_both_versions() {
        let (_, mut bytes) = write(&every_variant());
        bytes[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let err = read(&bytes).unwrap_err();
        let expected =
            format!("written by format version {}; this build reads up to {}", FORMAT_VERSION + 1, FORMAT_VERSION);
        assert!(err.to_string().contains(&expected), "{err}");
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read(&bytes).unwrap_err(), TraceError::TooLarge { what: "header", .. }));

        let (_, good) = write(&[]);
        let blocks_start = 14 + u32::from_le_bytes(good[10..14].try_into().unwrap()) as usize;
        let mut hostile = good[..blocks_start].to_vec();
        hostile.extend_from_slice(&100u32.to_le_bytes());
        hostile.extend_from_slice(&u32::MAX.to_le_bytes());
        let err = read(&hostile).unwrap_err();
        assert!(matches!(err, TraceError::TooLarge { what: "uncompressed block", .. }), "{err}");
    }

    #[test]
    fn corrupt_block_names_block_and_offset() {
        let (_, bytes) = write(&every_variant());
        let blocks_start = 14 + u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
        let mut corrupt = bytes.clone();
        // Claim the block decompresses to one byte less than it does.
        let raw_len = u32::from_le_bytes(corrupt[blocks_start + 4..blocks_start + 8].try_into().unwrap());
        corrupt[blocks_start + 4..blocks_start + 8].copy_from_slice(&(raw_len - 1).to_le_bytes());
        let err = read(&corrupt).unwrap_err();
        assert!(matches!(err, TraceError::CorruptBlock { block: 0, .. }), "{err}");
        assert!(err.to_string().contains(&format!("block #0 at byte {blocks_start}")), "{err}");
    }

    #[test]
    fn garbage_in_a_block_is_reported_with_its_block() {
        let (_, bytes) = write_with(&every_variant(), 40);
        let blocks_start = 14 + u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
        let first_len = u32::from_le_bytes(bytes[blocks_start..blocks_start + 4].try_into().unwrap()) as usize;
        let second = blocks_start + 8 + first_len;
        let second_len = u32::from_le_bytes(bytes[second..second + 4].try_into().unwrap()) as usize;
        let mut corrupt = bytes.clone();
        corrupt[second + 8..second + 8 + second_len].fill(0xff);
        match read(&corrupt).unwrap_err() {
            TraceError::CorruptBlock { block, offset, .. } | TraceError::CorruptRecord { block, offset, .. } => {
                assert_eq!((block, offset), (1, second as u64));
            }
            other => panic!("expected a corrupt block, got {other}"),
        }
    }

    #[test]
    fn reader_is_fused_after_an_error() {
        let (_, bytes) = write(&every_variant());
        let mut reader = TraceReader::new(&bytes[..bytes.len() - 5]).unwrap();
        let first_error = loop {
            match reader.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a truncated trace ended cleanly"),
                Err(e) => break e,
            }
        };
        assert!(matches!(first_error, TraceError::Truncated { .. }), "{first_error}");
        assert!(matches!(reader.next_record(), Err(TraceError::AfterError)));
        assert!(reader.next().is_none(), "the iterator ends after the error");
        assert!(reader.hash().is_none());
    }

    #[test]
    fn long_trace_is_written_in_bounded_memory() {
        let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
        let mut max_buffered = 0;
        let mut max_capacity = 0;
        let n = 200_000u64;
        for i in 0..n {
            let event = match i % 3 {
                0 => Event::Invoke { req: i, user: (i % 97) as u32, client: 0, service: 1, op: Op::Read, key: i * 7 },
                1 => Event::Served { host: 1, op: Op::Read, latency_ns: 1_000 + i % 5_000, ok: i % 11 != 0 },
                _ => Event::Complete { req: i - 2, outcome: Outcome::Ok },
            };
            writer.write(&Record { t_ns: i * 1_500, event }).unwrap();
            max_buffered = max_buffered.max(writer.buffered_bytes());
            max_capacity = max_capacity.max(writer.buffer_capacity_bytes());
        }
        assert!(writer.blocks() > 10, "{} blocks", writer.blocks());
        assert!(max_buffered <= BLOCK_TARGET_BYTES, "buffered {max_buffered}");
        assert!(max_capacity <= 4 * BLOCK_TARGET_BYTES, "capacity {max_capacity}");
        let (hash, bytes) = writer.finish().unwrap();
        let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
        let mut count = 0u64;
        while let Some(record) = reader.next_record().unwrap() {
            assert_eq!(record.t_ns, count * 1_500);
            count += 1;
        }
        assert_eq!(count, n);
        assert_eq!(reader.hash(), Some(hash));
    }

    fn arb_fault() -> impl Strategy<Value = Fault> {
        let group = || prop::collection::vec(any::<u16>(), 0..4);
        prop_oneof![
            any::<u16>().prop_map(|host| Fault::Kill { host }),
            any::<u16>().prop_map(|host| Fault::Restart { host }),
            (group(), group()).prop_map(|(a, b)| Fault::Partition { a, b }),
            (group(), group()).prop_map(|(a, b)| Fault::Heal { a, b }),
            (any::<u16>(), any::<u16>(), any::<u64>(), any::<u64>(), 0.0..1.0f64).prop_map(
                |(a, b, latency_ns, jitter_ns, loss)| Fault::LinkDegrade { a, b, latency_ns, jitter_ns, loss }
            ),
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Fault::LinkRestore { a, b }),
        ]
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        let op = prop_oneof![Just(Op::Read), Just(Op::Write), Just(Op::Other)];
        let outcome = prop_oneof![
            Just(Outcome::Ok),
            any::<u8>().prop_map(Outcome::Error),
            Just(Outcome::Unreachable),
            Just(Outcome::Timeout)
        ];
        prop_oneof![
            (any::<u64>(), any::<u32>(), any::<u16>(), any::<u16>(), op.clone(), any::<u64>()).prop_map(
                |(req, user, client, service, op, key)| Event::Invoke { req, user, client, service, op, key }
            ),
            (any::<u64>(), outcome).prop_map(|(req, outcome)| Event::Complete { req, outcome }),
            (any::<u16>(), op, any::<u64>(), any::<bool>()).prop_map(|(host, op, latency_ns, ok)| Event::Served {
                host,
                op,
                latency_ns,
                ok
            }),
            (any::<u16>(), any::<u16>(), any::<u32>(), any::<bool>())
                .prop_map(|(from, to, bytes, retransmitted)| Event::Message { from, to, bytes, retransmitted }),
            (any::<u16>(), ".{0,12}", ".{0,12}").prop_map(|(host, key, value)| Event::State { host, key, value }),
            (any::<u16>(), any::<bool>()).prop_map(|(host, up)| Event::Power { host, up }),
            (any::<u16>(), "[a-z]{0,8}", any::<i64>(), -1e12..1e12f64)
                .prop_map(|(host, gauge, last, mean)| Event::Sample { host, gauge, last, mean }),
            arb_fault().prop_map(Event::Fault),
            Just(Event::End),
        ]
    }

    fn arb_records() -> impl Strategy<Value = Vec<Record>> {
        prop::collection::vec((0..5_000_000u64, arb_event()), 0..200).prop_map(|items| {
            let mut t_ns = 0u64;
            items
                .into_iter()
                .map(|(dt_ns, event)| {
                    t_ns += dt_ns;
                    Record { t_ns, event }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn random_records_round_trip(records in arb_records(), block_target in 1usize..4096) {
            let (hash, bytes) = write_with(&records, block_target);
            let (_, read_records, read_hash) = read(&bytes).expect("own output reads back");
            prop_assert_eq!(read_records, records);
            prop_assert_eq!(read_hash, hash);
        }

        #[test]
        fn random_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..512), keep in 0usize..64) {
            let (_, good) = write(&every_variant());
            let mut bytes = good[..keep.min(good.len())].to_vec();
            bytes.extend_from_slice(&tail);
            prop_assert!(read(&bytes).is_err());
        }
    }
}
