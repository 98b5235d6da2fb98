//! Eviction as Redis does it: the eight `maxmemory-policy` values, the approximate LRU / LFU /
//! TTL selection through a 16-entry pool fed by random samples, and the LFU logarithmic counter.
//!
//! - LRU: each entry keeps its last access (ms); `samples` keys are drawn at random into the pool
//!   sorted by idle time and the idlest still present is evicted. The pool survives between
//!   evictions, so good candidates seen earlier are remembered (Redis's `EvictionPoolLRU`).
//! - LFU: an 8-bit counter starting at [`LFU_INIT_VAL`], incremented with probability
//!   `1 / ((counter - 5) * 10 + 1)` (`lfu-log-factor` 10) and decremented by one for every minute
//!   idle (`lfu-decay-time` 1); the pool orders by `255 - counter`.
//! - volatile-ttl: the pool orders by nearness to expiry.
//! - *-random: one key drawn at random.
//!
//! This file must not know commands or replies; randomness comes from the engine's RNG.

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::keyspace::{Entry, Keyspace};

/// The LFU counter a new key starts with, so it is not evicted before it has a chance.
pub const LFU_INIT_VAL: u8 = 5;
/// `lfu-log-factor`: how many hits it takes to grow the counter (10: ~1M hits reach 255).
pub const LFU_LOG_FACTOR: u32 = 10;
/// `lfu-decay-time` in minutes: the counter loses one per this many idle minutes.
pub const LFU_DECAY_MINUTES: u64 = 1;
/// Redis's `EVPOOL_SIZE`.
pub const POOL_SIZE: usize = 16;
/// The most keys one eviction samples, whatever `maxmemory-samples` says (Redis accepts up to
/// 2^31 and would spend that long; the pool holds 16 anyway).
pub const MAX_SAMPLES: usize = 64;
/// How many sample-and-pick rounds one eviction may try before giving up (each round draws
/// `samples` keys; only ghosts, keys deleted since they entered the pool, make it retry).
const PICK_ROUNDS: usize = 8;

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Refuse writes over the limit (Redis's default).
    NoEviction,
    /// Evict the least recently used of all keys (approximated by sampling).
    AllKeysLru,
    /// Evict the least recently used of the keys with a TTL.
    VolatileLru,
    /// Evict the least frequently used of all keys.
    AllKeysLfu,
    /// Evict the least frequently used of the keys with a TTL.
    VolatileLfu,
    /// Evict a random key.
    AllKeysRandom,
    /// Evict a random key with a TTL.
    VolatileRandom,
    /// Evict the key with a TTL closest to expiry.
    VolatileTtl,
}

/// Every policy, in Redis's documentation order (for messages and tests).
pub const ALL_POLICIES: [Policy; 8] = [
    Policy::VolatileLru,
    Policy::VolatileLfu,
    Policy::VolatileRandom,
    Policy::VolatileTtl,
    Policy::AllKeysLru,
    Policy::AllKeysLfu,
    Policy::AllKeysRandom,
    Policy::NoEviction,
];

impl Policy {
    /// The Redis name, as `CONFIG GET maxmemory-policy` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::VolatileLru => "volatile-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }

    /// The policy with this Redis name (any case), if any.
    pub fn parse(s: &str) -> Option<Policy> {
        ALL_POLICIES.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// Whether the policy counts accesses with the LFU counter (else the LRU clock).
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    /// Whether only keys with a TTL may be evicted.
    fn volatile_only(self) -> bool {
        match self {
            Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl => true,
            Policy::NoEviction | Policy::AllKeysLru | Policy::AllKeysLfu | Policy::AllKeysRandom => false,
        }
    }
}

/// The LFU counter after decay: one step down per idle period since `entry.lfu_minutes`.
pub(crate) fn lfu_decayed(entry: &Entry, now_ms: u64) -> u8 {
    let idle_minutes = (now_ms / 60_000).saturating_sub(entry.lfu_minutes);
    let periods = idle_minutes / LFU_DECAY_MINUTES;
    u8::try_from(periods).map_or(0, |p| entry.lfu_counter.saturating_sub(p))
}

/// Redis's `LFULogIncr`: grows the counter with a probability that falls as it grows.
fn lfu_log_incr(counter: u8, rng: &mut ChaCha8Rng) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(LFU_LOG_FACTOR) + 1.0);
    if rng.random::<f64>() < p { counter + 1 } else { counter }
}

/// Records an access: the LRU clock always, the LFU counter (decay, then a probabilistic
/// increment) under an LFU policy, as Redis's `updateLFU` / `LRU_CLOCK` in `lookupKey`.
pub(crate) fn touch(entry: &mut Entry, policy: Policy, now_ms: u64, rng: &mut ChaCha8Rng) {
    entry.access_ms = now_ms;
    if policy.is_lfu() {
        let decayed = lfu_decayed(entry, now_ms);
        entry.lfu_counter = lfu_log_incr(decayed, rng);
        entry.lfu_minutes = now_ms / 60_000;
    }
}

/// A fresh entry's access fields, as Redis's `createObject` sets them.
pub(crate) fn new_entry(value: Vec<u8>, expire_ms: u64, now_ms: u64) -> Entry {
    Entry { value, expire_ms, access_ms: now_ms, lfu_counter: LFU_INIT_VAL, lfu_minutes: now_ms / 60_000 }
}

/// The eviction score: higher = better to evict.
fn score(entry: &Entry, policy: Policy, now_ms: u64) -> u64 {
    match policy {
        Policy::AllKeysLru | Policy::VolatileLru => now_ms.saturating_sub(entry.access_ms),
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - u64::from(lfu_decayed(entry, now_ms)),
        Policy::VolatileTtl => u64::MAX - entry.expire_ms,
        Policy::NoEviction | Policy::AllKeysRandom | Policy::VolatileRandom => 0,
    }
}

/// Redis's eviction pool: up to [`POOL_SIZE`] candidates sorted by ascending score.
#[derive(Default)]
pub(crate) struct Pool {
    slots: Vec<(u64, Bytes)>,
}

impl Pool {
    /// Forgets every candidate (FLUSHALL, policy change).
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Offers a candidate: kept if the pool has room or it beats the worst one held.
    fn offer(&mut self, score: u64, key: &Bytes) {
        if let Some(at) = self.slots.iter().position(|(_, k)| k == key) {
            self.slots.remove(at);
        }
        if self.slots.len() == POOL_SIZE {
            if score <= self.slots[0].0 {
                return;
            }
            self.slots.remove(0);
        }
        let at = self.slots.partition_point(|(s, _)| *s <= score);
        self.slots.insert(at, (score, key.clone()));
    }

    /// Takes the best candidate.
    fn pop_best(&mut self) -> Option<Bytes> {
        self.slots.pop().map(|(_, key)| key)
    }
}

/// What one eviction needs from the engine.
pub(crate) struct Evictor<'a> {
    pub keyspace: &'a mut Keyspace,
    pub pool: &'a mut Pool,
    pub rng: &'a mut ChaCha8Rng,
    pub policy: Policy,
    pub samples: usize,
    pub now_ms: u64,
}

impl Evictor<'_> {
    /// Evicts one key by the policy; false if none can be (noeviction, or no candidates).
    pub fn evict_one(&mut self) -> bool {
        let victim = match self.policy {
            Policy::NoEviction => None,
            Policy::AllKeysRandom => self.keyspace.random_index(self.rng),
            Policy::VolatileRandom => self.keyspace.random_volatile_index(self.rng),
            Policy::AllKeysLru
            | Policy::VolatileLru
            | Policy::AllKeysLfu
            | Policy::VolatileLfu
            | Policy::VolatileTtl => self.pick_from_pool(),
        };
        match victim {
            Some(index) => {
                self.keyspace.remove_at(index);
                true
            }
            None => false,
        }
    }

    /// Samples into the pool and takes its best candidate still in the keyspace.
    fn pick_from_pool(&mut self) -> Option<usize> {
        for _ in 0..PICK_ROUNDS {
            if !self.populate() {
                return None;
            }
            while let Some(key) = self.pool.pop_best() {
                if let Some(index) = self.keyspace.index_of(&key) {
                    return Some(index);
                }
            }
        }
        None
    }

    /// Draws `samples` keys (with a TTL only, for volatile-*) into the pool; false if there is
    /// nothing to draw from.
    fn populate(&mut self) -> bool {
        let volatile = self.policy.volatile_only();
        let available = if volatile { self.keyspace.volatile_len() } else { self.keyspace.len() };
        if available == 0 {
            return false;
        }
        for _ in 0..self.samples.clamp(1, MAX_SAMPLES) {
            let index = if volatile {
                self.keyspace.random_volatile_index(self.rng)
            } else {
                self.keyspace.random_index(self.rng)
            };
            let index = index.expect("the keyspace is not empty");
            let (key, entry) = self.keyspace.at(index);
            let score = score(entry, self.policy, self.now_ms);
            let key = key.clone();
            self.pool.offer(score, &key);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn policy_names_round_trip() {
        for policy in ALL_POLICIES {
            assert_eq!(Policy::parse(policy.name()), Some(policy));
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counter = LFU_INIT_VAL;
        for _ in 0..1_000 {
            counter = lfu_log_incr(counter, &mut rng);
        }
        // Redis's table for factor 10: 1K hits give ~18, 100K ~ 142 (from its redis.conf).
        assert!((12..=25).contains(&counter), "after 1K hits: {counter}");
        for _ in 0..99_000 {
            counter = lfu_log_incr(counter, &mut rng);
        }
        assert!((120..=170).contains(&counter), "after 100K hits: {counter}");
    }

    #[test]
    fn lfu_counter_decays_one_step_a_minute() {
        let mut entry = new_entry(b"v".to_vec(), 0, 0);
        entry.lfu_counter = 10;
        assert_eq!(lfu_decayed(&entry, 59_999), 10);
        assert_eq!(lfu_decayed(&entry, 60_000), 9);
        assert_eq!(lfu_decayed(&entry, 3 * 60_000), 7);
        assert_eq!(lfu_decayed(&entry, 1_000 * 60_000), 0);
    }

    #[test]
    fn pool_keeps_the_best_sixteen_in_order() {
        let mut pool = Pool::default();
        for score in 0..40u64 {
            pool.offer(score, &Bytes::from(score.to_string()));
        }
        assert_eq!(pool.slots.len(), POOL_SIZE);
        assert_eq!(pool.pop_best(), Some(Bytes::from("39")));
        assert_eq!(pool.slots[0].0, 24);
        pool.offer(100, &Bytes::from("30"));
        assert_eq!(pool.pop_best(), Some(Bytes::from("30")));
        assert_eq!(pool.pop_best(), Some(Bytes::from("38")));
    }
}
