//! The streaming trace writer: bounded memory, hashing the uncompressed stream as it goes.

use super::*;
use crate::trace::{FORMAT_VERSION, Header, Record};
use std::io::Write;
use xxhash_rust::xxh3::Xxh3;

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

    pub(super) fn with_block_target(mut out: W, header: &Header, block_target: usize) -> Result<Self, TraceError> {
        let encode = |e: postcard::Error| TraceError::Encode { detail: e.to_string() };
        let mut header_bytes = postcard::to_stdvec(header).map_err(encode)?;
        let sampled = header.sample_ns != 0;
        if !header.shards.is_empty() || !header.regions.is_empty() || sampled {
            header_bytes = postcard::to_extend(&header.shards, header_bytes).map_err(encode)?;
        }
        if !header.regions.is_empty() || sampled {
            header_bytes = postcard::to_extend(&header.regions, header_bytes).map_err(encode)?;
        }
        if sampled {
            header_bytes = postcard::to_extend(&header.sample_ns, header_bytes).map_err(encode)?;
        }
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
        let dt_ns = record.t_ns - self.last_t_ns;
        // The frequent kinds are encoded by hand; the rest into a fixed scratch slice (one
        // bounds check per field, no per-byte writes), or by allocation when too large for it.
        if !super::hot::encode_hot(&mut self.block, dt_ns, &record.event) {
            let wire = WireRecordRef { dt_ns, event: &record.event };
            match postcard::to_slice(&wire, &mut self.scratch[..]) {
                Ok(bytes) => self.block.extend_from_slice(bytes),
                Err(postcard::Error::SerializeBufferFull) => match postcard::to_stdvec(&wire) {
                    Ok(bytes) => self.block.extend_from_slice(&bytes),
                    Err(e) => return Err(TraceError::Encode { detail: e.to_string() }),
                },
                Err(e) => return Err(TraceError::Encode { detail: e.to_string() }),
            }
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
