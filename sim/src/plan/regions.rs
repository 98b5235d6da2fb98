//! The regions in the plan: each region's hosts and load generators and the settings of its
//! links, the links between two regions, and the links between hosts those settings reach.
//!
//! Owns: [`RegionPlan`], [`RegionLinkPlan`], their compilation from a validated scenario and
//! their text in `faultline plan`, and [`host_links`]: the per-pair links the regions make,
//! which join the `[[links]]` entries in the plan's `links` (so the world configures them, and
//! a restore finds them, as it does any configured link). Precedence for a pair of hosts: its
//! `[[links]]` entry, else one region's settings (both in it), else the `[[region_links]]`
//! entry of their two regions, else the network's. A pair whose settings come out as the
//! network's gets no entry, so a scenario without regions keeps its links (and its trace) as
//! they were. Must not: know turmoil.

use super::RunPlan;
use super::text::dur;
use crate::scenario::Scenario;
use crate::scenario::regions::{Geography, Setting};
use crate::workload::LoadgenPlan;
use faultline_chaos::trace::{LinkInfo, RegionInfo};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// One region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionPlan {
    /// Its name.
    pub name: String,
    /// The file's hosts in it, by index.
    pub hosts: Vec<u16>,
    /// The load generators in it, by host index: its users.
    pub loadgens: Vec<u16>,
    /// One-way latency between two of its hosts, nanoseconds.
    pub latency_ns: u64,
    /// Extra random latency up to this, nanoseconds.
    pub jitter_ns: u64,
    /// Loss probability between two of its hosts.
    pub loss: f64,
}

/// The settings of the links between two regions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionLinkPlan {
    /// One region.
    pub a: String,
    /// The other.
    pub b: String,
    /// One-way latency, nanoseconds.
    pub latency_ns: u64,
    /// Extra random latency up to this, nanoseconds.
    pub jitter_ns: u64,
    /// Loss probability.
    pub loss: f64,
}

/// The scenario's regions, in file order.
pub(super) fn regions(scenario: &Scenario, by_name: &BTreeMap<String, u16>) -> Vec<RegionPlan> {
    let geo = Geography::new(scenario);
    scenario
        .regions
        .iter()
        .map(|r| {
            let r = r.get_ref();
            let name = r.name.get_ref();
            let (latency_ns, jitter_ns, loss) = r.setting(&scenario.network);
            let hosts = geo.servers_of(name).into_iter().map(|i| by_name[scenario.hosts[i].get_ref().name.get_ref()]);
            let loadgens = geo.loadgens_of(name).into_iter().map(|g| by_name[&RunPlan::loadgen_name(g)]);
            RegionPlan {
                name: name.clone(),
                hosts: hosts.collect(),
                loadgens: loadgens.collect(),
                latency_ns,
                jitter_ns,
                loss,
            }
        })
        .collect()
}

/// The scenario's region links, in file order.
pub(super) fn region_links(scenario: &Scenario) -> Vec<RegionLinkPlan> {
    scenario
        .region_links
        .iter()
        .map(|l| {
            let l = l.get_ref();
            let (latency_ns, jitter_ns, loss) = l.setting(&scenario.network);
            let [a, b] = &l.between;
            RegionLinkPlan { a: a.get_ref().clone(), b: b.get_ref().clone(), latency_ns, jitter_ns, loss }
        })
        .collect()
}

/// The links the regions set between two hosts, `explicit` (the `[[links]]` entries) left out:
/// first the pairs of the file's hosts, ascending, then each load generator in a region with
/// each of its users' targets.
pub(super) fn host_links(
    scenario: &Scenario,
    regions: &[RegionPlan],
    loadgens: &[LoadgenPlan],
    explicit: &[LinkInfo],
    first_loadgen: usize,
) -> Vec<LinkInfo> {
    let geo = Geography::new(scenario);
    let net = &scenario.network;
    let network: Setting = (crate::services::ns(net.latency.0), crate::services::ns(net.jitter.0), *net.loss.get_ref());
    let configured = |a: Option<&str>, b: Option<&str>| geo.link(a, b).filter(|s| *s != network);
    let taken: BTreeSet<(u16, u16)> = explicit.iter().map(|l| (l.a.min(l.b), l.a.max(l.b))).collect();
    let mut pairs: BTreeMap<(u16, u16), Setting> = BTreeMap::new();
    for (i, ra) in regions.iter().enumerate() {
        for rb in &regions[i..] {
            let Some(setting) = configured(Some(&ra.name), Some(&rb.name)) else { continue };
            for (k, &x) in ra.hosts.iter().enumerate() {
                let peers = if ra.name == rb.name { &ra.hosts[k + 1..] } else { &rb.hosts[..] };
                for &y in peers {
                    pairs.insert((x.min(y), x.max(y)), setting);
                }
            }
        }
    }
    let mut out: Vec<LinkInfo> =
        pairs.into_iter().filter(|(pair, _)| !taken.contains(pair)).map(|((a, b), s)| link(a, b, s)).collect();
    for lg in loadgens {
        let host = u16::try_from(first_loadgen + lg.index as usize).expect("validated: host indices fit in a u16");
        let targets: BTreeSet<u16> = lg.users.iter().map(|u| u.target).collect();
        for target in targets {
            if let Some(setting) = configured(geo.server(target as usize), geo.loadgen(lg.index)) {
                out.push(link(target, host, setting));
            }
        }
    }
    out
}

fn link(a: u16, b: u16, (latency_ns, jitter_ns, loss): Setting) -> LinkInfo {
    LinkInfo { a, b, latency_ns, jitter_ns, loss }
}

/// The regions as the trace header carries them: each with its hosts and load generators.
pub(super) fn header_regions(regions: &[RegionPlan]) -> Vec<RegionInfo> {
    regions
        .iter()
        .map(|r| {
            let mut hosts: Vec<u16> = r.hosts.iter().chain(&r.loadgens).copied().collect();
            hosts.sort_unstable();
            RegionInfo { name: r.name.clone(), hosts }
        })
        .collect()
}

/// The regions' section of `faultline plan`: each region with its hosts, its users and the
/// settings inside it, then the links between regions.
pub(super) fn render(plan: &RunPlan, names: &[String], s: &mut String) {
    if plan.regions.is_empty() {
        return;
    }
    let list = |hosts: &[u16]| {
        let named: Vec<&str> = hosts.iter().map(|h| names[*h as usize].as_str()).collect();
        if named.is_empty() { "none".to_string() } else { named.join(", ") }
    };
    let settings = |latency_ns: u64, jitter_ns: u64, loss: f64| {
        format!("latency {} jitter {} loss {loss}", dur(latency_ns), dur(jitter_ns))
    };
    let _ = writeln!(s, "regions ({}):", plan.regions.len());
    for r in &plan.regions {
        let _ = writeln!(
            s,
            "  {}: hosts {}; users on {}; inside: {}",
            r.name,
            list(&r.hosts),
            list(&r.loadgens),
            settings(r.latency_ns, r.jitter_ns, r.loss)
        );
    }
    if !plan.region_links.is_empty() {
        let _ = writeln!(s, "region links:");
        for l in &plan.region_links {
            let _ = writeln!(s, "  {} <-> {}: {}", l.a, l.b, settings(l.latency_ns, l.jitter_ns, l.loss));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::{RunPlan, compile};

    fn plan_of(toml: &str) -> RunPlan {
        let scenario = crate::scenario::parse_str("regions.toml", toml).unwrap_or_else(|e| panic!("{e}"));
        compile(&scenario, None)
    }

    /// us (latency 1ms): a, b; eu (network's settings): c; d in no region. us <-> eu: 40ms.
    const BASE: &str = "name = \"r\"\nduration = \"10s\"\n[network]\nlatency = \"5ms\"\n\
        [[regions]]\nname = \"us\"\nlatency = \"1ms\"\njitter = \"200us\"\n\
        [[regions]]\nname = \"eu\"\n\
        [[region_links]]\nbetween = [\"eu\", \"us\"]\nlatency = \"40ms\"\njitter = \"4ms\"\n\
        [[hosts]]\nname = \"a\"\nregion = \"us\"\nservice = \"echo\"\n\
        [[hosts]]\nname = \"b\"\nregion = \"us\"\nservice = \"echo\"\n\
        [[hosts]]\nname = \"c\"\nregion = \"eu\"\nservice = \"echo\"\n\
        [[hosts]]\nname = \"d\"\nservice = \"echo\"\n\
        [workload]\ntargets = [\"a\", \"c\", \"d\"]\nusers = 6\nloadgens = 2\nnear = [\"us\", \"eu\"]\n\
        arrival = { constant = { rate = 10 } }\n";

    /// The configured links as `a-b latency_ms`.
    fn links(plan: &RunPlan) -> Vec<String> {
        let names: Vec<String> = plan.header().hosts.into_iter().map(|h| h.name).collect();
        plan.links
            .iter()
            .map(|l| format!("{}-{} {}ms", names[l.a as usize], names[l.b as usize], l.latency_ns / 1_000_000))
            .collect()
    }

    #[test]
    fn a_link_takes_its_entry_else_its_region_else_the_region_link_else_the_network() {
        let plan = plan_of(BASE);
        // a-b inside us (1ms); a-c and b-c between us and eu (40ms); c-d and the rest: the
        // network's, no entry. lg0 (us) sends to a (1ms), c (40ms) and d (no region: none);
        // lg1 (eu) to a (40ms), c (eu's own settings are the network's: none) and d.
        assert_eq!(links(&plan), ["a-b 1ms", "a-c 40ms", "b-c 40ms", "a-lg0 1ms", "c-lg0 40ms", "a-lg1 40ms"]);
        assert_eq!(plan.links[0].jitter_ns, 200_000);
        let explicit = BASE.replace("[workload]", "[[links]]\nbetween = [\"c\", \"a\"]\nlatency = \"7ms\"\n[workload]");
        let plan = plan_of(&explicit);
        let expected = ["c-a 7ms", "a-b 1ms", "b-c 40ms", "a-lg0 1ms", "c-lg0 40ms", "a-lg1 40ms"];
        assert_eq!(links(&plan), expected, "the entry wins");
    }

    #[test]
    fn regions_know_their_hosts_and_users_and_reach_the_header() {
        let plan = plan_of(BASE);
        let names: Vec<(&str, Vec<u16>, Vec<u16>)> =
            plan.regions.iter().map(|r| (r.name.as_str(), r.hosts.clone(), r.loadgens.clone())).collect();
        assert_eq!(names, [("us", vec![0, 1], vec![4]), ("eu", vec![2], vec![5])]);
        assert_eq!((plan.regions[1].latency_ns, plan.region_links[0].latency_ns), (5_000_000, 40_000_000));
        let header = plan.header();
        assert_eq!(header.regions[0].hosts, [0, 1, 4], "servers, then the users");
        let text = plan.render_text();
        assert!(
            text.contains("regions (2):\n  us: hosts a, b; users on lg0; inside: latency 1ms jitter 200us loss 0\n"),
            "{text}"
        );
        assert!(text.contains("  eu: hosts c; users on lg1; inside: latency 5ms jitter 0s loss 0\n"), "{text}");
        assert!(text.contains("region links:\n  eu <-> us: latency 40ms jitter 4ms loss 0\n"), "{text}");
        assert!(text.contains("  lg1 (#5) in eu: 3 users"), "{text}");
    }

    #[test]
    fn without_regions_the_plan_is_as_before() {
        let plain = "name = \"r\"\nduration = \"10s\"\n[[hosts]]\nname = \"a\"\nservice = \"echo\"\n\
            [workload]\ntargets = [\"a\"]\nusers = 1\narrival = { constant = { rate = 10 } }\n";
        let plan = plan_of(plain);
        assert!(plan.links.is_empty() && plan.regions.is_empty() && plan.header().regions.is_empty());
        let json = serde_json::to_value(&plan).expect("serializes");
        assert!(json.get("regions").is_none() && json.get("region_links").is_none(), "{json}");
        assert!(!plan.render_text().contains("regions"));
    }

    #[test]
    fn users_without_near_keep_the_network() {
        let plan = plan_of(&BASE.replace("near = [\"us\", \"eu\"]\n", ""));
        assert_eq!(links(&plan), ["a-b 1ms", "a-c 40ms", "b-c 40ms"], "load generators in no region");
        assert!(plan.regions.iter().all(|r| r.loadgens.is_empty()));
    }
}
