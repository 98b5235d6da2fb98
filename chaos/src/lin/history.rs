//! The history a linearizability check judges: operations on register keys, each with its
//! process, invocation time and completion.
//!
//! Owns: the public data types ([`Value`], [`OpKind`], [`Completion`], [`Operation`]), their
//! text forms, and the validation of a history ([`HistoryError`]). Must not: know how a history
//! was recorded or parsed (see `jepsen`), or how it is searched (see `search`).
//!
//! Time is any monotonic `u64` axis (nanoseconds for recorded histories, line numbers for
//! parsed ones). Operation `a` precedes `b` in real time iff `a` completed (`Ok`) strictly
//! before `b` was invoked; equal times count as overlapping.

use std::fmt;

/// A register value, or a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Value {
    /// No value (EDN `nil`): the register's usual initial value.
    #[default]
    Nil,
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A keyword, without its leading colon.
    Keyword(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Keyword(k) => write!(f, ":{k}"),
        }
    }
}

/// What an operation does to the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// Reads the register; `value` is what it observed (ignored unless the read completed `Ok`).
    Read {
        /// The value observed.
        value: Value,
    },
    /// Sets the register to `value`.
    Write {
        /// The value written.
        value: Value,
    },
    /// Compare-and-set: if the register holds `expected`, sets it to `new`.
    Cas {
        /// The value the register must hold.
        expected: Value,
        /// The value it is set to.
        new: Value,
    },
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpKind::Read { value } => write!(f, "read {value}"),
            OpKind::Write { value } => write!(f, "write {value}"),
            OpKind::Cas { expected, new } => write!(f, "cas {expected}->{new}"),
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// It took effect, exactly once, between its invocation and `at`.
    Ok {
        /// When the client saw the answer.
        at: u64,
    },
    /// It certainly did not take effect: the checker drops it.
    Fail {
        /// When the client saw the answer.
        at: u64,
    },
    /// Indeterminate: it may or may not have taken effect, at any time after its invocation
    /// (its return is treated as +infinity). A read ending so is dropped: it constrains nothing.
    Info {
        /// When the client gave up, if it ever did (`None`: the history ends first).
        at: Option<u64>,
    },
}

/// One operation of one process on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Names the operation in explanations; unique within a history.
    pub id: u64,
    /// The process (client) that ran it.
    pub process: u64,
    /// The register it ran on (independent keys are checked independently).
    pub key: Value,
    /// What it did.
    pub kind: OpKind,
    /// When it was invoked.
    pub invoke: u64,
    /// How and when it ended.
    pub completion: Completion,
}

impl Operation {
    /// When its effect must have happened by: `at` for `Ok`/`Fail`, `u64::MAX` for `Info`.
    pub fn deadline(&self) -> u64 {
        match self.completion {
            Completion::Ok { at } | Completion::Fail { at } => at,
            Completion::Info { .. } => u64::MAX,
        }
    }

    /// The operation in one line, with `unit` naming the time axis.
    pub fn describe(&self, unit: TimeUnit) -> String {
        let kind = match (&self.kind, &self.completion) {
            (OpKind::Read { value }, Completion::Ok { .. }) => format!("read -> {value}"),
            (OpKind::Read { .. }, _) => "read".to_string(),
            (kind, _) => kind.to_string(),
        };
        let end = match self.completion {
            Completion::Ok { at } => format!("ok at {}", unit.at(at)),
            Completion::Fail { at } => format!("failed at {}", unit.at(at)),
            Completion::Info { at: Some(at) } => format!("indeterminate at {}", unit.at(at)),
            Completion::Info { at: None } => "never completed".to_string(),
        };
        format!("op {} (process {}) {kind}, invoked at {}, {end}", self.id, self.process, unit.at(self.invoke))
    }
}

/// What the numbers on a history's time axis are, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// Plain ticks (nanoseconds, or whatever the recorder used): `t=120`.
    #[default]
    Ticks,
    /// Line numbers of a history file: `line 12`.
    Line,
}

impl TimeUnit {
    /// A time in this unit, as text.
    pub fn at(self, t: u64) -> String {
        match self {
            TimeUnit::Ticks => format!("t={t}"),
            TimeUnit::Line => format!("line {t}"),
        }
    }
}

/// Why a history cannot be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// An operation completed before it was invoked.
    #[error("op {id} completes at {at}, before its invocation at {invoke}")]
    CompletesBeforeInvoke {
        /// The operation.
        id: u64,
        /// Its invocation time.
        invoke: u64,
        /// Its completion time.
        at: u64,
    },
    /// Two operations share an id, so an explanation could not say which one it means.
    #[error("two operations have id {id}")]
    DuplicateId {
        /// The id.
        id: u64,
    },
}

/// Checks what the search relies on: completions after invocations, unique ids.
pub(crate) fn validate(ops: &[Operation]) -> Result<(), HistoryError> {
    for op in ops {
        if let Completion::Ok { at } | Completion::Fail { at } | Completion::Info { at: Some(at) } = op.completion
            && at < op.invoke
        {
            return Err(HistoryError::CompletesBeforeInvoke { id: op.id, invoke: op.invoke, at });
        }
    }
    let mut ids: Vec<u64> = ops.iter().map(|op| op.id).collect();
    ids.sort_unstable();
    match ids.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(HistoryError::DuplicateId { id: w[0] }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, invoke: u64, completion: Completion) -> Operation {
        Operation { id, process: 0, key: Value::Nil, kind: OpKind::Write { value: Value::Int(1) }, invoke, completion }
    }

    fn check(ops: &[Operation], expected: Result<(), HistoryError>) {
        assert_eq!(validate(ops), expected);
    }

    #[test]
    fn validation() {
        check(&[op(0, 1, Completion::Ok { at: 1 }), op(1, 0, Completion::Info { at: None })], Ok(()));
        check(
            &[op(0, 5, Completion::Fail { at: 4 })],
            Err(HistoryError::CompletesBeforeInvoke { id: 0, invoke: 5, at: 4 }),
        );
        check(
            &[op(3, 0, Completion::Ok { at: 1 }), op(3, 2, Completion::Ok { at: 3 })],
            Err(HistoryError::DuplicateId { id: 3 }),
        );
    }

    #[test]
    fn describe_names_everything_an_explanation_needs() {
        let mut read = op(7, 3, Completion::Ok { at: 9 });
        read.kind = OpKind::Read { value: Value::Int(4) };
        read.process = 2;
        assert_eq!(read.describe(TimeUnit::Line), "op 7 (process 2) read -> 4, invoked at line 3, ok at line 9");
        let cas = Operation {
            kind: OpKind::Cas { expected: Value::Nil, new: Value::Str("a".into()) },
            ..op(1, 0, Completion::Info { at: None })
        };
        assert_eq!(cas.describe(TimeUnit::Ticks), "op 1 (process 0) cas nil->\"a\", invoked at t=0, never completed");
        assert_eq!(cas.deadline(), u64::MAX);
        assert_eq!(Value::Keyword("x".into()).to_string(), ":x");
    }
}
