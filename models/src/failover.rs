//! A health-checking failover controller for a replicated store group, in the manner of
//! Patroni or orchestrator: it watches every member, grants the primary its write lease,
//! declares a silent primary failed, promotes the most caught-up member under a new epoch and
//! points every other member at it.
//!
//! How a run goes ([`run_controller`], for the host's life):
//! - Every `check_every` it sends `Check { epoch, lease_ms }` to every member at once (each
//!   bounded by `timeout`), always with the highest epoch it has adopted. Only the member it
//!   believes is the primary of that epoch gets `lease_ms = lease`, and only while that
//!   primary's previous check was good; everyone else gets `lease_ms = 0`.
//! - It learns the primary from the replies: the member reporting `Primary` at the highest
//!   epoch. At start-up, before any member reports `Primary`, nothing is granted; if none does
//!   within `fail_after`, the best member is promoted as below.
//! - A check of the primary is good when it answers `Status` as `Primary` of the current epoch.
//!   When no good check has come for `fail_after`, the primary is declared down (state
//!   "failover": "detected <host> down after <ms> ms"). Among the members that answered this
//!   round and do not claim to be primary, the one with the highest `(last_epoch, lsn)` wins
//!   (ties: member order); the failed primary itself qualifies only when it answered, fenced,
//!   and is the best. It gets `Promote { epoch + 1 }` (epoch + 1 above any epoch a member ever
//!   reported), and on success every other member that answered gets
//!   `Follow { new primary, epoch + 1 }` (state "failover": "promoted <host> epoch <n> at lsn
//!   <lsn>"). A failed promotion is retried on the next round.
//! - Members that answer as `Primary` or `Fenced` while another member is the primary, or as a
//!   replica of an older epoch, or that never accepted a `Follow` for the current epoch, get
//!   `Follow { current primary, epoch }` (a rejoin): a deposed primary that comes back, or a
//!   managed node that restarted fenced.
//!
//! The fencing guarantee, and the assumption under it: a node holds a lease for `lease_ms`
//! after it *receives* the grant. A grant sent in a round that started at `t` is assumed to
//! arrive before `t + timeout` (the call's own deadline) or never. So no lease granted to the
//! old primary can outlast `t + timeout + lease`, and the controller promotes no one before
//! that instant, whatever `fail_after` says. [`FailoverConfig::validate`] requires
//! `fail_after >= lease + check_every`: the primary's last grant went out at most one round
//! (`check_every`) after its last good check, so by the time it is declared down its lease has
//! run out but for at most `timeout`, and that is all the promotion may still wait. A primary
//! that misses a check gets no new grant until it answers again, so a silent primary cannot
//! have its lease extended by checks it may still be receiving; choose
//! `lease >= 3 * check_every` so one missed check does not interrupt writes.
//!
//! Determinism: members are a `Vec`, scanned in order; replies are gathered in member order;
//! ties go to the earlier member. Gauge "epoch" is the adopted epoch.
//!
//! Limits: one controller per group (two controllers would promote independently); the choice
//! is among members that answered this round, so a partitioned member holding the newest
//! writes can be passed over (that loss is what RPO measures); it does not know how stores
//! store data, only the protocol in [`crate::proto`].

use crate::client::Client;
use crate::kv::api::{Msg, NodeRole, NodeStatus};
use crate::seam::Env;
use faultline_vocab::failover as action;
use faultline_vocab::{gauge, state};
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Configuration of a failover controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverConfig {
    /// "host:port" of every store node of the group, in a fixed order (ties go to the earlier).
    pub members: Vec<String>,
    /// How often every member is checked.
    pub check_every: Duration,
    /// How long the primary may go without a good check before it is declared down.
    pub fail_after: Duration,
    /// The write lease granted to the primary at every good check.
    pub lease: Duration,
    /// The longest one call to a member (connect included) may take.
    pub timeout: Duration,
}

impl FailoverConfig {
    /// Checks the settings; an `InvalidInput` error says which one is wrong and why.
    ///
    /// `fail_after >= lease + check_every` is the fencing rule: a new primary must not exist
    /// while the old one may still hold a lease it was granted one round after its last good
    /// check.
    pub fn validate(&self) -> io::Result<()> {
        let invalid = |why: String| Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        if self.members.is_empty() {
            return invalid("failover needs at least one member".into());
        }
        for (i, member) in self.members.iter().enumerate() {
            if self.members[..i].contains(member) {
                return invalid(format!("member {member} is listed twice"));
            }
        }
        for (name, value) in [("check_every", self.check_every), ("timeout", self.timeout)] {
            if value.is_zero() {
                return invalid(format!("{name} must be above zero"));
            }
        }
        if self.lease < Duration::from_millis(1) || self.lease.as_millis() > u128::from(u32::MAX) {
            return invalid(format!("lease must be between 1 ms and {} ms, not {:?}", u32::MAX, self.lease));
        }
        if self.fail_after < self.lease + self.check_every {
            return invalid(format!(
                "fail_after ({:?}) must be at least lease + check_every ({:?} + {:?}), so the old \
                 primary's lease has run out before a new primary is promoted",
                self.fail_after, self.lease, self.check_every
            ));
        }
        Ok(())
    }

    fn lease_ms(&self) -> u32 {
        u32::try_from(self.lease.as_millis()).expect("validate bounds the lease to u32 milliseconds")
    }
}

/// The host part of a "host:port" address, for state messages.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// What the controller decided after a round of checks.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Promote this member to this epoch.
    pub(crate) promote: Option<(usize, u64)>,
    /// Send `Follow { current primary, epoch }` to these members.
    pub(crate) follow: Vec<usize>,
    /// State changes to report, in order.
    pub(crate) events: Vec<String>,
}

/// The controller's decisions as a pure state machine over rounds of replies (`None`: no
/// usable reply). The async driver in [`run_controller`] only sends what it says.
pub(crate) struct Controller {
    config: FailoverConfig,
    started: Duration,
    /// The adopted epoch (0: no primary known yet).
    epoch: u64,
    /// The highest epoch any member ever reported or was offered.
    highest_seen: u64,
    primary: Option<usize>,
    /// When the primary last answered a check well (or was adopted or promoted).
    last_good: Duration,
    /// The primary's last check was good: it gets a lease on the next one.
    healthy: bool,
    /// When the round that last sent the primary a lease started.
    last_grant: Option<Duration>,
    /// The current trouble (primary down, or none at start-up) was reported.
    down_reported: bool,
    /// Per member: the epoch of the last `Follow` it accepted (or was found following).
    followed: Vec<u64>,
}

impl Controller {
    pub(crate) fn new(config: FailoverConfig, now: Duration) -> Self {
        let n = config.members.len();
        Self {
            config,
            started: now,
            epoch: 0,
            highest_seen: 0,
            primary: None,
            last_good: now,
            healthy: false,
            last_grant: None,
            down_reported: false,
            followed: vec![0; n],
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    fn host(&self, i: usize) -> &str {
        host_of(&self.config.members[i])
    }

    /// The check to send each member in the round starting `now`; records a lease grant.
    pub(crate) fn checks(&mut self, now: Duration) -> Vec<Msg> {
        let grant_to = self.primary.filter(|_| self.healthy);
        if grant_to.is_some() {
            self.last_grant = Some(now);
        }
        (0..self.config.members.len())
            .map(|i| {
                let lease_ms = if grant_to == Some(i) { self.config.lease_ms() } else { 0 };
                Msg::Check { epoch: self.epoch, lease_ms }
            })
            .collect()
    }

    /// Takes in a round's replies (one per member, in order) at `now`.
    pub(crate) fn observe(&mut self, now: Duration, replies: &[Option<NodeStatus>]) -> Plan {
        assert_eq!(replies.len(), self.config.members.len(), "one reply slot per member");
        let mut plan = Plan::default();
        for status in replies.iter().flatten() {
            self.highest_seen = self.highest_seen.max(status.epoch);
        }
        self.adopt_reported_primary(now, replies, &mut plan);
        match self.primary {
            Some(p) => self.watch_primary(now, p, replies, &mut plan),
            None => self.await_first_primary(now, replies, &mut plan),
        }
        if plan.promote.is_none() {
            plan.follow = self.strays(replies);
        }
        plan
    }

    /// Adopts the member reporting `Primary` at the highest epoch, if that is news.
    fn adopt_reported_primary(&mut self, now: Duration, replies: &[Option<NodeStatus>], plan: &mut Plan) {
        let mut best: Option<(usize, u64)> = None;
        for (i, status) in replies.iter().enumerate() {
            if let Some(s) = status.filter(|s| s.role == NodeRole::Primary)
                && best.is_none_or(|(_, e)| s.epoch > e)
            {
                best = Some((i, s.epoch));
            }
        }
        let Some((i, epoch)) = best else { return };
        let news = self.primary.is_none() || epoch > self.epoch;
        if !news || (self.primary == Some(i) && epoch == self.epoch) {
            return;
        }
        self.make_primary(i, epoch, now);
        plan.events.push(format!("found primary {} epoch {epoch}", self.host(i)));
        // Replicas already at this epoch were told to follow it by whoever set it.
        for (j, status) in replies.iter().enumerate() {
            if let Some(s) = status.filter(|s| s.role == NodeRole::Replica && s.epoch == epoch) {
                self.followed[j] = s.epoch;
            }
        }
    }

    fn make_primary(&mut self, i: usize, epoch: u64, now: Duration) {
        self.primary = Some(i);
        self.epoch = epoch;
        self.highest_seen = self.highest_seen.max(epoch);
        self.last_good = now;
        self.healthy = true;
        self.last_grant = None;
        self.down_reported = false;
    }

    fn watch_primary(&mut self, now: Duration, p: usize, replies: &[Option<NodeStatus>], plan: &mut Plan) {
        let good = replies[p].is_some_and(|s| s.role == NodeRole::Primary && s.epoch == self.epoch);
        if good {
            if self.down_reported {
                plan.events.push(format!("{} answered again", self.host(p)));
            }
            self.last_good = now;
            self.healthy = true;
            self.down_reported = false;
            return;
        }
        self.healthy = false;
        let down_for = now.saturating_sub(self.last_good);
        if down_for < self.config.fail_after {
            return;
        }
        if !self.down_reported {
            self.down_reported = true;
            plan.events.push(format!("{} {} down after {} ms", action::DETECTED, self.host(p), ms(down_for)));
        }
        let lease_over = self.last_grant.is_none_or(|t| now >= t + self.config.timeout + self.config.lease);
        if lease_over {
            plan.promote = self.best(replies).map(|i| (i, self.next_epoch()));
        }
    }

    fn await_first_primary(&mut self, now: Duration, replies: &[Option<NodeStatus>], plan: &mut Plan) {
        let waited = now.saturating_sub(self.started);
        if waited < self.config.fail_after {
            return;
        }
        if !self.down_reported {
            self.down_reported = true;
            plan.events.push(format!("no primary after {} ms", ms(waited)));
        }
        plan.promote = self.best(replies).map(|i| (i, self.next_epoch()));
    }

    fn next_epoch(&self) -> u64 {
        self.highest_seen.max(self.epoch) + 1
    }

    /// The most caught-up member that answered and does not claim to be primary.
    fn best(&self, replies: &[Option<NodeStatus>]) -> Option<usize> {
        let mut best: Option<(usize, (u64, u64))> = None;
        for (i, status) in replies.iter().enumerate() {
            let Some(s) = status.filter(|s| s.role != NodeRole::Primary) else { continue };
            let rank = (s.last_epoch, s.lsn);
            if best.is_none_or(|(_, r)| rank > r) {
                best = Some((i, rank));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Members that answered and should be told to follow the current primary.
    fn strays(&self, replies: &[Option<NodeStatus>]) -> Vec<usize> {
        let Some(p) = self.primary else { return Vec::new() };
        let mut out = Vec::new();
        for (j, status) in replies.iter().enumerate() {
            let Some(s) = status else { continue };
            let stray = match s.role {
                NodeRole::Primary | NodeRole::Fenced => true,
                NodeRole::Replica => s.epoch < self.epoch || self.followed[j] < self.epoch,
            };
            if j != p && stray {
                out.push(j);
            }
        }
        out
    }

    /// The promotion of member `i` to `epoch` succeeded; returns the event to report.
    pub(crate) fn promoted(&mut self, i: usize, epoch: u64, status: &NodeStatus, now: Duration) -> String {
        self.make_primary(i, epoch, now);
        format!("{} {} epoch {epoch} at lsn {}", action::PROMOTED, self.host(i), status.lsn)
    }

    /// The promotion of member `i` to `epoch` failed; the next try uses a higher epoch.
    pub(crate) fn promotion_failed(&mut self, i: usize, epoch: u64, why: &str) -> String {
        self.highest_seen = self.highest_seen.max(epoch);
        format!("promotion of {} to epoch {epoch} failed: {why}", self.host(i))
    }

    /// Member `j` answered a `Follow` with `status`.
    pub(crate) fn followed(&mut self, j: usize, status: &NodeStatus) -> Option<String> {
        let p = self.primary?;
        if status.role != NodeRole::Replica || status.epoch != self.epoch || self.followed[j] == self.epoch {
            return None;
        }
        self.followed[j] = self.epoch;
        Some(format!("{} follows {} epoch {}", self.host(j), self.host(p), self.epoch))
    }
}

/// Runs the controller for the host's life. Returns only when `config` is invalid
/// (`InvalidInput`, see [`FailoverConfig::validate`]).
pub async fn run_controller<E: Env>(env: E, config: FailoverConfig) -> io::Result<()> {
    config.validate()?;
    let clients: Vec<Rc<Client<E, Msg>>> =
        config.members.iter().map(|m| Rc::new(Client::new(env.clone(), m.as_str(), config.timeout))).collect();
    let mut controller = Controller::new(config.clone(), env.now());
    env.gauge(gauge::EPOCH, 0);
    loop {
        let round_start = env.now();
        let checks = controller.checks(round_start);
        let targets: Vec<(usize, Msg)> = checks.into_iter().enumerate().collect();
        let replies: Vec<Option<NodeStatus>> =
            call_all(&env, &clients, targets, config.timeout).await.into_iter().map(|r| status_of(&r)).collect();
        let plan = controller.observe(env.now(), &replies);
        for event in &plan.events {
            env.state(state::FAILOVER, event);
        }
        let promoted = match plan.promote {
            Some((i, epoch)) => promote(&env, &clients, &mut controller, &replies, i, epoch, config.timeout).await,
            None => {
                follow(&env, &clients, &mut controller, &plan.follow, config.timeout).await;
                false
            }
        };
        env.gauge(gauge::EPOCH, controller.epoch() as i64);
        // Right after a promotion the next round starts at once: it grants the new primary
        // its first lease.
        let next = round_start + config.check_every;
        let now = env.now();
        if !promoted && next > now {
            env.sleep(next - now).await;
        }
    }
}

/// Promotes member `i` to `epoch`, then points every other member that answered this round at
/// it. Whether the promotion succeeded.
async fn promote<E: Env>(
    env: &E,
    clients: &[Rc<Client<E, Msg>>],
    controller: &mut Controller,
    replies: &[Option<NodeStatus>],
    i: usize,
    epoch: u64,
    limit: Duration,
) -> bool {
    let reply = clients[i].call(Msg::Promote { epoch }, limit).await;
    match &reply {
        Ok(Msg::Status(s)) if s.role == NodeRole::Primary && s.epoch == epoch => {
            let event = controller.promoted(i, epoch, s, env.now());
            env.state(state::FAILOVER, &event);
            env.gauge(gauge::EPOCH, epoch as i64);
            let others: Vec<usize> = (0..replies.len()).filter(|&j| j != i && replies[j].is_some()).collect();
            follow(env, clients, controller, &others, limit).await;
            true
        }
        _ => {
            let why = match reply {
                Ok(Msg::Error { code, detail }) => format!("{code:?}: {detail}"),
                Ok(other) => format!("unexpected {}", other.name()),
                Err(e) => e.to_string(),
            };
            let event = controller.promotion_failed(i, epoch, &why);
            env.state(state::FAILOVER, &event);
            false
        }
    }
}

/// Sends `Follow { current primary, epoch }` to `targets` at once.
async fn follow<E: Env>(
    env: &E,
    clients: &[Rc<Client<E, Msg>>],
    controller: &mut Controller,
    targets: &[usize],
    limit: Duration,
) {
    let Some(p) = controller.primary else { return };
    let primary = clients[p].addr().to_string();
    let epoch = controller.epoch();
    let calls = targets.iter().map(|&j| (j, Msg::Follow { primary: primary.clone(), epoch })).collect();
    let replies = call_all(env, clients, calls, limit).await;
    for (&j, reply) in targets.iter().zip(&replies) {
        if let Some(status) = status_of(reply)
            && let Some(event) = controller.followed(j, &status)
        {
            env.state(state::FAILOVER, &event);
        }
    }
}

fn status_of(reply: &Option<Msg>) -> Option<NodeStatus> {
    match reply {
        Some(Msg::Status(s)) => Some(*s),
        _ => None,
    }
}

/// Sends each `(member, message)` at once and gathers the replies in the order given (`None`
/// for a transport failure or timeout).
pub(crate) async fn call_all<E: Env>(
    env: &E,
    clients: &[Rc<Client<E, Msg>>],
    calls: Vec<(usize, Msg)>,
    limit: Duration,
) -> Vec<Option<Msg>> {
    let mut pending = Vec::with_capacity(calls.len());
    for (i, msg) in calls {
        let (tx, rx) = oneshot::channel();
        let client = clients[i].clone();
        env.spawn(async move {
            let _ = tx.send(client.call(msg, limit).await.ok());
        });
        pending.push(rx);
    }
    let mut out = Vec::with_capacity(pending.len());
    for rx in pending {
        out.push(rx.await.ok().flatten());
    }
    out
}

#[cfg(test)]
pub(crate) mod test_nodes;

#[cfg(test)]
mod tests;
