//! Regions: the library's region scenarios keep their promises (an outage takes its region's
//! hosts down as one fault and back; a far user pays the region link both ways, and a slow
//! link shows), every region fault acts on the world it names, and a region run is
//! deterministic.

use crate::util;

use faultline_chaos::fault::Fault;
use faultline_chaos::report::Report;
use faultline_chaos::trace::{Event, Outcome, Record};
use faultline_sim::plan::compile;
use std::collections::BTreeMap;
use util::{go, library, records, scenario};

const S: u64 = 1_000_000_000;

fn report(name: &str, seed: u64) -> Report {
    go(&library(name, &[]), seed).report
}

fn failed(r: &Report) -> Vec<&str> {
    r.failures().map(|c| c.name.as_str()).collect()
}

#[test]
fn a_region_outage_takes_everything_down_for_its_length_and_back() {
    for seed in [1, 2, 3] {
        let r = report("region-outage.toml", seed);
        assert_eq!(
            failed(&r),
            ["availability at least 99%", "RTO after outage of region us-east: kill [db,app] at 20.000 s"],
            "the failures it teaches, only:\n{}",
            r.render_text()
        );
        let w = &r.windows; // 1 s windows; us-east is out from 20 s to 120 s.
        for window in &w[2..19] {
            assert_eq!(window.failed, 0, "before: {window:?}");
        }
        for window in &w[21..119] {
            assert!(window.requests > 100 && window.ok == 0, "nothing serves during the outage: {window:?}");
        }
        for window in &w[123..149] {
            assert_eq!(window.failed, 0, "restored: {window:?}");
        }
        let descriptions: Vec<&str> = r.faults.iter().map(|f| f.description.as_str()).collect();
        assert_eq!(
            descriptions,
            ["outage of region us-east: kill [db,app]", "restore region us-east: restart [db,app]"],
            "one fault for the region, one restore"
        );
        let data = r.data.as_ref().expect("a store");
        assert_eq!(data.recovery.len(), 1, "one RTO measurement for the whole region: {:?}", data.recovery);
        let rto = data.recovery[0].rto_ns.expect("it recovered");
        assert!((100 * S..105 * S).contains(&rto), "RTO {rto} ns: the outage's 100 s and a few more");
        assert_eq!(data.durability.as_ref().map(|d| d.lost), Some(0), "fsynced writes survive the outage");
    }
}

#[test]
fn an_outage_is_one_fault_event_and_a_power_event_per_host() {
    let (_, names, records) = records(&library("region-outage.toml", &[]), 1);
    let faults: Vec<&Record> = records.iter().filter(|r| matches!(r.event, Event::Fault(_))).collect();
    assert_eq!(faults.len(), 2, "the outage and its restore");
    let Event::Fault(Fault::RegionOutage { region }) = &faults[0].event else { panic!("{:?}", faults[0]) };
    let hosts: Vec<&str> = region.hosts.iter().map(|h| names[*h as usize].as_str()).collect();
    assert_eq!((region.name.as_str(), hosts), ("us-east", vec!["db", "app"]), "the servers, not the users");
    let downs: Vec<&str> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::Power { host, up: false } => Some(names[host as usize].as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(downs, ["db", "app"]);
}

/// Each request's latency (ms) by load generator, for requests issued in `[from, to)` that
/// succeeded.
fn latencies_by_client(records: &[Record], from: u64, to: u64) -> BTreeMap<u16, Vec<f64>> {
    let mut issued: BTreeMap<u64, (u16, u64)> = BTreeMap::new();
    let mut out: BTreeMap<u16, Vec<f64>> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::Invoke { req, client, .. } if (from..to).contains(&record.t_ns) => {
                issued.insert(*req, (*client, record.t_ns));
            }
            Event::Complete { req, outcome: Outcome::Ok } => {
                if let Some((client, at)) = issued.remove(req) {
                    out.entry(client).or_default().push((record.t_ns - at) as f64 / 1e6);
                }
            }
            _ => {}
        }
    }
    out
}

fn p50(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn far_users_pay_the_region_link_both_ways_and_the_spike_shows() {
    for seed in [1, 2] {
        let (outcome, names, records) = records(&library("region-latency.toml", &[]), seed);
        assert_eq!(failed(&outcome.report), ["p99 latency under 200 ms"], "{}", outcome.report.render_text());
        let near = names.iter().position(|n| n == "lg0").expect("lg0") as u16;
        let far = names.iter().position(|n| n == "lg1").expect("lg1") as u16;
        let mut before = latencies_by_client(&records, 2 * S, 10 * S);
        let mut spike = latencies_by_client(&records, 11 * S, 19 * S);
        let (near_p50, far_p50) = (p50(before.get_mut(&near).unwrap()), p50(before.get_mut(&far).unwrap()));
        // A request and its reply cross the 40 ms region link once each: 80 ms, one round trip.
        let extra = far_p50 - near_p50;
        assert!((72.0..88.0).contains(&extra), "far p50 {far_p50} ms, near p50 {near_p50} ms");
        let (near_spike, far_spike) = (p50(spike.get_mut(&near).unwrap()), p50(spike.get_mut(&far).unwrap()));
        assert!((near_spike - near_p50).abs() < 3.0, "the near users do not notice: {near_spike} vs {near_p50}");
        let extra = far_spike - near_spike;
        assert!((290.0..310.0).contains(&extra), "150 ms each way during the spike: {far_spike} vs {near_spike}");
        assert_eq!(outcome.report.end_to_end.ok, outcome.report.end_to_end.requests, "nothing fails");
        // The report's table by users' region says the same over the whole run.
        let regions: Vec<(&str, &[String])> =
            outcome.report.regions.iter().map(|r| (r.name.as_str(), &r.loadgens[..])).collect();
        assert_eq!(regions, [("us-east", &["lg0".to_string()][..]), ("eu-west", &["lg1".to_string()][..])]);
        let (near, far) = (&outcome.report.regions[0], &outcome.report.regions[1]);
        assert_eq!((near.availability, far.availability), (Some(1.0), Some(1.0)));
        assert!(near.latency.p50_ms < 15.0, "near p50 {} ms", near.latency.p50_ms);
        assert!(
            (70.0..95.0).contains(&far.latency.p50_ms),
            "far p50 {} ms: one round trip of 80 ms",
            far.latency.p50_ms
        );
        assert!(far.latency.p99_ms > 290.0, "the spike is in the far users' tail: {:?}", far.latency);
        assert!(near.latency.p99_ms < 30.0, "and not in the near users': {:?}", near.latency);
        let text = outcome.report.render_text();
        assert!(text.contains("End to end by users' region"), "{text}");
    }
}

#[test]
fn region_runs_are_deterministic() {
    for name in ["region-outage.toml", "region-latency.toml"] {
        let s = library(name, &[]);
        let a = go(&s, 7).report.trace_hash;
        assert_eq!(a, go(&s, 7).report.trace_hash, "{name}: same seed, same hash");
        assert_ne!(a, go(&s, 8).report.trace_hash, "{name}: another seed, another run");
    }
}

/// A us-east with an app and a store, a eu-west with a replica, a user near each.
const TWO_REGIONS: &str = "name = \"two\"\nduration = \"12s\"\n\
    [[regions]]\nname = \"us-east\"\n[[regions]]\nname = \"eu-west\"\n\
    [[region_links]]\nbetween = [\"us-east\", \"eu-west\"]\nlatency = \"20ms\"\n\
    [[hosts]]\nname = \"db\"\nregion = \"us-east\"\nservice = { kv = { role = \"primary\" } }\n\
    [[hosts]]\nname = \"db-eu\"\nregion = \"eu-west\"\nservice = { kv = { role = \"replica\", primary = \"db\" } }\n\
    [[hosts]]\nname = \"app\"\nregion = \"us-east\"\nservice = { app = { db = \"db\" } }\n\
    [workload]\ntargets = [\"app\"]\nusers = 20\nloadgens = 2\nnear = [\"us-east\", \"eu-west\"]\n\
    arrival = { poisson = { rate = 100 } }\n";

/// The run of TWO_REGIONS with one fault from 3 s to 5 s.
fn with_fault(fault: &str) -> Report {
    let text = format!("{TWO_REGIONS}[[faults]]\nat = \"3s\"\nfor = \"2s\"\nfault = {fault}\n");
    go(&scenario(&text), 1).report
}

#[test]
fn a_region_partition_cuts_the_far_users_off_and_heals() {
    let r = with_fault("{ region_partition = { a = \"us-east\", b = \"eu-west\" } }");
    let w = &r.windows;
    assert_eq!(w[1].failed, 0, "before: {:?}", w[1]);
    assert!(w[3].failed > 20 && w[3].ok > 20, "the far half of the users fail, the near half do not: {:?}", w[3]);
    assert!(w[4].ok <= w[4].requests / 2 + 5, "no far user is answered during the cut: {:?}", w[4]);
    // After the heal the far users are answered again (a connection with a segment in flight on
    // the link at the cut stays stuck: the world's both-ways partition drops what is in flight,
    // as it does for a host partition).
    assert!(w[8].ok > w[8].requests / 2 + 20, "most far users are back: {:?}", w[8]);
    let descriptions: Vec<&str> = r.faults.iter().map(|f| f.description.as_str()).collect();
    assert_eq!(descriptions, ["partition region us-east | eu-west", "heal region us-east | eu-west"]);
}

#[test]
fn a_region_skew_is_described_by_region_and_put_back() {
    let r = with_fault("{ region_skew = { region = \"us-east\", jump = \"2s\", drift = \"10%\" } }");
    let descriptions: Vec<&str> = r.faults.iter().map(|f| f.description.as_str()).collect();
    assert_eq!(
        descriptions,
        ["clock of region us-east jumps by +2.000s and runs 10.0000% fast", "reset clock of region us-east"]
    );
}

#[test]
fn region_faults_resolve_their_hosts_when_compiled() {
    let text = format!(
        "{TWO_REGIONS}[[faults]]\nat = \"1s\"\nfault = {{ region_latency = {{ between = [\"eu-west\", \"us-east\"], latency = \"100ms\" }} }}\n\
         [[faults]]\nat = \"2s\"\nfault = {{ region_outage = \"us-east\" }}\n"
    );
    let plan = compile(&scenario(&text), None);
    let names: Vec<String> = plan.header().hosts.into_iter().map(|h| h.name).collect();
    let Fault::RegionLatency { a, b, latency_ns, .. } = &plan.faults[0].fault else { panic!("{:?}", plan.faults) };
    let named = |hosts: &[u16]| hosts.iter().map(|h| names[*h as usize].clone()).collect::<Vec<_>>();
    assert_eq!(named(&a.hosts), ["db-eu", "lg1"], "a region's servers and its users");
    assert_eq!(named(&b.hosts), ["db", "app", "lg0"]);
    assert_eq!(*latency_ns, 100_000_000);
    let Fault::RegionOutage { region } = &plan.faults[1].fault else { panic!("{:?}", plan.faults) };
    assert_eq!(named(&region.hosts), ["db", "app"], "an outage takes servers, not users");
    let text = plan.render_text();
    assert!(text.contains("degrade links of regions eu-west<->us-east: latency 100.000ms"), "{text}");
    assert!(text.contains("outage of region us-east: kill [db,app]"), "{text}");
}

/// region-outage.toml without its scripted outage, swarming the region kinds only.
fn swarming_regions() -> String {
    // A shorter run than the file's keeps six seeds cheap.
    let text = util::text("region-outage.toml").replace("duration = \"150s\"", "duration = \"40s\"");
    let quiet = faultline_sim::scenario::emit::with_faults(&text, &[], "no scripted faults").expect("TOML");
    format!("{quiet}\n[swarm]\nkinds = [\"region_outage\", \"region_partition\"]\nmax_faults = 2\n")
}

#[test]
fn a_swarm_draws_region_faults_and_its_lines_replay_the_run() {
    use faultline_sim::swarm::Faults;
    use faultline_sim::{RunOptions, run};
    let text = swarming_regions();
    let swarmed = scenario(&text);
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 1..=6 {
        let options = RunOptions { faults: Faults::Swarm, ..crate::util::options(seed) };
        let report = run(&swarmed, options).expect("the run completes").report;
        let swarm = report.swarm.as_ref().expect("a swarm run says what it drew");
        assert!(!swarm.faults.is_empty(), "seed {seed} drew nothing");
        for line in &swarm.faults {
            let kind = if line.contains("region_outage") { "region_outage" } else { "region_partition" };
            assert!(line.contains(&format!("{kind} = ")), "seed {seed}: {line}");
            kinds.insert(kind);
        }
        // The drawn lines, scripted in the file, are the same run.
        let scripted = faultline_sim::scenario::emit::with_faults(&text, &swarm.faults, "drawn").expect("TOML");
        assert_eq!(
            go(&scenario(&scripted), seed).report.trace_hash,
            report.trace_hash,
            "seed {seed}: {:?}",
            swarm.faults
        );
    }
    assert_eq!(kinds.len(), 2, "both region kinds drawn over six seeds: {kinds:?}");
}

#[test]
fn without_regions_a_swarm_space_has_no_region_kind() {
    use faultline_chaos::swarm::Kind;
    let quick = util::library("quickstart.toml", &[]);
    let space = faultline_sim::scenario::swarm::space(&quick);
    assert!(space.regions.is_empty());
    assert!(space.kinds.iter().all(|(k, _)| !k.strikes_regions()), "{:?}", space.kinds);
    let regional = faultline_sim::scenario::swarm::space(&library("region-outage.toml", &[]));
    let kinds: Vec<Kind> = regional.kinds.iter().map(|(k, _)| *k).collect();
    assert!(kinds.contains(&Kind::RegionOutage) && kinds.contains(&Kind::RegionPartition), "{kinds:?}");
    let outage = &regional.kinds.iter().find(|(k, _)| *k == Kind::RegionOutage).expect("drawn").1;
    let names: Vec<&str> = outage.iter().map(|&r| regional.regions[r as usize].name.as_str()).collect();
    assert_eq!(names, ["us-east", "eu-west"], "both regions have servers");
    let refused = text_with_kinds("region-latency.toml", "[\"region_outage\"]");
    assert!(refused.is_empty(), "eu-west has no servers but us-east does: {refused:?}");
}

/// The problems of `name` with `[swarm] kinds = <kinds>`.
fn text_with_kinds(name: &str, kinds: &str) -> Vec<String> {
    let text = format!("{}\n[swarm]\nkinds = {kinds}\n", util::text(name));
    match faultline_sim::scenario::parse_str(name, &text) {
        Ok(_) => Vec::new(),
        Err(e) => e.report_lines(),
    }
}

#[test]
fn a_swarm_without_regions_refuses_region_kinds() {
    let lines = text_with_kinds("quickstart.toml", "[\"kill\", \"region_outage\"]");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("no region can take a \"region_outage\" fault"), "{lines:#?}");
    assert!(lines[0].starts_with("quickstart.toml:"), "located: {lines:#?}");
}

/// The promoted replica's lag just before the loss, and the RPO of the writes the loss took.
fn lag_and_rpo_ms(r: &Report) -> (u64, f64) {
    let data = r.data.as_ref().expect("a data tier");
    let loss = data.recovery.iter().find(|x| x.fault.starts_with("outage of region us-east")).expect("the outage");
    let lag = loss.lag_at_loss_ms.expect("db-eu was promoted and publishes its lag");
    let rpo = data.durability.as_ref().expect("writes were checked").rpo_ns as f64 / 1e6;
    (lag, rpo)
}

#[test]
fn a_lagging_standby_loses_the_acknowledged_writes_of_its_lag() {
    for seed in [1, 2, 3] {
        let r = report("region-outage-replica-lag.toml", seed);
        assert_eq!(failed(&r), ["RPO <= 500.0 ms"], "the failure it teaches, only:\n{}", r.render_text());
        let (lag, rpo) = lag_and_rpo_ms(&r);
        assert!((1_500..3_000).contains(&lag), "seed {seed}: db-eu about 2 s behind at 15 s, was {lag} ms");
        // The RPO lies within what the lag put at risk (give or take one 40 ms link and the
        // 100 ms between the lag's samples).
        assert!(rpo > 500.0 && rpo <= lag as f64 + 140.0, "seed {seed}: RPO {rpo} ms against a lag of {lag} ms");
    }
    let keeps_up = [("apply_cost = \"30ms\"", "apply_cost = \"10ms\"")];
    let r = go(&library("region-outage-replica-lag.toml", &keeps_up), 1).report;
    let (lag, rpo) = lag_and_rpo_ms(&r);
    assert!(lag < 100 && rpo == 0.0, "a replica that keeps up: lag {lag} ms, RPO {rpo} ms");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        a_region_outage_takes_everything_down_for_its_length_and_back,
        an_outage_is_one_fault_event_and_a_power_event_per_host,
        far_users_pay_the_region_link_both_ways_and_the_spike_shows,
        region_runs_are_deterministic,
        a_region_partition_cuts_the_far_users_off_and_heals,
        a_region_skew_is_described_by_region_and_put_back,
        a_swarm_draws_region_faults_and_its_lines_replay_the_run,
        a_lagging_standby_loses_the_acknowledged_writes_of_its_lag,
    }
}
