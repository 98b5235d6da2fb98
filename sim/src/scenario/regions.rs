//! Regions: named places the hosts are in, the settings of the links inside a region and
//! between two, the regions the load generators sit in (the workload's `near`), and the region
//! faults' settings.
//!
//! Owns: the `[[regions]]` and `[[region_links]]` tables and the region faults' fields (their
//! types: the format), their checks ([`check`], [`fault`]: names declared once and non-empty,
//! every reference to a declared region, one link per pair of different regions, loss in
//! range, a fault's regions holding the hosts it acts on), and the resolution the compiler and
//! the nemesis share ([`Geography`]: which hosts a region holds, which settings a link between
//! two hosts takes). Must not: know turmoil, apply a fault, or decide a host's display `group`
//! (a tier, kept apart from its region).

use super::clock::{Drift, Offset};
use super::spans::{Seg, name_list, suggest};
use super::types::{Dur, FaultEntry, FaultSpec, LinkSettings, Scenario, Sp};
use super::validate::{Checker, or_span};
use crate::services::ns;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

/// The most host pairs the regions' link settings may reach (each becomes a configured link
/// of the run, carried in the trace header).
pub const MAX_REGION_PAIRS: u64 = 250_000;

/// A region: a named place hosts are in, and the settings of the links between two of its
/// hosts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Unique name; hosts (`region`), the workload (`near`), `[[region_links]]` and the region
    /// faults refer to the region by it.
    #[schemars(with = "String")]
    pub name: Sp<String>,
    /// One-way latency between two hosts of the region. Default: the network's.
    #[serde(default)]
    pub latency: Option<Dur>,
    /// Extra random latency between two hosts of the region. Default: the network's.
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// Loss probability in [0, 1) between two hosts of the region. Default: the network's.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub loss: Option<Sp<f64>>,
}

/// The settings of every link between a host of one region and a host of another.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionLink {
    /// The two regions it joins.
    #[schemars(with = "[String; 2]")]
    pub between: [Sp<String>; 2],
    /// One-way latency. Default: the network's.
    #[serde(default)]
    pub latency: Option<Dur>,
    /// Extra random latency. Default: the network's.
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// Loss probability in [0, 1). Default: the network's.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub loss: Option<Sp<f64>>,
}

/// A region partition's regions: `{ region_partition = { a = "us-east", b = "eu-west" } }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionPartitionSpec {
    /// One region (with `oneway`: the senders cut off).
    #[schemars(with = "String")]
    pub a: Sp<String>,
    /// The other (with `oneway`: the receivers that no longer hear them).
    #[schemars(with = "String")]
    pub b: Sp<String>,
    /// Cut the direction `a` -> `b` only. Default false (both ways).
    #[serde(default)]
    pub oneway: bool,
}

/// The settings every link between two regions takes during a region latency fault.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionLatencySpec {
    /// The two regions.
    #[schemars(with = "[String; 2]")]
    pub between: [Sp<String>; 2],
    /// One-way latency.
    pub latency: Dur,
    /// Extra random latency. Default "0ms".
    #[serde(default = "super::types::zero")]
    pub jitter: Dur,
    /// Loss probability in [0, 1). Default 0.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub loss: Option<Sp<f64>>,
}

/// A region's clocks going wrong, as the host `clock_skew` fault, on every host of it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSkewSpec {
    /// The region.
    #[schemars(with = "String")]
    pub region: Sp<String>,
    /// How far each clock jumps, ahead or (negative) behind. Default "0s".
    #[serde(default)]
    pub jump: Offset,
    /// How much faster (or, negative, slower) each runs from `at` on. Default "0%".
    #[serde(default)]
    pub drift: Drift,
}

/// A link's one-way latency and jitter (nanoseconds) and loss.
pub type Setting = (u64, u64, f64);

/// `latency`, `jitter` and `loss` where given, the network's elsewhere.
fn setting(latency: Option<Dur>, jitter: Option<Dur>, loss: Option<&Sp<f64>>, net: &LinkSettings) -> Setting {
    let loss = loss.map_or(*net.loss.get_ref(), |l| *l.get_ref());
    (ns(latency.unwrap_or(net.latency).0), ns(jitter.unwrap_or(net.jitter).0), loss)
}

impl RegionSpec {
    /// The settings of a link inside the region.
    pub(crate) fn setting(&self, net: &LinkSettings) -> Setting {
        setting(self.latency, self.jitter, self.loss.as_ref(), net)
    }
}

impl RegionLink {
    /// The settings of a link between its two regions.
    pub(crate) fn setting(&self, net: &LinkSettings) -> Setting {
        setting(self.latency, self.jitter, self.loss.as_ref(), net)
    }
}

impl RegionLatencySpec {
    /// The settings the links take during the fault.
    pub(crate) fn setting(&self) -> Setting {
        (ns(self.latency.0), ns(self.jitter.0), self.loss.as_ref().map_or(0.0, |l| *l.get_ref()))
    }
}

/// Where every host of a validated scenario is: its servers (by file order) and its load
/// generators (by number), each in a region or none.
pub(crate) struct Geography<'a> {
    scenario: &'a Scenario,
}

impl<'a> Geography<'a> {
    /// The geography of `scenario`, which must have passed validation.
    pub(crate) fn new(scenario: &'a Scenario) -> Self {
        Geography { scenario }
    }

    /// The region of the file's `i`-th host.
    pub(crate) fn server(&self, i: usize) -> Option<&'a str> {
        self.scenario.hosts[i].get_ref().region.as_ref().map(|r| r.get_ref().as_str())
    }

    /// The region load generator `g` sits in: `near[g % len]`, none without `near`.
    pub(crate) fn loadgen(&self, g: u32) -> Option<&'a str> {
        let near = &self.scenario.workload.near;
        (!near.is_empty()).then(|| near[g as usize % near.len()].get_ref().as_str())
    }

    /// The file's hosts in `region`, by file index.
    pub(crate) fn servers_of(&self, region: &str) -> Vec<usize> {
        (0..self.scenario.hosts.len()).filter(|&i| self.server(i) == Some(region)).collect()
    }

    /// The load generators in `region`, by number.
    pub(crate) fn loadgens_of(&self, region: &str) -> Vec<u32> {
        (0..*self.scenario.workload.loadgens.get_ref()).filter(|&g| self.loadgen(g) == Some(region)).collect()
    }

    /// The settings of a link between a host in region `a` and one in region `b` (either may
    /// be none): both in one region, the region's; in two with a `[[region_links]]` entry, the
    /// entry's; `None` otherwise (the network's). An explicit `[[links]]` entry, which comes
    /// first, is the caller's to look for.
    pub(crate) fn link(&self, a: Option<&str>, b: Option<&str>) -> Option<Setting> {
        let (a, b) = (a?, b?);
        let net = &self.scenario.network;
        if a == b {
            let region = self.scenario.regions.iter().find(|r| r.get_ref().name.get_ref() == a)?;
            return Some(region.get_ref().setting(net));
        }
        let joins = |l: &&Sp<RegionLink>| {
            let [x, y] = &l.get_ref().between;
            (x.get_ref() == a && y.get_ref() == b) || (x.get_ref() == b && y.get_ref() == a)
        };
        self.scenario.region_links.iter().find(joins).map(|l| l.get_ref().setting(net))
    }
}

/// Runs the checks of the regions, the region links, the hosts' and the workload's references
/// to regions.
pub(crate) fn check(c: &mut Checker) {
    names(c);
    for host in &c.scenario.hosts {
        if let Some(region) = &host.get_ref().region {
            known(c, region);
        }
    }
    near(c);
    links(c);
    pairs(c);
}

/// Region names: non-empty, each once; each region's loss in range.
fn names(c: &mut Checker) {
    let mut first_line: BTreeMap<&str, usize> = BTreeMap::new();
    for region in &c.scenario.regions {
        let region = region.get_ref();
        let name = &region.name;
        if name.get_ref().trim().is_empty() {
            c.report(name.span(), "empty", "a region name is empty; expected a name such as \"us-east\"".into());
        } else if let Some(line) = first_line.get(name.get_ref().as_str()) {
            let message = format!("duplicate region name {:?}; the first is on line {line}", name.get_ref());
            c.report(name.span(), "duplicate", message);
        } else {
            let (line, _) = super::error::line_column(c.text, name.span().start);
            first_line.insert(name.get_ref(), line);
        }
        if let Some(loss) = &region.loss {
            c.loss(loss);
        }
    }
}

/// Whether `name` is a declared region; reports it (with the regions and a close name) if not.
fn known(c: &mut Checker, name: &Sp<String>) -> bool {
    let declared: Vec<&str> = c.scenario.regions.iter().map(|r| r.get_ref().name.get_ref().as_str()).collect();
    let wanted = name.get_ref();
    if declared.contains(&wanted.as_str()) {
        return true;
    }
    let mut message = if declared.is_empty() {
        format!("unknown region {wanted:?}; the file declares no regions (expected a [[regions]] table with this name)")
    } else {
        format!("unknown region {wanted:?}; the regions are: {}", name_list(declared.iter().copied()))
    };
    if let Some(close) = suggest(wanted, declared.iter().copied()) {
        message.push_str(&format!("; did you mean {close:?}?"));
    }
    c.report(name.span(), "not a region", message);
    false
}

/// The workload's `near`: declared regions, and a load generator for each entry.
fn near(c: &mut Checker) {
    let workload = &c.scenario.workload;
    for region in &workload.near {
        known(c, region);
    }
    let loadgens = *workload.loadgens.get_ref();
    if let Some(missed) = workload.near.get(loadgens as usize) {
        let message = format!(
            "`near` lists {} regions but loadgens = {loadgens}: load generator i sits in near[i % {}], so {:?} gets none; expected loadgens of at least {}",
            workload.near.len(),
            workload.near.len(),
            missed.get_ref(),
            workload.near.len()
        );
        let span = c.span_at(&[Seg::Key("workload"), Seg::Key("near")], missed.span());
        c.report(span, "a region without users", message);
    }
}

/// The region links: declared regions, two different ones, one entry per pair, loss in range.
fn links(c: &mut Checker) {
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for entry in &c.scenario.region_links {
        let link = entry.get_ref();
        let [a, b] = &link.between;
        let known_a = known(c, a);
        let known_b = known(c, b);
        if let Some(loss) = &link.loss {
            c.loss(loss);
        }
        if a.get_ref() == b.get_ref() {
            let message = format!(
                "a region link between {:?} and itself; expected two different regions (a region's own links take its [[regions]] settings)",
                a.get_ref()
            );
            c.report(or_span(b.span(), entry.span()), "same region twice", message);
            continue;
        }
        let (x, y) = (a.get_ref().as_str(), b.get_ref().as_str());
        let pair = if x < y { (x, y) } else { (y, x) };
        if known_a && known_b && !seen.insert(pair) {
            let message = format!(
                "a second region link between {:?} and {:?}; expected one [[region_links]] entry per pair",
                pair.0, pair.1
            );
            c.report(a.span(), "duplicate region link", message);
        }
    }
}

/// Bounds the host pairs whose links the regions set (each becomes a configured link).
fn pairs(c: &mut Checker) {
    let geo = Geography::new(c.scenario);
    let net = &c.scenario.network;
    let network = setting(None, None, None, net);
    let count = |region: &str| geo.servers_of(region).len() as u64 + geo.loadgens_of(region).len() as u64;
    let mut total = 0u64;
    for region in &c.scenario.regions {
        let region = region.get_ref();
        if region.setting(net) != network {
            let n = count(region.name.get_ref());
            total = total.saturating_add(n * n.saturating_sub(1) / 2);
        }
    }
    for link in &c.scenario.region_links {
        let [a, b] = &link.get_ref().between;
        if a.get_ref() != b.get_ref() && link.get_ref().setting(net) != network {
            total = total.saturating_add(count(a.get_ref()).saturating_mul(count(b.get_ref())));
        }
    }
    if total > MAX_REGION_PAIRS {
        let span = c.span_at(&[Seg::Key("regions")], 0..0);
        let message = format!(
            "the regions' link settings reach {total} pairs of hosts; expected at most {MAX_REGION_PAIRS} (fewer hosts in regions with their own settings)"
        );
        c.report(span, "too many region links", message);
    }
}

/// Checks a region fault: its regions declared (and different, for two), holding the hosts it
/// acts on, its loss in range, a skew that skews.
pub(crate) fn fault(c: &mut Checker, entry: &FaultEntry, span: Range<usize>) {
    match &entry.fault {
        FaultSpec::RegionOutage(region) => {
            servers(c, region, "a region_outage");
        }
        FaultSpec::RegionPartition(p) => two(c, [&p.a, &p.b], "a region_partition", span),
        FaultSpec::RegionLatency(l) => {
            two(c, [&l.between[0], &l.between[1]], "a region_latency", span);
            if let Some(loss) = &l.loss {
                c.loss(loss);
            }
        }
        FaultSpec::RegionSkew(s) => {
            servers(c, &s.region, "a region_skew");
            if s.jump.ns == 0 && s.drift.ppm == 0 {
                let message = "a region_skew with neither `jump` nor `drift`; expected jump = \"2s\" or drift = \"10%\" (or both)".into();
                c.report(s.region.span(), "no skew", message);
            }
        }
        FaultSpec::Kill(_)
        | FaultSpec::Restart(_)
        | FaultSpec::Partition { .. }
        | FaultSpec::Heal { .. }
        | FaultSpec::ClockSkew { .. }
        | FaultSpec::Link(_)
        | FaultSpec::ReplicationDelay { .. }
        | FaultSpec::DiskDelay { .. }
        | FaultSpec::LongTransactions { .. }
        | FaultSpec::Slowdown { .. }
        | FaultSpec::FailRequests { .. }
        | FaultSpec::CacheFlush(_)
        | FaultSpec::MemoryPressure { .. }
        | FaultSpec::ShardLeave(_)
        | FaultSpec::ShardJoin(_)
        | FaultSpec::CdnPurge(_)
        | FaultSpec::DnsTtl { .. } => {}
    }
}

/// A fault's region whose servers it acts on: declared, with at least one host.
fn servers(c: &mut Checker, region: &Sp<String>, what: &str) {
    if known(c, region) && Geography::new(c.scenario).servers_of(region.get_ref()).is_empty() {
        let message = format!(
            "{what} of region {:?}, which has no hosts; expected a region some [[hosts]] name as their `region`",
            region.get_ref()
        );
        c.report(region.span(), "an empty region", message);
    }
}

/// A fault's two regions: declared, different, each with hosts or users (the links between
/// them are what it acts on).
fn two(c: &mut Checker, regions: [&Sp<String>; 2], what: &str, span: Range<usize>) {
    let known_a = known(c, regions[0]);
    let known_b = known(c, regions[1]);
    if regions[0].get_ref() == regions[1].get_ref() {
        let message = format!("{what} between {:?} and itself; expected two different regions", regions[0].get_ref());
        c.report(or_span(regions[1].span(), span), "same region twice", message);
        return;
    }
    for (region, known) in regions.into_iter().zip([known_a, known_b]) {
        let geo = Geography::new(c.scenario);
        if known && geo.servers_of(region.get_ref()).is_empty() && geo.loadgens_of(region.get_ref()).is_empty() {
            let message = format!(
                "{what} of region {:?}, which has neither hosts nor users; expected a region some [[hosts]] name as their `region`, or the workload's `near` lists",
                region.get_ref()
            );
            c.report(region.span(), "an empty region", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::validate::tests::{check_in, findings_in};

    /// Two regions with a host in each and a user near each; a region link; one region fault.
    const BASE: &str = "name = \"r\"\nduration = \"20s\"\n\n\
        [[regions]]\nname = \"us-east\"\nlatency = \"1ms\"\n\n\
        [[regions]]\nname = \"eu-west\"\n\n\
        [[region_links]]\nbetween = [\"us-east\", \"eu-west\"]\nlatency = \"40ms\"\n\n\
        [[hosts]]\nname = \"db\"\nregion = \"us-east\"\nservice = { kv = { role = \"primary\" } }\n\n\
        [[hosts]]\nname = \"app\"\nregion = \"eu-west\"\nservice = { app = { db = \"db\" } }\n\n\
        [workload]\ntargets = [\"app\"]\nusers = 4\nloadgens = 2\nnear = [\"us-east\", \"eu-west\"]\n\
        arrival = { constant = { rate = 10 } }\n\n\
        [[faults]]\nat = \"5s\"\nfor = \"5s\"\nfault = { region_outage = \"us-east\" }\n";

    fn check(from: &str, to: &str, expected: &[(&str, &str)]) {
        check_in(BASE, from, to, expected);
    }

    #[test]
    fn the_base_is_valid() {
        check("", "", &[]);
    }

    /// The three references BASE makes to "eu-west", once it is not a region: the region
    /// link's, the app's and the workload's `near`, in file order.
    const EU_WEST_UNKNOWN: [(&str, &str); 3] = [("unknown region \"eu-west\"", "\"eu-west\""); 3];

    #[test]
    fn region_names_are_non_empty_and_unique() {
        let mut expected = vec![("a region name is empty; expected a name such as \"us-east\"", "\" \"")];
        expected.extend(EU_WEST_UNKNOWN);
        check("name = \"eu-west\"", "name = \" \"", &expected);
        let mut expected = vec![("duplicate region name \"us-east\"; the first is on line 5", "\"us-east\"")];
        expected.extend(EU_WEST_UNKNOWN);
        check("name = \"eu-west\"", "name = \"us-east\"", &expected);
        check("latency = \"1ms\"\n", "latency = \"1ms\"\nloss = 1.5\n", &[("loss 1.5 is out of range", "1.5")]);
    }

    #[test]
    fn a_hosts_region_is_declared() {
        check(
            "region = \"eu-west\"",
            "region = \"eu-wset\"",
            &[(
                "unknown region \"eu-wset\"; the regions are: us-east, eu-west; did you mean \"eu-west\"?",
                "\"eu-wset\"",
            )],
        );
        let none = "name = \"r\"\nduration = \"20s\"\n[[hosts]]\nname = \"e\"\nregion = \"mars\"\nservice = \"echo\"\n\
            [workload]\ntargets = [\"e\"]\nusers = 1\narrival = { constant = { rate = 1 } }\n";
        let got = findings_in(none, "", "");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].0.contains("unknown region \"mars\"; the file declares no regions"), "{got:?}");
        assert_eq!(got[0].1, "\"mars\"");
    }

    #[test]
    fn near_names_declared_regions_each_with_a_load_generator() {
        check(
            "near = [\"us-east\", \"eu-west\"]",
            "near = [\"us-east\", \"europe\"]",
            &[("unknown region \"europe\"; the regions are: us-east, eu-west", "\"europe\"")],
        );
        check(
            "loadgens = 2",
            "loadgens = 1",
            &[(
                "`near` lists 2 regions but loadgens = 1: load generator i sits in near[i % 2], so \"eu-west\" gets none; expected loadgens of at least 2",
                "[\"us-east\", \"eu-west\"]",
            )],
        );
    }

    #[test]
    fn region_links_join_two_different_declared_regions_once() {
        let link = "between = [\"us-east\", \"eu-west\"]";
        check(
            link,
            "between = [\"us-east\", \"us-east\"]",
            &[("a region link between \"us-east\" and itself", "\"us-east\"")],
        );
        check(link, "between = [\"us-east\", \"asia\"]", &[("unknown region \"asia\"", "\"asia\"")]);
        check(
            "latency = \"40ms\"\n",
            "latency = \"40ms\"\nloss = -0.5\n[[region_links]]\nbetween = [\"eu-west\", \"us-east\"]\n",
            &[
                ("loss -0.5 is out of range", "-0.5"),
                (
                    "a second region link between \"eu-west\" and \"us-east\"; expected one [[region_links]] entry per pair",
                    "\"eu-west\"",
                ),
            ],
        );
    }

    #[test]
    fn region_faults_name_declared_regions_that_hold_what_they_strike() {
        let outage = "fault = { region_outage = \"us-east\" }";
        check(
            outage,
            "fault = { region_outage = \"us-est\" }",
            &[(
                "unknown region \"us-est\"; the regions are: us-east, eu-west; did you mean \"us-east\"?",
                "\"us-est\"",
            )],
        );
        let empty = BASE.replace("[[hosts]]\nname = \"app\"\nregion = \"eu-west\"", "[[hosts]]\nname = \"app\"");
        let got = findings_in(&empty, outage, "fault = { region_outage = \"eu-west\" }");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].0.contains("a region_outage of region \"eu-west\", which has no hosts"), "{got:?}");
        check(
            outage,
            "fault = { region_partition = { a = \"us-east\", b = \"us-east\" } }",
            &[("a region_partition between \"us-east\" and itself; expected two different regions", "\"us-east\"")],
        );
        check(outage, "fault = { region_partition = { a = \"eu-west\", b = \"us-east\", oneway = true } }", &[]);
        check(
            outage,
            "fault = { region_latency = { between = [\"us-east\", \"eu\"], latency = \"300ms\", loss = 1.0 } }",
            &[("unknown region \"eu\"", "\"eu\""), ("loss 1 is out of range", "1.0")],
        );
        check(
            outage,
            "fault = { region_skew = { region = \"eu-west\", jump = \"0s\" } }",
            &[("a region_skew with neither `jump` nor `drift`", "\"eu-west\"")],
        );
        check(outage, "fault = { region_skew = { region = \"eu-west\", jump = \"2s\", drift = \"10%\" } }", &[]);
    }

    #[test]
    fn a_region_of_users_only_may_be_cut_off_but_not_taken_down() {
        let users_only = BASE.replace("[[hosts]]\nname = \"app\"\nregion = \"eu-west\"", "[[hosts]]\nname = \"app\"");
        let outage = "fault = { region_outage = \"us-east\" }";
        let cut = "fault = { region_latency = { between = [\"us-east\", \"eu-west\"], latency = \"150ms\" } }";
        assert_eq!(findings_in(&users_only, outage, cut), vec![], "eu-west holds users");
        let nobody = users_only.replace("near = [\"us-east\", \"eu-west\"]", "near = [\"us-east\"]");
        let got = findings_in(&nobody, outage, cut);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].0.contains("of region \"eu-west\", which has neither hosts nor users"), "{got:?}");
    }

    #[test]
    fn errors_carry_file_line_and_column() {
        let text = BASE.replace("region = \"eu-west\"", "region = \"eu-wset\"");
        let lines = crate::scenario::parse_str("regions.toml", &text).expect_err("refused").report_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].starts_with("regions.toml:22:10: unknown region \"eu-wset\""), "{lines:#?}");
    }
}
