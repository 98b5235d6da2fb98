//! The worker host: a number of slots, each receiving a message from the broker, processing
//! it for a service time drawn from the host's stream, and acknowledging it. A message whose
//! key is the configured poison key always fails: it is given back with a nack whose delay is
//! exponential backoff with full jitter, until the broker dead-letters it.
//!
//! Processing has an effect, recorded in the worker's processed-ids store on the seam's disk
//! (synced before the acknowledgement, so it survives a crash). A message processed before is
//! a duplicate: with idempotency keys on, it is absorbed (acknowledged without a second
//! effect); without, the effect happens again and is counted as a duplicate.
//!
//! Must not: know the broker's state, or keep anything a crash should lose outside memory.

use super::api::QueueMsg;
use super::backoff::Backoff;
use crate::client::Client;
use crate::seam::{Disk, Env};
use crate::server::ServiceTime;
use faultline_vocab::gauge;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// The processed-ids store's file: one `u64 LE` id per effect.
pub const STORE_FILE: &str = "processed-ids";

/// A worker host's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// "host:port" of the broker.
    pub broker: String,
    /// The queue it consumes.
    pub queue: String,
    /// Its consumer group (partitions shared with the group's other consumers); `None`: it
    /// receives from every partition.
    pub group: Option<String>,
    /// Messages processed at once.
    pub slots: usize,
    /// How long processing one message takes.
    pub service_time: ServiceTime,
    /// Messages with this key always fail.
    pub poison: Option<Vec<u8>>,
    /// Whether a message processed before is absorbed rather than processed again.
    pub idempotent: bool,
    /// The retry delay of a failed message.
    pub backoff: Backoff,
    /// How long a slot waits after finding the queue empty.
    pub poll: Duration,
    /// How long a call to the broker may take.
    pub timeout: Duration,
    /// A bug planted on purpose, for chaos tests only (default off): a slot acknowledges a
    /// message as soon as it receives it, before processing it, so a crash while processing
    /// loses the message.
    #[doc(hidden)]
    pub plant_ack_before_process: bool,
}

/// The processed-ids store and the worker's counters.
struct State<E: Env> {
    env: E,
    config: WorkerConfig,
    client: Client<E, QueueMsg>,
    processed: RefCell<BTreeSet<u64>>,
    duplicates: Cell<u64>,
    absorbed: Cell<u64>,
    failed: Cell<u64>,
    rng: RefCell<rand_chacha::ChaCha8Rng>,
    jitter: RefCell<rand_chacha::ChaCha8Rng>,
}

/// Runs a worker until the host stops: recovers its store, then runs its slots.
pub async fn run<E: Env>(env: E, config: WorkerConfig) -> io::Result<()> {
    let (processed, effects) = recover(env.disk().as_ref())?;
    let state = Rc::new(State {
        client: Client::new(env.clone(), config.broker.clone(), config.timeout),
        processed: RefCell::new(processed),
        duplicates: Cell::new(0),
        absorbed: Cell::new(0),
        failed: Cell::new(0),
        rng: RefCell::new(env.rng("service")),
        jitter: RefCell::new(env.rng("backoff")),
        env: env.clone(),
        config,
    });
    state.duplicates.set(effects - state.processed.borrow().len() as u64);
    state.publish();
    for slot in 0..state.config.slots.max(1) {
        let s = state.clone();
        env.spawn(async move { s.slot(slot).await });
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// The ids in the store and the number of effects it records.
pub fn recover(disk: &dyn Disk) -> io::Result<(BTreeSet<u64>, u64)> {
    let bytes = disk.read(STORE_FILE).map_err(io::Error::other)?;
    let whole = bytes.len() / 8 * 8;
    if whole < bytes.len() {
        disk.truncate(STORE_FILE, whole as u64).map_err(io::Error::other)?;
    }
    let ids = bytes[..whole].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
    let mut set = BTreeSet::new();
    let mut effects = 0;
    for id in ids {
        set.insert(id);
        effects += 1;
    }
    Ok((set, effects))
}

impl<E: Env> State<E> {
    async fn slot(&self, slot: usize) {
        let consumer = format!("{}#{slot}", self.env.host_name());
        let group = self.config.group.clone().unwrap_or_default();
        loop {
            let receive = QueueMsg::Receive {
                queue: self.config.queue.clone(),
                group: group.clone(),
                consumer: consumer.clone(),
            };
            match self.client.call(receive, self.config.timeout).await {
                Ok(QueueMsg::Delivered { id, receipt, receives, key, .. }) => {
                    self.process(id, receipt, receives, &key).await;
                }
                Ok(_) | Err(_) => self.env.sleep(self.config.poll).await,
            }
        }
    }

    async fn process(&self, id: u64, receipt: u64, receives: u32, key: &[u8]) {
        let queue = self.config.queue.clone();
        let planted = self.config.plant_ack_before_process;
        if planted {
            let ack = QueueMsg::Ack { queue: queue.clone(), id, receipt };
            let _ = self.client.call(ack, self.config.timeout).await;
        }
        let cost = self.config.service_time.sample(&mut self.rng.borrow_mut());
        self.env.sleep(cost).await;
        if self.config.poison.as_deref() == Some(key) {
            self.failed.set(self.failed.get() + 1);
            self.publish();
            let delay = self.config.backoff.delay(receives.saturating_sub(1), &mut self.jitter.borrow_mut());
            let delay_ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
            let _ = self.client.call(QueueMsg::Nack { queue, id, receipt, delay_ms }, self.config.timeout).await;
            return;
        }
        // The idempotency key is checked where the effect is made, so two slots that hold the
        // same message at once (a lease ran out) make one effect.
        if self.config.idempotent && self.processed.borrow().contains(&id) {
            self.absorbed.set(self.absorbed.get() + 1);
            self.publish();
        } else if self.effect(id).is_err() {
            // The store failed: the effect is not recorded, so the message is not acknowledged.
            return;
        }
        if !planted {
            let _ = self.client.call(QueueMsg::Ack { queue, id, receipt }, self.config.timeout).await;
        }
    }

    /// Performs the message's effect: records its id durably, counting a duplicate.
    fn effect(&self, id: u64) -> io::Result<()> {
        let disk = self.env.disk();
        disk.append(STORE_FILE, &id.to_le_bytes()).map_err(io::Error::other)?;
        disk.sync(STORE_FILE).map_err(io::Error::other)?;
        if !self.processed.borrow_mut().insert(id) {
            self.duplicates.set(self.duplicates.get() + 1);
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        let env = &self.env;
        env.gauge(gauge::WORKER_PROCESSED, self.processed.borrow().len() as i64);
        env.gauge(gauge::WORKER_DUPLICATES, self.duplicates.get() as i64);
        env.gauge(gauge::WORKER_ABSORBED, self.absorbed.get() as i64);
        env.gauge(gauge::WORKER_FAILED, self.failed.get() as i64);
    }
}
