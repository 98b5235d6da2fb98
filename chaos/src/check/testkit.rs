//! Test support: synthetic runs of a replicated store whose right answers are known, as
//! records and as a [`History`]. Compiled for tests only.
//!
//! Hosts: `lg0` (0), `app` (1), `db1` (2), `db2` (3), `ctl` (4, the failover controller).

use super::history::History;
use crate::fault::Fault;
use crate::trace::{Event, Observation, Op, Outcome, Record};

/// One millisecond in nanoseconds.
pub(crate) const MS: u64 = 1_000_000;
/// One second in nanoseconds.
pub(crate) const S: u64 = 1_000_000_000;
/// The first store node.
pub(crate) const DB1: u16 = 2;
/// The second store node.
pub(crate) const DB2: u16 = 3;
/// The failover controller.
pub(crate) const CTL: u16 = 4;

/// A run under construction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    records: Vec<Record>,
    next_req: u64,
    /// The run's end, ns (at least the last record's time).
    pub(crate) end_ns: u64,
}

impl Run {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// db1 acknowledges two writes (LSN 1 at 1 s, LSN 2 at 2 s), a read returns the first, db1
    /// is killed at 4 s and db2 promoted at 5 s from LSN 1: the second write is lost.
    pub(crate) fn lossy_failover() -> Self {
        let mut run = Self::with_primary();
        let w = run.write(S, MS, 0, 1, Some((1, 1)));
        run.write(2 * S, MS, 0, 1, Some((1, 2)));
        run.read(3 * S, MS, 0, 1, Some(w));
        run.fault(4 * S, crate::fault::Fault::Kill { host: DB1 });
        run.primary(5 * S, DB2, 2, 1, 1);
        run
    }

    /// A run whose db1 is the primary of epoch 1 from the start.
    pub(crate) fn with_primary() -> Self {
        let mut run = Self::new();
        run.primary(0, DB1, 1, 0, 0);
        run
    }

    /// Host names by id.
    pub(crate) fn names() -> Vec<String> {
        ["lg0", "app", "db1", "db2", "ctl"].iter().map(|s| s.to_string()).collect()
    }

    pub(crate) fn push(&mut self, t_ns: u64, event: Event) {
        self.records.push(Record { t_ns, event });
    }

    pub(crate) fn role(&mut self, t_ns: u64, host: u16, role: &str, epoch: u64, lsn: u64, last_epoch: u64) {
        self.push(t_ns, Event::Role { host, role: role.into(), epoch, lsn, last_epoch });
    }

    pub(crate) fn primary(&mut self, t_ns: u64, host: u16, epoch: u64, lsn: u64, last_epoch: u64) {
        self.role(t_ns, host, "primary", epoch, lsn, last_epoch);
    }

    fn invoke(&mut self, t_ns: u64, user: u32, op: Op, key: u64) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        self.push(t_ns, Event::Invoke { req, user, client: 0, service: 1, op, key });
        req
    }

    fn complete(&mut self, t_ns: u64, req: u64, outcome: Outcome, what: Option<Observation>) {
        if let Some(what) = what {
            self.push(t_ns, Event::Observed { req, what });
        }
        self.push(t_ns, Event::Complete { req, outcome });
    }

    /// A write issued at `t_ns`, ended `dur_ns` later: acknowledged at `(epoch, lsn)`, or timed
    /// out when `at` is `None`.
    pub(crate) fn write(&mut self, t_ns: u64, dur_ns: u64, user: u32, key: u64, at: Option<(u64, u64)>) -> u64 {
        let req = self.invoke(t_ns, user, Op::Write, key);
        match at {
            Some((epoch, lsn)) => {
                self.complete(t_ns + dur_ns, req, Outcome::Ok, Some(Observation::Written { lsn, epoch }))
            }
            None => self.complete(t_ns + dur_ns, req, Outcome::Timeout, None),
        }
        req
    }

    /// A compare-and-set issued at `t_ns` that expects `expects`' value (`None`: absent),
    /// ended `dur_ns` later with `outcome` (acknowledged at `(epoch, lsn)` when `Ok`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cas(
        &mut self,
        t_ns: u64,
        dur_ns: u64,
        user: u32,
        key: u64,
        expects: Option<u64>,
        outcome: Outcome,
        at: (u64, u64),
    ) -> u64 {
        let req = self.invoke(t_ns, user, Op::Cas, key);
        self.push(t_ns, Event::Observed { req, what: Observation::Expects { writer: expects } });
        let (epoch, lsn) = at;
        let written = (outcome == Outcome::Ok).then_some(Observation::Written { lsn, epoch });
        self.complete(t_ns + dur_ns, req, outcome, written);
        req
    }

    /// A successful read issued at `t_ns`, ended `dur_ns` later, that returned `writer`'s value.
    pub(crate) fn read(&mut self, t_ns: u64, dur_ns: u64, user: u32, key: u64, writer: Option<u64>) -> u64 {
        let req = self.invoke(t_ns, user, Op::Read, key);
        self.complete(t_ns + dur_ns, req, Outcome::Ok, Some(Observation::Read { writer, lsn: 0 }));
        req
    }

    /// A read that failed with a server error 1 ms after it was issued.
    pub(crate) fn failed_read(&mut self, t_ns: u64, user: u32, key: u64) -> u64 {
        let req = self.invoke(t_ns, user, Op::Read, key);
        self.complete(t_ns + MS, req, Outcome::Error(1), None);
        req
    }

    /// A request of another kind that ends 1 ms after it was issued.
    pub(crate) fn other(&mut self, t_ns: u64, outcome: Outcome) -> u64 {
        let req = self.invoke(t_ns, 0, Op::Other, 0);
        self.complete(t_ns + MS, req, outcome, None);
        req
    }

    /// A compare-and-set that never ends and whose expectation the trace lacks.
    pub(crate) fn invoke_cas_without_expectation(&mut self, t_ns: u64, user: u32, key: u64) -> u64 {
        self.invoke(t_ns, user, Op::Cas, key)
    }

    /// A write that never ends.
    pub(crate) fn invoke_write(&mut self, t_ns: u64, user: u32, key: u64) -> u64 {
        self.invoke(t_ns, user, Op::Write, key)
    }

    pub(crate) fn detected(&mut self, t_ns: u64, host: u16) {
        let value = format!("detected {} down after 3000 ms", Self::names()[host as usize]);
        self.push(t_ns, Event::State { host: CTL, key: "failover".into(), value });
    }

    pub(crate) fn promoted(&mut self, t_ns: u64, host: u16, epoch: u64, lsn: u64) {
        let value = format!("promoted {} epoch {epoch} at lsn {lsn}", Self::names()[host as usize]);
        self.push(t_ns, Event::State { host: CTL, key: "failover".into(), value });
    }

    pub(crate) fn fault(&mut self, t_ns: u64, fault: Fault) {
        self.push(t_ns, Event::Fault(fault));
    }

    /// The records in time order (stable: same-time records keep their order).
    pub(crate) fn records(&self) -> Vec<Record> {
        let mut records = self.records.clone();
        records.sort_by_key(|r| r.t_ns);
        records
    }

    /// The history of the run, ended at `end_ns` or the last record's time if later.
    pub(crate) fn history(&self) -> History {
        let records = self.records();
        let mut history = History::new();
        for record in &records {
            history.observe(record.t_ns, &record.event);
        }
        history.finish(records.last().map_or(0, |r| r.t_ns).max(self.end_ns));
        history
    }
}
