//! Exit codes: the one place outcomes become process exit statuses.

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
    /// The simulator itself failed (a panic, or a host's software erred): nothing was judged,
    /// and the reproduce line says how to see it again. (3 is kept for "undecided".)
    Internal,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> ExitCode {
        ExitCode::from(match self {
            Exit::Pass => 0,
            Exit::CheckFailed => 1,
            Exit::BadInput => 2,
            Exit::Internal => 4,
        })
    }

    /// Pass if `ok`, else CheckFailed.
    pub fn from_pass(ok: bool) -> Exit {
        if ok { Exit::Pass } else { Exit::CheckFailed }
    }
}
