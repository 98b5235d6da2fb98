//! RESP2, the Redis serialization protocol: the frames a reply is made of, the request parser
//! (multibulk arrays of bulk strings, and inline commands) and the encoder, as the
//! [`Resp`] codec the protocol-neutral server speaks (replies in order on each connection).
//!
//! Limits and errors are Redis's own (`networking.c`): an inline request or a count line longer
//! than 64 KiB without its newline, a multibulk count that is not an integer or above 1,048,576
//! (Redis allows more, but nothing a client sends needs it, and it bounds the argument vector),
//! a bulk length that is not an integer or above 512 MiB (`proto-max-bulk-len`), a bulk that
//! does not start with `$`, and unbalanced quotes in an inline request are protocol errors: the
//! peer gets `-ERR Protocol error: ...` and the connection is closed. Nothing is allocated ahead
//! of the bytes that arrived, so a 2 GB length costs nothing; a connection's query buffer never
//! holds more than one request plus one read, and one request at most 1 GiB
//! (`client-query-buffer-limit`). Empty inline lines and `*0` arrays are skipped, as Redis does.
//!
//! This file must not know what a command does: it frames bytes, and knows only which command
//! names read and which write, to class requests for the served reports.

use crate::seam::RequestKind;
use crate::server::{Class, Codec, Incoming, Refusal, ReplyTo};
use bytes::{Buf, Bytes, BytesMut};
use std::borrow::Cow;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A RESP2 reply value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+OK`: a simple string (no CR or LF inside); a fixed text (`OK`, `PONG`) costs no
    /// allocation.
    Simple(Cow<'static, str>),
    /// `-ERR ...`: an error; the text after the `-`, starting with its code (`ERR`, `WRONGTYPE`,
    /// `OOM`).
    Error(String),
    /// `:42`: an integer.
    Integer(i64),
    /// `$3\r\nfoo`: a bulk string.
    Bulk(Vec<u8>),
    /// `$-1`: the null bulk string (a missing key).
    Null,
    /// `*2\r\n...`: an array of frames.
    Array(Vec<Frame>),
    /// `*-1`: the null array.
    NullArray,
}

impl Frame {
    /// `+OK`.
    pub fn ok() -> Self {
        Frame::Simple(Cow::Borrowed("OK"))
    }

    /// An error reply with the given text (its code first, e.g. `ERR syntax error`).
    pub fn error(text: impl Into<String>) -> Self {
        Frame::Error(text.into())
    }

    /// Appends the frame as it goes on the wire.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Simple(text) => line(out, b'+', text.as_bytes()),
            Frame::Error(text) => line(out, b'-', text.as_bytes()),
            Frame::Integer(n) => number_line(out, b':', *n),
            Frame::Bulk(bytes) => {
                number_line(out, b'$', bytes.len() as i64);
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::Array(items) => {
                number_line(out, b'*', items.len() as i64);
                for item in items {
                    item.encode(out);
                }
            }
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
        }
    }
}

/// Appends `sign`, `text` and CRLF. CR and LF inside `text` become spaces: a simple string or
/// an error cannot carry them, and one must never split a reply in two.
fn line(out: &mut Vec<u8>, sign: u8, text: &[u8]) {
    out.push(sign);
    out.extend(text.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

/// Appends `sign`, the decimal `n` and CRLF.
fn number_line(out: &mut Vec<u8>, sign: u8, n: i64) {
    out.push(sign);
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `n` (with a `-` when negative), without going through `fmt`:
/// replies and counters write integers on every command.
pub fn push_decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// Why a reply could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid RESP reply: {0}")]
pub struct BadFrame(pub &'static str);

/// The deepest nesting of arrays a decoded reply may have.
const DEPTH_MAX: usize = 32;

impl Frame {
    /// Decodes the reply at the front of `buf`: the frame and the bytes it took, or `None`
    /// when more bytes are needed. The client side of the protocol.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, BadFrame> {
        decode_at(buf, 0, 0)
    }
}

fn decode_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Frame, usize)>, BadFrame> {
    if at >= buf.len() {
        return Ok(None);
    }
    let Some(end) = line_end(buf, at) else {
        return if buf.len() - at > INLINE_MAX { Err(BadFrame("line too long")) } else { Ok(None) };
    };
    if end == at || buf[end - 1] != b'\r' {
        return Err(BadFrame("line not ended by CRLF"));
    }
    let body = &buf[at + 1..end - 1];
    let next = end + 1;
    let text = || String::from_utf8_lossy(body).into_owned();
    match buf[at] {
        b'+' => Ok(Some((Frame::Simple(text().into()), next))),
        b'-' => Ok(Some((Frame::Error(text()), next))),
        b':' => parse_len(body).map(|n| Some((Frame::Integer(n), next))).ok_or(BadFrame("bad integer")),
        b'$' => match parse_len(body) {
            Some(-1) => Ok(Some((Frame::Null, next))),
            Some(len) if (0..=BULK_MAX).contains(&len) => {
                let end = next + len as usize;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(BadFrame("bulk string not ended by CRLF"));
                }
                Ok(Some((Frame::Bulk(buf[next..end].to_vec()), end + 2)))
            }
            _ => Err(BadFrame("bad bulk length")),
        },
        b'*' => match parse_len(body) {
            Some(-1) => Ok(Some((Frame::NullArray, next))),
            Some(count) if (0..=MULTIBULK_MAX).contains(&count) && depth < DEPTH_MAX => {
                let mut items = Vec::with_capacity(count.min(16) as usize);
                let mut at = next;
                for _ in 0..count {
                    match decode_at(buf, at, depth + 1)? {
                        Some((item, after)) => {
                            items.push(item);
                            at = after;
                        }
                        None => return Ok(None),
                    }
                }
                Ok(Some((Frame::Array(items), at)))
            }
            _ => Err(BadFrame("bad array length")),
        },
        _ => Err(BadFrame("unknown type byte")),
    }
}

/// Appends `args` as a multibulk request, the form clients send.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    number_line(out, b'*', args.len() as i64);
    for arg in args {
        let arg = arg.as_ref();
        number_line(out, b'$', arg.len() as i64);
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// The longest inline request, or count line, without its newline (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// The most arguments one multibulk request may announce.
pub const MULTIBULK_MAX: i64 = 1024 * 1024;
/// The longest bulk string (Redis's default `proto-max-bulk-len`).
pub const BULK_MAX: i64 = 512 * 1024 * 1024;
/// The most bytes one request may take (Redis's default `client-query-buffer-limit`).
pub const QUERY_MAX: usize = 1024 * 1024 * 1024;

/// A request read off a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A command: its name, then its arguments, as sent.
    Command(Vec<Bytes>),
    /// A protocol error: the reason (`invalid bulk length`). It is answered with
    /// `-ERR Protocol error: <reason>`, and the connection is closed after it.
    Malformed(String),
}

impl Request {
    /// The reply to a malformed request.
    pub fn protocol_error(reason: &str) -> Frame {
        Frame::Error(format!("ERR Protocol error: {reason}"))
    }
}

/// The outcome of parsing the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole request of this many bytes, and its arguments as ranges of them.
    Complete(usize, Vec<(usize, usize)>),
    /// Nothing to serve in these many bytes (an empty inline line, `*0`).
    Skip(usize),
    /// More bytes are needed; at least this many in all, when known.
    Incomplete(usize),
    /// A protocol error.
    Invalid(&'static str),
    /// An argument of a multibulk request that is not a bulk string: the byte found instead.
    NotBulk(u8),
}

/// Position of the LF ending the line that starts at `from`.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..].iter().position(|&b| b == b'\n').map(|i| from + i)
}

/// Parses a decimal integer as Redis's `string2ll` does for protocol lengths.
fn parse_len(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let (negative, digits) = match digits {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated on the sign's side, so that i64::MIN parses.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if negative { n.checked_sub(d)? } else { n.checked_add(d)? };
    }
    Some(n)
}

/// Parses the request at the front of `buf`.
fn parse(buf: &[u8]) -> Parsed {
    match buf.first() {
        None => Parsed::Incomplete(1),
        Some(b'*') => parse_multibulk(buf),
        Some(_) => parse_inline(buf),
    }
}

fn parse_multibulk(buf: &[u8]) -> Parsed {
    let Some(end) = line_end(buf, 0) else {
        return if buf.len() > INLINE_MAX {
            Parsed::Invalid("too big mbulk count string")
        } else {
            Parsed::Incomplete(0)
        };
    };
    if end == 0 || buf[end - 1] != b'\r' {
        return Parsed::Invalid("invalid multibulk length");
    }
    let count = match parse_len(&buf[1..end - 1]) {
        Some(n) if n <= MULTIBULK_MAX => n,
        _ => return Parsed::Invalid("invalid multibulk length"),
    };
    if count <= 0 {
        return Parsed::Skip(end + 1);
    }
    let mut at = end + 1;
    // Never reserve more than what a few arguments need: the count is the peer's claim.
    let mut args = Vec::with_capacity(count.min(16) as usize);
    for _ in 0..count {
        if at >= buf.len() {
            return Parsed::Incomplete(0);
        }
        if buf[at] != b'$' {
            return Parsed::NotBulk(buf[at]);
        }
        let Some(end) = line_end(buf, at) else {
            return if buf.len() - at > INLINE_MAX {
                Parsed::Invalid("too big bulk count string")
            } else {
                Parsed::Incomplete(0)
            };
        };
        if buf[end - 1] != b'\r' {
            return Parsed::Invalid("invalid bulk length");
        }
        let len = match parse_len(&buf[at + 1..end - 1]) {
            Some(n) if (0..=BULK_MAX).contains(&n) => n as usize,
            _ => return Parsed::Invalid("invalid bulk length"),
        };
        let start = end + 1;
        let needed = start + len + 2;
        if needed > QUERY_MAX {
            return Parsed::Invalid("query buffer limit reached");
        }
        if buf.len() < needed {
            return Parsed::Incomplete(needed);
        }
        if &buf[start + len..needed] != b"\r\n" {
            return Parsed::Invalid("bulk string not terminated by CRLF");
        }
        args.push((start, start + len));
        at = needed;
    }
    Parsed::Complete(at, args)
}

fn parse_inline(buf: &[u8]) -> Parsed {
    let Some(end) = line_end(buf, 0) else {
        return if buf.len() > INLINE_MAX { Parsed::Invalid("too big inline request") } else { Parsed::Incomplete(0) };
    };
    let text_end = if end > 0 && buf[end - 1] == b'\r' { end - 1 } else { end };
    match split_inline(&buf[..text_end]) {
        Err(reason) => Parsed::Invalid(reason),
        Ok(args) if args.is_empty() => Parsed::Skip(end + 1),
        Ok(args) => Parsed::Complete(end + 1, args),
    }
}

/// Splits an inline request into arguments as Redis's `sdssplitargs` does, but as ranges of
/// the line: plain words separated by blanks. Quoted arguments (whose bytes differ from the
/// line's) are returned as `Err` with the reason to re-split by [`unquote_inline`].
fn split_inline(line: &[u8]) -> Result<Vec<(usize, usize)>, &'static str> {
    let mut args = Vec::new();
    let mut at = 0;
    while at < line.len() {
        while at < line.len() && line[at].is_ascii_whitespace() {
            at += 1;
        }
        if at == line.len() {
            break;
        }
        if line[at] == b'"' || line[at] == b'\'' {
            // Quoted words are rare (a person at a terminal); the caller copies them.
            return Err(QUOTED);
        }
        let start = at;
        while at < line.len() && !line[at].is_ascii_whitespace() {
            at += 1;
        }
        args.push((start, at));
    }
    Ok(args)
}

/// The marker [`split_inline`] returns for a line with quoted arguments.
const QUOTED: &str = "quoted";

/// Splits an inline line with quotes: `"..."` with the escapes `\n \r \t \b \a \\ \" \xHH`,
/// `'...'` with `\'`; a closing quote must be followed by a blank or the end.
fn unquote_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    const UNBALANCED: &str = "unbalanced quotes in request";
    let mut args = Vec::new();
    let mut at = 0;
    loop {
        while at < line.len() && line[at].is_ascii_whitespace() {
            at += 1;
        }
        if at == line.len() {
            return Ok(args);
        }
        let mut arg = Vec::new();
        match line[at] {
            b'"' => {
                at += 1;
                loop {
                    match line.get(at..) {
                        None | Some([]) => return Err(UNBALANCED),
                        Some([b'\\', b'x', h, l, ..]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                            arg.push(hex(*h) * 16 + hex(*l));
                            at += 4;
                        }
                        Some([b'\\', c, ..]) => {
                            arg.push(match c {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => *other,
                            });
                            at += 2;
                        }
                        Some([b'"', ..]) => {
                            at += 1;
                            break;
                        }
                        Some([c, ..]) => {
                            arg.push(*c);
                            at += 1;
                        }
                    }
                }
            }
            b'\'' => {
                at += 1;
                loop {
                    match line.get(at..) {
                        None | Some([]) => return Err(UNBALANCED),
                        Some([b'\\', b'\'', ..]) => {
                            arg.push(b'\'');
                            at += 2;
                        }
                        Some([b'\'', ..]) => {
                            at += 1;
                            break;
                        }
                        Some([c, ..]) => {
                            arg.push(*c);
                            at += 1;
                        }
                    }
                }
            }
            _ => {
                while at < line.len() && !line[at].is_ascii_whitespace() && line[at] != b'"' && line[at] != b'\'' {
                    arg.push(line[at]);
                    at += 1;
                }
                args.push(arg);
                continue;
            }
        }
        if at < line.len() && !line[at].is_ascii_whitespace() {
            return Err(UNBALANCED);
        }
        args.push(arg);
    }
}

/// The read side of a RESP connection: its query buffer and whether it failed.
pub struct RespReader<R> {
    half: R,
    buf: BytesMut,
    /// What parsing the buffer's front gave, when [`RespReader::has_buffered`] looked and no
    /// byte came or went since.
    parsed: Option<Parsed>,
    /// A protocol error was reported: the next read ends the connection.
    failed: bool,
}

impl<R> RespReader<R> {
    /// Whether the query buffer holds a whole further request (or a protocol error to report):
    /// the next read needs no I/O.
    pub fn has_buffered(&mut self) -> bool {
        if self.buf.is_empty() {
            return false;
        }
        let parsed = self.parsed.get_or_insert_with(|| parse(&self.buf));
        !matches!(parsed, Parsed::Incomplete(_))
    }
}

impl<R: AsyncRead + Unpin> RespReader<R> {
    /// The next request: `None` when the peer closed between two requests.
    pub async fn next_request(&mut self) -> io::Result<Option<Request>> {
        if self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "protocol error reported"));
        }
        loop {
            let parsed = self.parsed.take().unwrap_or_else(|| parse(&self.buf));
            match parsed {
                Parsed::Complete(len, ranges) => {
                    let frame = self.buf.split_to(len).freeze();
                    let args = ranges.into_iter().map(|(a, b)| frame.slice(a..b)).collect();
                    return Ok(Some(Request::Command(args)));
                }
                Parsed::Skip(len) => self.buf.advance(len),
                Parsed::Invalid(QUOTED) => return Ok(Some(self.take_quoted())),
                Parsed::Invalid(reason) => return Ok(Some(self.fail(reason.to_string()))),
                Parsed::NotBulk(found) => {
                    return Ok(Some(self.fail(format!("expected '$', got '{}'", found.escape_ascii()))));
                }
                Parsed::Incomplete(needed) => {
                    let want = needed.saturating_sub(self.buf.len()).clamp(4096, 1 << 20);
                    self.buf.reserve(want);
                    if self.half.read_buf(&mut self.buf).await? == 0 {
                        return if self.buf.is_empty() { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) };
                    }
                }
            }
        }
    }

    /// Takes the inline line at the front of the buffer, which has quoted arguments.
    fn take_quoted(&mut self) -> Request {
        let end = line_end(&self.buf, 0).unwrap_or(self.buf.len().saturating_sub(1));
        let line = self.buf.split_to(end + 1);
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        match unquote_inline(text) {
            Ok(args) if args.is_empty() => Request::Command(Vec::new()),
            Ok(args) => Request::Command(args.into_iter().map(Bytes::from).collect()),
            Err(reason) => self.fail(reason.to_string()),
        }
    }

    /// Reports a protocol error: the connection ends after its reply.
    fn fail(&mut self, reason: String) -> Request {
        self.failed = true;
        self.buf = BytesMut::new();
        Request::Malformed(reason)
    }
}

/// The RESP2 protocol, for [`crate::server::serve`]: requests are commands, replies are frames
/// written in order.
pub struct Resp;

/// Commands that change the keyspace, for the served reports (by their name, any case).
fn is_write(name: &[u8]) -> bool {
    const WRITES: [&[u8]; 13] = [
        b"SET",
        b"DEL",
        b"MSET",
        b"INCR",
        b"INCRBY",
        b"DECR",
        b"DECRBY",
        b"EXPIRE",
        b"PEXPIRE",
        b"FLUSHALL",
        b"FLUSHDB",
        b"CL.THROTTLE",
        b"UNLINK",
    ];
    WRITES.iter().any(|w| w.eq_ignore_ascii_case(name))
}

impl Codec for Resp {
    type Request = Request;
    type Reply = Frame;
    type Reader<R: AsyncRead + Unpin + 'static> = RespReader<R>;

    fn reader<R: AsyncRead + Unpin + 'static>(read_half: R) -> RespReader<R> {
        RespReader { half: read_half, buf: BytesMut::with_capacity(4096), parsed: None, failed: false }
    }

    fn has_buffered<R: AsyncRead + Unpin + 'static>(reader: &mut RespReader<R>) -> bool {
        reader.has_buffered()
    }

    async fn read<R: AsyncRead + Unpin + 'static>(reader: &mut RespReader<R>) -> io::Result<Option<Incoming<Request>>> {
        Ok(reader.next_request().await?.map(|request| Incoming { request, reply_to: ReplyTo::InOrder }))
    }

    fn encode(reply: &Frame, _id: u64, out: &mut Vec<u8>) {
        reply.encode(out);
    }

    fn class(request: &Request) -> Class {
        match request {
            Request::Command(args) => match args.first() {
                Some(name) if name.eq_ignore_ascii_case(b"GET") || name.eq_ignore_ascii_case(b"MGET") => {
                    Class::Query(RequestKind::Read)
                }
                Some(name) if is_write(name) => Class::Query(RequestKind::Write),
                Some(_) | None => Class::Query(RequestKind::Other),
            },
            Request::Malformed(_) => Class::Control,
        }
    }

    fn refusal(why: Refusal, detail: String) -> Frame {
        match why {
            Refusal::Overloaded => Frame::Error(format!("{OVERLOADED} {detail}")),
            Refusal::TooManyConnections => Frame::Error(MAX_CLIENTS.into()),
        }
    }

    fn is_failure(reply: &Frame) -> bool {
        match reply {
            Frame::Error(text) => text.starts_with("OOM ") || text.starts_with(OVERLOADED) || text == MAX_CLIENTS,
            Frame::Simple(_)
            | Frame::Integer(_)
            | Frame::Bulk(_)
            | Frame::Null
            | Frame::Array(_)
            | Frame::NullArray => false,
        }
    }
}

/// The error code of a query the server shed (its queue was full, or it waited too long).
pub const OVERLOADED: &str = "OVERLOADED";
/// Redis's refusal of a connection over `maxclients`.
pub const MAX_CLIENTS: &str = "ERR max number of clients reached";

#[cfg(test)]
#[path = "resp_tests.rs"]
mod tests;
