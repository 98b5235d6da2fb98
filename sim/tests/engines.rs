//! The two engines: madsim runs the scenarios turmoil runs, deterministically, to the same
//! verdicts, and availability within 2 percentage points. (Latencies differ: turmoil's 1 ms
//! grid rounds every timer; and so do the requests a closed loop issues.)
//!
//! CI runs a handful of library scenarios on both engines under seeds 1-3; set
//! `FAULTLINE_ENGINES_ALL=1` to compare every scenario of the library.

use faultline_chaos::report::{Report, Verdict};
use faultline_sim::scenario::load_file;
use faultline_sim::{Engine, RunOptions, run};
use std::path::PathBuf;

/// Scenarios CI compares: a data tier with a kill, a partition, a queue with a broker restart,
/// a balancer losing a backend, a rolling deploy, a cache node lost.
const HANDFUL: &[&str] = &[
    "quickstart.toml",
    "partition.toml",
    "queue-broker-restart.toml",
    "lb-backend-killed.toml",
    "deploy-rolling.toml",
    "cache-node-lost.toml",
];

fn library() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn outcome(name: &str, seed: u64, engine: Engine) -> faultline_sim::RunOutcome {
    let scenario = load_file(&library().join(name)).unwrap_or_else(|e| panic!("{}", e.report_lines().join("\n")));
    let mut outcome = run(&scenario, RunOptions { seed: Some(seed), engine, ..RunOptions::default() })
        .unwrap_or_else(|e| panic!("{name} seed {seed} on {}: {e}", engine.name()));
    let expected: Vec<String> = scenario.expected_failures.iter().map(|n| n.get_ref().trim().to_string()).collect();
    outcome.report.expect_failures(&expected);
    outcome
}

fn verdicts(report: &Report) -> Vec<(String, Verdict)> {
    report.checks.iter().map(|c| (c.name.clone(), c.verdict)).collect()
}

/// Holds the two engines' reports of one run to the same verdicts and close headline figures.
fn agree(name: &str, seed: u64) {
    let turmoil = outcome(name, seed, Engine::Turmoil).report;
    let madsim = outcome(name, seed, Engine::Madsim).report;
    let context =
        || format!("{name} seed {seed}\n--- turmoil\n{}\n--- madsim\n{}", turmoil.render_text(), madsim.render_text());
    assert_eq!(verdicts(&turmoil), verdicts(&madsim), "the engines' verdicts differ: {}", context());
    let (t, m) = (&turmoil.end_to_end, &madsim.end_to_end);
    let availability = |e: &faultline_chaos::report::EndToEnd| e.ok as f64 / e.requests.max(1) as f64;
    assert!(
        (availability(t) - availability(m)).abs() <= 0.02,
        "availability within 2 percentage points: {}",
        context()
    );
}

#[test]
fn madsim_runs_the_same_seed_to_the_same_trace() {
    for name in ["quickstart.toml", "queue-broker-restart.toml", "deploy-rolling.toml"] {
        let a = outcome(name, 7, Engine::Madsim);
        let b = outcome(name, 7, Engine::Madsim);
        assert_eq!(a.hash, b.hash, "{name}: two runs of seed 7 on madsim");
        assert_eq!(a.records, b.records, "{name}");
        let c = outcome(name, 8, Engine::Madsim);
        assert_ne!(a.hash, c.hash, "{name}: another seed is another run");
    }
}

#[test]
fn the_engines_agree_on_a_handful_of_scenarios() {
    for name in HANDFUL {
        for seed in 1..=3 {
            agree(name, seed);
        }
    }
}

#[test]
fn the_engines_agree_on_the_library_when_asked() {
    if std::env::var_os("FAULTLINE_ENGINES_ALL").is_none() {
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(library())
        .expect("the library")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml") && n != "regressions.toml")
        .collect();
    names.sort();
    for name in &names {
        for seed in 1..=3 {
            agree(name, seed);
        }
    }
}

#[test]
fn madsim_timers_are_not_on_a_grid() {
    // On turmoil every latency at the server is a whole number of milliseconds; on madsim the
    // exponential service times of 300 us are not rounded.
    let text = r#"
name = "grid"
duration = "5s"
[[hosts]]
name = "server"
service = "echo"
service_time = { exponential = "300us" }
[workload]
targets = ["server"]
users = 10
arrival = { poisson = { rate = 200 } }
"#;
    let (_, _, records) =
        crate::util::trace_on(&crate::util::scenario(text), 1, faultline_sim::RecordConfig::default(), Engine::Madsim);
    let served: Vec<u64> = records
        .iter()
        .filter_map(|r| match r.event {
            faultline_chaos::trace::Event::Served { latency_ns, .. } => Some(latency_ns),
            _ => None,
        })
        .collect();
    assert!(served.len() > 100, "{} requests served", served.len());
    let off_grid = served.iter().filter(|&&ns| ns % 1_000_000 != 0).count();
    assert!(off_grid * 10 > served.len() * 9, "{off_grid} of {} latencies off the 1 ms grid", served.len());
}
