//! The recorder: where every event of a run goes, in time order.
//!
//! Hosts run one after another within a simulation step, each with its own sub-step clock, so
//! events arrive slightly out of time order. The recorder collects them step by step into a
//! batch for the [`Sink`], which sorts each step stably by time (ties keep arrival order, which
//! is deterministic), writes the trace and feeds the report's analyzer on its own thread.
//! Memory is bounded by the sink's batches.
//! Gauges are integrated here too, exactly: each change is timed (the host's sub-step clock), so
//! a value held for 200 us inside one step counts for 200 us.
//!
//! Samples are sparse (unless [`RecordConfig::every_sample`]): at each sampling time, only the
//! gauges that changed since their last sample get one, so the trace grows with the work, not
//! with the duration. An [`Event::Sample`] carries the gauge's value at its time and its
//! time-weighted mean since the gauge's previous sample (or its first change), which may span
//! quiet sampling intervals before the one the change fell in. At the end every gauge gets a
//! last sample, so each gauge's samples tile the run from its first change to the end, and a
//! reader that carries a gauge's value forward knows it at every sampling time
//! (`faultline_chaos::trace::samples` rebuilds the dense series exactly).

use super::sink::{BATCH_RECORDS, Batch, Finished, Sink, TraceOut};
use faultline_chaos::trace::codec::TraceError;
use faultline_chaos::trace::{Event, Header, Record};

/// Which optional events are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// Record every network message (on by default; the trace's largest share).
    pub messages: bool,
    /// Sample every gauge at every sampling time, changed or not (off by default: dense
    /// samples cost trace records in proportion to the duration; they are kept for comparing
    /// the two ways of recording).
    pub every_sample: bool,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self { messages: true, every_sample: false }
    }
}

/// One gauge's integral since its last sample.
#[derive(Debug, Default, Clone)]
struct GaugeAcc {
    /// Its value now.
    last: i64,
    /// When it took that value (or the interval started, if later), ns.
    since_ns: u64,
    /// The integral of its value from `from_ns` up to `since_ns`, value x ns.
    area: f64,
    /// When its last sample was taken (or it first appeared).
    from_ns: u64,
    /// Whether it changed (or appeared) since its last sample.
    changed: bool,
}

impl GaugeAcc {
    /// Adds the time from `since_ns` to `t_ns` at the current value (a time before it, from a
    /// host running earlier in the same step, counts as `since_ns`).
    fn advance(&mut self, t_ns: u64) {
        if t_ns > self.since_ns {
            self.area += self.last as f64 * (t_ns - self.since_ns) as f64;
            self.since_ns = t_ns;
        }
    }

    /// Sets the value at `t_ns`.
    fn set(&mut self, t_ns: u64, value: i64) {
        if value != self.last {
            self.advance(t_ns);
            self.last = value;
            self.changed = true;
        }
    }

    /// The sample at `t_ns` (mean since the last one, value now), and starts the next interval.
    fn take(&mut self, t_ns: u64) -> f64 {
        self.advance(t_ns);
        let mean = self.area / (t_ns - self.from_ns) as f64;
        self.area = 0.0;
        self.from_ns = t_ns;
        self.changed = false;
        mean
    }
}

pub(crate) struct Recorder {
    sink: Sink,
    /// Steps waiting to go to the sink; the last one is the current step.
    batch: Batch,
    /// Per host: its gauges in order of first use (a handful: searched linearly, no hashing).
    gauges: Vec<Vec<(&'static str, GaugeAcc)>>,
    /// Per host: requests served since the start (what an autoscaler's request rate reads).
    served: Vec<u64>,
    /// Per host: of which failed (what a deploy's analysis reads).
    failed: Vec<u64>,
    /// Per host a deploy's analysis watches: the latencies served since it last took them.
    latencies: Vec<Option<Vec<u64>>>,
    pub(crate) config: RecordConfig,
}

impl Recorder {
    pub(crate) fn new(out: TraceOut, header: &Header, config: RecordConfig) -> Result<Self, TraceError> {
        Ok(Self {
            sink: Sink::start(out, header)?,
            batch: Batch::with_capacity(BATCH_RECORDS),
            gauges: vec![Vec::new(); header.hosts.len()],
            served: vec![0; header.hosts.len()],
            failed: vec![0; header.hosts.len()],
            latencies: vec![None; header.hosts.len()],
            config,
        })
    }

    /// Buffers one event of the current step.
    pub(crate) fn push(&mut self, t_ns: u64, event: Event) {
        self.batch.records.push(Record { t_ns, event });
    }

    /// Sets a gauge's value at `t_ns`.
    pub(crate) fn gauge(&mut self, t_ns: u64, host: u16, name: &'static str, value: i64) {
        let Some(gauges) = self.gauges.get_mut(host as usize) else { return };
        match gauges.iter_mut().find(|(n, _)| std::ptr::eq(*n, name) || *n == name) {
            Some((_, acc)) => acc.set(t_ns, value),
            None => {
                gauges.push((name, GaugeAcc { last: value, since_ns: t_ns, area: 0.0, from_ns: t_ns, changed: true }))
            }
        }
    }

    /// A gauge's current value (0 when the host never set it).
    pub(crate) fn gauge_last(&self, host: u16, name: &str) -> i64 {
        let gauges = self.gauges.get(host as usize).map_or(&[][..], Vec::as_slice);
        gauges.iter().find(|(n, _)| *n == name).map_or(0, |(_, acc)| acc.last)
    }

    /// Counts a request `host` served (and whether it failed, and its latency when watched).
    pub(crate) fn count_served(&mut self, host: u16, ok: bool, latency_ns: u64) {
        let i = host as usize;
        if let Some(count) = self.served.get_mut(i) {
            *count += 1;
        }
        if !ok && let Some(count) = self.failed.get_mut(i) {
            *count += 1;
        }
        if let Some(Some(latencies)) = self.latencies.get_mut(i) {
            latencies.push(latency_ns);
        }
    }

    /// Requests `host` served that failed, since the start.
    pub(crate) fn failed(&self, host: u16) -> u64 {
        self.failed.get(host as usize).copied().unwrap_or(0)
    }

    /// Starts keeping `host`'s latencies for [`Recorder::take_latencies`].
    pub(crate) fn watch(&mut self, host: u16) {
        if let Some(slot) = self.latencies.get_mut(host as usize) {
            slot.get_or_insert_with(Vec::new);
        }
    }

    /// The latencies `host` served since the last take (empty when not watched).
    pub(crate) fn take_latencies(&mut self, host: u16) -> Vec<u64> {
        self.latencies.get_mut(host as usize).and_then(Option::as_mut).map(std::mem::take).unwrap_or_default()
    }

    /// Requests `host` served since the start.
    pub(crate) fn served(&self, host: u16) -> u64 {
        self.served.get(host as usize).copied().unwrap_or(0)
    }

    /// Zeroes every gauge of a host at `t_ns` (it was killed: its in-flight work is gone).
    pub(crate) fn reset_gauges(&mut self, t_ns: u64, host: u16) {
        for (_, acc) in self.gauges.get_mut(host as usize).into_iter().flatten() {
            acc.set(t_ns, 0);
        }
    }

    /// Takes the samples due at `t_ns`: one for each gauge that changed since its last sample,
    /// or for every gauge at the end of the run (`last`) or when every sample is recorded.
    pub(crate) fn sample_gauges(&mut self, t_ns: u64, last: bool) {
        let all = last || self.config.every_sample;
        for (host, gauges) in self.gauges.iter_mut().enumerate() {
            for (name, acc) in gauges.iter_mut() {
                if t_ns <= acc.from_ns || !(acc.changed || all) {
                    continue;
                }
                let mean = acc.take(t_ns);
                let event = Event::Sample { host: host as u16, gauge: (*name).to_string(), last: acc.last, mean };
                self.batch.records.push(Record { t_ns, event });
            }
        }
    }

    /// Ends the step; hands the batch to the sink once it is full.
    pub(crate) fn flush_step(&mut self) {
        self.batch.end_step();
        if self.batch.records.len() >= BATCH_RECORDS {
            let full = std::mem::take(&mut self.batch);
            self.batch = self.sink.send(full);
        }
    }

    /// Ends the trace and builds the report.
    pub(crate) fn finish(mut self, t_ns: u64) -> Result<Finished, TraceError> {
        self.flush_step();
        self.push(t_ns, Event::End);
        self.flush_step();
        self.sink.finish(self.batch)
    }
}
