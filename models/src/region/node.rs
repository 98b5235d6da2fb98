//! An active-active store node: one per region, every one accepting writes. Clients speak the
//! kv store's data API on the service port ([`GeoNode`] is its handler); peers speak
//! [`GeoMsg`] on [`PEER_PORT`] ([`PeerPort`] is that handler), and [`GeoNode::replicate`]
//! runs the shippers that push this node's writes to every peer.
//!
//! - A write is stamped by the node's hybrid logical clock, journaled and synced, applied, and
//!   acknowledged; then it ships, in order, to every peer (a full mesh: each node ships only
//!   its own writes, so every pair of regions must be able to talk for everyone to converge).
//! - A peer applies what it receives by last writer wins (writes) or by the PN-counter merge
//!   (counters), and answers how far it holds the sender's log; a shipper that loses its peer
//!   reconnects and resumes from there, so a partition only delays delivery.
//! - A batch whose sender clock is more than `max_offset` ahead is refused whole: replication
//!   from a node with a runaway clock stops rather than drag every region into its future.
//! - Idle shippers send empty batches every `heartbeat`, so a peer knows how far it holds the
//!   sender's writes even when there are none; from that each node reports the windows of
//!   stamps it holds in full, with their digests (state `geo_window`), and how far behind it
//!   is (gauge `geo_behind_ms`). It reports every write it discarded on arrival (state
//!   `lww_discard`), and counts them (gauge `lww_discarded`) and the refused batches
//!   (`geo_refused`), and publishes the sum of its counters' values (`geo_counters`).
//! - A counter (`Add`) is a PN-counter: each region adds to its own totals, which ship like
//!   writes and merge by the larger total, so no region's update is ever lost.
//! - A compare-and-set compares at this node only: two regions may both succeed on the same
//!   expected value, and last writer wins between them.
//!
//! Must not: know the simulation, or route clients (they are sent to their nearest region).

use super::api::{Body, Entry, GeoMsg};
use super::hlc::Hlc;
use super::journal::Journal;
use super::lww::LwwMap;
use super::state::{Discard, State};
use crate::client::Client;
use crate::kv::api::Msg;
use crate::proto::{ErrorCode, Framed};
use crate::seam::{DiskError, Env};
use crate::server::{Handler, Replier};
use faultline_vocab::{gauge, state};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// The port active-active nodes replicate on.
pub const PEER_PORT: u16 = 7001;

/// Another region's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoPeer {
    /// Its region index (its `origin` in versions).
    pub origin: u16,
    /// "host:port" of its peer port.
    pub addr: String,
}

/// A node's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoConfig {
    /// This node's region index: unique among the nodes, it breaks ties between equal stamps.
    pub origin: u16,
    /// Every other region's node.
    pub peers: Vec<GeoPeer>,
    /// The largest clock offset accepted from a peer.
    pub max_offset: Duration,
    /// How often an idle shipper sends an empty batch, and gauges are published.
    pub heartbeat: Duration,
    /// Width of the windows of stamps whose digests the node reports.
    pub window: Duration,
    /// Most entries in one batch.
    pub batch_max: usize,
    /// How long a shipper waits for a peer's answer (and to connect) before starting over.
    pub call_timeout: Duration,
}

impl GeoConfig {
    /// Settings with the defaults: 500 ms maximum offset (CockroachDB's), 100 ms heartbeat,
    /// 1 s windows, 512 entries a batch, 2 s call timeout.
    pub fn new(origin: u16, peers: Vec<GeoPeer>) -> Self {
        Self {
            origin,
            peers,
            max_offset: Duration::from_millis(500),
            heartbeat: Duration::from_millis(100),
            window: Duration::from_secs(1),
            batch_max: 512,
            call_timeout: Duration::from_secs(2),
        }
    }
}

struct Inner<E: Env> {
    env: E,
    config: GeoConfig,
    peer_ids: Vec<u16>,
    state: RefCell<State>,
    /// Wakes idle shippers when a local write is appended.
    fresh: Notify,
    /// Gauges as last published, so they are published on change only.
    published: RefCell<BTreeMap<&'static str, i64>>,
    /// When the node started, on its own clock (ns): the frontier assumed for a peer not yet
    /// heard from, for the lag gauge.
    started_ns: u64,
}

/// An active-active store node (cheap to clone: the clones share it).
pub struct GeoNode<E: Env> {
    inner: Rc<Inner<E>>,
}

impl<E: Env> Clone for GeoNode<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

fn now_ns<E: Env>(env: &E) -> u64 {
    u64::try_from(env.now().as_nanos()).unwrap_or(u64::MAX)
}

impl<E: Env> GeoNode<E> {
    /// Opens the node on `env`'s disk, replaying its journal (a restart finds everything it
    /// acknowledged or told a peer it held).
    pub fn open(env: E, config: GeoConfig) -> Result<Self, DiskError> {
        let (journal, records) = Journal::open(env.disk())?;
        let window_ns = u64::try_from(config.window.as_nanos()).unwrap_or(u64::MAX).max(1);
        let max_offset_ns = u64::try_from(config.max_offset.as_nanos()).unwrap_or(u64::MAX);
        let started_ns = now_ns(&env);
        let mut st = State {
            origin: config.origin,
            hlc: Hlc::new(max_offset_ns),
            map: LwwMap::new(),
            counters: BTreeMap::new(),
            local: Vec::new(),
            applied: BTreeMap::new(),
            frontier: BTreeMap::new(),
            windows: BTreeMap::new(),
            next_window: started_ns / window_ns + 1,
            window_ns,
            journal,
            refused: 0,
        };
        for (origin, entry) in records {
            st.hlc.restore(entry.stamp);
            st.apply(origin, &entry);
            if origin == config.origin {
                st.local.push(entry);
            }
        }
        let peer_ids = config.peers.iter().map(|p| p.origin).collect();
        let inner = Inner {
            env,
            config,
            peer_ids,
            state: RefCell::new(st),
            fresh: Notify::new(),
            published: RefCell::default(),
            started_ns,
        };
        Ok(Self { inner: Rc::new(inner) })
    }

    /// The handler of the peer port.
    pub fn peer_port(&self) -> PeerPort<E> {
        PeerPort { node: self.clone() }
    }

    /// Starts the shippers (one per peer) and the gauge ticker on the node's environment.
    pub fn replicate(&self) {
        for peer in self.inner.config.peers.clone() {
            let node = self.clone();
            self.inner.env.spawn(async move { node.ship_to(peer).await });
        }
        let node = self.clone();
        self.inner.env.spawn(async move {
            loop {
                node.publish();
                node.inner.env.sleep(node.inner.config.heartbeat).await;
            }
        });
    }

    /// The value of `key` here.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.state.borrow().map.get(key).map(<[u8]>::to_vec)
    }

    /// The value of counter `key` here.
    pub fn counter(&self, key: &[u8]) -> i64 {
        self.inner.state.borrow().counters.get(key).map_or(0, |c| c.value())
    }

    /// Writes discarded on arrival here so far.
    pub fn discarded(&self) -> u64 {
        self.inner.state.borrow().map.discarded()
    }

    /// Every window's digest here (for tests).
    #[cfg(test)]
    pub(crate) fn inner_windows(&self) -> Vec<(u64, u64)> {
        self.inner.state.borrow().windows.iter().map(|(k, d)| (*k, *d)).collect()
    }

    /// Batches refused here so far because their sender's clock was too far ahead.
    pub fn refused(&self) -> u64 {
        self.inner.state.borrow().refused
    }

    /// Writes `value` to `key` (`None`: deletes it), durably, and queues it for the peers.
    pub fn write(&self, key: &[u8], value: Option<Vec<u8>>) -> Result<(), DiskError> {
        self.append(key, |_| Body::Write(value))
    }

    /// Adds `delta` to counter `key` (negative: subtracts), durably; returns its value here.
    pub fn add(&self, key: &[u8], delta: i64) -> Result<i64, DiskError> {
        let origin = self.inner.config.origin;
        self.append(key, |st| {
            let totals = st.counters.get(key).map(|c| c.totals(origin)).unwrap_or_default();
            Body::Count(totals.plus(delta))
        })?;
        Ok(self.counter(key))
    }

    /// Stamps, journals (synced), applies and queues one local entry.
    fn append(&self, key: &[u8], body: impl FnOnce(&State) -> Body) -> Result<(), DiskError> {
        let pt = now_ns(&self.inner.env);
        let mut st = self.inner.state.borrow_mut();
        let stamp = st.hlc.now(pt);
        let entry = Entry { seq: st.local.len() as u64 + 1, stamp, key: key.to_vec(), body: body(&st) };
        let origin = st.origin;
        st.journal.append(origin, &entry)?;
        st.journal.sync()?;
        let discard = st.apply(origin, &entry);
        debug_assert!(discard.is_none(), "a local write is stamped above everything the node has seen");
        st.local.push(entry);
        drop(st);
        self.inner.fresh.notify_waiters();
        Ok(())
    }

    /// Applies a peer's batch; the reply to it.
    pub(crate) fn receive(&self, origin: u32, clock: super::hlc::Stamp, entries: Vec<Entry>) -> GeoMsg {
        let Some(origin) = u16::try_from(origin).ok().filter(|o| self.inner.peer_ids.contains(o)) else {
            return GeoMsg::Error { code: ErrorCode::BadRequest, detail: format!("region {origin} is not a peer") };
        };
        let pt = now_ns(&self.inner.env);
        let mut st = self.inner.state.borrow_mut();
        if let Err(e) = st.hlc.observe(clock, pt) {
            st.refused += 1;
            return GeoMsg::Refused { ahead_ns: e.ahead_ns };
        }
        let mut upto = st.applied.get(&origin).copied().unwrap_or(0);
        let mut whole = true;
        let mut discards = Vec::new();
        for entry in &entries {
            if entry.seq <= upto {
                continue;
            }
            if entry.seq != upto + 1 {
                whole = false;
                break;
            }
            if let Err(e) = st.journal.append(origin, entry) {
                return storage_error(e);
            }
            discards.extend(st.apply(origin, entry));
            upto = entry.seq;
        }
        if let Err(e) = st.journal.sync() {
            return storage_error(e);
        }
        if whole {
            let f = st.frontier.entry(origin).or_default();
            *f = (*f).max(clock.wall_ns);
        }
        let held = st.held_windows(&self.inner.peer_ids);
        drop(st);
        self.report(&discards, &held);
        GeoMsg::Have { upto }
    }

    fn report(&self, discards: &[Discard], held: &[(u64, u64)]) {
        for d in discards {
            self.inner.env.state(state::LWW_DISCARD, &d.text());
        }
        for (k, digest) in held {
            self.inner.env.state(state::GEO_WINDOW, &format!("{k} {digest:016x}"));
        }
    }

    /// Publishes the gauges that changed, and the windows now held (a node with no peers
    /// holds its windows by its own clock).
    fn publish(&self) {
        let pt = now_ns(&self.inner.env);
        let mut st = self.inner.state.borrow_mut();
        if self.inner.peer_ids.is_empty() {
            st.hlc.now(pt);
        }
        let held = st.held_windows(&self.inner.peer_ids);
        let oldest =
            self.inner.peer_ids.iter().map(|p| st.frontier.get(p).copied().unwrap_or(self.inner.started_ns)).min();
        let behind_ms = oldest.map_or(0, |f| pt.saturating_sub(f) / 1_000_000);
        let values = [
            (gauge::LWW_DISCARDED, st.map.discarded()),
            (gauge::GEO_REFUSED, st.refused),
            (gauge::GEO_BEHIND_MS, behind_ms),
        ];
        let counters = st.counters.values().map(|c| c.value()).fold(0i64, i64::wrapping_add);
        drop(st);
        self.report(&[], &held);
        let mut published = self.inner.published.borrow_mut();
        let values = values.map(|(name, v)| (name, i64::try_from(v).unwrap_or(i64::MAX)));
        for (name, value) in values.into_iter().chain([(gauge::GEO_COUNTERS, counters)]) {
            if published.insert(name, value) != Some(value) {
                self.inner.env.gauge(name, value);
            }
        }
    }

    /// Ships this node's writes to `peer`, forever: introduce, then stream from what it holds;
    /// on any failure, wait a heartbeat and start over on a new connection.
    async fn ship_to(&self, peer: GeoPeer) {
        let env = &self.inner.env;
        let config = &self.inner.config;
        loop {
            let client = Client::<E, GeoMsg>::new(env.clone(), peer.addr.clone(), config.call_timeout);
            let hello = GeoMsg::Hello { origin: u32::from(config.origin) };
            if let Ok(GeoMsg::Have { upto }) = client.call(hello, config.call_timeout).await {
                self.stream(&client, upto).await;
            }
            env.sleep(config.heartbeat).await;
        }
    }

    /// Sends batches from `upto` on until a call fails.
    async fn stream(&self, client: &Client<E, GeoMsg>, mut upto: u64) {
        let env = &self.inner.env;
        let config = &self.inner.config;
        loop {
            if self.inner.state.borrow().local.len() as u64 <= upto {
                let _ = crate::seam::timeout(env, config.heartbeat, self.inner.fresh.notified()).await;
            }
            let ship = self.batch(upto);
            match client.call(ship, config.call_timeout).await {
                Ok(GeoMsg::Have { upto: held }) => upto = held,
                Ok(GeoMsg::Refused { .. }) => env.sleep(config.heartbeat).await,
                Ok(GeoMsg::Hello { .. } | GeoMsg::Ship { .. } | GeoMsg::Error { .. }) | Err(_) => return,
            }
        }
    }

    /// The next batch after `upto`, with the clock it is complete up to: a fresh stamp when it
    /// holds every local entry, else its last entry's stamp.
    fn batch(&self, upto: u64) -> GeoMsg {
        let pt = now_ns(&self.inner.env);
        let mut st = self.inner.state.borrow_mut();
        let from = usize::try_from(upto).unwrap_or(usize::MAX).min(st.local.len());
        let to = st.local.len().min(from + self.inner.config.batch_max.max(1));
        let entries = st.local[from..to].to_vec();
        let clock = if to == st.local.len() { st.hlc.now(pt) } else { entries[entries.len() - 1].stamp };
        GeoMsg::Ship { origin: u32::from(st.origin), clock, entries }
    }
}

fn storage_error(e: DiskError) -> GeoMsg {
    GeoMsg::Error { code: ErrorCode::Storage, detail: e.to_string() }
}

impl<E: Env> Handler<E> for GeoNode<E> {
    type Codec = Framed<Msg>;

    async fn handle(&self, msg: Msg, _replier: Replier<E, Framed<Msg>>) -> Option<Msg> {
        let written = |r: Result<(), DiskError>| match r {
            Ok(()) => Msg::Written { lsn: 0, epoch: 0 },
            Err(e) => Msg::Error { code: ErrorCode::Storage, detail: e.to_string() },
        };
        Some(match msg {
            Msg::Get { key, .. } => Msg::Value { value: self.get(&key), lsn: 0 },
            Msg::Put { key, value } => written(self.write(&key, Some(value))),
            Msg::Delete { key } => written(self.write(&key, None)),
            Msg::Cas { key, expected, value } => {
                if self.get(&key) != expected {
                    Msg::Error { code: ErrorCode::CasMismatch, detail: "the key holds another value here".into() }
                } else {
                    written(self.write(&key, Some(value)))
                }
            }
            Msg::Hold { ms } => {
                self.inner.env.sleep(Duration::from_millis(u64::from(ms))).await;
                Msg::Value { value: None, lsn: 0 }
            }
            Msg::Add { key, delta } => match self.add(&key, delta) {
                Ok(value) => Msg::Counted { value },
                Err(e) => Msg::Error { code: ErrorCode::Storage, detail: e.to_string() },
            },
            Msg::Subscribe { .. }
            | Msg::Value { .. }
            | Msg::Written { .. }
            | Msg::Counted { .. }
            | Msg::Log { .. }
            | Msg::Applied { .. }
            | Msg::Error { .. }
            | Msg::Check { .. }
            | Msg::Status(_)
            | Msg::Promote { .. }
            | Msg::Follow { .. }
            | Msg::Truncate { .. } => Msg::Error {
                code: ErrorCode::BadRequest,
                detail: format!(
                    "an active-active store serves Get, Put, Delete, Cas, Add and Hold, not {}",
                    msg.name()
                ),
            },
        })
    }

    fn read_key(&self, msg: &Msg) -> Option<Vec<u8>> {
        match msg {
            Msg::Get { key, .. } => Some(key.clone()),
            _ => None,
        }
    }
}

/// The handler of a node's peer port.
pub struct PeerPort<E: Env> {
    node: GeoNode<E>,
}

impl<E: Env> Handler<E> for PeerPort<E> {
    type Codec = Framed<GeoMsg>;

    async fn handle(&self, msg: GeoMsg, _replier: Replier<E, Framed<GeoMsg>>) -> Option<GeoMsg> {
        let st = &self.node.inner.state;
        Some(match msg {
            GeoMsg::Hello { origin } => {
                let upto = u16::try_from(origin).ok().and_then(|o| st.borrow().applied.get(&o).copied()).unwrap_or(0);
                GeoMsg::Have { upto }
            }
            GeoMsg::Ship { origin, clock, entries } => self.node.receive(origin, clock, entries),
            GeoMsg::Have { .. } | GeoMsg::Refused { .. } | GeoMsg::Error { .. } => GeoMsg::Error {
                code: ErrorCode::BadRequest,
                detail: format!("a peer port answers Hello and Ship, not {}", msg.name()),
            },
        })
    }
}
