//! The linearization search for one key: Wing and Gong's algorithm with Lowe's just-in-time
//! linearization and memoisation of (linearized set, model state), as in porcupine.
//!
//! Owns: the depth-first search over states (a `Vec` of levels, never recursion), the order in
//! which a state's alternatives are tried, and the step and memory budget. Must not: read
//! clocks, or know what a value means beyond equality (the register is `model::step`).
//!
//! A state is the set of operations linearized so far and the register's value. Its
//! alternatives are the pending calls that come before the first return in the entry list
//! (Lowe's just-in-time rule: the operation of that return must take effect before anything
//! invoked after it). The search places an alternative if the register allows it and the
//! resulting state is not in the memo, and backtracks when a state has none left. An empty
//! list is a full linearization; a root with none left means there is none.
//!
//! Two refinements over porcupine, neither of which can change a verdict:
//! - a read that observed the current value is the state's only alternative: placing it at once
//!   is never wrong (it changes nothing, and all it must follow is placed), so if it fails the
//!   state fails. Reads of other values are not alternatives at all (the register refuses them).
//! - writes and compare-and-sets are tried earliest deadline first, where a write's deadline is
//!   its own completion or, if sooner, that of a pending read (or compare-and-set) that wants
//!   the value it writes, so the order the system most likely took is tried first (1.5-2x
//!   fewer steps than list order on concurrent keys; see docs/performance.md).
//!
//! The furthest return ever met is the explanation's "blocked" operation (see `frontier`):
//! every explored order that got that far failed to place it.

use super::Budget;
use super::entries::{HEAD, Links, NIL};
use super::frontier::{Best, Frame, Frontier};
use super::memo::{Linearized, Memo};
use super::model::{Prepared, RegOp, ValueId, step};

/// Why a search stopped without a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exhausted {
    /// `Budget::max_steps` steps were taken.
    Steps,
    /// The memo grew past `Budget::max_memo_words`.
    Memory,
}

/// How a search ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Every operation was placed.
    Linearizable,
    /// No order exists; where it got stuck.
    Illegal(Frontier),
    /// The budget ran out; how far it had got, if it had ever had to backtrack.
    OutOfBudget(Exhausted, Option<Frontier>),
}

/// What a search cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// States opened plus alternatives tried.
    pub(crate) steps: u64,
    /// (set, state) pairs memoised.
    pub(crate) memo_entries: u64,
    /// The deepest prefix linearized.
    pub(crate) max_depth: usize,
}

/// A state on the search path: its alternatives are `alts[next..end]` of the arena.
#[derive(Debug, Clone, Copy)]
struct Level {
    start: usize,
    next: usize,
    end: usize,
    /// The first return entry: where this state's scan stopped.
    first_return: usize,
}

/// Searches for a linearization of `ops` (one key, sorted by invocation) from `initial`.
pub(crate) fn search(ops: &[Prepared], initial: ValueId, budget: &Budget) -> (Outcome, Stats) {
    let mut search = Search {
        ops,
        links: Links::new(ops),
        set: Linearized::new(ops.len()),
        memo: Memo::default(),
        stack: Vec::with_capacity(ops.len()),
        levels: Vec::with_capacity(ops.len() + 1),
        arena: Vec::new(),
        wants: Vec::new(),
        writes: Vec::new(),
        ranked: Vec::new(),
        best: Best::new(),
        stats: Stats::default(),
        state: initial,
    };
    let outcome = search.run(budget);
    search.stats.memo_entries = search.memo.len();
    (outcome, search.stats)
}

struct Search<'a> {
    ops: &'a [Prepared],
    links: Links,
    set: Linearized,
    memo: Memo,
    /// The linearized operations, in order.
    stack: Vec<Frame>,
    /// One more than `stack`: the root state, then the state after each placed operation.
    levels: Vec<Level>,
    /// The levels' alternatives (call nodes).
    arena: Vec<usize>,
    /// Scratch: (value, deadline) of the pending operations that want a value.
    wants: Vec<(ValueId, u64)>,
    /// Scratch: (value written, node) of a state's writes and compare-and-sets.
    writes: Vec<(ValueId, usize)>,
    /// Scratch: (rank, list position, node): see [`Search::rank_writes`].
    ranked: Vec<(u64, usize, usize)>,
    best: Best,
    stats: Stats,
    state: ValueId,
}

impl Search<'_> {
    fn run(&mut self, budget: &Budget) -> Outcome {
        if self.links.next[HEAD] == NIL {
            return Outcome::Linearizable;
        }
        self.open_level();
        loop {
            if self.stats.steps >= budget.max_steps {
                return Outcome::OutOfBudget(Exhausted::Steps, self.best.frontier(&self.links));
            }
            if self.memo.words() > budget.max_memo_words {
                return Outcome::OutOfBudget(Exhausted::Memory, self.best.frontier(&self.links));
            }
            self.stats.steps += 1;
            let level = self.levels.last_mut().expect("the root level stays until the end");
            if level.next < level.end {
                let node = self.arena[level.next];
                level.next += 1;
                let op = self.ops[self.links.op[node]].op;
                if step(self.state, op).is_some_and(|next| self.try_lift(node, next)) {
                    if self.links.next[HEAD] == NIL {
                        return Outcome::Linearizable;
                    }
                    self.open_level();
                }
                continue;
            }
            let level = *level;
            self.best.note(level.first_return, self.state, &self.stack, &self.links);
            self.arena.truncate(level.start);
            self.levels.pop();
            if self.levels.is_empty() {
                let frontier = self.best.frontier(&self.links).expect("the root level was just noted");
                return Outcome::Illegal(frontier);
            }
            self.undo();
        }
    }

    /// Pushes the level of the current state, with its alternatives in the order to try them.
    fn open_level(&mut self) {
        let start = self.arena.len();
        self.wants.clear();
        self.writes.clear();
        let mut node = self.links.next[HEAD];
        let mut read = None;
        while node != NIL && self.links.is_call(node) {
            let p = self.ops[self.links.op[node]];
            match p.op {
                RegOp::Read(v) if v == self.state => read = read.or(Some(node)),
                RegOp::Read(v) => self.wants.push((v, p.deadline)),
                RegOp::Cas { expected, new } if expected == self.state => self.writes.push((new, node)),
                RegOp::Cas { expected, .. } => self.wants.push((expected, p.deadline)),
                RegOp::Write(v) => self.writes.push((v, node)),
                RegOp::CasMaybe { expected, new } => {
                    self.writes.push((if expected == self.state { new } else { self.state }, node));
                }
            }
            node = self.links.next[node];
        }
        match read {
            Some(read) => self.arena.push(read),
            None => self.rank_writes(),
        }
        let end = self.arena.len();
        self.levels.push(Level { start, next: start, end, first_return: node });
    }

    /// Puts `writes` into the arena in the order to try them: earliest first by when each must
    /// take effect, that is its own deadline or, if sooner, the deadline of a pending read (or
    /// compare-and-set) that wants the value it writes; then by list position.
    fn rank_writes(&mut self) {
        self.wants.sort_unstable();
        self.ranked.clear();
        for (position, &(value, node)) in self.writes.iter().enumerate() {
            let first = self.wants.partition_point(|&(v, _)| v < value);
            let wanted = self.wants.get(first).filter(|w| w.0 == value).map_or(u64::MAX, |w| w.1);
            let own = self.ops[self.links.op[node]].deadline;
            self.ranked.push((wanted.min(own), position, node));
        }
        self.ranked.sort_unstable();
        self.arena.extend(self.ranked.iter().map(|&(_, _, node)| node));
    }

    /// Linearizes the call at `node`, reaching `next`, unless that pair was explored before.
    fn try_lift(&mut self, node: usize, next: ValueId) -> bool {
        let op = self.links.op[node];
        self.set.insert(op);
        if !self.memo.insert(&self.set, next) {
            self.set.remove(op);
            return false;
        }
        self.stack.push(Frame { node, state: self.state });
        self.stats.max_depth = self.stats.max_depth.max(self.stack.len());
        self.state = next;
        self.links.lift(node);
        true
    }

    /// Takes back the last linearized operation.
    fn undo(&mut self) {
        let frame = self.stack.pop().expect("a level above the root has a placed operation");
        self.best.popped(self.stack.len());
        self.state = frame.state;
        self.set.remove(self.links.op[frame.node]);
        self.links.unlift(frame.node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(op, invoke, deadline)`; values are small integers, initial state 0.
    fn ops(spec: &[(RegOp, u64, u64)]) -> Vec<Prepared> {
        spec.iter()
            .enumerate()
            .map(|(source, &(op, invoke, deadline))| Prepared { source, op, invoke, deadline })
            .collect()
    }

    fn run(spec: &[(RegOp, u64, u64)]) -> Outcome {
        search(&ops(spec), 0, &Budget::default()).0
    }

    #[test]
    fn concurrent_write_and_read_can_be_ordered_either_way() {
        let history = [(RegOp::Write(1), 0, 10), (RegOp::Read(1), 1, 2), (RegOp::Read(0), 3, 4)];
        assert!(matches!(run(&history), Outcome::Illegal(_)), "read 1 then read 0 with one write is illegal");
        let history = [(RegOp::Write(1), 0, 10), (RegOp::Read(0), 1, 2), (RegOp::Read(1), 3, 4)];
        assert!(matches!(run(&history), Outcome::Linearizable));
    }

    #[test]
    fn a_stale_read_is_blocked_after_the_longest_prefix() {
        let history =
            [(RegOp::Write(1), 0, 1), (RegOp::Write(2), 2, 3), (RegOp::Read(1), 4, 5), (RegOp::Write(3), 6, 7)];
        let Outcome::Illegal(frontier) = run(&history) else { panic!("a stale read is illegal") };
        assert_eq!(frontier.blocked, 2);
        assert_eq!(frontier.states, vec![2]);
        assert_eq!(frontier.prefix_len, 2);
        assert_eq!(frontier.prefix_tail, vec![(0, 1), (1, 2)]);
        assert!(frontier.pending.is_empty());
    }

    #[test]
    fn indeterminate_ops_may_take_effect_late_or_never() {
        let late = [(RegOp::Write(1), 0, u64::MAX), (RegOp::Read(0), 1, 2), (RegOp::Read(1), 3, 4)];
        assert!(matches!(run(&late), Outcome::Linearizable));
        let never = [(RegOp::CasMaybe { expected: 5, new: 1 }, 0, u64::MAX), (RegOp::Read(0), 1, 2)];
        assert!(matches!(run(&never), Outcome::Linearizable));
    }

    #[test]
    fn the_write_a_pending_read_wants_is_tried_first() {
        // Three concurrent writes; the read of 3 ends first, so the write of 3 goes first and
        // the search never backtracks.
        let history = [
            (RegOp::Write(1), 0, 10),
            (RegOp::Write(2), 0, 10),
            (RegOp::Write(3), 0, 10),
            (RegOp::Read(3), 1, 2),
            (RegOp::Read(1), 3, 4),
            (RegOp::Read(2), 5, 6),
        ];
        let (outcome, stats) = search(&ops(&history), 0, &Budget::default());
        assert!(matches!(outcome, Outcome::Linearizable));
        assert_eq!(stats.memo_entries, 6, "one state per operation: no detour");
    }

    #[test]
    fn budget_exhaustion_is_reported_not_guessed() {
        let history: Vec<_> = (0..20).map(|i| (RegOp::Write(i), 0, 100)).collect();
        let budget = Budget { max_steps: 3, ..Budget::default() };
        let (outcome, stats) = search(&ops(&history), 0, &budget);
        assert!(matches!(outcome, Outcome::OutOfBudget(Exhausted::Steps, None)), "{outcome:?}");
        assert_eq!(stats.steps, 3);
        let budget = Budget { max_memo_words: 0, ..Budget::default() };
        assert!(matches!(search(&ops(&history), 0, &budget).0, Outcome::OutOfBudget(Exhausted::Memory, _)));
    }

    #[test]
    fn an_empty_key_is_linearizable_without_steps() {
        let (outcome, stats) = search(&[], 0, &Budget { max_steps: 0, ..Budget::default() });
        assert!(matches!(outcome, Outcome::Linearizable));
        assert_eq!(stats.steps, 0);
    }
}
