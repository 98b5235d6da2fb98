//! The cache tier against real L2 nodes on loopback: where reads are answered, what fills and
//! invalidations leave in L2, stampede protection, sharding, and cache-aside's race with and
//! without a write lease. Loaders are futures the tests release by hand: no sleeps.

use super::*;
use crate::cache::engine::EngineConfig;
use crate::cache::l1::Admission;
use crate::cache::node::L2Node;
use crate::seam::TokioEnv;
use crate::server::{Capacity, serve};
use crate::testenv::block_on;
use std::rc::Rc;
use tokio::sync::watch;

/// A gate loads wait at until the test opens it (opening before a load waits is fine).
#[derive(Clone)]
struct Gate(Rc<watch::Sender<bool>>);

impl Gate {
    fn new() -> Self {
        Self(Rc::new(watch::channel(false).0))
    }

    async fn pass(&self) {
        let _ = self.0.subscribe().wait_for(|open| *open).await;
    }

    fn open(&self) {
        self.0.send_replace(true);
    }
}

const LIMIT: Duration = Duration::from_secs(2);

fn env(name: &str) -> TokioEnv {
    TokioEnv::new(name, "127.0.0.1", 5)
}

/// Starts `n` L2 nodes; their names and addresses, and their engines.
async fn nodes(env: &TokioEnv, n: usize) -> (Vec<(String, String)>, Vec<Rc<RefCell<crate::cache::engine::Engine>>>) {
    let mut named = Vec::new();
    let mut engines = Vec::new();
    for i in 0..n {
        let listener = env.bind(0).await.expect("bind");
        let addr = listener.local_addr().expect("an address").to_string();
        let node = L2Node::new(env.clone(), EngineConfig::default());
        engines.push(node.engine());
        tokio::task::spawn_local(serve(env.clone(), listener, Capacity::default(), node));
        named.push((format!("cache{i}"), addr));
    }
    (named, engines)
}

fn config(nodes: Vec<(String, String)>) -> TierConfig {
    TierConfig::new(nodes, LIMIT)
}

/// What L2 holds for `key` (`GET` through the engine of the node that owns it).
fn held(engines: &[Rc<RefCell<crate::cache::engine::Engine>>], tier: &CacheTier<TokioEnv>, key: &str) -> Frame {
    let owner = tier.route(key.as_bytes()).expect("a node owns every key");
    let owner: usize = owner.trim_start_matches("cache").parse().expect("nodes are named cacheN");
    let args = [bytes::Bytes::from_static(b"GET"), bytes::Bytes::copy_from_slice(key.as_bytes())];
    engines[owner].borrow_mut().execute(&args, Duration::ZERO)
}

fn found(value: &str) -> Result<Loaded, String> {
    Ok((Some(value.as_bytes().to_vec()), 7))
}

#[test]
fn a_miss_loads_and_fills_then_l2_then_l1_answer() {
    block_on(async {
        let env = env("app");
        let (nodes, engines) = nodes(&env, 1).await;
        let mut config = config(nodes);
        config.l1 = Some(L1Config { capacity: 10, ttl: None, admission: Admission::Lru, seed: 1 });
        let tier: CacheTier<TokioEnv> = CacheTier::new(env.clone(), config).expect("a tier");
        let first = tier.read(b"k", || async { found("v") }).await.expect("loaded");
        assert_eq!(first, ((Some(b"v".to_vec()), 7), Source::Loaded));
        assert_eq!(held(&engines, &tier, "k"), Frame::Bulk(b"v".to_vec()), "the load filled L2");
        let second = tier.read(b"k", || async { panic!("no load on a hit") }).await.expect("hit");
        assert_eq!(second, ((Some(b"v".to_vec()), 0), Source::L1), "the fill also went to L1");
        tier.l1.as_ref().expect("an L1").borrow_mut().clear();
        let third = tier.read(b"k", || async { panic!("no load on a hit") }).await.expect("hit");
        assert_eq!(third.1, Source::L2);
        let absent = tier.read(b"nothing", || async { Ok((None, 3)) }).await.expect("loaded");
        assert_eq!(absent, ((None, 3), Source::Loaded));
        assert_eq!(held(&engines, &tier, "nothing"), Frame::Null, "absent keys are not cached");
        assert_eq!(tier.hits_and_misses(), (2, 2));
    });
}

#[test]
fn writes_invalidate_or_write_through() {
    block_on(async {
        let env = env("app");
        let (nodes, engines) = nodes(&env, 1).await;
        let tier: CacheTier<TokioEnv> = CacheTier::new(env.clone(), config(nodes.clone())).expect("a tier");
        tier.read(b"k", || async { found("v1") }).await.expect("loaded");
        assert!(tier.written(b"k", Some(b"v2")).await);
        assert_eq!(held(&engines, &tier, "k"), Frame::Null, "invalidated");
        let mut through = config(nodes);
        through.write = WritePolicy::WriteThrough;
        let tier: CacheTier<TokioEnv> = CacheTier::new(env.clone(), through).expect("a tier");
        assert!(tier.written(b"k", Some(b"v3")).await);
        assert_eq!(held(&engines, &tier, "k"), Frame::Bulk(b"v3".to_vec()), "written through");
        assert!(tier.written(b"k", None).await);
        assert_eq!(held(&engines, &tier, "k"), Frame::Null, "a delete is a delete");
    });
}

#[test]
fn keys_go_to_the_node_that_owns_them() {
    block_on(async {
        let env = env("app");
        let (nodes, engines) = nodes(&env, 3).await;
        let tier: CacheTier<TokioEnv> = CacheTier::new(env.clone(), config(nodes)).expect("a tier");
        for i in 0..60 {
            let key = format!("k{i}");
            tier.read(key.as_bytes(), || async { found("v") }).await.expect("loaded");
        }
        let counts: Vec<u64> = engines.iter().map(|e| e.borrow().stats().keys).collect();
        assert_eq!(counts.iter().sum::<u64>(), 60, "every key is held once: {counts:?}");
        assert!(counts.iter().all(|&n| n > 0), "a ring over 3 nodes uses all 3: {counts:?}");
        for i in 0..60 {
            assert_eq!(held(&engines, &tier, &format!("k{i}")), Frame::Bulk(b"v".to_vec()), "k{i} is on its owner");
        }
    });
}

/// Yields until `done` holds; a bounded wait, so a broken tier fails instead of spinning.
async fn until(done: impl Fn() -> bool) {
    for _ in 0..100_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the condition never held");
}

/// Starts `readers` concurrent reads of `key` (absent from L2) whose loads wait for a gate;
/// the loads started.
async fn stampede(tier: Rc<CacheTier<TokioEnv>>, key: &'static [u8], readers: usize) -> usize {
    let gate = Gate::new();
    let loads = Rc::new(Cell::new(0));
    let mut reads = Vec::new();
    for _ in 0..readers {
        let (tier, gate, loads) = (tier.clone(), gate.clone(), loads.clone());
        reads.push(tokio::task::spawn_local(async move {
            tier.read(key, || async move {
                loads.set(loads.get() + 1);
                gate.pass().await;
                found("v")
            })
            .await
        }));
    }
    // Let every reader reach its miss, then release the loads.
    until(|| tier.hits_and_misses().1 == readers as u64).await;
    for _ in 0..readers {
        tokio::task::yield_now().await;
    }
    gate.open();
    for read in reads {
        let (loaded, _) = read.await.expect("the read ran").expect("it got the value");
        assert_eq!(loaded.0.as_deref(), Some(b"v".as_slice()));
    }
    loads.get()
}

#[test]
fn single_flight_turns_a_stampede_into_one_load() {
    block_on(async {
        let env = env("app");
        let (nodes, _) = nodes(&env, 1).await;
        let none = Rc::new(CacheTier::new(env.clone(), config(nodes.clone())).expect("a tier"));
        assert_eq!(stampede(none.clone(), b"hot1", 8).await, 8, "without protection every miss loads");
        assert_eq!(none.counters.peak.get(), 8, "eight loads of one key at once");
        let mut protected = config(nodes);
        protected.stampede = Stampede::SingleFlight;
        let flight = Rc::new(CacheTier::new(env.clone(), protected).expect("a tier"));
        assert_eq!(stampede(flight.clone(), b"hot2", 8).await, 1);
        assert_eq!(flight.counters.peak.get(), 1);
    });
}

#[test]
fn the_lock_lets_one_host_load_while_the_other_waits_for_its_fill() {
    block_on(async {
        let (nodes, _) = nodes(&env("cache"), 1).await;
        let mut locked = config(nodes);
        locked.stampede =
            Stampede::Lock { lease: Duration::from_secs(1), retry: Duration::from_millis(1), single_flight: true };
        let a = Rc::new(CacheTier::new(env("app1"), locked.clone()).expect("a tier"));
        let b = Rc::new(CacheTier::new(env("app2"), locked).expect("a tier"));
        let gate = Gate::new();
        let loads = Rc::new(Cell::new(0));
        let load = |gate: Gate, loads: Rc<Cell<u32>>| async move {
            loads.set(loads.get() + 1);
            gate.pass().await;
            found("v")
        };
        let first = {
            let (a, gate, loads) = (a.clone(), gate.clone(), loads.clone());
            tokio::task::spawn_local(async move { a.read(b"hot", || load(gate, loads)).await })
        };
        until(|| loads.get() == 1).await;
        let second = {
            let (b, gate, loads) = (b.clone(), gate.clone(), loads.clone());
            tokio::task::spawn_local(async move { b.read(b"hot", || load(gate, loads)).await })
        };
        until(|| b.counters.lock_waits.get() == 1).await;
        gate.open();
        assert_eq!(first.await.expect("ran").expect("read").1, Source::Loaded);
        let (value, _) = second.await.expect("ran").expect("read");
        assert_eq!(value.0.as_deref(), Some(b"v".as_slice()), "the waiter got the holder's fill");
        assert_eq!(loads.get(), 1, "one load across both hosts");
    });
}

/// Cache-aside's race: a miss reads `old`, a write of `new` lands and invalidates, then the
/// miss fills. What L2 holds after.
async fn race(write: WritePolicy) -> Frame {
    let env = env("app");
    let (nodes, engines) = nodes(&env, 1).await;
    let mut config = config(nodes);
    config.write = write;
    let tier = Rc::new(CacheTier::new(env.clone(), config).expect("a tier"));
    let gate = Gate::new();
    let slow = {
        let (tier, gate) = (tier.clone(), gate.clone());
        tokio::task::spawn_local(async move {
            tier.read(b"k", || async move {
                // The store answered "old"; the reply is slow to come back.
                gate.pass().await;
                found("old")
            })
            .await
        })
    };
    until(|| tier.hits_and_misses().1 == 1).await;
    tokio::task::yield_now().await;
    assert!(tier.written(b"k", Some(b"new")).await, "the write reached the cache");
    gate.open();
    slow.await.expect("ran").expect("read");
    held(&engines, &tier, "k")
}

#[test]
fn invalidation_leaves_the_race_open_and_a_write_lease_closes_it() {
    block_on(async {
        assert_eq!(race(WritePolicy::Invalidate).await, Frame::Bulk(b"old".to_vec()), "the classic stale fill");
        assert_eq!(race(WritePolicy::WriteThrough).await, Frame::Bulk(b"old".to_vec()), "write-through races too");
        let leased = race(WritePolicy::InvalidateWithLease { lease: Duration::from_secs(5) }).await;
        assert_eq!(leased, Frame::Bulk(WRITE_MARKER.to_vec()), "the old value was refused");
    });
}

#[test]
fn a_write_marker_reads_as_a_miss() {
    block_on(async {
        let env = env("app");
        let (nodes, _) = nodes(&env, 1).await;
        let mut config = config(nodes);
        config.write = WritePolicy::InvalidateWithLease { lease: Duration::from_secs(5) };
        let tier: CacheTier<TokioEnv> = CacheTier::new(env.clone(), config).expect("a tier");
        assert!(tier.written(b"k", Some(b"new")).await);
        let read = tier.read(b"k", || async { found("new") }).await.expect("loaded");
        assert_eq!(read, ((Some(b"new".to_vec()), 7), Source::Loaded), "the marker is never a value");
    });
}

/// Routing while nodes leave and join the tier (the shard mask knob), on a manual clock.
mod shard_mask {
    use super::super::*;
    use crate::testenv::{TestEnv, block_on};

    fn tier(env: &TestEnv, scheme: Scheme) -> CacheTier<TestEnv> {
        let nodes = (0..3).map(|i| (format!("cache{i}"), format!("127.0.0.1:{}", 1 + i))).collect();
        let config = TierConfig { scheme, ..TierConfig::new(nodes, Duration::from_millis(10)) };
        CacheTier::new(env.clone(), config).expect("a valid tier")
    }

    fn keys() -> Vec<Vec<u8>> {
        (0..1000).map(|i| format!("k{i}").into_bytes()).collect()
    }

    fn owners(tier: &CacheTier<TestEnv>) -> Vec<Option<Node>> {
        keys().iter().map(|k| tier.route(k)).collect()
    }

    #[test]
    fn a_node_out_is_never_routed_to_and_routed_back_after_the_join() {
        block_on(async {
            let env = TestEnv::manual("app");
            let tier = tier(&env, Scheme::ring());
            let before = owners(&tier);
            assert!(before.iter().any(|o| o.as_deref() == Some("cache1")));
            env.inner.set_knob(Knob::ShardMask, 0b010);
            let during = owners(&tier);
            assert!(during.iter().all(|o| o.is_some() && o.as_deref() != Some("cache1")), "cache1 is out");
            for (was, now) in before.iter().zip(&during) {
                if was.as_deref() != Some("cache1") {
                    assert_eq!(was, now, "on a ring only cache1's keys move");
                }
            }
            env.inner.set_knob(Knob::ShardMask, 0);
            assert_eq!(owners(&tier), before, "after the join every key routes as before");
        });
    }

    #[test]
    fn under_hash_mod_a_leave_moves_most_keys_and_with_every_node_out_there_is_no_l2() {
        block_on(async {
            let env = TestEnv::manual("app");
            let tier = tier(&env, Scheme::HashMod);
            let before = owners(&tier);
            env.inner.set_knob(Knob::ShardMask, 0b001);
            let during = owners(&tier);
            let moved = before.iter().zip(&during).filter(|(a, b)| a != b).count();
            assert!(moved > 600, "hash-mod over 3 -> 2 nodes moves about 2/3 of the keys: {moved}");
            assert!(during.iter().all(|o| o.as_deref() != Some("cache0")));
            env.inner.set_knob(Knob::ShardMask, 0b111);
            assert!(owners(&tier).iter().all(Option::is_none), "no node in, no owner");
        });
    }

    #[test]
    fn with_every_node_out_reads_go_to_the_loader() {
        block_on(async {
            let env = TestEnv::manual("app");
            let tier = tier(&env, Scheme::ring());
            env.inner.set_knob(Knob::ShardMask, 0b111);
            let loader = || async { Ok::<Loaded, String>((Some(b"v".to_vec()), 7)) };
            let read = tier.read(b"k", loader).await.expect("the loader answers");
            assert_eq!(read, ((Some(b"v".to_vec()), 7), Source::Loaded));
            assert!(tier.written(b"k", Some(b"w")).await, "nothing to invalidate");
            assert_eq!(tier.hits_and_misses(), (0, 1));
            assert_eq!(env.gauge(gauge::CACHE_ERRORS), Some(0), "no L2 call was made");
        });
    }
}

#[test]
fn a_node_failing_in_a_row_is_ejected_then_tried_again() {
    use crate::testenv::TestEnv;
    block_on(async {
        let env = env("nodes");
        let (mut nodes, _engines) = nodes(&env, 2).await;
        // A third node nothing listens on: every connection to it is refused.
        let gone = env.bind(0).await.expect("bind");
        let addr = gone.local_addr().expect("an address").to_string();
        drop(gone);
        nodes.push(("cache2".to_string(), addr));
        let app = TestEnv::manual("app");
        let mut config = config(nodes);
        config.eject = Some(Eject { failures: 3, retry: Duration::from_secs(30) });
        let tier: CacheTier<TestEnv> = CacheTier::new(app.clone(), config).expect("a tier");
        let on = |key: &String| &*tier.route(key.as_bytes()).expect("a node owns every key") == "cache2";
        let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).filter(|k| on(k)).collect();
        assert!(keys.len() > 50, "the dead node owns its share: {}", keys.len());
        // A read of its key fails twice (the GET, then the fill): not yet three in a row.
        tier.read(keys[0].as_bytes(), || async { found("v") }).await.expect("the loader answers");
        assert!(on(&keys[0]), "two failures do not eject");
        assert_eq!(app.gauge(gauge::L2_EJECTIONS), Some(0));
        tier.read(keys[1].as_bytes(), || async { found("v") }).await.expect("the loader answers");
        assert_eq!(app.state(state::TIER).as_deref(), Some("cache2:ejected"));
        assert_eq!(app.gauge(gauge::L2_EJECTIONS), Some(1));
        assert_eq!(app.gauge(gauge::CACHE_ERRORS), Some(3), "the third failure ejected it: the fill went elsewhere");
        assert!(keys.iter().all(|k| !on(k)), "its keys are owned by the live nodes now");
        let again = tier.read(keys[1].as_bytes(), || async { panic!("filled on a live node") }).await;
        assert_eq!(again.expect("a hit").1, Source::L2);
        app.advance(Duration::from_secs(29));
        assert!(!on(&keys[0]), "out until its retry time is over");
        app.advance(Duration::from_secs(1));
        assert!(on(&keys[0]), "back on trial");
        assert_eq!(app.state(state::TIER).as_deref(), Some("cache2:returned"));
        // On trial, one failure ejects it again.
        tier.read(keys[2].as_bytes(), || async { found("v") }).await.expect("the loader answers");
        assert_eq!(app.state(state::TIER).as_deref(), Some("cache2:ejected"));
        assert_eq!(app.gauge(gauge::L2_EJECTIONS), Some(2));
        assert_eq!(app.gauge(gauge::CACHE_ERRORS), Some(4));
    });
}

#[test]
fn a_success_clears_a_nodes_failures() {
    use crate::testenv::TestEnv;
    block_on(async {
        let env = env("nodes");
        let (nodes, _engines) = nodes(&env, 1).await;
        let app = TestEnv::manual("app");
        let mut config = config(nodes);
        config.eject = Some(Eject { failures: 2, retry: Duration::from_secs(30) });
        let tier: CacheTier<TestEnv> = CacheTier::new(app.clone(), config).expect("a tier");
        for _ in 0..5 {
            tier.record(0, false);
            tier.record(0, true);
        }
        assert_eq!(app.gauge(gauge::L2_EJECTIONS), Some(0), "never two failures in a row");
        tier.record(0, false);
        tier.record(0, false);
        assert_eq!(app.gauge(gauge::L2_EJECTIONS), Some(1));
        assert!(tier.route(b"k").is_none(), "its only node out: no L2");
        let read = tier.read(b"k", || async { found("v") }).await.expect("the loader answers");
        assert_eq!(read.1, Source::Loaded);
    });
}
