//! An app's sharded database (`shards`): replicated kv groups, each behind a router, and the
//! tenant directory that places a key (by its tenant, the bytes up to its first `:`) on one.
//! Its settings, their checks, its plan and the model's configuration.
//!
//! Must not: route keys itself (`faultline_models::shard` does), or know how a group fails over
//! (its failover controller does, as for a lone `router`).

use super::{RoutedPlan, RouterSpec};
use crate::scenario::spans::{Seg, name_list};
use crate::scenario::validate::Checker;
use crate::scenario::{Host, Sp};
use crate::services::{DbGroup, PlanContext, Service, members};
use faultline_models::app::{DbRoute, ShardedDb};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most groups a sharded database may have.
pub const MAX_GROUPS: usize = 64;

/// A sharded database: replicated groups and the tenant directory.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardsSpec {
    /// The groups by name, each a router over a kv primary and its replicas (the same settings
    /// as `router`). Unknown tenants without a `default` are jump-hashed over the groups in
    /// name order.
    pub groups: BTreeMap<String, RouterSpec>,
    /// Tenant -> group name. A key's tenant is its bytes up to the first `:`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub tenants: BTreeMap<String, Sp<String>>,
    /// The group of tenants `tenants` does not name. Default: jump-hashed over the groups.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub default: Option<Sp<String>>,
}

/// What decides where a key lives: (group, its members) in order, (tenant, group), the default.
type Placement<'a> = (Vec<(&'a str, Vec<&'a str>)>, Vec<(&'a str, &'a str)>, Option<&'a str>);

/// A sharded database in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardsPlan {
    /// Each group's name, its kv nodes' host names and its router, in name order.
    pub groups: Vec<(String, Vec<String>, RoutedPlan)>,
    /// Tenant -> group name.
    pub tenants: BTreeMap<String, String>,
    /// The group of tenants not named.
    pub default: Option<String>,
}

impl ShardsSpec {
    /// Checks the groups (each a kv primary and its replicas, no node in two groups) and that
    /// every tenant and the default name a group.
    pub(super) fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        let path = [Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("app"), Seg::Key("shards")];
        let span = c.span_at(&path, host.name.span());
        if self.groups.is_empty() || self.groups.len() > MAX_GROUPS {
            let message = format!(
                "`shards` has {} groups; expected 1 to {MAX_GROUPS}, each a kv primary and its replicas",
                self.groups.len()
            );
            c.report(span.clone(), "groups", message);
        }
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, group) in &self.groups {
            members(c, &group.members, span.clone(), &format!("shard group {name:?}"));
            for member in &group.members {
                if let Some(other) = owner.insert(member.get_ref(), name) {
                    let message = format!(
                        "{:?} is in shard groups {other:?} and {name:?}; expected each kv node in one group",
                        member.get_ref()
                    );
                    c.report(member.span(), "in two groups", message);
                }
            }
        }
        let groups = || name_list(self.groups.keys().map(String::as_str).collect::<Vec<_>>());
        for (tenant, group) in &self.tenants {
            if tenant.is_empty() || tenant.contains(':') {
                let message = format!(
                    "tenant {tenant:?} could match no key; expected a non-empty name without `:` (a key's tenant is its bytes up to the first `:`)"
                );
                c.report(group.span(), "bad tenant", message);
            }
            if !self.groups.contains_key(group.get_ref()) {
                let message = format!(
                    "tenant {tenant:?} is placed on {:?}, which is not a group; the groups are: {}",
                    group.get_ref(),
                    groups()
                );
                c.report(group.span(), "no such group", message);
            }
        }
        if let Some(default) = &self.default
            && !self.groups.contains_key(default.get_ref())
        {
            let message = format!("`default` {:?} is not a group; the groups are: {}", default.get_ref(), groups());
            c.report(default.span(), "no such group", message);
        }
        self.same_as_first(c, host, span);
    }

    /// Checks that this app places keys as the file's first app with `shards` does: the report
    /// judges each group's keys by one directory.
    fn same_as_first(&self, c: &mut Checker, host: &Host, span: std::ops::Range<usize>) {
        let first = c.hosts.values().find_map(|h| {
            let Service::App(app) = &h.service else { return None };
            app.shards.as_ref().map(|shards| (h.name.get_ref(), shards))
        });
        let Some((first_name, first)) = first else { return };
        if first_name == host.name.get_ref() || first.placement() == self.placement() {
            return;
        }
        let message = format!(
            "app {:?} places keys otherwise than app {first_name:?}; expected every app over the sharded database to have the same groups, members, tenants and default",
            host.name.get_ref()
        );
        c.report(span, "another directory", message);
    }

    /// What decides where a key lives: each group's members, the tenants and the default.
    fn placement(&self) -> Placement<'_> {
        let groups = self
            .groups
            .iter()
            .map(|(name, g)| (name.as_str(), g.members.iter().map(|m| m.get_ref().as_str()).collect()))
            .collect();
        let tenants = self.tenants.iter().map(|(t, g)| (t.as_str(), g.get_ref().as_str())).collect();
        (groups, tenants, self.default.as_ref().map(|d| d.get_ref().as_str()))
    }

    /// The plan of validated shards.
    pub(super) fn compile(&self, cx: &PlanContext) -> ShardsPlan {
        ShardsPlan {
            groups: self
                .groups
                .iter()
                .map(|(name, group)| {
                    let hosts = group.members.iter().map(|m| m.get_ref().clone()).collect();
                    (name.clone(), hosts, group.compile(cx))
                })
                .collect(),
            tenants: self.tenants.iter().map(|(tenant, group)| (tenant.clone(), group.get_ref().clone())).collect(),
            default: self.default.as_ref().map(|d| d.get_ref().clone()),
        }
    }
}

impl ShardsPlan {
    /// The model's route.
    pub(super) fn config(&self) -> DbRoute {
        DbRoute::Sharded(self.sharded())
    }

    fn sharded(&self) -> ShardedDb {
        ShardedDb {
            groups: self.groups.iter().map(|(name, _, group)| (name.clone(), group.config())).collect(),
            tenants: self.tenants.clone(),
            default: self.default.clone(),
        }
    }

    /// Each group with the workload's tenants (by index) whose keys it holds.
    pub(super) fn db_groups(&self, tenants: &[String]) -> Vec<DbGroup> {
        let Ok(directory) = self.sharded().directory() else {
            return Vec::new(); // Validated: every tenant names a group.
        };
        let mut groups: Vec<DbGroup> = self
            .groups
            .iter()
            .map(|(name, members, _)| DbGroup { name: name.clone(), members: members.clone(), tenants: Vec::new() })
            .collect();
        for (index, tenant) in tenants.iter().enumerate() {
            let owner = directory.owner_index(format!("{tenant}:k").as_bytes());
            groups[owner].tenants.push(u16::try_from(index).expect("validated: at most 1024 tenants"));
        }
        groups
    }
}
