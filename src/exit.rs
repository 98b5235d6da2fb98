//! Exit codes: the one place outcomes become process exit statuses.

use faultline_chaos::report::Verdict;
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every check held.
    Pass,
    /// At least one check failed (or runs were not deterministic).
    CheckFailed,
    /// Bad input or usage: nothing was judged.
    BadInput,
    /// No check failed, but at least one could not decide (a search ran out of budget, nothing
    /// to measure): not a pass.
    Undecided,
    /// The simulator itself failed (a panic, or a host's software erred): nothing was judged,
    /// and the reproduce line says how to see it again.
    Internal,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> ExitCode {
        ExitCode::from(match self {
            Exit::Pass => 0,
            Exit::CheckFailed => 1,
            Exit::BadInput => 2,
            Exit::Undecided => 3,
            Exit::Internal => 4,
        })
    }

    /// The exit of a verdict: Pass 0, Fail 1, Unknown 3.
    pub fn from_verdict(verdict: Verdict) -> Exit {
        match verdict {
            Verdict::Pass => Exit::Pass,
            Verdict::Fail => Exit::CheckFailed,
            Verdict::Unknown => Exit::Undecided,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_map_to_their_codes() {
        assert_eq!(Exit::from_verdict(Verdict::Pass), Exit::Pass);
        assert_eq!(Exit::from_verdict(Verdict::Fail), Exit::CheckFailed);
        assert_eq!(Exit::from_verdict(Verdict::Unknown), Exit::Undecided);
        assert_eq!(Exit::Undecided.code(), ExitCode::from(3));
        let folded = Verdict::fold([Verdict::Unknown, Verdict::Pass]);
        assert_eq!(Exit::from_verdict(folded), Exit::Undecided, "undecided beats pass");
    }
}
