//! The sequential specification the search checks against: a single register, with values
//! interned to small integers so a model state is one `u32`.
//!
//! Owns: which operations of a key take part in the search ([`prepare`]), their compact form
//! ([`RegOp`]) and the register's transition function ([`step`]). Must not: search, or know
//! about other keys.
//!
//! Dropped before the search, because no linearization needs them:
//! - `Fail` operations (they did not happen) and indeterminate reads (they observed nothing);
//! - indeterminate writes and compare-and-sets whose new value nothing *observes*: no `Ok` read
//!   returns it and no compare-and-set expects it. Proof sketch: take any linearization that
//!   includes them and delete them. Wherever the register differs from the original order, the
//!   original held an unobserved value, so no read or `Ok` compare-and-set can sit there; an
//!   indeterminate compare-and-set sitting there that would now apply is moved to the end (it
//!   may take effect at any time). What remains is a valid linearization. Without this rule,
//!   every crashed write that never took effect doubles the search space of a failing key.

use super::history::{Completion, OpKind, Operation, Value};
use std::collections::BTreeMap;

/// A value's index in an [`Interner`].
pub(crate) type ValueId = u32;

/// Maps values to dense ids and back.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: BTreeMap<Value, ValueId>,
    values: Vec<Value>,
}

impl Interner {
    /// The id of `value`, allocating one if it is new.
    pub(crate) fn intern(&mut self, value: &Value) -> ValueId {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = ValueId::try_from(self.values.len()).expect("fewer than 2^32 distinct values in one key");
        self.ids.insert(value.clone(), id);
        self.values.push(value.clone());
        id
    }

    /// The value behind an id this interner gave out.
    pub(crate) fn value(&self, id: ValueId) -> &Value {
        &self.values[id as usize]
    }
}

/// One register operation as the search sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegOp {
    /// A completed read that observed the value.
    Read(ValueId),
    /// A write (completed or indeterminate: a write always applies).
    Write(ValueId),
    /// A completed compare-and-set: it must have found `expected`.
    Cas { expected: ValueId, new: ValueId },
    /// An indeterminate compare-and-set: if it ran, it either found `expected` and set `new`,
    /// or found something else and changed nothing.
    CasMaybe { expected: ValueId, new: ValueId },
}

/// The register's transition: the state after `op`, or `None` if `op` cannot happen in `state`.
pub(crate) fn step(state: ValueId, op: RegOp) -> Option<ValueId> {
    match op {
        RegOp::Read(v) => (v == state).then_some(state),
        RegOp::Write(v) => Some(v),
        RegOp::Cas { expected, new } => (expected == state).then_some(new),
        RegOp::CasMaybe { expected, new } => Some(if expected == state { new } else { state }),
    }
}

/// An operation of one key, ready for the search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    /// Its index in the caller's history slice.
    pub(crate) source: usize,
    /// What it does.
    pub(crate) op: RegOp,
    /// When it was invoked.
    pub(crate) invoke: u64,
    /// When it must have taken effect by (`u64::MAX` when indeterminate).
    pub(crate) deadline: u64,
}

/// The operations of one key that take part in the search, sorted by invocation, and how many
/// were dropped (failed, or indeterminate reads).
pub(crate) fn prepare(ops: &[(usize, &Operation)], interner: &mut Interner) -> (Vec<Prepared>, usize) {
    let mut prepared = Vec::with_capacity(ops.len());
    for &(source, op) in ops {
        let indeterminate = match op.completion {
            Completion::Ok { .. } => false,
            Completion::Fail { .. } => continue,
            Completion::Info { .. } => true,
        };
        let reg = match (&op.kind, indeterminate) {
            (OpKind::Read { .. }, true) => continue,
            (OpKind::Read { value }, false) => RegOp::Read(interner.intern(value)),
            (OpKind::Write { value }, _) => RegOp::Write(interner.intern(value)),
            (OpKind::Cas { expected, new }, false) => {
                RegOp::Cas { expected: interner.intern(expected), new: interner.intern(new) }
            }
            (OpKind::Cas { expected, new }, true) => {
                RegOp::CasMaybe { expected: interner.intern(expected), new: interner.intern(new) }
            }
        };
        prepared.push(Prepared { source, op: reg, invoke: op.invoke, deadline: op.deadline() });
    }
    let mut observed = vec![false; interner.values.len()];
    for p in &prepared {
        if let RegOp::Read(v) | RegOp::Cas { expected: v, .. } | RegOp::CasMaybe { expected: v, .. } = p.op {
            observed[v as usize] = true;
        }
    }
    prepared.retain(|p| match p.op {
        RegOp::Write(new) | RegOp::CasMaybe { new, .. } if p.deadline == u64::MAX => observed[new as usize],
        _ => true,
    });
    let dropped = ops.len() - prepared.len();
    prepared.sort_by_key(|p| (p.invoke, p.source));
    (prepared, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(state: ValueId, op: RegOp, expected: Option<ValueId>) {
        assert_eq!(step(state, op), expected, "{op:?} in state {state}");
    }

    #[test]
    fn register_transitions() {
        check(1, RegOp::Read(1), Some(1));
        check(1, RegOp::Read(2), None);
        check(1, RegOp::Write(2), Some(2));
        check(1, RegOp::Cas { expected: 1, new: 3 }, Some(3));
        check(2, RegOp::Cas { expected: 1, new: 3 }, None);
        check(1, RegOp::CasMaybe { expected: 1, new: 3 }, Some(3));
        check(2, RegOp::CasMaybe { expected: 1, new: 3 }, Some(2));
    }

    #[test]
    fn prepare_drops_what_no_linearization_needs_and_sorts_by_invocation() {
        let mk = |id: u64, kind: OpKind, invoke: u64, completion: Completion| Operation {
            id,
            process: id,
            key: Value::Nil,
            kind,
            invoke,
            completion,
        };
        let ops = [
            mk(0, OpKind::Write { value: Value::Int(1) }, 5, Completion::Ok { at: 6 }),
            mk(1, OpKind::Read { value: Value::Nil }, 1, Completion::Info { at: None }),
            mk(2, OpKind::Write { value: Value::Int(2) }, 0, Completion::Fail { at: 3 }),
            mk(3, OpKind::Cas { expected: Value::Int(1), new: Value::Int(2) }, 2, Completion::Info { at: Some(9) }),
            mk(4, OpKind::Cas { expected: Value::Int(2), new: Value::Int(3) }, 7, Completion::Ok { at: 8 }),
            mk(5, OpKind::Write { value: Value::Int(9) }, 7, Completion::Info { at: None }),
        ];
        let refs: Vec<(usize, &Operation)> = ops.iter().enumerate().collect();
        let mut interner = Interner::default();
        let (prepared, dropped) = prepare(&refs, &mut interner);
        assert_eq!(dropped, 3, "a failure, an indeterminate read, and an unobserved indeterminate write");
        assert_eq!(
            prepared.iter().map(|p| p.source).collect::<Vec<_>>(),
            vec![3, 0, 4],
            "op 3's 2 is expected by op 4"
        );
        assert_eq!(prepared[0].deadline, u64::MAX);
        assert!(matches!(prepared[0].op, RegOp::CasMaybe { .. }));
        let two = interner.intern(&Value::Int(2));
        assert_eq!(interner.value(two), &Value::Int(2));
    }
}
