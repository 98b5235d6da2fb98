//! A small replicated key-value store: one primary with a write-ahead log, and asynchronous
//! replicas that apply the log it ships.
//!
//! - [`run_primary`] serves reads and writes. Every `Put`/`Delete` gets the next LSN (dense,
//!   from 1), is appended to the log file "wal" on `env.disk()` (and, with
//!   [`FsyncPolicy::Always`], synced) before it is applied and acknowledged with
//!   `Written { lsn }`. On start the node replays its log; a torn or corrupt tail is dropped.
//! - [`run_replica`] subscribes to the primary (`Subscribe { from_lsn }`, frame id = a stable
//!   id hashed from its host name), applies the pushed `Log { entries }` batches in LSN order to
//!   its own map and log, acknowledges with `Applied { lsn }`, serves possibly stale reads and
//!   refuses writes with `NotPrimary`. It reconnects with jittered exponential backoff.
//! - The primary keeps the last [`RECENT_WINDOW`] entries in memory and reads older ones back
//!   from its log. When idle it sends an empty `Log` every [`HEARTBEAT`], so a replica notices a
//!   dead primary and the primary notices a dead replica.
//!
//! Observability: gauge "lsn" (primary: last LSN; replica: applied LSN), gauge
//! "replica_lag_lsn" on the primary (largest lag over the replicas it has seen, including ones
//! currently disconnected), gauge "wal_dropped_bytes" after recovery, state "role".
//!
//! Decisions and limits, written down: no checkpoints (the log is the whole history); a replica
//! whose `from_lsn` is past the primary's end (the primary lost unsynced writes in a crash) is
//! told so with `BadRequest` and resynchronises from LSN 1, dropping its divergent history; a
//! replica that is no longer ahead by the time it resubscribes is not detected (epochs and
//! fencing will close that hole). This module must not know about caches, apps or simulation.

mod primary;
mod replica;
mod store;
mod wal;

use crate::proto::{ErrorCode, Msg};
use crate::seam::{DiskError, Env};
use crate::server::{Capacity, serve_on};
use primary::{Primary, PrimaryHandler};
use replica::{Replica, ReplicaHandler};
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// Entries the primary keeps in memory for replicas that are nearly caught up.
pub const RECENT_WINDOW: usize = 100_000;
/// The most entries in one `Log` frame.
pub const MAX_BATCH: usize = 256;
/// How often an idle primary tells a subscribed replica it is alive.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a replica waits for any frame before it drops the connection and reconnects.
pub const REPLICA_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// The marker in the primary's `BadRequest` reply that tells a replica ahead of the log to drop
/// its history and resubscribe from LSN 1. Any other refusal leaves the replica's data alone.
pub(crate) const RESYNC_MARKER: &str = "resync from lsn 1";
/// The most replicas a primary tracks; further subscribers are refused with `Overloaded`.
pub const MAX_REPLICAS: usize = 64;

/// When the write-ahead log is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Sync before acknowledging each write (a replica: each applied batch).
    #[default]
    Always,
    /// Never sync: acknowledged writes can be lost in a crash.
    Never,
}

/// Configuration of a kv node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvConfig {
    /// Durability of the write-ahead log.
    pub fsync: FsyncPolicy,
}

/// What can go wrong in a kv node.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The disk under the write-ahead log failed.
    #[error("write-ahead log: {0}")]
    Disk(#[from] DiskError),
    /// The write-ahead log refuses writes after an earlier disk failure.
    #[error("write-ahead log failed earlier and refuses writes until restart")]
    WalFailed,
    /// A shipped log entry skipped LSNs.
    #[error("log gap: expected lsn {expected}, got {got}")]
    Gap {
        /// The LSN that should have come next.
        expected: u64,
        /// The LSN that came.
        got: u64,
    },
    /// The replica could not connect to the primary.
    #[error("connect to primary {addr}: {source}")]
    Connect {
        /// The primary's address.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// The replication stream failed (read, write or a malformed frame).
    #[error("replication stream: {0}")]
    Stream(#[from] io::Error),
    /// The primary sent nothing, not even a heartbeat, within the idle timeout.
    #[error("no frame from the primary in {ms} ms")]
    Idle {
        /// The timeout that passed, in milliseconds.
        ms: u64,
    },
    /// The primary closed the replication stream.
    #[error("the primary closed the replication stream")]
    Closed,
    /// The primary refused the subscription.
    #[error("the primary refused the subscription: {code:?}: {detail}")]
    Rejected {
        /// The primary's error code.
        code: ErrorCode,
        /// The primary's explanation.
        detail: String,
    },
    /// The primary sent a message that has no place in a replication stream.
    #[error("unexpected {0} in the replication stream")]
    Unexpected(&'static str),
}

impl From<KvError> for io::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Stream(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// Binds `port`, recovers the log and serves as the primary until the listener fails.
pub async fn run_primary<E: Env>(env: E, port: u16, capacity: Capacity, config: KvConfig) -> io::Result<()> {
    let listener = env.bind(port).await?;
    run_primary_on(env, listener, capacity, config).await
}

/// Like [`run_primary`], on an already bound listener.
pub async fn run_primary_on<E: Env>(
    env: E,
    listener: E::Listener,
    capacity: Capacity,
    config: KvConfig,
) -> io::Result<()> {
    let primary = Rc::new(Primary::open(env.clone(), config, RECENT_WINDOW)?);
    serve_on(env, listener, capacity, PrimaryHandler(primary)).await
}

/// Binds `port`, recovers the log, follows the primary at `primary_addr` ("host:port") and
/// serves reads until the listener fails.
pub async fn run_replica<E: Env>(
    env: E,
    port: u16,
    capacity: Capacity,
    primary_addr: String,
    config: KvConfig,
) -> io::Result<()> {
    let listener = env.bind(port).await?;
    run_replica_on(env, listener, capacity, primary_addr, config).await
}

/// Like [`run_replica`], on an already bound listener.
pub async fn run_replica_on<E: Env>(
    env: E,
    listener: E::Listener,
    capacity: Capacity,
    primary_addr: String,
    config: KvConfig,
) -> io::Result<()> {
    let replica = Rc::new(Replica::open(env.clone(), config)?);
    env.spawn(replica::follow(replica.clone(), primary_addr));
    serve_on(env, listener, capacity, ReplicaHandler(replica)).await
}

/// The id a replica puts on its `Subscribe` and `Applied` frames: FNV-1a of its host name, so
/// it stays the same across reconnects and restarts.
pub(crate) fn replica_id(host_name: &str) -> u64 {
    host_name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The name of a message's kind, for errors.
pub(crate) fn msg_name(msg: &Msg) -> &'static str {
    msg.name()
}

#[cfg(test)]
mod tests;
