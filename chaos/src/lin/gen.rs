//! Seeded histories of a simulated linearizable register, for tests and benches.
//!
//! Owns: [`generate`]. Concurrent clients each run one operation at a time on a random key;
//! every operation takes effect at one random instant between its invocation and completion,
//! and a real register (one per key) answers it at that instant, so the history is linearizable
//! by construction. Every write and every compare-and-set writes a value no other operation
//! writes (the operation's id + 1), which makes violations easy to build with certainty:
//! [`Violation`] rewrites one read (or, in a history without a suitable one, appends a few
//! operations) so that the history is certainly not linearizable. Must not: use any randomness
//! but the ChaCha stream seeded from [`GenConfig::seed`], or read a clock.

use super::history::{Completion, OpKind, Operation, Value};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How to break a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A read returns the value of a write `w0` although another write `w` completed after `w0`
    /// and before the read was invoked.
    StaleRead,
    /// A read returns a value nothing wrote (`-1`).
    PhantomRead,
    /// A read, invoked after a write to its key completed, returns the initial `nil`, as if the
    /// write had been lost (assumes the checker's initial value is `nil`, the default).
    LostWrite,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// The seed of the one random stream.
    pub seed: u64,
    /// Operations to generate (a violation may append up to three more).
    pub ops: usize,
    /// Concurrent clients (at least 1).
    pub clients: usize,
    /// Keys, `0..keys` (at least 1).
    pub keys: usize,
    /// Share of reads, in [0, 1].
    pub read_ratio: f64,
    /// Share of compare-and-sets, in [0, 1 - read_ratio]; the rest are writes.
    pub cas_ratio: f64,
    /// Share of operations whose client crashes before the answer (`Info`), in [0, 1]; half of
    /// those took effect. A crashed client continues as a new process, as in Jepsen.
    pub info_ratio: f64,
    /// The longest an operation takes, in ticks (at least 1).
    pub max_latency: u64,
    /// The longest a client waits between operations, in ticks.
    pub max_think: u64,
    /// The violation to inject, if any.
    pub violation: Option<Violation>,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            seed: 1,
            ops: 1000,
            clients: 10,
            keys: 1,
            read_ratio: 0.5,
            cas_ratio: 0.1,
            info_ratio: 0.0,
            max_latency: 100,
            max_think: 20,
            violation: None,
        }
    }
}

/// A generated history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The operations, in invocation order; `id` is the index.
    pub ops: Vec<Operation>,
    /// The id of the operation the violation made impossible (a read), if one was injected.
    pub guilty: Option<u64>,
}

/// Generates a history as configured.
pub fn generate(config: &GenConfig) -> Generated {
    assert!(config.clients > 0 && config.keys > 0 && config.max_latency > 0, "a generator needs clients and keys");
    assert!((0.0..=1.0).contains(&config.read_ratio), "read_ratio in [0, 1]");
    assert!((0.0..=1.0).contains(&config.info_ratio), "info_ratio in [0, 1]");
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (mut ops, effects) = schedule(config, &mut rng);
    apply(&mut ops, &effects, &mut rng);
    let guilty = config.violation.map(|v| inject(&mut ops, v, &mut rng));
    Generated { ops, guilty }
}

/// When (and whether) each operation takes effect.
struct Effect {
    at: u64,
    happens: bool,
}

/// Invocations, completions and effect instants; values are filled in by [`apply`].
fn schedule(config: &GenConfig, rng: &mut ChaCha8Rng) -> (Vec<Operation>, Vec<Effect>) {
    let mut next_at = vec![0u64; config.clients];
    let mut process: Vec<u64> = (0..config.clients as u64).collect();
    let mut ops = Vec::with_capacity(config.ops);
    let mut effects = Vec::with_capacity(config.ops);
    for id in 0..config.ops as u64 {
        let client = (0..config.clients).min_by_key(|&c| (next_at[c], c)).expect("at least one client");
        let invoke = next_at[client];
        let complete = invoke + rng.random_range(1..=config.max_latency);
        let at = rng.random_range(invoke..=complete);
        let key = Value::Int(rng.random_range(0..config.keys as i64));
        let roll: f64 = rng.random();
        let kind = if roll < config.read_ratio {
            OpKind::Read { value: Value::Nil }
        } else if roll < config.read_ratio + config.cas_ratio {
            OpKind::Cas { expected: Value::Nil, new: Value::Int(id as i64 + 1) }
        } else {
            OpKind::Write { value: Value::Int(id as i64 + 1) }
        };
        let crashed = rng.random_bool(config.info_ratio);
        let happens = !crashed || rng.random_bool(0.5);
        let completion =
            if crashed { Completion::Info { at: Some(complete) } } else { Completion::Ok { at: complete } };
        ops.push(Operation { id, process: process[client], key, kind, invoke, completion });
        effects.push(Effect { at, happens });
        if crashed {
            process[client] += config.clients as u64;
        }
        next_at[client] = complete + rng.random_range(0..=config.max_think);
    }
    (ops, effects)
}

/// Runs the register: each operation at its effect instant, filling in what reads saw and
/// what compare-and-sets expected (usually the current value, so most succeed; the rest fail).
fn apply(ops: &mut [Operation], effects: &[Effect], rng: &mut ChaCha8Rng) {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (effects[i].at, i));
    let mut registers: std::collections::BTreeMap<Value, (Value, Value)> = Default::default();
    for i in order {
        let (current, previous) = registers.entry(ops[i].key.clone()).or_insert((Value::Nil, Value::Nil));
        let happens = effects[i].happens;
        let op = &mut ops[i];
        match &mut op.kind {
            OpKind::Read { value } => *value = if happens { current.clone() } else { Value::Nil },
            OpKind::Write { value } => {
                if happens {
                    *previous = std::mem::replace(current, value.clone());
                }
            }
            OpKind::Cas { expected, new } => {
                *expected = if rng.random_bool(0.8) { current.clone() } else { previous.clone() };
                if !happens {
                    continue;
                }
                if *expected == *current {
                    *previous = std::mem::replace(current, new.clone());
                } else if let Completion::Ok { at } = op.completion {
                    op.completion = Completion::Fail { at };
                }
            }
        }
    }
}

/// The value an operation certainly wrote, if it completed `Ok` and writes.
fn written(op: &Operation) -> Option<&Value> {
    match (&op.kind, op.completion) {
        (OpKind::Write { value }, Completion::Ok { .. }) => Some(value),
        (OpKind::Cas { new, .. }, Completion::Ok { .. }) => Some(new),
        _ => None,
    }
}

/// Rewrites one read to realise `violation`, or appends operations that do; returns the
/// guilty read's id.
fn inject(ops: &mut Vec<Operation>, violation: Violation, rng: &mut ChaCha8Rng) -> u64 {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!((&ops[i].kind, ops[i].completion), (OpKind::Read { .. }, Completion::Ok { .. })))
        .collect();
    let start = if reads.is_empty() { 0 } else { rng.random_range(0..reads.len()) };
    for k in 0..reads.len() {
        let r = reads[(start + k) % reads.len()];
        if let Some(value) = broken_value(ops, r, violation) {
            ops[r].kind = OpKind::Read { value };
            return ops[r].id;
        }
    }
    append(ops, violation)
}

/// What read `r` must return to realise `violation`, if it can.
fn broken_value(ops: &[Operation], r: usize, violation: Violation) -> Option<Value> {
    let read = &ops[r];
    // The write to the read's key that completed last before `before`.
    let last_before = |before: u64| {
        ops.iter()
            .filter(|w| w.key == read.key && written(w).is_some())
            .filter(|w| matches!(w.completion, Completion::Ok { at } if at < before))
            .max_by_key(|w| (w.deadline(), w.id))
    };
    match violation {
        Violation::PhantomRead => Some(Value::Int(-1)),
        Violation::LostWrite => last_before(read.invoke).map(|_| Value::Nil),
        Violation::StaleRead => {
            let w = last_before(read.invoke)?;
            let w0 = last_before(w.invoke)?;
            written(w0).cloned()
        }
    }
}

/// Appends, after everything else, operations on key 0 by a fresh process that realise the
/// violation; returns the id of the final (guilty) read.
fn append(ops: &mut Vec<Operation>, violation: Violation) -> u64 {
    let end = |o: &Operation| match o.completion {
        Completion::Ok { at } | Completion::Fail { at } | Completion::Info { at: Some(at) } => at,
        Completion::Info { at: None } => o.invoke,
    };
    let mut t = ops.iter().map(end).max().unwrap_or(0) + 1;
    let process = ops.iter().map(|o| o.process).max().map_or(0, |p| p + 1);
    let fresh = ops.len() as i64 + 100;
    let mut push = |kind: OpKind| {
        let id = ops.len() as u64;
        ops.push(Operation {
            id,
            process,
            key: Value::Int(0),
            kind,
            invoke: t,
            completion: Completion::Ok { at: t + 1 },
        });
        t += 2;
        id
    };
    match violation {
        Violation::PhantomRead => push(OpKind::Read { value: Value::Int(-1) }),
        Violation::LostWrite => {
            push(OpKind::Write { value: Value::Int(fresh) });
            push(OpKind::Read { value: Value::Nil })
        }
        Violation::StaleRead => {
            push(OpKind::Write { value: Value::Int(fresh) });
            push(OpKind::Write { value: Value::Int(fresh + 1) });
            push(OpKind::Read { value: Value::Int(fresh) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: GenConfig) -> Generated {
        let a = generate(&config);
        assert_eq!(a, generate(&config), "one seed, one history");
        assert!(a.ops.len() >= config.ops);
        a
    }

    #[test]
    fn histories_are_concurrent_and_deterministic() {
        let g = check(GenConfig { ops: 500, clients: 8, keys: 3, info_ratio: 0.05, ..GenConfig::default() });
        let overlapping = g.ops.windows(2).filter(|w| w[1].invoke < w[0].deadline()).count();
        assert!(overlapping > 100, "clients overlap: {overlapping}");
        assert!(g.ops.iter().any(|o| matches!(o.completion, Completion::Info { .. })));
        assert!(g.ops.iter().any(|o| matches!(o.completion, Completion::Fail { .. })), "some cas fail");
        assert!(g.ops.iter().any(|o| matches!(o.kind, OpKind::Cas { .. }) && written(o).is_some()), "some cas succeed");
        assert_eq!(g.guilty, None);
        assert_ne!(g, generate(&GenConfig { seed: 2, ops: 500, clients: 8, keys: 3, ..GenConfig::default() }));
    }

    #[test]
    fn violations_name_a_read() {
        for violation in [Violation::StaleRead, Violation::PhantomRead, Violation::LostWrite] {
            let g = check(GenConfig { ops: 200, violation: Some(violation), ..GenConfig::default() });
            let guilty = g.guilty.expect("a violation names its read");
            assert!(matches!(g.ops[guilty as usize].kind, OpKind::Read { .. }), "{violation:?}");
        }
    }

    #[test]
    fn violations_in_a_history_without_reads_are_appended() {
        let g =
            check(GenConfig { ops: 3, read_ratio: 0.0, violation: Some(Violation::StaleRead), ..GenConfig::default() });
        assert_eq!(g.ops.len(), 6);
        assert_eq!(g.guilty, Some(5));
        assert_eq!(g.ops[5].kind, OpKind::Read { value: Value::Int(103) });
    }
}
