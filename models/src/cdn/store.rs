//! The edge's store of responses: keyed by method and path, bounded in bytes, least recently
//! used evicted first.
//!
//! Each entry keeps the response (status, end-to-end headers, body), its parsed
//! [`CacheControl`], the time the edge received it on the seam's clock and the `Age` the origin
//! gave it. Its age at time `now` is that `Age` plus the time it has been resident (RFC 9111,
//! 4.2.3, without `Date`: the seam's clock is the only one the edge trusts), and its freshness
//! follows from the lifetime and the stale grants ([`Freshness`]).
//!
//! An entry's size is its key, its body, its headers' names and values, and [`OVERHEAD`]
//! bytes; an entry larger than the whole store is not kept. The recency order is a
//! `BTreeMap` from a use counter to the key, so eviction is deterministic.
//!
//! This file must not read a clock (callers pass `now`) or talk to an origin.

use super::cache_control::CacheControl;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Bytes counted for an entry beyond its key, headers and body (bookkeeping).
pub const OVERHEAD: usize = 64;

/// A stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Its status.
    pub status: StatusCode,
    /// Its end-to-end headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// Its directives.
    pub cc: CacheControl,
    /// When the edge received it (the seam's clock).
    pub received: Duration,
    /// The `Age` the origin gave it.
    pub initial_age: Duration,
}

/// How usable a stored response is at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within its lifetime: served as is.
    Fresh,
    /// Past it, within `stale-while-revalidate`: served while a refresh runs.
    Revalidate,
    /// Past both, within `stale-if-error`: served only when the origin fails.
    IfError,
    /// Of no use.
    Expired,
}

impl Stored {
    /// Its age at `now`: the origin's `Age` plus its time in this store.
    pub fn age(&self, now: Duration) -> Duration {
        self.initial_age + now.saturating_sub(self.received)
    }

    /// How usable it is at `now`.
    pub fn freshness(&self, now: Duration) -> Freshness {
        let (age, lifetime) = (self.age(now), self.cc.lifetime());
        if age < lifetime {
            return Freshness::Fresh;
        }
        let stale = age - lifetime;
        if stale < self.cc.while_revalidate() {
            Freshness::Revalidate
        } else if stale < self.cc.if_error() {
            Freshness::IfError
        } else {
            Freshness::Expired
        }
    }

    /// Whether it may be served in place of an origin failure at `now`.
    pub fn serves_on_error(&self, now: Duration) -> bool {
        let (age, lifetime) = (self.age(now), self.cc.lifetime());
        age < lifetime || age - lifetime < self.cc.if_error()
    }

    fn size(&self, key: &str) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        key.len() + headers + self.body.len() + OVERHEAD
    }
}

/// The store's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Entries held.
    pub entries: usize,
    /// Bytes they take.
    pub used_bytes: usize,
    /// Entries evicted for room, since start.
    pub evicted: u64,
}

struct Slot {
    stored: Stored,
    size: usize,
    used: u64,
}

/// A bytes-bounded LRU of responses.
pub struct Store {
    capacity_bytes: usize,
    used_bytes: usize,
    slots: BTreeMap<String, Slot>,
    /// Use counter -> key, least recent first.
    order: BTreeMap<u64, String>,
    clock: u64,
    evicted: u64,
}

/// The store key of a request: its method and path (with query).
pub fn key(method: &str, path: &str) -> String {
    format!("{method} {path}")
}

impl Store {
    /// An empty store of at most `capacity_bytes`.
    pub fn new(capacity_bytes: usize) -> Self {
        Self { capacity_bytes, used_bytes: 0, slots: BTreeMap::new(), order: BTreeMap::new(), clock: 0, evicted: 0 }
    }

    /// The entry under `key`, marked as used.
    pub fn get(&mut self, key: &str) -> Option<&Stored> {
        self.clock += 1;
        let slot = self.slots.get_mut(key)?;
        self.order.remove(&slot.used);
        slot.used = self.clock;
        self.order.insert(self.clock, key.to_string());
        Some(&slot.stored)
    }

    /// Stores `stored` under `key` (replacing what was there), evicting the least recently used
    /// entries for room; one larger than the store is not kept (and the old one is dropped).
    /// Whether it was kept.
    pub fn insert(&mut self, key: &str, stored: Stored) -> bool {
        self.remove(key);
        let size = stored.size(key);
        if size > self.capacity_bytes {
            return false;
        }
        while self.used_bytes + size > self.capacity_bytes {
            let (_, oldest) = self.order.pop_first().expect("bytes in use mean entries");
            let slot = self.slots.remove(&oldest).expect("the order lists held keys");
            self.used_bytes -= slot.size;
            self.evicted += 1;
        }
        self.clock += 1;
        self.order.insert(self.clock, key.to_string());
        self.slots.insert(key.to_string(), Slot { stored, size, used: self.clock });
        self.used_bytes += size;
        true
    }

    /// Drops the entry under `key`: whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.slots.remove(key) {
            Some(slot) => {
                self.order.remove(&slot.used);
                self.used_bytes -= slot.size;
                true
            }
            None => false,
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.order.clear();
        self.used_bytes = 0;
    }

    /// Its counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats { entries: self.slots.len(), used_bytes: self.used_bytes, evicted: self.evicted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn stored(cc: &str, body: usize, received: u64) -> Stored {
        Stored {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; body]),
            cc: CacheControl::parse(cc),
            received: secs(received),
            initial_age: Duration::ZERO,
        }
    }

    fn check(entry: &Stored, at: u64, expected: Freshness) {
        assert_eq!(entry.freshness(secs(at)), expected, "at {at} s");
    }

    #[test]
    fn freshness_over_time() {
        let entry = stored("max-age=5, stale-while-revalidate=5, stale-if-error=20", 1, 100);
        check(&entry, 100, Freshness::Fresh);
        check(&entry, 104, Freshness::Fresh);
        check(&entry, 105, Freshness::Revalidate);
        check(&entry, 109, Freshness::Revalidate);
        check(&entry, 110, Freshness::IfError);
        check(&entry, 124, Freshness::IfError);
        check(&entry, 125, Freshness::Expired);
        assert!(entry.serves_on_error(secs(107)), "a copy within its revalidation window is within stale-if-error");
        assert!(!entry.serves_on_error(secs(125)));
    }

    #[test]
    fn the_origins_age_counts() {
        let entry = Stored { initial_age: secs(4), ..stored("max-age=5", 1, 100) };
        assert_eq!(entry.age(secs(100)), secs(4));
        check(&entry, 100, Freshness::Fresh);
        check(&entry, 101, Freshness::Expired);
    }

    #[test]
    fn least_recently_used_goes_first() {
        let one = stored("max-age=5", 100, 0).size("a");
        let mut store = Store::new(3 * one);
        for k in ["a", "b", "c"] {
            assert!(store.insert(k, stored("max-age=5", 100, 0)));
        }
        assert!(store.get("a").is_some());
        assert!(store.insert("d", stored("max-age=5", 100, 0)));
        assert!(store.get("b").is_none(), "b was the least recently used");
        assert!(store.get("a").is_some() && store.get("c").is_some() && store.get("d").is_some());
        assert_eq!(store.stats(), StoreStats { entries: 3, used_bytes: 3 * one, evicted: 1 });
    }

    #[test]
    fn an_entry_larger_than_the_store_is_not_kept() {
        let mut store = Store::new(500);
        assert!(store.insert("a", stored("max-age=5", 10, 0)));
        assert!(!store.insert("a", stored("max-age=5", 1000, 0)));
        assert_eq!(store.stats().entries, 0, "the old copy is gone too");
        assert!(!store.remove("b"));
    }

    #[test]
    fn clear_drops_everything() {
        let mut store = Store::new(10_000);
        store.insert(&key("GET", "/items/1"), stored("max-age=5", 10, 0));
        store.clear();
        assert_eq!(store.stats(), StoreStats::default());
        assert!(store.get(&key("GET", "/items/1")).is_none());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, usize),
        Get(u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8, 0usize..300).prop_map(|(k, n)| Op::Insert(k, n)),
            (0u8..8).prop_map(Op::Get),
            (0u8..8).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The store against a `Vec` of (key, size), most recent last.
        #[test]
        fn matches_a_reference_lru(ops in proptest::collection::vec(op(), 0..200), capacity in 0usize..1500) {
            let mut store = Store::new(capacity);
            let mut model: Vec<(String, usize)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, n) => {
                        let k = k.to_string();
                        let entry = stored("max-age=5", n, 0);
                        let size = entry.size(&k);
                        model.retain(|(m, _)| *m != k);
                        let kept = store.insert(&k, entry);
                        prop_assert_eq!(kept, size <= capacity);
                        if kept {
                            while model.iter().map(|(_, s)| s).sum::<usize>() + size > capacity {
                                model.remove(0);
                            }
                            model.push((k, size));
                        }
                    }
                    Op::Get(k) => {
                        let k = k.to_string();
                        let found = store.get(&k).is_some();
                        let at = model.iter().position(|(m, _)| *m == k);
                        prop_assert_eq!(found, at.is_some());
                        if let Some(at) = at {
                            let entry = model.remove(at);
                            model.push(entry);
                        }
                    }
                    Op::Remove(k) => {
                        let k = k.to_string();
                        let had = model.iter().any(|(m, _)| *m == k);
                        model.retain(|(m, _)| *m != k);
                        prop_assert_eq!(store.remove(&k), had);
                    }
                }
                let stats = store.stats();
                prop_assert!(stats.used_bytes <= capacity);
                prop_assert_eq!(stats.entries, model.len());
                prop_assert_eq!(stats.used_bytes, model.iter().map(|(_, s)| s).sum::<usize>());
            }
        }
    }
}
