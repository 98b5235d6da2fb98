//! Tests of the Jepsen history reader and writer: located errors, key modes, round trips, and no
//! panic on any text. Must not: depend on the checker's verdicts (see `props`).

use super::*;
use proptest::prelude::*;

fn ok(text: &str, mode: KeyMode) -> Parsed {
    parse(text, mode).unwrap_or_else(|e| panic!("{e} in:\n{text}"))
}

/// Parses `text` and expects an error whose text is `expected` (position included).
fn check_error(text: &str, expected: &str) {
    match parse(text, KeyMode::Auto) {
        Ok(p) => panic!("expected {expected:?}, parsed {p:?}"),
        Err(e) => assert_eq!(e.to_string(), expected, "for:\n{text}"),
    }
}

const PLAIN: &str = "\
; a plain register
{:type :invoke, :f :write, :value 3, :process 0, :time 10}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :write, :value 3, :process 0}

{:type :ok, :f :read, :value 3, :process 1}
{:type :invoke, :f :cas, :value [3 4], :process 0}
{:type :fail, :f :cas, :value [3 4], :process 0}
{:type :info, :f :start, :process :nemesis}
{:type :invoke, :f :write, :value \"x\", :process 2}
";

#[test]
fn a_plain_register_history() {
    let p = ok(PLAIN, KeyMode::Auto);
    assert!(!p.independent);
    assert_eq!(p.skipped, 1);
    let expected = vec![
        Operation {
            id: 0,
            process: 0,
            key: Value::Nil,
            kind: OpKind::Write { value: Value::Int(3) },
            invoke: 2,
            completion: Completion::Ok { at: 4 },
        },
        Operation {
            id: 1,
            process: 1,
            key: Value::Nil,
            kind: OpKind::Read { value: Value::Int(3) },
            invoke: 3,
            completion: Completion::Ok { at: 6 },
        },
        Operation {
            id: 2,
            process: 0,
            key: Value::Nil,
            kind: OpKind::Cas { expected: Value::Int(3), new: Value::Int(4) },
            invoke: 7,
            completion: Completion::Fail { at: 8 },
        },
        Operation {
            id: 3,
            process: 2,
            key: Value::Nil,
            kind: OpKind::Write { value: Value::Str("x".into()) },
            invoke: 10,
            completion: Completion::Info { at: None },
        },
    ];
    assert_eq!(p.ops, expected);
}

#[test]
fn independent_tuples_are_detected_or_forced() {
    let text = "\
{:type :invoke, :f :cas, :value [7 [nil 1]], :process 0}
{:type :invoke, :f :read, :value [8 nil], :process 1}
{:type :ok, :f :read, :value [8 2], :process 1}
{:type :info, :f :cas, :value [7 [nil 1]], :process 0}
";
    for mode in [KeyMode::Auto, KeyMode::Independent] {
        let p = ok(text, mode);
        assert!(p.independent);
        assert_eq!(p.ops[0].key, Value::Int(7));
        assert_eq!(p.ops[0].kind, OpKind::Cas { expected: Value::Nil, new: Value::Int(1) });
        assert_eq!(p.ops[0].completion, Completion::Info { at: Some(4) });
        assert_eq!(
            (p.ops[1].key.clone(), p.ops[1].kind.clone()),
            (Value::Int(8), OpKind::Read { value: Value::Int(2) })
        );
    }
    let err = parse(text, KeyMode::Plain).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1:36: expected a register value (integer, string, keyword or nil), found a vector of 2"
    );
    let plain_cas = "{:type :invoke, :f :cas, :value [1 2], :process 0}\n";
    assert!(!ok(plain_cas, KeyMode::Auto).independent, "a plain cas pair is not a tuple");
    check_error_mode(plain_cas, KeyMode::Independent, "1:36: expected a cas value [expected new], found 2");
}

fn check_error_mode(text: &str, mode: KeyMode, expected: &str) {
    assert_eq!(parse(text, mode).unwrap_err().to_string(), expected);
}

#[test]
fn a_key_field_and_a_knossos_vector() {
    let text = "[{:type :invoke, :f :write, :value 1, :key :a, :process 0}\n {:type :ok, :f :write, :value 1, :key :a, :process 0}]";
    let p = ok(text, KeyMode::Auto);
    assert_eq!(p.ops.len(), 1);
    assert_eq!(p.ops[0].key, Value::Keyword("a".into()));
    assert_eq!(p.ops[0].completion, Completion::Ok { at: 2 });
}

#[test]
fn located_errors() {
    check_error("{:type :invoke, :f :write, :value 1}", "1:1: expected a :process in this entry, found none");
    check_error(
        "{:type :begin, :f :read, :process 0}",
        "1:8: expected :type to be :invoke, :ok, :fail or :info, found :begin",
    );
    check_error(
        "{:type :invoke, :f :txn, :process 0}",
        "1:20: expected :f to be :read, :write or :cas (a register history), found :txn",
    );
    check_error(
        "{:type :invoke, :f :read, :process -1}",
        "1:36: expected :process to be a non-negative integer or a keyword such as :nemesis, found -1",
    );
    check_error(
        "\n\n  {:type :ok, :f :read, :value 1, :process 4}",
        "3:3: process 4 completes an operation it never invoked",
    );
    check_error(
        "{:type :invoke, :f :read, :process 4}\n{:type :invoke, :f :read, :process 4}",
        "2:1: process 4 invokes again before its operation invoked on line 1 completed",
    );
    check_error(
        "{:type :invoke, :f :read, :process 4} {:type :ok, :f :read, :process 4}",
        "1:39: expected one history entry per line, found a second one on line 1",
    );
    check_error(
        "{:type :invoke, :f :read, :process 4}\n{:type :ok, :f :write, :value 1, :process 4}",
        "2:1: expected :f :read (invoked on line 1), found :f :write",
    );
    check_error(
        "{:type :invoke, :f :read, :value [1 nil], :process 4}\n{:type :ok, :f :read, :value [2 5], :process 4}",
        "2:1: expected key 1 (invoked on line 1), found key 2",
    );
    check_error("{:type :invoke, :f :write, :process 0}", "1:1: expected a :value (the value written), found none");
    check_error(
        "{:type :invoke, :type :ok}",
        "1:17: expected each key once in a map, but :type is repeated, found :type",
    );
    check_error(
        "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0}",
        "2:1: expected a :value (what the read saw), found none",
    );
    check_error("7", "1:1: expected a map (one history entry, like {:type :invoke, :f :read, :process 0}), found 7");
    check_error("{:type :invoke\n", "2:1: expected '}' or a value, found the end of the input (map opened at 1:1)");
    assert_eq!(parse("\n [}", KeyMode::Auto).unwrap_err().pos(), Pos { line: 2, col: 3 });
}

#[test]
fn write_then_parse_gives_the_same_operations_with_line_times() {
    let ops = ok(PLAIN, KeyMode::Auto).ops;
    let text = write(&ops, WriteStyle::Plain);
    let back = ok(&text, KeyMode::Auto).ops;
    assert_eq!(back.len(), ops.len());
    for (a, b) in ops.iter().zip(&back) {
        assert_eq!((a.process, &a.key, &a.kind), (b.process, &b.key, &b.kind));
    }
    let keyed = Operation { key: Value::Str("k \"q\"\n".into()), ..ops[0].clone() };
    let text = write(std::slice::from_ref(&keyed), WriteStyle::Plain);
    assert!(text.contains(":key \"k \\\"q\\\"\\n\""), "{text}");
    assert_eq!(ok(&text, KeyMode::Auto).ops[0].key, keyed.key);
}

proptest! {
    /// No text, however broken, makes the reader panic; errors point inside the text.
    #[test]
    fn never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "{", "}", "[", "]", ":type", ":invoke", ":ok", ":fail", ":info", ":f", ":read", ":write", ":cas",
        ":value", ":process", ":key", "nil", "0", "1", "-1", "\"s\"", " ", "\n", ";", ":nemesis", "#_", "x",
    ]), 0..60)) {
        let text = parts.concat();
        if let Err(e) = parse(&text, KeyMode::Auto) {
            prop_assert!(e.pos().line <= text.split('\n').count(), "{} for {:?}", e, text);
        }
    }
}
