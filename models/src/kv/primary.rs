//! The primary: assigns LSNs, logs before it acknowledges, serves reads, and streams its log
//! to subscribed replicas while tracking how far each has acknowledged.
//!
//! All state changes of a write (log append, map, recent window) happen in one synchronous
//! step with no await in between, so concurrent requests see writes in LSN order. This file
//! must not know about replicas' internals: it only sees `Subscribe` and `Applied` frames.

use super::store::{RecentLog, Store};
use super::wal::Wal;
use super::{HEARTBEAT, KvConfig, KvError, MAX_BATCH, MAX_REPLICAS, RESYNC_MARKER, msg_name};
use crate::proto::{ErrorCode, LogEntry, Msg};
use crate::seam::Env;
use crate::server::{Handler, Replier};
use std::cell::RefCell;
use std::collections::BTreeMap;
use tokio::sync::Notify;

/// The most entries read back from the disk for one lagging replica in one go.
const DISK_CHUNK: usize = 16 * MAX_BATCH;

/// What the primary knows about one replica.
#[derive(Debug, Clone, Copy)]
struct ReplicaSlot {
    /// The highest LSN it acknowledged in its current subscription.
    acked_lsn: u64,
    /// Bumped on every subscription: an older stream for the same replica stops.
    generation: u64,
}

struct State {
    store: Store,
    recent: RecentLog,
    replicas: BTreeMap<u64, ReplicaSlot>,
}

/// A primary node.
pub(crate) struct Primary<E: Env> {
    env: E,
    wal: Wal,
    state: RefCell<State>,
    written: Notify,
}

impl<E: Env> Primary<E> {
    /// Recovers the log from `env.disk()` and reports the role; `window` bounds the entries
    /// kept in memory for replication.
    pub(crate) fn open(env: E, config: KvConfig, window: usize) -> Result<Self, KvError> {
        let (wal, found) = Wal::recover(env.disk(), config.fsync)?;
        let mut store = Store::default();
        let mut recent = RecentLog::new(window);
        let skip = found.entries.len().saturating_sub(window);
        for (i, entry) in found.entries.into_iter().enumerate() {
            store.apply(&entry);
            if i >= skip {
                recent.push(entry);
            }
        }
        env.state("role", "primary");
        env.gauge("lsn", store.lsn() as i64);
        env.gauge("replica_lag_lsn", 0);
        env.gauge("wal_dropped_bytes", found.dropped_bytes as i64);
        let state = RefCell::new(State { store, recent, replicas: BTreeMap::new() });
        Ok(Self { env, wal, state, written: Notify::new() })
    }

    /// The last LSN written.
    #[cfg(test)]
    pub(crate) fn lsn(&self) -> u64 {
        self.state.borrow().store.lsn()
    }

    /// Serves a read: the value and the last LSN.
    pub(crate) fn read(&self, key: &[u8]) -> Msg {
        let state = self.state.borrow();
        Msg::Value { value: state.store.get(key).cloned(), lsn: state.store.lsn() }
    }

    /// Writes `value` (`None` deletes) under `key`: logs it, applies it, wakes the streams.
    pub(crate) fn write(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<u64, KvError> {
        let lsn = {
            let mut state = self.state.borrow_mut();
            let entry = LogEntry { lsn: state.store.lsn() + 1, epoch: 1, key, value };
            self.wal.append(std::slice::from_ref(&entry))?;
            state.store.apply(&entry);
            let lsn = entry.lsn;
            state.recent.push(entry);
            lsn
        };
        self.env.gauge("lsn", lsn as i64);
        self.publish_lag();
        self.written.notify_waiters();
        Ok(lsn)
    }

    /// Registers a subscription of `replica` from `from_lsn`; returns its generation, or the
    /// error reply when it cannot be served.
    fn subscribe(&self, replica: u64, from_lsn: u64) -> Result<u64, Msg> {
        let mut state = self.state.borrow_mut();
        let last = state.store.lsn();
        if from_lsn > last + 1 {
            let detail = format!("subscribe from lsn {from_lsn}, but the log ends at lsn {last}: {RESYNC_MARKER}");
            return Err(Msg::Error { code: ErrorCode::BadRequest, detail });
        }
        if !state.replicas.contains_key(&replica) && state.replicas.len() >= MAX_REPLICAS {
            let detail = format!("already streaming to {MAX_REPLICAS} replicas");
            return Err(Msg::Error { code: ErrorCode::Overloaded, detail });
        }
        let slot = state.replicas.entry(replica).or_insert(ReplicaSlot { acked_lsn: 0, generation: 0 });
        slot.generation += 1;
        slot.acked_lsn = from_lsn.saturating_sub(1);
        let generation = slot.generation;
        drop(state);
        self.publish_lag();
        Ok(generation)
    }

    fn is_current(&self, replica: u64, generation: u64) -> bool {
        self.state.borrow().replicas.get(&replica).is_some_and(|s| s.generation == generation)
    }

    /// Records that `replica` applied everything up to `lsn`.
    pub(crate) fn ack(&self, replica: u64, lsn: u64) {
        let mut state = self.state.borrow_mut();
        let last = state.store.lsn();
        if let Some(slot) = state.replicas.get_mut(&replica) {
            slot.acked_lsn = slot.acked_lsn.max(lsn.min(last));
        }
        drop(state);
        self.publish_lag();
    }

    /// The largest lag over the replicas seen, in LSNs.
    pub(crate) fn lag_lsn(&self) -> u64 {
        let state = self.state.borrow();
        let last = state.store.lsn();
        state.replicas.values().map(|s| last.saturating_sub(s.acked_lsn)).max().unwrap_or(0)
    }

    fn publish_lag(&self) {
        self.env.gauge("replica_lag_lsn", self.lag_lsn() as i64);
    }

    /// The next entries from `from_lsn` on: from memory when the window covers them (up to
    /// [`MAX_BATCH`]), else from the disk (up to [`DISK_CHUNK`]). Empty when caught up.
    pub(crate) fn entries_from(&self, from_lsn: u64) -> Result<Vec<LogEntry>, KvError> {
        let state = self.state.borrow();
        if from_lsn > state.store.lsn() {
            return Ok(Vec::new());
        }
        match state.recent.range(from_lsn, MAX_BATCH) {
            Some(entries) => Ok(entries),
            None => self.wal.read_from(from_lsn, DISK_CHUNK),
        }
    }

    /// Streams the log to the replica that sent `Subscribe` through `replier`, until the
    /// connection fails or a newer subscription of the same replica replaces this one.
    async fn stream(&self, replier: Replier<E>, from_lsn: u64) -> Option<Msg> {
        let replica = replier.id();
        let from_lsn = from_lsn.max(1);
        let generation = match self.subscribe(replica, from_lsn) {
            Ok(generation) => generation,
            Err(reply) => return Some(reply),
        };
        let mut next = from_lsn;
        while self.is_current(replica, generation) {
            let written = self.written.notified();
            let entries = match self.entries_from(next) {
                Ok(entries) => entries,
                Err(e) => return Some(Msg::Error { code: ErrorCode::Storage, detail: e.to_string() }),
            };
            if let Some(last) = entries.last() {
                next = last.lsn + 1;
                for batch in entries.chunks(MAX_BATCH) {
                    replier.send(Msg::Log { entries: batch.to_vec(), head: next - 1 }).await.ok()?;
                }
                continue;
            }
            let heartbeat_due = tokio::select! {
                biased;
                () = written => false,
                () = self.env.sleep(HEARTBEAT) => true,
            };
            if heartbeat_due {
                replier.send(Msg::Log { entries: Vec::new(), head: next - 1 }).await.ok()?;
            }
        }
        None
    }
}

/// The primary's request handler.
pub(crate) struct PrimaryHandler<E: Env>(pub(crate) std::rc::Rc<Primary<E>>);

impl<E: Env> Handler<E> for PrimaryHandler<E> {
    async fn handle(&self, msg: Msg, replier: Replier<E>) -> Option<Msg> {
        let primary = &self.0;
        let written = |result: Result<u64, KvError>| match result {
            Ok(lsn) => Msg::Written { lsn, epoch: 1 },
            Err(e) => Msg::Error { code: ErrorCode::Storage, detail: e.to_string() },
        };
        match msg {
            Msg::Get { key, .. } => Some(primary.read(&key)),
            Msg::Put { key, value } => Some(written(primary.write(key, Some(value)))),
            Msg::Delete { key } => Some(written(primary.write(key, None))),
            Msg::Subscribe { from_lsn, .. } => primary.stream(replier, from_lsn).await,
            Msg::Applied { lsn } => {
                primary.ack(replier.id(), lsn);
                None
            }
            other => {
                let detail = format!("a kv primary does not serve {}", msg_name(&other));
                Some(Msg::Error { code: ErrorCode::BadRequest, detail })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::FsyncPolicy;
    use crate::seam::{MemDisk, TokioEnv};
    use std::rc::Rc;

    fn env(disk: &Rc<MemDisk>) -> TokioEnv {
        TokioEnv::with_disk("primary", "127.0.0.1", 1, disk.clone())
    }

    fn open(disk: &Rc<MemDisk>, fsync: FsyncPolicy, window: usize) -> Primary<TokioEnv> {
        Primary::open(env(disk), KvConfig { fsync }, window).unwrap()
    }

    fn value(primary: &Primary<TokioEnv>, key: &str) -> Option<Vec<u8>> {
        match primary.read(key.as_bytes()) {
            Msg::Value { value, .. } => value,
            other => panic!("a read answers Value, not {other:?}"),
        }
    }

    fn write_three(primary: &Primary<TokioEnv>) {
        assert_eq!(primary.write(b"a".to_vec(), Some(b"1".to_vec())).unwrap(), 1);
        assert_eq!(primary.write(b"b".to_vec(), Some(b"2".to_vec())).unwrap(), 2);
        assert_eq!(primary.write(b"a".to_vec(), None).unwrap(), 3);
    }

    #[test]
    fn synced_writes_survive_a_crash_and_lsns_continue() {
        let disk = Rc::new(MemDisk::new());
        write_three(&open(&disk, FsyncPolicy::Always, 10));
        disk.crash();
        let primary = open(&disk, FsyncPolicy::Always, 10);
        assert_eq!(primary.lsn(), 3);
        assert_eq!(value(&primary, "a"), None);
        assert_eq!(value(&primary, "b"), Some(b"2".to_vec()));
        assert_eq!(primary.write(b"c".to_vec(), Some(b"3".to_vec())).unwrap(), 4);
    }

    #[test]
    fn unsynced_writes_are_lost_in_a_crash() {
        let disk = Rc::new(MemDisk::new());
        write_three(&open(&disk, FsyncPolicy::Never, 10));
        assert!(disk.unsynced_bytes() > 0);
        disk.crash();
        let primary = open(&disk, FsyncPolicy::Never, 10);
        assert_eq!(primary.lsn(), 0);
        assert_eq!(value(&primary, "b"), None);
    }

    #[test]
    fn unsynced_writes_survive_a_clean_restart() {
        let disk = Rc::new(MemDisk::new());
        write_three(&open(&disk, FsyncPolicy::Never, 10));
        let primary = open(&disk, FsyncPolicy::Never, 10);
        assert_eq!(primary.lsn(), 3);
        assert_eq!(value(&primary, "b"), Some(b"2".to_vec()));
    }

    #[test]
    fn old_entries_come_from_the_disk_and_new_ones_from_memory() {
        let disk = Rc::new(MemDisk::new());
        let primary = open(&disk, FsyncPolicy::Always, 2);
        for i in 0..5u8 {
            primary.write(vec![i], Some(vec![i])).unwrap();
        }
        let lsns = |v: Vec<LogEntry>| v.iter().map(|e| e.lsn).collect::<Vec<_>>();
        assert_eq!(lsns(primary.entries_from(1).unwrap()), vec![1, 2, 3, 4, 5]);
        assert_eq!(lsns(primary.entries_from(4).unwrap()), vec![4, 5]);
        assert_eq!(lsns(primary.entries_from(6).unwrap()), Vec::<u64>::new());
    }

    #[test]
    fn a_subscriber_ahead_of_the_log_is_told_to_resync() {
        let disk = Rc::new(MemDisk::new());
        let primary = open(&disk, FsyncPolicy::Always, 10);
        write_three(&primary);
        assert!(matches!(primary.subscribe(7, 5), Err(Msg::Error { code: ErrorCode::BadRequest, .. })));
        assert_eq!(primary.subscribe(7, 4), Ok(1));
        assert_eq!(primary.lag_lsn(), 0);
    }

    #[test]
    fn lag_is_the_largest_over_replicas_and_a_resubscription_supersedes() {
        let disk = Rc::new(MemDisk::new());
        let primary = open(&disk, FsyncPolicy::Always, 10);
        write_three(&primary);
        assert_eq!(primary.subscribe(1, 1), Ok(1));
        assert_eq!(primary.subscribe(2, 3), Ok(1));
        assert_eq!(primary.lag_lsn(), 3);
        primary.ack(1, 3);
        assert_eq!(primary.lag_lsn(), 1);
        primary.ack(2, 99);
        assert_eq!(primary.lag_lsn(), 0);
        assert_eq!(primary.subscribe(1, 2), Ok(2));
        assert!(!primary.is_current(1, 1));
        assert!(primary.is_current(1, 2));
    }

    #[test]
    fn too_many_replicas_are_refused() {
        let disk = Rc::new(MemDisk::new());
        let primary = open(&disk, FsyncPolicy::Always, 10);
        for replica in 0..MAX_REPLICAS as u64 {
            assert!(primary.subscribe(replica, 1).is_ok());
        }
        let refused = primary.subscribe(u64::MAX, 1);
        assert!(matches!(refused, Err(Msg::Error { code: ErrorCode::Overloaded, .. })));
        assert!(primary.subscribe(0, 1).is_ok(), "a known replica may always resubscribe");
    }
}
