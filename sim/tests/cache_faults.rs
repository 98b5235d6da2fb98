//! The cache faults end to end: a flush, memory pressure, a shard leaving and joining, and a
//! cache host's clock jumping ahead, each applied to a small world and seen in the gauges the
//! cache nodes and the app publish.
//!
//! Owns: those scenarios and what their runs must show. Must not: reach into the world but
//! through a scenario and its trace.

use crate::util;
use faultline_chaos::fault::Fault;
use faultline_chaos::trace::{Event, Record};
use faultline_chaos::vocab::gauge;
use util::{records, scenario};

const S: u64 = 1_000_000_000;

/// A kv primary, three cache nodes and one app whose tier spreads keys over them with `shard`,
/// writing through; `faults` appended. 60 keys, written often enough that all exist within
/// a second or two, read four times as often.
fn world(shard: &str, cache: &str, faults: &str) -> String {
    world_with(shard, cache, "", faults)
}

/// [`world`], with `tier` appended to the app's tier settings (e.g. `, ttl = "20s"`).
fn world_with(shard: &str, cache: &str, tier: &str, faults: &str) -> String {
    format!(
        r#"
name = "cache-faults"
duration = "8s"
[network]
latency = "1ms"
[[hosts]]
name = "db"
service = {{ kv = {{ role = "primary" }} }}
workers = 8
[[hosts]]
name = "cache1"
service = {{ cache = {cache} }}
[[hosts]]
name = "cache2"
service = {{ cache = {cache} }}
[[hosts]]
name = "cache3"
service = {{ cache = {cache} }}
[[hosts]]
name = "app"
service = {{ app = {{ db = "db", tier = {{ nodes = ["cache1", "cache2", "cache3"], shard = "{shard}", on_write = "write_through"{tier} }} }} }}
workers = 32
[workload]
targets = ["app"]
users = 50
arrival = {{ poisson = {{ rate = 600 }} }}
read_ratio = 0.8
keys = 60
value_bytes = 1000
{faults}
"#
    )
}

/// The last value `host` published for `name` at or before `t_ns` (0 before any).
fn gauge_at(records: &[Record], host: &str, name: &str, t_ns: u64, hosts: &[String]) -> i64 {
    let index = hosts.iter().position(|h| h == host).expect("a host of the world") as u16;
    records
        .iter()
        .take_while(|r| r.t_ns <= t_ns)
        .filter_map(|r| match &r.event {
            Event::Sample { host, gauge, last, .. } if *host == index && gauge == name => Some(*last),
            _ => None,
        })
        .last()
        .unwrap_or(0)
}

/// A run's records and its host names.
fn run(text: &str, seed: u64) -> (Vec<Record>, Vec<String>) {
    let (outcome, hosts, records) = records(&scenario(text), seed);
    assert_eq!(outcome.report.end_to_end.ok, outcome.report.end_to_end.requests, "a cache fault costs no request");
    (records, hosts)
}

/// How much `name` of `host` grew from `from_s` to `to_s` seconds.
fn growth(run: &(Vec<Record>, Vec<String>), host: &str, name: &str, from_s: f64, to_s: f64) -> i64 {
    let at = |s: f64| gauge_at(&run.0, host, name, (s * S as f64) as u64, &run.1);
    at(to_s) - at(from_s)
}

/// The faults recorded, with their times.
fn faults(run: &(Vec<Record>, Vec<String>)) -> Vec<(u64, String)> {
    let describe = |f: &Fault| f.describe(&run.1);
    run.0
        .iter()
        .filter_map(|r| if let Event::Fault(f) = &r.event { Some((r.t_ns, describe(f))) } else { None })
        .collect()
}

#[test]
fn a_flush_makes_the_next_reads_miss_and_load() {
    let flush = "[[faults]]\nat = \"4s\"\nfault = { cache_flush = \"cache2\" }\n";
    let run = run(&world("ring", "{}", flush), 1);
    assert_eq!(faults(&run), [(4 * S, "flush cache cache2".to_string())]);
    let before = growth(&run, "app", gauge::DB_LOADS, 3.0, 4.0);
    let after = growth(&run, "app", gauge::DB_LOADS, 4.0, 5.0);
    assert!(before <= 2, "warm: all keys are cached before the flush: {before} loads");
    assert!(after >= 8, "cache2's keys (about a third of 60) load again after the flush: {after}");
    assert!(growth(&run, "app", gauge::CACHE_MISSES, 4.0, 5.0) >= after, "each load is a miss");
    assert!(growth(&run, "cache2", gauge::MISSES, 4.0, 5.0) >= 8, "the node itself misses");
    assert!(growth(&run, "cache1", gauge::MISSES, 4.0, 5.0) <= 2, "the other nodes keep their keys");
    let entries = |t| gauge_at(&run.0, "cache2", gauge::ENTRIES, t, &run.1);
    assert!(entries(4 * S - 1) >= 10, "{}", entries(4 * S - 1));
    assert!(entries(4 * S + S / 10) < entries(4 * S - 1), "the gauge shows the flush within 100 ms");
}

#[test]
fn memory_pressure_evicts_and_the_limit_comes_back_after_it() {
    let pressure = "[[faults]]\nat = \"4s\"\nfor = \"2s\"\nfault = { memory_pressure = { host = \"cache1\", maxmemory = 1_010_000 } }\n";
    let run = run(&world("ring", "{ policy = \"allkeys-lru\" }", pressure), 1);
    let texts: Vec<String> = faults(&run).into_iter().map(|(_, text)| text).collect();
    assert_eq!(texts, ["set maxmemory of cache1 to 986.33K", "set maxmemory of cache1 to the configured limit"]);
    let entries = |s: f64| gauge_at(&run.0, "cache1", gauge::ENTRIES, (s * S as f64) as u64, &run.1);
    assert!(entries(3.9) >= 15, "cache1 holds about a third of 60 keys: {}", entries(3.9));
    // Room for 9 entries of ~1070 bytes beside the 1 MB baseline.
    assert!(growth(&run, "cache1", gauge::EVICTED, 4.0, 6.0) > 0, "the node evicts under pressure");
    assert_eq!(growth(&run, "cache1", gauge::EVICTED, 6.5, 8.0), 0, "no eviction once the limit is back");
    let used = |s: f64| gauge_at(&run.0, "cache1", gauge::USED_MEMORY, (s * S as f64) as u64, &run.1);
    assert!(used(5.5) <= 1_010_000, "evicted down to the limit: {}", used(5.5));
    assert!(entries(7.9) > entries(5.9), "the keys come back after it");
}

#[test]
fn memory_pressure_without_eviction_refuses_the_fills() {
    let pressure = "[[faults]]\nat = \"4s\"\nfor = \"2s\"\nfault = { memory_pressure = { host = \"cache1\", maxmemory = 1_010_000 } }\n";
    let run = run(&world("ring", "{}", pressure), 1);
    let refused = growth(&run, "app", gauge::CACHE_ERRORS, 4.0, 6.0);
    assert_eq!(growth(&run, "app", gauge::CACHE_ERRORS, 1.0, 4.0), 0, "no error before");
    assert!(refused >= 5, "writes through to cache1 are refused with OOM: {refused}");
    assert_eq!(growth(&run, "app", gauge::CACHE_ERRORS, 6.1, 8.0), 0, "none once the limit is back");
}

/// The loads in the second after cache2 leaves at 4 s (it joins again at 6 s).
fn cold_after_leave(shard: &str) -> (i64, (Vec<Record>, Vec<String>)) {
    let leave =
        "[[faults]]\nat = \"4s\"\nfor = \"2s\"\nfault = { shard_leave = { app = [\"app\"], node = \"cache2\" } }\n";
    let run = run(&world(shard, "{}", leave), 2);
    let texts: Vec<String> = faults(&run).into_iter().map(|(_, text)| text).collect();
    assert_eq!(texts, ["cache2 leaves the cache tier of [app]", "cache2 joins the cache tier of [app]"]);
    assert!(growth(&run, "app", gauge::DB_LOADS, 3.0, 4.0) <= 2, "warm before the leave");
    // cache2 hears nothing while it is out: its reads (hits + misses) stand still.
    let reads = |s: f64| growth(&run, "cache2", gauge::HITS, 0.0, s) + growth(&run, "cache2", gauge::MISSES, 0.0, s);
    assert_eq!(reads(5.95), reads(4.05), "no read reaches cache2 while it is out");
    assert!(reads(7.9) > reads(6.05), "reads reach it again after the join");
    (growth(&run, "app", gauge::DB_LOADS, 4.0, 5.0), run)
}

#[test]
fn a_shard_leaving_a_ring_cools_its_share_and_hash_mod_cools_most() {
    let (ring, _) = cold_after_leave("ring");
    let (hash_mod, _) = cold_after_leave("hash_mod");
    // 60 keys over 3 nodes: a ring moves cache2's ~20, hash-mod about 2/3 of them (~40); a key
    // written through before it is read is filled without a load.
    assert!((5..=25).contains(&ring), "ring: {ring} loads");
    assert!(hash_mod >= ring + 8, "hash-mod {hash_mod} loads vs ring {ring}");
}

#[test]
fn a_cache_hosts_clock_jumping_ahead_expires_its_keys_early() {
    // A 20 s TTL: in an 8 s run no key expires on a right clock. At 4 s cache2's clock jumps
    // 30 s ahead: every key it holds is past its TTL by its own clock, and goes at the next
    // access or expiry cycle; the app loads them again. cache1 and cache3 keep theirs.
    let cache = r#"{ maxmemory = "64mb", policy = "allkeys-lru" }"#;
    let tier = r#", ttl = "20s""#;
    let skew = "[[faults]]\nat = \"4s\"\nfault = { clock_skew = { host = \"cache2\", jump = \"30s\" } }\n";
    for seed in 1..=3 {
        let steady = run(&world_with("ring", cache, tier, ""), seed);
        let skewed = run(&world_with("ring", cache, tier, skew), seed);
        for host in ["cache1", "cache2", "cache3"] {
            assert_eq!(growth(&steady, host, gauge::EXPIRED, 0.0, 8.0), 0, "seed {seed}: {host} expires nothing");
        }
        let expired = growth(&skewed, "cache2", gauge::EXPIRED, 4.0, 5.0);
        assert!(expired >= 10, "seed {seed}: cache2 held ~20 keys and expired only {expired}");
        assert_eq!(growth(&skewed, "cache1", gauge::EXPIRED, 0.0, 8.0), 0, "seed {seed}: cache1's clock is right");
        let loads = |r| growth(r, "app", gauge::DB_LOADS, 4.0, 5.0);
        assert!(
            loads(&skewed) > loads(&steady),
            "seed {seed}: the early expiry sends reads to the store ({} vs {})",
            loads(&skewed),
            loads(&steady)
        );
    }
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        a_flush_makes_the_next_reads_miss_and_load,
        memory_pressure_evicts_and_the_limit_comes_back_after_it,
        memory_pressure_without_eviction_refuses_the_fills,
        a_shard_leaving_a_ring_cools_its_share_and_hash_mod_cools_most,
        a_cache_hosts_clock_jumping_ahead_expires_its_keys_early,
    }
}
