//! `faultline capacity` through the real binary: the knee of an M/M/c server against queueing
//! theory, the same figures in text and JSON, faults removed or kept, and exit codes (0 a rate
//! passes, 1 none does, 2 bad input).

use crate::util;
use serde_json::Value;
use util::*;

/// Erlang C: the probability that an arrival waits, `c` servers, offered load `a` (< c).
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / f64::from(k + 1);
    }
    let waiting = term * f64::from(c) / (f64::from(c) - a);
    waiting / (sum + waiting)
}

/// The p99 sojourn time of an M/M/c queue, seconds: service Exp(mu) plus a wait that is 0 with
/// probability 1 - C and Exp(c mu - lambda) otherwise.
fn mmc_p99_s(c: u32, mu: f64, lambda: f64) -> f64 {
    let (wait_p, theta) = (erlang_c(c, lambda / mu), f64::from(c) * mu - lambda);
    let tail = |t: f64| {
        let sum_tail = (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu);
        (1.0 - wait_p) * (-mu * t).exp() + wait_p * sum_tail
    };
    let (mut lo, mut hi) = (0.0, 100.0);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if tail(mid) > 0.01 { lo = mid } else { hi = mid }
    }
    lo
}

/// The arrival rate at which the M/M/c p99 reaches `slo_s`.
fn mmc_rate_at_p99(c: u32, mu: f64, slo_s: f64) -> f64 {
    let (mut lo, mut hi) = (1e-6, f64::from(c) * mu * (1.0 - 1e-9));
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if mmc_p99_s(c, mu, mid) <= slo_s { lo = mid } else { hi = mid }
    }
    lo
}

fn capacity(args: &[&str]) -> std::process::Output {
    let mut all = vec!["capacity"];
    all.extend_from_slice(args);
    faultline(&all)
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

#[test]
fn erlang_c_matches_the_textbook() {
    assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-12, "M/M/1: the utilisation");
    assert!((erlang_c(4, 2.0) - 0.173_913).abs() < 1e-6);
    assert!((mmc_p99_s(1, 10.0, 5.0) - (100.0_f64).ln() / 5.0).abs() < 1e-6, "M/M/1 sojourn is Exp(mu - lambda)");
}

#[test]
fn the_knee_of_an_mmc_server_is_where_erlang_c_puts_its_p99_at_the_objective() {
    let file = scenario("capacity-mmc.toml");
    let o = capacity(&[file.to_str().unwrap(), "--slo-p99", "200ms", "--seeds", "2", "--format", "json"]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let answer = json(&o);
    let (passing, failing) = (answer["passing_rps"].as_f64().unwrap(), answer["failing_rps"].as_f64().unwrap());
    // 4 workers, 20 ms mean service: 200 req/s at most. The 2 ms network round trip comes off
    // the objective.
    let theory = mmc_rate_at_p99(4, 50.0, 0.198);
    assert!((170.0..180.0).contains(&theory), "{theory}");
    assert!(passing < 200.0, "below c / service time: {answer}");
    assert!(failing <= passing * 1.05 + 1e-9, "a 5% bracket: {passing} .. {failing}");
    assert!((passing - theory).abs() <= 0.10 * theory, "within 10% of Erlang C's {theory:.1}: {passing}");
    let rates: Vec<f64> = answer["rates"].as_array().unwrap().iter().map(|r| r["rate_rps"].as_f64().unwrap()).collect();
    assert!(rates.windows(2).all(|w| w[0] < w[1]), "sorted by rate: {rates:?}");
    assert!(rates.len() <= 12, "bounded: {rates:?}");
    assert_eq!(answer["runs"], rates.len() * 2);
    let saturated = &answer["saturated"];
    assert_eq!(saturated["resource"], "worker_queue", "{answer}");
    assert_eq!(saturated["host"], "mm-c");
    assert_eq!(saturated["seed"].as_u64().map(|s| (1..=2).contains(&s)), Some(true));
}

/// Parses the text table's rows: rate, verdict, p99, availability, throughput.
fn table(text: &str) -> Vec<(String, String, String, String, String)> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("rate req/s"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w.len(), 5, "{l}");
            (w[0].into(), w[1].into(), w[2].into(), w[3].into(), w[4].into())
        })
        .collect()
}

#[test]
fn text_and_json_show_the_same_figures_and_runs_repeat() {
    let file = scenario("capacity-mmc.toml");
    let args = [file.to_str().unwrap(), "--slo-p99", "150ms", "--seeds", "1"];
    let text = capacity(&args);
    assert_eq!(code(&text), 0, "stderr: {}", stderr(&text));
    let json_args: Vec<&str> = args.iter().copied().chain(["--format", "json"]).collect();
    let (a, b) = (capacity(&json_args), capacity(&json_args));
    assert_eq!(stdout(&a), stdout(&b), "same inputs, same output");
    let answer = json(&a);
    let out = stdout(&text);
    let rows = table(&out);
    let json_rows = answer["rates"].as_array().unwrap();
    assert_eq!(rows.len(), json_rows.len(), "{out}");
    for (row, j) in rows.iter().zip(json_rows) {
        let rate = j["rate_rps"].as_f64().unwrap();
        assert_eq!(row.0, if rate < 10.0 { format!("{rate:.3}") } else { format!("{rate:.1}") });
        assert_eq!(row.1, if j["pass"].as_bool().unwrap() { "pass" } else { "FAIL" });
        assert_eq!(row.2, format!("{:.1}", j["p99_ms"].as_f64().unwrap()));
        assert_eq!(row.3, format!("{:.3}%", j["availability"].as_f64().unwrap() * 100.0));
        assert_eq!(row.4, format!("{:.1}", j["throughput_rps"].as_f64().unwrap()));
    }
    let (passing, failing) = (answer["passing_rps"].as_f64().unwrap(), answer["failing_rps"].as_f64().unwrap());
    assert!(out.contains(&format!("knee: passes at {passing:.1} req/s, fails at {failing:.1} req/s")), "{out}");
    assert!(out.contains("faults: none in the file"), "{out}");
    assert!(out.contains(&format!("saturated first at {failing:.1} req/s: worker queue of mm-c at ")), "{out}");
}

#[test]
fn an_objective_no_rate_meets_exits_1_and_names_no_resource() {
    let file = scenario("capacity-mmc.toml");
    // Below the 2 ms round trip: no rate can meet it, and nothing is saturated at the lowest.
    let o = capacity(&[file.to_str().unwrap(), "--slo-p99", "1ms", "--seeds", "1"]);
    assert_eq!(code(&o), 1, "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("knee: no rate passes: even 0.098 req/s breaks the objective (11 rates tried, 11 runs)"),
        "{out}"
    );
    assert!(out.contains("saturated first at 0.098 req/s: latency grew without a saturated resource"), "{out}");
    assert!(!out.contains(" pass "), "{out}");
}

/// The M/M/c scenario with a kill of its server from 2 s to 7 s.
fn with_a_fault(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario("capacity-mmc.toml")).unwrap();
    let file = dir.join("faulted.toml");
    std::fs::write(&file, format!("{text}\n[[faults]]\nat = \"2s\"\nfor = \"5s\"\nfault = {{ kill = \"mm-c\" }}\n"))
        .unwrap();
    file
}

#[test]
fn faults_are_removed_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = with_a_fault(dir.path());
    let path = file.to_str().unwrap();
    let removed = capacity(&[path, "--slo-p99", "200ms", "--seeds", "1", "--max-rate", "100"]);
    assert_eq!(code(&removed), 0, "stderr: {}", stderr(&removed));
    let out = stdout(&removed);
    assert!(out.contains("faults: the file's 1 removed for the search (--with-faults keeps them)"), "{out}");
    assert!(out.contains("knee: passes at 100.0 req/s, the largest rate allowed (--max-rate)"), "{out}");
    let kept = capacity(&[
        path,
        "--slo-p99",
        "200ms",
        "--seeds",
        "1",
        "--max-rate",
        "100",
        "--with-faults",
        "--format",
        "json",
    ]);
    let answer = json(&kept);
    assert_eq!(answer["with_faults"], true);
    let first = &answer["rates"].as_array().unwrap().iter().find(|r| r["rate_rps"] == 100.0).unwrap();
    assert_eq!(first["pass"], false, "a server down for half the run: {first}");
    assert!(first["availability"].as_f64().unwrap() < 0.99, "{first}");
}

#[test]
fn bad_flags_and_closed_loops_exit_2_with_a_clear_message() {
    let file = scenario("capacity-mmc.toml");
    let path = file.to_str().unwrap();
    let cases: [(&[&str], &str); 10] = [
        (&[path, "--slo-p99", "200"], "has no unit"),
        (&[path, "--slo-p99", "fast"], "expected a duration"),
        (&[path, "--slo-p99", "0ms"], "expected a latency above 0"),
        (&[path, "--slo-p99", "200ms", "--availability", "0"], "outside (0, 1]"),
        (&[path, "--slo-p99", "200ms", "--availability", "1.5"], "outside (0, 1]"),
        (&[path, "--slo-p99", "200ms", "--max-rate=-3"], "outside (0, 10000000]"),
        (&[path, "--slo-p99", "200ms", "--precision", "0"], "outside (0, 1]"),
        (&[path, "--slo-p99", "200ms", "--precision", "5%"], "expected a share such as 0.05"),
        (&[path], "--slo-p99"),
        (&["no-such-file.toml", "--slo-p99", "200ms"], "no-such-file.toml"),
    ];
    for (args, message) in cases {
        let o = capacity(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    }
    let closed = scenario("echo.toml");
    let o = capacity(&[closed.to_str().unwrap(), "--slo-p99", "200ms"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("closed loop"), "{}", stderr(&o));
    assert!(stderr(&o).contains("expected an open-loop arrival"), "{}", stderr(&o));
}
