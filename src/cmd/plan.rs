//! `faultline plan`: the run plan a scenario compiles to, printed without running it; with
//! `--swarm`, the faults a swarm run of the seed would draw are in its schedule.

use super::load;
use crate::cli::Format;
use crate::exit::Exit;
use std::path::Path;

pub fn run(file: &Path, seed: Option<u64>, format: Format, swarm: bool) -> Exit {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let mut plan = faultline_sim::compile(&scenario, seed);
    if swarm {
        faultline_sim::swarm::apply(&scenario, &mut plan, &faultline_sim::swarm::Faults::Swarm);
    }
    match format {
        Format::Text => out!("{}", plan.render_text()),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&plan).expect("plans serialize")),
    }
    Exit::Pass
}
