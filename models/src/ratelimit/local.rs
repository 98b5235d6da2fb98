//! The in-memory limiter: one GCRA state (a TAT) a key, for one instance.
//!
//! N instances that each run one of these with a limit of R admit up to N x R between them:
//! that is the classic failure a shared limiter exists for (see `shared`).
//!
//! The number of keys is bounded by `max_keys`. When the limiter is full and a new key comes,
//! the key with the earliest TAT goes (the first in key order among equals). A key whose TAT is
//! not after `now` holds no information (the GCRA reads it as a fresh key), and such keys have
//! the earliest TATs, so they go first; only when every remembered key is still live is one
//! pushed out that still meant something (the nearest to holding nothing), which lets that key
//! burst again a little early: such evictions are counted. The keys are kept in a `BTreeMap`
//! and ordered by TAT in a `BTreeSet`, so what goes never depends on hash order, and making room
//! costs O(log max_keys), never a scan.
//!
//! This file must not read a clock or do I/O: the caller passes `now`.

use super::config::{self, LimitError, Rate};
use super::gcra::{self, Quota, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// Per-key GCRA state in memory, with a bounded number of keys.
#[derive(Debug, Clone)]
pub struct LocalLimiter {
    quota: Quota,
    max_keys: usize,
    /// Each key's TAT.
    tats: BTreeMap<Rc<[u8]>, u64>,
    /// The same, ordered by TAT, then key.
    by_tat: BTreeSet<(u64, Rc<[u8]>)>,
    evicted: u64,
}

impl LocalLimiter {
    /// A limiter of `rate` with `burst`, remembering up to `max_keys` keys.
    pub fn new(rate: Rate, burst: u64, max_keys: usize) -> Result<Self, LimitError> {
        let quota = config::quota(rate, burst)?;
        Self::with_quota(quota, max_keys)
    }

    /// A limiter of `quota`, remembering up to `max_keys` keys; the quota is checked as a
    /// [`super::LimitConfig`] is.
    pub fn with_quota(quota: Quota, max_keys: usize) -> Result<Self, LimitError> {
        let checked = config::quota(Rate::Every { count: quota.count, period: quota.period }, quota.burst)?;
        if max_keys == 0 {
            return Err(LimitError::NoKeys);
        }
        Ok(Self { quota: checked, max_keys, tats: BTreeMap::new(), by_tat: BTreeSet::new(), evicted: 0 })
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Decides one request of `key` at `now` (the caller's clock), and remembers it if admitted.
    ///
    /// The quota's spans are below 2^62 ns, so the GCRA cannot overflow before `now` reaches
    /// 2^63 ns (292 years); past that every request is refused.
    pub fn check(&mut self, key: &[u8], now: Duration) -> Verdict {
        let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let stored = self.tats.get_key_value(key).map(|(key, tat)| (key.clone(), *tat));
        let verdict = gcra::decide(self.quota, stored.as_ref().map(|(_, tat)| *tat), now_ns, 1).unwrap_or(Verdict {
            limited: true,
            limit: self.quota.burst.saturating_add(1),
            remaining: 0,
            retry_after: None,
            reset_after: Duration::ZERO,
            new_tat: None,
        });
        if let Some(tat) = verdict.new_tat {
            let key = match stored {
                Some((key, old)) => {
                    self.by_tat.remove(&(old, key.clone()));
                    key
                }
                None => {
                    self.make_room(now_ns);
                    Rc::from(key)
                }
            };
            self.by_tat.insert((tat, key.clone()));
            self.tats.insert(key, tat);
        }
        verdict
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }

    /// Live keys pushed out to make room for new ones, since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Makes room for one more key when full: the key with the earliest TAT goes, counted as
    /// an eviction when it was still live.
    fn make_room(&mut self, now_ns: u64) {
        if self.tats.len() < self.max_keys {
            return;
        }
        if let Some((tat, key)) = self.by_tat.pop_first() {
            self.tats.remove(&key);
            if tat > now_ns {
                self.evicted += 1;
            }
        }
    }
}
