//! `faultline compare` through the real binary: its JSON figures against what `faultline run`
//! reports for the same seeds, the text table, the cost rows a `[cost]` table prices, located
//! errors for a bad one, the capacity rows against `faultline capacity`, determinism, and exit
//! codes (0 the table was made, 2 bad input).

use crate::util;
use serde_json::Value;
use std::path::Path;
use util::*;

/// `faultline compare ARGS --format json`, parsed; it must exit 0.
fn compare_json(args: &[&str]) -> Value {
    let mut all = vec!["compare"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let o = faultline(&all);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("compare prints JSON")
}

/// `faultline run FILE --seed N --format json`, parsed.
fn run_json(file: &Path, seed: u64) -> Value {
    let o = faultline(&["run", file.to_str().unwrap(), "--seed", &seed.to_string(), "--format", "json"]);
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)))
}

fn f64_at(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer).and_then(Value::as_f64).unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

fn u64_at(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("no integer at {pointer} in {v}"))
}

#[test]
fn per_seed_figures_are_what_run_reports_and_async_loses_more() {
    let (sync, asynchronous) = (scenario("failover-sync.toml"), scenario("failover-async.toml"));
    let v = compare_json(&[sync.to_str().unwrap(), asynchronous.to_str().unwrap(), "--seeds", "2"]);
    assert_eq!(v["seeds"], serde_json::json!([1, 2]));
    let columns = v["scenarios"].as_array().expect("scenarios");
    assert_eq!(columns.len(), 2);
    for (column, file) in columns.iter().zip([&sync, &asynchronous]) {
        let reports: Vec<Value> = (1..=2).map(|seed| run_json(file, seed)).collect();
        assert_eq!(column["name"], reports[0]["scenario"]);
        assert_eq!(column["file"], file.to_str().unwrap());
        let (mut ok, mut counted) = (0, 0);
        for (run, report) in column["runs"].as_array().unwrap().iter().zip(&reports) {
            assert_eq!(run["seed"], report["seed"]);
            assert_eq!(run["trace_hash"], report["trace_hash"], "the same run as `faultline run`");
            let e = &report["end_to_end"];
            ok += u64_at(e, "/ok");
            counted += u64_at(e, "/requests") - u64_at(e, "/limited") - e["unauthorized"].as_u64().unwrap_or(0);
            assert_eq!(run["availability"], e["availability"]);
        }
        assert_eq!(u64_at(column, "/availability/ok"), ok);
        assert_eq!(u64_at(column, "/availability/requests"), counted);
        let pooled = f64_at(column, "/availability/share");
        assert!((pooled - ok as f64 / counted as f64).abs() < 1e-12, "{pooled} vs {ok}/{counted}");
        let throughput = reports.iter().map(|r| f64_at(r, "/end_to_end/throughput_rps")).sum::<f64>() / 2.0;
        assert!((f64_at(column, "/throughput_rps") - throughput).abs() < 1e-9);
        let passed =
            reports.iter().filter(|r| r["checks"].as_array().unwrap().iter().all(|c| c["verdict"] == "pass")).count();
        assert_eq!(u64_at(column, "/checks/passed_seeds"), passed as u64);
        let rpo = reports.iter().filter_map(|r| r.pointer("/data/durability/rpo_ns").and_then(Value::as_u64)).max();
        assert_eq!(column["recovery"]["rpo_max_ns"].as_u64(), rpo);
    }
    let rpo = |i: usize| u64_at(&columns[i], "/recovery/rpo_max_ns");
    assert!(rpo(1) > rpo(0), "async replication loses the last writes, sync none: {} vs {}", rpo(1), rpo(0));
    let kill = &columns[1]["recovery"]["rto"]["kill db1 at 10s"];
    let rtos: Vec<u64> = (1..=2)
        .map(|seed| run_json(&asynchronous, seed))
        .map(|r| {
            let recovery = r["data"]["recovery"].as_array().unwrap().iter().find(|x| x["fault"] == "kill db1").cloned();
            u64_at(&recovery.expect("the kill's recovery"), "/rto_ns")
        })
        .collect();
    assert_eq!(u64_at(kill, "/max_ns"), *rtos.iter().max().unwrap(), "{kill}");
    assert_eq!(u64_at(kill, "/mean_ns"), rtos.iter().sum::<u64>() / 2);
    assert_eq!((u64_at(kill, "/seeds"), u64_at(kill, "/not_recovered")), (2, 0));
}

#[test]
fn pooled_latency_lies_between_the_seeds_and_the_text_fits_100_columns() {
    let (one, lb, async_) =
        (scenario("quickstart.toml"), scenario("quickstart-lb.toml"), scenario("failover-async.toml"));
    let files = [one.to_str().unwrap(), lb.to_str().unwrap(), async_.to_str().unwrap()];
    let v = compare_json(&[files[0], files[1], "--seeds", "2"]);
    for (column, file) in v["scenarios"].as_array().unwrap().iter().zip([&one, &lb]) {
        let reports: Vec<Value> = (1..=2).map(|seed| run_json(file, seed)).collect();
        for (ours, theirs) in [("p50_ns", "p50_ms"), ("p99_ns", "p99_ms")] {
            // Every request succeeds here, so the report's answered requests are ours; its HDR
            // histogram and our buckets each keep 3-4 significant digits.
            let seeds: Vec<f64> =
                reports.iter().map(|r| f64_at(r, &format!("/end_to_end/latency/{theirs}")) * 1e6).collect();
            let pooled = f64_at(column, &format!("/latency/{ours}"));
            let (lo, hi) = (seeds.iter().copied().fold(f64::MAX, f64::min), seeds.iter().copied().fold(0.0, f64::max));
            assert!(pooled >= lo * 0.99 && pooled <= hi * 1.01, "{ours} {pooled} outside the seeds' {seeds:?}");
        }
        assert!(f64_at(column, "/latency/worst_window_p99_ns") >= f64_at(column, "/latency/p99_ns") * 0.99);
        assert!(!column["plot"]["windows"].as_array().unwrap().is_empty());
    }
    let o = faultline(&["compare", files[0], files[1], files[2]]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let header = text.lines().find(|l| l.contains("quickstart-lb")).expect("a header line");
    for name in ["quickstart", "quickstart-lb", "failover-async"] {
        assert!(header.contains(name), "{name} heads a column: {header}");
    }
    for row in [
        "p50",
        "p99",
        "successes / requests",
        "seeds passing every check",
        "RTO mean, kill db1 at 10s",
        "RPO, worst seed",
        "hosts: app",
        "cost per hour",
    ] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(row)), "row {row:?} in\n{text}");
    }
    assert!(text.lines().any(|l| l.contains("3/3")), "every seed passes: {text}");
    let table_end = text.find("\nlatency: ").expect("the notes under the table");
    for line in text[..table_end].lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    let hash = run_json(&one, 1)["trace_hash"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("seed 1: trace {hash}")), "each run's trace hash: {text}");
}

/// `quickstart.toml` renamed, with `table` appended, written in `dir`.
fn with_table(dir: &Path, table: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario("quickstart.toml")).unwrap();
    let file = dir.join("priced.toml");
    std::fs::write(&file, format!("{}\n{table}\n", text.replacen("name = \"quickstart\"", "name = \"priced\"", 1)))
        .unwrap();
    file
}

#[test]
fn cost_rows_follow_the_cost_table() {
    let dir = tempfile::tempdir().unwrap();
    let priced = with_table(dir.path(), "[cost]\ncurrency = \"USD\"\nprices = { app = 0.10, kv = 0.40 }");
    let v = compare_json(&[priced.to_str().unwrap(), scenario("quickstart.toml").to_str().unwrap(), "--seeds", "1"]);
    let cost = &v["scenarios"][0]["cost"];
    assert_eq!(cost["currency"], "USD");
    assert_eq!(
        cost["hosts"],
        serde_json::json!({"app": 1.0, "cache": 1.0, "kv": 2.0}),
        "quickstart: db, replica, cache, app"
    );
    assert_eq!(cost["per_hour"], serde_json::json!({"app": 0.1, "cache": 1.0, "kv": 0.8}), "cache is not listed: 1.0");
    assert!((f64_at(cost, "/total_per_hour") - 1.9).abs() < 1e-9, "{cost}");
    let plain = &v["scenarios"][1]["cost"];
    assert_eq!((plain["currency"].as_str(), f64_at(plain, "/total_per_hour")), (Some("units"), 4.0));
    let o = faultline(&["compare", priced.to_str().unwrap(), "--seeds", "1"]);
    let line = stdout(&o).lines().find(|l| l.trim_start().starts_with("cost per hour")).map(str::to_string);
    assert!(line.as_deref().is_some_and(|l| l.ends_with("1.90 USD")), "{line:?}");
}

#[test]
fn bad_cost_tables_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (table, message, column) in [
        ("[cost]\nprices = { app = -0.5 }", "price -0.5 for \"app\"; expected a price per host-hour of at least 0", 18),
        ("[cost]\nprices = { ap = 0.5 }", "unknown service kind \"ap\"", 12),
        ("[cost]\nprices = { ap = 0.5 }", "did you mean \"app\"?", 12),
        ("[cost]\ncurrencies = \"USD\"", "unknown field `currencies`", 1),
    ] {
        let file = with_table(dir.path(), table);
        // The table's second line is the file's last.
        let line = std::fs::read_to_string(&file).unwrap().lines().count();
        let at = format!(":{line}:{column}");
        let o = faultline(&["compare", file.to_str().unwrap(), scenario("quickstart.toml").to_str().unwrap()]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(message), "{message:?} in {err}");
        assert!(err.contains(&format!("priced.toml{at}")), "located at {at}: {err}");
        assert!(stdout(&o).is_empty(), "no table for bad input");
    }
}

#[test]
fn the_same_command_prints_the_same_bytes_whatever_the_threads() {
    let files = [scenario("quickstart.toml"), scenario("failover-async.toml")];
    let args = |jobs: &str| -> Vec<String> {
        let mut args = vec!["compare".to_string()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        args.extend(["--seeds", "2", "--format", "json", "--jobs", jobs].map(String::from));
        args
    };
    let run = |jobs: &str| {
        let o = command().args(args(jobs)).output().expect("it runs");
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        o.stdout
    };
    let first = run("2");
    assert_eq!(first, run("2"), "same JSON bytes twice");
    assert_eq!(first, run("1"), "one thread or two");
}

#[test]
fn capacity_rows_are_the_capacity_search() {
    let file = scenario("quickstart.toml");
    let file = file.to_str().unwrap();
    let v = compare_json(&[file, "--seeds", "1", "--capacity-p99", "100ms", "--capacity-max-rate", "1600"]);
    let o =
        faultline(&["capacity", file, "--slo-p99", "100ms", "--seeds", "1", "--max-rate", "1600", "--format", "json"]);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let capacity = &v["scenarios"][0]["capacity"];
    assert_eq!(capacity["rps"], answer["passing_rps"], "{capacity}");
    assert_eq!(capacity["failing_rps"], answer["failing_rps"]);
    assert!(capacity["rps"].as_f64().is_some_and(|r| r > 0.0));
    let without = compare_json(&[file, "--seeds", "1"]);
    assert_eq!(without["scenarios"][0]["capacity"], Value::Null);
}

#[test]
fn bad_input_exits_2_and_one_scenario_is_a_table() {
    let o = faultline(&["compare"]);
    assert_eq!(code(&o), 2, "no scenario: a usage error");
    assert!(stderr(&o).contains("FILES"), "{}", stderr(&o));
    let o = faultline(&["compare", "no/such.toml"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no/such.toml"), "{}", stderr(&o));
    let quickstart = scenario("quickstart.toml");
    let o = faultline(&["compare", quickstart.to_str().unwrap(), "--capacity-availability", "0.99"]);
    assert_eq!(code(&o), 2, "the availability of a capacity objective needs its latency");
    let o = faultline(&["compare", quickstart.to_str().unwrap(), "--seeds", "0"]);
    assert_eq!(code(&o), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("table.txt");
    let o = faultline(&["compare", quickstart.to_str().unwrap(), "--seeds", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "the table went to the file");
    let table = std::fs::read_to_string(&out).unwrap();
    assert!(table.starts_with("faultline compare: 1 scenario(s), each under seed 1"), "{table}");
}

#[test]
fn an_autoscaled_pool_counts_at_its_mean_size() {
    let file = scenario("autoscale-ramp.toml");
    let v = compare_json(&[file.to_str().unwrap(), "--seeds", "1"]);
    let report = run_json(&file, 1);
    let (end_s, counts) = (f64_at(&report, "/duration_s"), report["autoscale"]["counts"].as_array().unwrap().clone());
    let mut area = 0.0;
    for (i, count) in counts.iter().enumerate() {
        let until = counts.get(i + 1).map_or(end_s, |next| f64_at(next, "/t_s"));
        area += (f64_at(count, "/ready") + f64_at(count, "/starting")) * (until - f64_at(count, "/t_s"));
    }
    let app = f64_at(&v, "/scenarios/0/cost/hosts/app");
    assert!((app - area / end_s).abs() < 1e-9, "{app} vs {}", area / end_s);
    let (min, max) = (f64_at(&report, "/autoscale/instances_min"), f64_at(&report, "/autoscale/instances_max"));
    assert!(app > min && app < max, "a pool that grew: {min} < {app} < {max}");
}
