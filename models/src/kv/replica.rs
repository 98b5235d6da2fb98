//! The replica: follows the primary's log over one connection, applies it in LSN order to its
//! own map and log, acknowledges, serves possibly stale reads and refuses writes.
//!
//! The follow loop lives for the host's life: connect, `Subscribe { from_lsn: applied + 1 }`,
//! apply and acknowledge each `Log` frame, and on any failure sleep a jittered, exponentially
//! growing backoff (reset once a stream delivered something) before trying again. This file
//! must not know the primary's internals: only the frames it sends.

use super::store::Store;
use super::wal::Wal;
use super::{KvConfig, KvError, REPLICA_IDLE_TIMEOUT, RESYNC_MARKER, msg_name, replica_id};
use crate::proto::{ErrorCode, Frame, LogEntry, Msg, read_frame, write_frame};
use crate::seam::{Env, timeout};
use crate::server::{Handler, Replier};
use rand::Rng;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// The first reconnect backoff.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The largest reconnect backoff.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A replica node.
pub(crate) struct Replica<E: Env> {
    env: E,
    id: u64,
    wal: Wal,
    store: RefCell<Store>,
}

impl<E: Env> Replica<E> {
    /// Recovers the replica's own log from `env.disk()` and reports the role.
    pub(crate) fn open(env: E, config: KvConfig) -> Result<Self, KvError> {
        let (wal, found) = Wal::recover(env.disk(), config.fsync)?;
        let mut store = Store::default();
        for entry in &found.entries {
            store.apply(entry);
        }
        env.state("role", "replica");
        env.gauge("lsn", store.lsn() as i64);
        env.gauge("wal_dropped_bytes", found.dropped_bytes as i64);
        let id = replica_id(env.host_name());
        Ok(Self { env, id, wal, store: RefCell::new(store) })
    }

    /// The last LSN applied.
    pub(crate) fn applied(&self) -> u64 {
        self.store.borrow().lsn()
    }

    /// Answers a request: reads from the local map, refuses everything else.
    pub(crate) fn answer(&self, msg: Msg) -> Msg {
        match msg {
            Msg::Get { key, .. } => {
                let store = self.store.borrow();
                Msg::Value { value: store.get(&key).cloned(), lsn: store.lsn() }
            }
            Msg::Put { .. } | Msg::Delete { .. } => {
                let detail = format!("{} is a read replica; write to the primary", self.env.host_name());
                Msg::Error { code: ErrorCode::NotPrimary, detail }
            }
            Msg::Subscribe { .. } => {
                let detail = format!("{} is a replica and does not stream its log", self.env.host_name());
                Msg::Error { code: ErrorCode::NotPrimary, detail }
            }
            other => {
                let detail = format!("a kv replica does not serve {}", msg_name(&other));
                Msg::Error { code: ErrorCode::BadRequest, detail }
            }
        }
    }

    /// Applies a shipped batch: entries already applied are skipped, a gap is an error. The
    /// new entries are logged (and synced, per policy) before the map changes. Returns the
    /// applied LSN.
    pub(crate) fn apply(&self, entries: &[LogEntry]) -> Result<u64, KvError> {
        let mut store = self.store.borrow_mut();
        let first_new = entries.iter().position(|e| e.lsn > store.lsn()).unwrap_or(entries.len());
        let fresh = &entries[first_new..];
        for (expected, entry) in (store.lsn() + 1..).zip(fresh) {
            if entry.lsn != expected {
                return Err(KvError::Gap { expected, got: entry.lsn });
            }
        }
        if !fresh.is_empty() {
            self.wal.append(fresh)?;
            for entry in fresh {
                store.apply(entry);
            }
            self.env.gauge("lsn", store.lsn() as i64);
        }
        Ok(store.lsn())
    }

    /// Drops the whole local history (log and map) to resubscribe from LSN 1.
    pub(crate) fn reset(&self) -> Result<(), KvError> {
        let dropped = self.applied();
        self.wal.reset()?;
        *self.store.borrow_mut() = Store::default();
        self.env.gauge("lsn", 0);
        self.env.state("resync", &format!("dropped {dropped} entries ahead of the primary"));
        Ok(())
    }

    /// The whole map (for tests).
    #[cfg(test)]
    pub(crate) fn store(&self) -> Store {
        self.store.borrow().clone()
    }
}

/// Follows the primary at `addr` for as long as the host runs.
pub(crate) async fn follow<E: Env>(replica: Rc<Replica<E>>, addr: String) {
    let mut rng = replica.env.rng("kv-replica-backoff");
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut progressed = false;
        let outcome = follow_once(&replica, &addr, &mut progressed).await;
        if progressed {
            backoff = BACKOFF_MIN;
        }
        let resync = matches!(&outcome, Err(KvError::Rejected { code: ErrorCode::BadRequest, detail })
            if detail.contains(RESYNC_MARKER));
        if resync {
            // A failed reset leaves the log refusing writes; the next stream reports it.
            let _ = replica.reset();
        }
        let half = backoff / 2;
        let jitter = Duration::from_micros(rng.random_range(0..=half.as_micros() as u64));
        replica.env.sleep(half + jitter).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One subscription: connects, subscribes, applies and acknowledges until the stream fails.
/// Sets `progressed` once the primary delivered a frame.
async fn follow_once<E: Env>(replica: &Replica<E>, addr: &str, progressed: &mut bool) -> Result<(), KvError> {
    let env = &replica.env;
    let mut stream = match timeout(env, REPLICA_IDLE_TIMEOUT, env.connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => return Err(KvError::Connect { addr: addr.to_string(), source }),
        Err(_) => {
            let source = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
            return Err(KvError::Connect { addr: addr.to_string(), source });
        }
    };
    let (mut scratch, mut out) = (Vec::with_capacity(1024), Vec::with_capacity(64));
    let subscribe = Frame { id: replica.id, msg: Msg::Subscribe { from_lsn: replica.applied() + 1, last_epoch: 1 } };
    write_frame(&mut stream, &subscribe, &mut out).await?;
    loop {
        let frame = match timeout(env, REPLICA_IDLE_TIMEOUT, read_frame(&mut stream, &mut scratch)).await {
            Err(_) => return Err(KvError::Idle { ms: REPLICA_IDLE_TIMEOUT.as_millis() as u64 }),
            Ok(read) => read?.ok_or(KvError::Closed)?,
        };
        let lsn = match frame.msg {
            Msg::Log { entries, .. } => replica.apply(&entries)?,
            Msg::Error { code, detail } => return Err(KvError::Rejected { code, detail }),
            other => return Err(KvError::Unexpected(msg_name(&other))),
        };
        *progressed = true;
        write_frame(&mut stream, &Frame { id: replica.id, msg: Msg::Applied { lsn } }, &mut out).await?;
    }
}

/// The replica's request handler.
pub(crate) struct ReplicaHandler<E: Env>(pub(crate) Rc<Replica<E>>);

impl<E: Env> Handler<E> for ReplicaHandler<E> {
    async fn handle(&self, msg: Msg, _replier: Replier<E>) -> Option<Msg> {
        match msg {
            // Acknowledgements are one-way; a replica has no one to expect them from.
            Msg::Applied { .. } => None,
            other => Some(self.0.answer(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::FsyncPolicy;
    use crate::kv::primary::Primary;
    use crate::seam::{MemDisk, TokioEnv};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn replica(disk: &Rc<MemDisk>, fsync: FsyncPolicy) -> Replica<TokioEnv> {
        let env = TokioEnv::with_disk("replica", "127.0.0.1", 2, disk.clone());
        Replica::open(env, KvConfig { fsync }).unwrap()
    }

    fn put(lsn: u64, key: &str, value: &str) -> LogEntry {
        LogEntry { lsn, epoch: 1, key: key.into(), value: Some(value.into()) }
    }

    #[test]
    fn duplicates_are_skipped_and_gaps_refused() {
        let r = replica(&Rc::new(MemDisk::new()), FsyncPolicy::Always);
        assert_eq!(r.apply(&[put(1, "a", "1"), put(2, "b", "2")]).unwrap(), 2);
        assert_eq!(r.apply(&[put(1, "a", "1"), put(2, "b", "2"), put(3, "a", "3")]).unwrap(), 3);
        assert!(matches!(r.apply(&[put(5, "c", "5")]), Err(KvError::Gap { expected: 4, got: 5 })));
        assert!(matches!(r.apply(&[put(4, "c", "4"), put(6, "c", "6")]), Err(KvError::Gap { expected: 5, got: 6 })));
        assert_eq!(r.applied(), 3, "a batch with a gap changes nothing");
        assert_eq!(r.apply(&[]).unwrap(), 3);
    }

    #[test]
    fn reads_are_served_and_writes_refused() {
        let r = replica(&Rc::new(MemDisk::new()), FsyncPolicy::Always);
        r.apply(&[put(1, "a", "1")]).unwrap();
        assert_eq!(
            r.answer(Msg::Get { key: b"a".to_vec(), min_lsn: 0 }),
            Msg::Value { value: Some(b"1".to_vec()), lsn: 1 }
        );
        let refused = r.answer(Msg::Put { key: b"a".to_vec(), value: vec![] });
        assert!(matches!(refused, Msg::Error { code: ErrorCode::NotPrimary, .. }));
        let refused = r.answer(Msg::Delete { key: b"a".to_vec() });
        assert!(matches!(refused, Msg::Error { code: ErrorCode::NotPrimary, .. }));
    }

    #[test]
    fn a_synced_replica_survives_a_crash_and_a_reset_forgets_durably() {
        let disk = Rc::new(MemDisk::new());
        replica(&disk, FsyncPolicy::Always).apply(&[put(1, "a", "1"), put(2, "b", "2")]).unwrap();
        disk.crash();
        let r = replica(&disk, FsyncPolicy::Always);
        assert_eq!(r.applied(), 2);
        r.reset().unwrap();
        assert_eq!(r.applied(), 0);
        disk.crash();
        assert_eq!(replica(&disk, FsyncPolicy::Always).applied(), 0);
    }

    /// Ships the primary's log to the replica in chunks of `chunk`, resending the last entry of
    /// each chunk (a duplicate the replica must skip); at most `max_rounds` rounds.
    fn ship(primary: &Primary<TokioEnv>, replica: &Replica<TokioEnv>, chunk: usize, max_rounds: usize) {
        for _ in 0..max_rounds {
            let entries = primary.entries_from(replica.applied() + 1).unwrap();
            if entries.is_empty() {
                return;
            }
            let mut batch = Vec::new();
            if replica.applied() > 0 {
                batch.extend(primary.entries_from(replica.applied()).unwrap().into_iter().take(1));
            }
            batch.extend(entries.into_iter().take(chunk));
            replica.apply(&batch).unwrap();
        }
    }

    proptest! {
        #[test]
        fn a_replica_converges_to_the_primary_and_the_reference(
            ops in proptest::collection::vec((0u8..6, proptest::option::of(any::<u8>())), 0..60),
            chunk in 1usize..9,
            crash_after in 0usize..60,
        ) {
            let primary_disk = Rc::new(MemDisk::new());
            let env = TokioEnv::with_disk("primary", "127.0.0.1", 1, primary_disk);
            let primary = Primary::open(env, KvConfig { fsync: FsyncPolicy::Never }, 8).unwrap();
            let replica_disk = Rc::new(MemDisk::new());
            let mut follower = replica(&replica_disk, FsyncPolicy::Always);
            let mut reference = BTreeMap::new();
            for (i, (key, value)) in ops.iter().enumerate() {
                primary.write(vec![*key], value.map(|v| vec![v])).unwrap();
                match value {
                    Some(v) => reference.insert(vec![*key], vec![*v]),
                    None => reference.remove(&vec![*key]),
                };
                if i == crash_after {
                    ship(&primary, &follower, chunk, 100);
                    let applied = follower.applied();
                    replica_disk.crash();
                    follower = replica(&replica_disk, FsyncPolicy::Always);
                    prop_assert_eq!(follower.applied(), applied);
                }
            }
            ship(&primary, &follower, chunk, 100);
            prop_assert_eq!(follower.applied(), ops.len() as u64);
            let store = follower.store();
            prop_assert_eq!(store.map(), &reference);
            for (key, value) in &reference {
                prop_assert_eq!(primary.read(key), Msg::Value { value: Some(value.clone()), lsn: ops.len() as u64 });
            }
        }
    }
}
