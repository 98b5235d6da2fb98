//! The cache tier as an application uses it: cache-aside reads through an optional in-process
//! L1, then the L2 node that owns the key (several L2 nodes, keys spread by a [`Sharder`]),
//! then the loader the caller gives (the database); and what a write does to the caches.
//!
//! - Read: an L1 hit is answered at once (unless XFetch decides to refresh it early); then
//!   `GET` on the owning L2 node, whose hit also fills the L1; a miss (or a failing L2, which
//!   counts as a miss: the database still answers) runs the loader under the stampede policy,
//!   and a found value fills L2 (`SET key value PX ttl`) and L1. Absent keys are not cached.
//! - Stampede protection ([`Stampede`]): none (every concurrent miss loads); single-flight (one
//!   load per key in flight on this host, the others share its result, Go's `singleflight`);
//!   or a lock in L2 (`SET lock:<key> <token> NX PX lease`: the holder loads and fills, then
//!   deletes the lock; the others poll `GET` every `retry` for up to `lease`, then load
//!   anyway). Single-flight composes with the lock (one contender per host).
//! - Early refresh (XFetch, Vattani et al.): with `early_refresh = Some(beta)`, an L1 entry is
//!   refreshed before it expires with probability `exp(-(expiry - now) / (beta * delta))`,
//!   `delta` being the time its load took. For L2 hits, `PTTL` is sent beside `GET` (one round
//!   trip, pipelined) and `delta` is this host's running mean load time.
//! - Write ([`WritePolicy`]), after the database acknowledged it: invalidate (`DEL` on the
//!   owner, and this host's L1; other hosts' L1 entries live out their TTL: an L1 bounds
//!   staleness by its TTL, not by invalidation), write-through (`SET` the new value), or
//!   invalidate with a lease (a marker that refuses fills for a while: see
//!   [`WritePolicy::InvalidateWithLease`]).
//! - Cache-aside's race, kept on purpose under plain invalidation and write-through: a miss
//!   that read an old value (a slow read, a lagging replica) and fills after a write's
//!   invalidation leaves that old value cached until its TTL. The staleness check finds it.
//!
//! - Membership: the knob [`Knob::ShardMask`] takes L2 nodes out of the routing (bit i set: node
//!   i of `nodes` is out; nodes past the 64th are always in). It is read before each routing
//!   decision; when it changed, the sharder is rebuilt over the nodes still in, in their
//!   configured order (for a scheme that cannot be rebuilt so, a range's or a directory's, the
//!   nodes out are removed from the full sharder one by one; one it refuses to drop stays in).
//!   The keys whose owner changed go cold; a node that joins again still holds what it had
//!   when it left, which may be stale by then (writes meanwhile invalidated other nodes). With
//!   every node out there is no L2: reads go to the loader, writes touch only the L1.
//! - Ejection ([`Eject`], Twemproxy's `auto_eject_hosts`): with it on, a node whose calls fail
//!   (time out, are refused or reset) `failures` times in a row leaves the routing as if the
//!   shard mask had taken it out, for `retry`; then it comes back on trial: one more failure
//!   ejects it again, a success clears its count. Reported as the state `tier`
//!   ("<node>:ejected", "<node>:returned"). An error reply (e.g. `OOM`) is the node answering,
//!   not a failure. Its keys go cold meanwhile, on the nodes that own them now; when it
//!   returns it still holds what it had, which writes meanwhile did not invalidate (the same
//!   hazard as a shard joining again). A node that flaps (back on trial, failing again) would
//!   bring back another hazard: a write whose update failed on it leaves the copy its keys'
//!   other owner took during an earlier ejection, older than the write, and the next ejection
//!   serves it. So a write whose cache update fails also deletes the key on that other owner.
//!   Without ejection, every read of a dead node's keys waits out the L2 timeout.
//!
//! Gauges (cumulative): "cache_hits" (reads answered by L1 or L2), "cache_misses" (reads that
//! ran the loader or joined a load), "l1_hits", "db_loads" (loads this host started),
//! "early_refreshes", "lock_waits", "cache_errors" (L2 calls that failed), "key_loads_peak"
//! (the most loads of one key this host had running at once) and, with ejection on,
//! "l2_ejections".
//!
//! This file must not know what the loader reads from, nor how L2 stores: it speaks RESP.

use super::client::RespClient;
use super::l1::flight::SingleFlight;
use super::l1::xfetch::{draw_u, should_refresh};
use super::l1::{L1, L1Config};
use super::resp::Frame;
use crate::seam::{Env, Knob};
use crate::shard::{Node, Scheme, ShardError, Sharder};
use faultline_vocab::{gauge, state};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// How concurrent misses of one key are kept from all reaching the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stampede {
    /// Every miss loads.
    None,
    /// One load per key in flight on this host.
    SingleFlight,
    /// A lock in L2: one load per key across hosts while the lock is held.
    Lock {
        /// How long the lock lives (`PX`), and the longest a contender waits.
        lease: Duration,
        /// How often a contender looks for the value again.
        retry: Duration,
        /// Also single-flight on this host (one contender per host).
        single_flight: bool,
    },
}

/// What a write does to the caches once the database acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePolicy {
    /// Delete the key from L2 (and this host's L1).
    Invalidate,
    /// Store the new value in L2 (and drop this host's L1 entry).
    WriteThrough,
    /// Replace the key in L2 by a marker that lives `lease` (`SET key <marker> PX lease`), and
    /// fill only where nothing is (`SET ... NX`): a miss that read an old value before the
    /// write, or from a replica that had not applied it yet, cannot put it back for `lease`.
    /// A read that finds the marker is a miss that loads without filling. It closes
    /// cache-aside's race for misses shorter than `lease` (and replicas lagging less).
    InvalidateWithLease {
        /// How long fills are refused after a write.
        lease: Duration,
    },
}

/// When a tier takes a failing L2 node out of its routing (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eject {
    /// Consecutive failed calls that eject a node (Twemproxy's `server_failure_limit`).
    pub failures: u32,
    /// How long an ejected node stays out (Twemproxy's `server_retry_timeout`).
    pub retry: Duration,
}

/// The value a write leaves in L2 under [`WritePolicy::InvalidateWithLease`]: no value a
/// store holds starts with a NUL and this text.
pub const WRITE_MARKER: &[u8] = b"\0faultline:written";

/// How a fill of L2 went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Stored,
    /// A write's marker is there: the loaded value may be older than that write.
    Refused,
    Failed,
}

/// Configuration of a cache tier.
#[derive(Debug, Clone, PartialEq)]
pub struct TierConfig {
    /// The L2 nodes: (name, "host:port"). Keys are spread over them by `scheme`.
    pub nodes: Vec<(String, String)>,
    /// How keys are spread over the L2 nodes.
    pub scheme: Scheme,
    /// Time to live of what is stored in L2 (`None`: until evicted).
    pub ttl: Option<Duration>,
    /// The in-process cache, if any.
    pub l1: Option<L1Config>,
    /// Stampede protection.
    pub stampede: Stampede,
    /// XFetch's beta, when early refresh is on (1.0 is the paper's choice).
    pub early_refresh: Option<f64>,
    /// What writes do to the caches.
    pub write: WritePolicy,
    /// The longest one L2 call may take.
    pub timeout: Duration,
    /// Whether and when a failing node leaves the routing (`None`: never by itself).
    pub eject: Option<Eject>,
}

impl TierConfig {
    /// A tier over `nodes` on a ring (160 points a node), nothing stored with a TTL, no L1, no
    /// stampede protection, invalidation on write; each L2 call bounded by `timeout`.
    pub fn new(nodes: Vec<(String, String)>, timeout: Duration) -> Self {
        TierConfig {
            nodes,
            scheme: Scheme::ring(),
            ttl: None,
            l1: None,
            stampede: Stampede::None,
            early_refresh: None,
            write: WritePolicy::Invalidate,
            timeout,
            eject: None,
        }
    }
}

/// Where a read's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The in-process cache.
    L1,
    /// The L2 node that owns the key.
    L2,
    /// The loader (the database), by this read or by a load it joined.
    Loaded,
}

/// What the loader found: the value (`None`: absent) and its log position.
pub type Loaded = (Option<Vec<u8>>, u64);

/// An L1 entry: the value, when it expires (for XFetch) and how long its load took.
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expiry: Option<Duration>,
    delta: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    hits: Cell<u64>,
    misses: Cell<u64>,
    l1_hits: Cell<u64>,
    loads: Cell<u64>,
    early: Cell<u64>,
    lock_waits: Cell<u64>,
    errors: Cell<u64>,
    peak: Cell<u64>,
    ejections: Cell<u64>,
}

/// How an L2 node's calls have gone, for ejection.
#[derive(Debug, Clone, Copy, Default)]
struct Health {
    /// Failed calls in a row.
    failures: u32,
    /// While ejected: when it comes back.
    out_until: Option<Duration>,
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// The cache tier of one application host.
pub struct CacheTier<E: Env, X = String> {
    env: E,
    config: TierConfig,
    /// Every node, as configured (bit i of the shard mask is `nodes[i]`).
    full: Sharder,
    /// The routing over the nodes in now (`None`: every node is out).
    sharder: RefCell<Option<Sharder>>,
    /// The nodes out of `sharder` (the shard mask's and the ejected ones), a bit each.
    mask: Cell<u64>,
    /// Each node's client, in `config.nodes` order.
    clients: Vec<RespClient<E>>,
    /// A node's position in `config.nodes`, by name.
    index: BTreeMap<Node, usize>,
    /// Each node's health, in `config.nodes` order.
    health: RefCell<Vec<Health>>,
    l1: Option<RefCell<L1<Entry>>>,
    flights: SingleFlight<Vec<u8>, Result<Loaded, X>>,
    /// Loads running now, by key (for the peak).
    running: RefCell<BTreeMap<Vec<u8>, u64>>,
    /// A moving mean of load times (XFetch's delta for L2 entries).
    mean_load: Cell<Duration>,
    rng: RefCell<ChaCha8Rng>,
    counters: Counters,
    /// Lock tokens: unique per host and lock.
    next_token: Cell<u64>,
}

impl<E: Env, X: Clone> CacheTier<E, X> {
    /// A tier over `config`'s nodes; connections open lazily. Errors: the node list does not
    /// suit the scheme.
    pub fn new(env: E, config: TierConfig) -> Result<Self, ShardError> {
        let names = config.nodes.iter().map(|(name, _)| name.as_str().into()).collect();
        let full = Sharder::new(config.scheme.clone(), names)?;
        let clients =
            config.nodes.iter().map(|(_, addr)| RespClient::new(env.clone(), addr.clone(), config.timeout)).collect();
        let index = full.nodes().iter().enumerate().map(|(i, node)| (node.clone(), i)).collect();
        let l1 = config.l1.map(|l1| RefCell::new(L1::new(l1)));
        let tier = Self {
            rng: RefCell::new(env.rng("cache-tier")),
            env,
            sharder: RefCell::new(Some(full.clone())),
            full,
            mask: Cell::new(0),
            clients,
            index,
            health: RefCell::new(vec![Health::default(); config.nodes.len()]),
            l1,
            flights: SingleFlight::new(),
            running: RefCell::default(),
            mean_load: Cell::new(Duration::ZERO),
            counters: Counters::default(),
            next_token: Cell::new(1),
            config,
        };
        tier.publish();
        Ok(tier)
    }

    fn publish(&self) {
        let c = &self.counters;
        for (name, value) in [
            (gauge::CACHE_HITS, &c.hits),
            (gauge::CACHE_MISSES, &c.misses),
            (gauge::L1_HITS, &c.l1_hits),
            (gauge::DB_LOADS, &c.loads),
            (gauge::EARLY_REFRESHES, &c.early),
            (gauge::LOCK_WAITS, &c.lock_waits),
            (gauge::CACHE_ERRORS, &c.errors),
            (gauge::KEY_LOADS_PEAK, &c.peak),
        ] {
            self.env.gauge(name, value.get() as i64);
        }
        // Only a tier that may eject publishes its ejections: without it, nothing to show.
        if self.config.eject.is_some() {
            self.env.gauge(gauge::L2_EJECTIONS, c.ejections.get() as i64);
        }
    }

    /// The L2 nodes as configured: (name, "host:port").
    pub fn nodes(&self) -> &[(String, String)] {
        &self.config.nodes
    }

    /// The position in `config.nodes` of the L2 node that owns `key` now (`None`: every node
    /// is out).
    fn owner(&self, key: &[u8]) -> Option<usize> {
        self.index.get(&self.route(key)?).copied()
    }

    /// The name of the L2 node that owns `key` now (`None`: every node is out), after taking
    /// in a change of the shard mask or of the nodes ejected.
    pub fn route(&self, key: &[u8]) -> Option<Node> {
        let mask = self.env.knob(Knob::ShardMask) | self.ejected();
        if mask != self.mask.get() {
            self.mask.set(mask);
            let rebuilt = self.members(mask);
            *self.sharder.borrow_mut() = rebuilt;
        }
        self.sharder.borrow().as_ref().map(|sharder| sharder.owner(key).clone())
    }

    /// The nodes ejected now, a bit each; a node whose time out is over comes back on trial.
    fn ejected(&self) -> u64 {
        let Some(eject) = self.config.eject else { return 0 };
        let now = self.env.now();
        let mut out = 0;
        for (i, health) in self.health.borrow_mut().iter_mut().enumerate() {
            match health.out_until {
                Some(until) if now >= until => {
                    health.out_until = None;
                    health.failures = eject.failures.saturating_sub(1);
                    self.env.state(state::TIER, &format!("{}:returned", self.config.nodes[i].0));
                }
                Some(_) => out |= 1 << i,
                None => {}
            }
        }
        out
    }

    /// Counts how a call to node `i` went: a success clears its failures, a failure counts and,
    /// with ejection on, may eject it.
    fn record(&self, i: usize, ok: bool) {
        let Some(eject) = self.config.eject else { return };
        let mut health = self.health.borrow_mut();
        let health = &mut health[i];
        if ok {
            health.failures = 0;
            return;
        }
        health.failures += 1;
        // The shard mask has a bit for the first 64 nodes only: the others are never ejected.
        if health.failures >= eject.failures && health.out_until.is_none() && i < 64 {
            health.out_until = Some(self.env.now() + eject.retry);
            bump(&self.counters.ejections);
            self.env.state(state::TIER, &format!("{}:ejected", self.config.nodes[i].0));
            self.publish();
        }
    }

    /// Calls node `i` with `args`, counting how it went for ejection.
    async fn call(&self, i: usize, args: &[&[u8]]) -> Result<Frame, crate::client::CallError> {
        let reply = self.clients[i].call(args, self.config.timeout).await;
        self.record(i, reply.is_ok());
        reply
    }

    /// The routing over the nodes `mask` leaves in (see the module doc).
    fn members(&self, mask: u64) -> Option<Sharder> {
        let nodes = self.full.nodes();
        let out = |i: usize| i < 64 && mask >> i & 1 == 1;
        let kept: Vec<Node> = nodes.iter().enumerate().filter(|&(i, _)| !out(i)).map(|(_, n)| n.clone()).collect();
        if kept.is_empty() {
            return None;
        }
        if let Ok(sharder) = Sharder::new(self.config.scheme.clone(), kept) {
            return Some(sharder);
        }
        let mut sharder = self.full.clone();
        for (_, node) in nodes.iter().enumerate().filter(|&(i, _)| out(i)) {
            // A node the scheme refuses to drop stays in.
            let _ = sharder.remove(node);
        }
        Some(sharder)
    }

    /// Reads `key` cache-aside; `load` reads it from the database (an `Err` is the error
    /// reply to give, and is never cached). The value, its log position (0 from a cache, which
    /// keeps none) and where it came from.
    pub async fn read<F, Fut>(&self, key: &[u8], load: F) -> Result<(Loaded, Source), X>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, X>>,
    {
        let now = self.env.now();
        if let Some(entry) = self.l1_get(key, now) {
            if !self.refresh_early(entry.expiry, entry.delta, now) {
                bump(&self.counters.hits);
                bump(&self.counters.l1_hits);
                self.publish();
                return Ok(((Some(entry.value), 0), Source::L1));
            }
            bump(&self.counters.early);
        } else if let Some(value) = self.l2_get(key).await {
            bump(&self.counters.hits);
            self.publish();
            self.l1_put(key, value.clone(), self.mean_load.get());
            return Ok(((Some(value), 0), Source::L2));
        }
        bump(&self.counters.misses);
        self.publish();
        let loaded = match self.config.stampede {
            Stampede::None => self.load_and_fill(key, load).await,
            Stampede::SingleFlight => self.flights.run(key.to_vec(), self.load_and_fill(key, load)).await,
            Stampede::Lock { single_flight: false, .. } => self.locked_load(key, load).await,
            Stampede::Lock { single_flight: true, .. } => {
                self.flights.run(key.to_vec(), self.locked_load(key, load)).await
            }
        };
        loaded.map(|found| (found, Source::Loaded))
    }

    /// Whether XFetch refreshes an entry expiring at `expiry` whose load took `delta`.
    fn refresh_early(&self, expiry: Option<Duration>, delta: Duration, now: Duration) -> bool {
        match (self.config.early_refresh, expiry) {
            (Some(beta), Some(expiry)) => {
                let u = draw_u(&mut *self.rng.borrow_mut());
                should_refresh(now, expiry, delta, beta, u)
            }
            (Some(_), None) | (None, _) => false,
        }
    }

    fn l1_get(&self, key: &[u8], now: Duration) -> Option<Entry> {
        self.l1.as_ref()?.borrow_mut().get(key, now)
    }

    fn l1_put(&self, key: &[u8], value: Vec<u8>, delta: Duration) {
        if let Some(l1) = &self.l1 {
            let now = self.env.now();
            let mut l1 = l1.borrow_mut();
            let expiry = l1.config().ttl.map(|ttl| now + ttl);
            l1.insert(key, Entry { value, expiry, delta }, now);
        }
    }

    /// The value L2 holds for `key`; a failure counts and reads as a miss. With early refresh
    /// on, a hit that XFetch picks for refresh also reads as a miss.
    async fn l2_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let node = self.owner(key)?;
        let (got, ttl) = match self.config.early_refresh {
            None => (self.call(node, &[b"GET", key]).await, None),
            Some(_) => {
                let get: [&[u8]; 2] = [b"GET", key];
                let pttl: [&[u8]; 2] = [b"PTTL", key];
                let (got, ttl) = tokio::join!(self.call(node, &get), self.call(node, &pttl));
                (got, ttl.ok())
            }
        };
        match got {
            Ok(Frame::Bulk(value)) if value == WRITE_MARKER => None,
            Ok(Frame::Bulk(value)) => {
                let now = self.env.now();
                let expiry = match ttl {
                    Some(Frame::Integer(ms)) if ms >= 0 => Some(now + Duration::from_millis(ms as u64)),
                    _ => None,
                };
                if self.refresh_early(expiry, self.mean_load.get(), now) {
                    bump(&self.counters.early);
                    return None;
                }
                Some(value)
            }
            Ok(Frame::Null) => None,
            Ok(_) | Err(_) => {
                bump(&self.counters.errors);
                None
            }
        }
    }

    /// Runs the loader, counting it, and fills both caches with a found value.
    async fn load_and_fill<F, Fut>(&self, key: &[u8], load: F) -> Result<Loaded, X>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, X>>,
    {
        bump(&self.counters.loads);
        let running = {
            let mut running = self.running.borrow_mut();
            let n = running.entry(key.to_vec()).or_insert(0);
            *n += 1;
            *n
        };
        if running > self.counters.peak.get() {
            self.counters.peak.set(running);
        }
        self.publish();
        let started = self.env.now();
        let loaded = load().await;
        let took = self.env.now().saturating_sub(started);
        {
            let mut running = self.running.borrow_mut();
            if let Some(n) = running.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    running.remove(key);
                }
            }
        }
        // An exponentially weighted mean, weight 1/8 to the newest load.
        let mean = self.mean_load.get();
        self.mean_load.set(if mean.is_zero() { took } else { mean - mean / 8 + took / 8 });
        if let Ok((Some(value), _)) = &loaded {
            // A failed fill costs a later miss, not this read; a refused one (a write's marker
            // is there) says the value may be old: it goes in no cache.
            if self.l2_set(key, value, true).await != Fill::Refused {
                self.l1_put(key, value.clone(), took);
            }
        }
        loaded
    }

    /// `SET key value [PX ttl]` on the owner, with `NX` when it fills a miss under a lease
    /// policy; a failure costs a later miss, not this read.
    async fn l2_set(&self, key: &[u8], value: &[u8], filling: bool) -> Fill {
        let ttl = self.config.ttl.map(|ttl| ttl.as_millis().max(1).to_string());
        let nx = filling && matches!(self.config.write, WritePolicy::InvalidateWithLease { .. });
        let mut args: Vec<&[u8]> = vec![b"SET", key, value];
        if let Some(ms) = &ttl {
            args.extend([b"PX".as_slice(), ms.as_bytes()]);
        }
        if nx {
            args.push(b"NX");
        }
        // With every node out of the tier there is nowhere to fill.
        let Some(owner) = self.owner(key) else { return Fill::Failed };
        match self.call(owner, &args).await {
            Ok(Frame::Simple(_)) => Fill::Stored,
            Ok(Frame::Null) if nx => Fill::Refused,
            Ok(_) | Err(_) => {
                bump(&self.counters.errors);
                self.publish();
                Fill::Failed
            }
        }
    }

    /// The lock variant: the holder of `lock:<key>` loads; the others wait for its fill.
    async fn locked_load<F, Fut>(&self, key: &[u8], load: F) -> Result<Loaded, X>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, X>>,
    {
        let (Stampede::Lock { lease, retry, .. }, Some(owner)) = (self.config.stampede, self.owner(key)) else {
            return self.load_and_fill(key, load).await;
        };
        let mut lock = b"lock:".to_vec();
        lock.extend_from_slice(key);
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        let token = format!("{}:{token}", self.env.host_name());
        let px = lease.as_millis().max(1).to_string();
        let args: [&[u8]; 6] = [b"SET", &lock, token.as_bytes(), b"NX", b"PX", px.as_bytes()];
        match self.call(owner, &args).await {
            Ok(Frame::Simple(_)) => {
                let loaded = self.load_and_fill(key, load).await;
                // Releases only if still ours would need a script; the lease bounds a stale lock.
                let _ = self.call(owner, &[b"DEL", &lock]).await;
                loaded
            }
            Ok(Frame::Null) => {
                bump(&self.counters.lock_waits);
                self.publish();
                let waited_from = self.env.now();
                while self.env.now().saturating_sub(waited_from) < lease {
                    self.env.sleep(retry.max(Duration::from_millis(1))).await;
                    if let Ok(Frame::Bulk(value)) = self.call(owner, &[b"GET", key]).await
                        && value != WRITE_MARKER
                    {
                        self.l1_put(key, value.clone(), self.mean_load.get());
                        return Ok((Some(value), 0));
                    }
                }
                self.load_and_fill(key, load).await
            }
            Ok(_) | Err(_) => {
                bump(&self.counters.errors);
                self.load_and_fill(key, load).await
            }
        }
    }

    /// A write of `key` was acknowledged by the database: `value` is what it now holds (`None`:
    /// deleted). Returns whether the caches took it (a failure is counted by the caller).
    pub async fn written(&self, key: &[u8], value: Option<&[u8]>) -> bool {
        if let Some(l1) = &self.l1 {
            l1.borrow_mut().invalidate(key);
        }
        let Some(owner) = self.owner(key) else { return true };
        let took = match (self.config.write, value) {
            (WritePolicy::WriteThrough, Some(value)) => self.l2_set(key, value, false).await == Fill::Stored,
            (WritePolicy::Invalidate, _) | (WritePolicy::WriteThrough, None) => {
                matches!(self.call(owner, &[b"DEL", key]).await, Ok(Frame::Integer(_)))
            }
            (WritePolicy::InvalidateWithLease { lease }, _) => {
                let px = lease.as_millis().max(1).to_string();
                let args: [&[u8]; 5] = [b"SET", key, WRITE_MARKER, b"PX", px.as_bytes()];
                matches!(self.call(owner, &args).await, Ok(Frame::Simple(_)))
            }
        };
        if !took && self.config.eject.is_some() {
            self.clear_fallback(key, owner).await;
        }
        took
    }

    /// A write's update of `key` failed on its owner, node `node`. If the node is (or gets)
    /// ejected, the node that takes the key may still hold a copy from an earlier ejection,
    /// older than this write: delete it there, or the ejection would serve it again.
    async fn clear_fallback(&self, key: &[u8], node: usize) {
        if node >= 64 {
            return;
        }
        let Some(sharder) = self.members(self.mask.get() | 1 << node) else { return };
        if let Some(&fallback) = self.index.get(sharder.owner(key))
            && fallback != node
        {
            let _ = self.call(fallback, &[b"DEL", key]).await;
        }
    }

    /// Cumulative (reads a cache answered, reads that ran or joined a load).
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.counters.hits.get(), self.counters.misses.get())
    }
}

#[cfg(test)]
#[path = "aside_tests.rs"]
mod tests;
