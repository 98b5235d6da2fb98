//! The recorder: where every event of a run goes, in time order.
//!
//! Hosts run one after another within a simulation step, each with its own sub-step clock, so
//! events arrive slightly out of time order. The recorder buffers one step's events, sorts them
//! stably by time at the end of the step (ties keep arrival order, which is deterministic) and
//! then streams them to the trace writer and the report's analyzer. Memory is bounded by one
//! step's events. Gauges are integrated here too: sampled at every step, written as a
//! [`Event::Sample`] with their time-weighted mean every sampling interval.

use faultline_chaos::report::{Analyzer, Report};
use faultline_chaos::trace::codec::{TraceError, TraceHash, TraceWriter};
use faultline_chaos::trace::{Event, Header, Record};
use std::io::Write;

/// Which optional events are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// Record every network message (on by default; the trace's largest share).
    pub messages: bool,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self { messages: true }
    }
}

#[derive(Debug, Default, Clone)]
struct GaugeAcc {
    last: i64,
    sum: f64,
    steps: u64,
}

pub(crate) struct Recorder {
    writer: TraceWriter<Box<dyn Write>>,
    analyzer: Analyzer,
    step: Vec<Record>,
    /// Per host: its gauges in order of first use (a handful: searched linearly, no hashing).
    gauges: Vec<Vec<(&'static str, GaugeAcc)>>,
    pub(crate) config: RecordConfig,
    error: Option<TraceError>,
}

impl Recorder {
    pub(crate) fn new(out: Box<dyn Write>, header: &Header, config: RecordConfig) -> Result<Self, TraceError> {
        Ok(Self {
            writer: TraceWriter::new(out, header)?,
            analyzer: Analyzer::new(header),
            step: Vec::with_capacity(1024),
            gauges: vec![Vec::new(); header.hosts.len()],
            config,
            error: None,
        })
    }

    /// Buffers one event of the current step.
    pub(crate) fn push(&mut self, t_ns: u64, event: Event) {
        self.step.push(Record { t_ns, event });
    }

    /// Sets a gauge's current value.
    pub(crate) fn gauge(&mut self, host: u16, name: &'static str, value: i64) {
        let Some(gauges) = self.gauges.get_mut(host as usize) else { return };
        match gauges.iter_mut().find(|(n, _)| std::ptr::eq(*n, name) || *n == name) {
            Some((_, acc)) => acc.last = value,
            None => gauges.push((name, GaugeAcc { last: value, ..GaugeAcc::default() })),
        }
    }

    /// Zeroes every gauge of a host (it was killed: its in-flight work is gone).
    pub(crate) fn reset_gauges(&mut self, host: u16) {
        if let Some(g) = self.gauges.get_mut(host as usize) {
            for (_, acc) in g.iter_mut() {
                acc.last = 0;
            }
        }
    }

    /// Integrates every gauge over one step.
    pub(crate) fn integrate_gauges(&mut self) {
        for host in &mut self.gauges {
            for (_, acc) in host.iter_mut() {
                acc.sum += acc.last as f64;
                acc.steps += 1;
            }
        }
    }

    /// Emits one sample per gauge (mean since the last sample) at `t_ns`.
    pub(crate) fn sample_gauges(&mut self, t_ns: u64) {
        for (host, gauges) in self.gauges.iter_mut().enumerate() {
            for (name, acc) in gauges.iter_mut() {
                if acc.steps == 0 {
                    continue;
                }
                let mean = acc.sum / acc.steps as f64;
                let event = Event::Sample { host: host as u16, gauge: (*name).to_string(), last: acc.last, mean };
                self.step.push(Record { t_ns, event });
                acc.sum = 0.0;
                acc.steps = 0;
            }
        }
    }

    /// Sorts the step's events by time and streams them out.
    pub(crate) fn flush_step(&mut self) {
        self.step.sort_by_key(|r| r.t_ns);
        for record in self.step.drain(..) {
            self.analyzer.observe(&record);
            if self.error.is_none()
                && let Err(e) = self.writer.write(&record)
            {
                self.error = Some(e);
            }
        }
    }

    /// Ends the trace and builds the report.
    pub(crate) fn finish(mut self, t_ns: u64) -> Result<(Report, TraceHash, u64), TraceError> {
        self.flush_step();
        self.push(t_ns, Event::End);
        self.flush_step();
        if let Some(e) = self.error {
            return Err(e);
        }
        let records = self.writer.records();
        let (hash, mut out) = self.writer.finish()?;
        out.flush()?;
        Ok((self.analyzer.finish(hash, records), hash, records))
    }
}
