//! `faultline check-determinism`: the same scenario and seed, K times; every trace hash equal.
//! Equal hashes are a pass and unequal ones a failure: this check always decides (a run that
//! cannot complete fails it).

use super::load;
use crate::exit::Exit;
use faultline_chaos::report::Verdict;
use std::path::Path;

pub fn run(file: &Path, seed: Option<u64>, runs: u32) -> Exit {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let seed = seed.unwrap_or(scenario.seed);
    let mut hashes = Vec::new();
    for i in 1..=runs {
        match super::run::simulate(&scenario, Some(seed), None) {
            Ok(o) => {
                outln!("run {i}/{runs}: seed {seed}, {} records, trace hash {}", o.records, o.hash);
                hashes.push(o.hash);
            }
            Err(e) => {
                eprintln!("error: run {i} failed: {e}");
                eprintln!("reproduce: {}", super::run::reproduce(file, seed));
                return e.exit();
            }
        }
    }
    let first = hashes[0];
    let verdict = Verdict::of(hashes.iter().all(|h| *h == first));
    match verdict {
        Verdict::Pass => {
            outln!("deterministic: {runs} runs of {} with seed {seed} gave trace hash {first}", file.display());
        }
        Verdict::Fail | Verdict::Unknown => {
            outln!("NOT deterministic: {runs} runs with seed {seed} gave different trace hashes");
            outln!("reproduce: faultline check-determinism {} --seed {seed} --runs {runs}", file.display());
        }
    }
    Exit::from_verdict(verdict)
}
