//! The replica side of a node: follows a primary's log over one connection, cuts its own log
//! back when the primary says they diverge, applies the rest in LSN order, acknowledges, and
//! measures how far behind it is.
//!
//! A follow loop runs while the node follows the same primary in the same generation (a
//! promotion or a new `Follow` ends it): connect, `Subscribe { from_lsn: applied + 1,
//! last_epoch }`, then two halves on the split stream. The receiver reads frames and stamps
//! each with the time it arrived into a bounded queue; the applier takes them in order, waits
//! until `arrival + knob(ApplyDelay)`, spends `apply_cost` per entry, applies (log first, then
//! map) and sends `Applied`. On any failure it sleeps a jittered, exponentially growing backoff
//! (reset once a stream delivered something) before trying again; after a truncation it
//! resubscribes at once. This file must not know the primary's internals: only its frames.

use super::node::Node;
use super::store::{Lag, LogState};
use super::{APPLY_QUEUE, KvError, REPLICA_IDLE_TIMEOUT};
use crate::kv::api::{LogEntry, Msg};
use crate::proto::{Frame, read_frame, write_frame};
use crate::seam::{Env, Knob, timeout};
use faultline_vocab::{gauge, state};
use rand::Rng;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// The first reconnect backoff.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The largest reconnect backoff.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How a stream ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// The replica cut its log back as the primary asked: subscribe again at once.
    Truncated,
    /// The receiver ended and the applier drained the queue.
    Drained,
}

/// A frame as it arrived.
struct Received {
    at: Duration,
    msg: Msg,
}

impl<E: Env> Node<E> {
    /// `(from_lsn, last_epoch)` of the next `Subscribe`.
    pub(crate) fn subscription(&self) -> (u64, u64) {
        let state = self.state.borrow();
        (state.log.lsn() + 1, state.log.last_epoch())
    }

    /// Notes a `Log` frame whose head is `head`, received at `at`.
    fn heard(&self, head: u64, at: Duration) {
        {
            let mut state = self.state.borrow_mut();
            let applied = state.log.lsn();
            state.lag.heard(head, at, applied);
        }
        self.publish_replica();
    }

    /// Publishes a replica's gauges "lsn" (applied) and "lag_ms".
    fn publish_replica(&self) {
        let state = self.state.borrow();
        self.env.gauge(gauge::LSN, state.log.lsn() as i64);
        self.env.gauge(gauge::LAG_MS, state.lag.lag(self.env.now()).as_millis() as i64);
    }

    /// Fails unless the follow loop of `generation` is current.
    fn check_following(&self, generation: u64) -> Result<(), KvError> {
        if self.is_following(generation) { Ok(()) } else { Err(KvError::Superseded) }
    }

    /// Applies shipped entries in one synchronous step: entries already applied are skipped,
    /// a gap or an epoch going back is an error and changes nothing. The new entries are logged
    /// (and synced, per policy) before the map changes. Returns how many were new.
    pub(crate) fn apply_batch(&self, generation: u64, entries: &[LogEntry]) -> Result<usize, KvError> {
        self.check_following(generation)?;
        let mut state = self.state.borrow_mut();
        let applied = state.log.lsn();
        let fresh: Vec<&LogEntry> = entries.iter().filter(|e| e.lsn > applied).collect();
        let mut last_epoch = state.log.last_epoch();
        for (expected, entry) in (applied + 1..).zip(&fresh) {
            if entry.lsn != expected {
                return Err(KvError::Gap { expected, got: entry.lsn });
            }
            if entry.epoch < last_epoch {
                return Err(KvError::EpochOrder { lsn: entry.lsn, epoch: entry.epoch, last: last_epoch });
            }
            last_epoch = entry.epoch;
        }
        let Some(last) = fresh.last() else { return Ok(0) };
        let fresh: Vec<LogEntry> = fresh.iter().map(|&e| e.clone()).collect();
        let lsn = last.lsn;
        self.wal.append(&fresh)?;
        for entry in fresh.iter().cloned() {
            state.log.append(entry);
        }
        if last_epoch > state.epoch {
            // The entries themselves record the epoch if the epoch file fails.
            let _ = self.adopt_epoch(&mut state, last_epoch);
            state.epoch = state.epoch.max(last_epoch);
        }
        state.lag.applied(lsn);
        drop(state);
        self.publish_replica();
        Ok(fresh.len())
    }

    /// Cuts the log back to `to_lsn`, durably, as the primary of `epoch` asked, and rebuilds the
    /// map from what is left. Returns how many entries were dropped.
    pub(crate) fn truncate_to(&self, generation: u64, to_lsn: u64, epoch: u64) -> Result<u64, KvError> {
        self.check_following(generation)?;
        let mut state = self.state.borrow_mut();
        let applied = state.log.lsn();
        if to_lsn >= applied {
            return Err(KvError::BadTruncate { to_lsn, applied });
        }
        let kept = self.wal.truncate(to_lsn)?;
        state.log = LogState::rebuild(kept, self.window);
        let _ = self.adopt_epoch(&mut state, epoch);
        state.epoch = state.epoch.max(epoch);
        state.lag = Lag::default();
        let dropped = applied - to_lsn;
        let detail = format!("dropped {dropped} entries after lsn {to_lsn} to follow the primary of epoch {epoch}");
        self.env.state(state::TRUNCATED, &detail);
        self.role_changed(&state);
        drop(state);
        self.publish_replica();
        Ok(dropped)
    }

    /// Applies a shipped batch as a replica does: `apply_cost` per new entry, then one
    /// `knob(DiskDelay)` for the log append before acknowledging.
    async fn apply_shipped(&self, generation: u64, entries: &[LogEntry]) -> Result<(), KvError> {
        let cost = self.config.apply_cost;
        let mut fresh = 0;
        if cost.is_zero() {
            fresh = self.apply_batch(generation, entries)?;
        } else {
            for entry in entries {
                if entry.lsn <= self.state.borrow().log.lsn() {
                    continue;
                }
                self.env.sleep(cost).await;
                fresh += self.apply_batch(generation, std::slice::from_ref(entry))?;
            }
        }
        let disk_delay = self.env.knob(Knob::DiskDelay);
        if fresh > 0 && disk_delay > 0 {
            self.env.sleep(Duration::from_nanos(disk_delay)).await;
        }
        Ok(())
    }
}

/// Follows the primary at `addr` while the node's follow loop of `generation` is current.
pub(crate) async fn follow<E: Env>(node: Rc<Node<E>>, addr: String, generation: u64) {
    let mut rng = node.env.rng("kv-replica-backoff");
    let mut backoff = BACKOFF_MIN;
    while node.is_following(generation) {
        let mut progressed = false;
        let outcome = tokio::select! {
            biased;
            () = superseded(&node, generation) => return,
            outcome = follow_once(&node, &addr, generation, &mut progressed) => outcome,
        };
        if progressed {
            backoff = BACKOFF_MIN;
        }
        if matches!(outcome, Ok(Flow::Truncated)) {
            continue;
        }
        let half = backoff / 2;
        let jitter = Duration::from_micros(rng.random_range(0..=half.as_micros() as u64));
        tokio::select! {
            biased;
            () = superseded(&node, generation) => return,
            () = node.env.sleep(half + jitter) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Completes once the follow loop of `generation` is no longer current.
async fn superseded<E: Env>(node: &Node<E>, generation: u64) {
    loop {
        let changed = node.changed.notified();
        if !node.is_following(generation) {
            return;
        }
        changed.await;
    }
}

/// One subscription: connects, then runs the stream. Sets `progressed` once the primary
/// delivered a frame that was applied.
async fn follow_once<E: Env>(
    node: &Node<E>,
    addr: &str,
    generation: u64,
    progressed: &mut bool,
) -> Result<Flow, KvError> {
    let env = &node.env;
    let stream = match timeout(env, REPLICA_IDLE_TIMEOUT, env.connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => return Err(KvError::Connect { addr: addr.to_string(), source }),
        Err(_) => {
            let source = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
            return Err(KvError::Connect { addr: addr.to_string(), source });
        }
    };
    run_stream(node, stream, generation, progressed).await
}

/// Subscribes on `stream` and runs the receiver and the applier until the stream ends, the
/// primary asks for a truncation, or something fails.
pub(crate) async fn run_stream<E: Env, S: AsyncRead + AsyncWrite + Unpin>(
    node: &Node<E>,
    stream: S,
    generation: u64,
    progressed: &mut bool,
) -> Result<Flow, KvError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (from_lsn, last_epoch) = node.subscription();
    let subscribe = Frame { id: node.id, msg: Msg::Subscribe { from_lsn, last_epoch } };
    write_frame(&mut writer, &subscribe, &mut Vec::with_capacity(64)).await?;
    let (tx, mut rx) = mpsc::channel(APPLY_QUEUE);
    let receiving = receive(node, &mut reader, tx);
    let applying = apply(node, &mut rx, &mut writer, generation, progressed);
    tokio::pin!(receiving, applying);
    tokio::select! {
        biased;
        applied = &mut applying => applied,
        ended = &mut receiving => match applying.await {
            Ok(Flow::Drained) => Err(ended),
            other => other,
        },
    }
}

/// Reads frames, stamps them with their arrival time and queues them until the stream fails.
async fn receive<E: Env, R: AsyncRead + Unpin>(node: &Node<E>, reader: &mut R, tx: mpsc::Sender<Received>) -> KvError {
    let mut scratch = Vec::with_capacity(1024);
    loop {
        let frame = match timeout(&node.env, REPLICA_IDLE_TIMEOUT, read_frame(reader, &mut scratch)).await {
            Err(_) => return KvError::Idle { ms: REPLICA_IDLE_TIMEOUT.as_millis() as u64 },
            Ok(Err(e)) => return KvError::Stream(e),
            Ok(Ok(None)) => return KvError::Closed,
            Ok(Ok(Some(frame))) => frame,
        };
        let at = node.env.now();
        if let Msg::Log { head, .. } = &frame.msg {
            node.heard(*head, at);
        }
        if tx.send(Received { at, msg: frame.msg }).await.is_err() {
            return KvError::Superseded;
        }
    }
}

/// Applies queued frames in order, each no earlier than its arrival plus the apply delay, and
/// acknowledges; ends when the queue closes and is drained.
async fn apply<E: Env, W: AsyncWrite + Unpin>(
    node: &Node<E>,
    rx: &mut mpsc::Receiver<Received>,
    writer: &mut W,
    generation: u64,
    progressed: &mut bool,
) -> Result<Flow, KvError> {
    let mut out = Vec::with_capacity(64);
    let mut acking = true;
    while let Some(Received { at, msg }) = rx.recv().await {
        match msg {
            Msg::Log { entries, .. } => {
                if !entries.is_empty() {
                    let due = at + Duration::from_nanos(node.env.knob(Knob::ApplyDelay));
                    let now = node.env.now();
                    if due > now {
                        node.env.sleep(due - now).await;
                    }
                    node.apply_shipped(generation, &entries).await?;
                }
                *progressed = true;
                if acking {
                    let lsn = node.state.borrow().log.lsn();
                    let ack = Frame { id: node.id, msg: Msg::Applied { lsn } };
                    // A broken connection stops the acknowledgements, not the applying of what
                    // already arrived.
                    acking = write_frame(writer, &ack, &mut out).await.is_ok();
                }
            }
            Msg::Truncate { to_lsn, epoch } => {
                node.truncate_to(generation, to_lsn, epoch)?;
                *progressed = true;
                return Ok(Flow::Truncated);
            }
            Msg::Error { code, detail } => return Err(KvError::Rejected { code, detail }),
            other => return Err(KvError::Unexpected(other.name())),
        }
    }
    Ok(Flow::Drained)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::api::NodeRole;
    use crate::kv::node::Start;
    use crate::kv::{FsyncPolicy, KvConfig};
    use crate::proto::ErrorCode;
    use crate::testenv::{TestEnv, settle};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn replica(env: &TestEnv, config: KvConfig) -> Node<TestEnv> {
        Node::open(env.clone(), config, Start::Replica("primary:1".into()), 16).unwrap()
    }

    fn put(lsn: u64, key: &str, value: &str) -> LogEntry {
        LogEntry { lsn, epoch: 1, key: key.into(), value: Some(value.into()) }
    }

    #[test]
    fn duplicates_are_skipped_and_gaps_refused() {
        let r = replica(&TestEnv::new("replica"), KvConfig::default());
        assert_eq!(r.apply_batch(1, &[put(1, "a", "1"), put(2, "b", "2")]).unwrap(), 2);
        assert_eq!(r.apply_batch(1, &[put(1, "a", "1"), put(2, "b", "2"), put(3, "a", "3")]).unwrap(), 1);
        assert!(matches!(r.apply_batch(1, &[put(5, "c", "5")]), Err(KvError::Gap { expected: 4, got: 5 })));
        let gap = r.apply_batch(1, &[put(4, "c", "4"), put(6, "c", "6")]);
        assert!(matches!(gap, Err(KvError::Gap { expected: 5, got: 6 })));
        let mut old = put(4, "c", "4");
        old.epoch = 0;
        assert!(matches!(r.apply_batch(1, &[old]), Err(KvError::EpochOrder { lsn: 4, .. })));
        assert_eq!(r.status().lsn, 3, "a refused batch changes nothing");
        assert!(matches!(r.apply_batch(2, &[put(4, "c", "4")]), Err(KvError::Superseded)));
    }

    #[test]
    fn reads_are_served_and_writes_refused() {
        let r = replica(&TestEnv::new("replica"), KvConfig::default());
        r.apply_batch(1, &[put(1, "a", "1")]).unwrap();
        assert_eq!(r.read(b"a", 1), Msg::Value { value: Some(b"1".to_vec()), lsn: 1 });
        let refused = r.append_local(b"a".to_vec(), None);
        assert!(matches!(refused, Err(Msg::Error { code: ErrorCode::NotPrimary, .. })));
    }

    #[test]
    fn a_read_token_ahead_of_the_replica_is_refused() {
        let r = replica(&TestEnv::new("replica"), KvConfig::default());
        r.apply_batch(1, &[put(1, "a", "1")]).unwrap();
        match r.read(b"a", 2) {
            Msg::Error { code: ErrorCode::NotPrimary, detail } => {
                assert!(detail.starts_with("behind read token"), "detail {detail:?}")
            }
            other => panic!("a replica behind the token served {other:?}"),
        }
        r.apply_batch(1, &[put(2, "a", "2")]).unwrap();
        assert_eq!(r.read(b"a", 2), Msg::Value { value: Some(b"2".to_vec()), lsn: 2 });
    }

    #[test]
    fn a_truncation_is_durable_and_rebuilds_the_map() {
        let env = TestEnv::new("replica");
        let r = replica(&env, KvConfig::default());
        r.apply_batch(1, &[put(1, "a", "1"), put(2, "a", "2"), put(3, "b", "3")]).unwrap();
        assert!(matches!(r.truncate_to(1, 3, 2), Err(KvError::BadTruncate { to_lsn: 3, applied: 3 })));
        assert_eq!(r.truncate_to(1, 1, 2).unwrap(), 2);
        assert_eq!(r.read(b"a", 0), Msg::Value { value: Some(b"1".to_vec()), lsn: 1 });
        assert_eq!(r.read(b"b", 0), Msg::Value { value: None, lsn: 1 });
        assert_eq!(env.state("truncated").as_deref().map(|s| s.starts_with("dropped 2 entries")), Some(true));
        assert_eq!(r.subscription(), (2, 1));
        env.disk.crash();
        let r = replica(&env, KvConfig::default());
        assert_eq!((r.status().lsn, r.status().epoch), (1, 2), "the cut and the epoch are durable");
    }

    /// Plays the primary's end of a replication stream on an in-memory pipe.
    struct FakePrimary {
        stream: tokio::io::DuplexStream,
        scratch: Vec<u8>,
    }

    impl FakePrimary {
        async fn send(&mut self, msg: Msg) {
            write_frame(&mut self.stream, &Frame { id: 0, msg }, &mut Vec::new()).await.unwrap();
        }

        async fn next(&mut self) -> Msg {
            read_frame(&mut self.stream, &mut self.scratch).await.unwrap().expect("a frame").msg
        }
    }

    /// Starts `node`'s stream over a pipe; the fake primary has read the `Subscribe`.
    async fn connect(node: &Rc<Node<TestEnv>>) -> (FakePrimary, tokio::task::JoinHandle<Result<Flow, KvError>>) {
        let (near, far) = tokio::io::duplex(1 << 16);
        let follower = node.clone();
        let generation = node.follow_generation();
        let task = tokio::task::spawn_local(async move {
            let mut progressed = false;
            run_stream(&follower, near, generation, &mut progressed).await
        });
        let mut primary = FakePrimary { stream: far, scratch: Vec::new() };
        let (from_lsn, last_epoch) = node.subscription();
        assert_eq!(primary.next().await, Msg::Subscribe { from_lsn, last_epoch });
        (primary, task)
    }

    fn local<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn an_apply_delay_holds_entries_back_and_shows_as_lag() {
        local(async {
            let env = TestEnv::manual("replica");
            env.inner.set_knob(Knob::ApplyDelay, 300_000_000);
            let node = Rc::new(replica(&env, KvConfig::default()));
            let (mut primary, task) = connect(&node).await;
            primary.send(Msg::Log { entries: vec![put(1, "a", "1"), put(2, "b", "2")], head: 2 }).await;
            settle().await;
            env.advance(Duration::from_millis(120));
            settle().await;
            let status = node.status();
            assert_eq!(status.lsn, 0, "nothing is applied before the delay passed");
            assert_eq!(status.lag_ns, 120_000_000);
            assert_eq!(env.gauge("lag_ms"), Some(0), "gauges change on events, not on reads");
            env.advance(Duration::from_millis(180));
            assert_eq!(primary.next().await, Msg::Applied { lsn: 2 });
            assert_eq!((node.status().lsn, node.status().lag_ns), (2, 0));
            assert_eq!(env.gauge("lsn"), Some(2));
            drop(primary);
            assert!(matches!(task.await.unwrap(), Err(KvError::Closed)));
        });
    }

    #[test]
    fn the_planted_bug_reads_and_probes_as_of_what_was_received() {
        for planted in [false, true] {
            local(async move {
                let env = TestEnv::manual("replica");
                env.inner.set_knob(Knob::ApplyDelay, 300_000_000);
                let node = Rc::new(replica(&env, KvConfig { plant_reads_as_received: planted, ..KvConfig::default() }));
                let (mut primary, _task) = connect(&node).await;
                primary.send(Msg::Log { entries: vec![put(1, "a", "1"), put(2, "a", "2")], head: 2 }).await;
                settle().await;
                let reply = node.read(b"a", 2);
                if planted {
                    assert_eq!(node.status().lsn, 2, "the planted bug: the probe says received");
                    assert_eq!(reply, Msg::Value { value: None, lsn: 2 }, "a stale value under a met token");
                } else {
                    assert_eq!(node.status().lsn, 0);
                    assert!(matches!(reply, Msg::Error { code: ErrorCode::NotPrimary, .. }), "got {reply:?}");
                }
                assert_eq!(node.state.borrow().log.lsn(), 0, "nothing is applied before the delay either way");
            });
        }
    }

    #[test]
    fn the_apply_cost_is_spent_per_entry() {
        local(async {
            let env = TestEnv::manual("replica");
            let config = KvConfig { apply_cost: Duration::from_millis(10), ..KvConfig::default() };
            let node = Rc::new(replica(&env, config));
            let (mut primary, _task) = connect(&node).await;
            let entries: Vec<LogEntry> = (1..=5).map(|lsn| put(lsn, "k", "v")).collect();
            primary.send(Msg::Log { entries, head: 5 }).await;
            settle().await;
            for applied in 0..5 {
                assert_eq!(node.status().lsn, applied);
                env.advance(Duration::from_millis(10));
                settle().await;
            }
            assert_eq!(primary.next().await, Msg::Applied { lsn: 5 });
        });
    }

    #[test]
    fn a_truncate_reply_cuts_the_log_and_ends_the_stream_for_a_resubscription() {
        local(async {
            let env = TestEnv::manual("replica");
            let node = Rc::new(replica(&env, KvConfig::default()));
            node.apply_batch(1, &[put(1, "a", "1"), put(2, "a", "2"), put(3, "a", "3")]).unwrap();
            let (mut primary, task) = connect(&node).await;
            primary.send(Msg::Truncate { to_lsn: 1, epoch: 4 }).await;
            assert!(matches!(task.await.unwrap(), Ok(Flow::Truncated)));
            assert_eq!(node.subscription(), (2, 1));
            assert_eq!(node.status().epoch, 4);
            let last = env.roles().last().copied().unwrap();
            assert_eq!((last.role, last.epoch, last.lsn, last.last_epoch), ("replica", 4, 1, 1));
        });
    }

    #[test]
    fn a_refusal_from_the_primary_ends_the_stream_with_its_reason() {
        local(async {
            let node = Rc::new(replica(&TestEnv::manual("replica"), KvConfig::default()));
            let (mut primary, task) = connect(&node).await;
            primary.send(Msg::Error { code: ErrorCode::NotPrimary, detail: "fenced".into() }).await;
            let ended = task.await.unwrap();
            assert!(matches!(ended, Err(KvError::Rejected { code: ErrorCode::NotPrimary, .. })), "got {ended:?}");
        });
    }

    #[test]
    fn a_promotion_stops_the_applier_before_it_applies() {
        local(async {
            let env = TestEnv::manual("replica");
            env.inner.set_knob(Knob::ApplyDelay, 1_000_000_000);
            let node = Rc::new(replica(&env, KvConfig::default()));
            let (mut primary, task) = connect(&node).await;
            primary.send(Msg::Log { entries: vec![put(1, "a", "1")], head: 1 }).await;
            settle().await;
            assert!(matches!(node.promote(2), Msg::Status(s) if s.role == NodeRole::Primary));
            env.advance(Duration::from_secs(1));
            assert!(matches!(task.await.unwrap(), Err(KvError::Superseded)));
            assert_eq!(node.status().lsn, 0, "an entry of the old primary arrived too late to count");
            assert_eq!(node.status().role, NodeRole::Primary);
        });
    }

    /// Ships the primary's log to the replica in chunks of `chunk`, resending the last entry of
    /// each chunk (a duplicate the replica must skip); at most `max_rounds` rounds.
    fn ship(primary: &Node<TestEnv>, replica: &Node<TestEnv>, chunk: usize, max_rounds: usize) {
        let generation = replica.follow_generation();
        for _ in 0..max_rounds {
            let applied = replica.status().lsn;
            let entries = primary.entries_from(applied + 1).unwrap();
            if entries.is_empty() {
                return;
            }
            let mut batch = Vec::new();
            if applied > 0 {
                batch.extend(primary.entries_from(applied).unwrap().into_iter().take(1));
            }
            batch.extend(entries.into_iter().take(chunk));
            replica.apply_batch(generation, &batch).unwrap();
        }
    }

    proptest! {
        #[test]
        fn a_replica_converges_to_the_primary_and_the_reference(
            ops in proptest::collection::vec((0u8..6, proptest::option::of(any::<u8>())), 0..60),
            chunk in 1usize..9,
            crash_after in 0usize..60,
        ) {
            let config = KvConfig { fsync: FsyncPolicy::Never, ..KvConfig::default() };
            let primary = Node::open(TestEnv::new("primary"), config, Start::Primary, 8).unwrap();
            let replica_env = TestEnv::new("replica");
            let mut follower = replica(&replica_env, KvConfig::default());
            let mut reference = BTreeMap::new();
            for (i, (key, value)) in ops.iter().enumerate() {
                primary.append_local(vec![*key], value.map(|v| vec![v])).unwrap();
                match value {
                    Some(v) => reference.insert(vec![*key], vec![*v]),
                    None => reference.remove(&vec![*key]),
                };
                if i == crash_after {
                    ship(&primary, &follower, chunk, 100);
                    let applied = follower.status().lsn;
                    replica_env.disk.crash();
                    follower = replica(&replica_env, KvConfig::default());
                    prop_assert_eq!(follower.status().lsn, applied);
                }
            }
            ship(&primary, &follower, chunk, 100);
            prop_assert_eq!(follower.status().lsn, ops.len() as u64);
            let map = follower.state.borrow().log.store.map().clone();
            prop_assert_eq!(map, reference.clone());
            for (key, value) in &reference {
                prop_assert_eq!(primary.read(key, 0), Msg::Value { value: Some(value.clone()), lsn: ops.len() as u64 });
            }
        }
    }
}
