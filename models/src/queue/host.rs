//! The broker host: the [`Broker`] state machine behind the framed protocol, its [`Log`] on the
//! seam's disk (recovered at start, synced as the fsync choice says) and its gauges.
//!
//! A send that finds its queue full is answered `Full` at once, or, with a send wait, waits
//! for room (woken by every delete or dead letter) until the wait passes. Under fsync
//! "always" a send's record is durable before `Sent` goes out.
//!
//! Must not: decide anything the state machine decides, or touch a clock but the seam's.

use super::api::QueueMsg;
use super::broker::{AckError, Broker, SendError};
use super::log::Log;
use super::{QueueConfig, QueueFsync};
use crate::proto::{ErrorCode, Framed};
use crate::seam::{self, Env};
use crate::server::{Handler, Replier};
use faultline_vocab::gauge;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often the broker publishes its gauges besides after every request (the oldest
/// message's age grows, and leases run out, with no request).
const GAUGE_EVERY: Duration = Duration::from_millis(10);

/// The broker host's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Its queues.
    pub queues: Vec<QueueConfig>,
    /// When its log is made durable.
    pub fsync: QueueFsync,
    /// How long a send to a full queue waits for room before it is answered `Full`; `None`:
    /// it is answered at once.
    pub send_wait: Option<Duration>,
}

struct Inner<E: Env> {
    env: E,
    broker: RefCell<Broker>,
    log: Log,
    room: Notify,
}

/// The broker host's handler (cheap to clone: its state is shared).
pub struct BrokerHost<E: Env> {
    inner: Rc<Inner<E>>,
    send_wait: Option<Duration>,
    /// The first queue's name: where a message or receive naming no queue goes.
    first: String,
}

impl<E: Env> BrokerHost<E> {
    /// Recovers the broker from its log on `env`'s disk and starts its sync and gauge tasks.
    pub fn start(env: E, config: BrokerConfig) -> io::Result<Self> {
        let (log, incarnation, records) = Log::recover(env.disk(), config.fsync).map_err(io::Error::other)?;
        let mut broker = Broker::new(&config.queues, incarnation);
        broker.replay(records, env.now());
        let inner = Rc::new(Inner { env: env.clone(), broker: RefCell::new(broker), log, room: Notify::new() });
        inner.publish();
        if let QueueFsync::Interval(every) = config.fsync {
            let i = inner.clone();
            env.spawn(async move {
                loop {
                    i.env.sleep(every).await;
                    // A failed sync leaves the tail unsynced; the next one tries again.
                    let _ = i.log.sync();
                }
            });
        }
        let i = inner.clone();
        env.spawn(async move {
            loop {
                i.env.sleep(GAUGE_EVERY).await;
                i.publish();
            }
        });
        let first = config.queues.first().map(|q| q.name.clone()).unwrap_or_default();
        Ok(Self { inner, send_wait: config.send_wait, first })
    }

    /// The state machine, for tests.
    pub fn broker(&self) -> std::cell::Ref<'_, Broker> {
        self.inner.broker.borrow()
    }

    async fn send(&self, queue: String, key: Vec<u8>, body: Vec<u8>) -> QueueMsg {
        let i = &self.inner;
        let start = i.env.now();
        loop {
            let room = i.room.notified();
            let waited = i.env.now().saturating_sub(start);
            let left = self.send_wait.map(|w| w.saturating_sub(waited)).unwrap_or_default();
            if !left.is_zero() && !i.broker.borrow().has_room(&queue) {
                // Woken by a removal, or the wait ends: either way look again.
                let _ = seam::timeout(&i.env, left, room).await;
                continue;
            }
            let sent = i.broker.borrow_mut().send(&queue, &key, &body, i.env.now());
            let reply = match sent {
                Ok((id, partition)) => match i.flush() {
                    Ok(()) => QueueMsg::Sent { id, partition },
                    Err(e) => e,
                },
                Err(SendError::Full) => QueueMsg::Full { depth: i.broker.borrow().stats(i.env.now()).depth as u32 },
                Err(SendError::NoQueue) => no_queue(&queue),
            };
            i.publish();
            return reply;
        }
    }
}

impl<E: Env> BrokerHost<E> {
    /// The request with an empty queue name replaced by the first queue's.
    fn named(&self, mut msg: QueueMsg) -> QueueMsg {
        match &mut msg {
            QueueMsg::Send { queue, .. }
            | QueueMsg::Receive { queue, .. }
            | QueueMsg::Ack { queue, .. }
            | QueueMsg::Nack { queue, .. } => {
                if queue.is_empty() {
                    queue.clone_from(&self.first);
                }
            }
            QueueMsg::Sent { .. }
            | QueueMsg::Full { .. }
            | QueueMsg::Delivered { .. }
            | QueueMsg::Empty { .. }
            | QueueMsg::Acked { .. }
            | QueueMsg::Error { .. } => {}
        }
        msg
    }
}

impl<E: Env> Clone for BrokerHost<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), send_wait: self.send_wait, first: self.first.clone() }
    }
}

impl<E: Env> Inner<E> {
    /// Writes the journal to the log; on failure, the reply to send instead.
    fn flush(&self) -> Result<(), QueueMsg> {
        let records = self.broker.borrow_mut().take_journal();
        let removed = records.iter().any(|r| !matches!(r, super::broker::Record::Accept { .. }));
        if removed {
            self.room.notify_waiters();
        }
        self.log.append(&records).map_err(|e| QueueMsg::Error { code: ErrorCode::Storage, detail: e.to_string() })
    }

    fn publish(&self) {
        let b = self.broker.borrow();
        let s = b.stats(self.env.now());
        let env = &self.env;
        env.gauge(gauge::QUEUE_DEPTH, s.depth as i64);
        env.gauge(gauge::QUEUE_INFLIGHT, s.inflight as i64);
        env.gauge(gauge::QUEUE_OLDEST_AGE_MS, s.oldest_age.as_millis() as i64);
        env.gauge(gauge::QUEUE_DLQ, s.dead as i64);
        env.gauge(gauge::QUEUE_ACCEPTED, b.accepted as i64);
        env.gauge(gauge::QUEUE_DELETED, b.deleted as i64);
        env.gauge(gauge::QUEUE_REDELIVERIES, b.redeliveries as i64);
        env.gauge(gauge::QUEUE_FULL, b.refused as i64);
    }
}

fn no_queue(queue: &str) -> QueueMsg {
    QueueMsg::Error { code: ErrorCode::BadRequest, detail: format!("no queue named {queue:?}") }
}

fn acked(id: u64, result: Result<(), AckError>, queue: &str) -> QueueMsg {
    match result {
        Ok(()) => QueueMsg::Acked { id, done: 1 },
        Err(AckError::Stale) => QueueMsg::Acked { id, done: 0 },
        Err(AckError::NoQueue) => no_queue(queue),
    }
}

impl<E: Env> Handler<E> for BrokerHost<E> {
    type Codec = Framed<QueueMsg>;

    async fn handle(&self, msg: QueueMsg, _replier: Replier<E, Framed<QueueMsg>>) -> Option<QueueMsg> {
        let i = &self.inner;
        let msg = self.named(msg);
        let now = i.env.now();
        let reply = match msg {
            QueueMsg::Send { queue, key, body } => return Some(self.send(queue, key, body).await),
            QueueMsg::Receive { queue, group, consumer } => {
                let who = (!group.is_empty()).then_some((group.as_str(), consumer.as_str()));
                let got = i.broker.borrow_mut().receive(&queue, who, now);
                match got {
                    Ok(Some(d)) => QueueMsg::Delivered {
                        id: d.id,
                        receipt: d.receipt,
                        receives: d.receives,
                        key: d.key,
                        body: d.body,
                    },
                    Ok(None) => QueueMsg::Empty { depth: i.broker.borrow().stats(now).depth as u32 },
                    Err(_) => no_queue(&queue),
                }
            }
            QueueMsg::Ack { queue, id, receipt } => {
                let result = i.broker.borrow_mut().ack(&queue, id, receipt);
                acked(id, result, &queue)
            }
            QueueMsg::Nack { queue, id, receipt, delay_ms } => {
                let delay = Duration::from_millis(u64::from(delay_ms));
                let result = i.broker.borrow_mut().nack(&queue, id, receipt, delay, now);
                acked(id, result, &queue)
            }
            QueueMsg::Sent { .. }
            | QueueMsg::Full { .. }
            | QueueMsg::Delivered { .. }
            | QueueMsg::Empty { .. }
            | QueueMsg::Acked { .. }
            | QueueMsg::Error { .. } => {
                QueueMsg::Error { code: ErrorCode::BadRequest, detail: "a reply is not a request".into() }
            }
        };
        let reply = i.flush().err().unwrap_or(reply);
        i.publish();
        Some(reply)
    }
}
