//! One run of the capacity search: a plan under one seed, measured from its report and trace.
//!
//! The trace (network messages left out) streams through a bounded pipe to a reader thread as
//! the world writes it, so memory stays bounded however long the run: it gives the latency of
//! every successful request, counted per microsecond, whose 99th percentile (nearest rank) is
//! what the objective bounds, and the gauges' samples that say which resource saturated.
//! Availability and throughput are the report's end-to-end figures.
//!
//! Owns: what one run yields. Must not: decide whether a rate passes (the command does), or
//! print.

use super::saturation::{self, Limits, Onset, Point, Samples};
use crate::cmd::run::{Failure, guarded};
use faultline_chaos::trace::codec::TraceReader;
use faultline_chaos::trace::samples::Dense;
use faultline_chaos::trace::{Event, Record};
use faultline_sim::{Output, RecordConfig, RunPlan, TraceOut, World};
use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

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

/// Chunks of trace in flight between the world's sink and the reader.
const CHUNKS_IN_FLIGHT: usize = 16;

/// The world's end of the pipe: each write is one chunk.
struct PipeWriter(SyncSender<Vec<u8>>);

impl Write for PipeWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.send(bytes.to_vec()).map_err(|_| std::io::Error::other("the trace's reader stopped"))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The reader's end: the end of the stream is the writer dropped.
struct PipeReader {
    chunks: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.chunks.recv() {
                Ok(chunk) => (self.chunk, self.at) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Successful requests' latencies: how many took each whole microsecond.
type Latencies = BTreeMap<u64, u64>;

/// Runs `simulation` with a trace writer whose bytes `read` folds on its own thread as they
/// are written, and returns both results. `read` may stop early: the rest of the stream is
/// drained, so the world's writes never fail. The world must drop its writer when the run
/// ends, however it ends (a world does): the reader then stops.
pub fn piped<R, T: Send + 'static>(
    simulation: impl FnOnce(TraceOut) -> Result<R, Failure>,
    read: impl FnOnce(&mut dyn Read) -> T + Send + 'static,
) -> Result<(R, T), Failure> {
    let (sender, chunks) = sync_channel(CHUNKS_IN_FLIGHT);
    let reader = std::thread::Builder::new()
        .name("faultline-trace-reader".into())
        .spawn(move || {
            let mut input = PipeReader { chunks, chunk: Vec::new(), at: 0 };
            let folded = read(&mut input);
            let _drained = std::io::copy(&mut input, &mut std::io::sink());
            folded
        })
        .map_err(|e| Failure::Internal(format!("starting the trace's reader: {e}")))?;
    let outcome = simulation(Box::new(BufWriter::with_capacity(1 << 16, PipeWriter(sender))));
    let read = reader.join().map_err(|_| Failure::Internal("the trace's reader panicked".into()))?;
    Ok((outcome?, read))
}

/// Runs `plan` (its seed set) and measures it; `limits` are its hosts' by trace index.
pub fn measure(plan: &RunPlan, limits: &[Limits]) -> Result<Figures, Failure> {
    let (outcome, read) = piped(
        |trace| {
            let output =
                Output { trace: Some(trace), record: RecordConfig { messages: false, ..RecordConfig::default() } };
            guarded(|| World::build(plan, output)?.run())
        },
        read_trace,
    )?;
    let (latencies, samples) = read.map_err(Failure::Internal)?;
    let end_to_end = &outcome.report.end_to_end;
    Ok(Figures {
        seed: plan.seed,
        requests: end_to_end.requests,
        availability: end_to_end.availability,
        p99_ms: p99_ms(&latencies),
        throughput_rps: end_to_end.throughput_rps,
        saturated: saturation::first(&samples, limits),
    })
}

/// The latencies of the successful requests, and the gauges' samples.
fn read_trace(input: &mut dyn Read) -> Result<(Latencies, Samples), String> {
    fold(input).map_err(|e| format!("reading back the run's own trace: {e}"))
}

fn fold(input: &mut dyn Read) -> Result<(Latencies, Samples), faultline_chaos::trace::codec::TraceError> {
    let mut reader = TraceReader::new(input)?;
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut latencies = Latencies::new();
    let mut samples = Samples::default();
    // The judgements read a value at every sampling time: the dense series.
    let mut dense = Dense::new(reader.header().sample_ns);
    while let Some(Record { t_ns, event }) = reader.next_record()? {
        match event {
            Event::Invoke { req, .. } => {
                invoked.insert(req, t_ns);
            }
            Event::Complete { req, outcome } => {
                if let Some(start_ns) = invoked.remove(&req)
                    && outcome.is_success()
                {
                    *latencies.entry(t_ns.saturating_sub(start_ns) / 1_000).or_default() += 1;
                }
            }
            Event::Sample { host, gauge, last, mean } if saturation::READ.contains(&gauge.as_str()) => {
                dense.push(t_ns, host, &gauge, last, mean, |p| {
                    samples.push(host, &gauge, Point { t_ns: p.t_ns, last: p.last, mean: p.mean });
                });
            }
            Event::Sample { .. }
            | Event::Served { .. }
            | Event::Message { .. }
            | Event::State { .. }
            | Event::Power { .. }
            | Event::Fault(_)
            | Event::End
            | Event::Role { .. }
            | Event::Observed { .. }
            | Event::Retry { .. } => {}
        }
    }
    Ok((latencies, samples))
}

/// The 99th percentile by nearest rank, milliseconds.
fn p99_ms(latencies: &Latencies) -> Option<f64> {
    let count: u64 = latencies.values().sum();
    let rank = (count as f64 * 0.99).ceil() as u64;
    let mut seen = 0;
    latencies.iter().find_map(|(&us, &n)| {
        seen += n;
        (seen >= rank.max(1)).then_some(us as f64 / 1e3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_99th_percentile_is_the_nearest_rank() {
        let of = |ms: &[u64]| {
            let mut latencies = Latencies::new();
            for &m in ms {
                *latencies.entry(m * 1_000).or_default() += 1;
            }
            p99_ms(&latencies)
        };
        assert_eq!(of(&[]), None);
        assert_eq!(of(&[5]), Some(5.0));
        assert_eq!(of(&(1..=100).rev().collect::<Vec<_>>()), Some(99.0));
        assert_eq!(of(&(1..=1_000).collect::<Vec<_>>()), Some(990.0));
        assert_eq!(of(&[1, 2, 3]), Some(3.0));
        assert_eq!(of(&[7; 500]), Some(7.0));
    }

    #[test]
    fn the_pipe_carries_every_byte_and_ends_when_the_writer_goes() {
        let (sender, chunks) = sync_channel(2);
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            PipeReader { chunks, chunk: Vec::new(), at: 0 }.read_to_end(&mut all).map(|_| all)
        });
        let mut writer = BufWriter::with_capacity(7, PipeWriter(sender));
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for piece in bytes.chunks(13) {
            writer.write_all(piece).unwrap();
        }
        drop(writer);
        assert_eq!(reader.join().unwrap().unwrap(), bytes);
    }
}
