//! The report's queue section: what the message queues went through, and the queue accounting
//! check (the delivery invariant). Present only when a queue broker published its gauges.
//!
//! Sources: the brokers' sends answered `Sent` (their `Served` writes that succeeded: what
//! producers were told was accepted); the brokers' gauges (`queue_accepted` and
//! `queue_deleted` are what their logs hold, so a crash that lost an unsynced tail takes its
//! messages off; `queue_depth`, `queue_inflight`, `queue_dlq` and `queue_oldest_age_ms` are
//! levels; `queue_redeliveries` and `queue_full` count since start); the workers' gauges
//! (`worker_processed` and `worker_duplicates` from their processed-ids stores, which survive
//! a crash; `worker_absorbed` and `worker_failed` since start). Levels and durable counts are
//! read at their last sample (the end of the run); counts since start sum their increments (a
//! drop is a restart from zero); peaks are the largest samples.
//!
//! Definitions: lost (unsynced) = accepted - accepted and synced (messages a producer was told
//! were accepted that no broker log holds). The check fails when a message accepted and
//! synced is neither processed, nor dead-lettered, nor still queued (`accepted_synced -
//! processed - dead_lettered - queued_at_end > 0`), and also, saying so, when messages were
//! lost unsynced. A broker down at the end of the run has its levels at 0: the check reads it
//! as lost, honestly. Processed is summed over worker hosts, each counting its distinct
//! messages, so a message processed on two hosts counts twice and may hide a missing one.
//!
//! Owns: folding those samples, the figures and the verdict. Must not: know the broker.

use super::{Check, Evidence, Verdict};
use crate::trace::Op;
use faultline_vocab::gauge;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;

/// What the message queues went through in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Messages producers were told were accepted.
    pub accepted: u64,
    /// Of those, the messages the brokers' logs hold at the end (synced, or not yet lost).
    pub accepted_synced: u64,
    /// Accepted messages lost with a broker's unsynced log tail.
    pub lost_unsynced: u64,
    /// Distinct messages processed (summed over worker hosts).
    pub processed: u64,
    /// Duplicate effects: processings of a message processed before.
    pub duplicates: u64,
    /// Deliveries of a message processed before that an idempotency key absorbed.
    pub absorbed: u64,
    /// Processings that failed (the message given back).
    pub failed: u64,
    /// Deliveries of a message delivered before.
    pub redeliveries: u64,
    /// Messages in dead-letter queues at the end.
    pub dead_lettered: u64,
    /// Messages still held at the end (waiting or in flight).
    pub queued_at_end: u64,
    /// Sends refused because the queue was full.
    pub refused_full: u64,
    /// Largest depth sampled (messages waiting, every broker together).
    pub depth_peak: u64,
    /// Largest age of an oldest message sampled, milliseconds.
    pub oldest_age_ms_peak: u64,
    /// Depth and oldest age per window.
    pub windows: Vec<QueueWindow>,
}

/// One window's queue levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueWindow {
    /// Start of the window, seconds since the start of the run.
    pub start_s: f64,
    /// Largest depth sampled in it.
    pub depth_peak: u64,
    /// Largest oldest age sampled in it, milliseconds.
    pub oldest_age_ms_peak: u64,
}

const LEVELS: [&str; 8] = [
    gauge::QUEUE_DEPTH,
    gauge::QUEUE_INFLIGHT,
    gauge::QUEUE_OLDEST_AGE_MS,
    gauge::QUEUE_DLQ,
    gauge::QUEUE_ACCEPTED,
    gauge::QUEUE_DELETED,
    gauge::WORKER_PROCESSED,
    gauge::WORKER_DUPLICATES,
];
const COUNTS: [&str; 4] = [gauge::QUEUE_REDELIVERIES, gauge::QUEUE_FULL, gauge::WORKER_ABSORBED, gauge::WORKER_FAILED];

/// The queue gauges' samples and the brokers' sends being folded.
#[derive(Debug, Default)]
pub(super) struct QueueAcc {
    window_ns: u64,
    /// The last value of each (host, gauge).
    last: BTreeMap<(u16, &'static str), i64>,
    /// The sum of increments of each (host, counter since start).
    counted: BTreeMap<(u16, &'static str), u64>,
    /// Sends each host answered with success.
    sends: BTreeMap<u16, u64>,
    /// How often gauges are sampled (0: every sample is in the trace).
    sample_ns: u64,
    /// Depth and oldest age per host (carried from its last sample), and the latest sample's
    /// time.
    now: (u64, BTreeMap<u16, (i64, i64)>),
    /// The peaks of the sampling times whose levels are all in.
    peaks: Peaks,
}

/// (depth, oldest age) peaks: the run's, and per window.
#[derive(Debug, Default, Clone)]
struct Peaks {
    run: (u64, u64),
    windows: BTreeMap<u64, (u64, u64)>,
}

impl Peaks {
    /// Counts the levels `now` holds at its time into that time's window and the run's peaks,
    /// and into the windows of the sampling times strictly between it and `next_ns`, which held
    /// them too (sampled every `sample_ns`; 0: every sample is in the trace, none is missing).
    fn settle(&mut self, window_ns: u64, sample_ns: u64, now: &(u64, BTreeMap<u16, (i64, i64)>), next_ns: u64) {
        let (at_ns, levels) = now;
        if levels.is_empty() {
            return;
        }
        let depth = levels.values().map(|v| v.0).sum::<i64>().max(0) as u64;
        let oldest = levels.values().map(|v| v.1).max().unwrap_or(0).max(0) as u64;
        self.run = (self.run.0.max(depth), self.run.1.max(oldest));
        let mut peak_in = |window: u64| {
            let w = self.windows.entry(window).or_default();
            *w = (w.0.max(depth), w.1.max(oldest));
        };
        peak_in(at_ns.saturating_sub(1) / window_ns);
        if sample_ns > 0 && next_ns > at_ns + sample_ns {
            for window in (at_ns + sample_ns - 1) / window_ns..=(next_ns - sample_ns - 1) / window_ns {
                peak_in(window);
            }
        }
    }
}

impl QueueAcc {
    /// `window_ns` must be positive (the analyzer guarantees it); gauges are sampled every
    /// `sample_ns` (the header's).
    pub(super) fn new(window_ns: u64, sample_ns: u64) -> Self {
        assert!(window_ns > 0, "a window has a positive width");
        Self { window_ns, sample_ns, ..Self::default() }
    }

    /// A request a host served: a successful write is a send a broker accepted (counted only
    /// for hosts that turn out to be brokers).
    pub(super) fn served(&mut self, host: u16, op: Op, ok: bool) {
        if ok && op == Op::Write {
            *self.sends.entry(host).or_default() += 1;
        }
    }

    /// Whether `gauge` is a queue or worker gauge (then the sample is taken).
    pub(super) fn sample(&mut self, t_ns: u64, host: u16, name: &str, value: i64) -> bool {
        let value = value.max(0);
        if let Some(g) = COUNTS.iter().find(|g| **g == name) {
            let previous = self.last.insert((host, g), value);
            let delta = match previous {
                Some(p) if value >= p => value - p,
                _ => value,
            };
            *self.counted.entry((host, g)).or_default() += delta as u64;
            return true;
        }
        let Some(g) = LEVELS.iter().find(|g| **g == name) else { return false };
        self.last.insert((host, g), value);
        if *g == gauge::QUEUE_DEPTH || *g == gauge::QUEUE_OLDEST_AGE_MS {
            self.level(t_ns, host, *g == gauge::QUEUE_DEPTH, value);
        }
        true
    }

    /// Folds a depth or age sample: peaks are over the brokers' levels at one sampling time,
    /// each broker's carried from its last sample (samples are sparse: a level that did not
    /// change is not sampled again, yet holds at every sampling time until it does). A time's
    /// levels count once all its samples are in: at the first sample of a later time.
    fn level(&mut self, t_ns: u64, host: u16, depth: bool, value: i64) {
        if t_ns != self.now.0 {
            self.peaks.settle(self.window_ns, self.sample_ns, &self.now, t_ns);
            self.now.0 = t_ns;
        }
        let entry = self.now.1.entry(host).or_default();
        if depth {
            entry.0 = value;
        } else {
            entry.1 = value;
        }
    }

    /// The peaks with the last sampling time's levels counted.
    fn settled(&self) -> Peaks {
        let mut peaks = self.peaks.clone();
        peaks.settle(self.window_ns, self.sample_ns, &self.now, self.now.0);
        peaks
    }

    fn sum_last(&self, g: &str) -> u64 {
        self.last.iter().filter(|((_, n), _)| *n == g).map(|(_, v)| *v as u64).sum()
    }

    fn sum_counted(&self, g: &str) -> u64 {
        self.counted.iter().filter(|((_, n), _)| *n == g).map(|(_, v)| *v).sum()
    }

    /// The brokers: hosts that published `queue_accepted`.
    fn brokers(&self) -> Vec<u16> {
        self.last.keys().filter(|(_, n)| *n == gauge::QUEUE_ACCEPTED).map(|(h, _)| *h).collect()
    }

    /// The section and its check; `None` when no broker published its gauges.
    pub(super) fn finish(&self, issue_ns: u64, max_windows: u64) -> Option<(QueueReport, Check)> {
        let brokers = self.brokers();
        if brokers.is_empty() {
            return None;
        }
        let accepted: u64 = brokers.iter().map(|h| self.sends.get(h).copied().unwrap_or(0)).sum();
        let accepted_synced = self.sum_last(gauge::QUEUE_ACCEPTED);
        let expected = issue_ns.div_ceil(self.window_ns).min(max_windows);
        let Peaks { run: (depth_peak, age_peak), windows: peaks_by_window } = self.settled();
        let last_with_data = peaks_by_window.keys().next_back().map_or(0, |i| i + 1);
        let windows = (0..expected.max(last_with_data))
            .map(|i| {
                let (depth_peak, oldest_age_ms_peak) = peaks_by_window.get(&i).copied().unwrap_or_default();
                QueueWindow { start_s: (i * self.window_ns) as f64 / NS_PER_S, depth_peak, oldest_age_ms_peak }
            })
            .collect();
        let report = QueueReport {
            accepted,
            accepted_synced,
            lost_unsynced: accepted.saturating_sub(accepted_synced),
            processed: self.sum_last(gauge::WORKER_PROCESSED),
            duplicates: self.sum_last(gauge::WORKER_DUPLICATES),
            absorbed: self.sum_counted(gauge::WORKER_ABSORBED),
            failed: self.sum_counted(gauge::WORKER_FAILED),
            redeliveries: self.sum_counted(gauge::QUEUE_REDELIVERIES),
            dead_lettered: self.sum_last(gauge::QUEUE_DLQ),
            queued_at_end: self.sum_last(gauge::QUEUE_DEPTH) + self.sum_last(gauge::QUEUE_INFLIGHT),
            refused_full: self.sum_counted(gauge::QUEUE_FULL),
            depth_peak,
            oldest_age_ms_peak: age_peak,
            windows,
        };
        let check = accounting_check(&report).with(Evidence::default().with_hosts(brokers));
        Some((report, check))
    }
}

/// The queue accounting check: every message accepted and synced is processed, dead-lettered
/// or still queued, and none accepted was lost unsynced.
pub fn accounting_check(r: &QueueReport) -> Check {
    let accounted = r.processed + r.dead_lettered + r.queued_at_end;
    let missing = r.accepted_synced.saturating_sub(accounted);
    let mut failures = Vec::new();
    if missing > 0 {
        failures.push(format!(
            "{missing} of {} messages accepted and synced are neither processed ({}), dead-lettered ({}) nor queued ({})",
            r.accepted_synced, r.processed, r.dead_lettered, r.queued_at_end
        ));
    }
    if r.lost_unsynced > 0 {
        failures.push(format!(
            "{} of {} messages acknowledged to producers were lost with a broker's unsynced log tail",
            r.lost_unsynced, r.accepted
        ));
    }
    if failures.is_empty() {
        let detail = format!(
            "all {} accepted messages accounted for: {} processed, {} dead-lettered, {} still queued",
            r.accepted_synced, r.processed, r.dead_lettered, r.queued_at_end
        );
        return Check::new("queue accounting", Verdict::Pass, detail);
    }
    Check::new("queue accounting", Verdict::Fail, failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testkit::{MS, S, Stream};
    use crate::trace::Event;

    fn sample(host: u16, g: &str, last: i64) -> Event {
        Event::Sample { host, gauge: g.into(), last, mean: last as f64 }
    }

    fn sends(stream: &mut Stream, host: u16, n: u64) {
        for i in 0..n {
            stream.push(i * MS, Event::Served { host, op: Op::Write, latency_ns: MS, ok: true });
        }
    }

    /// A broker (host 2) and a worker (host 1) whose gauges say `processed` of 10 messages.
    fn run(processed: i64, accepted_gauge: i64) -> crate::report::Report {
        let mut stream = Stream::new(4, 1);
        sends(&mut stream, 2, 10);
        for (t, depth, age) in [(S, 6, 900), (2 * S, 9, 1_500), (3 * S, 0, 0)] {
            stream.push(t, sample(2, gauge::QUEUE_DEPTH, depth));
            stream.push(t, sample(2, gauge::QUEUE_OLDEST_AGE_MS, age));
        }
        stream.push(3 * S, sample(2, gauge::QUEUE_ACCEPTED, accepted_gauge));
        stream.push(3 * S, sample(2, gauge::QUEUE_INFLIGHT, 0));
        stream.push(3 * S, sample(2, gauge::QUEUE_DLQ, 1));
        stream.push(3 * S, sample(2, gauge::QUEUE_REDELIVERIES, 4));
        stream.push(3 * S + 1, sample(2, gauge::QUEUE_REDELIVERIES, 2));
        stream.push(3 * S, sample(1, gauge::WORKER_PROCESSED, processed));
        stream.push(3 * S, sample(1, gauge::WORKER_DUPLICATES, 2));
        stream.analyze()
    }

    #[test]
    fn every_message_accounted_for_passes() {
        let report = run(9, 10);
        let q = report.queue.as_ref().expect("a broker published its gauges");
        assert_eq!((q.accepted, q.accepted_synced, q.lost_unsynced), (10, 10, 0));
        assert_eq!((q.processed, q.dead_lettered, q.queued_at_end, q.duplicates), (9, 1, 0, 2));
        assert_eq!(q.redeliveries, 6, "a drop is a restart from zero");
        assert_eq!((q.depth_peak, q.oldest_age_ms_peak), (9, 1_500));
        assert_eq!(q.windows.iter().map(|w| w.depth_peak).collect::<Vec<_>>(), [6, 9, 0, 0]);
        let check = report.checks.iter().find(|c| c.name == "queue accounting").expect("judged");
        assert_eq!(check.verdict, Verdict::Pass, "{}", check.detail);
        assert_eq!(check.evidence.hosts, [2]);
        let text = report.render_text();
        assert!(text.contains("Queues"), "{text}");
    }

    #[test]
    fn a_synced_message_gone_missing_fails_the_check() {
        // As a broker that deleted a message on a stale receipt handle would leave it: 10
        // accepted and synced, 1 dead, none queued, only 8 processed.
        let report = run(8, 10);
        let check = report.checks.iter().find(|c| c.name == "queue accounting").expect("judged");
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(check.detail.starts_with("1 of 10 messages accepted and synced are neither"), "{}", check.detail);
    }

    #[test]
    fn messages_lost_unsynced_are_counted_and_fail_the_check_saying_why() {
        let report = run(6, 7);
        let q = report.queue.as_ref().expect("section");
        assert_eq!(q.lost_unsynced, 3);
        let check = report.checks.iter().find(|c| c.name == "queue accounting").expect("judged");
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(check.detail.contains("3 of 10 messages acknowledged to producers were lost"), "{}", check.detail);
        assert!(!check.detail.contains("synced are neither"), "the synced ones are all there: {}", check.detail);
    }

    #[test]
    fn no_broker_no_section() {
        let mut acc = QueueAcc::new(S, 0);
        assert!(!acc.sample(S, 0, "cache_hits", 4));
        assert!(acc.sample(S, 0, gauge::WORKER_PROCESSED, 4));
        assert_eq!(acc.finish(3 * S, 100), None, "a worker alone is no queue");
    }
}
