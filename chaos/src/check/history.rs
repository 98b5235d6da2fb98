//! The compact history the data-tier checks judge, collected in one pass over a run's records.
//!
//! Owns: [`History`] and what it keeps: the workload's reads, writes and compare-and-sets with
//! their times, outcomes and observations ([`OpEntry`]) and what each CAS expects, the
//! completion time and success of every workload request (for RTO), the epochs store nodes
//! took ([`EpochEntry`]), failover controller actions ([`FailoverEntry`]) and faults. Must
//! not: judge anything, or keep whole records.
//!
//! Memory: while a request is outstanding it holds one [`OpEntry`] (72 bytes) in a map. Once it
//! ends it leaves 8 bytes in the completion series (time and success packed in one `u64`), and
//! a read or write keeps its 72-byte [`OpEntry`] when it matters to a check: a read that
//! returned an observation, or any write or CAS (an indeterminate write matters to
//! linearizability; a CAS also keeps its expectation, about 40 bytes in a map), once the trace
//! has shown a data-tier event (`Role` or `Observed`). Other requests keep nothing more.
//! Epochs (one per promotion) are few; failover actions and faults are capped at
//! [`MAX_ACTIONS`] and [`MAX_FAULTS`] (the overflow is counted).
//!
//! Times are the caller's: the analyzer hands in record times already clamped to be monotonic.

use super::groups::Groups;
use crate::fault::Fault;
use crate::trace::{Event, Observation, Op, Outcome, Shards};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// The most failover controller actions kept.
pub const MAX_ACTIONS: usize = 10_000;
/// The most faults kept.
pub const MAX_FAULTS: usize = 10_000;

/// One workload read or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpEntry {
    /// Request id.
    pub req: u64,
    /// The key's index.
    pub key: u64,
    /// When it was issued, ns.
    pub invoke_ns: u64,
    /// When it ended, ns; `None` if it was still outstanding when the run ended.
    pub complete_ns: Option<u64>,
    /// What it returned, if it succeeded and the store said.
    pub observed: Option<Observation>,
    /// The virtual user that issued it.
    pub user: u32,
    /// Read, write or other.
    pub op: Op,
    /// How it ended (a request outstanding at the end counts as a timeout).
    pub outcome: Outcome,
}

impl OpEntry {
    /// The `(epoch, lsn)` at which it was acknowledged, if it is an acknowledged write (or
    /// compare-and-set).
    pub fn written(&self) -> Option<(u64, u64)> {
        match (self.op, &self.outcome, self.observed) {
            (Op::Write | Op::Cas, Outcome::Ok, Some(Observation::Written { lsn, epoch })) => Some((epoch, lsn)),
            _ => None,
        }
    }

    /// What it read, if it is a successful read with an observation: the writer (`None`:
    /// absent) and the answering node's LSN.
    pub fn read(&self) -> Option<(Option<u64>, u64)> {
        match (self.op, &self.outcome, self.observed) {
            (Op::Read, Outcome::Ok, Some(Observation::Read { writer, lsn })) => Some((writer, lsn)),
            _ => None,
        }
    }
}

/// One epoch of the replicated store, as its primaries reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochEntry {
    /// When the first node took the primary role in it, ns.
    pub start_ns: u64,
    /// The last LSN of that node's log when it took the role: entries above are this epoch's.
    pub base_lsn: u64,
    /// The epoch of the entry at `base_lsn` (0 for an empty log).
    pub last_epoch: u64,
    /// Every host that took the primary role in it, with the first time it did, in order.
    pub primaries: Vec<(u16, u64)>,
}

/// What a failover controller did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverKind {
    /// It found a primary down.
    Detected,
    /// It promoted a replica.
    Promoted,
    /// A DNS server found an endpoint unhealthy (`State{key: "dns"}`, "<endpoint>:unhealthy").
    DnsDown,
    /// A DNS server changed what a name answers ("answer <name> <endpoint>").
    DnsAnswer,
}

/// One failover action: a controller's (`State{key: "failover"}`) or a DNS server's
/// (`State{key: "dns"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverEntry {
    /// When, ns.
    pub t_ns: u64,
    /// The controller's host.
    pub host: u16,
    /// Detection or promotion.
    pub kind: FailoverKind,
    /// The controller's words.
    pub text: String,
}

/// What one event did to the map of outstanding requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The event is not an `Invoke` or a `Complete`.
    Nothing,
    /// An `Invoke` of a new request.
    Invoked,
    /// An `Invoke` reusing the id of a request still outstanding (ignored).
    DuplicateInvoke,
    /// The `Complete` of an outstanding request, invoked at `invoked_ns`.
    Completed {
        /// When it was invoked.
        invoked_ns: u64,
        /// The key's index, from its `Invoke`.
        key: u64,
    },
    /// A `Complete` with no outstanding request (ignored).
    UnmatchedComplete,
}

/// The history of a run's data tier.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Outstanding requests by id. Never iterated in its own order: what leaves it in bulk is
    /// sorted by request id first, so results do not depend on the hash.
    pending: HashMap<u64, OpEntry, BuildHasherDefault<ReqHasher>>,
    /// Reads and writes that matter to a check, in completion order (outstanding ones last).
    pub ops: Vec<OpEntry>,
    completions: Vec<u64>,
    /// Epochs by number.
    pub epochs: BTreeMap<u64, EpochEntry>,
    /// Failover controller actions in time order.
    pub failovers: Vec<FailoverEntry>,
    /// Actions left out of `failovers` (past [`MAX_ACTIONS`]).
    pub failovers_omitted: u64,
    /// What each DNS name (or a nearest name's view from a region) answers now: its first
    /// answer is no change, only a later, different one is.
    dns_answers: BTreeMap<String, String>,
    /// Faults in time order.
    pub faults: Vec<(u64, Fault)>,
    /// Faults left out of `faults` (past [`MAX_FAULTS`]).
    pub faults_omitted: u64,
    /// For each fault of `faults`, every replica's replication lag as it last reported it
    /// before the fault (the `lag_ms` gauge's last sample), by host, ms.
    pub fault_lags: Vec<Vec<(u16, i64)>>,
    /// Each replica's replication lag as last sampled, ms.
    lag_now: BTreeMap<u16, i64>,
    /// What each compare-and-set expects, by request id: the writer of the value (`None`:
    /// the key absent). A CAS whose expectation the trace lacks is judged as a plain write.
    pub expects: BTreeMap<u64, Option<u64>>,
    /// Whether any `Role` event was seen.
    pub has_roles: bool,
    /// Whether any `Observed` event was seen.
    pub has_observations: bool,
    /// When the run ended, ns (set by [`History::finish`]).
    pub end_ns: u64,
    /// A sharded database's groups, each with its own history (see [`Groups`]); `None` for a
    /// run with one replication group (or none).
    pub groups: Option<Box<Groups>>,
}

const OK_BIT: u64 = 1 << 63;

/// Hashes request ids, which are unique `u64`s (a load generator's index in the high bits, a
/// counter in the low ones), with a fold and one multiplication: SipHash's resistance to chosen
/// keys buys nothing here, and this map is touched twice per request.
#[derive(Default)]
struct ReqHasher(u64);

impl Hasher for ReqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        let h = (self.0 ^ v ^ (v >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty history of a run over `shards`: a sharded database's groups get a history
    /// each besides the run's.
    pub fn for_shards(shards: &Shards) -> Self {
        Self { groups: Groups::new(shards).map(Box::new), ..Self::default() }
    }

    /// Feeds one event that happened at `t_ns` (not before the previous one's time), and says
    /// what it did to the map of outstanding requests (the analyzer matches requests by it).
    pub fn observe(&mut self, t_ns: u64, event: &Event) -> Matched {
        if let Some(groups) = &mut self.groups {
            groups.observe(t_ns, event);
        }
        match event {
            Event::Invoke { req, user, op, key, .. } => {
                let entry = OpEntry {
                    req: *req,
                    key: *key,
                    invoke_ns: t_ns,
                    complete_ns: None,
                    observed: None,
                    user: *user,
                    op: *op,
                    outcome: Outcome::Timeout,
                };
                // A reused outstanding id is an anomaly the analyzer reports; keep the first.
                return match self.pending.entry(*req) {
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(entry);
                        Matched::Invoked
                    }
                    std::collections::hash_map::Entry::Occupied(_) => Matched::DuplicateInvoke,
                };
            }
            Event::Observed { req, what: Observation::Expects { writer } } => {
                self.has_observations = true;
                if self.pending.get(req).is_some_and(|entry| entry.op == Op::Cas) {
                    self.expects.insert(*req, *writer);
                }
            }
            Event::Observed { req, what } => {
                self.has_observations = true;
                if let Some(entry) = self.pending.get_mut(req) {
                    entry.observed = Some(*what);
                }
            }
            Event::Complete { req, outcome } => {
                return match self.on_complete(t_ns, *req, outcome) {
                    Some((invoked_ns, key)) => Matched::Completed { invoked_ns, key },
                    None => Matched::UnmatchedComplete,
                };
            }
            Event::Role { host, role, epoch, lsn, last_epoch } => {
                self.has_roles = true;
                if role == faultline_vocab::role::PRIMARY {
                    self.on_primary(t_ns, *host, *epoch, *lsn, *last_epoch);
                }
            }
            Event::State { host, key, value }
                if key == faultline_vocab::state::FAILOVER || key == faultline_vocab::state::DNS =>
            {
                self.on_failover(t_ns, *host, value)
            }
            Event::Sample { host, gauge, last, .. } if gauge == faultline_vocab::gauge::LAG_MS => {
                self.lag_now.insert(*host, *last);
            }
            Event::Fault(fault) => {
                if self.faults.len() < MAX_FAULTS {
                    self.faults.push((t_ns, fault.clone()));
                    self.fault_lags.push(self.lag_now.iter().map(|(&h, &l)| (h, l)).collect());
                } else {
                    self.faults_omitted += 1;
                }
            }
            // What the data checks do not read: other state keys, served reports, network
            // messages, power, gauge samples, the end, retries (a request's attempts end in
            // its one `Complete`).
            Event::State { .. }
            | Event::Served { .. }
            | Event::Message { .. }
            | Event::Power { .. }
            | Event::Sample { .. }
            | Event::End
            | Event::Retry { .. } => {}
        }
        Matched::Nothing
    }

    /// Ends request `req`: its invocation time and key, or `None` if it was not outstanding.
    fn on_complete(&mut self, t_ns: u64, req: u64, outcome: &Outcome) -> Option<(u64, u64)> {
        let mut entry = self.pending.remove(&req)?;
        let (invoked_ns, key) = (entry.invoke_ns, entry.key);
        entry.complete_ns = Some(t_ns);
        entry.outcome = outcome.clone();
        if *outcome != Outcome::Ok {
            entry.observed = None;
        }
        self.completions.push(pack(t_ns, outcome.is_success()));
        self.keep(entry);
        Some((invoked_ns, key))
    }

    fn keep(&mut self, entry: OpEntry) {
        let data = self.has_roles || self.has_observations;
        let keep = match entry.op {
            Op::Read => entry.observed.is_some(),
            Op::Write | Op::Cas => data,
            // Counters are judged on every increment, acknowledged or not.
            Op::Add => true,
            Op::Other => false,
        };
        if keep {
            self.ops.push(entry);
        }
    }

    fn on_primary(&mut self, t_ns: u64, host: u16, epoch: u64, lsn: u64, last_epoch: u64) {
        let entry = self.epochs.entry(epoch).or_insert_with(|| EpochEntry {
            start_ns: t_ns,
            base_lsn: lsn,
            last_epoch,
            primaries: Vec::new(),
        });
        if !entry.primaries.iter().any(|&(h, _)| h == host) {
            entry.primaries.push((host, t_ns));
        }
    }

    fn on_failover(&mut self, t_ns: u64, host: u16, value: &str) {
        let kind = if value.starts_with(faultline_vocab::failover::DETECTED) {
            FailoverKind::Detected
        } else if value.starts_with(faultline_vocab::failover::PROMOTED) {
            FailoverKind::Promoted
        } else if value.ends_with(":unhealthy") {
            FailoverKind::DnsDown
        } else if let Some(answer) = value.strip_prefix("answer ") {
            let (name, endpoint) = answer.split_once(' ').unwrap_or((answer, ""));
            match self.dns_answers.insert(name.to_string(), endpoint.to_string()) {
                Some(before) if before != endpoint => FailoverKind::DnsAnswer,
                _ => return,
            }
        } else {
            return;
        };
        if self.failovers.len() < MAX_ACTIONS {
            self.failovers.push(FailoverEntry { t_ns, host, kind, text: value.to_string() });
        } else {
            self.failovers_omitted += 1;
        }
    }

    /// Ends the history at `end_ns`: requests still outstanding count as timeouts that never
    /// completed (failures at `end_ns` for RTO).
    pub fn finish(&mut self, end_ns: u64) {
        self.end_ns = end_ns;
        if let Some(groups) = &mut self.groups {
            groups.finish(end_ns);
        }
        let mut pending: Vec<OpEntry> = std::mem::take(&mut self.pending).into_values().collect();
        pending.sort_unstable_by_key(|entry| entry.req);
        for entry in pending {
            self.completions.push(pack(end_ns, false));
            self.keep(OpEntry { observed: None, ..entry });
        }
    }

    /// The invocation times of the requests still outstanding (before [`History::finish`]), in
    /// no particular order.
    pub fn outstanding_invokes(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.values().map(|entry| entry.invoke_ns)
    }

    /// Whether the run has a data tier to judge (a `Role` or `Observed` event).
    pub fn has_data(&self) -> bool {
        self.has_roles || self.has_observations
    }

    /// Every ended workload request as (completion time, success), in completion order.
    pub fn completions(&self) -> impl Iterator<Item = (u64, bool)> + '_ {
        self.completions.iter().map(|&packed| (packed & !OK_BIT, packed & OK_BIT != 0))
    }
}

/// Time and success in one word (simulated times stay far below 2^63 ns, 292 years).
fn pack(t_ns: u64, ok: bool) -> u64 {
    (t_ns & !OK_BIT) | if ok { OK_BIT } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::{DB1, DB2, MS, Run, S};

    #[test]
    fn an_op_entry_stays_small() {
        assert!(std::mem::size_of::<OpEntry>() <= 72, "{} bytes", std::mem::size_of::<OpEntry>());
    }

    #[test]
    fn collects_ops_epochs_and_actions() {
        let mut run = Run::new();
        run.primary(0, DB1, 1, 0, 0);
        let w = run.write(S, MS, 10, 0, Some((1, 1)));
        let r = run.read(2 * S, MS, 10, 0, Some(w));
        run.other(3 * S, Outcome::Unreachable);
        run.failed_read(3 * S, 10, 0);
        run.detected(4 * S, DB1);
        run.primary(5 * S, DB2, 2, 1, 1);
        run.promoted(5 * S, DB2, 2, 1);
        let history = run.history();
        assert_eq!(history.ops.iter().map(|o| o.req).collect::<Vec<_>>(), [w, r]);
        assert_eq!(history.ops[0].written(), Some((1, 1)));
        assert_eq!(history.ops[1].read(), Some((Some(w), 0)));
        assert_eq!(history.completions().count(), 4);
        assert_eq!(history.completions().filter(|c| c.1).count(), 2);
        let epochs: Vec<(u64, u64, u64)> = history.epochs.iter().map(|(e, x)| (*e, x.base_lsn, x.last_epoch)).collect();
        assert_eq!(epochs, [(1, 0, 0), (2, 1, 1)]);
        let kinds: Vec<FailoverKind> = history.failovers.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FailoverKind::Detected, FailoverKind::Promoted]);
        assert!(history.has_data());
    }

    #[test]
    fn outstanding_requests_end_as_timeouts() {
        let mut run = Run::new();
        run.primary(0, DB1, 1, 0, 0);
        run.invoke_write(S, 3, 0);
        let history = run.history();
        assert_eq!(history.ops.len(), 1);
        assert_eq!(history.ops[0].complete_ns, None);
        assert_eq!(history.ops[0].outcome, Outcome::Timeout);
        assert_eq!(history.completions().collect::<Vec<_>>(), [(history.end_ns, false)]);
    }

    #[test]
    fn without_data_events_only_observed_reads_are_kept() {
        let mut history = History::new();
        let invoke = |req| Event::Invoke { req, user: 0, client: 0, service: 1, op: Op::Write, key: 1 };
        history.observe(1, &invoke(1));
        history.observe(2, &Event::Complete { req: 1, outcome: Outcome::Ok });
        history.finish(3);
        assert!(history.ops.is_empty());
        assert!(!history.has_data());
        assert_eq!(history.completions().collect::<Vec<_>>(), [(2, true)]);
    }
}
