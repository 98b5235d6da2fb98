//! A check as data: its [`Verdict`] (pass, fail, or could not decide) and the [`Evidence`] that
//! shows it, so tools and the GUI read where and why a check broke without parsing words.
//!
//! Owns: [`Check`], [`Verdict`] (and how verdicts fold), [`Evidence`] and its bound on listed
//! requests. Must not: judge anything (the SLO checks are in `checks`, the data tier's in
//! `crate::check::verdict`), or format more than the one-line evidence text.
//!
//! A check says [`Verdict::Unknown`] when it could not decide: the linearizability search ran
//! out of budget, there was nothing to measure, or the run ended before the bound could be
//! reached. Unknown is never a pass.

use crate::trace::text::seconds_text;
use serde::{Deserialize, Serialize};

/// The most request ids one check's evidence keeps (the total is counted beside them).
pub const MAX_EVIDENCE_REQUESTS: usize = 20;
/// The most request ids [`Evidence::text`] shows (the JSON has every kept one).
const TEXT_REQUESTS: usize = 6;

/// What a check concluded.
///
/// Ordered by weight: `Pass < Unknown < Fail`, so the verdict of several checks is their
/// maximum ([`Verdict::fold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// It held.
    Pass,
    /// It could not be decided (not a pass).
    Unknown,
    /// It did not hold.
    Fail,
}

impl Verdict {
    /// Pass when `holds`, else Fail.
    pub fn of(holds: bool) -> Verdict {
        if holds { Verdict::Pass } else { Verdict::Fail }
    }

    /// The verdict of several checks: Fail beats Unknown beats Pass; Pass when there are none.
    pub fn fold(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().max().unwrap_or(Verdict::Pass)
    }

    /// `PASS`, `FAIL` or `UNKNOWN`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Unknown => "UNKNOWN",
        }
    }
}

/// Where and how a check broke (or, for a check that passed, what it measured against).
/// Every field may be empty: a check that needs no moment (a trace anomaly) has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// When it broke, nanoseconds since the start of the run.
    pub t_ns: Option<u64>,
    /// The hosts involved, as indices into the trace header's hosts, ascending.
    pub hosts: Vec<u16>,
    /// Request ids of the operations that show it, at most [`MAX_EVIDENCE_REQUESTS`].
    pub requests: Vec<u64>,
    /// How many requests show it in all (at least `requests.len()`).
    pub requests_total: u64,
}

impl Evidence {
    /// Evidence at time `t_ns` (if any), nothing else yet.
    pub fn at(t_ns: Option<u64>) -> Evidence {
        Evidence { t_ns, ..Evidence::default() }
    }

    /// With `hosts` (sorted and deduplicated here).
    pub fn with_hosts(mut self, hosts: impl IntoIterator<Item = u16>) -> Evidence {
        self.hosts.extend(hosts);
        self.hosts.sort_unstable();
        self.hosts.dedup();
        self
    }

    /// With `requests` (kept up to the bound, in order) out of `total` in all.
    pub fn with_requests(mut self, requests: impl IntoIterator<Item = u64>, total: u64) -> Evidence {
        self.requests.extend(requests.into_iter().take(MAX_EVIDENCE_REQUESTS));
        self.requests_total = total.max(self.requests.len() as u64);
        self
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        *self == Evidence::default()
    }

    /// One line for people: `at 10.000000 s; hosts db1, db2; req 20, 22`, at most six request
    /// ids, then the total; hosts by `names` (the header's host names by index). Empty when
    /// there is no evidence.
    pub fn text(&self, names: &[String]) -> String {
        let mut parts = Vec::new();
        if let Some(t_ns) = self.t_ns {
            parts.push(format!("at {} s", seconds_text(t_ns).trim_start()));
        }
        if !self.hosts.is_empty() {
            let name = |h: &u16| names.get(*h as usize).cloned().unwrap_or_else(|| format!("host#{h}"));
            parts.push(format!("hosts {}", self.hosts.iter().map(name).collect::<Vec<_>>().join(", ")));
        }
        if !self.requests.is_empty() {
            let ids: Vec<String> = self.requests.iter().take(TEXT_REQUESTS).map(u64::to_string).collect();
            let more = match self.requests_total > ids.len() as u64 {
                true => format!(", ... ({} in all)", self.requests_total),
                false => String::new(),
            };
            parts.push(format!("req {}{more}", ids.join(", ")));
        }
        parts.join("; ")
    }
}

/// One check: its verdict, the measured value in words, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held, failed, or could not be decided.
    pub verdict: Verdict,
    /// The measured value and the bound, in words.
    pub detail: String,
    /// Where it broke, as data.
    #[serde(default)]
    pub evidence: Evidence,
    /// The scenario is built to fail it (a teaching scenario shows a failure on purpose): its
    /// failure passes the run, and its holding fails it (see [`Check::outcome`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expected_to_fail: bool,
    /// An objective (an SLO, an RTO, a deploy's promise) rather than an invariant: random
    /// faults may break any objective, so a swarm run judges invariants only unless its
    /// scenario names the checks it judges.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub objective: bool,
    /// Measured but not judged: this run leaves it out of its verdict (a swarm run's
    /// objectives). Its verdict stays what was measured.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_judged: bool,
}

impl Check {
    /// A check with no evidence yet.
    pub fn new(name: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            verdict,
            detail: detail.into(),
            evidence: Evidence::default(),
            expected_to_fail: false,
            objective: false,
            not_judged: false,
        }
    }

    /// The same check, marked as an objective rather than an invariant.
    pub fn as_objective(mut self) -> Check {
        self.objective = true;
        self
    }

    /// The same check with `evidence`.
    pub fn with(mut self, evidence: Evidence) -> Check {
        self.evidence = evidence;
        self
    }

    /// Whether it held.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// What it means for the run: its verdict, or, for a check the scenario is built to fail,
    /// Pass when it failed, Fail when it held (an expected failure that did not come is a
    /// regression of the teaching), Unknown when it could not decide.
    pub fn outcome(&self) -> Verdict {
        match (self.expected_to_fail, self.verdict) {
            _ if self.not_judged => Verdict::Pass,
            (false, verdict) => verdict,
            (true, Verdict::Fail) => Verdict::Pass,
            (true, Verdict::Pass) => Verdict::Fail,
            (true, Verdict::Unknown) => Verdict::Unknown,
        }
    }

    /// `PASS`, `FAIL` or `UNKNOWN`; for a check expected to fail, `XFAIL` when it failed as
    /// expected and `XPASS` when it held (which fails the run); in parentheses for a check
    /// measured but not judged.
    pub fn label(&self) -> &'static str {
        match (self.expected_to_fail, self.verdict) {
            _ if self.not_judged => match self.verdict {
                Verdict::Pass => "(PASS)",
                Verdict::Fail => "(FAIL)",
                Verdict::Unknown => "(UNKNOWN)",
            },
            (false, verdict) | (true, verdict @ Verdict::Unknown) => verdict.label(),
            (true, Verdict::Fail) => "XFAIL",
            (true, Verdict::Pass) => "XPASS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_beats_unknown_beats_pass() {
        use Verdict::{Fail, Pass, Unknown};
        assert_eq!(Verdict::fold([]), Pass);
        assert_eq!(Verdict::fold([Pass, Pass]), Pass);
        assert_eq!(Verdict::fold([Pass, Unknown, Pass]), Unknown);
        assert_eq!(Verdict::fold([Unknown, Fail, Pass]), Fail);
        assert_eq!(Verdict::fold([Fail, Unknown]), Fail);
        assert_eq!((Verdict::of(true), Verdict::of(false)), (Pass, Fail));
    }

    #[test]
    fn an_expected_failure_turns_the_outcome_round() {
        let mut check = Check::new("availability", Verdict::Fail, "80%");
        assert_eq!((check.outcome(), check.label()), (Verdict::Fail, "FAIL"));
        check.expected_to_fail = true;
        assert_eq!((check.outcome(), check.label()), (Verdict::Pass, "XFAIL"));
        check.verdict = Verdict::Pass;
        assert_eq!((check.outcome(), check.label()), (Verdict::Fail, "XPASS"), "a teaching failure that did not come");
        check.verdict = Verdict::Unknown;
        assert_eq!((check.outcome(), check.label()), (Verdict::Unknown, "UNKNOWN"));
        let json = serde_json::to_string(&Check::new("a", Verdict::Pass, "")).unwrap();
        assert!(!json.contains("expected_to_fail"), "absent unless set: {json}");
    }

    #[test]
    fn a_check_not_judged_passes_the_run_whatever_it_measured() {
        let mut check = Check::new("availability", Verdict::Fail, "80%").as_objective();
        check.not_judged = true;
        assert_eq!((check.verdict, check.outcome(), check.label()), (Verdict::Fail, Verdict::Pass, "(FAIL)"));
        check.expected_to_fail = true;
        assert_eq!((check.outcome(), check.label()), (Verdict::Pass, "(FAIL)"), "not judged wins");
        check.verdict = Verdict::Unknown;
        assert_eq!((check.outcome(), check.label()), (Verdict::Pass, "(UNKNOWN)"));
        let json = serde_json::to_string(&check).unwrap();
        assert!(json.contains("\"objective\":true") && json.contains("\"not_judged\":true"), "{json}");
        let plain = serde_json::to_string(&Check::new("a", Verdict::Pass, "")).unwrap();
        assert!(!plain.contains("objective") && !plain.contains("not_judged"), "absent unless set: {plain}");
    }

    #[test]
    fn verdicts_serialize_as_words() {
        assert_eq!(serde_json::to_string(&Verdict::Unknown).unwrap(), "\"unknown\"");
        assert_eq!(serde_json::from_str::<Verdict>("\"fail\"").unwrap(), Verdict::Fail);
        assert!(serde_json::from_str::<Verdict>("\"maybe\"").is_err());
    }

    #[test]
    fn evidence_keeps_a_bounded_list_and_the_total() {
        let evidence = Evidence::at(Some(3)).with_hosts([4, 1, 4]).with_requests(0..100, 100);
        assert_eq!(evidence.hosts, [1, 4]);
        assert_eq!(evidence.requests.len(), MAX_EVIDENCE_REQUESTS);
        assert_eq!(evidence.requests_total, 100);
        let few = Evidence::default().with_requests([7, 9], 0);
        assert_eq!(few.requests_total, 2, "the total is never below what is listed");
        assert!(Evidence::default().is_empty());
        assert!(!few.is_empty());
    }

    #[test]
    fn evidence_text() {
        let names: Vec<String> = ["lg0", "db1", "db2"].map(String::from).to_vec();
        let evidence = Evidence::at(Some(10_000_000_000)).with_hosts([2, 1]).with_requests([20, 22], 2);
        assert_eq!(evidence.text(&names), "at 10.000000 s; hosts db1, db2; req 20, 22");
        let many = Evidence::default().with_requests([5], 40).with_hosts([9]);
        assert_eq!(many.text(&names), "hosts host#9; req 5, ... (40 in all)");
        let long = Evidence::default().with_requests(1..=8, 8);
        assert_eq!(long.text(&names), "req 1, 2, 3, 4, 5, 6, ... (8 in all)", "the JSON keeps all eight");
        assert_eq!(Evidence::default().text(&names), "");
    }
}
