//! Expected failures: the checks a scenario is built to fail.
//!
//! A teaching scenario shows a failure on purpose (a partition that costs availability, a
//! replica that lags past its staleness bound). It names those checks, and the run passes when
//! they fail and fails when one of them holds or another check fails, so a library of such
//! scenarios is a regression suite that runs green.
//!
//! Owns: which checks an expected name marks ([`matches`]), and the marking of a report
//! ([`Report::expect_failures`]). Must not: judge a check (its verdict stays what the run
//! measured; only its meaning for the run turns, see [`Check::outcome`]).

use super::{Check, Report, Verdict};

/// Whether the expected name `expected` names the check `check`: the whole name, or its first
/// words up to a space or a colon ("staleness" names "staleness <= 250.0 ms"; "little's law"
/// names "little's law: db").
pub fn matches(expected: &str, check: &str) -> bool {
    match check.strip_prefix(expected) {
        Some(rest) => rest.is_empty() || rest.starts_with([' ', ':']),
        None => false,
    }
}

impl Report {
    /// Marks the checks named by `expected` as expected to fail. A name that marks no check
    /// adds a failed check saying so: a teaching failure that no longer runs is a regression
    /// too, and a misspelt name must not pass silently.
    pub fn expect_failures(&mut self, expected: &[String]) {
        for name in expected {
            let mut found = false;
            for check in self.checks.iter_mut().filter(|c| matches(name, &c.name)) {
                check.expected_to_fail = true;
                found = true;
            }
            if !found {
                self.no_check_named(name, "expected failure");
            }
        }
    }

    /// Adds a failed check `WHAT "NAME"` saying that no check of the run is named `name` (a
    /// name a scenario wrote that names nothing must not pass silently).
    pub(super) fn no_check_named(&mut self, name: &str, what: &str) {
        let ran: Vec<&str> = self.checks.iter().map(|c| c.name.as_str()).collect();
        let detail = format!("no check named {name:?} ran; the checks were: {}", ran.join(", "));
        self.checks.push(Check::new(format!("{what} {name:?}"), Verdict::Fail, detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testkit::{MS, Stream};
    use crate::slo::{Slo, SloKind};
    use crate::trace::Outcome;

    #[test]
    fn a_name_is_a_whole_name_or_its_first_words() {
        assert!(matches("availability at least 99%", "availability at least 99%"));
        assert!(matches("staleness", "staleness <= 250.0 ms"));
        assert!(matches("little's law", "little's law: db"));
        assert!(!matches("little", "little's law: db"), "not inside a word");
        assert!(!matches("availability at least 99.9%", "availability at least 99%"));
        assert!(!matches("law", "little's law: db"), "a prefix only");
    }

    /// A run of 10 requests, the last 5 timing out, against 90% availability: it fails.
    fn failing() -> Report {
        let mut stream = Stream::new(1, 1);
        stream.slo(Slo {
            name: "availability at least 90%".into(),
            service: None,
            kind: SloKind::Availability { min_ratio: 0.9 },
        });
        for i in 0..10 {
            let outcome = if i < 5 { Outcome::Ok } else { Outcome::Timeout };
            stream.request(i * 100 * MS, MS, outcome);
        }
        stream.analyze()
    }

    #[test]
    fn an_expected_failure_passes_the_run_and_a_held_one_fails_it() {
        let report = failing();
        assert_eq!(report.verdict(), Verdict::Fail);
        let mut expected = report.clone();
        expected.expect_failures(&["availability".into()]);
        assert_eq!(expected.verdict(), Verdict::Pass, "{:?}", expected.checks);
        let names: Vec<&str> = expected.expected_failures().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["availability at least 90%"]);
        assert_eq!(expected.failures().count(), 0);
        assert!(expected.render_text().contains("XFAIL"), "{}", expected.render_text());
        // The same expectation on a run where the objective held.
        let mut held = report.clone();
        held.checks.iter_mut().for_each(|c| c.verdict = Verdict::Pass);
        held.expect_failures(&["availability".into()]);
        assert_eq!(held.verdict(), Verdict::Fail);
        assert!(held.render_text().contains("XPASS"), "{}", held.render_text());
    }

    #[test]
    fn a_name_no_check_has_fails_the_run_and_says_what_ran() {
        let mut report = failing();
        report.expect_failures(&["availability".into(), "linearizable".into()]);
        let failed: Vec<&Check> = report.failures().collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].name, "expected failure \"linearizable\"");
        assert!(failed[0].detail.contains("availability at least 90%"), "{}", failed[0].detail);
        assert_eq!(report.verdict(), Verdict::Fail);
    }
}
