//! Swarm runs and shrinking from the command line: a seed draws faults reproducibly, the drawn
//! faults written as a script replay the run exactly, objectives are measured but not judged,
//! and `faultline shrink` writes a smaller schedule that fails the same check.

use crate::util;

use faultline_sim::scenario::emit::with_faults;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use util::{code, faultline, scenario, stderr, stdout};

fn json(args: &[&str]) -> (i32, Value) {
    let out = faultline(args);
    let value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (code(&out), value)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// The quickstart with no scripted fault, written in `dir`: what a swarm run applies is only
/// what it drew.
fn unscripted(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario("quickstart.toml")).unwrap();
    let file = dir.join("quiet.toml");
    std::fs::write(&file, with_faults(&text, &[], "no faults").unwrap()).unwrap();
    file
}

fn drawn(report: &Value) -> Vec<String> {
    report["swarm"]["faults"]
        .as_array()
        .expect("a swarm run lists its faults")
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_swarm_run_is_reproducible_and_its_drawn_faults_replay_as_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = unscripted(dir.path());
    let args = ["run", path(&quiet), "--seed", "5", "--swarm", "--format", "json"];
    let (_, first) = json(&args);
    let (_, second) = json(&args);
    assert_eq!(first["trace_hash"], second["trace_hash"], "same scenario, seed and swarm: same trace");
    let faults = drawn(&first);
    assert!(!faults.is_empty(), "a swarm draws at least one fault");
    let (_, plain) = json(&["run", path(&quiet), "--seed", "5", "--format", "json"]);
    assert_ne!(plain["trace_hash"], first["trace_hash"], "the drawn faults changed the run");
    assert!(plain.get("swarm").is_none(), "a plain run draws nothing");

    // The drawn faults, scripted in the file, are the same run.
    let text = std::fs::read_to_string(&quiet).unwrap();
    let scripted = dir.path().join("scripted.toml");
    std::fs::write(&scripted, with_faults(&text, &faults, "drawn by seed 5").unwrap()).unwrap();
    let (_, replayed) = json(&["run", path(&scripted), "--seed", "5", "--format", "json"]);
    assert_eq!(replayed["trace_hash"], first["trace_hash"], "scripted {faults:?}");
}

#[test]
fn seeds_draw_different_faults_and_the_plan_shows_them() {
    let file = scenario("quickstart.toml");
    let mut schedules = BTreeSet::new();
    for seed in 1..=6 {
        let (_, report) = json(&["run", path(&file), "--seed", &seed.to_string(), "--swarm", "--format", "json"]);
        schedules.insert(drawn(&report));
        let enabled = report["swarm"]["enabled"].as_array().unwrap();
        assert!(!enabled.is_empty(), "seed {seed} enabled no kind");
    }
    assert!(schedules.len() >= 5, "6 seeds drew {} schedules", schedules.len());
    let plain = stdout(&faultline(&["plan", path(&file), "--seed", "2"]));
    let swarm = stdout(&faultline(&["plan", path(&file), "--seed", "2", "--swarm"]));
    let count = |plan: &str| plan.lines().find(|l| l.starts_with("faults (")).expect("a faults line").to_string();
    assert_ne!(count(&plain), count(&swarm), "the plan's schedule holds the drawn faults:\n{swarm}");
}

#[test]
fn a_swarm_run_judges_the_invariants_and_measures_the_objectives() {
    let file = scenario("quickstart.toml");
    let mut measured_failures = 0;
    for seed in 1..=6 {
        let (exit, report) = json(&["run", path(&file), "--seed", &seed.to_string(), "--swarm", "--format", "json"]);
        let checks = report["checks"].as_array().unwrap();
        let mut judged_failure = false;
        for c in checks {
            let objective = c.get("objective").and_then(Value::as_bool).unwrap_or(false);
            let not_judged = c.get("not_judged").and_then(Value::as_bool).unwrap_or(false);
            assert_eq!(objective, not_judged, "seed {seed}: only objectives go unjudged: {c}");
            let failed = c["verdict"] == "fail";
            judged_failure |= failed && !not_judged;
            measured_failures += usize::from(failed && not_judged);
        }
        assert_eq!(exit, if judged_failure { 1 } else { 0 }, "seed {seed}: the exit follows the judged checks");
    }
    assert!(measured_failures > 0, "some seed broke an objective, measured but not judged");
}

#[test]
fn shrink_writes_a_smaller_schedule_that_fails_the_same_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shrunk.toml");
    let partition = scenario("partition.toml");
    let args = ["shrink", path(&partition), "--seed", "1", "--check", "availability", "--out", path(&out)];
    let first = faultline(&args);
    assert_eq!(code(&first), 0, "{}{}", stdout(&first), stderr(&first));
    assert!(stdout(&first).contains("confirmed: \"availability at least 99%\" fails"), "{}", stdout(&first));
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("# Shrunk by `faultline shrink"), "{written}");
    let original = std::fs::read_to_string(scenario("partition.toml")).unwrap();
    let length = |text: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with("for = ")).expect("a fault with a length");
        faultline_sim::scenario::units::parse_duration(
            line.trim_start_matches("for = ").trim_matches('"').split('"').next().unwrap(),
        )
        .unwrap()
        .as_secs_f64()
    };
    assert!(length(&written) < length(&original), "shorter: {written}");
    let second = faultline(&args);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), written, "shrinking is deterministic");
    assert_eq!(stdout(&second), stdout(&first));
    let (_, report) = json(&["run", path(&out), "--seed", "1", "--format", "json"]);
    let check =
        report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "availability at least 99%").unwrap().clone();
    assert_eq!(check["verdict"], "fail", "the written file fails the check: {check}");
}

#[test]
fn shrink_refuses_a_run_with_nothing_to_shrink() {
    let passing = faultline(&["shrink", path(&scenario("quickstart.toml")), "--seed", "1"]);
    assert_eq!(code(&passing), 2, "{}", stderr(&passing));
    assert!(stderr(&passing).contains("the run fails no check, so there is nothing to shrink"), "{}", stderr(&passing));
    let unknown = faultline(&["shrink", path(&scenario("partition.toml")), "--seed", "1", "--check", "latency"]);
    assert_eq!(code(&unknown), 2);
    assert!(
        stderr(&unknown)
            .contains("no failed check is named \"latency\"; the failed checks are: availability at least 99%"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn a_planted_bug_fails_its_check_and_its_reproduce_line_plants_it_again() {
    let file = scenario("queue-worker-crash.toml");
    let honest = faultline(&["run", path(&file), "--seed", "1"]);
    assert_eq!(code(&honest), 0, "{}", stdout(&honest));
    let planted = faultline(&["run", path(&file), "--seed", "1", "--plant", "ack-before-process"]);
    assert_eq!(code(&planted), 1);
    assert!(stdout(&planted).contains("queue accounting  FAIL"), "{}", stdout(&planted));
    let line = format!("reproduce: faultline run {} --seed 1 --plant ack-before-process", file.display());
    assert!(stderr(&planted).contains(&line), "{}", stderr(&planted));
    let unknown = faultline(&["run", path(&file), "--plant", "typo"]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("no planted bug is named \"typo\"; expected one of"), "{}", stderr(&unknown));
    assert!(!stdout(&faultline(&["run", "--help"])).contains("plant"), "a test-only flag is hidden");
}

#[test]
fn a_swarm_sweep_stores_what_each_seed_drew_and_reproduces_its_failures_as_swarm_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario("queue-worker-crash.toml");
    let out = dir.path().join("out");
    let args = ["sweep", path(&file), "--seeds", "2", "--swarm", "--plant", "ack-before-process", "--out", path(&out)];
    let sweep = faultline(&args);
    assert_eq!(code(&sweep), 1, "{}{}", stdout(&sweep), stderr(&sweep));
    let text = stdout(&sweep);
    let line = format!("reproduce: faultline run {} --seed 1 --swarm --plant ack-before-process", file.display());
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("replay: faultline replay") && text.contains("  drawn: at = \""), "{text}");
    let runs: Vec<String> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.ends_with("-swarm-plant-ack-before-process.json")), "{runs:?}");
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("runs").join(&runs[0])).unwrap()).unwrap();
    assert_eq!((stored["swarm"].as_bool(), stored["plant"].as_str()), (Some(true), Some("ack-before-process")));
    assert!(!stored["drawn"].as_array().unwrap().is_empty(), "{stored}");
    // The same sweep without the swarm is another run: nothing is skipped.
    let plain = faultline(&["sweep", path(&file), "--seeds", "2", "--out", path(&out), "--format", "json"]);
    assert_eq!(code(&plain), 0, "{}", stdout(&plain));
    assert_eq!(std::fs::read_dir(out.join("runs")).unwrap().count(), 4);
}

#[test]
fn recorded_failures_become_a_corpus_that_a_sweep_re_runs() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("regressions.toml");
    let file = scenario("queue-worker-crash.toml");
    let args = [
        "sweep",
        path(&file),
        "--seeds",
        "2",
        "--swarm",
        "--plant",
        "ack-before-process",
        "--record-failures",
        path(&corpus),
    ];
    let found = faultline(&args);
    assert_eq!(code(&found), 1, "{}", stdout(&found));
    assert!(stderr(&found).contains("recorded 2 new failing run(s)"), "{}", stderr(&found));
    let text = std::fs::read_to_string(&corpus).unwrap();
    assert_eq!(text.matches("[[regression]]").count(), 2, "{text}");
    assert!(text.contains("checks = [\"queue accounting\"]") && text.contains("swarm = true"), "{text}");
    let again = faultline(&args);
    assert!(stderr(&again).contains("recorded 0 new failing run(s)"), "nothing twice: {}", stderr(&again));

    // Honest models: each entry replays its schedule and its recorded check holds.
    let (exit, summary) = json(&["sweep", path(&corpus), "--format", "json"]);
    assert_eq!(exit, 0, "{summary}");
    let runs: Vec<String> =
        summary["results"].as_array().unwrap().iter().map(|r| r["file"].as_str().unwrap().to_string()).collect();
    assert_eq!(runs, [format!("{}#1", corpus.display()), format!("{}#2", corpus.display())]);
    // The bug back in: the corpus catches it.
    let (exit, _) = json(&["sweep", path(&corpus), "--plant", "ack-before-process", "--format", "json"]);
    assert_eq!(exit, 1, "the regression is caught");
}

#[test]
fn a_corpus_entry_runs_by_its_name_as_the_sweep_ran_it() {
    let corpus = scenario("regressions.toml");
    let (exit, summary) = json(&["sweep", path(&corpus), "--format", "json"]);
    assert_eq!(exit, 0, "{summary}");
    let first = &summary["results"][0];
    let name = format!("{}#1", corpus.display());
    assert_eq!(first["file"], name.as_str());
    let (_, report) = json(&["run", &name, "--format", "json"]);
    assert_eq!(report["trace_hash"], first["hash"], "the entry by its name is the run the sweep made");
    let missing = faultline(&["run", &format!("{}#99", corpus.display())]);
    assert_eq!(code(&missing), 2);
    assert!(stderr(&missing).contains("entries; expected #1 to #"), "{}", stderr(&missing));
}
