//! Test support: synthetic record streams whose right answers are known, fed through the
//! [`Analyzer`]. Compiled for tests only.

use super::{Analyzer, Report};
use crate::slo::Slo;
use crate::trace::codec::TraceHash;
use crate::trace::{Event, Header, HostInfo, Op, Outcome, Record};

/// One millisecond in nanoseconds.
pub(crate) const MS: u64 = 1_000_000;
/// One second in nanoseconds.
pub(crate) const S: u64 = 1_000_000_000;

/// A run under construction: hosts `lg0` (0), `app` (1), `db` (2).
#[derive(Clone)]
pub(crate) struct Stream {
    pub(crate) header: Header,
    records: Vec<Record>,
    next_req: u64,
    end: bool,
}

impl Stream {
    pub(crate) fn new(duration_s: u64, window_s: u64) -> Self {
        let host =
            |name: &str, service: &str| HostInfo { name: name.into(), service: service.into(), group: "g".into() };
        Self {
            header: Header {
                tool_version: "test".into(),
                rand_version: "0.9".into(),
                scenario: "synthetic".into(),
                seed: 7,
                duration_ns: duration_s * S,
                window_ns: window_s * S,
                hosts: vec![host("lg0", "loadgen"), host("app", "app"), host("db", "kv-primary")],
                links: Vec::new(),
                slos: Vec::new(),
                checks: Default::default(),
                shards: Default::default(),
                regions: Vec::new(),
                sample_ns: 0,
            },
            records: Vec::new(),
            next_req: 0,
            end: true,
        }
    }

    /// Replaces the hosts with `names` (service = name).
    pub(crate) fn hosts(&mut self, names: &[String]) {
        let host = |name: &String| HostInfo { name: name.clone(), service: name.clone(), group: "g".into() };
        self.header.hosts = names.iter().map(host).collect();
    }

    /// Adds `records` as they are.
    pub(crate) fn extend(&mut self, records: Vec<Record>) {
        self.records.extend(records);
    }

    pub(crate) fn slo(&mut self, slo: Slo) {
        self.header.slos.push(slo);
    }

    /// Leaves out the `End` record.
    pub(crate) fn without_end(&mut self) {
        self.end = false;
    }

    pub(crate) fn push(&mut self, t_ns: u64, event: Event) {
        self.records.push(Record { t_ns, event });
    }

    /// A request from `lg0` to `app` issued at `t_ns` that ends `latency_ns` later.
    pub(crate) fn request(&mut self, t_ns: u64, latency_ns: u64, outcome: Outcome) {
        let req = self.invoke(t_ns);
        self.push(t_ns + latency_ns, Event::Complete { req, outcome });
    }

    /// A request that never ends; returns its id.
    pub(crate) fn invoke(&mut self, t_ns: u64) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        let event = Event::Invoke { req, user: 0, client: 0, service: 1, op: Op::Read, key: req };
        self.push(t_ns, event);
        req
    }

    pub(crate) fn served(&mut self, t_ns: u64, host: u16, latency_ns: u64, ok: bool) {
        self.push(t_ns, Event::Served { host, op: Op::Read, latency_ns, ok });
    }

    pub(crate) fn sample(&mut self, t_ns: u64, host: u16, mean: f64) {
        let event = Event::Sample { host, gauge: "inflight".into(), last: mean.round() as i64, mean };
        self.push(t_ns, event);
    }

    /// A sample of gauge `name` whose last value is `last` (its mean too).
    pub(crate) fn gauge(&mut self, t_ns: u64, host: u16, name: &str, last: i64) {
        self.push(t_ns, Event::Sample { host, gauge: name.into(), last, mean: last as f64 });
    }

    /// The records in time order (stable, so same-time records keep their order), `End` last.
    pub(crate) fn records(&self) -> Vec<Record> {
        let mut records = self.records.clone();
        records.sort_by_key(|r| r.t_ns);
        if self.end {
            let end_ns = records.last().map_or(0, |r| r.t_ns).max(self.header.duration_ns);
            records.push(Record { t_ns: end_ns, event: Event::End });
        }
        records
    }

    pub(crate) fn analyze(&self) -> Report {
        let records = self.records();
        let mut analyzer = Analyzer::new(&self.header);
        for record in &records {
            analyzer.observe(record);
        }
        analyzer.finish(TraceHash(0xfeed), records.len() as u64)
    }
}
