//! A brute-force reference checker for tiny histories (tests only).
//!
//! Owns: a second, deliberately naive reading of the semantics, to test the search against:
//! every subset of the indeterminate operations is tried as "these took effect", and every
//! order of the chosen operations consistent with real time is tried against the register.
//! Must not: share code with the search, the model or the memo (it would share their bugs), or
//! be used on more than a handful of operations per key (it is factorial).

use super::history::{Completion, OpKind, Operation, Value};
use std::collections::BTreeMap;

/// Whether `ops` is linearizable from `initial`, by exhaustion.
pub(crate) fn linearizable(ops: &[Operation], initial: &Value) -> bool {
    let mut by_key: BTreeMap<&Value, Vec<&Operation>> = BTreeMap::new();
    for op in ops {
        by_key.entry(&op.key).or_default().push(op);
    }
    by_key.values().all(|key_ops| key_linearizable(key_ops, initial))
}

fn key_linearizable(ops: &[&Operation], initial: &Value) -> bool {
    // A failed operation did not happen; an indeterminate read constrains nothing.
    let certain: Vec<&Operation> =
        ops.iter().copied().filter(|o| matches!(o.completion, Completion::Ok { .. })).collect();
    let maybe: Vec<&Operation> = ops
        .iter()
        .copied()
        .filter(|o| matches!(o.completion, Completion::Info { .. }) && !matches!(o.kind, OpKind::Read { .. }))
        .collect();
    assert!(certain.len() + maybe.len() <= 10, "brute force is for tiny histories");
    (0u32..1 << maybe.len()).any(|subset| {
        let mut chosen = certain.clone();
        chosen.extend(maybe.iter().enumerate().filter(|(i, _)| subset & (1 << i) != 0).map(|(_, o)| *o));
        let mut placed = vec![false; chosen.len()];
        some_order(&chosen, &mut placed, initial.clone())
    })
}

/// `a` must come before `b`: `a` answered before `b` was invoked.
fn precedes(a: &Operation, b: &Operation) -> bool {
    matches!(a.completion, Completion::Ok { at } if at < b.invoke)
}

/// Tries every next operation whose real-time predecessors are all placed.
fn some_order(ops: &[&Operation], placed: &mut [bool], state: Value) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] || (0..ops.len()).any(|j| !placed[j] && j != i && precedes(ops[j], ops[i])) {
            continue;
        }
        let next = match &ops[i].kind {
            OpKind::Read { value } => (*value == state).then(|| state.clone()),
            OpKind::Write { value } => Some(value.clone()),
            OpKind::Cas { expected, new } => (*expected == state).then(|| new.clone()),
        };
        if let Some(next) = next {
            placed[i] = true;
            if some_order(ops, placed, next) {
                return true;
            }
            placed[i] = false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind, invoke: u64, completion: Completion) -> Operation {
        Operation { id: invoke, process: 0, key: Value::Nil, kind, invoke, completion }
    }

    fn check(ops: &[Operation], expected: bool) {
        assert_eq!(linearizable(ops, &Value::Nil), expected, "{ops:#?}");
    }

    #[test]
    fn reference_semantics() {
        let w1 = |invoke, completion| op(OpKind::Write { value: Value::Int(1) }, invoke, completion);
        let read = |value: Value, invoke| op(OpKind::Read { value }, invoke, Completion::Ok { at: invoke + 1 });
        check(&[w1(0, Completion::Ok { at: 1 }), read(Value::Int(1), 2)], true);
        check(&[w1(0, Completion::Ok { at: 1 }), read(Value::Nil, 2)], false);
        check(&[w1(0, Completion::Fail { at: 1 }), read(Value::Int(1), 2)], false);
        check(&[w1(0, Completion::Fail { at: 1 }), read(Value::Nil, 2)], true);
        check(&[w1(0, Completion::Info { at: None }), read(Value::Nil, 2), read(Value::Int(1), 4)], true);
        check(&[w1(0, Completion::Info { at: None }), read(Value::Int(1), 2), read(Value::Nil, 4)], false);
    }
}
