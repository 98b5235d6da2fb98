//! The framed wire protocol every model speaks over the seam's streams.
//!
//! A frame is `len: u32 BE` (bytes after this field), `id: u64 BE` (the caller's request id,
//! echoed in the reply, so many requests share one connection), `tag: u8`, then the body.
//! Byte strings are `u32 BE` length + bytes; integers are big-endian fixed width.
//! Frames larger than [`MAX_FRAME_BYTES`] are refused, so a bad peer cannot make us allocate
//! without bound. Adding a message: one variant, one tag, one arm in `encode` and `decode`.

use faultline_vocab::error_code as code;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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

impl ErrorCode {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            code::NOT_PRIMARY => Self::NotPrimary,
            code::UPSTREAM => Self::Upstream,
            code::OVERLOADED => Self::Overloaded,
            code::BAD_REQUEST => Self::BadRequest,
            code::FENCED => Self::Fenced,
            code::STORAGE => Self::Storage,
            code::POOL_TIMEOUT => Self::PoolTimeout,
            code::TOO_MANY_CONNECTIONS => Self::TooManyConnections,
            code::CAS_MISMATCH => Self::CasMismatch,
            _ => return None,
        })
    }
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
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Primary,
            2 => Self::Replica,
            3 => Self::Fenced,
            _ => return None,
        })
    }

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
    /// The message kind's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Get { .. } => "Get",
            Msg::Put { .. } => "Put",
            Msg::Delete { .. } => "Delete",
            Msg::Cas { .. } => "Cas",
            Msg::Echo { .. } => "Echo",
            Msg::Subscribe { .. } => "Subscribe",
            Msg::Value { .. } => "Value",
            Msg::Written { .. } => "Written",
            Msg::Log { .. } => "Log",
            Msg::Applied { .. } => "Applied",
            Msg::Error { .. } => "Error",
            Msg::Check { .. } => "Check",
            Msg::Status(_) => "Status",
            Msg::Promote { .. } => "Promote",
            Msg::Follow { .. } => "Follow",
            Msg::Truncate { .. } => "Truncate",
            Msg::Hold { .. } => "Hold",
        }
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

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_opt(out: &mut Vec<u8>, b: &Option<Vec<u8>>) {
    match b {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_bytes(out, v);
        }
    }
}

impl Frame {
    /// Appends the encoded frame (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.id.to_be_bytes());
        match &self.msg {
            Msg::Get { key, min_lsn } => {
                out.push(1);
                put_bytes(out, key);
                out.extend_from_slice(&min_lsn.to_be_bytes());
            }
            Msg::Put { key, value } => {
                out.push(2);
                put_bytes(out, key);
                put_bytes(out, value);
            }
            Msg::Delete { key } => {
                out.push(3);
                put_bytes(out, key);
            }
            Msg::Echo { payload } => {
                out.push(4);
                put_bytes(out, payload);
            }
            Msg::Subscribe { from_lsn, last_epoch } => {
                out.push(5);
                out.extend_from_slice(&from_lsn.to_be_bytes());
                out.extend_from_slice(&last_epoch.to_be_bytes());
            }
            Msg::Value { value, lsn } => {
                out.push(6);
                put_opt(out, value);
                out.extend_from_slice(&lsn.to_be_bytes());
            }
            Msg::Written { lsn, epoch } => {
                out.push(7);
                out.extend_from_slice(&lsn.to_be_bytes());
                out.extend_from_slice(&epoch.to_be_bytes());
            }
            Msg::Log { entries, head } => {
                out.push(8);
                out.extend_from_slice(&head.to_be_bytes());
                out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                for e in entries {
                    out.extend_from_slice(&e.lsn.to_be_bytes());
                    out.extend_from_slice(&e.epoch.to_be_bytes());
                    put_bytes(out, &e.key);
                    put_opt(out, &e.value);
                }
            }
            Msg::Applied { lsn } => {
                out.push(9);
                out.extend_from_slice(&lsn.to_be_bytes());
            }
            Msg::Error { code, detail } => {
                out.push(10);
                out.push(*code as u8);
                put_bytes(out, detail.as_bytes());
            }
            Msg::Check { epoch, lease_ms } => {
                out.push(11);
                out.extend_from_slice(&epoch.to_be_bytes());
                out.extend_from_slice(&lease_ms.to_be_bytes());
            }
            Msg::Status(s) => {
                out.push(12);
                out.push(s.role as u8);
                for v in [s.epoch, s.lsn, s.last_epoch, s.lag_ns] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Msg::Promote { epoch } => {
                out.push(13);
                out.extend_from_slice(&epoch.to_be_bytes());
            }
            Msg::Follow { primary, epoch } => {
                out.push(14);
                put_bytes(out, primary.as_bytes());
                out.extend_from_slice(&epoch.to_be_bytes());
            }
            Msg::Truncate { to_lsn, epoch } => {
                out.push(15);
                out.extend_from_slice(&to_lsn.to_be_bytes());
                out.extend_from_slice(&epoch.to_be_bytes());
            }
            Msg::Hold { ms } => {
                out.push(16);
                out.extend_from_slice(&ms.to_be_bytes());
            }
            Msg::Cas { key, expected, value } => {
                out.push(17);
                put_bytes(out, key);
                put_opt(out, expected);
                put_bytes(out, value);
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
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
        let tag = r.u8()?;
        let msg = match tag {
            1 => Msg::Get { key: r.bytes()?, min_lsn: r.u64()? },
            2 => Msg::Put { key: r.bytes()?, value: r.bytes()? },
            3 => Msg::Delete { key: r.bytes()? },
            4 => Msg::Echo { payload: r.bytes()? },
            5 => Msg::Subscribe { from_lsn: r.u64()?, last_epoch: r.u64()? },
            6 => Msg::Value { value: r.opt()?, lsn: r.u64()? },
            7 => Msg::Written { lsn: r.u64()?, epoch: r.u64()? },
            8 => {
                let head = r.u64()?;
                let n = r.u32()?;
                let mut entries = Vec::with_capacity((n as usize).min(1024));
                for _ in 0..n {
                    entries.push(LogEntry { lsn: r.u64()?, epoch: r.u64()?, key: r.bytes()?, value: r.opt()? });
                }
                Msg::Log { entries, head }
            }
            9 => Msg::Applied { lsn: r.u64()? },
            10 => {
                let code = r.u8()?;
                let code = ErrorCode::from_u8(code).ok_or(ProtoError::BadValue("error code"))?;
                let detail = String::from_utf8_lossy(&r.bytes()?).into_owned();
                Msg::Error { code, detail }
            }
            11 => Msg::Check { epoch: r.u64()?, lease_ms: r.u32()? },
            12 => {
                let role = NodeRole::from_u8(r.u8()?).ok_or(ProtoError::BadValue("node role"))?;
                let (epoch, lsn, last_epoch, lag_ns) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
                Msg::Status(NodeStatus { role, epoch, lsn, last_epoch, lag_ns })
            }
            13 => Msg::Promote { epoch: r.u64()? },
            14 => {
                let primary = String::from_utf8(r.bytes()?).map_err(|_| ProtoError::BadValue("primary address"))?;
                Msg::Follow { primary, epoch: r.u64()? }
            }
            15 => Msg::Truncate { to_lsn: r.u64()?, epoch: r.u64()? },
            16 => Msg::Hold { ms: r.u32()? },
            17 => Msg::Cas { key: r.bytes()?, expected: r.opt()?, value: r.bytes()? },
            other => return Err(ProtoError::UnknownTag(other)),
        };
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

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ProtoError> {
        if self.buf.len() < n {
            return Err(ProtoError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ProtoError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, ProtoError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn opt(&mut self) -> Result<Option<Vec<u8>>, ProtoError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            _ => Err(ProtoError::BadValue("option flag")),
        }
    }
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, scratch: &mut Vec<u8>) -> io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(ProtoError::TooLarge(len).into());
    }
    scratch.resize(len as usize, 0);
    r.read_exact(scratch).await?;
    Ok(Some(Frame::decode(scratch)?))
}

/// Reads frames from a stream through a buffer.
///
/// One read takes in whatever the peer has sent so far (a segment, or several frames at
/// once), and a frame already buffered costs no read at all, where [`read_frame`] reads each
/// frame's length and then its body (two reads a frame, plus the one that finds nothing yet).
/// Its [`FrameReader::next`] is cancel-safe: the bytes of a partly received frame stay in the
/// buffer, so it can be raced against a timeout and called again.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

/// How much a [`FrameReader`] asks for per read at least (its buffer grows for larger frames).
const READ_CHUNK: usize = 4096;

/// A [`FrameReader`]'s buffer shrinks back once empty if it grew past this.
const KEEP_BYTES: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of the frames `inner` carries.
    pub fn new(inner: R) -> Self {
        Self { inner, buf: vec![0; READ_CHUNK], start: 0, end: 0 }
    }

    /// The next frame; `None` when the peer closed the stream between two frames. A stream
    /// that ends inside a frame is an `UnexpectedEof` error; a frame that cannot be decoded
    /// is an `InvalidData` error.
    pub async fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            let buffered = self.end - self.start;
            let mut need = 4;
            if buffered >= 4 {
                let len = u32::from_be_bytes(self.buf[self.start..self.start + 4].try_into().expect("4 bytes"));
                if len > MAX_FRAME_BYTES {
                    return Err(ProtoError::TooLarge(len).into());
                }
                need = 4 + len as usize;
                if buffered >= need {
                    let frame = Frame::decode(&self.buf[self.start + 4..self.start + need]);
                    self.start += need;
                    if self.start == self.end {
                        (self.start, self.end) = (0, 0);
                        if self.buf.len() > KEEP_BYTES {
                            // A large frame passed: give its room back.
                            self.buf.truncate(READ_CHUNK);
                            self.buf.shrink_to_fit();
                        }
                    }
                    return Ok(Some(frame?));
                }
            }
            self.make_room(need);
            let n = self.inner.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return match self.end - self.start {
                    0 => Ok(None),
                    partial => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the stream ended {partial} bytes into a frame"),
                    )),
                };
            }
            self.end += n;
        }
    }

    /// Makes the buffer's free tail long enough to hold the rest of a frame of `need` bytes
    /// and at least one chunk.
    fn make_room(&mut self, need: usize) {
        if self.start > 0 && self.buf.len() - self.start < need.max(READ_CHUNK) {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let want = self.start + need.max(self.end - self.start + READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
    }

    /// The stream, to write on (its buffered, unread bytes stay here).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Writes one frame with a single write call (one segment on the simulated network).
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame, scratch: &mut Vec<u8>) -> io::Result<()> {
    scratch.clear();
    frame.encode(scratch);
    w.write_all(scratch).await?;
    w.flush().await
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

    #[tokio::test]
    async fn oversized_length_is_refused() {
        let bytes = (MAX_FRAME_BYTES + 1).to_be_bytes();
        let mut r: &[u8] = &bytes;
        let err = read_frame(&mut r, &mut Vec::new()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    /// Hands out `bytes` in pieces of the given sizes (cycled), answering `Pending` (after
    /// waking itself) before every piece, as a socket whose data trickles in does.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        turn: usize,
        ready: bool,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            if !std::mem::replace(&mut self.ready, false) {
                self.ready = true;
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            let size = self.sizes[self.turn % self.sizes.len()].max(1);
            self.turn += 1;
            let end = (self.at + size).min(self.bytes.len()).min(self.at + buf.remaining());
            buf.put_slice(&self.bytes[self.at..end]);
            self.at = end;
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn frames(n: usize) -> Vec<Frame> {
        (0..n as u64)
            .map(|id| match id % 3 {
                0 => Frame { id, msg: Msg::Echo { payload: vec![id as u8; (id as usize * 37) % 300] } },
                1 => Frame { id, msg: Msg::Written { lsn: id, epoch: 2 } },
                _ => Frame { id, msg: Msg::Put { key: b"k".to_vec(), value: vec![7; 9000 * (id as usize % 2)] } },
            })
            .collect()
    }

    async fn read_all(bytes: Vec<u8>, sizes: Vec<usize>) -> (Vec<Frame>, io::Result<Option<Frame>>) {
        let mut r = FrameReader::new(Trickle { bytes, at: 0, sizes, turn: 0, ready: false });
        let mut got = Vec::new();
        loop {
            match r.next().await {
                Ok(Some(f)) => got.push(f),
                end => return (got, end),
            }
        }
    }

    #[tokio::test]
    async fn a_frame_reader_reads_frames_however_the_bytes_arrive() {
        let sent = frames(40);
        let bytes: Vec<u8> = sent.iter().flat_map(Frame::to_bytes).collect();
        // Byte by byte, odd pieces, and everything in one read (many frames per read).
        for sizes in [vec![1], vec![3, 1, 700, 5], vec![bytes.len()]] {
            let (got, end) = read_all(bytes.clone(), sizes.clone()).await;
            assert_eq!(got, sent, "pieces {sizes:?}");
            assert!(matches!(end, Ok(None)), "a clean end between frames is None");
        }
    }

    #[tokio::test]
    async fn a_frame_reader_refuses_a_stream_cut_inside_a_frame_or_an_oversized_one() {
        let mut bytes: Vec<u8> = frames(2).iter().flat_map(Frame::to_bytes).collect();
        bytes.truncate(bytes.len() - 3);
        let (got, end) = read_all(bytes, vec![5]).await;
        assert_eq!(got.len(), 1);
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let (got, end) = read_all(vec![1, 2], vec![1]).await;
        assert!(got.is_empty());
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof, "half a length prefix");
        let (_, end) = read_all((MAX_FRAME_BYTES + 1).to_be_bytes().to_vec(), vec![4]).await;
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn a_frame_reader_loses_nothing_when_a_read_is_cancelled() {
        let sent = frames(12);
        let bytes: Vec<u8> = sent.iter().flat_map(Frame::to_bytes).collect();
        let mut r = FrameReader::new(Trickle { bytes, at: 0, sizes: vec![7], turn: 0, ready: false });
        let mut got = Vec::new();
        while got.len() < sent.len() {
            // Poll `next` once or twice and drop it: a timeout racing the read does this.
            let polled = {
                let next = r.next();
                tokio::pin!(next);
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                match next.as_mut().poll(&mut cx) {
                    std::task::Poll::Ready(out) => Some(out),
                    std::task::Poll::Pending => match next.as_mut().poll(&mut cx) {
                        std::task::Poll::Ready(out) => Some(out),
                        std::task::Poll::Pending => None,
                    },
                }
            };
            if let Some(out) = polled {
                got.push(out.expect("no error").expect("a frame"));
            }
        }
        assert_eq!(got, sent);
        assert!(matches!(r.next().await, Ok(None)));
        assert!(r.buf.len() <= KEEP_BYTES, "the room a 9000-byte frame took was given back");
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
