//! The engine's unit tests: each command's replies and exact error strings, arity, TTLs over
//! `now`, the active expiry cycle, INFO and CONFIG. Eviction, CL.THROTTLE, determinism and the
//! property tests are in `proptests.rs`. This file must not reach outside the engine.

use super::*;

/// Arguments from a space-separated line.
pub(super) fn args(line: &str) -> Vec<Bytes> {
    line.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
}

pub(super) fn at(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub(super) fn run(engine: &mut Engine, line: &str, now_ms: u64) -> Frame {
    engine.execute(&args(line), at(now_ms))
}

/// Runs `line` at `now_ms` and asserts the reply.
pub(super) fn check(engine: &mut Engine, line: &str, now_ms: u64, expected: Frame) {
    let reply = run(engine, line, now_ms);
    assert_eq!(reply, expected, "{line} at {now_ms} ms");
}

pub(super) fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

pub(super) fn err(s: &str) -> Frame {
    Frame::Error(s.to_string())
}

pub(super) fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

pub(super) fn ok() -> Frame {
    Frame::ok()
}

fn engine() -> Engine {
    Engine::new(EngineConfig::default(), 1)
}

const NOT_INT: &str = "ERR value is not an integer or out of range";

#[test]
fn ping_and_echo_answer_as_redis() {
    let e = &mut engine();
    check(e, "PING", 0, Frame::Simple("PONG".into()));
    check(e, "ping hello", 0, bulk("hello"));
    check(e, "PING a b", 0, err("ERR wrong number of arguments for 'ping' command"));
    check(e, "EcHo hi", 0, bulk("hi"));
    check(e, "ECHO", 0, err("ERR wrong number of arguments for 'echo' command"));
}

#[test]
fn unknown_commands_and_wrong_arity_use_redis_strings() {
    let e = &mut engine();
    check(e, "FOO a b", 0, err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "));
    check(e, "nope", 0, err("ERR unknown command 'nope', with args beginning with: "));
    check(
        e,
        "AVERYLONGCOMMANDNAMEINDEED x",
        0,
        err("ERR unknown command 'AVERYLONGCOMMANDNAMEINDEED', with args beginning with: 'x' "),
    );
    check(e, "GET", 0, err("ERR wrong number of arguments for 'get' command"));
    check(e, "get a b", 0, err("ERR wrong number of arguments for 'get' command"));
    check(e, "SET k", 0, err("ERR wrong number of arguments for 'set' command"));
    check(e, "DBSIZE x", 0, err("ERR wrong number of arguments for 'dbsize' command"));
    check(e, "CONFIG GET", 0, err("ERR wrong number of arguments for 'config|get' command"));
    // Only CONFIG ran: a subcommand's arity is checked by the command itself.
    assert_eq!(e.stats().commands, 1, "rejected commands are not processed");
    let long = "a".repeat(200);
    let reply = run(e, &format!("X {long} {long}"), 0);
    let Frame::Error(text) = reply else { panic!("an error") };
    let listed = text.split("with args beginning with: ").nth(1).expect("the list");
    assert_eq!(listed, format!("'{}' ", "a".repeat(128)), "arguments cut at 128 bytes");
    assert_eq!(e.execute(&[], at(0)), err("ERR empty command"));
}

#[test]
fn get_and_set_count_hits_and_misses() {
    let e = &mut engine();
    check(e, "GET k", 0, Frame::Null);
    check(e, "SET k v", 0, ok());
    check(e, "get k", 0, bulk("v"));
    check(e, "SET k w", 0, ok());
    check(e, "GET k", 0, bulk("w"));
    let stats = e.stats();
    assert_eq!((stats.hits, stats.misses, stats.keys), (2, 1, 1));
    assert_eq!(stats.commands, 5);
}

#[test]
fn set_options_follow_redis() {
    let e = &mut engine();
    check(e, "SET k v NX", 0, ok());
    check(e, "SET k w NX", 0, Frame::Null);
    check(e, "SET j w XX", 0, Frame::Null);
    check(e, "SET k w XX", 0, ok());
    check(e, "SET k x GET", 0, bulk("w"));
    check(e, "SET n x GET", 0, Frame::Null);
    check(e, "SET k y NX GET", 0, bulk("x"));
    check(e, "GET k", 0, bulk("x"));
    check(e, "SET t v EX 10", 1_000, ok());
    check(e, "PTTL t", 1_000, int(10_000));
    check(e, "SET t v2 KEEPTTL", 2_000, ok());
    check(e, "PTTL t", 2_000, int(9_000));
    check(e, "SET t v3", 2_000, ok());
    check(e, "TTL t", 2_000, int(-1));
    check(e, "SET p v PX 1500", 0, ok());
    check(e, "PTTL p", 0, int(1_500));
    check(e, "SET a v EXAT 100", 0, ok());
    check(e, "PTTL a", 40_000, int(60_000));
    check(e, "SET b v PXAT 5000", 0, ok());
    check(e, "PTTL b", 1_000, int(4_000));
    check(e, "SET c v PXAT 5000", 6_000, ok());
    check(e, "EXISTS c", 6_000, int(0));
}

#[test]
fn set_rejects_bad_options() {
    let e = &mut engine();
    let syntax = err("ERR syntax error");
    for line in [
        "SET k v NX XX",
        "SET k v XX NX",
        "SET k v EX",
        "SET k v EX 10 PX 10",
        "SET k v EX 10 KEEPTTL",
        "SET k v KEEPTTL EX 10",
        "SET k v FOO",
    ] {
        check(e, line, 0, syntax.clone());
    }
    check(e, "SET k v EX 0", 0, err("ERR invalid expire time in 'set' command"));
    check(e, "SET k v PX -5", 0, err("ERR invalid expire time in 'set' command"));
    check(e, "SET k v EX 9223372036854775807", 0, err("ERR invalid expire time in 'set' command"));
    check(e, "SET k v EX ten", 0, err(NOT_INT));
    check(e, "SET k v EX 1.5", 0, err(NOT_INT));
    check(e, "DBSIZE", 0, int(0));
}

#[test]
fn incr_family_counts_and_refuses_as_redis() {
    let e = &mut engine();
    check(e, "INCR n", 0, int(1));
    check(e, "INCRBY n 10", 0, int(11));
    check(e, "DECR n", 0, int(10));
    check(e, "DECRBY n 30", 0, int(-20));
    check(e, "GET n", 0, bulk("-20"));
    check(e, "SET s abc", 0, ok());
    check(e, "INCR s", 0, err(NOT_INT));
    for bad in [" 1", "01", "+1", "1 ", "", "-0", "99999999999999999999"] {
        e.execute(&[Bytes::from("SET"), Bytes::from("b"), Bytes::from(bad)], at(0));
        check(e, "INCR b", 0, err(NOT_INT));
    }
    check(e, "INCRBY n x", 0, err(NOT_INT));
    check(e, "SET m 9223372036854775807", 0, ok());
    check(e, "INCR m", 0, err("ERR increment or decrement would overflow"));
    check(e, "SET m -9223372036854775808", 0, ok());
    check(e, "DECR m", 0, err("ERR increment or decrement would overflow"));
    check(e, "DECRBY z -9223372036854775808", 0, err("ERR decrement would overflow"));
    check(e, "INCR m x", 0, err("ERR wrong number of arguments for 'incr' command"));
    check(e, "SET t 5 EX 100", 0, ok());
    check(e, "INCR t", 1_000, int(6));
    check(e, "TTL t", 1_000, int(99));
}

#[test]
fn mget_mset_del_exists() {
    let e = &mut engine();
    check(e, "MSET a 1 b 2", 0, ok());
    check(e, "MSET a 1 b", 0, err("ERR wrong number of arguments for 'mset' command"));
    check(e, "MSET a", 0, err("ERR wrong number of arguments for 'mset' command"));
    check(e, "MGET a x b", 0, Frame::Array(vec![bulk("1"), Frame::Null, bulk("2")]));
    assert_eq!((e.stats().hits, e.stats().misses), (2, 1));
    check(e, "EXISTS a a x", 0, int(2));
    check(e, "DEL a x", 0, int(1));
    check(e, "UNLINK b", 0, int(1));
    check(e, "DEL a", 0, int(0));
    check(e, "DBSIZE", 0, int(0));
    check(e, "SET e v EX 1", 0, ok());
    check(e, "MSET e w", 0, ok());
    check(e, "TTL e", 0, int(-1));
}

#[test]
fn ttls_follow_now_and_expire_lazily() {
    let e = &mut engine();
    check(e, "TTL k", 0, int(-2));
    check(e, "PTTL k", 0, int(-2));
    check(e, "SET k v", 0, ok());
    check(e, "TTL k", 0, int(-1));
    check(e, "EXPIRE k 10", 1_000, int(1));
    check(e, "TTL k", 1_000, int(10));
    check(e, "TTL k", 5_400, int(6));
    check(e, "TTL k", 5_600, int(5));
    check(e, "PTTL k", 10_999, int(1));
    check(e, "GET k", 11_000, bulk("v"));
    assert_eq!(e.stats().expired, 0);
    check(e, "GET k", 11_001, Frame::Null);
    assert_eq!(e.stats().expired, 1);
    assert_eq!(e.stats().keys, 0, "the stale key is deleted on access");
    check(e, "SET p v", 0, ok());
    check(e, "PEXPIRE p 250", 0, int(1));
    check(e, "PTTL p", 100, int(150));
    check(e, "EXPIRE p -1", 100, int(1));
    check(e, "EXISTS p", 100, int(0));
    check(e, "EXPIRE missing 10", 0, int(0));
    check(e, "EXPIRE k ten", 0, err(NOT_INT));
    check(e, "EXPIRE k 9223372036854775807", 0, err("ERR invalid expire time in 'expire' command"));
}

#[test]
fn expire_flags_nx_xx_gt_lt() {
    let e = &mut engine();
    check(e, "SET k v", 0, ok());
    check(e, "EXPIRE k 100 XX", 0, int(0));
    check(e, "EXPIRE k 100 GT", 0, int(0));
    check(e, "EXPIRE k 100 LT", 0, int(1));
    check(e, "EXPIRE k 50 NX", 0, int(0));
    check(e, "EXPIRE k 50 GT", 0, int(0));
    check(e, "EXPIRE k 200 GT", 0, int(1));
    check(e, "EXPIRE k 300 LT", 0, int(0));
    check(e, "EXPIRE k 20 xx lt", 0, int(1));
    check(e, "TTL k", 0, int(20));
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    check(e, "EXPIRE k 10 NX XX", 0, err(nx));
    check(e, "EXPIRE k 10 GT LT", 0, err("ERR GT and LT options at the same time are not compatible"));
    check(e, "EXPIRE k 10 FOO", 0, err("ERR Unsupported option FOO"));
}

#[test]
fn active_expiry_collects_stale_keys_in_bounded_calls() {
    let e = &mut engine();
    for i in 0..1_000 {
        check(e, &format!("SET s{i} v PX 10"), 0, ok());
    }
    for i in 0..100 {
        check(e, &format!("SET live{i} v EX 100"), 0, ok());
        check(e, &format!("SET plain{i} v"), 0, ok());
    }
    e.active_expire(at(5));
    assert_eq!(e.stats().expired, 0, "nothing is stale yet");
    e.active_expire(at(20));
    let first = e.stats().expired;
    let bound = (ACTIVE_EXPIRE_MAX_ROUNDS * ACTIVE_EXPIRE_KEYS_PER_ROUND) as u64;
    assert!(first > 0 && first <= bound, "one call removed {first}");
    for _ in 0..200 {
        e.active_expire(at(20));
    }
    let stats = e.stats();
    // It stops once a round finds 10% or fewer stale: a few may wait for a lazy access.
    assert!(stats.expired >= 900, "collected {}", stats.expired);
    assert_eq!(stats.keys, 1_200 - stats.expired);
    for i in 0..100 {
        check(e, &format!("EXISTS live{i} plain{i}"), 20, int(2));
    }
}

#[test]
fn flush_select_quit_client_command() {
    let e = &mut engine();
    check(e, "MSET a 1 b 2", 0, ok());
    check(e, "DBSIZE", 0, int(2));
    check(e, "FLUSHALL ASYNC", 0, ok());
    check(e, "DBSIZE", 0, int(0));
    assert_eq!(e.stats().used_memory, BASE_BYTES);
    check(e, "FLUSHDB sync", 0, ok());
    check(e, "FLUSHALL now", 0, err("ERR syntax error"));
    check(e, "SELECT 0", 0, ok());
    check(e, "SELECT 1", 0, err("ERR DB index is out of range"));
    check(e, "SELECT x", 0, err(NOT_INT));
    check(e, "QUIT", 0, ok());
    check(e, "CLIENT SETINFO LIB-NAME redis-rs", 0, ok());
    check(e, "CLIENT SETINFO lib-ver 0.27", 0, ok());
    check(e, "CLIENT SETINFO color blue", 0, err("ERR Unrecognized option 'color'"));
    check(e, "CLIENT SETINFO lib-ver", 0, err("ERR wrong number of arguments for 'client|setinfo' command"));
    check(e, "CLIENT SETNAME me", 0, ok());
    check(e, "CLIENT GETNAME", 0, Frame::Null);
    check(e, "CLIENT KILL x", 0, err("ERR unknown subcommand 'KILL'. Try CLIENT HELP."));
    check(e, "COMMAND DOCS", 0, Frame::Array(vec![]));
    check(e, "COMMAND", 0, Frame::Array(vec![]));
    check(e, "COMMAND COUNT", 0, int(admin::COMMAND_NAMES.len() as i64));
    check(e, "COMMAND FOO", 0, err("ERR unknown subcommand 'FOO'. Try COMMAND HELP."));
}

#[test]
fn every_listed_command_is_dispatched() {
    for name in admin::COMMAND_NAMES {
        let spec = spec(name.to_ascii_uppercase().as_bytes()).expect(name);
        assert_eq!(spec.name, name);
    }
}

#[test]
fn info_reports_sections_in_redis_format() {
    let e = &mut engine();
    check(e, "SET k v EX 100", 0, ok());
    check(e, "SET j v", 0, ok());
    check(e, "GET k", 0, bulk("v"));
    check(e, "GET x", 0, Frame::Null);
    let Frame::Bulk(text) = run(e, "INFO", 0) else { panic!("a bulk") };
    let text = String::from_utf8(text).expect("utf-8");
    let used = e.stats().used_memory;
    assert_eq!(used, BASE_BYTES + 2 * ENTRY_OVERHEAD_BYTES + 4);
    for line in [
        "# Server\r\nredis_version:",
        "\r\n\r\n# Memory\r\n",
        &format!("\r\nused_memory:{used}\r\n"),
        "\r\nmaxmemory:0\r\n",
        "\r\nmaxmemory_policy:noeviction\r\n",
        "\r\nkeyspace_hits:1\r\nkeyspace_misses:1\r\n",
        "\r\nevicted_keys:0\r\n",
        "\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text:?}");
    }
    assert!(text.starts_with("# Server\r\n"));
    let Frame::Bulk(memory) = run(e, "INFO MEMORY", 0) else { panic!("a bulk") };
    let memory = String::from_utf8(memory).expect("utf-8");
    assert!(memory.starts_with("# Memory\r\nused_memory:"));
    assert!(!memory.contains("# Stats"));
    check(e, "INFO nosuch", 0, bulk(""));
    check(e, "FLUSHALL", 0, ok());
    let Frame::Bulk(empty) = run(e, "INFO keyspace", 0) else { panic!("a bulk") };
    assert_eq!(empty, b"# Keyspace\r\n");
}

#[test]
fn config_get_and_set() {
    let e = &mut engine();
    check(e, "CONFIG GET save", 0, Frame::Array(vec![bulk("save"), bulk("")]));
    check(e, "config get appendonly", 0, Frame::Array(vec![bulk("appendonly"), bulk("no")]));
    check(e, "CONFIG GET maxmemory", 0, Frame::Array(vec![bulk("maxmemory"), bulk("0")]));
    let Frame::Array(all) = run(e, "CONFIG GET *", 0) else { panic!("an array") };
    assert_eq!(all.len(), 18);
    let Frame::Array(max) = run(e, "CONFIG GET maxmemory*", 0) else { panic!("an array") };
    assert_eq!(max.len(), 6);
    check(e, "CONFIG SET maxmemory 100mb", 0, ok());
    assert_eq!(e.config().maxmemory, 100 << 20);
    check(e, "CONFIG SET maxmemory 2k maxmemory-policy ALLKEYS-LFU", 0, ok());
    assert_eq!(e.config().maxmemory, 2_000);
    assert_eq!(e.config().policy, Policy::AllKeysLfu);
    check(e, "CONFIG GET maxmemory-policy", 0, Frame::Array(vec![bulk("maxmemory-policy"), bulk("allkeys-lfu")]));
    check(e, "CONFIG SET maxmemory-samples 10", 0, ok());
    assert_eq!(e.config().samples, 10);
    check(
        e,
        "CONFIG SET maxmemory lots",
        0,
        err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
    );
    check(
        e,
        "CONFIG SET maxmemory-policy lru",
        0,
        err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
        ),
    );
    check(
        e,
        "CONFIG SET maxmemory 5 maxmemory-samples 0",
        0,
        err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 2147483647 inclusive",
        ),
    );
    assert_eq!(e.config().maxmemory, 2_000, "a failed CONFIG SET changes nothing");
    check(e, "CONFIG SET foo 1", 0, err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'"));
    check(e, "CONFIG SET maxmemory", 0, err("ERR wrong number of arguments for 'config|set' command"));
    check(e, "CONFIG FOO", 0, err("ERR unknown subcommand 'FOO'. Try CONFIG HELP."));
    check(e, "CONFIG RESETSTAT", 0, ok());
    assert_eq!(e.stats().commands, 1, "only the RESETSTAT itself is counted since");
}
