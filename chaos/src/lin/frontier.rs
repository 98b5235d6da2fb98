//! What a failing search keeps for its explanation: the furthest return entry it met, the
//! longest linearized prefix that met it, the states the blocked operation was tried in, and
//! what else was pending.
//!
//! Owns: [`Best`] and [`Frontier`]. The prefix is a snapshot of the search stack kept in sync
//! lazily: the stack's bottom below its lowest point since the last snapshot has not changed,
//! so a new snapshot copies only what is above it, and a search that rarely backtracks pays
//! almost nothing. Must not: influence the search.

use super::entries::{HEAD, Links, NIL};
use super::model::ValueId;
use std::collections::BTreeSet;

/// How many states, pending operations and prefix operations an explanation lists at most.
pub(crate) const LISTED: usize = 8;

/// A linearized operation: its call entry and the state before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) node: usize,
    pub(crate) state: ValueId,
}

/// The furthest point a search reached: operation indices are into the prepared slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frontier {
    /// The operation whose completion the search could not get past.
    pub(crate) blocked: usize,
    /// Distinct model states it was tried in (sorted, at most [`LISTED`]).
    pub(crate) states: Vec<ValueId>,
    /// Whether there were more states than listed.
    pub(crate) more_states: bool,
    /// The longest linearized prefix that reached it.
    pub(crate) prefix_len: usize,
    /// Its last operations, each with the state after it (at most [`LISTED`]).
    pub(crate) prefix_tail: Vec<(usize, ValueId)>,
    /// Other operations invoked before the blocked one's deadline and not in the prefix.
    pub(crate) pending: Vec<usize>,
    /// How many such operations there were in all.
    pub(crate) pending_total: usize,
}

/// The furthest return met so far, and the longest prefix that met it.
pub(crate) struct Best {
    /// The return entry (0: none yet).
    node: usize,
    prefix_len: usize,
    /// The stack when it was recorded (kept in sync lazily, see `low_water`).
    snapshot: Vec<Frame>,
    snapshot_state: ValueId,
    /// The shortest the stack has been since `snapshot` was last synced: below it they agree.
    low_water: usize,
    states: BTreeSet<ValueId>,
    more_states: bool,
    pending: Vec<usize>,
    pending_total: usize,
}

impl Best {
    pub(crate) fn new() -> Best {
        Best {
            node: 0,
            prefix_len: 0,
            snapshot: Vec::new(),
            snapshot_state: 0,
            low_water: 0,
            states: BTreeSet::new(),
            more_states: false,
            pending: Vec::new(),
            pending_total: 0,
        }
    }

    /// Called at every return the search meets, with the state it met it in.
    pub(crate) fn note(&mut self, node: usize, state: ValueId, stack: &[Frame], links: &Links) {
        if node > self.node || (node == self.node && stack.len() > self.prefix_len) {
            if node > self.node {
                self.states.clear();
                self.more_states = false;
            }
            self.node = node;
            self.prefix_len = stack.len();
            self.snapshot.truncate(self.low_water);
            self.snapshot.extend_from_slice(&stack[self.low_water..]);
            self.low_water = stack.len();
            self.snapshot_state = state;
            self.collect_pending(links);
        }
        if node == self.node && !self.states.contains(&state) {
            if self.states.len() < LISTED {
                self.states.insert(state);
            } else {
                self.more_states = true;
            }
        }
    }

    fn collect_pending(&mut self, links: &Links) {
        self.pending.clear();
        self.pending_total = 0;
        let blocked = links.op[self.node];
        let mut node = links.next[HEAD];
        while node != self.node && node != NIL {
            if links.is_call(node) && links.op[node] != blocked {
                self.pending_total += 1;
                if self.pending.len() < LISTED {
                    self.pending.push(links.op[node]);
                }
            }
            node = links.next[node];
        }
    }

    pub(crate) fn popped(&mut self, len: usize) {
        self.low_water = self.low_water.min(len);
    }

    pub(crate) fn frontier(&self, links: &Links) -> Option<Frontier> {
        if self.node == 0 {
            return None;
        }
        let start = self.snapshot.len().saturating_sub(LISTED);
        let prefix_tail = (start..self.snapshot.len())
            .map(|i| {
                let after = self.snapshot.get(i + 1).map_or(self.snapshot_state, |f| f.state);
                (links.op[self.snapshot[i].node], after)
            })
            .collect();
        Some(Frontier {
            blocked: links.op[self.node],
            states: self.states.iter().copied().collect(),
            more_states: self.more_states,
            prefix_len: self.prefix_len,
            prefix_tail,
            pending: self.pending.clone(),
            pending_total: self.pending_total,
        })
    }
}
