//! The deploy section of the report and its check, from what the deploy controller recorded:
//! the `deploy` state of the pool's home host ("start <version> <strategy> drain_s=<s>
//! version=<ok|bad(...)>", "step ...", "analysis failed: ...", "deadline: rolling back",
//! "switch", then "complete", "halted: ...", "aborted: ..." or "rolled back[: ...]"), the gauges
//! `deploy_new_ready` and `deploy_old_ready`, and the requests' outcomes.
//!
//! Owns: the fold of those into a [`DeployReport`] and the deploy's check. Must not: look at
//! other states or gauges.
//!
//! Definitions:
//! - outcome: the last of complete / halted / aborted / rolled back; none while in progress;
//! - failed requests: requests invoked from the start to the end plus the drain (or the end of
//!   the run) that did not succeed (a rate limit or a lost session is not a failure);
//! - time to roll back: from the first failing analysis (or the progress deadline of an
//!   automatic rollback) to all traffic on the stable version again (the abort, or the rollback's
//!   end);
//! - the check: a healthy version must complete with no failed request; a bad one must not
//!   complete.
//!
//! Memory: one entry per millisecond with failures after the start, per count change.

use super::{Check, Verdict};
use faultline_vocab::{gauge, state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;
const NS_PER_MS: u64 = 1_000_000;
/// The most count changes kept.
const MAX_COUNTS: usize = 10_000;

/// The ready instances of each version after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployCount {
    /// When, seconds since the start.
    pub t_s: f64,
    /// New-version instances ready.
    pub new_ready: i64,
    /// Old-version instances ready.
    pub old_ready: i64,
}

/// A deploy over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployReport {
    /// "rolling", "canary" or "blue-green".
    pub strategy: String,
    /// The new version's name.
    pub version: String,
    /// "ok" or how it is bad, "bad(fail_requests=30)".
    pub quality: String,
    /// When it started, seconds.
    pub start_s: f64,
    /// When it ended, seconds; `None`: still in progress at the end of the run.
    pub end_s: Option<f64>,
    /// "complete", "halted", "aborted", "rolled back" or "in progress".
    pub outcome: String,
    /// What the end said ("progress deadline", "error rate 0.31 > 0.05").
    pub reason: String,
    /// Requests invoked during the deploy (and its drain) that failed.
    pub failed_requests: u64,
    /// From the first failing analysis or deadline to all traffic on the stable version, s.
    pub time_to_rollback_s: Option<f64>,
    /// The ready instances of each version after each change.
    pub counts: Vec<DeployCount>,
}

/// Folds the deploy's states, gauges and the requests' outcomes.
#[derive(Debug, Clone, Default)]
pub struct DeployAcc {
    start: Option<(u64, String, String, String, u64)>,
    trouble_ns: Option<u64>,
    end: Option<(u64, String, String)>,
    back_ns: Option<u64>,
    failures: BTreeMap<u64, u64>,
    counts: Vec<DeployCount>,
    last: (i64, i64),
}

impl DeployAcc {
    /// Takes a state change; ignores every key but `deploy`.
    pub fn change(&mut self, t_ns: u64, key: &str, value: &str) {
        if key != state::DEPLOY {
            return;
        }
        if let Some(rest) = value.strip_prefix("start ") {
            let words: Vec<&str> = rest.split(' ').collect();
            let field = |name: &str| words.iter().find_map(|w| w.strip_prefix(name)).unwrap_or_default();
            let drain_ns = (field("drain_s=").parse::<f64>().unwrap_or(0.0) * NS_PER_S) as u64;
            let (version, strategy) =
                (words.first().copied().unwrap_or_default(), words.get(1).copied().unwrap_or_default());
            self.start =
                Some((t_ns, version.to_string(), strategy.to_string(), field("version=").to_string(), drain_ns));
            return;
        }
        if value.starts_with("analysis failed") || value.starts_with("deadline") {
            self.trouble_ns.get_or_insert(t_ns);
            return;
        }
        let (outcome, reason) = value.split_once(": ").unwrap_or((value, ""));
        if matches!(outcome, "complete" | "halted" | "aborted" | "rolled back") {
            self.end = Some((t_ns, outcome.to_string(), reason.to_string()));
            if matches!(outcome, "aborted" | "rolled back") {
                self.back_ns = Some(t_ns);
            }
        }
    }

    /// Takes a gauge sample; whether it was one of the deploy's.
    pub fn sample(&mut self, t_ns: u64, name: &str, last: i64) -> bool {
        let mut now = self.last;
        if name == gauge::DEPLOY_NEW_READY {
            now.0 = last;
        } else if name == gauge::DEPLOY_OLD_READY {
            now.1 = last;
        } else {
            return false;
        }
        if now != self.last && self.counts.len() < MAX_COUNTS {
            let t_s = t_ns as f64 / NS_PER_S;
            match self.counts.last_mut() {
                Some(c) if c.t_s == t_s => (c.new_ready, c.old_ready) = now,
                Some(_) | None => self.counts.push(DeployCount { t_s, new_ready: now.0, old_ready: now.1 }),
            }
        }
        self.last = now;
        true
    }

    /// Takes a request's end: a failure invoked after the start is kept.
    pub fn complete(&mut self, invoked_ns: u64, failed: bool) {
        if failed && self.start.as_ref().is_some_and(|s| invoked_ns >= s.0) {
            *self.failures.entry(invoked_ns / NS_PER_MS).or_default() += 1;
        }
    }

    /// The section and its check; `None` when the run had no deploy.
    pub fn finish(self) -> Option<(DeployReport, Check)> {
        let (start_ns, version, strategy, quality, drain_ns) = self.start?;
        let (end_s, outcome, reason) = match &self.end {
            Some((t, outcome, reason)) => (Some(*t as f64 / NS_PER_S), outcome.clone(), reason.clone()),
            None => (None, "in progress".to_string(), String::new()),
        };
        let until_ms = self.end.as_ref().map_or(u64::MAX, |(t, _, _)| (t + drain_ns) / NS_PER_MS);
        let failed_requests = self.failures.range(start_ns / NS_PER_MS..=until_ms).map(|(_, n)| n).sum();
        let time_to_rollback_s = match (self.trouble_ns, self.back_ns) {
            (Some(from), Some(to)) if to >= from => Some((to - from) as f64 / NS_PER_S),
            (Some(_) | None, Some(_) | None) => None,
        };
        let report = DeployReport {
            strategy,
            version,
            quality,
            start_s: start_ns as f64 / NS_PER_S,
            end_s,
            outcome,
            reason,
            failed_requests,
            time_to_rollback_s,
            counts: self.counts,
        };
        let check = check(&report);
        Some((report, check))
    }
}

/// A healthy version completes with no failed request; a bad one does not complete.
pub fn check(report: &DeployReport) -> Check {
    let name = format!("deploy {} ({})", report.version, report.strategy);
    let complete = report.outcome == "complete";
    let failed = report.failed_requests;
    let (verdict, detail) = if report.quality == "ok" {
        let detail = format!("a healthy version: {}, {failed} failed request(s) during it", report.outcome);
        (Verdict::of(complete && failed == 0), detail)
    } else {
        let detail = format!("a {} version: {}, {failed} failed request(s) during it", report.quality, report.outcome);
        (Verdict::of(!complete), detail)
    };
    Check::new(name, verdict, detail).as_objective()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn acc(quality: &str, end: &str) -> DeployAcc {
        let mut acc = DeployAcc::default();
        acc.change(0, state::LB, "app1:healthy");
        acc.change(10 * S, state::DEPLOY, &format!("start v2 canary drain_s=2 version={quality}"));
        acc.complete(5 * S, true);
        acc.complete(11 * S, true);
        acc.complete(12 * S, false);
        acc.change(14 * S, state::DEPLOY, "analysis failed: error rate 0.30 > 0.05 (1/2)");
        acc.change(15 * S, state::DEPLOY, "step 1/3 weight 25%");
        acc.change(19 * S, state::DEPLOY, end);
        acc.complete(20 * S, true);
        acc.complete(22 * S, true);
        assert!(acc.sample(16 * S, gauge::DEPLOY_NEW_READY, 1));
        assert!(!acc.sample(16 * S, gauge::POOL_READY, 1));
        acc
    }

    #[test]
    fn an_aborted_canary_reports_its_failures_and_its_time_to_roll_back() {
        let (report, check) = acc("bad(fail_requests=30)", "aborted: error rate 0.30 > 0.05").finish().unwrap();
        assert_eq!((report.outcome.as_str(), report.reason.as_str()), ("aborted", "error rate 0.30 > 0.05"));
        assert_eq!((report.start_s, report.end_s), (10.0, Some(19.0)));
        assert_eq!(report.failed_requests, 2, "invoked from the start to the end plus the drain");
        assert_eq!(report.time_to_rollback_s, Some(5.0));
        assert_eq!(report.counts, vec![DeployCount { t_s: 16.0, new_ready: 1, old_ready: 0 }]);
        assert_eq!(check.verdict, Verdict::Pass, "{}", check.detail);
    }

    #[test]
    fn the_check_fails_a_bad_version_that_completes_and_a_healthy_one_with_failures() {
        let (_, check) = acc("bad(fail_requests=30)", "complete").finish().unwrap();
        assert_eq!(check.verdict, Verdict::Fail);
        let (report, check) = acc("ok", "complete").finish().unwrap();
        assert_eq!(report.failed_requests, 2);
        assert_eq!(check.verdict, Verdict::Fail);
        let mut clean = DeployAcc::default();
        clean.change(10 * S, state::DEPLOY, "start v2 rolling drain_s=2 version=ok");
        clean.complete(11 * S, false);
        clean.change(19 * S, state::DEPLOY, "complete");
        let (_, check) = clean.finish().unwrap();
        assert_eq!(check.verdict, Verdict::Pass, "{}", check.detail);
        assert!(DeployAcc::default().finish().is_none());
    }
}
