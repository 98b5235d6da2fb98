//! A random fault search finds each planted bug (`faultline_sim::Plant`): a swarm sweep of a
//! scenario of the library, with only that scenario's own `[swarm]` table, fails the bug's
//! check on a pinned seed, every seed before it passes the check, the same seed without the
//! bug passes every judged check, and the failing schedule shrinks to at most three faults
//! that still fail with the bug and pass without it.
//!
//! `FAULTLINE_HUNT=1` also prints each shrunk schedule as `[[faults]]` lines (what
//! docs/planted-bugs.md shows under "Found by swarm"). Must not: edit a scenario's text (each
//! runs as shipped) or judge what the scenario's `[swarm]` table does not name.

use crate::util;

use faultline_chaos::nemesis::Scripted;
use faultline_chaos::report::{Report, Verdict};
use faultline_chaos::shrink::shrink;
use faultline_sim::scenario::Scenario;
use faultline_sim::scenario::emit::fault_line;
use faultline_sim::swarm::{self, Faults};
use faultline_sim::{Plant, RunOptions, compile_planted, run};
use util::library;

/// The most runs a shrink may ask for.
const SHRINK_RUNS: u32 = 100;

/// One planted bug and the sweep that finds it.
struct Hunt {
    plant: Plant,
    /// The scenario of the library (a file in `scenarios/`), run as shipped.
    file: &'static str,
    /// The start of the failing check's name.
    check: &'static str,
    /// The first seed whose swarm run fails the check with the bug.
    first: u64,
    /// The shrunk schedule, as `[[faults]]` lines.
    shrunk: &'static [&'static str],
}

/// `s` run under `seed` with `faults`, and `plant` planted.
fn report(s: &Scenario, seed: u64, faults: Faults, plant: Option<Plant>) -> Report {
    run(s, RunOptions { seed: Some(seed), faults, plant, ..RunOptions::default() }).expect("the run completes").report
}

/// Whether a check of `report` whose name starts with `prefix` failed (as measured).
fn fails(report: &Report, prefix: &str) -> bool {
    report.checks.iter().any(|c| c.name.starts_with(prefix) && c.verdict == Verdict::Fail)
}

fn has(report: &Report, prefix: &str) -> bool {
    report.checks.iter().any(|c| c.name.starts_with(prefix))
}

fn details(report: &Report) -> Vec<String> {
    report.checks.iter().map(|c| format!("{}: {:?}: {}", c.name, c.verdict, c.detail)).collect()
}

/// Runs the hunt: the pinned seed is the sweep's first failure, it is the bug's, and its
/// schedule shrinks to the pinned one.
fn hunt(h: &Hunt) {
    let s = library(h.file, &[]);
    assert!(s.swarm.is_some(), "{} has a [swarm] table", h.file);
    for seed in 1..h.first {
        let buggy = report(&s, seed, Faults::Swarm, Some(h.plant));
        assert!(!fails(&buggy, h.check), "{} seed {seed} fails {} already: {:#?}", h.plant, h.check, details(&buggy));
        let honest = report(&s, seed, Faults::Swarm, None);
        assert!(!fails(&honest, h.check), "seed {seed} without the bug fails {}: {:#?}", h.check, details(&honest));
    }
    let buggy = report(&s, h.first, Faults::Swarm, Some(h.plant));
    assert!(fails(&buggy, h.check), "{} seed {} passes {}: {:#?}", h.plant, h.first, h.check, details(&buggy));
    let honest = report(&s, h.first, Faults::Swarm, None);
    assert!(has(&honest, h.check), "{} is measured", h.check);
    assert_eq!(honest.failures().count(), 0, "seed {} without the bug: {:#?}", h.first, details(&honest));

    let plan = compile_planted(&s, Some(h.first), Some(h.plant));
    let original = swarm::script(&s, &plan, &Faults::Swarm);
    let oracle =
        |candidate: &[Scripted]| fails(&report(&s, h.first, Faults::Given(candidate.to_vec()), Some(h.plant)), h.check);
    let shrunk = shrink(original.clone(), plan.duration_ns, SHRINK_RUNS, oracle);
    assert!(shrunk.runs <= SHRINK_RUNS);
    assert!(shrunk.faults.len() <= 3, "{} faults left of {}: {:?}", shrunk.faults.len(), original.len(), shrunk.faults);
    let given = Faults::Given(shrunk.faults.clone());
    assert!(fails(&report(&s, h.first, given.clone(), Some(h.plant)), h.check), "the shrunk schedule fails");
    let without = report(&s, h.first, given, None);
    assert!(!fails(&without, h.check), "the shrunk schedule without the bug: {:#?}", details(&without));

    let names = swarm::host_names(&plan);
    let lines: Vec<String> =
        shrunk.faults.iter().map(|f| fault_line(f, &names).expect("a fault the format can state")).collect();
    if std::env::var_os("FAULTLINE_HUNT").is_some() {
        println!(
            "{} {} seed {}: {} faults shrunk to {} in {} runs",
            h.plant,
            h.file,
            h.first,
            original.len(),
            lines.len(),
            shrunk.runs
        );
        for line in &lines {
            println!("[[faults]]\n{line}");
        }
    }
    assert_eq!(lines, h.shrunk, "{} seed {}: the shrunk schedule", h.plant, h.first);
}

#[test]
fn a_swarm_of_replication_delays_finds_replicas_serving_reads_before_applying() {
    hunt(&Hunt {
        plant: Plant::ReplicaReadsBeforeApply,
        file: "failover-async.toml",
        check: "read-your-writes",
        first: 3,
        shrunk: &[
            r#"at = "4756ms", for = "3595ms", fault = { replication_delay = { host = "db3", delay = "982ms" } }"#,
        ],
    });
}

#[test]
fn a_swarm_of_cuts_around_the_primary_finds_a_lease_not_enforced() {
    hunt(&Hunt {
        plant: Plant::LeaseNotEnforced,
        file: "hunt-lease-fencing.toml",
        check: "one primary per epoch",
        first: 7,
        shrunk: &[r#"at = "26729ms", for = "2077ms", fault = { partition = { a = ["db1"], b = ["failover"] } }"#],
    });
}

/// The bug needs no fault: writes and reads of the same keys race on their own; the drawn
/// slowdown only widens the window, so the shrink drops it.
#[test]
fn a_swarm_of_store_slowdowns_finds_invalidation_before_the_write() {
    hunt(&Hunt {
        plant: Plant::InvalidateBeforeWrite,
        file: "hunt-cache-invalidation.toml",
        check: "staleness",
        first: 1,
        shrunk: &[],
    });
}

#[test]
fn a_swarm_of_payment_outages_finds_a_breaker_that_never_half_opens() {
    hunt(&Hunt {
        plant: Plant::BreakerNeverHalfOpens,
        file: "hunt-breaker-recovery.toml",
        check: "RTO",
        first: 1,
        shrunk: &[r#"at = "9159ms", for = "331ms", fault = { kill = "pay" }"#],
    });
}

/// The bug needs no fault: the messages a worker holds when the run ends were acknowledged but
/// never processed; the drawn and scripted kills only lose more, so the shrink drops them.
#[test]
fn a_swarm_of_worker_crashes_finds_acks_before_processing() {
    hunt(&Hunt {
        plant: Plant::AckBeforeProcess,
        file: "queue-worker-crash.toml",
        check: "queue accounting",
        first: 1,
        shrunk: &[],
    });
}
