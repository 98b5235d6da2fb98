//! The L1 in-process cache: a bounded map from byte keys to cloneable values, with LRU or
//! W-TinyLFU admission and an optional TTL, plus the stampede tools around it.
//!
//! - [`L1`]: the cache. Entries live in a slab (a `Vec` indexed by slot); a hash map (xxh3,
//!   deterministic, only ever looked up, never iterated) finds a key's slot; the policy keeps
//!   intrusive lists over the slots, so every operation is O(1). With a TTL, a second list keeps
//!   the write order, which is the expiry order under one TTL: each `get`/`insert` first drops
//!   the entries that expired by `now`, and a `get` also checks the entry it finds.
//! - `lru`: the lists and the plain LRU policy; `tinylfu`: W-TinyLFU (window, segmented
//!   main area, admission by `sketch`, a count-min frequency sketch).
//! - [`flight`]: single-flight, one load per key in flight; [`xfetch`]: probabilistic early
//!   refresh.
//!
//! Frequency: a `get` counts the key in the sketch on a hit and on a miss (as Caffeine counts
//! every access); an `insert` does not, so the usual miss-then-fill counts once. Time is passed
//! in (`now`, from the seam's clock); randomness comes from `L1Config::seed`.
//!
//! This module must not read the clock or any global randomness, nor know what is cached.

pub mod flight;
mod lru;
mod sketch;
mod tinylfu;
pub mod xfetch;

#[cfg(test)]
mod fidelity;

use lru::{Deque, Lane, Lru, Node, Removal};
use std::collections::HashMap;
use std::time::Duration;
use tinylfu::TinyLfu;
use xxhash_rust::xxh3::{Xxh3Builder, xxh3_64};

/// The most entries an L1 holds, whatever the configuration asks (slots are `u32`, and the
/// sketch is sized from the capacity).
pub const CAPACITY_MAX: usize = 1 << 24;

/// How a new entry earns its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Least recently used: every insert is admitted, the least recently used entry goes.
    Lru,
    /// W-TinyLFU (Caffeine): a 1% LRU window, then admission to a segmented LRU main area only
    /// for a candidate more frequent than the entry it would replace.
    TinyLfu,
}

/// Configuration of an L1 cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1Config {
    /// The most entries held (0 holds nothing; more than [`CAPACITY_MAX`] is cut to it).
    pub capacity: usize,
    /// How long an entry lives after it was written; `None` keeps it until evicted.
    pub ttl: Option<Duration>,
    /// The admission policy.
    pub admission: Admission,
    /// Seed of W-TinyLFU's 1-in-128 admission of warm candidates (unused by LRU).
    pub seed: u64,
}

/// Counters of an L1 cache, cumulative since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct L1Stats {
    /// Gets that found a live entry.
    pub hits: u64,
    /// Gets that found nothing (or only an expired entry).
    pub misses: u64,
    /// Resident entries dropped to make room.
    pub evictions: u64,
    /// Entries refused by admission (W-TinyLFU's window overflow losing its duel; every insert
    /// into a cache of capacity 0).
    pub rejections: u64,
    /// Entries dropped because their TTL passed.
    pub expirations: u64,
}

#[derive(Debug, Clone)]
struct Entry<V> {
    key: Box<[u8]>,
    value: V,
    /// When it stops being returned (`None`: never).
    expires_at: Option<Duration>,
}

#[derive(Debug, Clone)]
enum Policy {
    Lru(Lru),
    TinyLfu(TinyLfu),
}

/// The L1 in-process cache. Single-threaded; time is passed in.
#[derive(Debug, Clone)]
pub struct L1<V> {
    config: L1Config,
    map: HashMap<Box<[u8]>, u32, Xxh3Builder>,
    entries: Vec<Option<Entry<V>>>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Live slots in write order, threaded only when there is a TTL.
    by_write: Deque,
    policy: Policy,
    stats: L1Stats,
}

impl<V: Clone> L1<V> {
    /// An empty cache.
    pub fn new(config: L1Config) -> Self {
        let config = L1Config { capacity: config.capacity.min(CAPACITY_MAX), ..config };
        let policy = match config.admission {
            Admission::Lru => Policy::Lru(Lru::new(config.capacity)),
            Admission::TinyLfu => Policy::TinyLfu(TinyLfu::new(config.capacity, config.seed)),
        };
        Self {
            config,
            map: HashMap::with_hasher(Xxh3Builder::new()),
            entries: Vec::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            by_write: Deque::new(Lane::Write),
            policy,
            stats: L1Stats::default(),
        }
    }

    /// The value of a live entry, counting the access (hit or miss) for admission.
    pub fn get(&mut self, key: &[u8], now: Duration) -> Option<V> {
        self.expire(now);
        if let Policy::TinyLfu(policy) = &mut self.policy {
            policy.record(xxh3_64(key));
        }
        let Some(&slot) = self.map.get(key) else {
            self.stats.misses += 1;
            return None;
        };
        let entry = self.entries[slot as usize].as_ref().expect("a mapped slot holds an entry");
        if entry.expires_at.is_some_and(|at| at <= now) {
            // Only reachable if the clock went backwards between calls.
            self.remove_slot(slot);
            self.stats.expirations += 1;
            self.stats.misses += 1;
            return None;
        }
        let value = entry.value.clone();
        self.policy_hit(slot);
        self.stats.hits += 1;
        Some(value)
    }

    /// Writes a value; an existing entry is overwritten (and its TTL restarted). A new entry may
    /// push another out, or (W-TinyLFU) be refused later when it leaves the window.
    pub fn insert(&mut self, key: &[u8], value: V, now: Duration) {
        if self.config.capacity == 0 {
            self.stats.rejections += 1;
            return;
        }
        self.expire(now);
        let expires_at = self.config.ttl.map(|ttl| now.saturating_add(ttl));
        if let Some(&slot) = self.map.get(key) {
            let entry = self.entries[slot as usize].as_mut().expect("a mapped slot holds an entry");
            entry.value = value;
            entry.expires_at = expires_at;
            if expires_at.is_some() {
                self.by_write.move_to_back(&mut self.nodes, slot);
            }
            self.policy_hit(slot);
            return;
        }
        let slot = self.allocate(Node::new(xxh3_64(key)), Entry { key: key.into(), value, expires_at });
        self.map.insert(key.into(), slot);
        if expires_at.is_some() {
            self.by_write.push_back(&mut self.nodes, slot);
        }
        let removal = match &mut self.policy {
            Policy::Lru(policy) => policy.on_insert(&mut self.nodes, slot),
            Policy::TinyLfu(policy) => policy.on_insert(&mut self.nodes, slot),
        };
        match removal {
            None => {}
            Some(Removal::Evicted(gone)) => {
                self.drop_slot(gone);
                self.stats.evictions += 1;
            }
            Some(Removal::Rejected(gone)) => {
                self.drop_slot(gone);
                self.stats.rejections += 1;
            }
        }
        debug_assert!(self.map.len() <= self.config.capacity, "over capacity after an insert");
    }

    /// Removes the key's entry; whether there was one (expired or not).
    pub fn invalidate(&mut self, key: &[u8]) -> bool {
        match self.map.get(key) {
            Some(&slot) => {
                self.remove_slot(slot);
                true
            }
            None => false,
        }
    }

    /// Removes every entry and forgets every frequency; the counters stay.
    pub fn clear(&mut self) {
        self.map.clear();
        self.entries.clear();
        self.nodes.clear();
        self.free.clear();
        self.by_write.clear();
        match &mut self.policy {
            Policy::Lru(policy) => policy.clear(),
            Policy::TinyLfu(policy) => policy.clear(),
        }
    }

    /// Entries held (some may have expired since the last `get` or `insert`).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> L1Stats {
        self.stats
    }

    /// The configuration in force (capacity cut to [`CAPACITY_MAX`]).
    pub fn config(&self) -> L1Config {
        self.config
    }

    /// Drops the entries whose TTL passed by `now`, oldest write first.
    fn expire(&mut self, now: Duration) {
        // Each pass removes one entry, so this runs at most `len` times.
        while let Some(slot) = self.by_write.front() {
            let entry = self.entries[slot as usize].as_ref().expect("a listed slot holds an entry");
            if entry.expires_at.is_none_or(|at| at > now) {
                break;
            }
            self.remove_slot(slot);
            self.stats.expirations += 1;
        }
    }

    fn policy_hit(&mut self, slot: u32) {
        match &mut self.policy {
            Policy::Lru(policy) => policy.on_hit(&mut self.nodes, slot),
            Policy::TinyLfu(policy) => policy.on_hit(&mut self.nodes, slot),
        }
    }

    fn allocate(&mut self, node: Node, entry: Entry<V>) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                self.entries[slot as usize] = Some(entry);
                slot
            }
            None => {
                let slot = u32::try_from(self.nodes.len()).expect("slots stay below CAPACITY_MAX + 1");
                self.nodes.push(node);
                self.entries.push(Some(entry));
                slot
            }
        }
    }

    /// Removes a live slot from the policy's lists, then drops it.
    fn remove_slot(&mut self, slot: u32) {
        match &mut self.policy {
            Policy::Lru(policy) => policy.on_remove(&mut self.nodes, slot),
            Policy::TinyLfu(policy) => policy.on_remove(&mut self.nodes, slot),
        }
        self.drop_slot(slot);
    }

    /// Drops a slot already out of the policy's lists: its entry, key and write-order link.
    fn drop_slot(&mut self, slot: u32) {
        let entry = self.entries[slot as usize].take().expect("a dropped slot held an entry");
        self.map.remove(&entry.key);
        if entry.expires_at.is_some() {
            self.by_write.unlink(&mut self.nodes, slot);
        }
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests;
