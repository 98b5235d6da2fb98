//! One run of the capacity search: a plan under one seed, measured from its report and trace.
//!
//! The trace (network messages left out) is kept in memory and read back once: it gives the
//! latency of every successful request, whose 99th percentile (nearest rank, exact) is what the
//! objective bounds, and the gauges' samples that say which resource saturated. Availability
//! and throughput are the report's end-to-end figures.
//!
//! Owns: what one run yields. Must not: decide whether a rate passes (the command does), or
//! print.

use super::saturation::{self, Limits, Onset, Point, Samples};
use crate::cmd::run::{Failure, guarded};
use faultline_chaos::trace::codec::TraceReader;
use faultline_chaos::trace::{Event, Record};
use faultline_sim::{Output, RecordConfig, RunPlan, World};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// What one run at one rate and seed gave.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figures {
    /// The seed.
    pub seed: u64,
    /// Requests issued.
    pub requests: u64,
    /// Successful requests / requests ended; `None` when none was issued.
    pub availability: Option<f64>,
    /// 99th percentile latency of the successful requests, milliseconds; `None` without one.
    pub p99_ms: Option<f64>,
    /// Successful requests per simulated second.
    pub throughput_rps: f64,
    /// The resource that saturated first, if any did.
    pub saturated: Option<Onset>,
}

/// A trace kept in memory, shared with the world's sink thread.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("trace buffer poisoned"))?.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `plan` (its seed set) and measures it; `limits` are its hosts' by trace index.
pub fn measure(plan: &RunPlan, limits: &[Limits]) -> Result<Figures, Failure> {
    let buffer = Buffer::default();
    let output = Output { trace: Some(Box::new(buffer.clone())), record: RecordConfig { messages: false } };
    let outcome = guarded(|| World::build(plan, output)?.run())?;
    let bytes = std::mem::take(&mut *buffer.0.lock().expect("the run is over: nothing holds the lock"));
    let (latencies_ns, samples) = read_trace(&bytes).map_err(Failure::Internal)?;
    let end_to_end = &outcome.report.end_to_end;
    Ok(Figures {
        seed: plan.seed,
        requests: end_to_end.requests,
        availability: end_to_end.availability,
        p99_ms: p99_ms(latencies_ns),
        throughput_rps: end_to_end.throughput_rps,
        saturated: saturation::first(&samples, limits),
    })
}

/// The latencies of the successful requests, and the gauges' samples.
fn read_trace(bytes: &[u8]) -> Result<(Vec<u64>, Samples), String> {
    let what = |e| format!("reading back the run's own trace: {e}");
    let mut reader = TraceReader::new(bytes).map_err(what)?;
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut latencies_ns = Vec::new();
    let mut samples = Samples::default();
    while let Some(Record { t_ns, event }) = reader.next_record().map_err(what)? {
        match event {
            Event::Invoke { req, .. } => {
                invoked.insert(req, t_ns);
            }
            Event::Complete { req, outcome } => {
                if let Some(start_ns) = invoked.remove(&req)
                    && outcome.is_success()
                {
                    latencies_ns.push(t_ns.saturating_sub(start_ns));
                }
            }
            Event::Sample { host, gauge, last, mean } => samples.push(host, &gauge, Point { t_ns, last, mean }),
            Event::Served { .. }
            | Event::Message { .. }
            | Event::State { .. }
            | Event::Power { .. }
            | Event::Fault(_)
            | Event::End
            | Event::Role { .. }
            | Event::Observed { .. } => {}
        }
    }
    Ok((latencies_ns, samples))
}

/// The 99th percentile by nearest rank, milliseconds.
fn p99_ms(mut latencies_ns: Vec<u64>) -> Option<f64> {
    latencies_ns.sort_unstable();
    let rank = (latencies_ns.len() as f64 * 0.99).ceil() as usize;
    latencies_ns.get(rank.checked_sub(1)?).map(|&ns| ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_99th_percentile_is_the_nearest_rank() {
        assert_eq!(p99_ms(Vec::new()), None);
        assert_eq!(p99_ms(vec![5_000_000]), Some(5.0));
        let hundred: Vec<u64> = (1..=100).rev().map(|ms| ms * 1_000_000).collect();
        assert_eq!(p99_ms(hundred), Some(99.0));
        let thousand: Vec<u64> = (1..=1_000).map(|ms| ms * 1_000_000).collect();
        assert_eq!(p99_ms(thousand), Some(990.0));
        assert_eq!(p99_ms(vec![1_000_000, 2_000_000, 3_000_000]), Some(3.0));
    }
}
