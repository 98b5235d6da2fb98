//! The broker's state machine: named queues of messages with SQS's at-least-once contract.
//!
//! A sent message is accepted (or refused `Full` at the queue's bound) and gets an id that is
//! never reused, even across a crash that lost it (the id carries the broker's incarnation). A
//! receive leases the oldest visible message: it is invisible for the visibility timeout, its
//! receive count grows and it gets a fresh receipt handle. Acknowledging with the current
//! handle deletes it; a handle from an earlier receive is stale and deletes nothing (the
//! message was delivered again since). A lease that runs out makes the message visible again;
//! a message that is visible again after `max_receives` receives goes to the queue's
//! dead-letter queue on the next receive that finds it. A nack makes it visible again after a
//! delay. With a consumer group, a receive takes only from the partitions the consumer owns.
//!
//! Every change that must survive a crash is journaled as a [`Record`] for the log to write.
//! Pure: time is passed in; must not do I/O or read a clock.

use super::QueueConfig;
use super::groups::Groups;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A change to make durable, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A message was accepted.
    Accept {
        /// Its queue.
        queue: String,
        /// Its id.
        id: u64,
        /// Its partition.
        partition: u32,
        /// When it was accepted (broker clock, nanoseconds).
        at_ns: u64,
        /// Its key.
        key: Vec<u8>,
        /// Its body.
        body: Vec<u8>,
    },
    /// A message was acknowledged and deleted.
    Delete {
        /// Its queue.
        queue: String,
        /// Its id.
        id: u64,
    },
    /// A message moved to its queue's dead-letter queue.
    Dead {
        /// Its queue.
        queue: String,
        /// Its id.
        id: u64,
    },
}

/// A message held by a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id.
    pub id: u64,
    /// Its key (the partition is chosen from it).
    pub key: Vec<u8>,
    /// Its body.
    pub body: Vec<u8>,
    /// Its partition.
    pub partition: u32,
    /// When it was accepted.
    pub accepted_at: Duration,
    /// Times it was received.
    pub receives: u32,
    /// When it is (or was) visible again.
    visible_at: Duration,
    /// The handle of its latest receive (0: never received).
    receipt: u64,
    /// Received and not given back by a nack since.
    leased: bool,
}

impl Message {
    /// A message never received, accepted at `accepted_at` and visible from `visible_at`.
    fn fresh(
        id: u64,
        key: Vec<u8>,
        body: Vec<u8>,
        partition: u32,
        accepted_at: Duration,
        visible_at: Duration,
    ) -> Self {
        Message { id, key, body, partition, accepted_at, receives: 0, visible_at, receipt: 0, leased: false }
    }
}

/// What a receive hands a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message's id.
    pub id: u64,
    /// The handle that acknowledges this receive (and no later one).
    pub receipt: u64,
    /// Times the message was received, this time included.
    pub receives: u32,
    /// Its key.
    pub key: Vec<u8>,
    /// Its body.
    pub body: Vec<u8>,
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is at its bound.
    Full,
    /// No queue has that name.
    NoQueue,
}

/// Why an acknowledgement or nack changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    /// The message is gone, or was received again since this handle was given.
    Stale,
    /// No queue has that name.
    NoQueue,
}

/// Counts and ages of one moment, over every queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages waiting to be received (visible now, or delayed by a nack).
    pub depth: u64,
    /// Messages received whose lease has not run out.
    pub inflight: u64,
    /// Age of the oldest message held (not counting dead letters).
    pub oldest_age: Duration,
    /// Messages in dead-letter queues.
    pub dead: u64,
}

#[derive(Debug, Clone)]
struct Queue {
    config: QueueConfig,
    messages: BTreeMap<u64, Message>,
    /// Every held message by (when it is visible next, id).
    timeline: BTreeSet<(Duration, u64)>,
    dead: BTreeMap<u64, Message>,
    /// Ids of held messages received and neither acknowledged nor given back since (their
    /// lease may have run out): where the messages in flight are.
    leased: BTreeSet<u64>,
    groups: Groups,
}

/// The broker: its queues and its counters.
#[derive(Debug, Clone)]
pub struct Broker {
    queues: Vec<Queue>,
    incarnation: u64,
    next_seq: u64,
    next_receipt: u64,
    journal: Vec<Record>,
    /// Messages accepted, since the log began (a crash that lost some forgets them).
    pub accepted: u64,
    /// Messages acknowledged and deleted, since the log began.
    pub deleted: u64,
    /// Receives of a message received before, since start.
    pub redeliveries: u64,
    /// Sends refused `Full`, since start.
    pub refused: u64,
}

/// Bits of an id below the broker's incarnation.
const SEQ_BITS: u32 = 40;

impl Broker {
    /// A broker with `queues`, in its `incarnation`-th life (from 1; ids of different lives
    /// never collide).
    pub fn new(queues: &[QueueConfig], incarnation: u64) -> Self {
        let queues = queues
            .iter()
            .map(|config| Queue {
                config: QueueConfig { partitions: config.partitions.max(1), ..config.clone() },
                messages: BTreeMap::new(),
                timeline: BTreeSet::new(),
                dead: BTreeMap::new(),
                leased: BTreeSet::new(),
                groups: Groups::default(),
            })
            .collect();
        Self {
            queues,
            incarnation,
            next_seq: 1,
            next_receipt: 1,
            journal: Vec::new(),
            accepted: 0,
            deleted: 0,
            redeliveries: 0,
            refused: 0,
        }
    }

    /// Replays recovered records (visible at `now`); records of an unknown queue are skipped.
    /// The journal stays empty: these are already in the log.
    pub fn replay(&mut self, records: Vec<Record>, now: Duration) {
        for record in records {
            match record {
                Record::Accept { queue, id, partition, at_ns, key, body } => {
                    let Some(q) = self.queue_mut(&queue) else { continue };
                    let at = Duration::from_nanos(at_ns);
                    q.admit(Message::fresh(id, key, body, partition, at, now));
                    self.accepted += 1;
                }
                Record::Delete { queue, id } => {
                    if self.queue_mut(&queue).and_then(|q| q.remove(id)).is_some() {
                        self.deleted += 1;
                    }
                }
                Record::Dead { queue, id } => {
                    if let Some(q) = self.queue_mut(&queue)
                        && let Some(m) = q.remove(id)
                    {
                        q.dead.insert(id, m);
                    }
                }
            }
        }
    }

    fn queue_mut(&mut self, name: &str) -> Option<&mut Queue> {
        self.queues.iter_mut().find(|q| q.config.name == name)
    }

    /// Takes the records journaled since the last call, for the log.
    pub fn take_journal(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.journal)
    }

    /// Whether `queue` could take a message now.
    pub fn has_room(&self, queue: &str) -> bool {
        self.queues.iter().find(|q| q.config.name == queue).is_some_and(|q| q.has_room())
    }

    /// Accepts a message into `queue` at `now`; returns its id and partition.
    pub fn send(&mut self, queue: &str, key: &[u8], body: &[u8], now: Duration) -> Result<(u64, u32), SendError> {
        let id = (self.incarnation << SEQ_BITS) | self.next_seq;
        let Some(q) = self.queues.iter_mut().find(|q| q.config.name == queue) else {
            return Err(SendError::NoQueue);
        };
        if !q.has_room() {
            self.refused += 1;
            return Err(SendError::Full);
        }
        let partition = partition_of(key, id, q.config.partitions);
        q.admit(Message::fresh(id, key.to_vec(), body.to_vec(), partition, now, now));
        self.next_seq += 1;
        self.accepted += 1;
        let at_ns = now.as_nanos() as u64;
        let record =
            Record::Accept { queue: queue.to_string(), id, partition, at_ns, key: key.to_vec(), body: body.to_vec() };
        self.journal.push(record);
        Ok((id, partition))
    }

    /// Leases the oldest visible message of `queue` at `now` (of the partitions `consumer`, a
    /// (group, name) pair, owns in its group, when given): `Ok(None)` when there is none.
    pub fn receive(
        &mut self,
        queue: &str,
        consumer: Option<(&str, &str)>,
        now: Duration,
    ) -> Result<Option<Delivery>, AckError> {
        let receipt = self.next_receipt;
        let Some(q) = self.queues.iter_mut().find(|q| q.config.name == queue) else {
            return Err(AckError::NoQueue);
        };
        let owned = consumer
            .map(|(group, name)| q.groups.heartbeat(group, name, q.config.partitions, q.config.session_timeout, now));
        let mut found = None;
        let mut dead = Vec::new();
        for &(visible_at, id) in &q.timeline {
            if visible_at > now {
                break;
            }
            let m = &q.messages[&id];
            if owned.as_ref().is_some_and(|parts| !parts.contains(&m.partition)) {
                continue;
            }
            if q.config.max_receives > 0 && m.receives >= q.config.max_receives {
                dead.push(id);
                continue;
            }
            found = Some(id);
            break;
        }
        for id in dead {
            if let Some(m) = q.remove(id) {
                q.dead.insert(id, m);
                self.journal.push(Record::Dead { queue: queue.to_string(), id });
            }
        }
        let Some(id) = found else { return Ok(None) };
        let visible_at = now + q.config.visibility;
        let m = q.messages.get_mut(&id).expect("a message on the timeline is held");
        q.timeline.remove(&(m.visible_at, id));
        q.timeline.insert((visible_at, id));
        if m.receives > 0 {
            self.redeliveries += 1;
        }
        m.receives += 1;
        m.visible_at = visible_at;
        m.receipt = receipt;
        m.leased = true;
        q.leased.insert(id);
        self.next_receipt += 1;
        Ok(Some(Delivery { id, receipt, receives: m.receives, key: m.key.clone(), body: m.body.clone() }))
    }

    /// Deletes message `id` of `queue` if `receipt` is its latest receive's handle.
    pub fn ack(&mut self, queue: &str, id: u64, receipt: u64) -> Result<(), AckError> {
        let q = self.queue_mut(queue).ok_or(AckError::NoQueue)?;
        if q.messages.get(&id).is_none_or(|m| m.receipt != receipt) {
            return Err(AckError::Stale);
        }
        q.remove(id);
        self.deleted += 1;
        self.journal.push(Record::Delete { queue: queue.to_string(), id });
        Ok(())
    }

    /// Gives message `id` of `queue` back, visible again after `delay`, if `receipt` is its
    /// latest receive's handle.
    pub fn nack(&mut self, queue: &str, id: u64, receipt: u64, delay: Duration, now: Duration) -> Result<(), AckError> {
        let q = self.queue_mut(queue).ok_or(AckError::NoQueue)?;
        let Some(m) = q.messages.get_mut(&id).filter(|m| m.receipt == receipt) else {
            return Err(AckError::Stale);
        };
        q.timeline.remove(&(m.visible_at, id));
        m.visible_at = now + delay;
        m.leased = false;
        q.leased.remove(&id);
        q.timeline.insert((m.visible_at, id));
        Ok(())
    }

    /// The counts and ages at `now`, over every queue.
    pub fn stats(&self, now: Duration) -> Stats {
        let mut s = Stats::default();
        for q in &self.queues {
            let inflight = q.leased.iter().filter(|id| q.messages[*id].visible_at > now).count() as u64;
            s.inflight += inflight;
            s.depth += q.messages.len() as u64 - inflight;
            s.dead += q.dead.len() as u64;
            if let Some(m) = q.messages.values().next() {
                s.oldest_age = s.oldest_age.max(now.saturating_sub(m.accepted_at));
            }
        }
        s
    }

    /// The ids in `queue`'s dead-letter queue, in order.
    pub fn dead_letters(&self, queue: &str) -> Vec<u64> {
        self.queues.iter().find(|q| q.config.name == queue).map_or(Vec::new(), |q| q.dead.keys().copied().collect())
    }

    /// The ids `queue` holds (not dead), in order.
    pub fn held(&self, queue: &str) -> Vec<u64> {
        self.queues.iter().find(|q| q.config.name == queue).map_or(Vec::new(), |q| q.messages.keys().copied().collect())
    }
}

impl Queue {
    /// Takes in a message, visible (in the timeline) from its `visible_at`.
    fn admit(&mut self, m: Message) {
        self.timeline.insert((m.visible_at, m.id));
        self.messages.insert(m.id, m);
    }

    fn has_room(&self) -> bool {
        self.config.max_depth == 0 || self.messages.len() < self.config.max_depth
    }

    fn remove(&mut self, id: u64) -> Option<Message> {
        let m = self.messages.remove(&id)?;
        self.timeline.remove(&(m.visible_at, id));
        self.leased.remove(&id);
        Some(m)
    }
}

/// The partition of a message: its key's hash, or (keyless) its id, modulo the partitions.
pub fn partition_of(key: &[u8], id: u64, partitions: u32) -> u32 {
    let h = if key.is_empty() { id } else { xxhash_rust::xxh3::xxh3_64(key) };
    (h % u64::from(partitions.max(1))) as u32
}
