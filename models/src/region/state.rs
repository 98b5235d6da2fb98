//! What one active-active store node holds: its hybrid logical clock, the last-writer-wins
//! map, the PN-counters, its own log (what it ships), how far it holds each peer's log, and
//! the digests of the writes it applied per window of stamps.
//!
//! Every entry, local or a peer's, goes through [`State::apply`], which merges it and folds it
//! into its window's digest; the digest of a set of writes does not depend on the order they
//! arrived in, so two nodes that applied the same writes stamped in a window report the same
//! digest for it (a convergence check compares them).
//!
//! This module owns the state and its bookkeeping; it must not do I/O beyond the journal it is
//! handed, or know the network.

use super::api::{Body, Entry};
use super::counter::PnCounter;
use super::hlc::Hlc;
use super::journal::Journal;
use super::lww::{Cell, LwwMap, Merged, Version};
use std::collections::BTreeMap;

/// A write discarded on arrival: the key, the loser's value and the winner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Discard {
    pub(crate) key: Vec<u8>,
    pub(crate) loser: Option<Vec<u8>>,
    pub(crate) winner: Cell,
}

impl Discard {
    /// The text of its `lww_discard` report: key, loser and winner (see `faultline_vocab`).
    pub(crate) fn text(&self) -> String {
        format!("{} {} {}", hex(&self.key), name(self.loser.as_deref()), name(self.winner.value.as_deref()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value named by its first 8 bytes in hex; "-" for a delete.
fn name(value: Option<&[u8]>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) => hex(&v[..v.len().min(8)]),
    }
}

/// One node's state.
pub(crate) struct State {
    pub(crate) origin: u16,
    pub(crate) hlc: Hlc,
    pub(crate) map: LwwMap,
    pub(crate) counters: BTreeMap<Vec<u8>, PnCounter>,
    /// Its own entries, in order (seq = index + 1).
    pub(crate) local: Vec<Entry>,
    /// Per origin (itself included), the last seq it holds.
    pub(crate) applied: BTreeMap<u16, u64>,
    /// Per peer, the stamp's wall time up to which it holds every write of that peer.
    pub(crate) frontier: BTreeMap<u16, u64>,
    /// Per window of stamps, the digest of the entries applied.
    pub(crate) windows: BTreeMap<u64, u64>,
    /// The next window to report as held.
    pub(crate) next_window: u64,
    pub(crate) window_ns: u64,
    pub(crate) journal: Journal,
    /// Batches refused because their sender's clock was too far ahead.
    pub(crate) refused: u64,
}

impl State {
    /// Merges `entry` of region `origin`: the discarded write, if it lost.
    pub(crate) fn apply(&mut self, origin: u16, entry: &Entry) -> Option<Discard> {
        let digest = self.windows.entry(entry.stamp.wall_ns / self.window_ns).or_default();
        *digest ^= entry_hash(origin, entry);
        let seq = self.applied.entry(origin).or_default();
        *seq = (*seq).max(entry.seq);
        match &entry.body {
            Body::Write(value) => {
                let version = Version { stamp: entry.stamp, origin };
                match self.map.merge(&entry.key, value.clone(), version) {
                    Merged::Discarded { winner } => {
                        Some(Discard { key: entry.key.clone(), loser: value.clone(), winner })
                    }
                    Merged::Applied { .. } | Merged::Duplicate => None,
                }
            }
            Body::Count(totals) => {
                self.counters.entry(entry.key.clone()).or_default().merge_totals(origin, *totals);
                None
            }
        }
    }

    /// The windows held in full from `next_window` on, with their digests; moves
    /// `next_window` past them. A window is held when every peer's frontier is past its end
    /// (this node's own later writes are stamped above every frontier it has seen, since its
    /// clock observed them). With no peer, its own clock decides.
    pub(crate) fn held_windows(&mut self, peers: &[u16]) -> Vec<(u64, u64)> {
        let Some(reach) = self.reach(peers) else { return Vec::new() };
        let end = reach / self.window_ns;
        let start = self.next_window;
        self.next_window = self.next_window.max(end);
        (start..end).map(|k| (k, self.windows.get(&k).copied().unwrap_or(0))).collect()
    }

    /// The stamp up to which this node holds every write: the oldest peer frontier (its own
    /// clock with no peer); `None` while a peer has not been heard from.
    pub(crate) fn reach(&self, peers: &[u16]) -> Option<u64> {
        if peers.is_empty() {
            return Some(self.hlc.last().wall_ns);
        }
        peers.iter().map(|p| self.frontier.get(p).copied()).min().flatten()
    }
}

/// A hash of one entry and its origin; the window digest is the XOR of these, so it does not
/// depend on arrival order.
fn entry_hash(origin: u16, entry: &Entry) -> u64 {
    let mut bytes = Vec::with_capacity(32 + entry.key.len());
    bytes.extend_from_slice(&origin.to_be_bytes());
    super::api::put_entry(entry, &mut bytes);
    xxhash_rust::xxh3::xxh3_64(&bytes)
}
