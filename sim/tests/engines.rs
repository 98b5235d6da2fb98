//! The two engines: madsim runs the scenarios turmoil runs, deterministically, to the same
//! verdicts under every seed, and, over seeds 1-3, a mean availability within 2 percentage
//! points and latencies within what turmoil's 1 ms grid explains.
//!
//! CI runs a handful of library scenarios on both engines under seeds 1-3; set
//! `FAULTLINE_ENGINES_ALL=1` to compare every scenario of the library (about 6 minutes, past
//! nextest's 5-minute limit: `cargo test -p faultline-sim --test it
//! engines::the_engines_agree_on_the_library_when_asked`).

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

/// Whether the scenario's network or any of its links has jitter.
fn jittery(name: &str) -> bool {
    let scenario = load_file(&library().join(name)).expect("loaded before");
    let plan = faultline_sim::compile(&scenario, None);
    plan.network.jitter_ns > 0 || plan.header().links.iter().any(|l| l.jitter_ns > 0)
}

fn verdicts(report: &Report) -> Vec<(String, Verdict)> {
    report.checks.iter().map(|c| (c.name.clone(), c.verdict)).collect()
}

/// Where the verdicts of two runs disagree: a check both have with other verdicts, or a check
/// only one has (a per-host check of an instance only one engine's autoscaler started) that
/// does not pass there.
fn verdict_disagreements(turmoil: &[(String, Verdict)], madsim: &[(String, Verdict)]) -> Vec<String> {
    let mut out = Vec::new();
    let find = |checks: &[(String, Verdict)], name: &str| checks.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    for (name, t) in turmoil {
        match find(madsim, name) {
            Some(m) if m != *t => out.push(format!("{name:?}: {t:?} on turmoil, {m:?} on madsim")),
            None if *t != Verdict::Pass => out.push(format!("{name:?}: {t:?} on turmoil, no such check on madsim")),
            _ => {}
        }
    }
    for (name, m) in madsim {
        if find(turmoil, name).is_none() && *m != Verdict::Pass {
            out.push(format!("{name:?}: {m:?} on madsim, no such check on turmoil"));
        }
    }
    out
}

/// Seeds each scenario runs under on both engines.
const SEEDS: [u64; 3] = [1, 2, 3];

/// The headline figures of one run.
#[derive(Debug, Clone, Copy)]
struct Figures {
    availability: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn figures(report: &Report) -> Figures {
    let e = &report.end_to_end;
    Figures { availability: e.ok as f64 / e.requests.max(1) as f64, p50_ms: e.latency.p50_ms, p99_ms: e.latency.p99_ms }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Where the two engines' headline figures of one scenario disagree, over its runs on seeds
/// 1-3 on each. A seed is not the same run on both engines (madsim's runtime orders the tasks
/// ready at one instant by its own seed), so the figures are compared over the seeds, not seed
/// by seed: in third-party-outage.toml the availability moves 3.8 points between seeds on
/// turmoil alone, and a p99 among the requests a fault slowed moves more (cache-stampede-lock:
/// 34-192 ms between seeds on turmoil, 34-127 ms on madsim). The mean availability within 2
/// percentage points; without jitter, the median p50 within 2 ms or a quarter (what turmoil's
/// 1 ms grid explains), the median p99 within a factor of 3.
fn figure_disagreements(name: &str, turmoil: &[Figures], madsim: &[Figures], jittery: bool) -> Vec<String> {
    let of = |runs: &[Figures], f: fn(&Figures) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    let mut out = Vec::new();
    let (ta, ma) = (mean(&of(turmoil, |f| f.availability)), mean(&of(madsim, |f| f.availability)));
    if (ta - ma).abs() > 0.02 {
        out.push(format!("{name}: mean availability {ta:.4} on turmoil, {ma:.4} on madsim"));
    }
    // Turmoil draws a message's jitter as whole milliseconds from an exponential of mean 1/5 of
    // the range, rounded down (so nearly always 0); the world's transport on madsim draws it as
    // the scenario says, uniformly from 0 to the jitter. The latencies of a run with jitter
    // differ by that, not by the engines' timers.
    if !jittery {
        let (tq, mq) = (median(&of(turmoil, |f| f.p50_ms)), median(&of(madsim, |f| f.p50_ms)));
        if (tq - mq).abs() > (0.25 * tq).max(2.0) {
            out.push(format!("{name}: median p50 {tq:.2} ms on turmoil, {mq:.2} ms on madsim"));
        }
        let (tq, mq) = (median(&of(turmoil, |f| f.p99_ms)), median(&of(madsim, |f| f.p99_ms)));
        if mq > 3.0 * tq + 2.0 || tq > 3.0 * mq + 2.0 {
            out.push(format!("{name}: median p99 {tq:.2} ms on turmoil, {mq:.2} ms on madsim"));
        }
    }
    out
}

/// Where the two engines disagree on scenario `name`: a check's verdict under any of the seeds
/// (see [`verdict_disagreements`]), or the headline figures over them (see
/// [`figure_disagreements`]).
fn disagreements(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut on_turmoil, mut on_madsim) = (Vec::new(), Vec::new());
    for seed in SEEDS {
        let turmoil = outcome(name, seed, Engine::Turmoil).report;
        let madsim = outcome(name, seed, Engine::Madsim).report;
        for line in verdict_disagreements(&verdicts(&turmoil), &verdicts(&madsim)) {
            out.push(format!("{name} seed {seed}: {line}"));
        }
        let (t, m) = (figures(&turmoil), figures(&madsim));
        println!(
            "{name:40} seed {seed}  p50 {:8.2} / {:8.2} ms  p99 {:8.2} / {:8.2} ms  availability {:.4} / {:.4}",
            t.p50_ms, m.p50_ms, t.p99_ms, m.p99_ms, t.availability, m.availability
        );
        on_turmoil.push(t);
        on_madsim.push(m);
    }
    out.extend(figure_disagreements(name, &on_turmoil, &on_madsim, jittery(name)));
    out
}

/// Runs `names` under seeds 1-3 on both engines and fails with every disagreement.
fn agree(names: &[&str]) {
    let all: Vec<String> = names.iter().flat_map(|name| disagreements(name)).collect();
    assert!(all.is_empty(), "the engines disagree:\n{}", all.join("\n"));
}

#[test]
fn figures_are_compared_over_the_seeds() {
    let run = |availability: f64, p50_ms: f64, p99_ms: f64| Figures { availability, p50_ms, p99_ms };
    // third-party-outage.toml as measured: each seed's availability apart by up to 3.5
    // points, the means by 0.9.
    let turmoil = [run(0.7734, 7.0, 1819.0), run(0.8112, 7.0, 1843.0), run(0.8050, 7.0, 1871.0)];
    let madsim = [run(0.8085, 7.3, 1912.0), run(0.7812, 7.2, 1837.0), run(0.8276, 7.5, 1918.0)];
    assert!(figure_disagreements("t", &turmoil, &madsim, false).is_empty());
    let lower = madsim.map(|f| run(f.availability - 0.04, f.p50_ms, f.p99_ms));
    assert_eq!(figure_disagreements("t", &turmoil, &lower, false).len(), 1, "means 3 points apart");
    let slow = madsim.map(|f| run(f.availability, f.p50_ms + 5.0, f.p99_ms));
    assert_eq!(figure_disagreements("t", &turmoil, &slow, false).len(), 1, "a median p50 5 ms off");
    assert!(figure_disagreements("t", &turmoil, &slow, true).is_empty(), "latencies apart with jitter");
    let tail = madsim.map(|f| run(f.availability, f.p50_ms, f.p99_ms * 4.0));
    assert_eq!(figure_disagreements("t", &turmoil, &tail, false).len(), 1, "a median p99 4x off");
}

#[test]
fn verdicts_agree_only_when_every_shared_check_agrees_and_a_check_on_one_side_passes() {
    let check = |name: &str, v: Verdict| (name.to_string(), v);
    let both = [check("a", Verdict::Pass), check("b", Verdict::Fail)];
    assert!(verdict_disagreements(&both, &both).is_empty());
    let flipped = [check("a", Verdict::Pass), check("b", Verdict::Unknown)];
    assert_eq!(verdict_disagreements(&both, &flipped).len(), 1, "a shared check's verdict differs");
    // A fifth instance only turmoil's autoscaler started: its passing check is no disagreement.
    let more = [check("a", Verdict::Pass), check("b", Verdict::Fail), check("app5", Verdict::Pass)];
    assert!(verdict_disagreements(&more, &both).is_empty());
    assert!(verdict_disagreements(&both, &more).is_empty());
    let failing = [check("a", Verdict::Pass), check("b", Verdict::Fail), check("app5", Verdict::Fail)];
    assert_eq!(verdict_disagreements(&failing, &both).len(), 1, "a failure on one side cannot hide");
    assert_eq!(verdict_disagreements(&both, &failing).len(), 1);
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
    agree(HANDFUL);
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
    agree(&names.iter().map(String::as_str).collect::<Vec<_>>());
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
