//! The queueing model is protocol-neutral: a second, tiny codec (a line protocol answered in
//! order on each connection, as RESP and HTTP/1.1 are) served by the same `serve`, on loopback
//! sockets and a manual clock. Worker slots, the queue limit, the connection limit and the
//! served reports apply to it, refusals are its own, and replies keep their requests' order
//! whatever order they finish in.
//!
//! The codec lives here only: nothing outside these tests speaks it.

use super::*;
use crate::seam::RequestKind;
use crate::testenv::{TestEnv, block_on};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// A request line: `GET key`, `SET key` or `PING`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LineRequest {
    Get(String),
    Set(String),
    Ping,
}

/// A reply line: `+text` or `-text`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LineReply {
    Ok(String),
    Err(String),
}

struct LineCodec;

/// Reads `\n`-terminated lines through a buffer.
struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
}

fn parse(line: &[u8]) -> io::Result<LineRequest> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a request line");
    let line = std::str::from_utf8(line).map_err(|_| bad())?;
    match line.split_once(' ') {
        Some(("GET", key)) => Ok(LineRequest::Get(key.to_string())),
        Some(("SET", key)) => Ok(LineRequest::Set(key.to_string())),
        None if line == "PING" => Ok(LineRequest::Ping),
        _ => Err(bad()),
    }
}

impl Codec for LineCodec {
    type Request = LineRequest;
    type Reply = LineReply;
    type Reader<R: AsyncRead + Unpin + 'static> = LineReader<R>;

    fn reader<R: AsyncRead + Unpin + 'static>(read_half: R) -> LineReader<R> {
        LineReader { inner: read_half, buf: Vec::new() }
    }

    async fn read<R: AsyncRead + Unpin + 'static>(
        reader: &mut LineReader<R>,
    ) -> io::Result<Option<Incoming<LineRequest>>> {
        loop {
            if let Some(end) = reader.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = reader.buf.drain(..=end).collect();
                let request = parse(&line[..end])?;
                return Ok(Some(Incoming { request, reply_to: ReplyTo::InOrder }));
            }
            let mut chunk = [0; 256];
            let n = reader.inner.read(&mut chunk).await?;
            if n == 0 {
                return if reader.buf.is_empty() { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) };
            }
            reader.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn encode(reply: &LineReply, _id: u64, out: &mut Vec<u8>) {
        let (sign, text) = match reply {
            LineReply::Ok(text) => ('+', text),
            LineReply::Err(text) => ('-', text),
        };
        out.extend_from_slice(format!("{sign}{text}\n").as_bytes());
    }

    fn class(request: &LineRequest) -> Class {
        match request {
            LineRequest::Get(_) => Class::Query(RequestKind::Read),
            LineRequest::Set(_) => Class::Query(RequestKind::Write),
            LineRequest::Ping => Class::Control,
        }
    }

    fn refusal(why: Refusal, detail: String) -> LineReply {
        let word = match why {
            Refusal::Overloaded => "OVERLOADED",
            Refusal::TooManyConnections => "TOOMANY",
        };
        LineReply::Err(format!("{word} {detail}"))
    }

    fn is_failure(reply: &LineReply) -> bool {
        matches!(reply, LineReply::Err(_))
    }
}

/// How long the model takes over `GET slow`, beyond its service time.
const SLOW: Duration = Duration::from_millis(20);

/// Answers each key back; `GET slow` waits [`SLOW`] in the handler first.
struct Lines {
    env: TestEnv,
}

impl Handler<TestEnv> for Lines {
    type Codec = LineCodec;

    async fn handle(&self, request: LineRequest, replier: Replier<TestEnv, LineCodec>) -> Option<LineReply> {
        Some(match request {
            LineRequest::Get(key) => {
                if key == "slow" {
                    self.env.sleep(SLOW).await;
                }
                LineReply::Ok(key)
            }
            LineRequest::Set(key) => LineReply::Ok(format!("set {key}")),
            LineRequest::Ping => {
                let early = replier.send(LineReply::Ok("early".into())).await;
                let refused = early.is_err_and(|e| e.kind() == io::ErrorKind::Unsupported);
                LineReply::Ok(format!("pong, early send refused: {refused}"))
            }
        })
    }
}

/// Starts the line server on a manual clock; its environment and address.
async fn start(capacity: Capacity) -> (TestEnv, String) {
    let env = TestEnv::manual("lines");
    let (listener, addr) = super::tests::bind_any(&env).await;
    tokio::task::spawn_local(serve(env.clone(), listener, capacity, Lines { env: env.clone() }));
    (env, addr)
}

/// Yields to the server until `done` holds (bounded: the sockets are loopback).
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..100_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

/// Reads until `n` lines have arrived; the text.
async fn read_lines(stream: &mut tokio::net::TcpStream, n: usize) -> String {
    let mut text = Vec::new();
    while text.iter().filter(|b| **b == b'\n').count() < n {
        let mut chunk = [0; 256];
        let got = stream.read(&mut chunk).await.expect("a read on loopback");
        assert!(got > 0, "the server closed early after {:?}", String::from_utf8_lossy(&text));
        text.extend_from_slice(&chunk[..got]);
    }
    String::from_utf8(text).expect("UTF-8 replies")
}

/// Whether no reply bytes are waiting on `stream`.
fn nothing_to_read(stream: &tokio::net::TcpStream) -> bool {
    matches!(stream.try_read(&mut [0; 64]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[test]
fn worker_slots_and_the_queue_limit_apply_to_another_codec() {
    block_on(async {
        let cost = Duration::from_millis(10);
        let (env, addr) = start(Capacity::new(1, 1, ServiceTime::Fixed(cost))).await;
        let mut stream = env.connect(&addr).await.expect("connect on loopback");
        stream.write_all(b"GET a\nSET b\nGET c\n").await.expect("a write on loopback");
        // a holds the only worker, b waits in the queue of one, c is shed at once.
        until("two queries in flight, one queued", || {
            env.gauge("inflight") == Some(2) && env.gauge("queue") == Some(1)
        })
        .await;
        assert!(nothing_to_read(&stream), "c's refusal waits for the replies before it");
        env.advance(cost);
        until("a served and b at the worker", || env.served_log().len() == 1 && env.gauge("queue") == Some(0)).await;
        assert_eq!(env.gauge("inflight"), Some(1), "b is at the worker");
        env.advance(cost);
        let replies = read_lines(&mut stream, 3).await;
        assert_eq!(replies, "+a\n+set b\n-OVERLOADED queue full\n");
        let served = env.served_log();
        let kinds: Vec<_> = served.iter().map(|(kind, _, ok)| (*kind, *ok)).collect();
        assert_eq!(kinds, [(RequestKind::Read, true), (RequestKind::Write, true)], "the shed query is not reported");
        assert!(served[1].1 >= 2 * cost - Duration::from_millis(1), "b waited for a: {served:?}");
        until("nothing in flight", || env.gauge("inflight") == Some(0)).await;
    });
}

#[test]
fn replies_keep_their_requests_order_whatever_order_they_finish_in() {
    block_on(async {
        let (env, addr) = start(Capacity::new(2, 10, ServiceTime::Zero)).await;
        let mut stream = env.connect(&addr).await.expect("connect on loopback");
        stream.write_all(b"GET slow\nGET fast\nPING\n").await.expect("a write on loopback");
        until("fast served while slow waits", || env.served_log().len() == 1).await;
        assert_eq!(env.gauge("inflight"), Some(1), "slow is still in its handler; PING is not a query");
        assert!(nothing_to_read(&stream), "fast's reply waits for slow's");
        env.advance(SLOW);
        let replies = read_lines(&mut stream, 3).await;
        assert_eq!(replies, "+slow\n+fast\n+pong, early send refused: true\n");
        assert_eq!(env.served_log().len(), 2, "control traffic is not reported");
    });
}

#[test]
fn a_connection_over_the_limit_gets_the_codecs_own_refusal() {
    block_on(async {
        let capacity = Capacity { max_connections: Some(1), ..Capacity::default() };
        let (env, addr) = start(capacity).await;
        let mut first = env.connect(&addr).await.expect("connect on loopback");
        first.write_all(b"GET a\n").await.expect("a write on loopback");
        assert_eq!(read_lines(&mut first, 1).await, "+a\n");
        let mut second = env.connect(&addr).await.expect("connect on loopback");
        second.write_all(b"GET b\n").await.expect("a write on loopback");
        assert_eq!(read_lines(&mut second, 1).await, "-TOOMANY too many connections: 1 open\n");
        let mut rest = Vec::new();
        let closed = second.read_to_end(&mut rest).await.map(|_| rest.is_empty());
        assert!(matches!(closed, Ok(true) | Err(_)), "the refused connection is closed");
        assert_eq!(env.gauge("connections"), Some(1));
    });
}
