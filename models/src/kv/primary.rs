//! The primary side of a node: assigns LSNs, logs before it acknowledges, waits for replicas
//! as the replication mode asks, and streams its log to subscribed replicas after checking that
//! their logs agree with its own.
//!
//! All state changes of a write (log append, map, recent window, epoch history) happen in one
//! synchronous step with no await in between, so concurrent requests see writes in LSN order;
//! only then does the write wait (a slow disk, replicas). This file must not know about
//! replicas' internals: it only sees `Subscribe` and `Applied` frames.

use super::history::Reconcile;
use super::node::{Node, ReplicaSlot, State};
use super::{HEARTBEAT, KvError, MAX_BATCH, MAX_REPLICAS, Replication};
use crate::kv::api::{LogEntry, Msg, NodeRole};
use crate::proto::{ErrorCode, Framed};
use crate::seam::{Env, Knob};
use crate::server::Replier;
use faultline_vocab::gauge;
use std::time::Duration;

/// The most entries read back from the disk for one lagging replica in one go.
const DISK_CHUNK: usize = 16 * MAX_BATCH;

/// How long a waiting write sleeps at most before it looks again (a wait with no deadline
/// still wakes on every acknowledgement and role change).
const WAIT_TICK: Duration = Duration::from_secs(3600);

impl<E: Env> Node<E> {
    /// Why the node may not write now, or `None` when it may.
    fn refusal(&self, state: &State) -> Option<String> {
        let host = self.env.host_name();
        match state.role {
            NodeRole::Replica => return Some(format!("{host} is a read replica; write to the primary")),
            NodeRole::Fenced => return Some(format!("{host} is fenced in epoch {}", state.epoch)),
            NodeRole::Primary => {}
        }
        if !self.config.managed {
            return None;
        }
        match state.lease_until {
            None => Some(format!("{host} holds no lease in epoch {}", state.epoch)),
            Some(_) if self.config.plant_ignore_lease_expiry => None,
            Some(until) if self.env.now() >= until => Some(format!("{host}: lease expired in epoch {}", state.epoch)),
            Some(_) => None,
        }
    }

    /// Whether the node is still the writable primary of `epoch`.
    fn holds(&self, epoch: u64) -> bool {
        let state = self.state.borrow();
        state.epoch == epoch && self.refusal(&state).is_none()
    }

    /// Logs and applies a write (`None` deletes) in one synchronous step: its LSN and epoch,
    /// or the error reply.
    #[cfg(test)]
    pub(crate) fn append_local(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(u64, u64), Msg> {
        self.append_if(key, value, None)
    }

    /// [`Self::append_local`] under a precondition: with `expected` given, the key must hold
    /// exactly that value (`None`: be absent), checked and written in the same step, so no other
    /// write can come between (compare-and-set); otherwise nothing is written and the reply is a
    /// `CasMismatch` error.
    pub(crate) fn append_if(
        &self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        expected: Option<&Option<Vec<u8>>>,
    ) -> Result<(u64, u64), Msg> {
        let (lsn, epoch) = {
            let mut state = self.state.borrow_mut();
            if let Some(detail) = self.refusal(&state) {
                return Err(Msg::Error { code: ErrorCode::NotPrimary, detail });
            }
            if let Some(expected) = expected {
                let held = state.log.store.get(&key);
                if held != expected.as_ref() {
                    let holds = if held.is_some() { "another value" } else { "nothing" };
                    let detail = format!("{} holds {holds}, not the value expected", String::from_utf8_lossy(&key));
                    return Err(Msg::Error { code: ErrorCode::CasMismatch, detail });
                }
            }
            let entry = LogEntry { lsn: state.log.lsn() + 1, epoch: state.epoch, key, value };
            if let Err(e) = self.wal.append(std::slice::from_ref(&entry)) {
                return Err(Msg::Error { code: ErrorCode::Storage, detail: e.to_string() });
            }
            let written = (entry.lsn, entry.epoch);
            state.log.append(entry);
            written
        };
        self.env.gauge(gauge::LSN, lsn as i64);
        self.publish_lag();
        self.changed.notify_waiters();
        Ok((lsn, epoch))
    }

    /// Serves a `Put` (`Some`), `Delete` (`None`) or, with `expected`, a `Cas`: logs it, waits
    /// for the disk and the replicas as configured, and replies `Written` or the reason it was
    /// not acknowledged.
    pub(crate) async fn write(&self, key: Vec<u8>, value: Option<Vec<u8>>, expected: Option<&Option<Vec<u8>>>) -> Msg {
        let (lsn, epoch) = match self.append_if(key, value, expected) {
            Ok(written) => written,
            Err(reply) => return reply,
        };
        let disk_delay = self.env.knob(Knob::DiskDelay);
        if disk_delay > 0 {
            self.env.sleep(Duration::from_nanos(disk_delay)).await;
        }
        self.replicate(lsn, epoch).await
    }

    /// Waits until the replication mode lets the write at `lsn` be acknowledged.
    pub(crate) async fn replicate(&self, lsn: u64, epoch: u64) -> Msg {
        let (needed, deadline) = match self.config.replication {
            Replication::Async => return Msg::Written { lsn, epoch },
            Replication::SemiSync { timeout } => (1, Some(self.env.now() + timeout)),
            Replication::Sync { replicas } => (replicas, None),
        };
        loop {
            let changed = self.changed.notified();
            if !self.holds(epoch) {
                let detail = format!("lost the primary role or lease of epoch {epoch} before lsn {lsn} replicated");
                return Msg::Error { code: ErrorCode::Fenced, detail };
            }
            if self.acked_by(lsn) >= needed {
                return Msg::Written { lsn, epoch };
            }
            let now = self.env.now();
            if deadline.is_some_and(|d| now >= d) {
                let fallbacks = {
                    let mut state = self.state.borrow_mut();
                    state.semisync_fallbacks += 1;
                    state.semisync_fallbacks
                };
                self.env.gauge(gauge::SEMISYNC_FALLBACKS, fallbacks as i64);
                return Msg::Written { lsn, epoch };
            }
            let lease_left =
                self.state.borrow().lease_until.filter(|_| self.config.managed).map(|t| t.saturating_sub(now));
            let wait =
                [deadline.map(|d| d.saturating_sub(now)), lease_left].into_iter().flatten().min().unwrap_or(WAIT_TICK);
            tokio::select! {
                biased;
                () = changed => {}
                () = self.env.sleep(wait) => {}
            }
        }
    }

    /// How many replicas acknowledged `lsn` or later.
    fn acked_by(&self, lsn: u64) -> usize {
        self.state.borrow().replicas.values().filter(|s| s.acked_lsn >= lsn).count()
    }

    /// Registers a subscription of `replica` that wants the log from `from_lsn` and whose entry
    /// before it is of `last_epoch`: its generation, or the reply that ends the subscription
    /// (a refusal, or `Truncate` when the logs diverge).
    pub(crate) fn subscribe(&self, replica: u64, from_lsn: u64, last_epoch: u64) -> Result<u64, Msg> {
        let mut state = self.state.borrow_mut();
        if state.role != NodeRole::Primary {
            let detail = format!("{} is {} and does not stream its log", self.env.host_name(), state.role.name());
            return Err(Msg::Error { code: ErrorCode::NotPrimary, detail });
        }
        if last_epoch > state.epoch {
            let detail = format!("a subscriber holds entries of epoch {last_epoch} > {}", state.epoch);
            self.step_down(&mut state, last_epoch);
            return Err(Msg::Error { code: ErrorCode::Fenced, detail });
        }
        let from_lsn = from_lsn.max(1);
        if let Reconcile::Truncate(to_lsn) = state.log.history.reconcile(from_lsn, last_epoch) {
            return Err(Msg::Truncate { to_lsn, epoch: state.epoch });
        }
        if !state.replicas.contains_key(&replica) && state.replicas.len() >= MAX_REPLICAS {
            let detail = format!("already streaming to {MAX_REPLICAS} replicas");
            return Err(Msg::Error { code: ErrorCode::Overloaded, detail });
        }
        let slot = state.replicas.entry(replica).or_insert(ReplicaSlot { acked_lsn: 0, generation: 0 });
        slot.generation += 1;
        slot.acked_lsn = from_lsn - 1;
        let generation = slot.generation;
        drop(state);
        self.publish_lag();
        Ok(generation)
    }

    /// Whether the stream of `replica`'s subscription `generation` should go on.
    fn is_current(&self, replica: u64, generation: u64) -> bool {
        let state = self.state.borrow();
        state.role == NodeRole::Primary && state.replicas.get(&replica).is_some_and(|s| s.generation == generation)
    }

    /// Records that `replica` applied everything up to `lsn`.
    pub(crate) fn ack(&self, replica: u64, lsn: u64) {
        let mut state = self.state.borrow_mut();
        if state.role != NodeRole::Primary {
            return;
        }
        let last = state.log.lsn();
        if let Some(slot) = state.replicas.get_mut(&replica) {
            slot.acked_lsn = slot.acked_lsn.max(lsn.min(last));
        }
        drop(state);
        self.publish_lag();
        self.changed.notify_waiters();
    }

    /// The largest lag over the replicas seen in this epoch, in LSNs.
    pub(crate) fn lag_lsn(&self) -> u64 {
        let state = self.state.borrow();
        let last = state.log.lsn();
        state.replicas.values().map(|s| last.saturating_sub(s.acked_lsn)).max().unwrap_or(0)
    }

    /// Publishes the primary's "replica_lag_lsn" gauge.
    pub(crate) fn publish_lag(&self) {
        self.env.gauge(gauge::REPLICA_LAG_LSN, self.lag_lsn() as i64);
    }

    /// The next entries from `from_lsn` on: from memory when the window covers them (up to
    /// [`MAX_BATCH`]), else from the disk (up to [`DISK_CHUNK`]). Empty when caught up.
    pub(crate) fn entries_from(&self, from_lsn: u64) -> Result<Vec<LogEntry>, KvError> {
        let state = self.state.borrow();
        if from_lsn > state.log.lsn() {
            return Ok(Vec::new());
        }
        match state.log.recent.range(from_lsn, MAX_BATCH) {
            Some(entries) => Ok(entries),
            None => {
                let last = state.log.lsn();
                let mut entries = self.wal.read_from(from_lsn, DISK_CHUNK)?;
                entries.retain(|e| e.lsn <= last);
                Ok(entries)
            }
        }
    }

    /// Streams the log to the replica that sent `Subscribe` through `replier`, until the
    /// connection fails, a newer subscription of the same replica replaces this one or the node
    /// stops being the primary.
    pub(crate) async fn stream(&self, replier: Replier<E, Framed<Msg>>, from_lsn: u64, last_epoch: u64) -> Option<Msg> {
        let replica = replier.id();
        let generation = match self.subscribe(replica, from_lsn, last_epoch) {
            Ok(generation) => generation,
            Err(reply) => return Some(reply),
        };
        let mut next = from_lsn.max(1);
        loop {
            let changed = self.changed.notified();
            if !self.is_current(replica, generation) {
                let role = self.state.borrow().role;
                if role == NodeRole::Primary {
                    return None;
                }
                let detail = format!("{} is no longer the primary", self.env.host_name());
                return Some(Msg::Error { code: ErrorCode::NotPrimary, detail });
            }
            let entries = match self.entries_from(next) {
                Ok(entries) => entries,
                Err(e) => return Some(Msg::Error { code: ErrorCode::Storage, detail: e.to_string() }),
            };
            if let Some(last) = entries.last() {
                next = last.lsn + 1;
                let head = self.state.borrow().log.lsn();
                for batch in entries.chunks(MAX_BATCH) {
                    replier.send(Msg::Log { entries: batch.to_vec(), head }).await.ok()?;
                }
                continue;
            }
            let heartbeat_due = tokio::select! {
                biased;
                () = changed => false,
                () = self.env.sleep(HEARTBEAT) => true,
            };
            if heartbeat_due {
                replier.send(Msg::Log { entries: Vec::new(), head: next - 1 }).await.ok()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::node::Start;
    use crate::kv::{FsyncPolicy, KvConfig};
    use crate::seam::MemDisk;
    use crate::testenv::{TestEnv, settle};
    use std::rc::Rc;

    fn open(env: &TestEnv, config: KvConfig, window: usize) -> Node<TestEnv> {
        Node::open(env.clone(), config, Start::Primary, window).unwrap()
    }

    fn lossy() -> KvConfig {
        KvConfig { fsync: FsyncPolicy::Never, ..KvConfig::default() }
    }

    fn value(node: &Node<TestEnv>, key: &str) -> Option<Vec<u8>> {
        match node.read(key.as_bytes(), 0) {
            Msg::Value { value, .. } => value,
            other => panic!("a read answers Value, not {other:?}"),
        }
    }

    fn put(node: &Node<TestEnv>, key: &str) -> Result<(u64, u64), Msg> {
        node.append_local(key.into(), Some(b"v".to_vec()))
    }

    fn write_three(node: &Node<TestEnv>, epoch: u64) {
        assert_eq!(node.append_local(b"a".to_vec(), Some(b"1".to_vec())), Ok((1, epoch)));
        assert_eq!(node.append_local(b"b".to_vec(), Some(b"2".to_vec())), Ok((2, epoch)));
        assert_eq!(node.append_local(b"a".to_vec(), None), Ok((3, epoch)));
    }

    /// A compare-and-set of `key` to `new`, expecting `expected`.
    fn cas(node: &Node<TestEnv>, key: &str, expected: Option<&str>, new: &str) -> Result<(u64, u64), Msg> {
        let expected = expected.map(|v| v.as_bytes().to_vec());
        node.append_if(key.into(), Some(new.as_bytes().to_vec()), Some(&expected))
    }

    fn mismatch(result: Result<(u64, u64), Msg>) -> String {
        match result {
            Err(Msg::Error { code: ErrorCode::CasMismatch, detail }) => detail,
            other => panic!("expected a CAS mismatch, got {other:?}"),
        }
    }

    #[test]
    fn compare_and_set_writes_only_over_the_expected_value() {
        let env = TestEnv::new("primary");
        let node = open(&env, KvConfig::default(), 10);
        assert!(mismatch(cas(&node, "k", Some("x"), "1")).contains("holds nothing"));
        assert_eq!(cas(&node, "k", None, "1"), Ok((1, 1)), "absent, as expected");
        assert!(mismatch(cas(&node, "k", None, "2")).contains("holds another value"));
        assert!(mismatch(cas(&node, "k", Some("2"), "3")).contains("holds another value"));
        assert_eq!(node.status().lsn, 1, "a refused CAS logs nothing");
        assert_eq!(cas(&node, "k", Some("1"), "2"), Ok((2, 1)));
        assert_eq!(value(&node, "k"), Some(b"2".to_vec()));
        assert_eq!(node.append_local(b"k".to_vec(), None), Ok((3, 1)));
        assert_eq!(cas(&node, "k", None, "4"), Ok((4, 1)), "a deleted key is absent again");
    }

    #[test]
    fn a_fenced_node_refuses_a_cas_before_comparing() {
        let env = TestEnv::new("primary");
        let node = open(&env, KvConfig::default(), 10);
        node.step_down(&mut node.state.borrow_mut(), 2);
        match cas(&node, "k", None, "1") {
            Err(Msg::Error { code: ErrorCode::NotPrimary, .. }) => {}
            other => panic!("a fenced node wrote or compared: {other:?}"),
        }
    }

    proptest::proptest! {
        /// Against a plain map: every CAS succeeds exactly when the map holds what it expects,
        /// and the store ends equal to the map.
        #[test]
        fn compare_and_set_agrees_with_a_map(ops in proptest::collection::vec(
            (0u8..3, proptest::option::of(0u8..4), 0u8..4, proptest::bool::ANY), 1..60)) {
            let env = TestEnv::new("primary");
            let node = open(&env, KvConfig::default(), 8);
            let mut model = std::collections::BTreeMap::new();
            for (key, expected, new, conditional) in ops {
                let expected = expected.map(|v| vec![v]);
                let result = node.append_if(vec![key], Some(vec![new]), conditional.then_some(&expected));
                let holds = model.get(&key) == expected.as_ref();
                proptest::prop_assert_eq!(result.is_ok(), !conditional || holds);
                if result.is_ok() {
                    model.insert(key, vec![new]);
                }
            }
            for key in 0u8..3 {
                let held = value(&node, &String::from_utf8(vec![key]).unwrap());
                proptest::prop_assert_eq!(held, model.get(&key).cloned());
            }
        }
    }

    #[test]
    fn synced_writes_survive_a_crash_and_the_restart_is_a_new_epoch() {
        let env = TestEnv::new("primary");
        write_three(&open(&env, KvConfig::default(), 10), 1);
        env.disk.crash();
        let node = open(&env, KvConfig::default(), 10);
        assert_eq!(node.status().lsn, 3);
        assert_eq!(value(&node, "a"), None);
        assert_eq!(value(&node, "b"), Some(b"2".to_vec()));
        assert_eq!(put(&node, "c"), Ok((4, 2)), "an unmanaged restart writes in a new epoch");
        let last = env.roles().last().copied().unwrap();
        assert_eq!((last.role, last.epoch, last.lsn, last.last_epoch), ("primary", 2, 3, 1));
    }

    #[test]
    fn unsynced_writes_are_lost_in_a_crash_but_the_epoch_is_not() {
        let env = TestEnv::new("primary");
        write_three(&open(&env, lossy(), 10), 1);
        assert!(env.disk.unsynced_bytes() > 0);
        env.disk.crash();
        let node = open(&env, lossy(), 10);
        assert_eq!(node.status().lsn, 0);
        assert_eq!(value(&node, "b"), None);
        assert_eq!(put(&node, "x"), Ok((1, 2)), "lsn 1 again, but in epoch 2: a lineage break");
        env.disk.crash();
        assert_eq!(open(&env, lossy(), 10).status().epoch, 3, "the epoch file is always synced");
    }

    #[test]
    fn unsynced_writes_survive_a_clean_restart() {
        let env = TestEnv::new("primary");
        write_three(&open(&env, lossy(), 10), 1);
        let node = open(&env, lossy(), 10);
        assert_eq!(node.status().lsn, 3);
        assert_eq!(value(&node, "b"), Some(b"2".to_vec()));
    }

    #[test]
    fn old_entries_come_from_the_disk_and_new_ones_from_memory() {
        let env = TestEnv::new("primary");
        let node = open(&env, KvConfig::default(), 2);
        for i in 0..5u8 {
            node.append_local(vec![i], Some(vec![i])).unwrap();
        }
        let lsns = |v: Vec<LogEntry>| v.iter().map(|e| e.lsn).collect::<Vec<_>>();
        assert_eq!(lsns(node.entries_from(1).unwrap()), vec![1, 2, 3, 4, 5]);
        assert_eq!(lsns(node.entries_from(4).unwrap()), vec![4, 5]);
        assert_eq!(lsns(node.entries_from(6).unwrap()), Vec::<u64>::new());
    }

    #[test]
    fn a_subscriber_ahead_of_the_log_is_told_to_truncate() {
        let env = TestEnv::new("primary");
        let node = open(&env, KvConfig::default(), 10);
        write_three(&node, 1);
        assert_eq!(node.subscribe(7, 6, 1), Err(Msg::Truncate { to_lsn: 3, epoch: 1 }));
        assert_eq!(node.subscribe(7, 4, 1), Ok(1));
        assert_eq!(node.lag_lsn(), 0);
    }

    #[test]
    fn a_subscriber_of_a_newer_epoch_fences_the_primary() {
        let env = TestEnv::new("primary");
        let node = open(&env, KvConfig::default(), 10);
        write_three(&node, 1);
        let refused = node.subscribe(7, 2, 5);
        assert!(matches!(refused, Err(Msg::Error { code: ErrorCode::Fenced, .. })), "got {refused:?}");
        assert_eq!((node.status().role, node.status().epoch), (NodeRole::Fenced, 5));
        assert!(matches!(put(&node, "k"), Err(Msg::Error { code: ErrorCode::NotPrimary, .. })));
        assert_eq!(env.roles().last().map(|r| r.role), Some("fenced"));
    }

    #[test]
    fn lag_is_the_largest_over_replicas_and_a_resubscription_supersedes() {
        let env = TestEnv::new("primary");
        let node = open(&env, KvConfig::default(), 10);
        write_three(&node, 1);
        assert_eq!(node.subscribe(1, 1, 0), Ok(1));
        assert_eq!(node.subscribe(2, 3, 1), Ok(1));
        assert_eq!(node.lag_lsn(), 3);
        node.ack(1, 3);
        assert_eq!(node.lag_lsn(), 1);
        node.ack(2, 99);
        assert_eq!(node.lag_lsn(), 0);
        assert_eq!(env.gauge("replica_lag_lsn"), Some(0));
        assert_eq!(node.subscribe(1, 2, 1), Ok(2));
        assert!(!node.is_current(1, 1));
        assert!(node.is_current(1, 2));
    }

    #[test]
    fn too_many_replicas_are_refused() {
        let env = TestEnv::new("primary");
        let node = open(&env, KvConfig::default(), 10);
        for replica in 0..MAX_REPLICAS as u64 {
            assert!(node.subscribe(replica, 1, 0).is_ok());
        }
        let refused = node.subscribe(u64::MAX, 1, 0);
        assert!(matches!(refused, Err(Msg::Error { code: ErrorCode::Overloaded, .. })));
        assert!(node.subscribe(0, 1, 0).is_ok(), "a known replica may always resubscribe");
    }

    /// Runs `f` on a current-thread runtime inside a `LocalSet`.
    fn local<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn sync_writes_stall_without_a_replica_and_ack_once_one_catches_up() {
        local(async {
            let env = TestEnv::manual("primary");
            let config = KvConfig { replication: Replication::Sync { replicas: 1 }, ..KvConfig::default() };
            let node = Rc::new(open(&env, config, 10));
            assert_eq!(node.subscribe(9, 1, 0), Ok(1));
            let writer = node.clone();
            let write =
                tokio::task::spawn_local(async move { writer.write(b"k".to_vec(), Some(b"v".to_vec()), None).await });
            settle().await;
            env.advance(Duration::from_secs(60));
            settle().await;
            assert!(!write.is_finished(), "a sync write waits for its replica");
            assert_eq!(node.read(b"k", 0), Msg::Value { value: Some(b"v".to_vec()), lsn: 1 }, "but is applied");
            node.ack(9, 1);
            assert_eq!(write.await.unwrap(), Msg::Written { lsn: 1, epoch: 1 });
        });
    }

    #[test]
    fn a_sync_write_that_loses_the_role_while_waiting_is_refused() {
        local(async {
            let env = TestEnv::manual("primary");
            let config = KvConfig { replication: Replication::Sync { replicas: 2 }, ..KvConfig::default() };
            let node = Rc::new(open(&env, config, 10));
            node.subscribe(9, 1, 0).unwrap();
            let writer = node.clone();
            let write = tokio::task::spawn_local(async move { writer.write(b"k".to_vec(), None, None).await });
            settle().await;
            node.ack(9, 1);
            settle().await;
            assert!(!write.is_finished(), "one of two replicas is not enough");
            assert!(matches!(node.check(2, 0), Msg::Status(s) if s.role == NodeRole::Fenced));
            let reply = write.await.unwrap();
            assert!(matches!(reply, Msg::Error { code: ErrorCode::Fenced, .. }), "got {reply:?}");
            assert_eq!(node.status().lsn, 1, "the write stays in the log, unacknowledged");
        });
    }

    #[test]
    fn semi_sync_falls_back_after_the_timeout_and_counts_it() {
        local(async {
            let env = TestEnv::manual("primary");
            let timeout = Duration::from_millis(200);
            let config = KvConfig { replication: Replication::SemiSync { timeout }, ..KvConfig::default() };
            let node = Rc::new(open(&env, config, 10));
            let writer = node.clone();
            let write = tokio::task::spawn_local(async move { writer.write(b"k".to_vec(), None, None).await });
            settle().await;
            env.advance(Duration::from_millis(199));
            settle().await;
            assert!(!write.is_finished(), "semi-sync waits up to its timeout");
            env.advance(Duration::from_millis(1));
            assert_eq!(write.await.unwrap(), Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(env.gauge("semisync_fallbacks"), Some(1));

            node.subscribe(9, 2, 1).unwrap();
            let writer = node.clone();
            let write = tokio::task::spawn_local(async move { writer.write(b"k".to_vec(), None, None).await });
            settle().await;
            node.ack(9, 2);
            assert_eq!(write.await.unwrap(), Msg::Written { lsn: 2, epoch: 1 });
            assert_eq!(env.gauge("semisync_fallbacks"), Some(1), "an acknowledged write is no fallback");
        });
    }

    #[test]
    fn a_slow_disk_delays_the_acknowledgement_but_not_the_write() {
        local(async {
            let env = TestEnv::manual("primary");
            env.inner.set_knob(Knob::DiskDelay, 50_000_000);
            let node = Rc::new(open(&env, KvConfig::default(), 10));
            let writer = node.clone();
            let write = tokio::task::spawn_local(async move { writer.write(b"k".to_vec(), None, None).await });
            settle().await;
            assert_eq!(node.status().lsn, 1, "the state changed before the disk delay");
            env.advance(Duration::from_millis(49));
            settle().await;
            assert!(!write.is_finished());
            env.advance(Duration::from_millis(1));
            assert_eq!(write.await.unwrap(), Msg::Written { lsn: 1, epoch: 1 });
        });
    }

    #[test]
    fn a_disk_is_shared_by_restarts() {
        let disk = Rc::new(MemDisk::new());
        let env = TestEnv::with_disk("primary", disk.clone());
        write_three(&open(&env, KvConfig::default(), 10), 1);
        let again = TestEnv::with_disk("primary", disk);
        assert_eq!(open(&again, KvConfig::default(), 10).status().lsn, 3);
    }
}
