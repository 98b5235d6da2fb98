//! `faultline serve app` on real loopback sockets, against real HTTP clients: Debian's `curl`
//! and `wrk`, raw `TcpStream`s for what no client would send, and `faultline serve cache` as the
//! cache it is pointed at.
//!
//! `scripts/install-test-deps.sh` installs curl and wrk, and `.ci/run` sets
//! `FAULTLINE_REQUIRE_PEERS=1`, so in CI a missing tool fails its test; elsewhere such a test
//! says on stderr that it skipped, and why. Nothing here sleeps a fixed time or asserts a
//! duration (wrk runs for two seconds; only its counts are asserted).

use crate::util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `faultline serve ...` process on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    /// The line it printed first: where it listens and what it depends on.
    banner: String,
}

impl Server {
    /// `serve app` with `extra` options.
    fn app(extra: &[&str]) -> Self {
        Self::start(&[&["serve", "app", "--listen", "127.0.0.1:0", "--seed", "7"], extra].concat())
    }

    /// `serve cache`, for the app to be pointed at.
    fn cache() -> Self {
        Self::start(&["serve", "cache", "--listen", "127.0.0.1:0", "--seed", "7"])
    }

    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("faultline starts");
        let mut banner = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut banner).expect("a first line");
        let addr = address_after(&banner, "listening on ");
        Self { child, addr, banner }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `host:port` that follows `label` in `line`.
fn address_after(line: &str, label: &str) -> String {
    line.split(label)
        .nth(1)
        .and_then(|rest| rest.split([' ', ',', ';', ')']).next())
        .filter(|addr| addr.contains(':'))
        .unwrap_or_else(|| panic!("the line names an address after {label:?}: {line:?}"))
        .to_string()
}

/// An HTTP answer read off the wire.
struct Answer {
    status: u16,
    /// Header lines, names lowercased: "name: value".
    headers: Vec<String>,
    body: String,
}

impl Answer {
    fn parse(raw: &str) -> Self {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("a whole answer: {raw:?}"));
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("an HTTP/1.1 status line: {status_line:?}"));
        let headers = lines.map(str::to_ascii_lowercase).collect();
        Self { status, headers, body: body.to_string() }
    }

    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.headers.iter().find_map(|line| line.strip_prefix(prefix.as_str()))
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} {:?}", self.status, self.headers, self.body)
    }
}

/// Sends `bytes` on a new connection, hanging up its sending side after them when `hang_up`;
/// the whole answer until the server closes the connection.
fn send(addr: &str, bytes: &[u8], hang_up: bool) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    stream.write_all(bytes).expect("sent");
    if hang_up {
        // A server that answered at once and closed before reading all we sent has reset the
        // connection by now: there is no sending side left to hang up, and its answer waits
        // in our receive buffer all the same.
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends a malformed request and hangs up: the answer.
fn exchange(addr: &str, bytes: &[u8]) -> String {
    send(addr, bytes, true)
}

/// One request on its own connection, without any HTTP client. The connection stays open
/// both ways until the server closes it after the answer (`connection: close`): a server that
/// reads the end of the stream drops the request it was serving.
fn http(addr: &str, method: &str, path: &str, body: &str) -> Answer {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    Answer::parse(&send(addr, request.as_bytes(), false))
}

/// Runs a tool: its stdout, its stderr, and whether it succeeded.
fn run(tool: &Path, args: &[&str]) -> (String, String, bool) {
    let out = Command::new(tool).args(args).stdin(Stdio::null()).output().expect("the tool runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// `curl -sS ARGS URL` with the status code written after the body: (body, status).
fn curl(curl: &Path, args: &[&str], url: &str) -> (String, u16) {
    let (out, err, ok) = run(curl, &[&["-sS", "-w", "\n%{http_code}"], args, &[url]].concat());
    assert!(ok, "curl {args:?} {url}: {err}");
    let (body, status) = out.rsplit_once('\n').unwrap_or_else(|| panic!("a status after the body: {out:?}"));
    (body.to_string(), status.parse().unwrap_or_else(|_| panic!("a status code: {out:?}")))
}

#[test]
fn curl_writes_reads_and_deletes_items_and_checks_health() {
    let Some(tool) = util::peer("curl") else { return };
    let server = Server::app(&[]);
    assert!(server.banner.contains("db: kv primary in this process on 127.0.0.1:"), "{}", server.banner);
    assert!(server.banner.contains("cache: L2 cache node in this process on 127.0.0.1:"), "{}", server.banner);
    let item = server.url("/items/k1");
    assert_eq!(curl(&tool, &[], &item), (String::new(), 404), "nothing is there yet");
    let (put, _) = curl(&tool, &["-i", "-X", "PUT", "--data-binary", "v1"], &item);
    let put = Answer::parse(&put);
    assert_eq!((put.status, put.header("x-lsn"), put.header("x-epoch")), (200, Some("1"), Some("1")), "{put:?}");
    assert_eq!(curl(&tool, &[], &item), ("v1".to_string(), 200));
    assert_eq!(curl(&tool, &[], &server.url("/items/k2")), (String::new(), 404));
    assert_eq!(curl(&tool, &["-X", "DELETE"], &item), (String::new(), 200));
    assert_eq!(curl(&tool, &[], &item), (String::new(), 404), "the delete reached the store and the cache");
    assert_eq!(curl(&tool, &[], &server.url("/health")), ("ok\n".to_string(), 200));
    assert_eq!(curl(&tool, &["-X", "POST"], &item).1, 405);
}

#[test]
fn curl_reuses_its_keep_alive_connection_for_a_second_url() {
    let Some(tool) = util::peer("curl") else { return };
    let server = Server::app(&[]);
    assert_eq!(http(&server.addr, "PUT", "/items/k1", "v1").status, 200);
    let (out, err, ok) = run(&tool, &["-sS", "-v", &server.url("/health"), &server.url("/items/k1")]);
    assert!(ok, "{err}");
    assert_eq!(out, "ok\nv1", "both answers, in order");
    assert!(err.contains("Re-using existing connection"), "{err}");
    assert_eq!(err.matches("Connected to").count(), 1, "one connection for both: {err}");
}

#[test]
fn malformed_requests_get_400_and_431_and_the_server_serves_on() {
    let server = Server::app(&[]);
    let garbage = exchange(&server.addr, b"\x00\x01garbage\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage:?}");
    let bad_length = exchange(&server.addr, b"PUT /items/k HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\nv");
    assert!(bad_length.starts_with("HTTP/1.1 400 "), "{bad_length:?}");
    // A head of 9 KB, over the 8 KB limit.
    let long_head = format!("GET /items/k HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n", "a".repeat(9 * 1024));
    let long = exchange(&server.addr, long_head.as_bytes());
    assert!(long.starts_with("HTTP/1.1 431 "), "{long:?}");
    assert_eq!(http(&server.addr, "PUT", "/items/k", "v").status, 200, "the server still serves");
    let Some(tool) = util::peer("curl") else { return };
    assert_eq!(curl(&tool, &[], &server.url("/items/k")), ("v".to_string(), 200));
    assert_eq!(curl(&tool, &[], &server.url("/health")).1, 200);
}

/// The number on the line of `wrk`'s output that starts with `label`, if there is one.
fn wrk_figure(out: &str, label: &str) -> Option<f64> {
    out.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix(label))
        .map(|rest| rest.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse().expect("a number"))
}

#[test]
fn wrk_reads_one_key_without_errors() {
    let Some(tool) = util::peer("wrk") else { return };
    let server = Server::app(&[]);
    assert_eq!(http(&server.addr, "PUT", "/items/k1", "v1").status, 200);
    let (out, err, ok) = run(&tool, &["-t1", "-c8", "-d2s", &server.url("/items/k1")]);
    assert!(ok, "{out}{err}");
    let rate = wrk_figure(&out, "Requests/sec:").unwrap_or_else(|| panic!("a rate: {out}"));
    assert!(rate > 0.0, "{out}");
    let requests: u64 = out
        .lines()
        .find_map(|line| line.trim().split_once(" requests in ").and_then(|(n, _)| n.parse().ok()))
        .unwrap_or_else(|| panic!("a request count: {out}"));
    assert!(requests > 0, "{out}");
    assert!(!out.contains("Socket errors"), "no connect, read, write or timeout errors: {out}");
    let non_2xx = wrk_figure(&out, "Non-2xx or 3xx responses:").unwrap_or(0.0);
    assert_eq!(non_2xx, 0.0, "{out}");
    assert_eq!(http(&server.addr, "GET", "/items/k1", "").body, "v1", "the server still serves");
}

#[test]
fn a_cache_given_by_flag_is_a_faultline_serve_cache_that_the_reads_hit() {
    let cache = Server::cache();
    let server = Server::app(&["--cache", &cache.addr]);
    assert!(server.banner.contains(&format!("cache: L2 cache node at {};", cache.addr)), "{}", server.banner);
    assert_eq!(http(&server.addr, "PUT", "/items/user:1", "ada").status, 200);
    let miss = http(&server.addr, "GET", "/items/user:1", "");
    assert_eq!((miss.status, miss.body.as_str(), miss.header("x-lsn")), (200, "ada", Some("1")), "from the store");
    let hit = http(&server.addr, "GET", "/items/user:1", "");
    assert_eq!((hit.status, hit.body.as_str(), hit.header("x-lsn")), (200, "ada", Some("0")), "from the cache");
    let mut redis =
        redis::Client::open(format!("redis://{}/", cache.addr)).expect("a client").get_connection().expect("connected");
    let cached: Option<String> = redis::cmd("GET").arg("user:1").query(&mut redis).expect("GET");
    assert_eq!(cached.as_deref(), Some("ada"), "the miss filled the cache");
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut redis).expect("INFO");
    let hits: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("keyspace_hits:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("keyspace_hits in INFO: {stats}"));
    assert!(hits >= 2, "the app's read and ours hit the cache: {stats}");
    assert_eq!(http(&server.addr, "DELETE", "/items/user:1", "").status, 200);
    let cached: Option<String> = redis::cmd("GET").arg("user:1").query(&mut redis).expect("GET");
    assert_eq!(cached, None, "the delete invalidated the cache");
}

#[test]
fn a_store_given_by_flag_is_the_one_written_and_read() {
    let first = Server::app(&[]);
    let db = address_after(&first.banner, "kv primary in this process on ");
    let second = Server::app(&["--db", &db]);
    assert!(second.banner.contains(&format!("db: kv primary at {db};")), "{}", second.banner);
    assert_eq!(http(&second.addr, "PUT", "/items/shared", "v").status, 200);
    let read = http(&first.addr, "GET", "/items/shared", "");
    assert_eq!((read.status, read.body.as_str()), (200, "v"), "both apps write to and read from one store");
}

#[test]
fn an_unreachable_store_is_502_and_fails_the_health_check() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("an address").to_string()
    };
    let server = Server::app(&["--db", &dead, "--request-timeout", "2s"]);
    let read = http(&server.addr, "GET", "/items/k", "");
    assert_eq!(read.status, 502, "{read:?}");
    assert!(read.body.contains(&dead), "the answer names the store: {read:?}");
    let health = http(&server.addr, "GET", "/health", "");
    assert_eq!(health.status, 503, "{health:?}");
    assert!(health.body.contains(&dead), "{health:?}");
}

/// Reads one answer off a keep-alive connection: its head, then `content-length` bytes.
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the answer's head");
        head.push(byte[0]);
    }
    let mut answer = Answer::parse(&String::from_utf8_lossy(&head));
    let length: usize = answer.header("content-length").and_then(|n| n.parse().ok()).expect("a content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("the answer's body");
    answer.body = String::from_utf8_lossy(&body).into_owned();
    answer
}

#[test]
fn the_body_and_connection_limits_given_by_flag_apply() {
    let server = Server::app(&["--max-body", "16", "--max-connections", "1"]);
    assert!(server.banner.contains("max body 16 bytes"), "{}", server.banner);
    // One keep-alive connection, held open: the one allowed.
    let mut held = TcpStream::connect(&server.addr).expect("connect");
    held.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    let put = |body: &str| format!("PUT /items/k HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    held.write_all(put(&"x".repeat(16)).as_bytes()).expect("sent");
    assert_eq!(read_answer(&mut held).status, 200, "a body at --max-body");
    let refused = http(&server.addr, "GET", "/health", "");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.body.contains("too many connections"), "{refused:?}");
    held.write_all(put(&"x".repeat(17)).as_bytes()).expect("sent");
    assert_eq!(read_answer(&mut held).status, 413, "a body over --max-body");
}

#[test]
fn bad_options_exit_2_with_the_reason() {
    for (args, reason) in [
        (&["--workers", "0"][..], "--workers"),
        (&["--request-timeout", "soon"], "expected a duration"),
        (&["--request-timeout", "0ms"], "must be above zero"),
        (&["--max-body", "lots"], "is not a size"),
        (&["--max-connections", "0"], "--max-connections"),
        (&["--db", "nowhere"], "--db"),
        (&["--cache", "localhost"], "--cache"),
        (&["--listen", "127.0.0.1"], "--listen"),
        (&["--no-such-flag"], "--no-such-flag"),
    ] {
        let out = util::faultline(&[&["serve", "app"], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(util::stderr(&out).contains(reason), "{args:?}: {}", util::stderr(&out));
    }
}

#[test]
fn a_listen_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("an address").to_string();
    let out = util::faultline(&["serve", "app", "--listen", &addr]);
    let stderr = util::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("listening on {addr}")), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(util::stdout(&out).is_empty(), "it never claimed to listen");
}
