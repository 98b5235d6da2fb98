//! Why a key is not linearizable, in words a person can act on, and the check's text and JSON
//! reports.
//!
//! Owns: [`Explanation`] (built from the search's furthest point: the operation that could not
//! be placed, the register values it was tried against, the longest linearizable prefix that
//! got that far, and what else was pending), and [`render_text`] / [`render_json`] of a
//! [`Checked`]. Must not: search, print, or list more than a screenful (long lists are cut at
//! [`super::frontier::LISTED`] with a count).

use super::frontier::Frontier;
use super::history::{Completion, OpKind, Operation, TimeUnit, Value};
use super::model::{Interner, Prepared};
use super::{Checked, Verdict};
use serde_json::{Value as Json, json};
use std::fmt::{self, Write as _};

/// One operation of a linearizable prefix, and the register's value after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixStep {
    /// The operation.
    pub op: Operation,
    /// The register after it.
    pub state_after: Value,
}

/// Where every order consistent with real time got stuck on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The operation that had to take effect before it completed, and could not: in every
    /// explored order that got this far, the register was in a state it cannot follow.
    pub blocked: Operation,
    /// The register values it was tried against (sorted, at most 8).
    pub states: Vec<Value>,
    /// Whether it was tried against more values than listed.
    pub more_states: bool,
    /// Operations in the longest linearizable prefix that got this far.
    pub prefix_len: usize,
    /// Operations of this key that took part in the search.
    pub key_ops: usize,
    /// The last operations of that prefix (at most 8), oldest first.
    pub prefix_tail: Vec<PrefixStep>,
    /// Other operations invoked before the blocked one completed and not in the prefix (at most 8).
    pub pending: Vec<Operation>,
    /// How many such operations there were in all.
    pub pending_total: usize,
}

pub(crate) fn explanation(all: &[Operation], ops: &[Prepared], interner: &Interner, f: &Frontier) -> Explanation {
    let op = |i: usize| all[ops[i].source].clone();
    Explanation {
        blocked: op(f.blocked),
        states: f.states.iter().map(|&s| interner.value(s).clone()).collect(),
        more_states: f.more_states,
        prefix_len: f.prefix_len,
        key_ops: ops.len(),
        prefix_tail: f
            .prefix_tail
            .iter()
            .map(|&(i, s)| PrefixStep { op: op(i), state_after: interner.value(s).clone() })
            .collect(),
        pending: f.pending.iter().map(|&i| op(i)).collect(),
        pending_total: f.pending_total,
    }
}

impl Explanation {
    /// The explanation as indented text, times in `unit`.
    pub fn render(&self, unit: TimeUnit) -> String {
        let mut out = String::new();
        let states = list(&self.states, self.more_states);
        let _ = writeln!(out, "{}", self.blocked.describe(unit));
        let need = match &self.blocked.kind {
            OpKind::Read { value } => format!("it read {value}"),
            OpKind::Cas { expected, .. } => format!("it expected {expected}"),
            OpKind::Write { .. } => "it".to_string(),
        };
        let _ = writeln!(
            out,
            "  cannot take effect before it completed: {need}, but every order consistent with real time \
             that gets this far leaves the register holding {states}."
        );
        let _ = writeln!(
            out,
            "  Longest linearizable prefix that got this far: {} of {} operations on this key{}",
            self.prefix_len,
            self.key_ops,
            if self.prefix_tail.is_empty() { "." } else { "; it ends:" }
        );
        if self.prefix_len > self.prefix_tail.len() {
            let _ = writeln!(out, "    ... {} earlier", self.prefix_len - self.prefix_tail.len());
        }
        for step in &self.prefix_tail {
            let _ = writeln!(out, "    {}  => {}", step.op.describe(unit), step.state_after);
        }
        if !self.pending.is_empty() {
            let _ = writeln!(out, "  Also pending then, in no order that helps ({} in all):", self.pending_total);
            for op in &self.pending {
                let _ = writeln!(out, "    {}", op.describe(unit));
            }
        }
        out
    }

    /// The explanation as JSON, times in `unit` (numbers, and a `text` rendering).
    pub fn to_json(&self, unit: TimeUnit) -> Json {
        json!({
            "blocked": op_json(&self.blocked),
            "states_tried": self.states.iter().map(value_json).collect::<Vec<_>>(),
            "more_states": self.more_states,
            "prefix_len": self.prefix_len,
            "key_ops": self.key_ops,
            "prefix_tail": self.prefix_tail.iter()
                .map(|s| json!({ "op": op_json(&s.op), "state_after": value_json(&s.state_after) }))
                .collect::<Vec<_>>(),
            "pending": self.pending.iter().map(op_json).collect::<Vec<_>>(),
            "pending_total": self.pending_total,
            "text": self.render(unit),
        })
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(TimeUnit::Ticks))
    }
}

fn list(values: &[Value], more: bool) -> String {
    let mut text = values.iter().map(Value::to_string).collect::<Vec<_>>().join(" or ");
    if more {
        text.push_str(" or others");
    }
    if text.is_empty() { "nothing it could follow".to_string() } else { text }
}

/// A value as JSON: nil is null, integers are numbers, keywords keep their colon.
pub fn value_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Int(i) => json!(i),
        Value::Str(s) => json!(s),
        Value::Keyword(k) => json!(format!(":{k}")),
    }
}

/// An operation as JSON.
pub fn op_json(op: &Operation) -> Json {
    let (f, mut fields) = match &op.kind {
        OpKind::Read { value } => ("read", json!({ "value": value_json(value) })),
        OpKind::Write { value } => ("write", json!({ "value": value_json(value) })),
        OpKind::Cas { expected, new } => ("cas", json!({ "expected": value_json(expected), "new": value_json(new) })),
    };
    let (kind, at) = match op.completion {
        Completion::Ok { at } => ("ok", Some(at)),
        Completion::Fail { at } => ("fail", Some(at)),
        Completion::Info { at } => ("info", at),
    };
    fields["id"] = json!(op.id);
    fields["process"] = json!(op.process);
    fields["key"] = value_json(&op.key);
    fields["f"] = json!(f);
    fields["invoke"] = json!(op.invoke);
    fields["type"] = json!(kind);
    fields["completed"] = json!(at);
    fields
}

/// The report of a check as text: a first line with the verdict, then every key that is not Ok.
pub fn render_text(checked: &Checked, unit: TimeUnit) -> String {
    let ops: usize = checked.keys.iter().map(|k| k.ops).sum();
    let dropped: usize = checked.keys.iter().map(|k| k.dropped).sum();
    let steps: u64 = checked.keys.iter().map(|k| k.steps).sum();
    let sizes = format!(
        "{ops} operations on {} key(s), {dropped} dropped (failed; indeterminate and unobserved), {steps} search steps",
        checked.keys.len()
    );
    let mut out = match &checked.verdict {
        Verdict::Ok => format!("linearizable: {sizes}\n"),
        Verdict::Illegal { .. } => format!("NOT linearizable: {sizes}\n"),
        Verdict::Unknown { .. } => format!("UNKNOWN (not a pass: the check could not be completed): {sizes}\n"),
    };
    for key in &checked.keys {
        match &key.verdict {
            Verdict::Ok => {}
            Verdict::Illegal { key, explanation } => {
                let _ = write!(out, "key {key}: not linearizable\n{}", explanation.render(unit));
            }
            Verdict::Unknown { reason } => {
                let _ = writeln!(out, "{reason}");
            }
        }
    }
    out
}

/// The report of a check as one JSON object.
pub fn render_json(checked: &Checked, unit: TimeUnit) -> Json {
    let verdict_json = |verdict: &Verdict| match verdict {
        Verdict::Ok => json!({ "verdict": "ok" }),
        Verdict::Illegal { key, explanation } => {
            json!({ "verdict": "illegal", "key": value_json(key), "explanation": explanation.to_json(unit) })
        }
        Verdict::Unknown { reason } => json!({ "verdict": "unknown", "reason": reason }),
    };
    let keys: Vec<Json> = checked
        .keys
        .iter()
        .map(|k| {
            let mut j = verdict_json(&k.verdict);
            j["key"] = value_json(&k.key);
            j["ops"] = json!(k.ops);
            j["dropped"] = json!(k.dropped);
            j["steps"] = json!(k.steps);
            j["memo_entries"] = json!(k.memo_entries);
            j
        })
        .collect();
    let mut out = verdict_json(&checked.verdict);
    out["keys"] = json!(keys);
    out
}

#[cfg(test)]
mod tests {
    use super::super::{CheckConfig, check};
    use super::*;

    fn op(id: u64, kind: OpKind, invoke: u64, at: u64) -> Operation {
        Operation { id, process: id % 2, key: Value::Int(1), kind, invoke, completion: Completion::Ok { at } }
    }

    fn check_text(ops: &[Operation], expected: &[&str]) {
        let checked = check(ops, &CheckConfig::default()).unwrap();
        let text = render_text(&checked, TimeUnit::Line);
        for e in expected {
            assert!(text.contains(e), "expected {e:?} in:\n{text}");
        }
        let json = render_json(&checked, TimeUnit::Line);
        assert!(json["verdict"].is_string(), "{json}");
        assert_eq!(json["keys"].as_array().map(Vec::len), Some(1), "{json}");
    }

    #[test]
    fn a_stale_read_names_the_read_and_the_write_it_missed() {
        let ops = [
            op(0, OpKind::Write { value: Value::Int(1) }, 1, 2),
            op(1, OpKind::Write { value: Value::Int(2) }, 3, 4),
            op(2, OpKind::Read { value: Value::Int(1) }, 5, 6),
        ];
        check_text(
            &ops,
            &[
                "NOT linearizable: 3 operations on 1 key(s)",
                "key 1: not linearizable",
                "op 2 (process 0) read -> 1, invoked at line 5, ok at line 6",
                "it read 1, but every order consistent with real time that gets this far leaves the register holding 2.",
                "2 of 3 operations",
                "op 1 (process 1) write 2, invoked at line 3, ok at line 4  => 2",
            ],
        );
    }

    #[test]
    fn a_failed_cas_is_explained_by_what_it_expected() {
        let ops = [
            op(0, OpKind::Cas { expected: Value::Int(5), new: Value::Int(6) }, 1, 4),
            op(1, OpKind::Write { value: Value::Int(2) }, 2, 3),
        ];
        check_text(&ops, &["op 0 (process 0) cas 5->6", "it expected 5", "holding 2.", "1 of 2 operations"]);
    }

    #[test]
    fn linearizable_reports_sizes() {
        check_text(&[op(0, OpKind::Write { value: Value::Int(1) }, 1, 2)], &["linearizable: 1 operations on 1 key(s)"]);
    }

    #[test]
    fn json_values_and_ops() {
        assert_eq!(value_json(&Value::Keyword("k".into())), json!(":k"));
        let j = op_json(&op(3, OpKind::Cas { expected: Value::Nil, new: Value::Int(1) }, 1, 2));
        assert_eq!(j["f"], json!("cas"));
        assert_eq!(j["expected"], Json::Null);
        assert_eq!(j["completed"], json!(2));
    }
}
