//! The workload's reads and writes as a register history, judged by the [`crate::lin`] checker.
//!
//! Owns: [`linearizability`] and the mapping of ops to [`lin::Operation`]s. Must not: search
//! (that is `lin`).
//!
//! Mapping: each key is a register that starts absent (nil); a write writes the unique value
//! named by its own request id; a read returns its writer's request id, or nil when the key was
//! absent; a compare-and-set expects its recorded writer's id (nil: absent) and writes its own.
//! The process is the virtual user. A write or CAS that succeeded is `Ok`; a CAS the store
//! refused with `CasMismatch` certainly did not take effect (`Fail`); any other write may or
//! may not have taken effect (a timeout, a lost connection, and a server error whose meaning
//! the trace does not carry), so it is indeterminate (`Info`, Jepsen's `:info`), and one still
//! outstanding at the end never completed. A CAS whose expectation the trace lacks counts as a
//! plain write (a weaker check, never a false alarm). Only successful reads with an
//! observation take part (a failed read constrains nothing).

use super::history::History;
use crate::lin::{self, Budget, Completion, OpKind, Operation, Value, Verdict};
use crate::trace::{CAS_MISMATCH, Op, Outcome};
use serde::{Deserialize, Serialize};

/// What the linearizability search concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinVerdict {
    /// Linearizable.
    Ok,
    /// Not linearizable: a key has an operation that cannot be placed.
    Illegal,
    /// Undecided: the search ran out of budget, or the history could not be checked. Not a
    /// pass.
    Unknown,
}

impl LinVerdict {
    /// `ok`, `illegal` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinVerdict::Ok => "ok",
            LinVerdict::Illegal => "illegal",
            LinVerdict::Unknown => "unknown",
        }
    }
}

/// The linearizability check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linearizability {
    /// Ok, illegal, or unknown (not a pass).
    pub verdict: LinVerdict,
    /// Operations handed to the checker.
    pub ops: u64,
    /// Compare-and-sets among them, whatever their outcome.
    #[serde(default)]
    pub cas: u64,
    /// Keys among them.
    pub keys: u64,
    /// Why, when the verdict is not "ok": the key and the operation that could not be placed,
    /// or what ran out.
    pub detail: String,
    /// When illegal: the request ids of the operation that could not be placed, then the end
    /// of the longest linearizable prefix before it and the operations pending with it (each
    /// list bounded by the checker), without repeats.
    #[serde(default)]
    pub shown: Vec<u64>,
    /// When illegal: when the operation that could not be placed was invoked, ns.
    #[serde(default)]
    pub blocked_ns: Option<u64>,
}

impl Linearizability {
    /// Whether the history is linearizable.
    pub fn pass(&self) -> bool {
        self.verdict == LinVerdict::Ok
    }
}

/// The reads, writes and compare-and-sets of `history` as register operations.
pub fn operations(history: &History) -> Vec<Operation> {
    let mut out = Vec::new();
    for op in &history.ops {
        let value = |req: u64| Value::Int(i64::try_from(req).unwrap_or(i64::MAX));
        let (kind, completion) = match (op.op, op.read(), op.complete_ns) {
            (Op::Read, Some((writer, _)), Some(at)) => {
                (OpKind::Read { value: writer.map_or(Value::Nil, value) }, Completion::Ok { at })
            }
            (Op::Write | Op::Cas, _, at) => {
                let completion = match (&op.outcome, at) {
                    (Outcome::Ok, Some(at)) => Completion::Ok { at },
                    (Outcome::Error(CAS_MISMATCH), Some(at)) if op.op == Op::Cas => Completion::Fail { at },
                    (_, at) => Completion::Info { at },
                };
                let new = value(op.req);
                let kind = match history.expects.get(&op.req) {
                    Some(expected) => OpKind::Cas { expected: expected.map_or(Value::Nil, value), new },
                    None => OpKind::Write { value: new },
                };
                (kind, completion)
            }
            _ => continue,
        };
        let key = Value::Int(i64::try_from(op.key).unwrap_or(i64::MAX));
        out.push(Operation { id: op.req, process: u64::from(op.user), key, kind, invoke: op.invoke_ns, completion });
    }
    out
}

/// Checks that the reads and writes of `history` are linearizable, within `budget` per key.
pub fn linearizability(history: &History, budget: Budget) -> Linearizability {
    let ops = operations(history);
    let keys = ops.iter().map(|op| &op.key).collect::<std::collections::BTreeSet<_>>().len() as u64;
    let cas = ops.iter().filter(|op| matches!(op.kind, OpKind::Cas { .. })).count() as u64;
    let config = lin::CheckConfig { initial: Value::Nil, budget };
    let mut out = Linearizability {
        verdict: LinVerdict::Unknown,
        ops: ops.len() as u64,
        cas,
        keys,
        detail: String::new(),
        shown: Vec::new(),
        blocked_ns: None,
    };
    match lin::check(&ops, &config) {
        Err(error) => out.detail = format!("the history cannot be checked: {error}"),
        Ok(checked) => match checked.verdict {
            Verdict::Ok => out.verdict = LinVerdict::Ok,
            Verdict::Illegal { key, explanation } => {
                out.verdict = LinVerdict::Illegal;
                out.detail = format!("key {key}: {}", explanation.blocked.describe(lin::TimeUnit::Ticks));
                out.blocked_ns = Some(explanation.blocked.invoke);
                let tail = explanation.prefix_tail.iter().map(|step| step.op.id);
                let pending = explanation.pending.iter().map(|op| op.id);
                for id in std::iter::once(explanation.blocked.id).chain(tail).chain(pending) {
                    if !out.shown.contains(&id) {
                        out.shown.push(id);
                    }
                }
            }
            Verdict::Unknown { reason } => out.detail = reason,
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::{MS, Run, S};

    #[test]
    fn a_small_linearizable_run() {
        let mut run = Run::with_primary();
        run.read(0, MS, 1, 5, None);
        let w1 = run.write(S, MS, 0, 5, Some((1, 1)));
        run.read(S, 2 * MS, 1, 5, None); // overlaps the write: may read before it
        run.read(2 * S, MS, 1, 5, Some(w1));
        let maybe = run.write(3 * S, MS, 0, 5, None); // timed out, took effect
        run.read(4 * S, MS, 2, 5, Some(maybe));
        run.write(5 * S, MS, 0, 6, None); // timed out, never seen
        let found = linearizability(&run.history(), Budget::default());
        assert_eq!(found.verdict, LinVerdict::Ok, "{}", found.detail);
        assert!(found.pass());
        assert_eq!((found.ops, found.keys), (7, 2));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_illegal() {
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 0, 5, Some((1, 1)));
        run.write(2 * S, MS, 0, 5, Some((1, 2)));
        let stale = run.read(3 * S, MS, 1, 5, Some(w1));
        let found = linearizability(&run.history(), Budget::default());
        assert_eq!(found.verdict, LinVerdict::Illegal);
        assert!(!found.pass());
        assert!(found.detail.starts_with("key 5: "), "{}", found.detail);
        assert!(found.detail.contains(&format!("op {stale} ")), "{}", found.detail);
        assert_eq!(found.shown.first(), Some(&stale), "the op that cannot be placed comes first");
        assert!(found.shown.contains(&w1), "the prefix before it: {:?}", found.shown);
        assert_eq!(found.blocked_ns, Some(3 * S));
    }

    const MISMATCH: Outcome = Outcome::Error(CAS_MISMATCH);

    #[test]
    fn compare_and_sets_that_chain_are_linearizable() {
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 0, 5, Some((1, 1)));
        let c1 = run.cas(2 * S, MS, 1, 5, Some(w1), Outcome::Ok, (1, 2));
        run.cas(3 * S, MS, 2, 5, Some(w1), MISMATCH, (0, 0)); // too late: c1 won
        let maybe = run.cas(4 * S, MS, 2, 5, Some(c1), Outcome::Timeout, (0, 0));
        run.read(5 * S, MS, 0, 5, Some(maybe)); // the timed-out CAS took effect
        run.cas(6 * S, MS, 1, 6, None, Outcome::Ok, (1, 3)); // insert if absent
        let found = linearizability(&run.history(), Budget::default());
        assert_eq!(found.verdict, LinVerdict::Ok, "{}", found.detail);
        assert_eq!((found.ops, found.cas, found.keys), (6, 4, 2));
    }

    #[test]
    fn two_compare_and_sets_from_the_same_value_cannot_both_win() {
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 0, 5, Some((1, 1)));
        run.cas(2 * S, MS, 1, 5, Some(w1), Outcome::Ok, (1, 2));
        let second = run.cas(3 * S, MS, 2, 5, Some(w1), Outcome::Ok, (1, 3));
        let found = linearizability(&run.history(), Budget::default());
        assert_eq!(found.verdict, LinVerdict::Illegal, "a lost update must be caught");
        assert!(found.detail.contains(&format!("op {second} ")), "{}", found.detail);
    }

    #[test]
    fn a_mismatch_that_should_have_matched_is_illegal() {
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 0, 5, Some((1, 1)));
        run.cas(2 * S, MS, 1, 5, Some(w1), MISMATCH, (0, 0));
        run.read(3 * S, MS, 0, 5, Some(w1)); // nothing else was written
        let failed = linearizability(&run.history(), Budget::default());
        // A refused CAS changes nothing, so the history is fine as it stands ...
        assert_eq!(failed.verdict, LinVerdict::Ok, "{}", failed.detail);
        // ... but had the refusal been wrong, a read of its value would be unexplained.
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 0, 5, Some((1, 1)));
        let refused = run.cas(2 * S, MS, 1, 5, Some(w1), MISMATCH, (0, 0));
        run.read(3 * S, MS, 0, 5, Some(refused));
        assert_eq!(linearizability(&run.history(), Budget::default()).verdict, LinVerdict::Illegal);
    }

    #[test]
    fn a_cas_without_its_expectation_is_judged_as_a_write() {
        let mut run = Run::with_primary();
        let req = run.invoke_cas_without_expectation(S, 0, 5);
        run.read(3 * S, MS, 1, 5, Some(req));
        let found = linearizability(&run.history(), Budget::default());
        assert_eq!((found.verdict, found.cas), (LinVerdict::Ok, 0), "{}", found.detail);
    }

    #[test]
    fn an_exhausted_budget_is_unknown() {
        let mut run = Run::with_primary();
        for i in 0..12 {
            run.write(S, MS, i, 1, Some((1, u64::from(i) + 1)));
        }
        run.read(S, MS, 99, 1, Some(3));
        let found = linearizability(&run.history(), Budget { max_steps: 2, max_memo_words: 1 << 20 });
        assert_eq!(found.verdict, LinVerdict::Unknown, "{}", found.detail);
        assert!(found.shown.is_empty(), "the search gives no blocking key's ops when it runs out");
        assert!(!found.pass());
    }
}
