//! The framed wire protocol every model speaks over the seam's streams: its messages, how each
//! is classified for the server's queueing model, and its frames.
//!
//! A frame is `len: u32 BE` (bytes after this field), `id: u64 BE` (the caller's request id,
//! echoed in the reply, so many requests share one connection), `tag: u8`, then the body.
//! Byte strings are `u32 BE` length + bytes; integers are big-endian fixed width.
//! Frames larger than [`MAX_FRAME_BYTES`] are refused, so a bad peer cannot make us allocate
//! without bound.
//!
//! Adding a message: one variant here, one arm in [`Msg::class`] (the compiler asks for it), and
//! one line (its tag and fields in wire order) in `wire`'s table, which generates both the
//! encoder and the decoder. This module must not know how a model answers a message.

mod stream;
mod wire;

pub use stream::{FrameReader, Framed, read_frame, write_frame};

use crate::seam::RequestKind;
use crate::server::Class;
use faultline_vocab::error_code as code;
use std::io;
use wire::Reader;

/// The largest frame accepted (16 MiB).
pub const MAX_FRAME_BYTES: u32 = 16 << 20;

/// Why a request failed at the server (the codes are `faultline_vocab::error_code`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    /// The server cannot serve this (e.g. a replica asked to write).
    NotPrimary = code::NOT_PRIMARY,
    /// A dependency of the server failed or timed out.
    Upstream = code::UPSTREAM,
    /// The server is overloaded and shed the request.
    Overloaded = code::OVERLOADED,
    /// The request was malformed.
    BadRequest = code::BAD_REQUEST,
    /// The write's epoch is older than the server's (fenced).
    Fenced = code::FENCED,
    /// The server's storage failed.
    Storage = code::STORAGE,
    /// A connection pool had no server connection free within its wait timeout.
    PoolTimeout = code::POOL_TIMEOUT,
    /// The server is at its connection limit and refused a new connection.
    TooManyConnections = code::TOO_MANY_CONNECTIONS,
    /// A compare-and-set found another value than the one expected, and wrote nothing.
    CasMismatch = code::CAS_MISMATCH,
}

/// One log entry shipped from a primary to a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Log sequence number, 1-based and dense.
    pub lsn: u64,
    /// The epoch of the primary that wrote it (1 for the first primary).
    pub epoch: u64,
    /// The key written.
    pub key: Vec<u8>,
    /// The value written; `None` is a delete.
    pub value: Option<Vec<u8>>,
}

/// A replicated store node's place in its group, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeRole {
    /// Accepts writes and ships its log.
    Primary = 1,
    /// Applies a primary's log and serves reads.
    Replica = 2,
    /// Serves reads only and waits for orders: a deposed primary, or one whose lease ran out,
    /// or a managed node that restarted and has not yet been told its role.
    Fenced = 3,
}

impl NodeRole {
    /// The role's name in traces and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => faultline_vocab::role::PRIMARY,
            Self::Replica => faultline_vocab::role::REPLICA,
            Self::Fenced => faultline_vocab::role::FENCED,
        }
    }
}

/// What a store node says about itself in reply to [`Msg::Check`], [`Msg::Promote`] and
/// [`Msg::Follow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its role now.
    pub role: NodeRole,
    /// The highest epoch it knows of.
    pub epoch: u64,
    /// The last LSN in its log (a primary: written; a replica: applied).
    pub lsn: u64,
    /// The epoch of the entry at `lsn` (0 for an empty log): with `lsn`, how caught up it is.
    pub last_epoch: u64,
    /// A replica: how long it has been behind the newest LSN it has heard of, nanoseconds
    /// (0 when caught up). A primary: 0.
    pub lag_ns: u64,
}

/// Every message of the protocol, requests and replies alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Read `key`. `min_lsn` is a read-your-writes token: the reply must come from a node that
    /// has applied at least this LSN (0: any node will do).
    Get { key: Vec<u8>, min_lsn: u64 },
    /// Write `value` under `key`.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Delete `key`.
    Delete { key: Vec<u8> },
    /// Compare-and-set: write `value` under `key` only if it holds `expected` now (`None`: the
    /// key must be absent), in one atomic step at the primary. Replied to with `Written`, or
    /// `Error { code: CasMismatch }` when the key holds something else (nothing was written).
    Cas { key: Vec<u8>, expected: Option<Vec<u8>>, value: Vec<u8> },
    /// Return `payload` unchanged.
    Echo { payload: Vec<u8> },
    /// A replica asks for the log from `from_lsn` (inclusive) on, then keeps streaming.
    /// `last_epoch` is the epoch of its entry at `from_lsn - 1` (0 if none), so the primary can
    /// tell whether their logs agree up to there.
    Subscribe { from_lsn: u64, last_epoch: u64 },
    /// Reply to a read: the value (if any) and the LSN the server had applied.
    Value { value: Option<Vec<u8>>, lsn: u64 },
    /// Reply to a write: its LSN and the epoch of the primary that accepted it.
    Written { lsn: u64, epoch: u64 },
    /// Log entries pushed to a subscribed replica; `head` is the primary's last LSN when sent
    /// (an empty `Log` is a heartbeat).
    Log { entries: Vec<LogEntry>, head: u64 },
    /// A replica acknowledges it applied everything up to `lsn`.
    Applied { lsn: u64 },
    /// Reply: the request failed.
    Error { code: ErrorCode, detail: String },
    /// A health check from a failover controller that knows of `epoch`. To the primary of that
    /// epoch, `lease_ms > 0` also grants a lease: it may accept writes for that long after it
    /// received this. Replied to with `Status`.
    Check { epoch: u64, lease_ms: u32 },
    /// Reply: a node's status.
    Status(NodeStatus),
    /// Become the primary of `epoch` (higher than any the node knows). Replied to with `Status`.
    Promote { epoch: u64 },
    /// Follow the primary at `primary` ("host:port") of `epoch`, as a replica. Replied to with
    /// `Status`.
    Follow { primary: String, epoch: u64 },
    /// Reply to `Subscribe` from a replica whose log diverges from the primary's (of `epoch`)
    /// after `to_lsn`: it must drop its entries after `to_lsn` and subscribe again.
    Truncate { to_lsn: u64, epoch: u64 },
    /// A long transaction: a query that holds its worker (and its connection) for `ms`
    /// milliseconds before it answers, like a report query or `pg_sleep`. Replied to with
    /// `Value { value: None, lsn }`.
    Hold { ms: u32 },
}

impl Msg {
    /// What serving this message costs the server, when it arrives as a request: a query of
    /// some kind takes a worker slot and its service time; control traffic (replication,
    /// failover management, and replies, which a server answers `BadRequest`) does not.
    pub fn class(&self) -> Class {
        match self {
            Msg::Get { .. } => Class::Query(RequestKind::Read),
            Msg::Put { .. } | Msg::Delete { .. } | Msg::Cas { .. } => Class::Query(RequestKind::Write),
            Msg::Echo { .. } | Msg::Hold { .. } => Class::Query(RequestKind::Other),
            Msg::Subscribe { .. }
            | Msg::Applied { .. }
            | Msg::Check { .. }
            | Msg::Promote { .. }
            | Msg::Follow { .. }
            | Msg::Value { .. }
            | Msg::Written { .. }
            | Msg::Log { .. }
            | Msg::Error { .. }
            | Msg::Status(_)
            | Msg::Truncate { .. } => Class::Control,
        }
    }

    /// Whether this reply reports a failure of the server that sent it. A compare-and-set that
    /// found another value was served correctly: the refusal is the caller's concern (like
    /// HTTP 409), not a failure of the server.
    pub fn is_failure(&self) -> bool {
        matches!(self, Msg::Error { code, .. } if *code != ErrorCode::CasMismatch)
    }
}

/// A message with the id that pairs a request with its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Request id chosen by the caller.
    pub id: u64,
    /// The message.
    pub msg: Msg,
}

/// Appends the frame of `msg` with `id` (length prefix included) to `out`.
pub(crate) fn encode_frame(id: u64, msg: &Msg, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_be_bytes());
    msg.encode_body(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

impl Frame {
    /// Appends the encoded frame (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_frame(self.id, &self.msg, out);
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        self.encode(&mut out);
        out
    }

    /// Decodes one frame body (everything after the length prefix).
    pub fn decode(body: &[u8]) -> Result<Frame, ProtoError> {
        let mut r = Reader { buf: body };
        let id = r.u64()?;
        let msg = Msg::decode_body(&mut r)?;
        if !r.buf.is_empty() {
            return Err(ProtoError::TrailingBytes(r.buf.len()));
        }
        Ok(Frame { id, msg })
    }
}

/// A malformed frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    /// The frame ended in the middle of a field.
    #[error("frame truncated")]
    Truncated,
    /// The message tag is not one we know.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// A field held a value outside its domain.
    #[error("bad value in field {0}")]
    BadValue(&'static str),
    /// Bytes were left after the message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The length prefix exceeds [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(u32),
}

impl From<ProtoError> for io::Error {
    fn from(e: ProtoError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(msg: Msg) {
        let frame = Frame { id: 42, msg };
        let bytes = frame.to_bytes();
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(Frame::decode(&bytes[4..]).unwrap(), frame);
    }

    #[test]
    fn every_message_round_trips() {
        check(Msg::Get { key: b"k1".to_vec(), min_lsn: 0 });
        check(Msg::Get { key: b"k1".to_vec(), min_lsn: 77 });
        check(Msg::Put { key: b"k".to_vec(), value: vec![0; 100] });
        check(Msg::Delete { key: vec![] });
        check(Msg::Echo { payload: vec![7; 64] });
        check(Msg::Subscribe { from_lsn: 9, last_epoch: 2 });
        check(Msg::Value { value: None, lsn: 3 });
        check(Msg::Value { value: Some(b"v".to_vec()), lsn: 3 });
        check(Msg::Written { lsn: u64::MAX, epoch: 3 });
        check(Msg::Log { entries: vec![LogEntry { lsn: 1, epoch: 1, key: b"a".to_vec(), value: None }], head: 4 });
        check(Msg::Log { entries: vec![], head: 0 });
        check(Msg::Check { epoch: 2, lease_ms: 1500 });
        let status = NodeStatus { role: NodeRole::Fenced, epoch: 3, lsn: 10, last_epoch: 2, lag_ns: 5 };
        check(Msg::Status(status));
        check(Msg::Promote { epoch: 4 });
        check(Msg::Follow { primary: "db2:7000".into(), epoch: 4 });
        check(Msg::Truncate { to_lsn: 8, epoch: 4 });
        check(Msg::Hold { ms: 5_000 });
        check(Msg::Cas { key: b"k".to_vec(), expected: None, value: b"v".to_vec() });
        check(Msg::Cas { key: b"k".to_vec(), expected: Some(b"old".to_vec()), value: b"new".to_vec() });
        check(Msg::Error { code: ErrorCode::CasMismatch, detail: "k holds another value".into() });
        check(Msg::Error { code: ErrorCode::PoolTimeout, detail: "no connection in 1s".into() });
        check(Msg::Error { code: ErrorCode::TooManyConnections, detail: "100 in use".into() });
        check(Msg::Applied { lsn: 5 });
        check(Msg::Error { code: ErrorCode::Fenced, detail: "epoch 3 < 4".into() });
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert_eq!(Frame::decode(&[]), Err(ProtoError::Truncated));
        let mut b = Frame { id: 1, msg: Msg::Written { lsn: 1, epoch: 1 } }.to_bytes();
        b[12] = 99;
        assert_eq!(Frame::decode(&b[4..]), Err(ProtoError::UnknownTag(99)));
        let mut b = Frame { id: 1, msg: Msg::Written { lsn: 1, epoch: 1 } }.to_bytes();
        b.push(0);
        assert_eq!(Frame::decode(&b[4..]), Err(ProtoError::TrailingBytes(1)));
    }
    #[test]
    fn messages_are_classified_for_the_server() {
        use crate::seam::RequestKind::{Other, Read, Write};
        let get = Msg::Get { key: vec![], min_lsn: 0 };
        assert_eq!(get.class(), Class::Query(Read));
        assert_eq!(Msg::Cas { key: vec![], expected: None, value: vec![] }.class(), Class::Query(Write));
        assert_eq!(Msg::Delete { key: vec![] }.class(), Class::Query(Write));
        assert_eq!(Msg::Hold { ms: 1 }.class(), Class::Query(Other));
        assert_eq!(Msg::Echo { payload: vec![] }.class(), Class::Query(Other));
        assert_eq!(Msg::Subscribe { from_lsn: 1, last_epoch: 0 }.class(), Class::Control);
        assert_eq!(Msg::Check { epoch: 1, lease_ms: 0 }.class(), Class::Control);
        assert_eq!(Msg::Written { lsn: 1, epoch: 1 }.class(), Class::Control, "a reply sent as a request");
    }

    #[test]
    fn only_errors_other_than_a_cas_mismatch_are_failures() {
        let error = |code| Msg::Error { code, detail: String::new() };
        assert!(error(ErrorCode::Overloaded).is_failure());
        assert!(error(ErrorCode::NotPrimary).is_failure());
        assert!(!error(ErrorCode::CasMismatch).is_failure());
        assert!(!Msg::Written { lsn: 1, epoch: 1 }.is_failure());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Frame::decode(&body);
        }

        #[test]
        fn puts_round_trip(id in any::<u64>(), key in proptest::collection::vec(any::<u8>(), 0..32),
                           value in proptest::collection::vec(any::<u8>(), 0..256)) {
            let frame = Frame { id, msg: Msg::Put { key, value } };
            let bytes = frame.to_bytes();
            prop_assert_eq!(Frame::decode(&bytes[4..]).unwrap(), frame);
        }
    }
}
