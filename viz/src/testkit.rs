//! Tests only: a small synthetic run written with chaos's `TraceWriter`, so every test of the
//! index, the state and the panels reads a real trace file through the real loader.
//!
//! The run (10 s, 1 s windows): a load generator `lg` sends a request to `app` every 50 ms;
//! `app` reads from `db` (primary, epoch 1) and `db-replica`. Requests take 5 ms, except from
//! 4 s to 6 s, while the replica is killed: they take 80 ms, and every fourth times out. At 7 s
//! `db` and `db-replica` are partitioned, healed at 8 s; one message at 7.5 s is retransmitted.
//! SLOs: p99 <= 50 ms and availability >= 99%, both end to end: both fail, from the 4 s window.
//! The app has no cache. [`loaded_with_cache`] gives it one: an L1 and an L2 node `cache`.

use crate::load::{Loaded, load_reader};
use faultline_chaos::check::CheckConfig;
use faultline_chaos::fault::Fault;
use faultline_chaos::slo::{Slo, SloKind};
use faultline_chaos::trace::codec::TraceWriter;
use faultline_chaos::trace::{Event, Header, HostInfo, LinkInfo, Op, Outcome, Record};
use std::path::Path;

pub const MS: u64 = 1_000_000;
pub const S: u64 = 1_000_000_000;
pub const LG: u16 = 0;
pub const APP: u16 = 1;
pub const DB: u16 = 2;
pub const REPLICA: u16 = 3;

/// The fixture's header.
pub fn header() -> Header {
    let host = |name: &str, service: &str, group: &str| HostInfo {
        name: name.into(),
        service: service.into(),
        group: group.into(),
    };
    Header {
        tool_version: "test".into(),
        rand_version: "0.9".into(),
        scenario: "fixture".into(),
        seed: 7,
        duration_ns: 10 * S,
        window_ns: S,
        hosts: vec![
            host("lg", "loadgen", "load"),
            host("app", "app", "app"),
            host("db", "kv-primary", "data"),
            host("db-replica", "kv-replica", "data"),
        ],
        links: vec![LinkInfo { a: APP, b: DB, latency_ns: 2 * MS, jitter_ns: 0, loss: 0.0 }],
        slos: vec![
            Slo {
                name: "p99 under 50 ms".into(),
                service: None,
                kind: SloKind::Latency { quantile: 0.99, max_ns: 50 * MS },
            },
            Slo { name: "availability 99%".into(), service: None, kind: SloKind::Availability { min_ratio: 0.99 } },
        ],
        checks: CheckConfig::default(),
        shards: Default::default(),
        regions: Vec::new(),
        sample_ns: 0,
    }
}

/// The fixture's records, in time order.
pub fn records() -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut push = |t_ns: u64, event: Event| out.push(Record { t_ns, event });
    push(0, Event::Role { host: DB, role: "primary".into(), epoch: 1, lsn: 0, last_epoch: 0 });
    push(0, Event::Role { host: REPLICA, role: "replica".into(), epoch: 1, lsn: 0, last_epoch: 0 });
    let mut timed: Vec<Record> = Vec::new();
    for i in 0..200u64 {
        let t = i * 50 * MS;
        let slow = (4 * S..6 * S).contains(&t);
        let latency = if slow { 80 * MS } else { 5 * MS };
        let outcome = if slow && i % 4 == 0 { Outcome::Timeout } else { Outcome::Ok };
        let ev = |t_ns, event| Record { t_ns, event };
        timed.push(ev(t, Event::Invoke { req: i, user: 0, client: LG, service: APP, op: Op::Read, key: i % 10 }));
        let retransmitted = t == 7_500 * MS;
        timed.push(ev(t + MS, Event::Message { from: LG, to: APP, bytes: 64, retransmitted }));
        timed.push(ev(t + 2 * MS, Event::Message { from: APP, to: DB, bytes: 32, retransmitted: false }));
        timed.push(ev(
            t + latency - MS,
            Event::Served { host: APP, op: Op::Read, latency_ns: latency - 2 * MS, ok: true },
        ));
        timed.push(ev(t + latency, Event::Complete { req: i, outcome }));
    }
    for s in 1..10u64 {
        let sample = |host, gauge: &str, last| Event::Sample { host, gauge: gauge.into(), last, mean: last as f64 };
        timed.push(Record { t_ns: s * S, event: sample(APP, "inflight", s as i64) });
        timed.push(Record { t_ns: s * S, event: sample(APP, "queue", 1) });
        // What an app without a cache publishes: every read is a miss.
        timed.push(Record { t_ns: s * S, event: sample(APP, "cache_hits", 0) });
        timed.push(Record { t_ns: s * S, event: sample(APP, "cache_misses", 20 * s as i64) });
        timed.push(Record { t_ns: s * S, event: sample(DB, "replica_lag_lsn", (s % 3) as i64) });
    }
    let faults = [
        (4 * S, Event::Fault(Fault::Kill { host: REPLICA })),
        (4 * S, Event::Power { host: REPLICA, up: false }),
        (6 * S, Event::Fault(Fault::Restart { host: REPLICA })),
        (6 * S, Event::Power { host: REPLICA, up: true }),
        (7 * S, Event::Fault(Fault::Partition { a: vec![DB], b: vec![REPLICA] })),
        (8 * S, Event::Fault(Fault::Heal { a: vec![DB], b: vec![REPLICA] })),
    ];
    timed.extend(faults.into_iter().map(|(t_ns, event)| Record { t_ns, event }));
    timed.sort_by_key(|r| r.t_ns); // stable: equal times keep their order
    out.extend(timed);
    out.push(Record { t_ns: 10 * S, event: Event::End });
    out
}

/// The cache fixture's L2 node.
pub const CACHE: u16 = 4;

/// The fixture with a cache: host `cache` (an L2 node) is added, and every 100 ms the app's
/// tier counts 20 reads (6 L1 hits, 9 L2 hits, 5 misses: L1 30%, L2 9 / 14 = 64.3%, overall
/// 75%) and 4 database loads (40 per second); its counters restart from zero at 5 s, so the
/// interval that ends there counts nothing.
pub fn with_cache() -> (Header, Vec<Record>) {
    let mut header = header();
    header.hosts.push(HostInfo { name: "cache".into(), service: "cache".into(), group: "cache".into() });
    // The tier's own samples replace those of the app without a cache.
    let mut records: Vec<Record> = records()
        .into_iter()
        .filter(|r| !matches!(&r.event, Event::Sample { gauge, .. } if gauge.starts_with("cache_")))
        .collect();
    let end = records.pop().expect("the End record");
    let mut timed: Vec<Record> = Vec::new();
    for tick in 1..100u64 {
        // Ticks since the app's tier last started (a kill at 5 s restarts it from zero).
        let n = if tick >= 50 { tick - 50 } else { tick } as i64;
        let sample = |host, gauge: &str, last| Event::Sample { host, gauge: gauge.into(), last, mean: last as f64 };
        for (gauge, per_second) in [("cache_hits", 15), ("cache_misses", 5), ("l1_hits", 6), ("db_loads", 4)] {
            timed.push(Record { t_ns: tick * 100 * MS, event: sample(APP, gauge, n * per_second) });
        }
        timed.push(Record { t_ns: tick * 100 * MS, event: sample(CACHE, "hits", tick as i64 * 9) });
        timed.push(Record { t_ns: tick * 100 * MS, event: sample(CACHE, "entries", tick.min(40) as i64) });
    }
    records.extend(timed);
    records.sort_by_key(|r| r.t_ns); // stable: equal times keep their order
    records.push(end);
    (header, records)
}

/// The fixture with a circuit breaker on the app around its replica reads: open at 4.1 s (the
/// replica died at 4 s), half-open at 5 s, open again at once (the probe failed), half-open at
/// 6 s, closed at 6.1 s.
pub fn loaded_with_breaker() -> Loaded {
    let mut records = records();
    let end = records.pop().expect("the End record");
    let change = |t_ns, value: &str| Record {
        t_ns,
        event: Event::State { host: APP, key: "breaker".into(), value: value.into() },
    };
    records.extend([
        change(4_100 * MS, "db-replica:open"),
        change(5 * S, "db-replica:half_open"),
        change(5 * S, "db-replica:open"),
        change(6 * S, "db-replica:half_open"),
        change(6_100 * MS, "db-replica:closed"),
    ]);
    records.sort_by_key(|r| r.t_ns); // stable: equal times keep their order
    records.push(end);
    let bytes = encode(&header(), records);
    load_reader(bytes.as_slice(), Path::new("breaker.fltrace")).expect("the breaker fixture loads")
}

/// The fixture with a queue broker's and an autoscaled pool's gauges (on `db` and `app`, which
/// stand in for them), sampled every second: the broker's depth climbs by 10 to 50 at 5 s and
/// falls back to 10 (5 leased, 1 dead-lettered throughout); the pool has 2 ready instances, one
/// more starting from 3 s, ready from 5 s, and a fourth ready from 7 s; a deploy moves one
/// instance to the new version at 6 s and a second at 7 s.
pub fn loaded_with_pool_and_broker() -> Loaded {
    let mut records = records();
    let end = records.pop().expect("the End record");
    for s in 1..10u64 {
        let sample = |host, gauge: &str, last| Record {
            t_ns: s * S,
            event: Event::Sample { host, gauge: gauge.into(), last, mean: last as f64 },
        };
        let depth = 10 * (5 - (s as i64 - 5).abs());
        let (ready, starting) = match s {
            1..=2 => (2, 0),
            3..=4 => (2, 1),
            5..=6 => (3, 0),
            _ => (4, 0),
        };
        records.extend([
            sample(DB, "queue_depth", depth),
            sample(DB, "queue_inflight", 5),
            sample(DB, "queue_dlq", 1),
            sample(APP, "pool_ready", ready),
            sample(APP, "pool_starting", starting),
            // A deploy from 6 s: one instance on the new version, then two.
            sample(APP, "deploy_new_ready", (s as i64 - 5).clamp(0, 2)),
            sample(APP, "deploy_old_ready", 4 - (s as i64 - 5).clamp(0, 2)),
        ]);
    }
    records.sort_by_key(|r| r.t_ns); // stable: equal times keep their order
    records.push(end);
    let bytes = encode(&header(), records);
    load_reader(bytes.as_slice(), Path::new("pool.fltrace")).expect("the pool fixture loads")
}

/// The fixture as trace bytes.
pub fn trace_bytes() -> Vec<u8> {
    encode(&header(), records())
}

/// The fixture with a cache, loaded.
pub fn loaded_with_cache() -> Loaded {
    let (header, records) = with_cache();
    let bytes = encode(&header, records);
    load_reader(bytes.as_slice(), Path::new("cache.fltrace")).expect("the cache fixture loads")
}

fn encode(header: &Header, records: Vec<Record>) -> Vec<u8> {
    let mut writer = TraceWriter::new(Vec::new(), header).expect("the fixture header encodes");
    for record in records {
        writer.write(&record).expect("fixture records are in time order");
    }
    writer.finish().expect("the fixture trace finishes").1
}

/// The fixture, loaded.
pub fn loaded() -> Loaded {
    load_reader(trace_bytes().as_slice(), Path::new("fixture.fltrace")).expect("the fixture loads")
}
