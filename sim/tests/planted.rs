//! Bugs planted on purpose (`faultline_sim::Plant`) are found by the checks: for each one, a
//! scenario of the library with a scripted schedule of at most three faults in which a named
//! invariant check fails with the bug planted and holds without it, on seeds 1-3.
//!
//! Each case replaces the scenario's own `[[faults]]` by its schedule (the whole list of faults
//! of the run), applies a few edits to the text (each must apply), and runs it twice per seed.
//! docs/planted-bugs.md says, per bug, which fault kinds, targets and times expose it.

use crate::util;

use faultline_chaos::report::{Check, Report, Verdict};
use faultline_sim::Plant;
use util::{planted, scenario, text};

/// One planted bug and the run that shows it.
struct Case {
    plant: Plant,
    /// The scenario of the library it runs.
    file: &'static str,
    /// `(from, to)` edits to the scenario's text (every occurrence).
    edits: &'static [(&'static str, &'static str)],
    /// The fault schedule, each a `[[faults]]` table's body (at most three).
    faults: &'static [&'static str],
    /// The start of the failing check's name.
    check: &'static str,
    /// Other checks (starts of their names) that also hold without the bug and fail with it.
    also: &'static [&'static str],
}

/// The scenario's text without its `[[faults]]` tables, with `case`'s edits and schedule.
fn case_text(case: &Case) -> String {
    assert!(case.faults.len() <= 3, "a schedule of at most three faults");
    let mut out = String::new();
    let mut in_faults = false;
    for line in text(case.file).lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("[[faults]]") {
            in_faults = true;
            continue;
        }
        if in_faults && (trimmed.is_empty() || trimmed.starts_with('[')) {
            in_faults = false;
        }
        if !in_faults {
            out.push_str(line);
            out.push('\n');
        }
    }
    for (from, to) in case.edits {
        assert!(out.contains(from), "{from:?} is not in {}", case.file);
        out = out.replace(from, to);
    }
    for fault in case.faults {
        out.push_str("\n[[faults]]\n");
        out.push_str(fault);
        out.push('\n');
    }
    out
}

/// The check of `report` whose name starts with `prefix` (there must be exactly one).
fn check<'a>(report: &'a Report, prefix: &str) -> &'a Check {
    let mut found = report.checks.iter().filter(|c| c.name.starts_with(prefix));
    let check = found.next().unwrap_or_else(|| panic!("no check {prefix:?} in {:#?}", names(report)));
    assert!(found.next().is_none(), "more than one check {prefix:?}");
    check
}

fn names(report: &Report) -> Vec<String> {
    report.checks.iter().map(|c| format!("{}: {:?}: {}", c.name, c.verdict, c.detail)).collect()
}

/// Runs `case` on seeds 1-3: its check holds without the bug and fails with it. Returns the
/// failing check of each seed, for a caller to look closer.
fn shows(case: &Case) -> Vec<Check> {
    let s = scenario(&case_text(case));
    let mut failed = Vec::new();
    for seed in 1..=3 {
        let honest = planted(&s, seed, None).report;
        let buggy = planted(&s, seed, Some(case.plant)).report;
        for name in std::iter::once(&case.check).chain(case.also) {
            let (held, broke) = (check(&honest, name), check(&buggy, name));
            assert_eq!(held.verdict, Verdict::Pass, "{name} without the bug, seed {seed}: {:#?}", names(&honest));
            assert_eq!(broke.verdict, Verdict::Fail, "{name} with {}, seed {seed}: {:#?}", case.plant, names(&buggy));
            println!("{} seed {seed}: without: {}: {}", case.plant, held.name, held.detail);
            println!("{} seed {seed}: with: {}: {}", case.plant, broke.name, broke.detail);
        }
        failed.push(check(&buggy, case.check).clone());
    }
    failed
}

#[test]
fn a_replica_serving_reads_as_of_what_it_received_breaks_read_your_writes() {
    let case = Case {
        plant: Plant::ReplicaReadsBeforeApply,
        file: "failover-async.toml",
        edits: &[],
        faults: &[
            "at = \"2s\"\nfor = \"20s\"\nfault = { replication_delay = { host = \"db2\", delay = \"250ms\" } }",
            "at = \"2s\"\nfor = \"20s\"\nfault = { replication_delay = { host = \"db3\", delay = \"250ms\" } }",
        ],
        check: "read-your-writes",
        also: &[],
    };
    for broke in shows(&case) {
        assert!(broke.detail.contains("reads after the user's own write missed it"), "{}", broke.detail);
    }
}

#[test]
fn a_primary_ignoring_its_lease_expiry_gives_an_epoch_two_writers() {
    let case = Case {
        plant: Plant::LeaseNotEnforced,
        file: "clock-skew.toml",
        edits: &[("expected_failures = [\"RPO\", \"one primary per epoch\"]", "")],
        faults: &[
            "at = \"8s\"\nfor = \"12s\"\nfault = { partition = { a = [\"db1\", \"app-a\"], b = [\"db2\", \"db3\", \"failover\", \"app-b\"] } }",
        ],
        check: "one primary per epoch",
        also: &["RPO"],
    };
    for broke in shows(&case) {
        assert!(broke.detail.contains("accepted by a deposed primary"), "{}", broke.detail);
    }
}

#[test]
fn invalidating_before_the_write_commits_leaves_old_values_cached() {
    let case = Case {
        plant: Plant::InvalidateBeforeWrite,
        file: "cache-aside-race.toml",
        edits: &[("expected_failures = [\"staleness\"]", ""), ("read_from = \"db-replica\", ", "")],
        faults: &["at = \"2s\"\nfor = \"15s\"\nfault = { slowdown = { host = \"db\", percent = 1000 } }"],
        check: "staleness",
        also: &[],
    };
    for broke in shows(&case) {
        assert!(broke.detail.contains("reads over"), "{}", broke.detail);
    }
}

#[test]
fn a_breaker_that_never_half_opens_never_recovers() {
    let case = Case {
        plant: Plant::BreakerNeverHalfOpens,
        file: "third-party-breaker.toml",
        edits: &[(
            "[[slos]]\nname = \"p99 latency under 1 s\"",
            "[checks]\nmax_rto = \"15s\"\nrecovery_ratio = 0.95\n\n[[slos]]\nname = \"p99 latency under 1 s\"",
        )],
        faults: &["at = \"10s\"\nfor = \"10s\"\nfault = { kill = \"pay\" }"],
        check: "RTO",
        also: &[],
    };
    for broke in shows(&case) {
        assert!(broke.detail.contains("not recovered"), "{}", broke.detail);
    }
}

#[test]
fn acking_before_processing_loses_the_messages_a_crash_interrupts() {
    let case = Case {
        plant: Plant::AckBeforeProcess,
        file: "queue-worker-crash.toml",
        edits: &[],
        faults: &["at = \"8s\"\nfor = \"3s\"\nfault = { kill = \"worker\" }"],
        check: "queue accounting",
        also: &[],
    };
    for broke in shows(&case) {
        assert!(broke.detail.contains("are neither processed"), "{}", broke.detail);
    }
}

/// The tests that run a world, again on madsim, but for invalidating before the write commits:
/// on madsim, seed 2, the planted race's worst stale read lasts 956.9 ms, under the check's
/// 1 s bound, so the check passes with the bug there.
mod on_madsim {
    crate::util::on_madsim_too! {
        a_replica_serving_reads_as_of_what_it_received_breaks_read_your_writes,
        a_primary_ignoring_its_lease_expiry_gives_an_epoch_two_writers,
        a_breaker_that_never_half_opens_never_recovers,
        acking_before_processing_loses_the_messages_a_crash_interrupts,
    }
}
