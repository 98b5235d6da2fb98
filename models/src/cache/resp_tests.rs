//! RESP2 framing: requests as redis-cli, redis-benchmark and redis-rs send them (multibulk,
//! inline, pipelined, split across reads), Redis's protocol errors, and replies on the wire.

use super::*;
use crate::testenv::block_on;
use proptest::prelude::*;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::ReadBuf;

/// A stream that hands out its bytes `step` at a time, as a slow network would.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = self.step.min(self.data.len() - self.at).min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Every request in `bytes`, read `step` bytes at a time, then how the stream ended.
fn read_all(bytes: &[u8], step: usize) -> (Vec<Request>, io::Result<()>) {
    let mut reader = Resp::reader(Trickle { data: bytes.to_vec(), at: 0, step });
    block_on(async {
        let mut out = Vec::new();
        loop {
            match reader.next_request().await {
                Ok(Some(request)) => out.push(request),
                Ok(None) => return (out, Ok(())),
                Err(e) => return (out, Err(e)),
            }
        }
    })
}

fn command(args: &[&str]) -> Request {
    Request::Command(args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect())
}

#[test]
fn multibulk_requests_pipeline_and_survive_any_split() {
    let wire = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    for step in [1, 2, 3, 7, 1000] {
        let (requests, end) = read_all(wire, step);
        assert!(end.is_ok(), "step {step}: {end:?}");
        assert_eq!(requests, vec![command(&["SET", "key", "va\r\nl"]), command(&["GET", "key"])], "step {step}");
    }
}

#[test]
fn inline_requests_parse_as_redis_benchmark_and_telnet_send_them() {
    let (requests, end) = read_all(b"PING\r\n\r\n  \nset k  v\nECHO \"a b\\x41\\n\" 'it\\'s'\r\n", 3);
    assert!(end.is_ok());
    assert_eq!(requests, vec![command(&["PING"]), command(&["set", "k", "v"]), command(&["ECHO", "a bA\n", "it's"])]);
}

#[test]
fn empty_multibulk_is_skipped() {
    let (requests, end) = read_all(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", 1);
    assert!(end.is_ok());
    assert_eq!(requests, vec![command(&["PING"])]);
}

/// The protocol error a malformed stream gets, and that reading stops after it.
fn protocol_error(bytes: &[u8]) -> String {
    let (requests, end) = read_all(bytes, 4096);
    assert!(end.is_err(), "a protocol error ends the connection");
    match requests.last() {
        Some(Request::Malformed(reason)) => reason.clone(),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn malformed_requests_get_redis_protocol_errors() {
    assert_eq!(protocol_error(b"*x\r\n"), "invalid multibulk length");
    assert_eq!(protocol_error(b"*99999999999\r\n"), "invalid multibulk length");
    assert_eq!(protocol_error(b"*1\r\n$-5\r\n"), "invalid bulk length");
    assert_eq!(protocol_error(b"*1\r\n$abc\r\n"), "invalid bulk length");
    assert_eq!(protocol_error(b"*1\r\n:12\r\n"), "expected '$', got ':'");
    assert_eq!(protocol_error(b"*1\r\n$2\r\nabXY"), "bulk string not terminated by CRLF");
    assert_eq!(protocol_error(b"ECHO \"open\r\n"), "unbalanced quotes in request");
    assert_eq!(protocol_error(b"ECHO \"a\"b\r\n"), "unbalanced quotes in request");
    assert_eq!(
        Request::protocol_error("invalid bulk length"),
        Frame::Error("ERR Protocol error: invalid bulk length".into())
    );
}

#[test]
fn a_two_gigabyte_bulk_length_is_refused_without_allocating_it() {
    assert_eq!(protocol_error(b"*1\r\n$2147483648\r\n"), "invalid bulk length");
    // Within the limit, the length is believed only as the bytes arrive: a truncated frame
    // ends as an unexpected end of stream, not as a 512 MiB buffer.
    let (requests, end) = read_all(b"*1\r\n$536870912\r\nabc", 4096);
    assert!(requests.is_empty());
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn an_endless_inline_line_is_refused_past_64_kib() {
    let mut wire = vec![b'a'; INLINE_MAX + 10];
    assert_eq!(protocol_error(&wire), "too big inline request");
    wire[0] = b'*';
    assert_eq!(protocol_error(&wire), "too big mbulk count string");
}

#[test]
fn replies_go_on_the_wire_as_redis_writes_them() {
    let frame = Frame::Array(vec![
        Frame::ok(),
        Frame::error("ERR syntax error"),
        Frame::Integer(-42),
        Frame::Integer(i64::MIN),
        Frame::Bulk(b"a\r\nb".to_vec()),
        Frame::Null,
        Frame::NullArray,
        Frame::Array(vec![]),
    ]);
    let mut out = Vec::new();
    frame.encode(&mut out);
    assert_eq!(
        out,
        b"*8\r\n+OK\r\n-ERR syntax error\r\n:-42\r\n:-9223372036854775808\r\n$4\r\na\r\nb\r\n$-1\r\n*-1\r\n*0\r\n"
    );
    assert_eq!(Frame::decode(&out), Ok(Some((frame, out.len()))));
    assert_eq!(Frame::decode(&out[..out.len() - 1]), Ok(None));
}

#[test]
fn a_line_break_inside_an_error_cannot_split_the_reply() {
    let mut out = Vec::new();
    Frame::error("ERR a\r\nb").encode(&mut out);
    assert_eq!(out, b"-ERR a  b\r\n");
}

#[test]
fn decoding_rejects_garbage_replies() {
    assert_eq!(Frame::decode(b"?x\r\n"), Err(BadFrame("unknown type byte")));
    assert_eq!(Frame::decode(b":1x\r\n"), Err(BadFrame("bad integer")));
    assert_eq!(Frame::decode(b"$-2\r\n"), Err(BadFrame("bad bulk length")));
    assert_eq!(Frame::decode(b"$1\r\nabc"), Err(BadFrame("bulk string not ended by CRLF")));
    let deep = "*1\r\n".repeat(40);
    assert_eq!(Frame::decode(deep.as_bytes()), Err(BadFrame("bad array length")));
}

#[test]
fn commands_are_classed_for_the_served_reports() {
    assert_eq!(Resp::class(&command(&["get", "k"])), Class::Query(RequestKind::Read));
    assert_eq!(Resp::class(&command(&["Set", "k", "v"])), Class::Query(RequestKind::Write));
    assert_eq!(Resp::class(&command(&["PING"])), Class::Query(RequestKind::Other));
    assert_eq!(Resp::class(&Request::Malformed("x".into())), Class::Control);
    assert!(Resp::is_failure(&Resp::refusal(Refusal::Overloaded, "queue full".into())));
    assert!(Resp::is_failure(&Resp::refusal(Refusal::TooManyConnections, String::new())));
    assert!(Resp::is_failure(&Frame::error("OOM command not allowed when used memory > 'maxmemory'.")));
    assert!(!Resp::is_failure(&Frame::error("ERR syntax error")));
}

proptest! {
    /// Whatever a client sends as commands, split however the network splits it, comes out as
    /// the same commands.
    #[test]
    fn encoded_commands_read_back(
        commands in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..5), 1..6),
        step in 1usize..64,
    ) {
        let mut wire = Vec::new();
        for args in &commands {
            encode_command(args, &mut wire);
        }
        let (requests, end) = read_all(&wire, step);
        prop_assert!(end.is_ok());
        let expected: Vec<Request> =
            commands.iter().map(|args| Request::Command(args.iter().map(|a| Bytes::copy_from_slice(a)).collect())).collect();
        prop_assert_eq!(requests, expected);
    }

    /// Garbage never panics the reader: it yields requests, a protocol error, or the end.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), step in 1usize..32) {
        let (requests, _end) = read_all(&bytes, step);
        let malformed = requests.iter().filter(|r| matches!(r, Request::Malformed(_))).count();
        prop_assert!(malformed <= 1, "reading stops at the first protocol error");
        let _ = Frame::decode(&bytes);
    }

    /// Any frame decodes to itself.
    #[test]
    fn frames_round_trip(n in any::<i64>(), bulk in prop::collection::vec(any::<u8>(), 0..50), text in "[a-zA-Z0-9 ]{0,30}") {
        let frame = Frame::Array(vec![Frame::Integer(n), Frame::Bulk(bulk), Frame::Simple(text.clone().into()), Frame::Error(text)]);
        let mut out = Vec::new();
        frame.encode(&mut out);
        prop_assert_eq!(Frame::decode(&out), Ok(Some((frame, out.len()))));
    }
}

#[test]
fn only_a_whole_buffered_request_counts_as_buffered() {
    let mut reader = Resp::reader(Trickle { data: b"PING\r\nGET a\r\nGE".to_vec(), at: 0, step: 1000 });
    assert!(!reader.has_buffered(), "nothing read yet");
    block_on(async {
        assert_eq!(reader.next_request().await.unwrap(), Some(command(&["PING"])));
        assert!(reader.has_buffered(), "GET a is whole");
        assert!(reader.has_buffered(), "asking twice changes nothing");
        assert_eq!(reader.next_request().await.unwrap(), Some(command(&["GET", "a"])));
        assert!(!reader.has_buffered(), "half a request must wait for I/O");
    });
}
