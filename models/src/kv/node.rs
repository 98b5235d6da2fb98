//! A kv node: one log, one map and one role (primary, replica or fenced) that changes when a
//! failover controller says so, when the node learns of a newer epoch, or at a restart.
//!
//! This file owns the node's state, its role transitions (`Check`, `Promote`, `Follow`), reads
//! and the request handler; the write and streaming side lives in `primary.rs`, the follow and
//! apply side in `replica.rs`. Every state change happens in one synchronous step under the
//! state's `RefCell`, with no await in between, and every role change is reported through
//! [`Env::role`] as it happens.

use super::epoch_file::EpochFile;
use super::replica;
use super::store::{Lag, LogState};
use super::wal::Wal;
use super::{KvConfig, KvError, replica_id};
use crate::kv::api::{Msg, NodeRole, NodeStatus};
use crate::proto::{ErrorCode, Framed};
use crate::seam::{Env, RoleChange};
use crate::server::{Handler, Replier};
use faultline_vocab::{gauge, state};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// The role a node is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    /// The group's primary.
    Primary,
    /// A replica of the primary at this address.
    Replica(String),
}

/// What a primary knows about one replica.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplicaSlot {
    /// The highest LSN it acknowledged in its current subscription.
    pub(crate) acked_lsn: u64,
    /// Bumped on every subscription: an older stream for the same replica stops.
    pub(crate) generation: u64,
}

/// Everything about a node that changes.
pub(crate) struct State {
    /// Its role now.
    pub(crate) role: NodeRole,
    /// The highest epoch it knows of; a primary writes in it.
    pub(crate) epoch: u64,
    /// A managed primary may write until this instant of its own clock.
    pub(crate) lease_until: Option<Duration>,
    /// Its log in memory.
    pub(crate) log: LogState,
    /// A primary: the replicas it streams to.
    pub(crate) replicas: BTreeMap<u64, ReplicaSlot>,
    /// A replica: the primary it follows.
    pub(crate) following: Option<String>,
    /// Bumped whenever the node starts or stops following: an older follow loop stops.
    pub(crate) follow_generation: u64,
    /// A replica: how far behind what it has heard of it is.
    pub(crate) lag: Lag,
    /// A semi-sync primary: writes acknowledged without a replica after the timeout.
    pub(crate) semisync_fallbacks: u64,
}

/// A kv node.
pub(crate) struct Node<E: Env> {
    pub(crate) env: E,
    pub(crate) config: KvConfig,
    /// The id it subscribes and acknowledges with, stable across restarts.
    pub(crate) id: u64,
    pub(crate) wal: Wal,
    epochs: EpochFile,
    /// Entries kept in memory for replication.
    pub(crate) window: usize,
    pub(crate) state: RefCell<State>,
    /// Woken on every write, acknowledgement and role change: streams, waiting writes and
    /// follow loops check again.
    pub(crate) changed: Notify,
}

impl<E: Env> Node<E> {
    /// Recovers the log and the epoch from `env.disk()`, takes the starting role (see the
    /// module docs) and reports it.
    pub(crate) fn open(env: E, config: KvConfig, start: Start, window: usize) -> Result<Self, KvError> {
        let (wal, found) = Wal::recover(env.disk(), config.fsync)?;
        let (epochs, stored) = EpochFile::open(env.disk())?;
        let log = LogState::rebuild(found.entries, window);
        let known = stored.max(log.last_epoch());
        let (role, epoch, following) = match start {
            Start::Primary if !config.managed => (NodeRole::Primary, known + 1, None),
            Start::Primary if log.lsn() == 0 && known == 0 => (NodeRole::Primary, 1, None),
            Start::Primary => (NodeRole::Fenced, known, None),
            Start::Replica(addr) => (NodeRole::Replica, known, Some(addr)),
        };
        if epoch > stored {
            epochs.store(epoch)?;
        }
        env.gauge(gauge::WAL_DROPPED_BYTES, found.dropped_bytes as i64);
        let state = State {
            role,
            epoch,
            lease_until: None,
            log,
            replicas: BTreeMap::new(),
            following,
            follow_generation: 1,
            lag: Lag::default(),
            semisync_fallbacks: 0,
        };
        let id = replica_id(env.host_name());
        let node = Self { env, config, id, wal, epochs, window, state: RefCell::new(state), changed: Notify::new() };
        node.role_changed(&node.state.borrow());
        node.publish_lag();
        Ok(node)
    }

    /// The generation of the current follow loop.
    pub(crate) fn follow_generation(&self) -> u64 {
        self.state.borrow().follow_generation
    }

    /// Whether the follow loop of `generation` is still the one that should run.
    pub(crate) fn is_following(&self, generation: u64) -> bool {
        let state = self.state.borrow();
        state.role == NodeRole::Replica && state.follow_generation == generation
    }

    /// The node's status, as `Check`, `Promote` and `Follow` reply it.
    pub(crate) fn status(&self) -> NodeStatus {
        let state = self.state.borrow();
        let lag_ns = match state.role {
            NodeRole::Replica => state.lag.lag(self.env.now()).as_nanos() as u64,
            NodeRole::Primary | NodeRole::Fenced => 0,
        };
        NodeStatus {
            role: state.role,
            epoch: state.epoch,
            lsn: self.position(&state),
            last_epoch: state.log.last_epoch(),
            lag_ns,
        }
    }

    /// The LSN the node answers reads and probes as of: the last it applied (with the planted
    /// bug [`KvConfig::plant_reads_as_received`], a replica's last received).
    fn position(&self, state: &State) -> u64 {
        let applied = state.log.lsn();
        match state.role {
            NodeRole::Replica | NodeRole::Fenced if self.config.plant_reads_as_received => state.lag.received(applied),
            NodeRole::Replica | NodeRole::Fenced | NodeRole::Primary => applied,
        }
    }

    /// Reports the node's role, epoch and log end, and wakes everything that depends on them.
    pub(crate) fn role_changed(&self, state: &State) {
        let change = RoleChange {
            role: state.role.name(),
            epoch: state.epoch,
            lsn: state.log.lsn(),
            last_epoch: state.log.last_epoch(),
        };
        self.env.role(change);
        self.env.state(state::ROLE, state.role.name());
        self.env.gauge(gauge::EPOCH, state.epoch as i64);
        self.env.gauge(gauge::LSN, state.log.lsn() as i64);
        self.changed.notify_waiters();
    }

    /// Records `epoch` durably when it is newer than any the node knew.
    pub(crate) fn adopt_epoch(&self, state: &mut State, epoch: u64) -> Result<(), KvError> {
        if epoch > state.epoch {
            self.epochs.store(epoch)?;
            state.epoch = epoch;
        }
        Ok(())
    }

    /// Steps down to fenced because a primary of `epoch` exists.
    pub(crate) fn step_down(&self, state: &mut State, epoch: u64) {
        // A failed record of the epoch still steps down: refusing writes is always safe.
        let _ = self.adopt_epoch(state, epoch);
        state.epoch = state.epoch.max(epoch);
        state.role = NodeRole::Fenced;
        state.lease_until = None;
        state.replicas.clear();
        self.role_changed(state);
    }

    /// Serves a read. A replica or fenced node behind the read token `min_lsn` refuses.
    pub(crate) fn read(&self, key: &[u8], min_lsn: u64) -> Msg {
        let state = self.state.borrow();
        let applied = self.position(&state);
        if state.role != NodeRole::Primary && applied < min_lsn {
            let detail = format!("behind read token: applied lsn {applied} < {min_lsn}");
            return Msg::Error { code: ErrorCode::NotPrimary, detail };
        }
        Msg::Value { value: state.log.store.get(key).cloned(), lsn: applied }
    }

    /// A failover controller's health check: learns of a newer epoch (a primary steps down),
    /// grants a lease to the primary of `epoch`, and replies with the status. Epoch 0 only asks.
    pub(crate) fn check(&self, epoch: u64, lease_ms: u32) -> Msg {
        {
            let mut state = self.state.borrow_mut();
            if epoch > state.epoch {
                if state.role == NodeRole::Primary {
                    self.step_down(&mut state, epoch);
                } else {
                    let _ = self.adopt_epoch(&mut state, epoch);
                    state.epoch = epoch;
                    self.role_changed(&state);
                }
            } else if epoch != 0 && epoch == state.epoch && state.role == NodeRole::Primary && lease_ms > 0 {
                state.lease_until = Some(self.env.now() + Duration::from_millis(u64::from(lease_ms)));
            }
        }
        Msg::Status(self.status())
    }

    /// Becomes the primary of `epoch`, which must be newer than any the node knows. It stops
    /// following at once; a managed node writes only once it gets a lease.
    pub(crate) fn promote(&self, epoch: u64) -> Msg {
        {
            let mut state = self.state.borrow_mut();
            if epoch <= state.epoch {
                let detail = format!("promote to epoch {epoch}: already at epoch {}", state.epoch);
                return Msg::Error { code: ErrorCode::Fenced, detail };
            }
            if let Err(e) = self.adopt_epoch(&mut state, epoch) {
                return Msg::Error { code: ErrorCode::Storage, detail: e.to_string() };
            }
            state.role = NodeRole::Primary;
            state.lease_until = None;
            state.following = None;
            state.follow_generation += 1;
            state.replicas.clear();
            state.lag = Lag::default();
            self.role_changed(&state);
        }
        self.publish_lag();
        Msg::Status(self.status())
    }

    /// Becomes (or stays) a replica of `primary` in `epoch`, which must not be older than the
    /// node's. Returns the generation of a follow loop to start, or `None` when the node already
    /// follows that address; the error reply when it refuses.
    pub(crate) fn become_replica(&self, primary: &str, epoch: u64) -> Result<Option<u64>, Msg> {
        let mut state = self.state.borrow_mut();
        if epoch < state.epoch {
            let detail = format!("follow in epoch {epoch}: already at epoch {}", state.epoch);
            return Err(Msg::Error { code: ErrorCode::Fenced, detail });
        }
        let newer = epoch > state.epoch;
        if let Err(e) = self.adopt_epoch(&mut state, epoch) {
            return Err(Msg::Error { code: ErrorCode::Storage, detail: e.to_string() });
        }
        if state.role == NodeRole::Replica && state.following.as_deref() == Some(primary) {
            if newer {
                self.role_changed(&state);
            }
            return Ok(None);
        }
        state.role = NodeRole::Replica;
        state.lease_until = None;
        state.following = Some(primary.to_string());
        state.follow_generation += 1;
        state.replicas.clear();
        state.lag = Lag::default();
        self.role_changed(&state);
        Ok(Some(state.follow_generation))
    }

    /// Handles `Follow`: becomes a replica and starts a follow loop when needed.
    fn follow(node: &Rc<Self>, primary: String, epoch: u64) -> Msg {
        match node.become_replica(&primary, epoch) {
            Ok(Some(generation)) => node.env.spawn(replica::follow(node.clone(), primary, generation)),
            Ok(None) => {}
            Err(reply) => return reply,
        }
        node.publish_lag();
        Msg::Status(node.status())
    }
}

/// A kv node as a server model, whatever its role: build it with [`KvNode::primary`] or
/// [`KvNode::replica`](crate::kv::KvNode::replica) and serve it with [`crate::server::serve`].
pub struct KvNode<E: Env>(pub(crate) Rc<Node<E>>);

impl<E: Env> Handler<E> for KvNode<E> {
    type Codec = Framed<Msg>;

    fn read_key(&self, msg: &Msg) -> Option<Vec<u8>> {
        let node = &self.0;
        match msg {
            Msg::Get { key, .. } if node.config.count_key_reads => {
                node.state.borrow().log.store.get(key).is_some().then(|| key.clone())
            }
            _ => None,
        }
    }

    async fn handle(&self, msg: Msg, replier: Replier<E, Framed<Msg>>) -> Option<Msg> {
        let node = &self.0;
        match msg {
            Msg::Get { key, min_lsn } => Some(node.read(&key, min_lsn)),
            Msg::Put { key, value } => Some(node.write(key, Some(value), None).await),
            Msg::Delete { key } => Some(node.write(key, None, None).await),
            Msg::Cas { key, expected, value } => Some(node.write(key, Some(value), Some(&expected)).await),
            Msg::Subscribe { from_lsn, last_epoch } => node.stream(replier, from_lsn, last_epoch).await,
            Msg::Applied { lsn } => {
                node.ack(replier.id(), lsn);
                None
            }
            Msg::Check { epoch, lease_ms } => Some(node.check(epoch, lease_ms)),
            Msg::Promote { epoch } => Some(node.promote(epoch)),
            Msg::Follow { primary, epoch } => Some(Node::follow(node, primary, epoch)),
            Msg::Hold { ms } => {
                node.env.sleep(std::time::Duration::from_millis(u64::from(ms))).await;
                Some(node.read(&[], 0))
            }
            other => {
                let detail = format!("a kv node does not serve {}", other.name());
                Some(Msg::Error { code: ErrorCode::BadRequest, detail })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::FsyncPolicy;
    use crate::testenv::TestEnv;

    fn managed() -> KvConfig {
        KvConfig { managed: true, ..KvConfig::default() }
    }

    fn open(env: &TestEnv, config: KvConfig, start: Start) -> Node<TestEnv> {
        Node::open(env.clone(), config, start, 16).unwrap()
    }

    fn put(node: &Node<TestEnv>, key: &str) -> Result<(u64, u64), Msg> {
        node.append_local(key.into(), Some(b"v".to_vec()))
    }

    /// Asserts a write is refused with `NotPrimary` and a detail containing `why`.
    fn refused(node: &Node<TestEnv>, why: &str) {
        match put(node, "k") {
            Err(Msg::Error { code: ErrorCode::NotPrimary, detail }) => assert!(detail.contains(why), "{detail:?}"),
            other => panic!("a write was not refused for {why:?}: {other:?}"),
        }
    }

    fn status(reply: Msg) -> NodeStatus {
        match reply {
            Msg::Status(status) => status,
            other => panic!("expected a status, got {other:?}"),
        }
    }

    fn role_of(env: &TestEnv) -> (&'static str, u64) {
        let last = env.roles().last().copied().expect("a role report");
        (last.role, last.epoch)
    }

    #[test]
    fn only_reads_of_a_stored_key_are_counted_and_only_when_asked() {
        let env = TestEnv::new("db");
        let get = |key: &str| Msg::Get { key: key.into(), min_lsn: 0 };
        let counting =
            KvNode(Rc::new(open(&env, KvConfig { count_key_reads: true, ..KvConfig::default() }, Start::Primary)));
        assert_eq!(counting.read_key(&get("k")), None, "an absent key: no cache could spare its reads");
        put(&counting.0, "k").unwrap();
        assert_eq!(counting.read_key(&get("k")), Some(b"k".to_vec()));
        let write = Msg::Put { key: b"k".to_vec(), value: b"v".to_vec() };
        assert_eq!(counting.read_key(&write), None, "a write is not a read");
        let env = TestEnv::new("db2");
        let quiet = KvNode(Rc::new(open(&env, KvConfig::default(), Start::Primary)));
        put(&quiet.0, "k").unwrap();
        assert_eq!(quiet.read_key(&get("k")), None, "off unless asked");
    }

    #[test]
    fn the_highest_epoch_seen_survives_a_crash() {
        let env = TestEnv::new("db");
        let node = open(&env, KvConfig::default(), Start::Replica("db0:1".into()));
        assert_eq!(node.status().epoch, 0);
        assert_eq!(status(node.check(4, 0)).epoch, 4);
        env.disk.crash();
        let node = open(&env, KvConfig::default(), Start::Replica("db0:1".into()));
        assert_eq!(node.status().epoch, 4);
        assert_eq!(role_of(&env), ("replica", 4), "the start is reported too");
    }

    #[test]
    fn a_managed_primary_boots_in_epoch_one_and_writes_only_under_a_lease() {
        let env = TestEnv::manual("db");
        let node = open(&env, managed(), Start::Primary);
        assert_eq!(role_of(&env), ("primary", 1));
        refused(&node, "no lease");
        let granted = status(node.check(1, 100));
        assert_eq!((granted.role, granted.epoch), (NodeRole::Primary, 1));
        assert_eq!(put(&node, "a"), Ok((1, 1)));
        env.advance(Duration::from_millis(100));
        refused(&node, "lease expired");
        assert_eq!(node.status().role, NodeRole::Primary, "an expired lease keeps the role");
        node.check(1, 100);
        assert_eq!(put(&node, "b"), Ok((2, 1)));
        node.check(0, 60_000);
        env.advance(Duration::from_millis(100));
        refused(&node, "lease expired");
    }

    #[test]
    fn the_planted_lease_bug_writes_past_the_expiry_and_nothing_else_changes() {
        let env = TestEnv::manual("db");
        let node = open(&env, KvConfig { plant_ignore_lease_expiry: true, ..managed() }, Start::Primary);
        refused(&node, "no lease");
        node.check(1, 100);
        env.advance(Duration::from_millis(100));
        assert_eq!(put(&node, "a"), Ok((1, 1)), "the planted bug: an expired lease still writes");
        node.check(2, 0);
        refused(&node, "fenced");
    }

    #[test]
    fn a_managed_restart_comes_up_fenced_and_waits_for_orders() {
        let env = TestEnv::manual("db");
        let node = open(&env, managed(), Start::Primary);
        node.check(1, 1000);
        put(&node, "a").unwrap();
        drop(node);
        env.disk.crash();
        let node = open(&env, managed(), Start::Primary);
        assert_eq!(node.status().role, NodeRole::Fenced);
        assert_eq!(role_of(&env), ("fenced", 1));
        refused(&node, "fenced");
        assert_eq!(node.read(b"a", 0), Msg::Value { value: Some(b"v".to_vec()), lsn: 1 }, "reads are served");
        node.check(1, 1000);
        refused(&node, "fenced");
        let promoted = status(node.promote(2));
        assert_eq!((promoted.role, promoted.epoch, promoted.lsn, promoted.last_epoch), (NodeRole::Primary, 2, 1, 1));
        refused(&node, "no lease");
        node.check(2, 1000);
        assert_eq!(put(&node, "b"), Ok((2, 2)));
    }

    #[test]
    fn a_managed_node_with_only_a_known_epoch_also_starts_fenced() {
        let env = TestEnv::new("db");
        open(&env, managed(), Start::Replica("db0:1".into())).check(3, 0);
        assert_eq!(open(&env, managed(), Start::Primary).status().role, NodeRole::Fenced);
    }

    #[test]
    fn an_unmanaged_primary_needs_no_lease() {
        let env = TestEnv::new("db");
        let node = open(&env, KvConfig::default(), Start::Primary);
        assert_eq!(put(&node, "a"), Ok((1, 1)));
        assert_eq!(status(node.check(0, 0)).lsn, 1);
    }

    #[test]
    fn a_probe_changes_nothing_and_a_newer_epoch_fences_the_primary() {
        let env = TestEnv::new("db");
        let node = open(&env, KvConfig::default(), Start::Primary);
        put(&node, "a").unwrap();
        let reports = env.roles().len();
        let probe = status(node.check(0, 5000));
        assert_eq!((probe.role, probe.epoch, probe.lsn, probe.lag_ns), (NodeRole::Primary, 1, 1, 0));
        assert_eq!(env.roles().len(), reports, "a probe reports nothing");
        let fenced = status(node.check(3, 0));
        assert_eq!((fenced.role, fenced.epoch), (NodeRole::Fenced, 3));
        assert_eq!(role_of(&env), ("fenced", 3));
        refused(&node, "fenced");
    }

    #[test]
    fn promote_and_follow_refuse_stale_epochs() {
        let env = TestEnv::new("db");
        let node = open(&env, KvConfig::default(), Start::Primary);
        assert!(matches!(node.promote(1), Msg::Error { code: ErrorCode::Fenced, .. }));
        assert_eq!(status(node.promote(2)).epoch, 2);
        assert!(matches!(node.promote(2), Msg::Error { code: ErrorCode::Fenced, .. }));
        assert!(matches!(node.become_replica("db1:1", 1), Err(Msg::Error { code: ErrorCode::Fenced, .. })));
        assert_eq!(node.status().role, NodeRole::Primary, "a refused order changes nothing");
    }

    #[test]
    fn follow_demotes_a_primary_and_a_repeated_follow_keeps_its_loop() {
        let env = TestEnv::new("db");
        let node = open(&env, KvConfig { fsync: FsyncPolicy::Never, ..KvConfig::default() }, Start::Primary);
        put(&node, "a").unwrap();
        let generation = node.become_replica("db1:1", 1).unwrap().expect("a new follow loop");
        assert!(node.is_following(generation));
        assert_eq!(role_of(&env), ("replica", 1));
        refused(&node, "read replica");
        assert_eq!(node.become_replica("db1:1", 2), Ok(None), "same primary: the loop goes on");
        assert_eq!(role_of(&env), ("replica", 2));
        let next = node.become_replica("db2:1", 2).unwrap().expect("another primary: a new loop");
        assert!(!node.is_following(generation));
        assert!(node.is_following(next));
        assert_eq!(status(node.promote(3)).role, NodeRole::Primary);
        assert!(!node.is_following(next), "a promotion stops following");
    }
}
