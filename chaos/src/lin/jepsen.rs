//! Jepsen / Knossos register histories in EDN: reading them into [`Operation`]s, and writing
//! operations back out (for fixtures and round-trip tests).
//!
//! Owns: [`parse`] and [`write`], the pairing of invocations with completions by process, and
//! [`KeyMode`] (a plain register, an optional `:key`, or Jepsen `independent` `[key value]`
//! tuples, detected or forced). Must not: check anything (see [`super::check`]), touch files,
//! or panic on any text.
//!
//! One history entry per line, e.g. `{:type :invoke, :f :cas, :value [1 2], :process 0}`; a
//! file may also be one vector of such maps (Knossos). An operation's times are the line
//! numbers of its invocation and its completion: a Jepsen history is written in real-time
//! order, so line order is real-time order (`:time` and `:index` are ignored), and
//! explanations can say "line 12". Entries of a non-integer process (`:nemesis`) are skipped;
//! an invocation with no completion is indeterminate, like `:info`.

use super::edn::{Edn, EdnError, Pos, Reader, Spanned};
use super::history::{Completion, OpKind, Operation, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Where an operation's key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMode {
    /// `Independent` if any read or write `:value` is a `[key value]` vector (or any cas
    /// `:value` is `[key [expected new]]`), else `Plain`.
    #[default]
    Auto,
    /// Values are register values; the key is `:key` if present, else `nil` (one register).
    Plain,
    /// Every `:value` is a `[key value]` tuple, as Jepsen's `independent` generator writes.
    Independent,
}

/// A parsed history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The operations, in invocation order; ids count from 0.
    pub ops: Vec<Operation>,
    /// Whether values were read as `[key value]` tuples.
    pub independent: bool,
    /// Entries skipped because their process is not a client (e.g. `:nemesis`).
    pub skipped: usize,
}

/// Why a text is not a register history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JepsenError {
    /// The text is not (supported) EDN.
    #[error(transparent)]
    Edn(#[from] EdnError),
    /// A value is not what a history entry allows there.
    #[error("{pos}: expected {expected}, found {found}")]
    Field {
        /// Where the value (or the entry, for a missing field) starts.
        pos: Pos,
        /// What was expected.
        expected: String,
        /// What was there.
        found: String,
    },
    /// Two entries on one line: line numbers would not order them.
    #[error("{pos}: expected one history entry per line, found a second one on line {}", pos.line)]
    SameLine {
        /// Where the second entry starts.
        pos: Pos,
    },
    /// A completion with no invocation pending for its process.
    #[error("{pos}: process {process} completes an operation it never invoked")]
    Unmatched {
        /// Where the completion starts.
        pos: Pos,
        /// The process.
        process: u64,
    },
    /// An invocation while the process still has one pending.
    #[error("{pos}: process {process} invokes again before its operation invoked on line {line} completed")]
    Overlap {
        /// Where the second invocation starts.
        pos: Pos,
        /// The process.
        process: u64,
        /// The line of the pending invocation.
        line: u64,
    },
}

impl JepsenError {
    /// Where the error is.
    pub fn pos(&self) -> Pos {
        match self {
            JepsenError::Edn(e) => e.pos(),
            JepsenError::Field { pos, .. }
            | JepsenError::SameLine { pos }
            | JepsenError::Unmatched { pos, .. }
            | JepsenError::Overlap { pos, .. } => *pos,
        }
    }
}

fn field_error(at: &Spanned, expected: impl Into<String>) -> JepsenError {
    JepsenError::Field { pos: at.pos, expected: expected.into(), found: show(&at.edn) }
}

/// A short text of what a value is, for errors.
fn show(edn: &Edn) -> String {
    match edn {
        Edn::Nil => "nil".into(),
        Edn::Bool(b) => b.to_string(),
        Edn::Int(i) => i.to_string(),
        Edn::Float(f) => f.to_string(),
        Edn::Str(s) => format!("{s:?}"),
        Edn::Keyword(k) => format!(":{k}"),
        Edn::Symbol(s) => format!("the symbol {s}"),
        Edn::Vector(v) => format!("a vector of {}", v.len()),
        Edn::List(v) => format!("a list of {}", v.len()),
        Edn::Set(v) => format!("a set of {}", v.len()),
        Edn::Map(_) => "a map".into(),
        Edn::Tagged(t, _) => format!("a #{t} value"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Invoke,
    Ok,
    Fail,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Read,
    Write,
    Cas,
}

/// One client entry, fields checked, values not yet interpreted.
struct Entry {
    pos: Pos,
    kind: Type,
    f: F,
    process: u64,
    value: Option<Spanned>,
    key: Option<Spanned>,
}

/// Reads a history; `mode` says where keys come from.
pub fn parse(text: &str, mode: KeyMode) -> Result<Parsed, JepsenError> {
    let (entries, skipped) = entries(text)?;
    let independent = match mode {
        KeyMode::Auto => entries.iter().any(looks_independent),
        KeyMode::Plain => false,
        KeyMode::Independent => true,
    };
    let ops = pair(&entries, independent)?;
    Ok(Parsed { ops, independent, skipped })
}

/// The client entries of the text, and how many others were skipped.
fn entries(text: &str) -> Result<(Vec<Entry>, usize), JepsenError> {
    let mut reader = Reader::new(text);
    let mut entries = Vec::new();
    let mut skipped = 0;
    let mut last_line = 0;
    while let Some(value) = reader.next_value()? {
        let maps = match value.edn {
            Edn::Vector(items) | Edn::List(items) => items,
            _ => vec![value],
        };
        for map in maps {
            if map.pos.line == last_line {
                return Err(JepsenError::SameLine { pos: map.pos });
            }
            last_line = map.pos.line;
            match entry(map)? {
                Some(e) => entries.push(e),
                None => skipped += 1,
            }
        }
    }
    Ok((entries, skipped))
}

/// One map as a client entry; `None` if its process is not a client.
fn entry(map: Spanned) -> Result<Option<Entry>, JepsenError> {
    let pos = map.pos;
    let Edn::Map(pairs) = map.edn else {
        return Err(field_error(&map, "a map (one history entry, like {:type :invoke, :f :read, :process 0})"));
    };
    let mut fields: BTreeMap<&str, Spanned> = BTreeMap::new();
    for (k, v) in pairs {
        if let Edn::Keyword(name) = &k.edn
            && let Some(known) = ["type", "f", "process", "value", "key"].into_iter().find(|n| n == name)
            && fields.insert(known, v).is_some()
        {
            return Err(field_error(&k, format!("each key once in a map, but :{known} is repeated")));
        }
    }
    let missing =
        |name: &str| JepsenError::Field { pos, expected: format!("a :{name} in this entry"), found: "none".into() };
    let process = fields.remove("process").ok_or_else(|| missing("process"))?;
    let process = match process.edn {
        Edn::Int(p) if p >= 0 => p as u64,
        Edn::Keyword(_) => return Ok(None),
        _ => return Err(field_error(&process, ":process to be a non-negative integer or a keyword such as :nemesis")),
    };
    let kind = fields.remove("type").ok_or_else(|| missing("type"))?;
    let kind = match &kind.edn {
        Edn::Keyword(k) if k == "invoke" => Type::Invoke,
        Edn::Keyword(k) if k == "ok" => Type::Ok,
        Edn::Keyword(k) if k == "fail" => Type::Fail,
        Edn::Keyword(k) if k == "info" => Type::Info,
        _ => return Err(field_error(&kind, ":type to be :invoke, :ok, :fail or :info")),
    };
    let f = fields.remove("f").ok_or_else(|| missing("f"))?;
    let f = match &f.edn {
        Edn::Keyword(k) if k == "read" => F::Read,
        Edn::Keyword(k) if k == "write" => F::Write,
        Edn::Keyword(k) if k == "cas" => F::Cas,
        _ => return Err(field_error(&f, ":f to be :read, :write or :cas (a register history)")),
    };
    Ok(Some(Entry { pos, kind, f, process, value: fields.remove("value"), key: fields.remove("key") }))
}

fn pair_of(edn: &Edn) -> Option<(&Spanned, &Spanned)> {
    match edn {
        Edn::Vector(v) | Edn::List(v) if v.len() == 2 => Some((&v[0], &v[1])),
        _ => None,
    }
}

fn looks_independent(e: &Entry) -> bool {
    let Some(value) = &e.value else { return false };
    match (e.f, pair_of(&value.edn)) {
        (F::Read | F::Write, Some(_)) => true,
        (F::Cas, Some((_, inner))) => pair_of(&inner.edn).is_some(),
        _ => false,
    }
}

fn register_value(s: &Spanned) -> Result<Value, JepsenError> {
    match &s.edn {
        Edn::Nil => Ok(Value::Nil),
        Edn::Int(i) => Ok(Value::Int(*i)),
        Edn::Str(t) => Ok(Value::Str(t.clone())),
        Edn::Keyword(k) => Ok(Value::Keyword(k.clone())),
        _ => Err(field_error(s, "a register value (integer, string, keyword or nil)")),
    }
}

/// The entry's key and its register-level value (the tuple's second half when independent).
fn split(e: &Entry, independent: bool) -> Result<(Value, Option<&Spanned>), JepsenError> {
    if !independent {
        let key = e.key.as_ref().map(register_value).transpose()?.unwrap_or(Value::Nil);
        return Ok((key, e.value.as_ref()));
    }
    let Some(value) = &e.value else {
        return Err(JepsenError::Field { pos: e.pos, expected: "a :value [key value]".into(), found: "none".into() });
    };
    let (key, inner) =
        pair_of(&value.edn).ok_or_else(|| field_error(value, "a [key value] tuple (independent keys)"))?;
    Ok((register_value(key)?, Some(inner)))
}

/// What an invocation does.
fn invoked_kind(e: &Entry, value: Option<&Spanned>) -> Result<OpKind, JepsenError> {
    let need =
        |what: &str| JepsenError::Field { pos: e.pos, expected: format!("a :value ({what})"), found: "none".into() };
    Ok(match e.f {
        F::Read => OpKind::Read { value: Value::Nil },
        F::Write => OpKind::Write { value: register_value(value.ok_or_else(|| need("the value written"))?)? },
        F::Cas => {
            let value = value.ok_or_else(|| need("[expected new]"))?;
            let (expected, new) =
                pair_of(&value.edn).ok_or_else(|| field_error(value, "a cas value [expected new]"))?;
            OpKind::Cas { expected: register_value(expected)?, new: register_value(new)? }
        }
    })
}

/// Pairs invocations with completions by process.
fn pair(entries: &[Entry], independent: bool) -> Result<Vec<Operation>, JepsenError> {
    let mut ops: Vec<Operation> = Vec::new();
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    for e in entries {
        let line = e.pos.line as u64;
        let (key, value) = split(e, independent)?;
        if e.kind == Type::Invoke {
            if let Some(&open) = pending.get(&e.process) {
                return Err(JepsenError::Overlap { pos: e.pos, process: e.process, line: ops[open].invoke });
            }
            let kind = invoked_kind(e, value)?;
            let id = ops.len() as u64;
            pending.insert(e.process, ops.len());
            ops.push(Operation {
                id,
                process: e.process,
                key,
                kind,
                invoke: line,
                completion: Completion::Info { at: None },
            });
            continue;
        }
        let open = pending.remove(&e.process).ok_or(JepsenError::Unmatched { pos: e.pos, process: e.process })?;
        complete(&mut ops[open], e, key, value)?;
    }
    Ok(ops)
}

/// Records a completion on its invoked operation.
fn complete(op: &mut Operation, e: &Entry, key: Value, value: Option<&Spanned>) -> Result<(), JepsenError> {
    let f_invoked = match op.kind {
        OpKind::Read { .. } => F::Read,
        OpKind::Write { .. } => F::Write,
        OpKind::Cas { .. } => F::Cas,
    };
    let mismatch = |expected: String, found: String| JepsenError::Field { pos: e.pos, expected, found };
    if e.f != f_invoked {
        let name = |f: F| format!("{f:?}").to_lowercase();
        let expected = format!(":f :{} (invoked on line {})", name(f_invoked), op.invoke);
        return Err(mismatch(expected, format!(":f :{}", name(e.f))));
    }
    if key != op.key {
        return Err(mismatch(format!("key {} (invoked on line {})", op.key, op.invoke), format!("key {key}")));
    }
    let at = e.pos.line as u64;
    op.completion = match e.kind {
        Type::Ok => Completion::Ok { at },
        Type::Fail => Completion::Fail { at },
        Type::Info | Type::Invoke => Completion::Info { at: Some(at) },
    };
    if let (OpKind::Read { value: observed }, Type::Ok) = (&mut op.kind, e.kind) {
        let value = value.ok_or_else(|| mismatch("a :value (what the read saw)".into(), "none".into()))?;
        *observed = register_value(value)?;
    }
    Ok(())
}

/// How [`write`] says which key an operation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStyle {
    /// `:value [key value]` tuples.
    Independent,
    /// Plain values, with `:key` when the key is not `nil`.
    Plain,
}

/// Writes operations as a Jepsen history, one entry per line in time order. At equal times
/// invocations come first, so touching operations stay concurrent, except that a process's
/// completion precedes its own next invocation. Parsing it back gives the same operations, with
/// line numbers for times.
pub fn write(ops: &[Operation], style: WriteStyle) -> String {
    // At equal times: completions of a process that invokes again at that time, invocations,
    // then other completions (rank 0, 1, 2).
    let invoked: BTreeSet<(u64, u64)> = ops.iter().map(|op| (op.invoke, op.process)).collect();
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke, 1, i));
        if let Completion::Ok { at } | Completion::Fail { at } | Completion::Info { at: Some(at) } = op.completion {
            events.push((at, if invoked.contains(&(at, op.process)) { 0 } else { 2 }, i));
        }
    }
    events.sort_unstable();
    let mut out = String::new();
    for (time, rank, i) in events {
        let is_completion = rank != 1;
        let op = &ops[i];
        let (kind, f, value) = match (&op.kind, is_completion) {
            (OpKind::Read { .. }, false) => ("invoke", "read", "nil".to_string()),
            (OpKind::Read { value }, true) => ("", "read", edn_value(value)),
            (OpKind::Write { value }, c) => (if c { "" } else { "invoke" }, "write", edn_value(value)),
            (OpKind::Cas { expected, new }, c) => {
                (if c { "" } else { "invoke" }, "cas", format!("[{} {}]", edn_value(expected), edn_value(new)))
            }
        };
        let kind = match (kind, op.completion) {
            ("invoke", _) => "invoke",
            (_, Completion::Ok { .. }) => "ok",
            (_, Completion::Fail { .. }) => "fail",
            (_, Completion::Info { .. }) => "info",
        };
        let (value, key) = match style {
            WriteStyle::Independent => (format!("[{} {value}]", edn_value(&op.key)), String::new()),
            WriteStyle::Plain if op.key == Value::Nil => (value, String::new()),
            WriteStyle::Plain => (value, format!(", :key {}", edn_value(&op.key))),
        };
        let _ = writeln!(out, "{{:type :{kind}, :f :{f}, :value {value}, :process {}{key}, :time {time}}}", op.process);
    }
    out
}

fn edn_value(value: &Value) -> String {
    match value {
        Value::Str(s) => {
            let escaped = s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "\\r");
            format!("\"{}\"", escaped.replace('\t', "\\t"))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
