//! The sparse workload: long simulated time with little happening in it, where an engine's cost
//! per simulated second, not per request, decides the wall time. One request a second (Poisson)
//! from one load generator to four echo servers, five hosts in all, for an hour in the full
//! plan: what an autoscaler's day, a slow lag drift or a week of expiries look like at rest.
//!
//! The run is recorded twice, with sparse gauge samples (the default) and with every gauge at
//! every sampling time, so the trace's size is measured beside the dense recording it replaces.
//!
//! Owns: the sparse scenario's text and its measured runs. Must not: reach into the world's
//! internals: it sees only what a user of the library sees.

use super::BenchError;
use faultline_chaos::trace::Event;
use faultline_chaos::trace::codec::TraceReader;
use faultline_sim::{RecordConfig, RunOptions};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Echo servers; with the load generator, five hosts.
pub const SERVERS: u32 = 4;

/// One recording of the sparse run.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseRun {
    /// The engine that ran it.
    pub engine: faultline_sim::Engine,
    /// Whether every gauge was sampled at every sampling time.
    pub every_sample: bool,
    /// Simulated time at the end.
    pub simulated: Duration,
    /// Wall time of parsing, building, running and reporting.
    pub wall: Duration,
    /// Requests answered.
    pub requests: u64,
    /// Records in the trace, and of which gauge samples.
    pub records: u64,
    /// Gauge samples among them.
    pub samples: u64,
    /// Bytes of the compressed trace.
    pub trace_bytes: u64,
}

impl SparseRun {
    /// Simulated seconds per wall second.
    pub fn sim_per_wall(&self) -> f64 {
        self.simulated.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The scenario: [`SERVERS`] echo servers on 1 ms links, one load generator sending one request
/// a second on average to them in turn, for `duration`.
pub fn scenario_toml(duration: Duration) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "name = \"bench-sparse\"");
    let _ = writeln!(text, "description = \"faultline bench: one request a second over five hosts\"");
    let _ = writeln!(text, "duration = \"{}s\"", duration.as_secs().max(1));
    let _ = writeln!(text, "window = \"60s\"");
    let _ = writeln!(text, "\n[network]\nlatency = \"1ms\"");
    for s in 0..SERVERS {
        let _ = writeln!(text, "\n[[hosts]]\nname = \"s{s}\"\nservice = \"echo\"");
    }
    let targets: Vec<String> = (0..SERVERS).map(|s| format!("\"s{s}\"")).collect();
    let _ = writeln!(text, "\n[workload]\ntargets = [{}]", targets.join(", "));
    let _ = writeln!(text, "users = 10\nloadgens = 1\narrival = {{ poisson = {{ rate = 1 }} }}");
    text
}

/// The trace's bytes, kept to be read back.
struct Bytes(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Bytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the scenario for `duration`, recorded sparsely or with every sample. The wall time
/// covers parsing, building, running and the report (the trace is kept in memory, then read
/// back outside the timed part to count its samples).
pub fn run(duration: Duration, every_sample: bool, engine: faultline_sim::Engine) -> Result<SparseRun, BenchError> {
    let text = scenario_toml(duration);
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let scenario =
        faultline_sim::scenario::parse_str("bench", &text).map_err(|e| BenchError::Scenario(e.to_string()))?;
    let options = RunOptions {
        trace: Some(Box::new(Bytes(bytes.clone()))),
        record: RecordConfig { every_sample, ..RecordConfig::default() },
        engine,
        ..RunOptions::default()
    };
    let outcome = faultline_sim::run(&scenario, options).map_err(|e| BenchError::Run(e.to_string()))?;
    let wall = started.elapsed();
    let bytes = bytes.lock().map_err(|_| BenchError::Run("the trace buffer was poisoned".into()))?;
    let mut reader = TraceReader::new(&bytes[..]).map_err(|e| BenchError::Run(e.to_string()))?;
    let mut samples = 0;
    while let Some(record) = reader.next_record().map_err(|e| BenchError::Run(e.to_string()))? {
        samples += u64::from(matches!(record.event, Event::Sample { .. }));
    }
    Ok(SparseRun {
        engine,
        every_sample,
        simulated: outcome.simulated,
        wall,
        requests: outcome.report.end_to_end.ok,
        records: outcome.records,
        samples,
        trace_bytes: bytes.len() as u64,
    })
}

/// The lines `faultline bench` prints for the two recordings.
pub fn render(runs: &[SparseRun]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9} {:>11}",
        "sparse, 5 hosts", "sim", "wall", "sim-s/wall", "requests", "records", "samples", "trace bytes"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>9} {:>11.0} {:>9} {:>9} {:>9} {:>11}",
            format!("{}, {}", r.engine.name(), if r.every_sample { "every sample" } else { "sparse" }),
            format!("{:.0}s", r.simulated.as_secs_f64()),
            format!("{:.2}s", r.wall.as_secs_f64()),
            r.sim_per_wall(),
            r.requests,
            r.records,
            r.samples,
            r.trace_bytes,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_has_five_hosts_and_one_request_a_second() {
        let text = scenario_toml(Duration::from_secs(3600));
        let scenario = faultline_sim::scenario::parse_str("bench", &text).expect("the sparse scenario is valid");
        assert_eq!(scenario.hosts.len() + *scenario.workload.loadgens.get_ref() as usize, 5);
        assert!(text.contains("duration = \"3600s\""));
        assert!(text.contains("rate = 1 }"));
    }

    #[test]
    fn a_sparse_recording_holds_fewer_samples_and_as_many_requests() {
        let turmoil = faultline_sim::Engine::Turmoil;
        let sparse = run(Duration::from_secs(20), false, turmoil).expect("the sparse run");
        let dense = run(Duration::from_secs(20), true, turmoil).expect("the dense run");
        assert_eq!(sparse.requests, dense.requests, "recording does not change the run");
        assert!(sparse.requests >= 5, "about 20 requests: {}", sparse.requests);
        assert!(sparse.samples * 3 < dense.samples, "{} samples against {}", sparse.samples, dense.samples);
        assert_eq!(dense.records - dense.samples, sparse.records - sparse.samples, "the same other records");
        let madsim = run(Duration::from_secs(20), false, faultline_sim::Engine::Madsim).expect("the madsim run");
        assert!(madsim.requests >= 5, "about 20 requests on madsim: {}", madsim.requests);
        assert!(madsim.samples * 3 < dense.samples, "{} samples on madsim against {}", madsim.samples, dense.samples);
        assert!(render(&[sparse, dense, madsim]).lines().count() == 4);
    }
}
