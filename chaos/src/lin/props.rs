//! Property tests of the whole checker (tests only): generated linearizable histories pass,
//! histories built to break linearizability fail and name the guilty operation, a tiny budget
//! gives Unknown (never Ok), the search agrees with the brute-force reference on random small
//! histories, and EDN round trips keep the verdict.
//!
//! Owns: nothing outside `cfg(test)`. Must not: assert timings (benches measure speed).

use super::generator::{GenConfig, Violation, generate};
use super::history::{Completion, OpKind, Operation, Value};
use super::jepsen::{self, KeyMode, WriteStyle};
use super::{Budget, CheckConfig, Verdict, brute, check};
use proptest::prelude::*;

fn gen_config() -> impl Strategy<Value = GenConfig> {
    (any::<u64>(), 1usize..300, 1usize..12, 1usize..4, 0.0..0.2f64).prop_map(
        |(seed, ops, clients, keys, info_ratio)| GenConfig {
            seed,
            ops,
            clients,
            keys,
            info_ratio,
            ..GenConfig::default()
        },
    )
}

fn verdict(ops: &[Operation]) -> Verdict {
    check(ops, &CheckConfig::default()).expect("a valid history").verdict
}

/// Asserts an Illegal verdict on `guilty`'s key whose explanation blocks on `guilty`.
fn assert_blames(ops: &[Operation], guilty: u64) -> Result<(), TestCaseError> {
    let guilty_op = ops.iter().find(|o| o.id == guilty).expect("the guilty op exists");
    match verdict(ops) {
        Verdict::Illegal { key, explanation } => {
            prop_assert_eq!(&key, &guilty_op.key);
            prop_assert_eq!(explanation.blocked.id, guilty, "{}", explanation);
            prop_assert!(explanation.to_string().contains(&format!("op {guilty} ")), "{}", explanation);
        }
        other => prop_assert!(false, "expected Illegal blaming op {guilty}, got {other:?}"),
    }
    Ok(())
}

/// Appends operations by a fresh process after everything in `ops`; returns the last id.
fn append(ops: &mut Vec<Operation>, key: Value, kinds: Vec<OpKind>) -> u64 {
    let mut t = ops.iter().map(|o| o.invoke.max(o.deadline().min(1 << 40))).max().unwrap_or(0) + 1;
    let process = 1 << 20;
    for kind in kinds {
        let id = ops.len() as u64;
        ops.push(Operation {
            id,
            process,
            key: key.clone(),
            kind,
            invoke: t,
            completion: Completion::Ok { at: t + 1 },
        });
        t += 2;
    }
    ops.len() as u64 - 1
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

/// A random tiny history: up to 7 operations on 1 or 2 keys, values nil/1/2/3, short times.
fn tiny_history() -> impl Strategy<Value = Vec<Operation>> {
    let op = (0i64..2, 0u8..3, 0i64..4, 0i64..4, 0u64..12, 0u64..6, 0u8..8);
    prop::collection::vec(op, 0..=7).prop_map(|specs| {
        let value = |v: i64| if v == 0 { Value::Nil } else { Value::Int(v) };
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (key, kind, a, b, invoke, duration, end))| {
                let kind = match kind {
                    0 => OpKind::Read { value: value(a) },
                    1 => OpKind::Write { value: value(a) },
                    _ => OpKind::Cas { expected: value(a), new: value(b) },
                };
                let at = invoke + duration;
                let completion = match end {
                    0 => Completion::Fail { at },
                    1 => Completion::Info { at: Some(at) },
                    _ => Completion::Ok { at },
                };
                Operation { id: i as u64, process: i as u64, key: int(key), kind, invoke, completion }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_linearizable_histories_pass(config in gen_config()) {
        let ops = generate(&config).ops;
        prop_assert_eq!(verdict(&ops), Verdict::Ok);
    }

    #[test]
    fn injected_violations_are_found_and_blamed(config in gen_config(), which in 0usize..3) {
        let violation = [Violation::StaleRead, Violation::PhantomRead, Violation::LostWrite][which];
        let g = generate(&GenConfig { violation: Some(violation), ..config });
        assert_blames(&g.ops, g.guilty.expect("a guilty read"))?;
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_blamed(config in gen_config()) {
        let mut ops = generate(&config).ops;
        let kinds = vec![
            OpKind::Write { value: int(-10) },
            OpKind::Write { value: int(-11) },
            OpKind::Read { value: int(-10) },
        ];
        let guilty = append(&mut ops, int(0), kinds);
        assert_blames(&ops, guilty)?;
    }

    #[test]
    fn a_read_of_a_value_never_written_is_blamed(config in gen_config()) {
        let mut ops = generate(&config).ops;
        let guilty = append(&mut ops, int(0), vec![OpKind::Read { value: int(-20) }]);
        assert_blames(&ops, guilty)?;
    }

    #[test]
    fn a_lost_write_is_blamed_on_the_read_that_missed_it(config in gen_config()) {
        let mut ops = generate(&config).ops;
        let kinds = vec![OpKind::Write { value: int(-30) }, OpKind::Read { value: Value::Nil }];
        let guilty = append(&mut ops, int(1), kinds);
        assert_blames(&ops, guilty)?;
    }

    #[test]
    fn a_tiny_budget_gives_unknown_never_ok(config in gen_config(), steps in 0u64..20) {
        let ops = generate(&GenConfig { ops: config.ops.max(60), keys: 1, ..config }).ops;
        let config = CheckConfig { budget: Budget { max_steps: steps, ..Budget::default() }, ..CheckConfig::default() };
        let verdict = check(&ops, &config).unwrap().verdict;
        prop_assert!(matches!(&verdict, Verdict::Unknown { reason } if reason.contains("search steps")), "{verdict:?}");
    }

    #[test]
    fn edn_round_trip_keeps_the_verdict(config in gen_config(), violation in prop::option::of(0usize..3)) {
        let violation = violation.map(|i| [Violation::StaleRead, Violation::PhantomRead, Violation::LostWrite][i]);
        let g = generate(&GenConfig { violation, ..config });
        let text = jepsen::write(&g.ops, WriteStyle::Independent);
        let parsed = jepsen::parse(&text, KeyMode::Auto).expect("our own output parses");
        prop_assert!(parsed.independent);
        prop_assert_eq!(parsed.ops.len(), g.ops.len());
        let direct = verdict(&g.ops);
        let via_edn = verdict(&parsed.ops);
        prop_assert_eq!(direct == Verdict::Ok, via_edn == Verdict::Ok, "{:?} vs {:?}", direct, via_edn);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn search_agrees_with_brute_force(ops in tiny_history()) {
        let expected = brute::linearizable(&ops, &Value::Nil);
        let got = verdict(&ops);
        prop_assert_eq!(got == Verdict::Ok, expected, "{:?} for {:#?}", got, ops);
        let decided = !matches!(got, Verdict::Unknown { .. });
        prop_assert!(decided, "the default budget decides tiny histories");
    }
}

/// Regressions found by the properties above: crash-heavy histories whose violation the search
/// only decided after pruning unobserved indeterminate writes (before, each spent the whole
/// 20M-step budget and said Unknown); and a one-client history whose EDN did not parse back.
#[test]
fn crash_heavy_violations_are_decided_in_few_steps() {
    let cases = [
        (6_703_248_937_635_296_628, 67, 7, 0.185_789_350_424_125_34, None),
        (781_419_917_933_576, 167, 6, 0.159_238_529_063_253_6, None),
        (150_943_558_259_389_693, 190, 8, 0.107_508_479_574_556_36, Some(Violation::StaleRead)),
    ];
    for (seed, ops, clients, info_ratio, violation) in cases {
        let g = generate(&GenConfig { seed, ops, clients, keys: 1, info_ratio, violation, ..GenConfig::default() });
        let mut ops = g.ops;
        let guilty = g.guilty.unwrap_or_else(|| append(&mut ops, int(0), vec![OpKind::Read { value: int(-20) }]));
        assert_blames(&ops, guilty).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let checked = check(&ops, &CheckConfig::default()).unwrap();
        assert!(checked.keys[0].steps < 100_000, "seed {seed}: {} steps", checked.keys[0].steps);
    }
    let one_client = generate(&GenConfig { seed: 0, ops: 20, clients: 1, ..GenConfig::default() }).ops;
    let parsed = jepsen::parse(&jepsen::write(&one_client, WriteStyle::Plain), KeyMode::Auto).unwrap();
    assert_eq!(parsed.ops.len(), 20);
    assert_eq!(verdict(&parsed.ops), Verdict::Ok);
}
