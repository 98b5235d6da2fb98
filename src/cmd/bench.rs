//! `faultline bench [--quick]`: runs the echo benchmark (`faultline::bench::suite`), prints
//! the table and the headline figures with their targets. A missed target is printed as MISS
//! but still exits 0: this is a measurement, not a test. Only a run that could not be
//! measured at all (a failure inside a simulation) exits non-zero.

use crate::exit::Exit;
use faultline::bench::suite::{self, Plan};

/// Runs the benchmark; `quick` uses short simulated durations.
pub fn run(quick: bool) -> Exit {
    let plan = if quick { Plan::quick() } else { Plan::full() };
    eprintln!(
        "faultline bench{}: closed-loop echo, 64-byte requests, 1 ms links, 1 ms tick ({} cores)",
        if quick { " --quick" } else { "" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let mut progress = |what: &str| eprintln!("  measuring {what}");
    match suite::run(&plan, &mut progress) {
        Ok(results) => {
            outln!("{}", suite::render(&results));
            let missed = results.headlines.iter().filter(|h| !h.pass).count();
            if missed > 0 {
                outln!("MISS: {missed} of {} targets missed (see docs/performance.md)", results.headlines.len());
            }
            Exit::Pass
        }
        Err(e) => {
            eprintln!("error: faultline bench: {e}");
            Exit::CheckFailed
        }
    }
}
