//! `faultline plan` through the real binary: the compiled plan of a scenario, as text and JSON,
//! without running it; bad input is exit 2.

use crate::util;
use util::*;

#[test]
fn the_quickstart_plan_lists_hosts_load_faults_and_checks() {
    let file = scenario("quickstart.toml");
    let o = faultline(&["plan", file.to_str().unwrap(), "--seed", "7"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert!(out.starts_with("plan: scenario \"quickstart\", seed 7\n"), "{out}");
    assert!(out.contains("#0 db [data] kv-primary at db:7000"), "{out}");
    assert!(out.contains("#1 db-replica [data] kv-replica at db-replica:7000"), "{out}");
    assert!(out.contains("primary=\"db:7000\""), "the replica's primary is resolved to an address: {out}");
    assert!(out.contains("lg0 (#4): 100 users"), "{out}");
    assert!(out.contains("lg1 (#5): 100 users"), "{out}");
    assert!(out.contains("at      12s  kill db-replica"), "{out}");
    assert!(out.contains("at      17s  restart db-replica"), "the undo is in the schedule: {out}");
    assert!(out.contains("p99 latency under 100 ms"), "{out}");
}

#[test]
fn the_plan_as_json_is_typed_data_in_nanoseconds() {
    let file = scenario("quickstart.toml");
    let o = faultline(&["plan", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(plan["seed"], 1);
    assert_eq!(plan["duration_ns"], 30_000_000_000u64);
    assert_eq!(plan["hosts"][0]["service"]["kv"]["primary"], serde_json::Value::Null);
    assert_eq!(plan["hosts"][1]["service"]["kv"]["primary"], "db:7000");
    let users: u64 =
        plan["loadgens"].as_array().unwrap().iter().map(|lg| lg["users"].as_array().unwrap().len() as u64).sum();
    assert_eq!(users, 200);
    assert_eq!(plan["faults"].as_array().unwrap().len(), 2, "the kill and its restart");
    assert_eq!(plan["faults"][1]["at_ns"], 17_000_000_000u64);
}

#[test]
fn a_bad_scenario_has_no_plan() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, "name = \"x\"\nduration = \"1s\"\n").unwrap();
    let o = faultline(&["plan", file.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("s.toml"), "{}", stderr(&o));
}

/// The share of the workload's keys the plan says a node joining the app's tier moves.
fn joining_moves(plan: &str) -> f64 {
    let note = plan.lines().find(|l| l.trim_start().starts_with("tier: ")).unwrap_or_else(|| panic!("{plan}"));
    let after = note.split("a node joining moves ").nth(1).unwrap_or_else(|| panic!("{note}"));
    after.split('%').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{note}"))
}

#[test]
fn the_plan_says_how_many_keys_a_shard_change_moves() {
    let file = scenario("cache-catalogue.toml");
    let o = faultline(&["plan", file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let ring = stdout(&o);
    assert!(ring.contains("tier: ring over 2 L2 node(s); 300 workload keys"), "{ring}");
    // Two nodes to three: consistent hashing moves about a third of the keys, hash-mod two thirds.
    let moved = joining_moves(&ring);
    assert!((24.0..=42.0).contains(&moved), "ring 2 -> 3 moved {moved}%");
    let dir = tempfile::tempdir().expect("a temp dir");
    let text =
        std::fs::read_to_string(&file).expect("the scenario").replace(r#"shard = "ring""#, r#"shard = "hash_mod""#);
    let edited = dir.path().join("hashmod.toml");
    std::fs::write(&edited, text).expect("written");
    let o = faultline(&["plan", edited.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let moved = joining_moves(&stdout(&o));
    assert!((58.0..=75.0).contains(&moved), "hash-mod 2 -> 3 moved {moved}%");
}
