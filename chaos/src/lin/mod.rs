//! A linearizability checker for single-key registers, and the Jepsen-style history text it
//! reads.
//!
//! Owns: the verdict on a history ([`check`]): split it per key (P-compositionality: a history of
//! independent registers is linearizable iff each key's sub-history is), and search each key
//! for a linearization with Wing and Gong's algorithm, Lowe's just-in-time linearization and
//! memoisation of (linearized set, model state), after porcupine. Must not: read a clock, a
//! file or the environment (the CLI hands in text), say [`Verdict::Ok`] when the search did not
//! finish (a spent [`Budget`] is [`Verdict::Unknown`]), or iterate a hash map into output.
//!
//! - [`history`]: the operations ([`Operation`]: process, key, [`OpKind`], invoke time,
//!   [`Completion`] `Ok` / `Fail` = did not happen / `Info` = may have happened, at any time).
//! - `model`, `entries`, `memo`, `search`, `frontier`: the register, the entry list, the memo,
//!   the search and what it keeps for explanations (crate-internal).
//! - [`explain`]: [`Explanation`] (why a key is not linearizable) and the text and JSON reports.
//! - [`edn`], [`jepsen`]: an EDN-subset reader and Jepsen/Knossos register histories.
//! - [`generator`] (`gen.rs`): seeded histories of a simulated linearizable register, optionally with a
//!   violation, for tests and benches.
//!
//! The budget is per key and counts search steps and memo memory; there is no wall clock, so a
//! verdict is the same on every machine.

pub mod edn;
mod entries;
pub mod explain;
mod frontier;
// `gen` is a reserved word in Rust 2024: the file keeps its short name, the module a longer one.
#[path = "gen.rs"]
pub mod generator;
pub mod history;
pub mod jepsen;
mod memo;
mod model;
mod search;

#[cfg(test)]
mod brute;
#[cfg(test)]
mod props;

pub use explain::{Explanation, PrefixStep};
pub use history::{Completion, HistoryError, OpKind, Operation, TimeUnit, Value};

use model::{Interner, Prepared};
use search::{Exhausted, Outcome};
use std::collections::BTreeMap;

/// How much work the search may do on one key before it answers [`Verdict::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Search steps (one entry visited in the list); each is a bounded amount of work.
    pub max_steps: u64,
    /// Memo memory, in 8-byte words (entries and their overhead; 32 Mi words = 256 MiB).
    pub max_memo_words: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { max_steps: 20_000_000, max_memo_words: 32 << 20 }
    }
}

/// What a check needs besides the history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckConfig {
    /// Every register's value before the history starts.
    pub initial: Value,
    /// The per-key search budget.
    pub budget: Budget,
}

/// The judgement of a history (or of one key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Linearizable: an order of the operations exists that respects real time and the register.
    Ok,
    /// Not linearizable: no such order exists for `key`.
    Illegal {
        /// The first key (in key order) with no linearization.
        key: Value,
        /// Where every order got stuck.
        explanation: Box<Explanation>,
    },
    /// The search ran out of budget before it could decide: not a pass.
    Unknown {
        /// Which keys, how far each got, and which budget ran out.
        reason: String,
    },
}

/// The check of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    /// The key.
    pub key: Value,
    /// Operations that took part in the search.
    pub ops: usize,
    /// Operations dropped: failed ones, indeterminate reads, and indeterminate writes whose value
    /// nothing observed (see `model`).
    pub dropped: usize,
    /// Search steps taken.
    pub steps: u64,
    /// (set, state) pairs memoised.
    pub memo_entries: u64,
    /// This key's verdict (`Illegal`/`Unknown` carry this key).
    pub verdict: Verdict,
}

/// The check of a whole history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The overall verdict: the first illegal key's, else `Unknown` if any key is, else `Ok`.
    pub verdict: Verdict,
    /// Every key, in key order.
    pub keys: Vec<KeyReport>,
}

/// Checks that `ops` is linearizable, key by key.
pub fn check(ops: &[Operation], config: &CheckConfig) -> Result<Checked, HistoryError> {
    history::validate(ops)?;
    let mut by_key: BTreeMap<&Value, Vec<(usize, &Operation)>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_key.entry(&op.key).or_default().push((i, op));
    }
    let keys: Vec<KeyReport> = by_key.into_iter().map(|(key, key_ops)| check_key(ops, key, &key_ops, config)).collect();
    let verdict = overall(&keys);
    Ok(Checked { verdict, keys })
}

fn check_key(all: &[Operation], key: &Value, key_ops: &[(usize, &Operation)], config: &CheckConfig) -> KeyReport {
    let mut interner = Interner::default();
    let initial = interner.intern(&config.initial);
    let (prepared, dropped) = model::prepare(key_ops, &mut interner);
    let (outcome, stats) = search::search(&prepared, initial, &config.budget);
    let verdict = match outcome {
        Outcome::Linearizable => Verdict::Ok,
        Outcome::Illegal(frontier) => Verdict::Illegal {
            key: key.clone(),
            explanation: Box::new(explain::explanation(all, &prepared, &interner, &frontier)),
        },
        Outcome::OutOfBudget(what, frontier) => Verdict::Unknown {
            reason: unknown_reason(key, &prepared, all, what, stats.max_depth, frontier, &config.budget),
        },
    };
    KeyReport {
        key: key.clone(),
        ops: prepared.len(),
        dropped,
        steps: stats.steps,
        memo_entries: stats.memo_entries,
        verdict,
    }
}

fn unknown_reason(
    key: &Value,
    prepared: &[Prepared],
    all: &[Operation],
    what: Exhausted,
    max_depth: usize,
    frontier: Option<frontier::Frontier>,
    budget: &Budget,
) -> String {
    let spent = match what {
        Exhausted::Steps => format!("its budget of {} search steps", budget.max_steps),
        Exhausted::Memory => format!("its memo budget of {} words", budget.max_memo_words),
    };
    let stuck =
        frontier.map(|f| format!("; it was stuck at op {}", all[prepared[f.blocked].source].id)).unwrap_or_default();
    format!(
        "key {key}: the search spent {spent} after linearizing at most {max_depth} of {} operations{stuck}",
        prepared.len()
    )
}

fn overall(keys: &[KeyReport]) -> Verdict {
    if let Some(illegal) = keys.iter().find(|k| matches!(k.verdict, Verdict::Illegal { .. })) {
        return illegal.verdict.clone();
    }
    let unknown: Vec<&str> = keys
        .iter()
        .filter_map(|k| match &k.verdict {
            Verdict::Unknown { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    if unknown.is_empty() { Verdict::Ok } else { Verdict::Unknown { reason: unknown.join("\n") } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: u64, key: i64, value: i64, invoke: u64, at: u64) -> Operation {
        Operation {
            id,
            process: id,
            key: Value::Int(key),
            kind: OpKind::Write { value: Value::Int(value) },
            invoke,
            completion: Completion::Ok { at },
        }
    }

    fn r(id: u64, key: i64, value: Option<i64>, invoke: u64, at: u64) -> Operation {
        let value = value.map_or(Value::Nil, Value::Int);
        Operation { kind: OpKind::Read { value }, ..w(id, key, 0, invoke, at) }
    }

    fn check_verdict(ops: &[Operation], expected_illegal_key: Option<i64>) {
        let checked = check(ops, &CheckConfig::default()).expect("valid history");
        match (&checked.verdict, expected_illegal_key) {
            (Verdict::Ok, None) => {}
            (Verdict::Illegal { key, .. }, Some(k)) => assert_eq!(key, &Value::Int(k)),
            (verdict, expected) => panic!("expected illegal key {expected:?}, got {verdict:?}"),
        }
    }

    #[test]
    fn keys_are_independent() {
        // Key 1 reads nil after key 2's write: fine, they are different registers.
        check_verdict(&[w(0, 2, 5, 0, 1), r(1, 1, None, 2, 3), r(2, 2, Some(5), 4, 5)], None);
        check_verdict(&[w(0, 2, 5, 0, 1), r(1, 1, None, 2, 3), r(2, 2, None, 4, 5), r(3, 3, Some(1), 0, 1)], Some(2));
    }

    #[test]
    fn initial_value_is_configurable() {
        let ops = [r(0, 1, Some(7), 0, 1)];
        check_verdict(&ops, Some(1));
        let config = CheckConfig { initial: Value::Int(7), ..CheckConfig::default() };
        assert_eq!(check(&ops, &config).unwrap().verdict, Verdict::Ok);
    }

    #[test]
    fn illegal_beats_unknown_and_unknown_beats_ok() {
        let many: Vec<Operation> = (0..30).map(|i| w(i, 1, i as i64, 0, 100)).collect();
        let mut ops = many.clone();
        ops.push(r(99, 2, Some(3), 0, 1));
        let config = CheckConfig { budget: Budget { max_steps: 5, ..Budget::default() }, ..CheckConfig::default() };
        let checked = check(&ops, &config).unwrap();
        assert!(matches!(checked.verdict, Verdict::Illegal { key: Value::Int(2), .. }), "{:?}", checked.verdict);
        assert!(matches!(checked.keys[0].verdict, Verdict::Unknown { .. }));
        let Verdict::Unknown { reason } = check(&many, &config).unwrap().verdict else { panic!("budget of 5 steps") };
        assert!(reason.contains("key 1"), "{reason}");
        assert!(reason.contains("5 search steps"), "{reason}");
    }

    #[test]
    fn invalid_histories_are_errors() {
        let ops = [w(0, 1, 1, 5, 1)];
        assert_eq!(
            check(&ops, &CheckConfig::default()),
            Err(HistoryError::CompletesBeforeInvoke { id: 0, invoke: 5, at: 1 })
        );
    }
}
