//! The engine's behaviour tests: eviction by policy under a memory limit, CL.THROTTLE against
//! redis-cell's documented answers, determinism, and property tests over random command
//! sequences (byte bookkeeping, the limit after writes, no stale reads, no data loss under
//! noeviction, the GCRA bound). This file must not reach outside the engine.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::tests::{at, bulk, check, err, int, ok, run};
use super::*;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Bytes one entry with a 5-byte key and a 32-byte value counts for.
const ENTRY: u64 = ENTRY_OVERHEAD_BYTES + 5 + 32;

fn limited(entries: u64, policy: Policy, samples: usize, seed: u64) -> Engine {
    let config = EngineConfig { maxmemory: BASE_BYTES + entries * ENTRY, policy, samples };
    Engine::new(config, seed)
}

fn value() -> String {
    "x".repeat(32)
}

fn present(e: &Engine, key: &str) -> bool {
    e.keyspace.index_of(key.as_bytes()).is_some()
}

/// Fills 200 keys, keeps the even ones recently read, adds 80 new keys; returns the share of
/// evictions that hit the cold (odd) half.
fn cold_share(policy: Policy, seed: u64) -> f64 {
    let e = &mut limited(200, policy, 10, seed);
    for i in 0..200 {
        check(e, &format!("SET k{i:04} {}", value()), i, ok());
    }
    assert_eq!(e.stats().evicted, 0);
    for round in 0..3 {
        for i in (0..200).step_by(2) {
            run(e, &format!("GET k{i:04}"), 1_000 + round * 100 + i);
        }
    }
    for i in 0..80 {
        check(e, &format!("SET n{i:04} {}", value()), 2_000 + i, ok());
        assert!(e.stats().used_memory <= e.config().maxmemory);
    }
    assert_eq!(e.stats().evicted, 80);
    let cold = (1..200).step_by(2).filter(|i| !present(e, &format!("k{i:04}"))).count();
    cold as f64 / 80.0
}

#[test]
fn allkeys_lru_with_ten_samples_evicts_the_idle_keys() {
    for seed in 1..=3 {
        let share = cold_share(Policy::AllKeysLru, seed);
        assert!(share >= 0.9, "seed {seed}: only {share} of evictions were cold");
    }
    // The measure tells policies apart: random eviction hits the cold half far less often.
    let random = cold_share(Policy::AllKeysRandom, 1);
    assert!(random < 0.7, "random eviction: {random}");
}

#[test]
fn noeviction_refuses_writes_and_loses_nothing() {
    let e = &mut limited(10, Policy::NoEviction, 5, 1);
    for i in 0..11 {
        check(e, &format!("SET k{i:04} {}", value()), 0, ok());
    }
    assert!(e.stats().used_memory > e.config().maxmemory, "the write that crosses passes");
    check(e, &format!("SET k0011 {}", value()), 0, err(OOM));
    check(e, "SET k0000 small", 0, err(OOM));
    check(e, "INCR counter", 0, err(OOM));
    check(e, "MSET a 1", 0, err(OOM));
    check(e, "CL.THROTTLE t 1 1 1", 0, err(OOM));
    for i in 0..11 {
        check(e, &format!("GET k{i:04}"), 0, bulk(&value()));
    }
    assert_eq!(e.stats().evicted, 0);
    check(e, "EXPIRE k0000 100", 0, int(1));
    check(e, "DEL k0000 k0001", 0, int(2));
    check(e, "SET k0000 back", 0, ok());
    check(e, "DBSIZE", 0, int(10));
}

#[test]
fn volatile_lru_never_evicts_a_key_without_ttl() {
    let e = &mut limited(20, Policy::VolatileLru, 5, 7);
    for i in 0..10 {
        check(e, &format!("SET p{i:04} {}", value()), i, ok());
        check(e, &format!("SET v{i:04} {} EX 1000", value()), i, ok());
    }
    for i in 0..11 {
        check(e, &format!("SET n{i:04} {}", value()), 100 + i, ok());
    }
    assert_eq!(e.stats().evicted, 10);
    assert_eq!(e.stats().expires, 0);
    check(e, &format!("SET n0011 {}", value()), 200, err(OOM));
    for i in 0..10 {
        assert!(present(e, &format!("p{i:04}")), "p{i} kept");
    }
    for i in 0..11 {
        assert!(present(e, &format!("n{i:04}")), "n{i} kept");
    }
}

/// Reads keys 0-19 fifty times early, keys 20-99 once later, then adds 50 keys; returns how
/// many of the 20 frequently read keys are left.
fn frequent_kept(policy: Policy) -> usize {
    let e = &mut limited(100, policy, 5, 3);
    for i in 0..100 {
        check(e, &format!("SET k{i:04} {}", value()), 0, ok());
    }
    for _ in 0..50 {
        for i in 0..20 {
            run(e, &format!("GET k{i:04}"), 1_000 + i);
        }
    }
    for i in 20..100 {
        run(e, &format!("GET k{i:04}"), 1_500 + i);
    }
    for i in 0..50 {
        check(e, &format!("SET o{i:04} {}", value()), 2_000 + i, ok());
    }
    assert_eq!(e.stats().evicted, 50);
    (0..20).filter(|i| present(e, &format!("k{i:04}"))).count()
}

#[test]
fn lfu_keeps_frequently_read_keys_over_one_off_keys() {
    assert_eq!(frequent_kept(Policy::AllKeysLfu), 20);
    // LRU, on the same workload, drops them: they were read longest ago.
    assert!(frequent_kept(Policy::AllKeysLru) < 10);
}

#[test]
fn volatile_ttl_evicts_the_keys_closest_to_expiry() {
    let e = &mut limited(20, Policy::VolatileTtl, 10, 5);
    for i in 0..10 {
        check(e, &format!("SET p{i:04} {}", value()), 0, ok());
        check(e, &format!("SET v{i:04} {} EX {}", value(), 100 * (i + 1)), 0, ok());
    }
    for i in 0..4 {
        check(e, &format!("SET n{i:04} {}", value()), 0, ok());
    }
    assert_eq!(e.stats().evicted, 4);
    let gone: Vec<usize> = (0..10).filter(|i| !present(e, &format!("v{i:04}"))).collect();
    assert!(gone.iter().all(|&i| i < 6), "evicted {gone:?}");
    assert!((0..10).all(|i| present(e, &format!("p{i:04}"))));
}

#[test]
fn set_maxmemory_applies_at_the_next_write() {
    let e = &mut limited(0, Policy::AllKeysRandom, 5, 2);
    e.set_maxmemory(0);
    for i in 0..50 {
        check(e, &format!("SET k{i:04} {}", value()), 0, ok());
    }
    e.set_maxmemory(BASE_BYTES + 20 * ENTRY);
    assert_eq!(e.stats().keys, 50, "nothing evicted before a write");
    check(e, "GET k0000", 0, bulk(&value()));
    check(e, &format!("SET k9999 {}", value()), 0, ok());
    assert!(e.stats().used_memory <= BASE_BYTES + 20 * ENTRY);
    assert_eq!(e.stats().keys, 20);
    // 30 before the write to get within the limit, one after it to stay there.
    assert_eq!(e.stats().evicted, 31);
}

fn throttle(e: &mut Engine, line: &str, now_ms: u64) -> [i64; 5] {
    match run(e, line, now_ms) {
        Frame::Array(items) => {
            let ints: Vec<i64> = items
                .into_iter()
                .map(|f| match f {
                    Frame::Integer(n) => n,
                    other => panic!("{other:?}"),
                })
                .collect();
            ints.try_into().expect("five integers")
        }
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn throttle_matches_redis_cells_readme_example() {
    let e = &mut Engine::new(EngineConfig::default(), 1);
    let reply = throttle(e, "CL.THROTTLE user123 15 30 60 1", 50_000);
    assert_eq!(reply, [0, 16, 15, -1, 2]);
    let reply = throttle(e, "cl.throttle user123 15 30 60", 50_000);
    assert_eq!(reply, [0, 16, 14, -1, 4]);
}

#[test]
fn throttle_matches_redis_cells_rate_limit_table() {
    // redis-cell's own table: burst 4 (limit 5), one a second; (ms, quantity, expected).
    let cases: [(u64, i64, [i64; 5]); 15] = [
        (0, 6, [1, 5, 5, -1, 0]),
        (0, 1, [0, 5, 4, -1, 1]),
        (0, 1, [0, 5, 3, -1, 2]),
        (0, 1, [0, 5, 2, -1, 3]),
        (0, 1, [0, 5, 1, -1, 4]),
        (0, 1, [0, 5, 0, -1, 5]),
        (0, 1, [1, 5, 0, 1, 5]),
        (3_000, 1, [0, 5, 2, -1, 3]),
        (3_100, 1, [0, 5, 1, -1, 4]),
        (4_000, 1, [0, 5, 1, -1, 4]),
        (8_000, 1, [0, 5, 4, -1, 1]),
        (9_500, 1, [0, 5, 4, -1, 1]),
        (9_500, 0, [0, 5, 4, -1, 1]),
        (9_500, 2, [0, 5, 2, -1, 3]),
        (9_500, 5, [1, 5, 2, 3, 3]),
    ];
    let e = &mut Engine::new(EngineConfig::default(), 1);
    for (n, (ms, quantity, expected)) in cases.into_iter().enumerate() {
        let reply = throttle(e, &format!("CL.THROTTLE foo 4 1 1 {quantity}"), 10_000 + ms);
        assert_eq!(reply, expected, "case {n}");
    }
}

#[test]
fn throttle_state_is_a_key() {
    let e = &mut Engine::new(EngineConfig::default(), 1);
    throttle(e, "CL.THROTTLE t 4 1 1", 10_000);
    let Frame::Bulk(tat) = run(e, "GET t", 10_000) else { panic!("a value") };
    assert_eq!(tat, b"11000000000", "the TAT in ns");
    check(e, "PTTL t", 10_000, int(1_000));
    assert_eq!(e.stats().used_memory, BASE_BYTES + ENTRY_OVERHEAD_BYTES + 1 + 11);
    check(e, "FLUSHALL", 10_000, ok());
    assert_eq!(throttle(e, "CL.THROTTLE t 4 1 1", 10_000), [0, 5, 4, -1, 1]);
    check(e, "SET s abc", 0, ok());
    check(e, "CL.THROTTLE s 1 1 1", 0, err("Cell error: value is not an integer or out of range"));
    let usage = "Cell error: Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]";
    check(e, "CL.THROTTLE t 1 1", 0, err(usage));
    check(e, "CL.THROTTLE t 1 0 1", 0, err("Cell error: Zero rates are not supported"));
    check(e, "CL.THROTTLE t x 1 1", 0, err("Cell error: Couldn't parse as integer: x"));
    check(e, "CL.THROTTLE t -1 1 1", 0, err("Cell error: value must not be negative: -1"));
}

/// A random workload for the determinism test.
fn workload(seed: u64, policy: Policy) -> (Vec<Frame>, Stats) {
    let e = &mut limited(30, policy, 5, seed);
    let mut replies = Vec::new();
    for i in 0..400u64 {
        let key = (i * 7919) % 53;
        let line = match i % 5 {
            0 | 1 => format!("SET k{key:04} {} PX {}", value(), 100 + i),
            2 => format!("GET k{key:04}"),
            3 => format!("INCR c{key:04}"),
            _ => format!("CL.THROTTLE k{key:04} 3 10 1"),
        };
        replies.push(run(e, &line, i * 3));
        if i % 50 == 0 {
            e.active_expire(at(i * 3));
        }
    }
    (replies, e.stats())
}

#[test]
fn same_seed_and_commands_give_the_same_replies() {
    for policy in [Policy::AllKeysRandom, Policy::AllKeysLfu, Policy::VolatileLru] {
        let first = workload(11, policy);
        assert_eq!(first, workload(11, policy), "{policy:?}");
        assert!(first.1.evicted > 0, "{policy:?} evicted under the workload");
    }
    let (a, _) = workload(11, Policy::AllKeysRandom);
    let (b, _) = workload(12, Policy::AllKeysRandom);
    assert_ne!(a, b, "the seed drives random eviction");
}

/// One step of the random command sequence.
#[derive(Debug, Clone)]
enum Op {
    Set(u8, String),
    SetPx(u8, String, u16),
    Get(u8),
    Del(u8),
    Incr(u8, i16),
    Mset(u8, u8, String),
    Pexpire(u8, i16),
    Advance(u16),
    ActiveExpire,
    SetMax(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop_oneof![(1..200usize).prop_map(|n| "v".repeat(n)), (1..1_000i64).prop_map(|n| n.to_string()),];
    prop_oneof![
        3 => (any::<u8>(), value.clone()).prop_map(|(k, v)| Op::Set(k, v)),
        2 => (any::<u8>(), value.clone(), 1..3_000u16).prop_map(|(k, v, t)| Op::SetPx(k, v, t)),
        4 => any::<u8>().prop_map(Op::Get),
        1 => any::<u8>().prop_map(Op::Del),
        2 => (any::<u8>(), any::<i16>()).prop_map(|(k, by)| Op::Incr(k, by)),
        1 => (any::<u8>(), any::<u8>(), value).prop_map(|(a, b, v)| Op::Mset(a, b, v)),
        1 => (any::<u8>(), -100..3_000i16).prop_map(|(k, t)| Op::Pexpire(k, t)),
        2 => (0..1_500u16).prop_map(Op::Advance),
        1 => Just(Op::ActiveExpire),
        1 => (5..60u8).prop_map(Op::SetMax),
    ]
}

fn key(k: u8) -> String {
    format!("key{:02}", k % 40)
}

/// The keys a client wrote and did not delete: (value, expire ms or 0).
type Model = BTreeMap<String, (Vec<u8>, u64)>;

fn live(model: &Model, key: &str, now_ms: u64) -> Option<(Vec<u8>, u64)> {
    model.get(key).filter(|(_, exp)| *exp == 0 || now_ms <= *exp).cloned()
}

/// Runs one op against the engine and the model; checks what the reply allows.
fn step(e: &mut Engine, model: &mut Model, now: &mut u64, op: &Op) -> bool {
    let strict = e.config().policy == Policy::NoEviction;
    let reply = match op {
        Op::Advance(ms) => {
            *now += u64::from(*ms);
            return false;
        }
        Op::ActiveExpire => {
            e.active_expire(at(*now));
            return false;
        }
        Op::SetMax(n) => {
            e.set_maxmemory(BASE_BYTES + u64::from(*n) * 300);
            return false;
        }
        Op::Set(k, v) => run(e, &format!("SET {} {v}", key(*k)), *now),
        Op::SetPx(k, v, t) => run(e, &format!("SET {} {v} PX {t}", key(*k)), *now),
        Op::Get(k) => run(e, &format!("GET {}", key(*k)), *now),
        Op::Del(k) => run(e, &format!("DEL {}", key(*k)), *now),
        Op::Incr(k, by) => run(e, &format!("INCRBY {} {by}", key(*k)), *now),
        Op::Mset(a, b, v) => run(e, &format!("MSET {} {v} {} {v}", key(*a), key(*b)), *now),
        Op::Pexpire(k, t) => run(e, &format!("PEXPIRE {} {t}", key(*k)), *now),
    };
    let is_oom = reply == Frame::Error(OOM.into());
    match (op, &reply) {
        (Op::Set(k, v), Frame::Simple(_)) => {
            model.insert(key(*k), (v.clone().into_bytes(), 0));
        }
        (Op::SetPx(k, v, t), Frame::Simple(_)) => {
            model.insert(key(*k), (v.clone().into_bytes(), *now + u64::from(*t)));
        }
        (Op::Mset(a, b, v), Frame::Simple(_)) => {
            model.insert(key(*a), (v.clone().into_bytes(), 0));
            model.insert(key(*b), (v.clone().into_bytes(), 0));
        }
        (Op::Get(k), Frame::Bulk(got)) => {
            let want = live(model, &key(*k), *now);
            assert_eq!(Some(got), want.as_ref().map(|(v, _)| v), "GET {}", key(*k));
        }
        (Op::Get(k), Frame::Null) if strict => {
            assert!(live(model, &key(*k), *now).is_none(), "lost {}", key(*k));
        }
        (Op::Del(k), Frame::Integer(n)) => {
            let had = live(model, &key(*k), *now).is_some();
            assert!(*n == 0 || had, "deleted a key never written");
            assert!(!strict || (*n == 1) == had);
            model.remove(&key(*k));
        }
        (Op::Incr(k, by), Frame::Integer(n)) => {
            let before = live(model, &key(*k), *now);
            let prior = before.as_ref().and_then(|(v, _)| parse_i64(v));
            // The TTL it kept (evicted right after the write: no longer matters).
            let index = e.keyspace.index_of(key(*k).as_bytes());
            let exp = index.map_or(0, |index| e.keyspace.at(index).1.expire_ms);
            if strict {
                assert_eq!(prior.unwrap_or(0) + i64::from(*by), *n);
                assert_eq!(before.map_or(0, |(_, exp)| exp), exp, "INCRBY keeps the TTL");
            }
            model.insert(key(*k), (n.to_string().into_bytes(), exp));
        }
        (Op::Pexpire(k, t), Frame::Integer(1)) => {
            let when = i64::try_from(*now).expect("small") + i64::from(*t);
            match u64::try_from(when) {
                Ok(when) if when > *now => model.get_mut(&key(*k)).expect("written").1 = when,
                _ => drop(model.remove(&key(*k))),
            }
        }
        (Op::Pexpire(k, _), Frame::Integer(0)) if strict => {
            assert!(live(model, &key(*k), *now).is_none(), "lost {}", key(*k));
        }
        _ => {}
    }
    matches!(op, Op::Set(..) | Op::SetPx(..) | Op::Mset(..) | Op::Incr(..))
        && !matches!(reply, Frame::Error(_))
        && !is_oom
}

/// Any argument a client could send: command and option words, extreme numbers, raw bytes.
fn token() -> impl Strategy<Value = Bytes> {
    let words: Vec<&'static str> = admin::COMMAND_NAMES
        .iter()
        .copied()
        .chain([
            "EX",
            "PX",
            "EXAT",
            "PXAT",
            "NX",
            "XX",
            "GT",
            "LT",
            "GET",
            "KEEPTTL",
            "SET",
            "*",
            "maxmemory",
            "maxmemory-policy",
            "allkeys-lru",
            "1kb",
            "0",
            "-1",
            "k",
            "9223372036854775807",
            "-9223372036854775808",
            "170141183460469231731687303715884105727",
        ])
        .collect();
    prop_oneof![
        3 => prop::sample::select(words).prop_map(|w| Bytes::from_static(w.as_bytes())),
        1 => any::<i64>().prop_map(|n| Bytes::from(n.to_string())),
        1 => prop::collection::vec(any::<u8>(), 0..20).prop_map(Bytes::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_command_line_panics(
        lines in prop::collection::vec(prop::collection::vec(token(), 0..7), 1..40),
        steps in prop::collection::vec(0..u64::MAX / 4, 1..40),
        policy_index in 0..8usize,
    ) {
        let policy = evict::ALL_POLICIES[policy_index];
        let config = EngineConfig { maxmemory: BASE_BYTES + 2_000, policy, samples: 5 };
        let e = &mut Engine::new(config, 9);
        for (line, now_ms) in lines.iter().zip(steps.iter().cycle()) {
            e.execute(line, at(*now_ms));
            let (used, _) = e.keyspace.recount();
            prop_assert_eq!(e.stats().used_memory, used);
        }
        e.active_expire(at(u64::MAX / 4));
    }

    #[test]
    fn bookkeeping_limit_and_ttls_hold_over_random_commands(
        ops in prop::collection::vec(op(), 1..300),
        policy_index in 0..8usize,
        seed in any::<u64>(),
    ) {
        let policy = evict::ALL_POLICIES[policy_index];
        let config = EngineConfig { maxmemory: BASE_BYTES + 20 * 300, policy, samples: 5 };
        let e = &mut Engine::new(config, seed);
        let mut model = Model::new();
        let mut now = 1_000u64;
        for op in &ops {
            let wrote = step(e, &mut model, &mut now, op);
            let stats = e.stats();
            let (used, volatile) = e.keyspace.recount();
            prop_assert_eq!(stats.used_memory, used, "after {:?}", op);
            prop_assert_eq!(stats.expires, volatile as u64);
            let allkeys = matches!(
                policy,
                Policy::AllKeysLru | Policy::AllKeysLfu | Policy::AllKeysRandom
            );
            if wrote && allkeys {
                prop_assert!(stats.used_memory <= stats.maxmemory, "over after {:?}", op);
            }
            if policy == Policy::NoEviction {
                prop_assert_eq!(stats.evicted, 0);
            }
        }
    }

    #[test]
    fn throttle_admits_no_more_than_burst_plus_rate(
        burst in 0..6i64,
        count in 1..10i64,
        period in 1..5i64,
        gaps in prop::collection::vec(0..1_500u64, 1..200),
    ) {
        let e = &mut Engine::new(EngineConfig::default(), 1);
        let emission = i128::from(period) * 1_000_000_000 / i128::from(count);
        let mut admitted: Vec<i128> = Vec::new();
        let mut now_ms = 0;
        for gap in gaps {
            now_ms += gap;
            let line = format!("CL.THROTTLE k {burst} {count} {period}");
            let reply = throttle(e, &line, now_ms);
            prop_assert_eq!(reply[1], burst + 1);
            if reply[0] == 0 {
                admitted.push(i128::from(now_ms) * 1_000_000);
            }
        }
        for (i, first) in admitted.iter().enumerate() {
            for (j, last) in admitted.iter().enumerate().skip(i) {
                let allowed = i128::from(burst + 1) + (last - first) / emission;
                prop_assert!((j - i + 1) as i128 <= allowed, "{} admitted in {} ns", j - i + 1, last - first);
            }
        }
    }
}
