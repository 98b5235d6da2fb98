//! The keyspace: entries, their byte accounting and the index of keys with a TTL.
//!
//! Keys live in an insertion-ordered [`IndexMap`] with a fixed-seed hasher, so picking a random
//! key is O(1) (an index drawn from the engine's RNG) and every iteration order depends only on
//! the sequence of operations: the same commands give the same keyspace, bit for bit. Deletion
//! is `swap_remove` (O(1)). Keys with a TTL are also kept in an [`IndexSet`] (Redis's `expires`
//! dict) for the volatile-* policies and the active expiry cycle.
//!
//! Memory is counted as Redis's `used_memory` would roughly count it: a fixed base plus, per
//! entry, the key, the value and [`ENTRY_OVERHEAD_BYTES`]. The running total is kept exactly in
//! step with every change (a test recounts it).
//!
//! This file must not know commands, policies or time: callers pass the millisecond clock in
//! and decide what an access means.

use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;
use indexmap::{IndexMap, IndexSet};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Bytes counted for one entry on top of its key and value. Redis spends about this much per
/// string key: a dict entry (24 bytes), the value's `robj` (16), the key's and value's sds
/// headers and allocator rounding (~16-24).
pub const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// Bytes counted for an empty keyspace, as a fresh `redis-server` 7 reports about 0.9-1.0 MB of
/// `used_memory` before the first key. It counts against `maxmemory`, as in Redis.
pub const BASE_BYTES: u64 = 1_000_000;

/// The key hasher: xxh3 over the whole key in one call, seeded by what came before (the length
/// prefix). Fixed seed, so hashing never depends on the process.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Build = BuildHasherDefault<KeyHasher>;

/// One key's value and bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The string value.
    pub value: Vec<u8>,
    /// Absolute expiry in ms since the engine's epoch; 0 = no TTL.
    pub expire_ms: u64,
    /// Last access, ms since the epoch (the LRU clock).
    pub access_ms: u64,
    /// The LFU logarithmic counter.
    pub lfu_counter: u8,
    /// The LFU counter's last decrement time, in minutes since the epoch.
    pub lfu_minutes: u64,
}

impl Entry {
    /// Whether the entry is stale at `now_ms` (Redis: alive while `now <= when`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_ms != 0 && now_ms > self.expire_ms
    }
}

/// Bytes an entry with this key and value counts for.
pub(crate) fn entry_bytes(key: &[u8], value: &[u8]) -> u64 {
    key.len() as u64 + value.len() as u64 + ENTRY_OVERHEAD_BYTES
}

/// The keys, their TTL index and the running byte total.
#[derive(Default)]
pub(crate) struct Keyspace {
    map: IndexMap<Bytes, Entry, Build>,
    volatile: IndexSet<Bytes, Build>,
    data_bytes: u64,
}

impl Keyspace {
    /// Number of keys (expired ones not yet collected included, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// `used_memory`: the base plus every entry.
    pub fn used_bytes(&self) -> u64 {
        BASE_BYTES + self.data_bytes
    }

    /// The index of `key`, whatever its expiry.
    pub fn index_of(&self, key: &[u8]) -> Option<usize> {
        self.map.get_index_of(key)
    }

    /// The entry at `index`.
    pub fn at(&self, index: usize) -> (&Bytes, &Entry) {
        self.map.get_index(index).expect("index from a lookup")
    }

    /// The entry at `index`, to update its access fields (not its value or expiry: those go
    /// through [`Keyspace::set_value`] and [`Keyspace::set_expire`] for the bookkeeping).
    pub fn access_mut(&mut self, index: usize) -> &mut Entry {
        self.map.get_index_mut(index).expect("index from a lookup").1
    }

    /// Adds a new key (the caller checked it is absent) and returns its index.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> usize {
        self.data_bytes += entry_bytes(key, &entry.value);
        let key = Bytes::copy_from_slice(key);
        if entry.expire_ms != 0 {
            self.volatile.insert(key.clone());
        }
        let (index, old) = self.map.insert_full(key, entry);
        assert!(old.is_none(), "insert over an existing key");
        index
    }

    /// Replaces the value at `index`, keeping the byte total exact.
    pub fn set_value(&mut self, index: usize, value: Vec<u8>) {
        let (_, entry) = self.map.get_index_mut(index).expect("index from a lookup");
        self.data_bytes = self.data_bytes - entry.value.len() as u64 + value.len() as u64;
        entry.value = value;
    }

    /// Changes the value at `index` in place with `f`, keeping the byte total exact.
    pub fn edit_value(&mut self, index: usize, f: impl FnOnce(&mut Vec<u8>)) {
        let (_, entry) = self.map.get_index_mut(index).expect("index from a lookup");
        let before = entry.value.len() as u64;
        f(&mut entry.value);
        self.data_bytes = self.data_bytes - before + entry.value.len() as u64;
    }

    /// Sets (ms > 0) or clears (0) the expiry at `index`, keeping the TTL index in step.
    pub fn set_expire(&mut self, index: usize, expire_ms: u64) {
        let (key, entry) = self.map.get_index_mut(index).expect("index from a lookup");
        match (entry.expire_ms != 0, expire_ms != 0) {
            (false, true) => {
                self.volatile.insert(key.clone());
            }
            (true, false) => {
                self.volatile.swap_remove(&key[..]);
            }
            (true, true) | (false, false) => {}
        }
        entry.expire_ms = expire_ms;
    }

    /// Deletes the key at `index`.
    pub fn remove_at(&mut self, index: usize) {
        let (key, entry) = self.map.swap_remove_index(index).expect("index from a lookup");
        self.data_bytes -= entry_bytes(&key, &entry.value);
        if entry.expire_ms != 0 {
            self.volatile.swap_remove(&key[..]);
        }
    }

    /// Deletes `key` if present; true if it was.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        match self.map.get_index_of(key) {
            Some(index) => {
                self.remove_at(index);
                true
            }
            None => false,
        }
    }

    /// A key drawn uniformly from all keys.
    pub fn random_index(&self, rng: &mut ChaCha8Rng) -> Option<usize> {
        (!self.map.is_empty()).then(|| rng.random_range(0..self.map.len()))
    }

    /// The main-map index of a key drawn uniformly from the keys with a TTL.
    pub fn random_volatile_index(&self, rng: &mut ChaCha8Rng) -> Option<usize> {
        if self.volatile.is_empty() {
            return None;
        }
        let key = self.volatile.get_index(rng.random_range(0..self.volatile.len()))?;
        let index = self.map.get_index_of(&key[..]);
        assert!(index.is_some(), "a key with a TTL is in the keyspace");
        index
    }

    /// Drops every key.
    pub fn clear(&mut self) {
        self.map.clear();
        self.volatile.clear();
        self.data_bytes = 0;
    }

    /// Recounts `used_memory` and the TTL index from scratch (tests compare it with the running
    /// figures).
    #[cfg(test)]
    pub fn recount(&self) -> (u64, usize) {
        let data: u64 = self.map.iter().map(|(k, e)| entry_bytes(k, &e.value)).sum();
        let volatile = self.map.values().filter(|e| e.expire_ms != 0).count();
        (BASE_BYTES + data, volatile)
    }
}
