//! The scenario's `[swarm]` table: what a swarm run (`--swarm`) may draw from its seed on top
//! of the scripted faults (which fault kinds, on which hosts, in which window, how many, how
//! long) and which checks decide it; its validation with located errors, and the
//! [`faultline_chaos::swarm::Space`] it compiles to.
//!
//! A scenario without the table still swarms: every kind some host of the file can take, on
//! every host, up to 3 faults starting between 10% and 70% of the run, each lasting 1 s to a
//! fifth of the run, judging the invariants. Owns: [`SwarmSpec`], its defaults (documented in
//! `docs/scenario.md`), its checks and [`space`]. Must not: draw (chaos's `swarm` does) or
//! apply a fault.

use super::spans::{Seg, fmt_dur, name_list};
use super::types::{Dur, Host, Scenario, Sp};
use super::validate::Checker;
use crate::services::{Want, ns};
use faultline_chaos::swarm::{Kind, Space, SwarmRegion};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The most faults one seed may draw.
pub const MAX_SWARM_FAULTS: u32 = 16;

/// What a swarm run may draw, and what it judges.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwarmSpec {
    /// The fault kinds a seed may enable (each seed enables a random subset): "kill",
    /// "partition", "partition_oneway", "link", "clock_skew", "replication_delay",
    /// "disk_delay", "slowdown", "fail_requests", "cache_flush", "long_transactions",
    /// "cdn_purge", and with regions "region_outage" and "region_partition". Default: every
    /// kind some target can take.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub kinds: Option<Vec<Sp<String>>>,
    /// The most faults one seed draws, 1 to 16 (it draws 1 to this many). Default 3.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_faults: Option<Sp<u32>>,
    /// When drawn faults may start: `["5s", "25s"]`. Default: from 10% to 70% of the run.
    #[serde(default)]
    #[schemars(with = "Option<[Dur; 2]>")]
    pub window: Option<Sp<Vec<Dur>>>,
    /// How long a drawn fault lasts (before its undo), shortest and longest: `["1s", "5s"]`.
    /// Default: from 1 s to a fifth of the run.
    #[serde(default)]
    #[schemars(with = "Option<[Dur; 2]>")]
    pub length: Option<Sp<Vec<Dur>>>,
    /// The hosts drawn faults may strike, by host name or group. Default: every host of the
    /// file.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub targets: Vec<Sp<String>>,
    /// The checks that decide a swarm run, each by its name or first words (as
    /// `expected_failures`). Default: every invariant; objectives (SLOs, RTOs, a deploy's
    /// promise) are measured, not judged.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub judge: Vec<Sp<String>>,
}

/// Whether a host of the file can take a fault of `kind`.
fn takes(host: &Host, kind: Kind) -> bool {
    let s = &host.service;
    match kind {
        Kind::Kill | Kind::Partition | Kind::PartitionOneWay | Kind::Link | Kind::ClockSkew | Kind::Slowdown => true,
        Kind::ReplicationDelay => s.provides(Want::Kv) && !s.provides(Want::KvPrimary),
        Kind::DiskDelay => s.provides(Want::Kv),
        Kind::FailRequests => s.provides(Want::HttpApp),
        Kind::CacheFlush => s.provides(Want::Cache),
        Kind::LongTransactions => s.provides(Want::Store),
        Kind::CdnPurge => s.provides(Want::Cdn),
        // A region kind strikes regions, not hosts (see `regions`).
        Kind::RegionOutage | Kind::RegionPartition => false,
    }
}

/// The scenario's regions as a swarm strikes them: each region's servers, and its servers and
/// users (the load generators `near` places in it).
fn swarm_regions(scenario: &Scenario) -> Vec<SwarmRegion> {
    let geo = super::regions::Geography::new(scenario);
    let index = |i: usize| u16::try_from(i).expect("validated: host indices fit a u16");
    scenario
        .regions
        .iter()
        .map(|r| {
            let name = r.get_ref().name.get_ref();
            let servers: Vec<u16> = geo.servers_of(name).into_iter().map(index).collect();
            let mut members = servers.clone();
            members.extend(geo.loadgens_of(name).into_iter().map(|g| index(scenario.hosts.len() + g as usize)));
            SwarmRegion { name: name.clone(), servers, members }
        })
        .collect()
}

/// The regions (indices in [`swarm_regions`]) a region kind may strike, among those with a
/// server the swarm targets: an outage's have servers; a partition's have another region with
/// hosts or users to be cut off from.
fn regions(regions: &[SwarmRegion], targets: &[(u16, &Host)], kind: Kind) -> Vec<u16> {
    let targeted = |r: &SwarmRegion| r.servers.iter().any(|s| targets.iter().any(|(t, _)| t == s));
    let peopled = regions.iter().filter(|r| !r.members.is_empty()).count();
    let has_peer = kind != Kind::RegionPartition || peopled >= 2;
    (0..regions.len())
        .filter(|&i| has_peer && targeted(&regions[i]))
        .map(|i| u16::try_from(i).expect("regions are few"))
        .collect()
}

/// A host's group: its own, or its service kind.
fn group(host: &Host) -> String {
    host.group.clone().unwrap_or_else(|| host.service.kind().to_string())
}

/// The file's hosts a swarm may strike, in file order, with their indices: those `targets`
/// names (hosts or groups), or all.
fn targets<'a>(scenario: &'a Scenario, spec: &SwarmSpec) -> Vec<(u16, &'a Host)> {
    let named = |h: &Host| {
        spec.targets.is_empty()
            || spec.targets.iter().any(|t| t.get_ref() == h.name.get_ref() || *t.get_ref() == group(h))
    };
    scenario
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (u16::try_from(i).expect("validated: host indices fit a u16"), h.get_ref()))
        .filter(|(_, h)| named(h))
        .collect()
}

/// The kinds the spec allows (its list, or every kind), each with the targets that take it;
/// kinds no target takes are left out (validation refuses a listed one).
fn kinds(scenario: &Scenario, spec: &SwarmSpec) -> Vec<(Kind, Vec<u16>)> {
    let allowed: Vec<Kind> = match &spec.kinds {
        Some(list) => {
            let mut kinds: Vec<Kind> = list.iter().filter_map(|k| Kind::from_name(k.get_ref())).collect();
            kinds.sort();
            kinds.dedup();
            kinds
        }
        None => Kind::ALL.to_vec(),
    };
    let targets = targets(scenario, spec);
    let places = swarm_regions(scenario);
    let struck = |k: Kind| match k.strikes_regions() {
        true => regions(&places, &targets, k),
        false => targets.iter().filter(|(_, h)| takes(h, k)).map(|(i, _)| *i).collect(),
    };
    allowed
        .into_iter()
        .filter(|k| !k.needs_peer() || scenario.hosts.len() >= 2)
        .map(|k| (k, struck(k)))
        .filter(|(_, hosts)| !hosts.is_empty())
        .collect()
}

/// The default window: from 10% to 70% of the run.
fn default_window(end: Duration) -> (Duration, Duration) {
    (end / 10, end * 7 / 10)
}

/// The default length range: 1 s (or the whole window, if shorter) to a fifth of the run.
fn default_length(end: Duration) -> (Duration, Duration) {
    let long = (end / 5).max(Duration::from_millis(1));
    (Duration::from_secs(1).min(long), long)
}

fn pair(value: &Option<Sp<Vec<Dur>>>, default: (Duration, Duration)) -> (Duration, Duration) {
    match value.as_ref().map(|v| v.get_ref().as_slice()) {
        Some([a, b]) => (a.0, b.0),
        _ => default,
    }
}

/// The space a swarm run of `scenario` draws from. The scenario must have passed validation.
pub fn space(scenario: &Scenario) -> Space {
    let default = SwarmSpec::default();
    let spec = scenario.swarm.as_ref().unwrap_or(&default);
    let end = scenario.duration.get_ref().0;
    let (from, to) = pair(&spec.window, default_window(end));
    let (short, long) = pair(&spec.length, default_length(end));
    Space {
        kinds: kinds(scenario, spec),
        hosts: (0..scenario.hosts.len()).map(|i| u16::try_from(i).expect("validated")).collect(),
        max_faults: spec.max_faults.as_ref().map_or(3, |m| *m.get_ref()),
        window_ns: (ns(from), ns(to)),
        length_ns: (ns(short), ns(long)),
        regions: swarm_regions(scenario),
    }
}

/// The names the scenario's swarm judges (empty: every invariant).
pub fn judged(scenario: &Scenario) -> Vec<String> {
    scenario.swarm.as_ref().map_or_else(Vec::new, |s| s.judge.iter().map(|j| j.get_ref().trim().to_string()).collect())
}

/// Checks the `[swarm]` table: known kinds each some target can take, 1 to 16 faults, a
/// window inside the run, a length range above 0, known targets, judged names not empty.
pub(crate) fn check(c: &mut Checker) {
    let Some(spec) = &c.scenario.swarm else { return };
    for t in &spec.targets {
        let known = c
            .scenario
            .hosts
            .iter()
            .any(|h| h.get_ref().name.get_ref() == t.get_ref() || group(h.get_ref()) == *t.get_ref());
        if !known {
            let mut names: Vec<String> = c.scenario.hosts.iter().map(|h| group(h.get_ref())).collect();
            names.sort();
            names.dedup();
            let message = format!(
                "swarm target {:?} is neither a host nor a group; the groups are: {}",
                t.get_ref(),
                name_list(names.iter().map(String::as_str))
            );
            c.report(t.span(), "unknown target", message);
        }
    }
    kind_names(c, spec);
    if let Some(m) = &spec.max_faults
        && !(1..=MAX_SWARM_FAULTS).contains(m.get_ref())
    {
        let message = format!("max_faults = {}; expected 1 to {MAX_SWARM_FAULTS}", m.get_ref());
        c.report(m.span(), "out of range", message);
    }
    let end = c.end();
    if let Some(w) = &spec.window {
        match w.get_ref().as_slice() {
            [from, to] if from.0 < to.0 && to.0 <= end => {}
            [from, to] => {
                let message = format!(
                    "window [{}, {}]; expected a start before its end, and an end within the run ({})",
                    fmt_dur(from.0),
                    fmt_dur(to.0),
                    fmt_dur(end)
                );
                c.report(w.span(), "bad window", message);
            }
            _ => c.report(w.span(), "not a pair", "expected two durations: window = [\"5s\", \"25s\"]".into()),
        }
    }
    if let Some(l) = &spec.length {
        match l.get_ref().as_slice() {
            [short, long] if !short.0.is_zero() && short.0 <= long.0 => {}
            [short, long] => {
                let message = format!(
                    "length [{}, {}]; expected a shortest above 0 and not above the longest",
                    fmt_dur(short.0),
                    fmt_dur(long.0)
                );
                c.report(l.span(), "bad length", message);
            }
            _ => c.report(l.span(), "not a pair", "expected two durations: length = [\"1s\", \"5s\"]".into()),
        }
    }
    for j in &spec.judge {
        if j.get_ref().trim().is_empty() {
            c.report(j.span(), "empty", "an empty judged check name; expected a check's name or first words".into());
        }
    }
}

/// Checks each listed kind: a known name, listed once, that some target can take.
fn kind_names(c: &mut Checker, spec: &SwarmSpec) {
    let Some(list) = &spec.kinds else { return };
    if list.is_empty() {
        let span = c.span_at(&[Seg::Key("swarm"), Seg::Key("kinds")], 0..0);
        let message = "an empty `kinds`; expected at least one fault kind, or no `kinds` for all".into();
        c.report(span, "no kinds", message);
    }
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    let hosts = targets(c.scenario, spec);
    for k in list {
        let Some(kind) = Kind::from_name(k.get_ref()) else {
            let message =
                format!("unknown fault kind {:?}; expected one of: {}", k.get_ref(), name_list(names.clone()));
            c.report(k.span(), "unknown kind", message);
            continue;
        };
        if seen.insert(kind.name(), ()).is_some() {
            c.report(k.span(), "listed twice", format!("{:?} is listed twice; expected each kind once", k.get_ref()));
        } else if kind.needs_peer() && c.scenario.hosts.len() < 2 {
            let message =
                format!("a {:?} fault needs two hosts and the file has one; expected another kind", k.get_ref());
            c.report(k.span(), "no peer", message);
        } else if kind.strikes_regions() && regions(&swarm_regions(c.scenario), &hosts, kind).is_empty() {
            let message = format!(
                "no region can take a {:?} fault; expected [[regions]] with swarm target hosts in them (two with hosts or users, for a partition), or another kind",
                k.get_ref()
            );
            c.report(k.span(), "no region", message);
        } else if !kind.strikes_regions() && !hosts.iter().any(|(_, h)| takes(h, kind)) {
            let message = format!(
                "no swarm target can take a {:?} fault; expected a target host of the kind it needs, or another kind",
                k.get_ref()
            );
            c.report(k.span(), "no target", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::validate::tests::{QUICKSTART, check_in};

    /// The quickstart with `table` as its `[swarm]` table.
    fn with(table: &str) -> String {
        format!("{QUICKSTART}\n[swarm]\n{table}\n")
    }

    fn check(table: &str, expected: &[(&str, &str)]) {
        let base = with(table);
        check_in(&base, "", "", expected);
    }

    fn parsed(table: &str) -> Scenario {
        let text = with(table);
        crate::scenario::parse_str("t.toml", &text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn a_full_table_is_valid_and_compiles_to_its_space() {
        let table = "kinds = [\"kill\", \"replication_delay\", \"cache_flush\"]\nmax_faults = 2\nwindow = [\"2s\", \"6s\"]\nlength = [\"500ms\", \"2s\"]\ntargets = [\"replica\", \"cache\"]\njudge = [\"no acknowledged write lost\"]";
        check(table, &[]);
        let s = parsed(table);
        let space = space(&s);
        let s_ns = 1_000_000_000;
        assert_eq!(
            space.kinds,
            vec![(Kind::Kill, vec![1, 2]), (Kind::ReplicationDelay, vec![1]), (Kind::CacheFlush, vec![2])]
        );
        assert_eq!(
            (space.max_faults, space.window_ns, space.length_ns),
            (2, (2 * s_ns, 6 * s_ns), (s_ns / 2, 2 * s_ns))
        );
        assert_eq!(judged(&s), ["no acknowledged write lost"]);
    }

    #[test]
    fn without_a_table_every_kind_a_host_takes_is_allowed() {
        let s = crate::scenario::parse_str("t.toml", QUICKSTART).unwrap();
        let space = space(&s);
        let kinds: Vec<Kind> = space.kinds.iter().map(|(k, _)| *k).collect();
        assert!(kinds.contains(&Kind::ReplicationDelay) && kinds.contains(&Kind::CacheFlush), "{kinds:?}");
        assert!(
            !kinds.contains(&Kind::CdnPurge) && !kinds.contains(&Kind::FailRequests),
            "no cdn, no http app: {kinds:?}"
        );
        let end = s.duration.get_ref().0;
        assert_eq!(space.window_ns, (ns(end / 10), ns(end * 7 / 10)));
        assert_eq!(space.max_faults, 3);
        assert!(judged(&s).is_empty());
    }

    #[test]
    fn bad_tables_are_located_errors() {
        check(
            "kinds = [\"explode\"]",
            &[("unknown fault kind \"explode\"; expected one of: kill, partition", "\"explode\"")],
        );
        check("kinds = [\"cdn_purge\"]", &[("no swarm target can take a \"cdn_purge\" fault", "\"cdn_purge\"")]);
        check("kinds = [\"kill\", \"kill\"]", &[("listed twice", "\"kill\"")]);
        check("kinds = []", &[("an empty `kinds`", "[]")]);
        check("max_faults = 0", &[("max_faults = 0; expected 1 to 16", "0")]);
        check("max_faults = 17", &[("expected 1 to 16", "17")]);
        check("window = [\"9s\", \"2s\"]", &[("expected a start before its end", "[\"9s\", \"2s\"]")]);
        check("window = [\"1s\"]", &[("expected two durations", "[\"1s\"]")]);
        check("length = [\"0s\", \"2s\"]", &[("expected a shortest above 0", "[\"0s\", \"2s\"]")]);
        check("targets = [\"nowhere\"]", &[("swarm target \"nowhere\" is neither a host nor a group", "\"nowhere\"")]);
        check(
            "targets = [\"app\"]\nkinds = [\"replication_delay\"]",
            &[("no swarm target can take", "\"replication_delay\"")],
        );
        check("judge = [\" \"]", &[("an empty judged check name", "\" \"")]);
    }
}
