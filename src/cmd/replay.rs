//! `faultline replay`: re-runs a scenario with a seed (the same path as `faultline run`), writes
//! its trace, and opens the replay GUI on it.
//!
//! The trace goes to `--out DIR/trace.fltrace`, or to a directory under the system's temporary
//! directory named after the scenario and seed (kept, so the trace can be opened again with
//! `faultline gui`). A run that fails opens no window: a panic inside it is an internal error
//! (exit 4), like `faultline run`'s.

use super::gui::{self, Options};
use super::run::{Variant, failed, reproduce_with, simulate_with};
use super::{fail, load};
use crate::exit::Exit;
use std::path::{Path, PathBuf};

/// `faultline replay FILE --seed N [--swarm]`.
pub fn run(file: &Path, seed: Option<u64>, variant: Variant, out: Option<&Path>, options: Options) -> Exit {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let seed_used = seed.unwrap_or(scenario.seed);
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| default_dir(&scenario.name, seed_used));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail(&format!("cannot create {}", dir.display()), e);
    }
    let trace = dir.join("trace.fltrace");
    outln!("faultline replay: scenario {:?}, seed {seed_used}", scenario.name);
    let reproduce = reproduce_with(file, seed_used, &variant);
    outln!("reproduce: {reproduce}");
    if let Err(failure) =
        simulate_with(&scenario, Some(seed_used), Some(&trace), variant.faults(), variant.plant, variant.engine)
    {
        return failed(&failure, &reproduce);
    }
    outln!("trace: {} (open again with: faultline gui {})", trace.display(), trace.display());
    gui::run(&trace, options)
}

/// `<temp>/faultline-replay/<scenario>-seed-<N>`, the scenario name kept to safe characters.
fn default_dir(scenario: &str, seed: u64) -> PathBuf {
    let name: String =
        scenario.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    std::env::temp_dir().join("faultline-replay").join(format!("{name}-seed-{seed}"))
}
