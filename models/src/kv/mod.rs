//! A replicated key-value store in the manner of PostgreSQL streaming replication run by
//! Patroni, or MySQL with semi-synchronous replication: a primary with a write-ahead log, and
//! replicas that apply the log it ships; epochs, leases and truncation make failover safe.
//!
//! Every node runs the same code (`node.rs`, with the primary side in `primary.rs` and the
//! replica side in `replica.rs`) and speaks the messages of [`api`] (its data API, replication
//! and failover control); its role is one of [`NodeRole`](api::NodeRole) `Primary`, `Replica`
//! or `Fenced`, and changes at run time.
//!
//! **Log and epochs.** Every `Put`/`Delete` on the primary gets the next LSN (dense, from 1) and
//! the primary's epoch, is appended to the log file "wal" on `env.disk()` (synced under
//! [`FsyncPolicy::Always`]) and applied in one synchronous step, then acknowledged with
//! `Written { lsn, epoch }`. Each node also keeps the highest epoch it has seen in a small,
//! always-synced file "epoch", so a restart never forgets it. On start a node replays its log
//! (a torn or corrupt tail is dropped) and knows `max(epoch file, last entry's epoch)`.
//!
//! **Starting roles.** [`KvNode::primary`] / [`KvNode::replica`] give the configured role:
//! - Unmanaged ([`KvConfig::managed`] false, no controller): a configured primary starts a new
//!   epoch every time it starts (known + 1; 1 on first boot), like a new PostgreSQL timeline.
//!   Writes it lost because they were never synced thus show up as a lineage break: its LSNs
//!   continue from the recovered end under a new epoch. It needs no lease.
//! - Managed: on first boot with an empty log and no known epoch, the configured primary is
//!   the primary of epoch 1; on any later start it comes up `Fenced`: it serves reads, refuses
//!   writes with `NotPrimary` and waits for `Promote` or `Follow`.
//! - A configured replica follows its configured primary from the start, managed or not.
//!
//! Every role taken (at start too), every epoch learnt while keeping a role, and every
//! truncation is reported through [`Env::role`] with the node's epoch, last LSN and that
//! entry's epoch, so checkers can follow each log's lineage; state "role" carries the name.
//!
//! **Control messages** (from a failover controller or an operator; all reply `Status` with
//! role, epoch, last LSN, its epoch and, on a replica, `lag_ns`):
//! - `Check { epoch, lease_ms }`: epoch 0 is a pure probe. A newer epoch is recorded, and a
//!   primary that sees one steps down to `Fenced`. To the managed primary of exactly that epoch,
//!   `lease_ms > 0` grants a write lease until its own `now + lease_ms`. A managed primary
//!   without a valid lease keeps its role but refuses writes with `NotPrimary` ("no lease",
//!   "lease expired").
//! - `Promote { epoch }`: only for an epoch newer than the node knows (else `Error Fenced`):
//!   it stops following and becomes the primary of that epoch. Decision: a promoted managed
//!   node gets no lease of its own; the controller grants one with its next `Check` (it sends
//!   one right after promoting), so every lease comes from the one party that knows when the
//!   old primary's lease has run out.
//! - `Follow { primary, epoch }`: for an epoch not older than the node's (else `Error
//!   Fenced`): it becomes a replica of that address, demoting itself if it was primary. A new
//!   address starts a new follow loop and ends the old one (a generation counter); the same
//!   address again keeps the running loop.
//!
//! **Replication stream.** A replica connects, sends `Subscribe { from_lsn: applied + 1,
//! last_epoch }` (`last_epoch`: the epoch of its entry at `applied`) with a frame id hashed
//! from its host name, and the primary checks that their logs agree there using its epoch
//! history (the first LSN of each epoch). If they do, it streams `Log { entries, head }`
//! batches (recent entries from memory, older ones from its log file) and an empty `Log` every
//! [`HEARTBEAT`] when idle. If not, it replies `Truncate { to_lsn, epoch }`: the replica cuts
//! its log back to `to_lsn` durably, rebuilds its map by replaying, reports state "truncated"
//! ("dropped N entries after lsn X ...") and subscribes again at once. If the primary holds
//! entries of the subscriber's `last_epoch`, `to_lsn` is the last of them (the same epoch at
//! the same LSN means the same history, as every epoch has a single writer); otherwise it is
//! the end of the primary's entries of older epochs, and the next subscription checks again.
//! Each round strictly shortens the replica's log, and a replica is never cut below the prefix
//! both logs share. A subscriber whose `last_epoch` is newer than the primary's epoch proves a
//! newer primary exists: the primary steps down to `Fenced` and refuses.
//!
//! **Replica pipeline.** Receiving and applying are separate: a receiver reads frames, stamps
//! each with its arrival time into a queue of [`APPLY_QUEUE`] frames (full: it stops reading,
//! and the primary's stream backs up), and an applier applies each batch no earlier than
//! arrival + knob `ApplyDelay`, spending [`KvConfig::apply_cost`] per new entry, then sends
//! `Applied { lsn }`. That is how a fixed replication delay is injected and how lag grows when
//! writes outpace `1 / apply_cost`. `lag_ns` is how long the oldest LSN the replica has heard
//! of (from `head`) and not applied has been waiting; 0 when caught up. A replica that loses
//! its primary reconnects with jittered exponential backoff and drops a silent stream after
//! [`REPLICA_IDLE_TIMEOUT`].
//!
//! **Acknowledgement modes** ([`Replication`]), after the entry is logged and applied on the
//! primary and after knob `DiskDelay` (a slow disk, slept after every log append on primary
//! and replica, the state change being done before): `Async` acknowledges at once; `SemiSync`
//! waits for one replica's `Applied` up to its timeout, then acknowledges anyway and counts
//! the fallback; `Sync { replicas: n }` waits for n replicas however long it takes. A waiting
//! write whose node loses its role, epoch or lease is answered `Error Fenced`: it stays in the
//! log but was never acknowledged.
//!
//! **Reads.** `Get { key, min_lsn }`: a primary always serves; a replica or fenced node whose
//! applied LSN is below the read token `min_lsn` refuses with `NotPrimary` and a detail that
//! starts "behind read token", else it replies `Value { value, lsn: applied }`.
//!
//! Observability: gauges "lsn" (last LSN in the log), "lag_ms" (replica), "replica_lag_lsn"
//! (primary: the largest lag over the replicas that subscribed in its epoch, including ones
//! currently disconnected), "semisync_fallbacks", "epoch", "wal_dropped_bytes" after recovery;
//! states "role" and "truncated"; [`Env::role`] as above.
//!
//! Decisions and limits, written down: no checkpoints (the log is the whole history, and a
//! truncation replays it); the epoch file is append-only and never compacted (epochs change
//! rarely); a semi-sync primary waits out the timeout on every write while no replica keeps up
//! (MySQL turns semi-sync off until one catches up; here each write pays); a replica's lag only
//! counts LSNs it has heard of, so a replica cut off from its primary reports the lag it had
//! (routers should also treat an unreachable primary link as staleness); leases trust the
//! node's own clock, so the controller must leave margin for skew. This module must not know
//! about caches, apps or simulation.

pub mod api;
mod epoch_file;
#[cfg(test)]
mod failover_tests;
mod history;
mod node;
mod primary;
mod replica;
mod store;
pub(crate) mod wal;

use crate::proto::ErrorCode;
use crate::seam::{DiskError, Env};
pub use node::KvNode;

use node::{Node, Start};
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
/// The most replicas a primary tracks; further subscribers are refused with `Overloaded`.
pub const MAX_REPLICAS: usize = 64;
/// The most received `Log` frames a replica holds before applying them; past this it stops
/// reading and the primary's stream backs up through the connection.
pub const APPLY_QUEUE: usize = 64;

/// When the write-ahead log is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Sync before acknowledging each write (a replica: each applied batch).
    #[default]
    Always,
    /// Never sync: acknowledged writes can be lost in a crash.
    Never,
}

/// When a primary acknowledges a write, relative to its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replication {
    /// As soon as it is in the primary's own log.
    #[default]
    Async,
    /// Once at least one replica applied it, or after `timeout` anyway (counted in the gauge
    /// "semisync_fallbacks"), like MySQL's semi-synchronous replication.
    SemiSync {
        /// The longest a write waits for a replica.
        timeout: Duration,
    },
    /// Once at least `replicas` replicas applied it, however long that takes (the caller's own
    /// timeout applies), like PostgreSQL's `synchronous_standby_names`.
    Sync {
        /// How many replicas must have applied a write.
        replicas: usize,
    },
}

/// Configuration of a kv node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvConfig {
    /// Durability of the write-ahead log.
    pub fsync: FsyncPolicy,
    /// When a primary acknowledges writes.
    pub replication: Replication,
    /// Whether a failover controller runs the group: a managed primary writes only under a
    /// lease, and a managed node that restarts waits to be told its role.
    pub managed: bool,
    /// How long a replica spends applying one shipped entry.
    pub apply_cost: Duration,
    /// Whether the node counts the reads of each stored key it holds at once (the gauge
    /// `key_reads_peak`: a stampede as the database sees it). Reads of a key it does not hold
    /// are not counted: no cache keeps an absent key, so no protection could spare them.
    pub count_key_reads: bool,
    /// A bug planted on purpose, for chaos tests only (default off): a replica answers reads
    /// and probes as of the last LSN it *received* instead of the last it *applied* (the mix-up
    /// of PostgreSQL's `pg_last_wal_receive_lsn` with `pg_last_wal_replay_lsn`), so a read token
    /// it has received but not applied lets a stale read through.
    #[doc(hidden)]
    pub plant_reads_as_received: bool,
    /// A bug planted on purpose, for chaos tests only (default off): a managed primary that was
    /// granted a lease once never checks that it ran out, so a deposed primary cut off from its
    /// controller goes on accepting writes after another primary was promoted.
    #[doc(hidden)]
    pub plant_ignore_lease_expiry: bool,
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
    /// A shipped log entry carries an epoch older than the entry before it.
    #[error("log entry {lsn} of epoch {epoch} follows one of epoch {last}")]
    EpochOrder {
        /// The entry's LSN.
        lsn: u64,
        /// Its epoch.
        epoch: u64,
        /// The epoch of the entry before it.
        last: u64,
    },
    /// The primary asked to truncate at or past the replica's end.
    #[error("truncate to lsn {to_lsn} drops nothing from a log at lsn {applied}")]
    BadTruncate {
        /// The LSN the primary asked for.
        to_lsn: u64,
        /// The replica's last LSN.
        applied: u64,
    },
    /// The node stopped following this primary (a promotion or a new `Follow`).
    #[error("no longer following this primary")]
    Superseded,
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

impl<E: Env> KvNode<E> {
    /// Recovers the log and takes the configured primary's role (see the module docs for the
    /// epoch it starts in, or whether it starts fenced). Serve it with [`crate::server::serve`].
    pub fn primary(env: E, config: KvConfig) -> io::Result<Self> {
        Ok(Self(Rc::new(Node::open(env, config, Start::Primary, RECENT_WINDOW)?)))
    }

    /// Recovers the log and follows the primary at `primary_addr` ("host:port"), serving reads.
    /// The follow loop is spawned now and runs once the caller yields (as it serves).
    pub fn replica(env: E, config: KvConfig, primary_addr: String) -> io::Result<Self> {
        let node = Rc::new(Node::open(env.clone(), config, Start::Replica(primary_addr.clone()), RECENT_WINDOW)?);
        let generation = node.follow_generation();
        env.spawn(replica::follow(node.clone(), primary_addr, generation));
        Ok(Self(node))
    }
}

/// The id a replica puts on its `Subscribe` and `Applied` frames: FNV-1a of its host name, so
/// it stays the same across reconnects and restarts.
pub(crate) fn replica_id(host_name: &str) -> u64 {
    host_name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests;
