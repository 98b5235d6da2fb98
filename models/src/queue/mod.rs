//! A message queue broker and its consumers: SQS-style at-least-once delivery with visibility
//! timeouts, receipt handles and a dead-letter queue; bounded depth (a `Full` answer, or a
//! send that waits for room); Kafka-style partitions with consumer groups; durability in a
//! log on the seam's disk with the kv store's fsync choices; the broker host serving the
//! framed protocol; and the worker host that receives, processes and acknowledges.
//!
//! - [`broker`]: the broker's state machine, pure (time passed in, no I/O).
//! - [`groups`]: consumer groups: which consumer owns which partition, sessions by heartbeat.
//! - [`backoff`]: exponential backoff with full jitter for a nacked message's retry.
//! - [`log`]: the broker's log on disk: records, checksums, recovery from a torn tail.
//! - [`api`]: the queue's message family on the framed protocol.
//! - [`host`]: the broker host: the state machine behind the framed protocol, its log and gauges.
//! - [`worker`]: the consumer host: slots that receive, process and acknowledge.
//!
//! Must not: know the simulator, or read anything from outside but through `seam::Env`.

pub mod api;
pub mod backoff;
pub mod broker;
pub mod groups;
pub mod host;
pub mod log;
pub mod worker;

#[cfg(test)]
mod tests;

use std::time::Duration;

/// One named queue's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// The queue's name, as producers and consumers name it.
    pub name: String,
    /// Partitions (at least 1). A message goes to the partition its key hashes to.
    pub partitions: u32,
    /// Messages the queue holds at most (not counting its dead-letter queue); 0: no bound.
    pub max_depth: usize,
    /// How long a received message stays invisible to other receivers.
    pub visibility: Duration,
    /// Receives after which a message still not acknowledged goes to the dead-letter queue
    /// instead of being delivered again; 0: never.
    pub max_receives: u32,
    /// How long a consumer of a group may go without a receive before it loses its partitions.
    pub session_timeout: Duration,
}

impl QueueConfig {
    /// A queue named `name` with one partition, no bound, SQS's 30 s visibility timeout, no
    /// dead-letter queue and a 10 s session timeout.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            partitions: 1,
            max_depth: 0,
            visibility: Duration::from_secs(30),
            max_receives: 0,
            session_timeout: Duration::from_secs(10),
        }
    }
}

/// When the broker's log is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueFsync {
    /// Before every answer that changed the log: nothing acknowledged is lost in a crash.
    Always,
    /// Every interval: a crash loses what came since the last sync.
    Interval(Duration),
    /// Never: a crash loses everything since the start.
    Never,
}
