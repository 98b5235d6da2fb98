//! `faultline`: the command line. Glue only: arguments become one validated config, a library
//! call does the work, and [`exit::Exit`] maps every outcome to its code in one place
//! (0 every check holds, 1 a check failed, 2 bad input or usage, 4 internal error).

#[macro_use]
mod out;

mod cli;
mod cmd;
mod exit;

use clap::Parser;

/// A simulation allocates and frees a few small buffers per request (payloads, frames,
/// futures); mimalloc serves those faster than the system allocator: 6% of a run's wall time at
/// 10 servers / 100 users (`docs/performance.md`). Allocation never decides anything a run
/// does, so the trace is the same under either allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let exit = cmd::dispatch(cli);
    exit.code()
}
