//! The worker side of the server's queueing model, for any front: a fixed number of worker
//! slots granted in arrival order, a bounded wait queue with an optional queue timeout, a
//! seeded per-request cost slept in the slot (slowed by the Slowdown knob), the gauges
//! `inflight` and `queue`, and the served report of every query. `server::serve` runs each
//! query of a [`super::Codec`]'s connections through it; the HTTP front runs each request its
//! router hands over through it, so both fronts queue, cost and report alike.
//!
//! This module must not know a connection, a protocol or a model: it runs the work it is given.

use super::service_time::{Capacity, dithered_sleep, slowed};
use crate::seam::{Env, Knob, RequestKind, timeout};
use faultline_vocab::gauge;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Why a query was answered without being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shed {
    /// The queue was full when it arrived (not reported as served: it spent no time here).
    QueueFull,
    /// It waited past the queue timeout for a slot (reported as a failed request).
    Waited(Duration),
}

impl Shed {
    /// The text a refusal carries.
    pub fn detail(&self) -> String {
        match self {
            Shed::QueueFull => "queue full".into(),
            Shed::Waited(waited) => format!("waited over {waited:?} for a worker"),
        }
    }
}

/// A server's worker slots, queue and cost model.
pub struct Workers<E: Env> {
    env: E,
    capacity: Capacity,
    slots: Semaphore,
    waiting: Cell<usize>,
    inflight: Cell<usize>,
    rng: RefCell<ChaCha8Rng>,
}

impl<E: Env> Workers<E> {
    /// The workers of a server with `capacity`; publishes the gauges.
    pub fn new(env: E, capacity: Capacity) -> Self {
        let workers = Self {
            rng: RefCell::new(env.rng("service-time")),
            slots: Semaphore::new(capacity.workers.max(1)),
            capacity,
            waiting: Cell::new(0),
            inflight: Cell::new(0),
            env,
        };
        workers.publish_inflight();
        workers.publish_queue();
        workers
    }

    /// The capacity it was built with.
    pub fn capacity(&self) -> &Capacity {
        &self.capacity
    }

    fn publish_inflight(&self) {
        self.env.gauge(gauge::INFLIGHT, self.inflight.get() as i64);
    }

    fn publish_queue(&self) {
        self.env.gauge(gauge::QUEUE, self.waiting.get() as i64);
    }

    /// Draws one request's cost, slowed by the Slowdown knob.
    fn cost(&self) -> Duration {
        let cost = self.capacity.service_time.sample(&mut self.rng.borrow_mut());
        if cost.is_zero() {
            return cost;
        }
        match self.env.knob(Knob::Slowdown) {
            0 => cost,
            percent => slowed(cost, percent),
        }
    }

    /// Serves one query of `kind`: waits for a slot (or is shed when the queue is full, or once
    /// it waited past the queue timeout), spends its cost in the slot, then runs `work`, holding
    /// the slot meanwhile when `holds_slot` (a thread per request) or not (an event loop).
    /// `arrived` is when it reached the server, when that was before now. Reports it served,
    /// failed when `is_failure` says so of its output.
    pub async fn query<T, F: Future<Output = T>>(
        &self,
        kind: RequestKind,
        arrived: Option<Duration>,
        holds_slot: bool,
        work: impl FnOnce() -> F,
        is_failure: impl FnOnce(&T) -> bool,
    ) -> Result<T, Shed> {
        if self.waiting.get() >= self.capacity.queue_limit && self.slots.available_permits() == 0 {
            return Err(Shed::QueueFull);
        }
        let timed = self.env.observes_served();
        let arrived = match arrived {
            Some(at) => at,
            None if timed => self.env.now(),
            None => Duration::ZERO,
        };
        self.inflight.set(self.inflight.get() + 1);
        self.waiting.set(self.waiting.get() + 1);
        self.publish_inflight();
        self.publish_queue();
        let permit = self.wait_for_slot().await;
        self.waiting.set(self.waiting.get() - 1);
        self.publish_queue();
        let (out, ok) = match permit {
            Some(permit) => {
                let out = self.serve(permit, holds_slot, work).await;
                let ok = !is_failure(&out);
                (Ok(out), ok)
            }
            None => (Err(Shed::Waited(self.capacity.queue_timeout.unwrap_or_default())), false),
        };
        if timed {
            self.env.served(kind, self.env.now().saturating_sub(arrived), ok);
        }
        self.inflight.set(self.inflight.get() - 1);
        self.publish_inflight();
        out
    }

    /// A worker slot, or `None` when the queue timeout passed first.
    async fn wait_for_slot(&self) -> Option<SemaphorePermit<'_>> {
        // A free slot is taken at once, as the first poll of `acquire` would take it (a free
        // permit is never one a waiter was promised), without building the waiting future.
        if let Ok(permit) = self.slots.try_acquire() {
            return Some(permit);
        }
        let acquire = self.slots.acquire();
        let permit = match self.capacity.queue_timeout {
            None => acquire.await,
            Some(limit) => timeout(&self.env, limit, acquire).await.ok()?,
        };
        Some(permit.expect("the semaphore is never closed"))
    }

    /// Spends a query's cost in its worker slot, then runs its work.
    async fn serve<T, F: Future<Output = T>>(
        &self,
        permit: SemaphorePermit<'_>,
        holds_slot: bool,
        work: impl FnOnce() -> F,
    ) -> T {
        let cost = self.cost();
        if !cost.is_zero() {
            let dither: f64 = self.rng.borrow_mut().random();
            let request = dithered_sleep(cost, dither, self.env.timer_grid());
            if !request.is_zero() {
                self.env.sleep(request).await;
            }
        }
        if !holds_slot {
            drop(permit);
            return work().await;
        }
        let out = work().await;
        drop(permit);
        out
    }
}
