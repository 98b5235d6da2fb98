//! The L2 cache server: the [`Engine`] behind the [`Resp`] codec, on the seam. Every command
//! runs against the engine at the seam's `now`; Redis's active expiry cycle runs every 100 ms
//! (its `hz` 10) on the seam's clock. A protocol error is answered with Redis's
//! `-ERR Protocol error: ...` and the connection closes after it.
//!
//! Gauges: "entries" (keys held), "used_memory" (bytes, as INFO counts them), and the
//! cumulative "hits", "misses", "evicted" and "expired".
//!
//! This file must not know the commands (the engine does) or the wire (the codec does).

use super::engine::{Engine, EngineConfig};
use super::resp::{Frame, Request, Resp};
use crate::seam::Env;
use crate::server::{Handler, Replier};
use faultline_vocab::gauge;
use rand::RngCore;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// How often the active expiry cycle runs (Redis's default `hz` is 10).
pub const EXPIRE_PERIOD: Duration = Duration::from_millis(100);

/// A RESP cache server: build it with [`L2Node::new`] and serve it with
/// [`crate::server::serve`].
pub struct L2Node<E: Env> {
    env: E,
    engine: Rc<RefCell<Engine>>,
}

impl<E: Env> L2Node<E> {
    /// An empty cache with `config`'s memory limit and policy; starts its expiry cycle and
    /// publishes its gauges. The engine's randomness (eviction samples) comes from the seam.
    pub fn new(env: E, config: EngineConfig) -> Self {
        let seed = env.rng("cache-engine").next_u64();
        let engine = Rc::new(RefCell::new(Engine::new(config, seed)));
        env.spawn(expire_cycle(env.clone(), Rc::downgrade(&engine)));
        let node = Self { env, engine };
        node.publish();
        node
    }

    /// The engine, for a caller that turns its limits mid-run (memory pressure) or reads it.
    pub fn engine(&self) -> Rc<RefCell<Engine>> {
        self.engine.clone()
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

/// Runs the engine's active expiry every [`EXPIRE_PERIOD`] until the node is dropped.
async fn expire_cycle<E: Env>(env: E, engine: Weak<RefCell<Engine>>) {
    loop {
        env.sleep(EXPIRE_PERIOD).await;
        let Some(engine) = engine.upgrade() else { return };
        let mut engine = engine.borrow_mut();
        let before = engine.stats().expired;
        engine.active_expire(env.now());
        if engine.stats().expired != before {
            publish(&env, &engine);
        }
    }
}

impl<E: Env> Handler<E> for L2Node<E> {
    type Codec = Resp;

    async fn handle(&self, request: Request, _replier: Replier<E, Resp>) -> Option<Frame> {
        match request {
            Request::Command(args) if args.is_empty() => None,
            Request::Command(args) => {
                let reply = self.engine.borrow_mut().execute(&args, self.env.now());
                self.publish();
                Some(reply)
            }
            Request::Malformed(reason) => Some(Request::protocol_error(&reason)),
        }
    }
}
