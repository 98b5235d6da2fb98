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

mod hot;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

pub use reader::TraceReader;
pub use writer::TraceWriter;

use super::{Event, FORMAT_VERSION};
use serde::{Deserialize, Serialize};

/// The first bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"FLTRACE\0";
/// The oldest format version this build still reads.
pub const MIN_FORMAT_VERSION: u16 = 2;
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

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A record as written: the time delta, then the event.
#[derive(Serialize)]
pub(crate) struct WireRecordRef<'a> {
    dt_ns: u64,
    event: &'a Event,
}

/// A record as read: same bytes as [`WireRecordRef`].
#[derive(Deserialize)]
pub(crate) struct WireRecord {
    dt_ns: u64,
    event: Event,
}
