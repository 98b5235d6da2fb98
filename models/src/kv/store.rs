//! The in-memory side of a kv node: the applied map with its LSN, the window of recent log
//! entries a primary ships to replicas without touching the disk, and the epoch history, kept
//! together in [`LogState`] so they never disagree; and a replica's [`Lag`] measure.
//!
//! Pure data structures: no disk, no network, no clock. Applying out of order is a bug in the
//! caller (primary and replica check LSNs first), so it is asserted, not returned.

use super::history::EpochHistory;
use crate::kv::api::LogEntry;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Everything a node holds in memory about its log.
#[derive(Debug)]
pub(crate) struct LogState {
    /// The applied map.
    pub(crate) store: Store,
    /// The newest entries, for replication.
    pub(crate) recent: RecentLog,
    /// Where each epoch begins.
    pub(crate) history: EpochHistory,
}

impl LogState {
    /// The state after replaying `entries` (dense from LSN 1, epochs never going back);
    /// `window` bounds the recent entries kept.
    pub(crate) fn rebuild(entries: Vec<LogEntry>, window: usize) -> Self {
        let mut log =
            Self { store: Store::default(), recent: RecentLog::new(window), history: EpochHistory::default() };
        for entry in entries {
            log.append(entry);
        }
        log
    }

    /// Applies the next entry to the map, the history and the window.
    pub(crate) fn append(&mut self, entry: LogEntry) {
        self.store.apply(&entry);
        self.history.push(entry.lsn, entry.epoch);
        self.recent.push(entry);
    }

    /// The last LSN (0 when empty).
    pub(crate) fn lsn(&self) -> u64 {
        self.store.lsn()
    }

    /// The epoch of the last entry (0 when empty).
    pub(crate) fn last_epoch(&self) -> u64 {
        self.history.last_epoch()
    }
}

/// The map every read is served from, and the last LSN applied to it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Store {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    lsn: u64,
}

impl Store {
    /// The last LSN applied (0 when empty).
    pub(crate) fn lsn(&self) -> u64 {
        self.lsn
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.map.get(key)
    }

    /// The whole map (for tests and comparisons).
    #[cfg(test)]
    pub(crate) fn map(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.map
    }

    /// Applies the next entry; its LSN must follow the last applied one.
    pub(crate) fn apply(&mut self, entry: &LogEntry) {
        assert_eq!(entry.lsn, self.lsn + 1, "log entries are applied densely, in order");
        match &entry.value {
            Some(value) => {
                self.map.insert(entry.key.clone(), value.clone());
            }
            None => {
                self.map.remove(&entry.key);
            }
        }
        self.lsn = entry.lsn;
    }
}

/// The last `cap` log entries, dense by LSN.
#[derive(Debug)]
pub(crate) struct RecentLog {
    entries: VecDeque<LogEntry>,
    cap: usize,
}

impl RecentLog {
    /// An empty window holding at most `cap` entries (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        Self { entries: VecDeque::new(), cap: cap.max(1) }
    }

    /// Adds the next entry, forgetting the oldest past the cap.
    pub(crate) fn push(&mut self, entry: LogEntry) {
        if let Some(last) = self.entries.back() {
            assert_eq!(entry.lsn, last.lsn + 1, "the recent log stays dense");
        }
        self.entries.push_back(entry);
        while self.entries.len() > self.cap {
            self.entries.pop_front();
        }
    }

    /// Up to `max` entries from `from_lsn` on, or `None` when `from_lsn` is older than the
    /// window (the caller reads the disk then). An empty window covers nothing.
    pub(crate) fn range(&self, from_lsn: u64, max: usize) -> Option<Vec<LogEntry>> {
        let first = self.entries.front()?.lsn;
        if from_lsn < first {
            return None;
        }
        let start = usize::try_from(from_lsn - first).ok()?.min(self.entries.len());
        let end = start.saturating_add(max).min(self.entries.len());
        Some(self.entries.range(start..end).cloned().collect())
    }
}

/// The most distinct heads a replica remembers for its lag; past this, newer heads merge into
/// the newest remembered one (which overstates the lag a little, never understates it).
const MAX_PENDING_HEADS: usize = 1024;

/// How long a replica has been behind: the heads it heard of and has not applied yet, each with
/// when it first heard of it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Lag {
    pending: VecDeque<(u64, Duration)>,
}

impl Lag {
    /// Notes that the primary's log reached `head` at `at`, with `applied` applied here.
    pub(crate) fn heard(&mut self, head: u64, at: Duration, applied: u64) {
        let newest = self.pending.back().map_or(applied, |&(h, _)| h.max(applied));
        if head <= newest {
            return;
        }
        let full = self.pending.len() >= MAX_PENDING_HEADS;
        match self.pending.back_mut() {
            Some(back) if full => back.0 = head,
            _ => self.pending.push_back((head, at)),
        }
    }

    /// Notes that everything up to `applied` is applied.
    pub(crate) fn applied(&mut self, applied: u64) {
        while self.pending.front().is_some_and(|&(head, _)| head <= applied) {
            self.pending.pop_front();
        }
    }

    /// The newest LSN heard of (received, applied or not), `applied` at least.
    pub(crate) fn received(&self, applied: u64) -> u64 {
        self.pending.back().map_or(applied, |&(head, _)| head.max(applied))
    }

    /// How long the oldest LSN heard of and not yet applied has been waiting (zero when
    /// caught up).
    pub(crate) fn lag(&self, now: Duration) -> Duration {
        self.pending.front().map_or(Duration::ZERO, |&(_, at)| now.saturating_sub(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(lsn: u64, key: &str, value: &str) -> LogEntry {
        LogEntry { lsn, epoch: 1, key: key.into(), value: Some(value.into()) }
    }

    #[test]
    fn apply_puts_and_deletes() {
        let mut store = Store::default();
        store.apply(&put(1, "a", "1"));
        store.apply(&put(2, "a", "2"));
        assert_eq!(store.get(b"a"), Some(&b"2".to_vec()));
        store.apply(&LogEntry { lsn: 3, epoch: 1, key: b"a".to_vec(), value: None });
        assert_eq!(store.get(b"a"), None);
        assert_eq!(store.lsn(), 3);
    }

    #[test]
    #[should_panic(expected = "densely")]
    fn applying_out_of_order_is_a_bug() {
        Store::default().apply(&put(2, "a", "1"));
    }

    #[test]
    fn a_rebuilt_log_state_agrees_with_its_entries() {
        let mut entries: Vec<LogEntry> = (1..=4).map(|lsn| put(lsn, "k", "v")).collect();
        entries[3].epoch = 2;
        let log = LogState::rebuild(entries, 2);
        assert_eq!((log.lsn(), log.last_epoch()), (4, 2));
        assert_eq!(log.history.epoch_at(3), Some(1));
        assert_eq!(log.recent.range(2, 10), None, "the window holds the newest two only");
    }

    #[test]
    fn lag_counts_from_the_oldest_unapplied_head() {
        let mut lag = Lag::default();
        let ms = Duration::from_millis;
        lag.heard(5, ms(10), 0);
        lag.heard(5, ms(20), 0);
        lag.heard(9, ms(30), 0);
        assert_eq!(lag.lag(ms(40)), ms(30));
        lag.applied(6);
        assert_eq!(lag.lag(ms(40)), ms(10));
        lag.applied(9);
        assert_eq!(lag.lag(ms(40)), Duration::ZERO);
        lag.heard(9, ms(50), 9);
        assert_eq!(lag.lag(ms(60)), Duration::ZERO, "a heartbeat at the applied head is no lag");
    }

    #[test]
    fn the_window_keeps_the_newest_entries() {
        let mut log = RecentLog::new(3);
        assert_eq!(log.range(1, 10), None);
        for lsn in 1..=5 {
            log.push(put(lsn, "k", "v"));
        }
        assert_eq!(log.range(2, 10), None);
        let lsns = |v: Option<Vec<LogEntry>>| v.map(|v| v.iter().map(|e| e.lsn).collect::<Vec<_>>());
        assert_eq!(lsns(log.range(3, 10)), Some(vec![3, 4, 5]));
        assert_eq!(lsns(log.range(4, 1)), Some(vec![4]));
        assert_eq!(lsns(log.range(6, 10)), Some(vec![]));
        assert_eq!(lsns(log.range(u64::MAX, 10)), Some(vec![]));
    }
}
