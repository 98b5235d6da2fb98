//! The L2 cache server: the [`Engine`] behind the [`Resp`] codec, on the seam. Every command
//! runs against the engine at the seam's `now`; Redis's active expiry cycle runs every 100 ms
//! (its `hz` 10) on the seam's clock. A protocol error is answered with Redis's
//! `-ERR Protocol error: ...` and the connection closes after it.
//!
//! Gauges: "entries" (keys held), "used_memory" (bytes, as INFO counts them), and the
//! cumulative "hits", "misses", "evicted" and "expired".
//!
//! Knobs (chaos's turns, read through the seam): [`Knob::CacheFlush`] is a flush generation:
//! when it differs from the one the node last saw, the node drops every key (as FLUSHALL),
//! checked before every command and in every expiry cycle, so a command always sees the flush
//! and the gauges show it within [`EXPIRE_PERIOD`]. [`Knob::MaxMemory`] is a memory limit that
//! replaces the configured one while it is non-zero (0 puts the configured one back); it is
//! set on the engine when it changes, so the engine enforces it at the next write (evicting by
//! the policy, or refusing with OOM), and a `CONFIG SET maxmemory` made since stays until the
//! knob turns again. A node started again keeps the limit in force and does not flush again.
//!
//! This file must not know the commands (the engine does) or the wire (the codec does).

use super::engine::{Engine, EngineConfig};
use super::resp::{Frame, Request, Resp};
use crate::seam::{Env, Knob};
use crate::server::{Handler, Replier};
use bytes::Bytes;
use faultline_vocab::gauge;
use rand::RngCore;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// How often the active expiry cycle runs (Redis's default `hz` is 10).
pub const EXPIRE_PERIOD: Duration = Duration::from_millis(100);

/// A RESP cache server: build it with [`L2Node::new`] and serve it with
/// [`crate::server::serve`].
pub struct L2Node<E: Env> {
    env: E,
    engine: Rc<RefCell<Engine>>,
    turned: Rc<Turned>,
}

/// What the node last saw of its knobs, and the memory limit it was configured with.
struct Turned {
    /// The flush generation last seen.
    flushes: Cell<u64>,
    /// The memory-limit knob last seen (0: not turned).
    maxmemory: Cell<u64>,
    /// The limit the node was configured with.
    configured: u64,
}

impl Turned {
    /// Applies what changed in the knobs since the last look to `engine`; whether it flushed.
    fn apply<E: Env>(&self, env: &E, engine: &mut Engine) -> bool {
        let limit = env.knob(Knob::MaxMemory);
        if limit != self.maxmemory.get() {
            self.maxmemory.set(limit);
            engine.set_maxmemory(if limit == 0 { self.configured } else { limit });
        }
        let generation = env.knob(Knob::CacheFlush);
        let flushed = generation != self.flushes.get();
        if flushed {
            self.flushes.set(generation);
            engine.flush();
        }
        flushed
    }
}

impl<E: Env> L2Node<E> {
    /// An empty cache with `config`'s memory limit and policy; starts its expiry cycle and
    /// publishes its gauges. The engine's randomness (eviction samples) comes from the seam.
    pub fn new(env: E, config: EngineConfig) -> Self {
        let seed = env.rng("cache-engine").next_u64();
        let engine = Rc::new(RefCell::new(Engine::new(config, seed)));
        let turned = Rc::new(Turned {
            flushes: Cell::new(env.knob(Knob::CacheFlush)),
            maxmemory: Cell::new(0),
            configured: config.maxmemory,
        });
        turned.apply(&env, &mut engine.borrow_mut());
        env.spawn(expire_cycle(env.clone(), Rc::downgrade(&engine), turned.clone()));
        let node = Self { env, engine, turned };
        node.publish();
        node
    }

    /// The engine, for a caller that reads it or turns its limits by hand.
    pub fn engine(&self) -> Rc<RefCell<Engine>> {
        self.engine.clone()
    }

    /// Runs one command (args[0] is its name) at the seam's `now`, after applying any knob
    /// chaos turned since the last command, and publishes the gauges.
    pub fn execute(&self, args: &[Bytes]) -> Frame {
        let reply = {
            let mut engine = self.engine.borrow_mut();
            self.turned.apply(&self.env, &mut engine);
            engine.execute(args, self.env.now())
        };
        self.publish();
        reply
    }

    fn publish(&self) {
        publish(&self.env, &self.engine.borrow());
    }
}

fn publish<E: Env>(env: &E, engine: &Engine) {
    let stats = engine.stats();
    env.gauge(gauge::ENTRIES, stats.keys as i64);
    env.gauge(gauge::USED_MEMORY, stats.used_memory as i64);
    env.gauge(gauge::HITS, stats.hits as i64);
    env.gauge(gauge::MISSES, stats.misses as i64);
    env.gauge(gauge::EVICTED, stats.evicted as i64);
    env.gauge(gauge::EXPIRED, stats.expired as i64);
}

/// Runs the engine's active expiry every [`EXPIRE_PERIOD`] until the node is dropped, applying
/// the knobs first (so a flush shows in the gauges even when no command comes).
async fn expire_cycle<E: Env>(env: E, engine: Weak<RefCell<Engine>>, turned: Rc<Turned>) {
    loop {
        env.sleep(EXPIRE_PERIOD).await;
        let Some(engine) = engine.upgrade() else { return };
        let mut engine = engine.borrow_mut();
        let flushed = turned.apply(&env, &mut engine);
        let before = engine.stats().expired;
        engine.active_expire(env.now());
        if flushed || engine.stats().expired != before {
            publish(&env, &engine);
        }
    }
}

impl<E: Env> Handler<E> for L2Node<E> {
    type Codec = Resp;

    async fn handle(&self, request: Request, _replier: Replier<E, Resp>) -> Option<Frame> {
        match request {
            Request::Command(args) if args.is_empty() => None,
            Request::Command(args) => Some(self.execute(&args)),
            Request::Malformed(reason) => Some(Request::protocol_error(&reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::engine::{BASE_BYTES, Policy};
    use crate::testenv::{TestEnv, block_on, settle};

    fn run(node: &L2Node<TestEnv>, args: &[&str]) -> Frame {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        node.execute(&args)
    }

    fn bulk(value: &str) -> Frame {
        Frame::Bulk(value.as_bytes().to_vec())
    }

    #[test]
    fn a_flushed_node_answers_misses_and_flushes_once_per_turn() {
        block_on(async {
            let env = TestEnv::manual("cache");
            let node = L2Node::new(env.clone(), EngineConfig::default());
            settle().await; // the expiry cycle starts its first period
            assert_eq!(run(&node, &["SET", "k", "v"]), Frame::ok());
            assert_eq!(run(&node, &["GET", "k"]), bulk("v"));
            env.inner.set_knob(Knob::CacheFlush, 1);
            assert_eq!(run(&node, &["GET", "k"]), Frame::Null, "the next command sees the flush");
            assert_eq!(env.gauge(gauge::ENTRIES), Some(0));
            assert_eq!(env.gauge(gauge::MISSES), Some(1));
            assert_eq!(run(&node, &["SET", "k", "v2"]), Frame::ok());
            assert_eq!(run(&node, &["GET", "k"]), bulk("v2"), "one turn flushes once");
            // With no command, the expiry cycle applies the flush within a period.
            env.inner.set_knob(Knob::CacheFlush, 2);
            assert_eq!(env.gauge(gauge::ENTRIES), Some(1));
            env.advance(EXPIRE_PERIOD);
            settle().await;
            assert_eq!(env.gauge(gauge::ENTRIES), Some(0), "the gauges show the flush");
            assert_eq!(run(&node, &["GET", "k"]), Frame::Null);
        });
    }

    #[test]
    fn a_node_started_after_a_flush_does_not_flush_again() {
        block_on(async {
            let env = TestEnv::manual("cache");
            env.inner.set_knob(Knob::CacheFlush, 3);
            let node = L2Node::new(env.clone(), EngineConfig::default());
            assert_eq!(run(&node, &["SET", "k", "v"]), Frame::ok());
            assert_eq!(run(&node, &["GET", "k"]), bulk("v"));
        });
    }

    /// Fills `node` with 100 keys of 1000-byte values.
    fn fill(node: &L2Node<TestEnv>) {
        let value = "x".repeat(1000);
        for i in 0..100 {
            assert_eq!(run(node, &["SET", &format!("key{i}"), &value]), Frame::ok());
        }
    }

    #[test]
    fn memory_pressure_evicts_down_at_the_next_write() {
        block_on(async {
            let env = TestEnv::manual("cache");
            let config = EngineConfig { maxmemory: 0, policy: Policy::AllKeysLru, samples: 5 };
            let node = L2Node::new(env.clone(), config);
            fill(&node);
            let used = node.engine().borrow().stats().used_memory;
            assert!(used > BASE_BYTES + 100_000, "{used}");
            let limit = BASE_BYTES + 20_000;
            env.inner.set_knob(Knob::MaxMemory, limit);
            assert_eq!(run(&node, &["SET", "one", "more"]), Frame::ok());
            let stats = node.engine().borrow().stats();
            assert!(stats.used_memory <= limit, "{stats:?}");
            assert!(stats.evicted >= 80, "{stats:?}");
            assert_eq!(stats.maxmemory, limit);
            env.inner.set_knob(Knob::MaxMemory, 0);
            fill(&node);
            let stats = node.engine().borrow().stats();
            assert_eq!(stats.maxmemory, 0, "the configured limit (none) is back");
            assert!(stats.used_memory > BASE_BYTES + 100_000, "{stats:?}");
        });
    }

    #[test]
    fn memory_pressure_without_eviction_refuses_writes_until_undone() {
        block_on(async {
            let env = TestEnv::manual("cache");
            let config = EngineConfig { maxmemory: BASE_BYTES + 1_000_000, ..EngineConfig::default() };
            let node = L2Node::new(env.clone(), config);
            fill(&node);
            env.inner.set_knob(Knob::MaxMemory, BASE_BYTES + 20_000);
            let refused = run(&node, &["SET", "k", "v"]);
            assert!(matches!(&refused, Frame::Error(e) if e.starts_with("OOM")), "{refused:?}");
            assert_eq!(run(&node, &["GET", "key1"]), bulk(&"x".repeat(1000)), "reads still run");
            env.inner.set_knob(Knob::MaxMemory, 0);
            assert_eq!(run(&node, &["SET", "k", "v"]), Frame::ok(), "the configured limit is back");
            assert_eq!(node.engine().borrow().stats().maxmemory, BASE_BYTES + 1_000_000);
        });
    }
}
