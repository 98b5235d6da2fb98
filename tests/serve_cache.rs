//! `faultline serve cache` on real loopback sockets, against real Redis clients: the `redis`
//! crate (redis-rs), and Debian's `redis-cli` and `redis-benchmark` when they are installed.
//!
//! `scripts/install-test-deps.sh` installs redis-tools, and `.ci/run` sets
//! `FAULTLINE_REQUIRE_PEERS=1`, so in CI a missing tool fails its test; elsewhere such a test
//! says on stderr that it skipped, and why. Nothing here sleeps a fixed time or asserts a
//! duration.

use crate::util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `faultline serve cache` process on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
        command.args(["serve", "cache", "--listen", "127.0.0.1:0", "--seed", "7"]).args(extra);
        Self::spawn(command)
    }

    /// A server allowed only `fds` open file descriptors (a shell's `ulimit -n`).
    fn start_with_fd_limit(fds: u32) -> Self {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            &format!("ulimit -n {fds} && exec \"$0\" serve cache --listen 127.0.0.1:0 --seed 7"),
            env!("CARGO_BIN_EXE_faultline"),
        ]);
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Self {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("faultline starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("a first line");
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the first line names the address: {line:?}"))
            .to_string();
        Self { child, addr }
    }

    fn port(&self) -> &str {
        self.addr.rsplit(':').next().expect("host:port")
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
        stream
    }

    fn redis(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr)).expect("a client").get_connection().expect("connected")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(tool: &PathBuf, args: &[&str], stdin: &str) -> (String, bool) {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tool starts");
    child.stdin.take().expect("piped stdin").write_all(stdin.as_bytes()).expect("stdin written");
    let out = child.wait_with_output().expect("the tool ends");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (text, out.status.success())
}

#[test]
fn redis_rs_reads_writes_pipelines_and_sees_errors() {
    let server = Server::start(&[]);
    let mut con = server.redis();
    let ok: String = redis::cmd("SET").arg("user:1").arg("ada").query(&mut con).expect("SET");
    assert_eq!(ok, "OK");
    let name: Option<String> = redis::cmd("GET").arg("user:1").query(&mut con).expect("GET");
    assert_eq!(name.as_deref(), Some("ada"));
    let missing: Option<String> = redis::cmd("GET").arg("nobody").query(&mut con).expect("GET");
    assert_eq!(missing, None);
    let (a, b, c): (i64, i64, i64) = redis::pipe()
        .cmd("INCR")
        .arg("hits")
        .cmd("INCRBY")
        .arg("hits")
        .arg(41)
        .cmd("DECR")
        .arg("hits")
        .query(&mut con)
        .expect("a pipeline");
    assert_eq!((a, b, c), (1, 42, 41));
    let _: () = redis::cmd("MSET").arg("a").arg("1").arg("b").arg("2").query(&mut con).expect("MSET");
    let values: Vec<Option<String>> = redis::cmd("MGET").arg("a").arg("b").arg("zz").query(&mut con).expect("MGET");
    assert_eq!(values, vec![Some("1".into()), Some("2".into()), None]);
    let set: i64 = redis::cmd("EXPIRE").arg("a").arg(100).query(&mut con).expect("EXPIRE");
    assert_eq!(set, 1);
    let ttl: i64 = redis::cmd("TTL").arg("a").query(&mut con).expect("TTL");
    assert!((99..=100).contains(&ttl), "TTL {ttl}");
    let err = redis::cmd("NOSUCH").arg("x").query::<String>(&mut con).expect_err("an unknown command fails");
    assert!(err.to_string().contains("unknown command"), "{err}");
    let err = redis::cmd("INCR").arg("user:1").query::<i64>(&mut con).expect_err("INCR on text fails");
    assert!(err.to_string().contains("not an integer"), "{err}");
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(dbsize, 4);
}

#[test]
fn redis_cli_runs_commands_and_reads_info_and_config() {
    let Some(cli) = util::peer("redis-cli") else { return };
    let server = Server::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let args = ["-h", "127.0.0.1", "-p", server.port()];
    let (out, ok) = run(&cli, &args, "SET greeting hello\nGET greeting\nINCR n\nPING\nDBSIZE\n");
    assert!(ok, "{out}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["OK", "hello", "1", "PONG", "2"]);
    let (out, ok) = run(&cli, &[&args[..], &["CONFIG", "GET", "maxmemory*"]].concat(), "");
    assert!(ok, "{out}");
    assert!(out.contains("maxmemory\n67108864") && out.contains("maxmemory-policy\nallkeys-lru"), "{out}");
    let (out, ok) = run(&cli, &[&args[..], &["INFO", "memory"]].concat(), "");
    assert!(ok && out.contains("used_memory:") && out.contains("maxmemory_policy:allkeys-lru"), "{out}");
    let (out, _) = run(&cli, &args, "BOGUS 1 2\n");
    assert!(out.contains("ERR unknown command 'BOGUS', with args beginning with: '1' '2'"), "{out}");
}

#[test]
fn redis_benchmark_completes_its_tests_unpipelined_and_pipelined() {
    let Some(bench) = util::peer("redis-benchmark") else { return };
    let server = Server::start(&[]);
    for pipeline in ["1", "16"] {
        let args = [
            "-h",
            "127.0.0.1",
            "-p",
            server.port(),
            "-t",
            "ping,set,get,incr,mset",
            "-n",
            "2000",
            "-c",
            "10",
            "-P",
            pipeline,
            "-q",
        ];
        let (out, ok) = run(&bench, &args, "");
        assert!(ok, "redis-benchmark -P {pipeline}: {out}");
        for test in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"] {
            // Progress lines end in a carriage return; the summary of a test is the line that
            // names it and its rate.
            let found = out
                .split(['\r', '\n'])
                .map(str::trim)
                .any(|l| l.starts_with(&format!("{test}: ")) && l.contains(" requests per second"));
            assert!(found, "no summary of {test} with -P {pipeline}: {out}");
        }
        assert!(!out.to_lowercase().contains("error"), "{out}");
    }
    let mut con = server.redis();
    let value: String = redis::cmd("GET").arg("key:__rand_int__").query(&mut con).expect("GET");
    assert_eq!(value.len(), 3, "redis-benchmark's 3-byte values were stored");
}

/// Sends `bytes` on a new connection and hangs up its sending side; the whole answer until
/// the server closes the connection.
fn exchange(server: &Server, bytes: &[u8]) -> String {
    let mut stream = server.connect();
    stream.write_all(bytes).expect("sent");
    stream.shutdown(std::net::Shutdown::Write).expect("half-closed");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn malformed_streams_get_protocol_errors_and_the_server_lives_on() {
    let server = Server::start(&[]);
    assert_eq!(exchange(&server, b"*1\r\n$2147483648\r\n"), "-ERR Protocol error: invalid bulk length\r\n");
    assert_eq!(exchange(&server, b"*zz\r\n"), "-ERR Protocol error: invalid multibulk length\r\n");
    assert_eq!(
        exchange(&server, b"PING\r\n*1\r\n:3\r\n"),
        "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n",
        "requests before the error are answered"
    );
    // One byte past the limit, and no more: the server has read it all when it answers, so
    // closing sends no reset that could overtake the answer.
    let garbage = vec![b'x'; 64 * 1024 + 1];
    assert_eq!(exchange(&server, &garbage), "-ERR Protocol error: too big inline request\r\n");
    // A truncated frame, then a hang-up: nothing to answer, and nothing breaks.
    drop(exchange(&server, b"*2\r\n$3\r\nGET\r\n$10\r\nabc"));
    let pong: String = redis::cmd("PING").query(&mut server.redis()).expect("the server still serves");
    assert_eq!(pong, "PONG");
}

#[test]
fn noeviction_refuses_writes_past_maxmemory_and_keeps_every_key() {
    let server = Server::start(&["--maxmemory", "1200kb"]);
    let mut con = server.redis();
    let value = "v".repeat(1000);
    let mut stored = 0;
    let refusal = loop {
        match redis::cmd("SET").arg(format!("k{stored}")).arg(&value).query::<String>(&mut con) {
            Ok(_) => stored += 1,
            Err(e) => break e.to_string(),
        }
        assert!(stored < 1000, "200 KB over the baseline cannot hold 1000 values of 1 KB");
    };
    assert!(
        refusal.contains("OOM") && refusal.contains("command not allowed when used memory > 'maxmemory'"),
        "{refusal}"
    );
    assert!(stored > 50, "only {stored} values stored in 200 KB over the baseline");
    let keys: i64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(keys, stored, "noeviction loses nothing");
    let first: Option<String> = redis::cmd("GET").arg("k0").query(&mut con).expect("reads still work");
    assert_eq!(first.as_deref(), Some(value.as_str()));
}

#[test]
fn allkeys_lru_stays_under_maxmemory_by_evicting() {
    let server = Server::start(&["--maxmemory", "1200kb", "--maxmemory-policy", "allkeys-lru"]);
    let mut con = server.redis();
    let value = "v".repeat(1000);
    for i in 0..1000 {
        let _: String = redis::cmd("SET").arg(format!("k{i}")).arg(&value).query(&mut con).expect("SET evicts instead");
    }
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con).expect("INFO");
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO");
    assert!(used <= 1200 * 1024, "used_memory {used} over the limit");
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut con).expect("INFO");
    assert!(!stats.contains("evicted_keys:0\r"), "keys were evicted: {stats}");
    let last: Option<String> = redis::cmd("GET").arg("k999").query(&mut con).expect("GET");
    assert!(last.is_some(), "the newest key survives");
}

#[test]
fn bad_options_exit_2_with_the_reason() {
    let out = util::faultline(&["serve", "cache", "--maxmemory-policy", "lru-please"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(util::stderr(&out).contains("is not one of noeviction"), "{}", util::stderr(&out));
    let out = util::faultline(&["serve", "cache", "--maxmemory", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(util::stderr(&out).contains("is not a size"), "{}", util::stderr(&out));
    let out = util::faultline(&["serve", "cache", "--listen", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn running_out_of_file_descriptors_does_not_stop_the_server() {
    // 32 descriptors: the process's own few, then room for about 25 clients. 60 connect; those
    // the server cannot accept wait in the backlog (or are refused) while it keeps serving,
    // and once the first ones close it serves a new client.
    let server = Server::start_with_fd_limit(32);
    let crowd: Vec<TcpStream> = (0..60).filter_map(|_| TcpStream::connect(&server.addr).ok()).collect();
    assert!(crowd.len() > 25, "the backlog takes the connections the server has no room for");
    let mut first = crowd.into_iter().next().expect("one connection");
    first.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    first.write_all(b"PING\r\n").expect("sent");
    let mut pong = [0u8; 7];
    first.read_exact(&mut pong).expect("the first connection is served");
    assert_eq!(&pong, b"+PONG\r\n");
    drop(first);
    // Every other connection of the crowd is dropped here too: their descriptors come back.
    let pong: String = redis::cmd("PING").query(&mut server.redis()).expect("the server still serves");
    assert_eq!(pong, "PONG");
}
