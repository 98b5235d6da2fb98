//! The cache node: an LRU cache with an optional TTL on the environment's clock, and the
//! server that speaks the framed protocol for it (`Get`, `Put`, `Delete`).
//!
//! [`Cache`] is the data structure: every operation first drops the entries whose TTL has
//! passed (each entry expires once, so this is amortised O(log n)), then acts; a `Put` beyond
//! the capacity evicts the least recently used entry. A `Get` hit refreshes recency, not the
//! TTL. Replies: `Get` -> `Value { value, lsn: 0 }` (a cache has no log), `Put`/`Delete` ->
//! `Written { lsn: 0 }`. Gauges: "entries", and the cumulative "hits" and "misses".
//!
//! This file must not know what is cached or where it came from (that is the app's business),
//! and it reads time only through `env.now()`.

use crate::kv::api::Msg;
use crate::proto::{ErrorCode, Framed};
use crate::seam::Env;
use crate::server::{Handler, Replier};
use faultline_vocab::gauge;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

/// Configuration of a cache node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The most entries held; past this the least recently used is evicted (0 holds nothing).
    pub capacity: usize,
    /// How long an entry lives after it was written; `None` keeps it until evicted.
    pub ttl: Option<Duration>,
}

#[derive(Debug)]
struct Slot {
    value: Vec<u8>,
    /// Position in the recency order (larger is more recent).
    recency: u64,
    /// When it expires, and the tick it was written at (unique, to key the expiry index).
    expiry: Option<(Duration, u64)>,
}

/// An LRU cache with an optional TTL. Time is passed in by the caller.
#[derive(Debug)]
pub struct Cache {
    config: CacheConfig,
    entries: BTreeMap<Vec<u8>, Slot>,
    by_recency: BTreeMap<u64, Vec<u8>>,
    by_expiry: BTreeMap<(Duration, u64), Vec<u8>>,
    tick: u64,
}

impl Cache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        Self { config, entries: BTreeMap::new(), by_recency: BTreeMap::new(), by_expiry: BTreeMap::new(), tick: 0 }
    }

    /// Entries held, counting none that expired by the last operation.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Drops every entry that expired at or before `now`.
    fn expire(&mut self, now: Duration) {
        // Each pass removes one entry, so this runs at most `len` times.
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.remove(&key);
        }
    }

    fn remove(&mut self, key: &[u8]) -> Option<Slot> {
        let slot = self.entries.remove(key)?;
        self.by_recency.remove(&slot.recency);
        if let Some(expiry) = slot.expiry {
            self.by_expiry.remove(&expiry);
        }
        Some(slot)
    }

    /// The value under `key` at time `now`, marking it most recently used.
    pub fn get(&mut self, key: &[u8], now: Duration) -> Option<&[u8]> {
        self.expire(now);
        let tick = self.next_tick();
        let slot = self.entries.get_mut(key)?;
        let old = std::mem::replace(&mut slot.recency, tick);
        let key = self.by_recency.remove(&old).expect("every entry has a recency");
        self.by_recency.insert(tick, key);
        Some(&slot.value)
    }

    /// Stores `value` under `key` at time `now`, evicting the least recently used entry when
    /// full.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>, now: Duration) {
        self.expire(now);
        self.remove(&key);
        if self.config.capacity == 0 {
            return;
        }
        let tick = self.next_tick();
        let expiry = self.config.ttl.map(|ttl| (now.saturating_add(ttl), tick));
        if let Some(expiry) = expiry {
            self.by_expiry.insert(expiry, key.clone());
        }
        self.by_recency.insert(tick, key.clone());
        self.entries.insert(key, Slot { value, recency: tick, expiry });
        if self.entries.len() > self.config.capacity {
            let (_, lru) = self.by_recency.pop_first().expect("a cache over capacity is not empty");
            self.remove(&lru);
        }
    }

    /// Removes `key` at time `now`; whether it was there (and not expired).
    pub fn delete(&mut self, key: &[u8], now: Duration) -> bool {
        self.expire(now);
        self.remove(key).is_some()
    }
}

/// A cache server: build it with [`CacheNode::new`] and serve it with [`crate::server::serve`].
pub struct CacheNode<E: Env> {
    env: E,
    cache: RefCell<Cache>,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

impl<E: Env> CacheNode<E> {
    /// An empty cache with `config`'s limits; publishes its gauges.
    pub fn new(env: E, config: CacheConfig) -> Self {
        let node = Self { env, cache: RefCell::new(Cache::new(config)), hits: Cell::new(0), misses: Cell::new(0) };
        node.publish();
        node
    }

    fn publish(&self) {
        self.env.gauge(gauge::ENTRIES, self.cache.borrow().len() as i64);
        self.env.gauge(gauge::HITS, self.hits.get() as i64);
        self.env.gauge(gauge::MISSES, self.misses.get() as i64);
    }

    fn answer(&self, msg: Msg) -> Msg {
        let now = self.env.now();
        let mut cache = self.cache.borrow_mut();
        let reply = match msg {
            Msg::Get { key, .. } => {
                let value = cache.get(&key, now).map(<[u8]>::to_vec);
                let counter = if value.is_some() { &self.hits } else { &self.misses };
                counter.set(counter.get() + 1);
                Msg::Value { value, lsn: 0 }
            }
            Msg::Put { key, value } => {
                cache.put(key, value, now);
                Msg::Written { lsn: 0, epoch: 0 }
            }
            Msg::Delete { key } => {
                cache.delete(&key, now);
                Msg::Written { lsn: 0, epoch: 0 }
            }
            _ => Msg::Error { code: ErrorCode::BadRequest, detail: "a cache serves Get, Put and Delete".into() },
        };
        drop(cache);
        self.publish();
        reply
    }
}

impl<E: Env> Handler<E> for CacheNode<E> {
    type Codec = Framed<Msg>;

    async fn handle(&self, msg: Msg, _replier: Replier<E, Framed<Msg>>) -> Option<Msg> {
        match msg {
            // One-way acknowledgements get no reply from anyone.
            Msg::Applied { .. } => None,
            other => Some(self.answer(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::TokioEnv;
    use proptest::prelude::*;

    const S: Duration = Duration::from_secs(1);

    fn cache(capacity: usize, ttl: Option<Duration>) -> Cache {
        Cache::new(CacheConfig { capacity, ttl })
    }

    fn check(cache: &mut Cache, key: &str, now: Duration, expected: Option<&str>) {
        assert_eq!(cache.get(key.as_bytes(), now), expected.map(str::as_bytes), "get {key} at {now:?}");
    }

    #[test]
    fn the_least_recently_used_is_evicted() {
        let mut c = cache(2, None);
        c.put(b"a".to_vec(), b"1".to_vec(), S);
        c.put(b"b".to_vec(), b"2".to_vec(), S);
        check(&mut c, "a", S, Some("1"));
        c.put(b"c".to_vec(), b"3".to_vec(), S);
        check(&mut c, "b", S, None);
        check(&mut c, "a", S, Some("1"));
        check(&mut c, "c", S, Some("3"));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn entries_expire_after_the_ttl_and_hits_do_not_extend_it() {
        let mut c = cache(10, Some(10 * S));
        c.put(b"a".to_vec(), b"1".to_vec(), S);
        c.put(b"b".to_vec(), b"2".to_vec(), 5 * S);
        check(&mut c, "a", 10 * S, Some("1"));
        check(&mut c, "a", 11 * S, None);
        assert_eq!(c.len(), 1, "b has not expired yet");
        c.put(b"b".to_vec(), b"3".to_vec(), 14 * S);
        check(&mut c, "b", 20 * S, Some("3"));
        assert!(!c.delete(b"b", 24 * S), "b expired at 24 s");
        assert!(c.is_empty());
    }

    #[test]
    fn overwrites_and_deletes() {
        let mut c = cache(2, None);
        c.put(b"a".to_vec(), b"1".to_vec(), S);
        c.put(b"a".to_vec(), b"2".to_vec(), S);
        assert_eq!(c.len(), 1);
        check(&mut c, "a", S, Some("2"));
        assert!(c.delete(b"a", S));
        assert!(!c.delete(b"a", S));
        let mut none = cache(0, None);
        none.put(b"a".to_vec(), b"1".to_vec(), S);
        check(&mut none, "a", S, None);
    }

    #[test]
    fn the_node_counts_hits_and_misses() {
        let node = CacheNode {
            env: TokioEnv::new("cache", "127.0.0.1", 1),
            cache: RefCell::new(cache(4, None)),
            hits: Cell::new(0),
            misses: Cell::new(0),
        };
        assert_eq!(node.answer(Msg::Get { key: b"k".to_vec(), min_lsn: 0 }), Msg::Value { value: None, lsn: 0 });
        assert_eq!(
            node.answer(Msg::Put { key: b"k".to_vec(), value: b"v".to_vec() }),
            Msg::Written { lsn: 0, epoch: 0 }
        );
        assert_eq!(
            node.answer(Msg::Get { key: b"k".to_vec(), min_lsn: 0 }),
            Msg::Value { value: Some(b"v".to_vec()), lsn: 0 }
        );
        assert_eq!(node.answer(Msg::Delete { key: b"k".to_vec() }), Msg::Written { lsn: 0, epoch: 0 });
        assert_eq!((node.hits.get(), node.misses.get()), (1, 1));
        assert!(matches!(node.answer(Msg::Applied { lsn: 1 }), Msg::Error { code: ErrorCode::BadRequest, .. }));
    }

    /// The reference: a `Vec` ordered from least to most recently used.
    #[derive(Default)]
    struct Model {
        entries: Vec<(u8, u8, Option<Duration>)>,
    }

    impl Model {
        fn expire(&mut self, now: Duration) {
            self.entries.retain(|e| e.2.is_none_or(|at| at > now));
        }
        fn take(&mut self, key: u8) -> Option<(u8, u8, Option<Duration>)> {
            let at = self.entries.iter().position(|e| e.0 == key)?;
            Some(self.entries.remove(at))
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Get(u8),
        Put(u8, u8),
        Delete(u8),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8).prop_map(Op::Get),
            (0u8..8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            (0u8..8).prop_map(Op::Delete),
            (0u64..4).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #[test]
        fn the_cache_matches_a_vec_backed_lru(ops in proptest::collection::vec(op(), 0..200),
                                              capacity in 0usize..6, ttl in proptest::option::of(1u64..8)) {
            let ttl = ttl.map(Duration::from_secs);
            let mut real = cache(capacity, ttl);
            let mut model = Model::default();
            let mut now = Duration::ZERO;
            for op in ops {
                if !matches!(op, Op::Advance(_)) {
                    model.expire(now);
                }
                match op {
                    Op::Get(k) => {
                        let expected = model.take(k).map(|e| { model.entries.push(e); e.1 });
                        prop_assert_eq!(real.get(&[k], now).map(<[u8]>::to_vec), expected.map(|v| vec![v]));
                    }
                    Op::Put(k, v) => {
                        model.take(k);
                        if capacity > 0 {
                            model.entries.push((k, v, ttl.map(|t| now + t)));
                            if model.entries.len() > capacity {
                                model.entries.remove(0);
                            }
                        }
                        real.put(vec![k], vec![v], now);
                    }
                    Op::Delete(k) => prop_assert_eq!(real.delete(&[k], now), model.take(k).is_some()),
                    Op::Advance(s) => now += Duration::from_secs(s),
                }
                prop_assert_eq!(real.len(), model.entries.len());
            }
        }
    }
}
