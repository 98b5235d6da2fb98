//! A sharded database's replication groups, each judged on its own: epochs and log positions
//! belong to one group, so "no acknowledged write lost" and "one primary per epoch" only mean
//! something within it.
//!
//! Owns: [`Groups`] (a [`History`] per group, fed the requests on the group's tenants' keys and
//! the `Role` and failover events of the group's hosts) and the merge of the groups' findings
//! into the run's. Must not: judge reads (read-your-writes, staleness and linearizability are
//! per key, and the run's one history judges them), or recovery (a run-wide measure).
//!
//! Merges: counts add up; the RPO is the largest group's; "first" times are the earliest; the
//! listed requests are the groups' in group order, up to [`LISTED`]; hosts are the union.

use super::durability::{Durability, LISTED, OnePrimary, durability, one_primary};
use super::history::History;
use crate::trace::{Event, Shards};
use std::collections::BTreeMap;

/// The groups' histories, when the run has a sharded database and a multi-tenant workload.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    /// Each group's name and history.
    pub histories: Vec<(String, History)>,
    /// Tenant (by index) -> group.
    tenant_group: Vec<Option<usize>>,
    /// Host id -> group.
    host_group: BTreeMap<u16, usize>,
    /// Outstanding request -> group.
    pending: BTreeMap<u64, usize>,
}

impl Groups {
    /// The groups of `shards`; `None` without groups or tenants (keys cannot be placed).
    pub fn new(shards: &Shards) -> Option<Self> {
        if shards.groups.is_empty() || shards.tenants.is_empty() {
            return None;
        }
        let mut tenant_group = vec![None; shards.tenants.len()];
        let mut host_group = BTreeMap::new();
        for (g, group) in shards.groups.iter().enumerate() {
            for &tenant in &group.tenants {
                if let Some(slot) = tenant_group.get_mut(tenant as usize) {
                    *slot = Some(g);
                }
            }
            for &host in &group.hosts {
                host_group.insert(host, g);
            }
        }
        let histories = shards.groups.iter().map(|group| (group.name.clone(), History::new())).collect();
        Some(Self { histories, tenant_group, host_group, pending: BTreeMap::new() })
    }

    /// Feeds one event to the group it concerns, if any.
    pub fn observe(&mut self, t_ns: u64, event: &Event) {
        let group = match event {
            Event::Invoke { req, key, .. } => {
                let tenant = (*key % self.tenant_group.len() as u64) as usize;
                let Some(group) = self.tenant_group[tenant] else { return };
                self.pending.insert(*req, group);
                Some(group)
            }
            Event::Observed { req, .. } => self.pending.get(req).copied(),
            Event::Complete { req, .. } => self.pending.remove(req),
            Event::Role { host, .. } | Event::State { host, .. } => self.host_group.get(host).copied(),
            Event::Served { .. }
            | Event::Message { .. }
            | Event::Power { .. }
            | Event::Sample { .. }
            | Event::Fault(_)
            | Event::End
            | Event::Retry { .. } => None,
        };
        if let Some(group) = group {
            self.histories[group].1.observe(t_ns, event);
        }
    }

    /// Ends every group's history at `end_ns` (requests still outstanding count as unanswered).
    pub fn finish(&mut self, end_ns: u64) {
        self.pending.clear();
        for (_, history) in &mut self.histories {
            history.finish(end_ns);
        }
    }

    /// Lost acknowledged writes over every group; `None` when no group had a primary.
    pub fn durability(&self) -> Option<Durability> {
        let found: Vec<Durability> = self.histories.iter().filter_map(|(_, h)| durability(h)).collect();
        let mut merged = found.first()?.clone();
        for d in &found[1..] {
            merged.acknowledged_writes += d.acknowledged_writes;
            merged.final_epoch = merged.final_epoch.max(d.final_epoch);
            merged.lost += d.lost;
            extend_listed(&mut merged.lost_first, &d.lost_first);
            if d.rpo_ns > merged.rpo_ns {
                merged.rpo_ns = d.rpo_ns;
                merged.worst = d.worst.clone();
            }
            merged.first_loss_ns = earliest(merged.first_loss_ns, d.first_loss_ns);
            union(&mut merged.hosts, &d.hosts);
        }
        Some(merged)
    }

    /// One primary per epoch, within each group (`names`: hosts by id).
    pub fn one_primary(&self, names: &[String]) -> OnePrimary {
        let mut merged = OnePrimary::default();
        for (_, history) in self.histories.iter().filter(|(_, h)| h.has_roles) {
            let found = one_primary(history, names);
            merged.shared_epochs.extend(found.shared_epochs);
            merged.deposed_writes += found.deposed_writes;
            let earlier = match (&merged.first_deposed, &found.first_deposed) {
                (Some(first), Some(other)) => other.invoke_ns < first.invoke_ns,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if earlier {
                merged.first_deposed = found.first_deposed;
            }
            extend_listed(&mut merged.deposed_first, &found.deposed_first);
            merged.broke_ns = earliest(merged.broke_ns, found.broke_ns);
            union(&mut merged.hosts, &found.hosts);
        }
        merged
    }
}

fn extend_listed(listed: &mut Vec<u64>, more: &[u64]) {
    let room = LISTED.saturating_sub(listed.len());
    listed.extend(more.iter().take(room));
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn union(hosts: &mut Vec<u16>, more: &[u16]) {
    hosts.extend_from_slice(more);
    hosts.sort_unstable();
    hosts.dedup();
}
