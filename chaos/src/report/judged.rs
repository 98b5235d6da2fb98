//! What a swarm run judges, and what it drew.
//!
//! Random faults may break any objective (a killed only database costs availability by
//! design), so a swarm run judges the invariants (no acknowledged write lost, linearizable,
//! read-your-writes, one primary per epoch, queue accounting...) and measures the objectives
//! (SLOs, RTOs, a deploy's promise) without judging them, unless its scenario names the
//! checks it judges.
//!
//! Owns: [`SwarmReport`] (the kinds a seed enabled and the faults it drew, as the scenario file
//! writes them) and [`Report::judge_only`]. Must not: judge a check (verdicts stay what the run
//! measured; only whether they count turns, see [`Check::outcome`]) or draw faults (see
//! `crate::swarm`).

use super::expect::matches;
use super::{Check, Report};
use serde::{Deserialize, Serialize};

/// What a swarm run drew from its seed, on top of its scenario's scripted faults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmReport {
    /// The fault kinds this seed enabled, as the scenario names them.
    pub enabled: Vec<String>,
    /// The faults drawn, in time order, each as a scenario's `[[faults]]` entry on one line
    /// (`at = "12.5s", for = "3s", fault = { kill = "db" }`).
    pub faults: Vec<String>,
    /// The names the scenario said a swarm run judges; empty: every invariant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judge: Vec<String>,
}

impl Report {
    /// Leaves out of the run's verdict every check that `judge` does not name (a whole name or
    /// its first words, as for expected failures), or, when `judge` is empty, every objective.
    /// A name in `judge` that names no check adds a failed check saying so, as a misspelt
    /// expected failure does.
    pub fn judge_only(&mut self, judge: &[String]) {
        for check in &mut self.checks {
            check.not_judged = match judge.is_empty() {
                true => check.objective,
                false => !judge.iter().any(|name| matches(name, &check.name)),
            };
        }
        for name in judge {
            if !self.checks.iter().any(|c| matches(name, &c.name)) {
                self.no_check_named(name, "judged check");
            }
        }
    }

    /// The checks measured but left out of the verdict.
    pub fn not_judged(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.not_judged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;

    fn report() -> Report {
        let mut report = crate::report::testkit::Stream::new(1, 1).analyze();
        report.checks = vec![
            Check::new("availability at least 99%", Verdict::Fail, "80%").as_objective(),
            Check::new("RTO kill db", Verdict::Fail, "12 s > 5 s").as_objective(),
            Check::new("no acknowledged write lost", Verdict::Pass, "0 lost"),
            Check::new("linearizable", Verdict::Fail, "op 7 cannot be placed"),
        ];
        report
    }

    fn outcomes(report: &Report) -> Vec<(&str, &str)> {
        report.checks.iter().map(|c| (c.name.as_str(), c.label())).collect()
    }

    #[test]
    fn by_default_a_swarm_run_judges_the_invariants_and_measures_the_objectives() {
        let mut r = report();
        assert_eq!(r.verdict(), Verdict::Fail);
        r.judge_only(&[]);
        assert_eq!(
            outcomes(&r),
            [
                ("availability at least 99%", "(FAIL)"),
                ("RTO kill db", "(FAIL)"),
                ("no acknowledged write lost", "PASS"),
                ("linearizable", "FAIL")
            ]
        );
        assert_eq!(r.failures().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["linearizable"]);
        assert_eq!(r.not_judged().count(), 2);
        r.checks.pop();
        assert_eq!(r.verdict(), Verdict::Pass, "broken objectives alone do not fail a swarm run");
    }

    #[test]
    fn named_checks_are_the_only_ones_judged() {
        let mut r = report();
        r.judge_only(&["availability".into(), "no acknowledged write lost".into()]);
        let judged: Vec<&str> = r.checks.iter().filter(|c| !c.not_judged).map(|c| c.name.as_str()).collect();
        assert_eq!(judged, ["availability at least 99%", "no acknowledged write lost"]);
        assert_eq!(r.verdict(), Verdict::Fail, "availability is judged now");
    }

    #[test]
    fn a_judged_name_that_names_no_check_fails_the_run() {
        let mut r = report();
        r.judge_only(&["linearisable".into()]);
        let last = r.checks.last().unwrap();
        assert_eq!((last.name.as_str(), last.verdict), ("judged check \"linearisable\"", Verdict::Fail));
        assert!(last.detail.contains("linearizable"), "{}", last.detail);
    }
}
