//! The trace reader: one block in memory at a time, every malformation an error, never a panic.

use super::*;
use crate::trace::{FORMAT_VERSION, Header, Record, RegionInfo, Shards};
use std::io::Read;
use xxhash_rust::xxh3::Xxh3;

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
        let header = decode_header(&header_bytes, version)?;
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

/// The header, from version 7 the tenants and shard groups that may follow it, from version 8
/// the regions that may follow those, and from version 10 the sampling interval.
fn decode_header(bytes: &[u8], version: u16) -> Result<Header, TraceError> {
    let corrupt = |e: postcard::Error| TraceError::CorruptHeader { detail: format!("postcard: {e}") };
    let (mut header, mut rest) = postcard::take_from_bytes::<Header>(bytes).map_err(corrupt)?;
    if version >= 7 && !rest.is_empty() {
        (header.shards, rest) = postcard::take_from_bytes::<Shards>(rest).map_err(corrupt)?;
    }
    if version >= 8 && !rest.is_empty() {
        (header.regions, rest) = postcard::take_from_bytes::<Vec<RegionInfo>>(rest).map_err(corrupt)?;
    }
    if version >= 10 && !rest.is_empty() {
        (header.sample_ns, rest) = postcard::take_from_bytes::<u64>(rest).map_err(corrupt)?;
    }
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
