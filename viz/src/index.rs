//! The trace, indexed once for the GUI: time-sorted columnar arrays and per-host state lists.
//!
//! Owns: [`TraceIndex`] and how it is built from records fed in time order. Every per-frame
//! question (what is the state of host X at time t, which events fall in [a, b), what is the
//! event at row i of the log) is a binary search or a slice here, never a scan of the trace.
//!
//! Layout: one row per record in `t_ns` / `kind` / `host` / `peer` columns; the event itself
//! stays postcard-encoded in one byte arena (`blob`, `offsets`) and is decoded only when a
//! panel shows it (a few dozen rows a frame). Host state (power, partition, role, circuit
//! breakers) is a list of changes per host; gauges are sample lists per host and name; requests are one row each
//! (invoke and complete rows, outcome, latency). Per-bin aggregates for the plots live in
//! [`crate::series`].
//!
//! Must not: keep decoded [`Event`]s for the whole trace. Every match over an event is
//! exhaustive, so a new variant does not compile until the index says what it is and which
//! hosts it concerns.

use faultline_chaos::fault::Fault;
use faultline_chaos::report::breakers::{BreakerState, parse_change};
use faultline_chaos::trace::samples::Dense;
use faultline_chaos::trace::text;
use faultline_chaos::trace::{Event, Header, Outcome, Record};
use std::collections::BTreeMap;

/// The `host` / `peer` value of a row that names no host.
pub const NO_HOST: u16 = u16::MAX;
/// The `complete` value of a request that never completed.
pub const NO_ROW: u32 = u32::MAX;

/// What kind of event a row is: the log's kind filter and the timeline's colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// `Invoke`.
    Invoke,
    /// `Complete`.
    Complete,
    /// `Served`.
    Served,
    /// `Message`.
    Message,
    /// `State`.
    State,
    /// `Power`.
    Power,
    /// `Sample`.
    Sample,
    /// `Fault`.
    Fault,
    /// `End`.
    End,
    /// `Role`.
    Role,
    /// `Observed`.
    Observed,
    /// `Retry`.
    Retry,
}

impl Kind {
    /// Every kind, in the order the log's filter lists them.
    pub const ALL: [Kind; 12] = [
        Kind::Invoke,
        Kind::Complete,
        Kind::Served,
        Kind::Message,
        Kind::State,
        Kind::Power,
        Kind::Sample,
        Kind::Fault,
        Kind::End,
        Kind::Role,
        Kind::Observed,
        Kind::Retry,
    ];

    /// The kind's name as the trace's text form prints it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Invoke => "invoke",
            Kind::Complete => "complete",
            Kind::Served => "served",
            Kind::Message => "message",
            Kind::State => "state",
            Kind::Power => "power",
            Kind::Sample => "sample",
            Kind::Fault => "fault",
            Kind::End => "end",
            Kind::Role => "role",
            Kind::Observed => "observed",
            Kind::Retry => "retry",
        }
    }

    /// The kind of `event`.
    pub fn of(event: &Event) -> Kind {
        match event {
            Event::Invoke { .. } => Kind::Invoke,
            Event::Complete { .. } => Kind::Complete,
            Event::Served { .. } => Kind::Served,
            Event::Message { .. } => Kind::Message,
            Event::State { .. } => Kind::State,
            Event::Power { .. } => Kind::Power,
            Event::Sample { .. } => Kind::Sample,
            Event::Fault(_) => Kind::Fault,
            Event::End => Kind::End,
            Event::Role { .. } => Kind::Role,
            Event::Observed { .. } => Kind::Observed,
            Event::Retry { .. } => Kind::Retry,
        }
    }
}

/// One workload request: its invoke and complete rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRow {
    /// The request id.
    pub req: u64,
    /// The row of its `Invoke`.
    pub invoke: u32,
    /// The row of its `Complete`, or [`NO_ROW`].
    pub complete: u32,
    /// Whether it succeeded.
    pub ok: bool,
    /// Whether it was answered (ok or a server error): only those have a latency.
    pub answered: bool,
    /// Complete time minus invoke time, nanoseconds (0 when not completed).
    pub latency_ns: u64,
}

/// One sample of a gauge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaugePoint {
    /// When it was recorded.
    pub t_ns: u64,
    /// The last value set.
    pub last: i64,
    /// The time-weighted mean over the sampling interval.
    pub mean: f64,
}

/// A host's role (replicated store nodes).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleChange {
    /// When.
    pub t_ns: u64,
    /// "primary", "replica", "fenced" or what the trace says.
    pub role: String,
    /// The epoch it knows of.
    pub epoch: u64,
}

/// Everything that changes about one host over the run, as change lists in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostTimeline {
    /// Power changes: `true` up, `false` down. Before the first, the host is up.
    pub power: Vec<(u64, bool)>,
    /// Partition changes: `true` cut off from some hosts by a partition fault.
    pub partitioned: Vec<(u64, bool)>,
    /// Role changes.
    pub roles: Vec<RoleChange>,
    /// Gauge samples by gauge name.
    pub gauges: BTreeMap<String, Vec<GaugePoint>>,
    /// Circuit breaker state changes, by breaker name.
    pub breakers: BTreeMap<String, Vec<(u64, BreakerState)>>,
}

/// The value in force at `t_ns` in a change list sorted by time: the last change at or before it.
pub fn at<T>(changes: &[T], t_ns: u64, time: impl Fn(&T) -> u64) -> Option<&T> {
    let n = changes.partition_point(|c| time(c) <= t_ns);
    n.checked_sub(1).map(|i| &changes[i])
}

impl HostTimeline {
    /// Whether the host is up at `t_ns`.
    pub fn up_at(&self, t_ns: u64) -> bool {
        at(&self.power, t_ns, |c| c.0).is_none_or(|c| c.1)
    }

    /// Whether the host is cut off by a partition at `t_ns`.
    pub fn partitioned_at(&self, t_ns: u64) -> bool {
        at(&self.partitioned, t_ns, |c| c.0).is_some_and(|c| c.1)
    }

    /// The host's role at `t_ns`, if it ever had one by then.
    pub fn role_at(&self, t_ns: u64) -> Option<&RoleChange> {
        at(&self.roles, t_ns, |c| c.t_ns)
    }

    /// The gauge's sample in force at `t_ns`.
    pub fn gauge_at(&self, gauge: &str, t_ns: u64) -> Option<&GaugePoint> {
        at(self.gauges.get(gauge)?, t_ns, |p| p.t_ns)
    }
}

/// A trace, indexed for the GUI. Built once by [`IndexBuilder`]; immutable afterwards.
#[derive(Debug)]
pub struct TraceIndex {
    /// The run's header.
    pub header: Header,
    /// Time of each row.
    pub t_ns: Vec<u64>,
    /// Kind of each row.
    pub kind: Vec<Kind>,
    /// The row's host (the sender of a message, the client of a request), or [`NO_HOST`].
    pub host: Vec<u16>,
    /// The row's other host (receiver, target service), or [`NO_HOST`].
    pub peer: Vec<u16>,
    blob: Vec<u8>,
    offsets: Vec<u64>,
    /// Rows of `Fault` events.
    pub faults: Vec<u32>,
    /// Rows of `Message` events.
    pub messages: Vec<u32>,
    /// Requests in invoke order.
    pub requests: Vec<RequestRow>,
    /// Per host (by id), its changes.
    pub hosts: Vec<HostTimeline>,
    /// Messages seen per (from, to) pair.
    pub pairs: BTreeMap<(u16, u16), u64>,
    /// The last row's time (the run's end as recorded).
    pub end_ns: u64,
}

impl TraceIndex {
    /// Rows in the trace.
    pub fn len(&self) -> usize {
        self.t_ns.len()
    }

    /// Whether the trace has no records.
    pub fn is_empty(&self) -> bool {
        self.t_ns.is_empty()
    }

    /// The run's length as shown: the header's duration or the last record, whichever is later.
    pub fn span_ns(&self) -> u64 {
        self.header.duration_ns.max(self.end_ns).max(1)
    }

    /// The first row at or after `t_ns` (`len()` when none).
    pub fn row_at_or_after(&self, t_ns: u64) -> usize {
        self.t_ns.partition_point(|&t| t < t_ns)
    }

    /// The rows with times in `[from_ns, to_ns)`.
    pub fn rows_between(&self, from_ns: u64, to_ns: u64) -> std::ops::Range<usize> {
        self.row_at_or_after(from_ns)..self.row_at_or_after(to_ns).max(self.row_at_or_after(from_ns))
    }

    /// The event of row `row`, decoded (`None` out of range or if its bytes do not decode).
    pub fn event(&self, row: usize) -> Option<Event> {
        let start = *self.offsets.get(row)? as usize;
        let end = *self.offsets.get(row + 1)? as usize;
        postcard::from_bytes(self.blob.get(start..end)?).ok()
    }

    /// Row `row` as one line of text, as `faultline trace dump` prints it.
    pub fn text(&self, row: usize) -> String {
        match (self.t_ns.get(row), self.event(row)) {
            (Some(&t_ns), Some(event)) => text::to_text(&self.header, &Record { t_ns, event }),
            _ => format!("row {row}: cannot decode"),
        }
    }

    /// The host's name (`host#N` when the header has no such host).
    pub fn host_name(&self, host: u16) -> String {
        text::host_name(&self.header, host)
    }

    /// The request with id `req`.
    pub fn request(&self, req: u64) -> Option<&RequestRow> {
        // Requests are in invoke order, and ids are issued in increasing order by the workload;
        // fall back to a scan when they are not.
        match self.requests.binary_search_by_key(&req, |r| r.req) {
            Ok(i) => Some(&self.requests[i]),
            Err(_) => self.requests.iter().find(|r| r.req == req),
        }
    }

    /// The request that row `row` belongs to (invoke, complete or observed), if any.
    pub fn request_of_row(&self, row: usize) -> Option<u64> {
        match self.kind.get(row)? {
            Kind::Invoke | Kind::Complete | Kind::Observed | Kind::Retry => match self.event(row)? {
                Event::Invoke { req, .. }
                | Event::Complete { req, .. }
                | Event::Observed { req, .. }
                | Event::Retry { req, .. } => Some(req),
                _ => None,
            },
            _ => None,
        }
    }

    /// Heap bytes held by the index (columns, arena, lists), for the performance figures.
    pub fn heap_bytes(&self) -> usize {
        let gauges: usize = self
            .hosts
            .iter()
            .flat_map(|h| h.gauges.values())
            .map(|g| g.capacity() * std::mem::size_of::<GaugePoint>())
            .sum();
        self.t_ns.capacity() * 8
            + self.kind.capacity()
            + self.host.capacity() * 2
            + self.peer.capacity() * 2
            + self.blob.capacity()
            + self.offsets.capacity() * 8
            + (self.faults.capacity() + self.messages.capacity()) * 4
            + self.requests.capacity() * std::mem::size_of::<RequestRow>()
            + gauges
    }
}

/// Builds a [`TraceIndex`] from records fed in time order.
pub struct IndexBuilder {
    index: TraceIndex,
    /// Outstanding requests: id -> position in `index.requests`.
    open: BTreeMap<u64, usize>,
    /// Partitions in force, as (side a, side b).
    partitions: Vec<(Vec<u16>, Vec<u16>)>,
    scratch: Vec<u8>,
    /// Sparse samples to the dense series the plots draw.
    dense: Dense,
}

impl IndexBuilder {
    /// A builder for a run with `header`.
    pub fn new(header: &Header) -> Self {
        let hosts = vec![HostTimeline::default(); header.hosts.len()];
        let index = TraceIndex {
            header: header.clone(),
            t_ns: Vec::new(),
            kind: Vec::new(),
            host: Vec::new(),
            peer: Vec::new(),
            blob: Vec::new(),
            offsets: vec![0],
            faults: Vec::new(),
            messages: Vec::new(),
            requests: Vec::new(),
            hosts,
            pairs: BTreeMap::new(),
            end_ns: 0,
        };
        let dense = Dense::new(header.sample_ns);
        Self { index, open: BTreeMap::new(), partitions: Vec::new(), scratch: Vec::new(), dense }
    }

    /// Feeds one record. Records earlier than the previous one are indexed at the previous
    /// time, so the time column stays sorted.
    pub fn push(&mut self, record: &Record) {
        let row = self.index.t_ns.len() as u32;
        let t_ns = record.t_ns.max(self.index.end_ns);
        let kind = Kind::of(&record.event);
        let (host, peer) = self.hosts_of(&record.event);
        self.index.t_ns.push(t_ns);
        self.index.kind.push(kind);
        self.index.host.push(host);
        self.index.peer.push(peer);
        self.index.end_ns = t_ns;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        // An event that does not re-encode (none should) shows in the log as "cannot decode".
        if let Ok(bytes) = postcard::to_extend(&record.event, scratch) {
            self.index.blob.extend_from_slice(&bytes);
            self.scratch = bytes;
        }
        self.index.offsets.push(self.index.blob.len() as u64);
        self.observe(row, t_ns, &record.event);
    }

    fn hosts_of(&self, event: &Event) -> (u16, u16) {
        let client_of = |req: &u64| {
            self.open
                .get(req)
                .and_then(|&i| self.index.requests.get(i))
                .map_or(NO_HOST, |r| self.index.host[r.invoke as usize])
        };
        match event {
            Event::Invoke { client, service, .. } => (*client, *service),
            Event::Complete { req, .. } | Event::Observed { req, .. } | Event::Retry { req, .. } => {
                (client_of(req), NO_HOST)
            }
            Event::Served { host, .. }
            | Event::State { host, .. }
            | Event::Power { host, .. }
            | Event::Sample { host, .. }
            | Event::Role { host, .. } => (*host, NO_HOST),
            Event::Message { from, to, .. } => (*from, *to),
            Event::Fault(fault) => fault_hosts(fault),
            Event::End => (NO_HOST, NO_HOST),
        }
    }

    fn observe(&mut self, row: u32, t_ns: u64, event: &Event) {
        match event {
            Event::Invoke { req, .. } => {
                let at = self.index.requests.len();
                let request =
                    RequestRow { req: *req, invoke: row, complete: NO_ROW, ok: false, answered: false, latency_ns: 0 };
                self.index.requests.push(request);
                self.open.insert(*req, at);
            }
            Event::Complete { req, outcome } => {
                if let Some(at) = self.open.remove(req) {
                    let request = &mut self.index.requests[at];
                    request.complete = row;
                    request.ok = outcome.is_success();
                    request.answered = matches!(outcome, Outcome::Ok | Outcome::Error(_));
                    request.latency_ns = t_ns.saturating_sub(self.index.t_ns[request.invoke as usize]);
                }
            }
            Event::Message { from, to, .. } => {
                self.index.messages.push(row);
                *self.index.pairs.entry((*from, *to)).or_default() += 1;
            }
            Event::Power { host, up } => {
                if let Some(h) = self.index.hosts.get_mut(*host as usize) {
                    h.power.push((t_ns, *up));
                }
            }
            Event::Role { host, role, epoch, .. } => self.role(*host, t_ns, role, *epoch),
            Event::State { host, key, value } if key == faultline_chaos::vocab::state::ROLE => {
                self.role(*host, t_ns, value, 0)
            }
            Event::State { host, key, value } if key == faultline_chaos::vocab::state::BREAKER => {
                if let (Some(h), Some((name, to))) = (self.index.hosts.get_mut(*host as usize), parse_change(value)) {
                    h.breakers.entry(name.to_string()).or_default().push((t_ns, to));
                }
            }
            Event::Sample { host, gauge, last, mean } => {
                if let Some(h) = self.index.hosts.get_mut(*host as usize) {
                    let points = h.gauges.entry(gauge.clone()).or_default();
                    self.dense.push(t_ns, *host, gauge, *last, *mean, |p| {
                        points.push(GaugePoint { t_ns: p.t_ns, last: p.last, mean: p.mean });
                    });
                }
            }
            Event::Fault(fault) => {
                self.index.faults.push(row);
                self.fault(t_ns, fault);
            }
            // Other state keys, the served reports and the end: rows of the log, no state here.
            Event::State { .. } | Event::Served { .. } | Event::Observed { .. } | Event::Retry { .. } | Event::End => {}
        }
    }

    fn role(&mut self, host: u16, t_ns: u64, role: &str, epoch: u64) {
        if let Some(h) = self.index.hosts.get_mut(host as usize) {
            h.roles.push(RoleChange { t_ns, role: role.to_string(), epoch });
        }
    }

    fn fault(&mut self, t_ns: u64, fault: &Fault) {
        match fault {
            Fault::Partition { a, b } | Fault::PartitionOneWay { from: a, to: b } => {
                self.partitions.push((a.clone(), b.clone()))
            }
            Fault::RegionPartition { a, b, .. } => self.partitions.push((a.hosts.clone(), b.hosts.clone())),
            Fault::RegionHeal { a: ra, b: rb, .. } => {
                let (a, b) = (&ra.hosts, &rb.hosts);
                self.partitions.retain(|p| !((p.0 == *a && p.1 == *b) || (p.0 == *b && p.1 == *a)));
            }
            Fault::Heal { a, b } | Fault::HealOneWay { from: a, to: b } => {
                let same = |p: &(Vec<u16>, Vec<u16>)| (p.0 == *a && p.1 == *b) || (p.0 == *b && p.1 == *a);
                if self.partitions.iter().any(same) {
                    self.partitions.retain(|p| !same(p));
                } else {
                    // A heal that names other groups than any partition heals every link between
                    // them: drop the partitions whose sides it covers.
                    self.partitions.retain(|p| !(p.0.iter().all(|h| a.contains(h) || b.contains(h))));
                }
            }
            Fault::Kill { .. }
            | Fault::Restart { .. }
            | Fault::LinkDegrade { .. }
            | Fault::LinkRestore { .. }
            | Fault::Tune { .. }
            | Fault::LongTransactions { .. }
            | Fault::ClockSkew { .. }
            | Fault::CacheFlush { .. }
            | Fault::ShardLeave { .. }
            | Fault::ShardJoin { .. }
            | Fault::CdnPurge { .. }
            | Fault::RegionOutage { .. }
            | Fault::RegionRestore { .. }
            | Fault::RegionLatency { .. }
            | Fault::RegionLatencyRestore { .. }
            | Fault::RegionSkew { .. } => return,
        }
        self.mark_partitions(t_ns);
    }

    /// Records, per host, whether it is now cut off by a partition in force.
    fn mark_partitions(&mut self, t_ns: u64) {
        for (id, host) in self.index.hosts.iter_mut().enumerate() {
            let id = id as u16;
            let cut = self.partitions.iter().any(|(a, b)| a.contains(&id) || b.contains(&id));
            if host.partitioned.last().map_or(cut, |c| c.1 != cut) {
                host.partitioned.push((t_ns, cut));
            }
        }
    }

    /// The index.
    pub fn finish(mut self) -> TraceIndex {
        let index = &mut self.index;
        index.t_ns.shrink_to_fit();
        index.kind.shrink_to_fit();
        index.host.shrink_to_fit();
        index.peer.shrink_to_fit();
        index.offsets.shrink_to_fit();
        index.blob.shrink_to_fit();
        index.messages.shrink_to_fit();
        self.index.requests.sort_by_key(|r| r.req);
        self.index
    }
}

/// The first host on each side of a fault (see `Fault::sides`), for the log's host and peer
/// columns.
fn fault_hosts(fault: &Fault) -> (u16, u16) {
    let (a, b) = fault.sides();
    (a.first().copied().unwrap_or(NO_HOST), b.first().copied().unwrap_or(NO_HOST))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{APP, DB, LG, MS, REPLICA, S, loaded};

    #[test]
    fn sparse_samples_become_the_dense_series_the_plots_draw() {
        // Sampled every 100 ms, sparsely: 2 from the first sample at 100 ms, then 6 from 350 ms
        // (the 400 ms sample spans 100..400 ms), held to the end at 600 ms.
        let header = Header { sample_ns: 100 * MS, ..crate::testkit::header() };
        let mut builder = IndexBuilder::new(&header);
        let sample =
            |t_ns, last, mean| Record { t_ns, event: Event::Sample { host: APP, gauge: "queue".into(), last, mean } };
        for record in [sample(100 * MS, 2, 2.0), sample(400 * MS, 6, 800.0 / 300.0), sample(600 * MS, 6, 6.0)] {
            builder.push(&record);
        }
        let index = builder.finish();
        let points = &index.hosts[APP as usize].gauges["queue"];
        let got: Vec<(u64, i64)> = points.iter().map(|p| (p.t_ns / MS, p.last)).collect();
        assert_eq!(got, [(100, 2), (200, 2), (300, 2), (400, 6), (500, 6), (600, 6)]);
        assert!((points[3].mean - 4.0).abs() < 1e-9, "the 300..400 ms interval's own mean: {}", points[3].mean);
    }

    #[test]
    fn columns_are_time_sorted_and_complete() {
        let index = loaded().index;
        assert!(index.t_ns.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(index.len(), crate::testkit::records().len());
        assert_eq!(index.kind.len(), index.len());
        assert_eq!(index.requests.len(), 200);
        assert_eq!(index.faults.len(), 4);
        assert_eq!(index.messages.len(), 400);
        assert_eq!(index.pairs.get(&(LG, APP)), Some(&200));
        assert_eq!(index.kind.last(), Some(&Kind::End));
    }

    #[test]
    fn events_decode_back() {
        let index = loaded().index;
        let row = index.faults[0] as usize;
        assert_eq!(index.event(row), Some(Event::Fault(Fault::Kill { host: REPLICA })));
        assert!(index.text(row).contains("kill db-replica"), "{}", index.text(row));
        assert_eq!(index.event(index.len()), None);
        assert_eq!((index.host[row], index.peer[row]), (REPLICA, NO_HOST));
    }

    #[test]
    fn host_state_at_any_time() {
        let index = loaded().index;
        let replica = &index.hosts[REPLICA as usize];
        assert!(replica.up_at(3 * S));
        assert!(!replica.up_at(5 * S));
        assert!(replica.up_at(6 * S));
        assert!(!replica.partitioned_at(6 * S));
        assert!(replica.partitioned_at(7_500 * MS));
        assert!(!replica.partitioned_at(8 * S));
        assert_eq!(index.hosts[DB as usize].role_at(S).map(|r| r.role.as_str()), Some("primary"));
        assert_eq!(index.hosts[APP as usize].gauge_at("inflight", 3_500 * MS).map(|p| p.last), Some(3));
        assert_eq!(index.hosts[APP as usize].gauge_at("inflight", 500 * MS), None);
    }

    #[test]
    fn a_fault_names_the_first_host_on_each_side() {
        let skew = Fault::ClockSkew { host: DB, offset_ns: 1, drift_ppm: 0 };
        assert_eq!(fault_hosts(&skew), (DB, NO_HOST));
        let oneway = Fault::PartitionOneWay { from: vec![DB, APP], to: vec![REPLICA] };
        assert_eq!(fault_hosts(&oneway), (DB, REPLICA));
        assert_eq!(fault_hosts(&Fault::LongTransactions { target: DB, count: 1, hold_ns: 1 }), (DB, NO_HOST));
    }

    #[test]
    fn requests_and_ranges() {
        let index = loaded().index;
        let slow = index.request(80).expect("request 80 exists");
        assert_eq!(slow.latency_ns, 80 * MS);
        assert!(!slow.ok, "request 80 (at 4 s, a multiple of 4) timed out");
        assert!(!slow.answered);
        assert!(index.request(999).is_none());
        let range = index.rows_between(4 * S, 5 * S);
        assert!(!range.is_empty());
        assert!(range.clone().all(|r| (4 * S..5 * S).contains(&index.t_ns[r])));
        assert_eq!(index.request_of_row(index.requests[3].invoke as usize), Some(3));
        assert!(index.heap_bytes() > 0);
    }
}
