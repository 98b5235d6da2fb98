//! The echo workload as a Faultline scenario: the TOML text a user would write, parsed by the
//! scenario loader and run by `faultline_sim::run` with default options (every event recorded
//! and hashed, the report built), exactly as `faultline run` would run it.
//!
//! Owns: the bench scenario's text and the measured run. Must not: reach into the world's
//! internals: it sees only what a user of the library sees.

use super::{BenchError, Engine, LINK_LATENCY, Measurement, PAYLOAD_BYTES, Topology};
use faultline_sim::RunOptions;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The scenario text of the workload: `servers` echo hosts `s0`, `s1`, ... on 1 ms links with a
/// 1 ms tick, and `users` closed-loop users with no think time on `loadgens` load generators,
/// each user sending 64-byte echo requests to server `user % servers`.
pub fn scenario_toml(topology: Topology, loadgens: u32, duration: Duration) -> String {
    let ms = |d: Duration| d.as_millis();
    let mut text = String::new();
    let _ = writeln!(text, "name = \"bench-echo-{}x{}\"", topology.servers, topology.users);
    let _ = writeln!(text, "description = \"faultline bench: closed-loop echo\"");
    let _ = writeln!(text, "duration = \"{}ms\"", ms(duration));
    let _ = writeln!(text, "tick = \"{}ms\"", ms(LINK_LATENCY));
    let _ = writeln!(text, "\n[network]\nlatency = \"{}ms\"", ms(LINK_LATENCY));
    for s in 0..topology.servers {
        let _ = writeln!(text, "\n[[hosts]]\nname = \"s{s}\"\nservice = \"echo\"");
    }
    let targets: Vec<String> = (0..topology.servers).map(|s| format!("\"s{s}\"")).collect();
    let _ = writeln!(text, "\n[workload]\ntargets = [{}]", targets.join(", "));
    let _ = writeln!(text, "users = {}\nloadgens = {loadgens}", topology.users);
    let _ = writeln!(text, "arrival = {{ closed = {{ think = \"0ms\" }} }}");
    let _ = writeln!(text, "value_bytes = {PAYLOAD_BYTES}\ntimeout = \"10s\"");
    text
}

/// Parses and runs the scenario of [`scenario_toml`] with default options (the trace is
/// encoded and hashed, then discarded). The wall time covers parsing, building, running and
/// the report; round trips are the report's successful end-to-end requests.
pub fn run(topology: Topology, loadgens: u32, duration: Duration) -> Result<Measurement, BenchError> {
    run_on(topology, loadgens, duration, faultline_sim::Engine::Turmoil)
}

/// Like [`run`], on `engine`.
pub fn run_on(
    topology: Topology,
    loadgens: u32,
    duration: Duration,
    engine: faultline_sim::Engine,
) -> Result<Measurement, BenchError> {
    let text = scenario_toml(topology, loadgens, duration);
    let started = Instant::now();
    let scenario =
        faultline_sim::scenario::parse_str("bench", &text).map_err(|e| BenchError::Scenario(e.to_string()))?;
    let options = RunOptions { engine, ..RunOptions::default() };
    let outcome = faultline_sim::run(&scenario, options).map_err(|e| BenchError::Run(e.to_string()))?;
    let wall = started.elapsed();
    let round_trips = outcome.report.end_to_end.ok;
    Ok(Measurement {
        engine: match engine {
            faultline_sim::Engine::Turmoil => Engine::Faultline { loadgens },
            faultline_sim::Engine::Madsim => Engine::FaultlineMadsim { loadgens },
        },
        topology,
        hosts: topology.servers + loadgens,
        round_trips,
        simulated: outcome.simulated,
        wall,
        setup: None,
        complete: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_parses() {
        let text = scenario_toml(Topology::new(3, 8), 2, Duration::from_millis(200));
        let scenario = faultline_sim::scenario::parse_str("bench", &text).expect("the bench scenario is valid");
        assert_eq!(scenario.hosts.len(), 3);
        assert_eq!(*scenario.workload.users.get_ref(), 8);
        assert_eq!(*scenario.workload.loadgens.get_ref(), 2);
        assert_eq!(scenario.workload.targets.len(), 3);
    }
}
