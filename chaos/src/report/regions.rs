//! The users' regions section of the report: end to end by the region of the load generator
//! that sent each request, so "the users near eu-west wait 80 ms more" is a figure.
//!
//! Owns: [`RegionReport`] and the fold of `Invoke` and `Complete` events into it, by the
//! header's regions (a region's users are the load generators among its hosts). Must not:
//! decide a verdict, or know where a scenario puts its hosts (the header says).
//!
//! Definitions, as end to end: availability is ok / (requests - limited); a request still
//! outstanding at the end counts as failed; latency is of answered requests. A trace whose
//! header places no load generator in a region has no such section.

use super::LatencySummary;
use super::metrics::Latency;
use crate::trace::{Header, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The service name the header gives a load generator.
const LOADGEN: &str = "loadgen";

/// The requests of one region's users, end to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionReport {
    /// The region's name.
    pub name: String,
    /// Its load generators' names.
    pub loadgens: Vec<String>,
    /// Requests its users sent.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
    /// ok / (requests - limited), requests still outstanding at the end counted as failed;
    /// `None` when every request was limited.
    pub availability: Option<f64>,
    /// Latency of answered requests.
    pub latency: LatencySummary,
}

struct Acc {
    requests: u64,
    ok: u64,
    limited: u64,
    latency: Latency<u64>,
}

/// The users' regions' requests seen so far.
#[derive(Default)]
pub(super) struct RegionsAcc {
    /// The regions with users: name and load generators' names.
    regions: Vec<(String, Vec<String>)>,
    /// The region (index in `regions`) of each load generator, by host id.
    by_client: BTreeMap<u16, usize>,
    accs: Vec<Acc>,
    /// The region of each outstanding request.
    pending: BTreeMap<u64, usize>,
}

impl RegionsAcc {
    pub(super) fn new(header: &Header) -> Self {
        let mut acc =
            Self { regions: Vec::new(), by_client: BTreeMap::new(), accs: Vec::new(), pending: BTreeMap::new() };
        for region in &header.regions {
            let users: Vec<u16> = region
                .hosts
                .iter()
                .copied()
                .filter(|h| header.hosts.get(*h as usize).is_some_and(|info| info.service == LOADGEN))
                .collect();
            if users.is_empty() {
                continue;
            }
            let index = acc.regions.len();
            let names = users.iter().map(|h| header.hosts[*h as usize].name.clone()).collect();
            acc.regions.push((region.name.clone(), names));
            acc.accs.push(Acc { requests: 0, ok: 0, limited: 0, latency: Latency::new() });
            for user in users {
                acc.by_client.entry(user).or_insert(index);
            }
        }
        acc
    }

    /// Request `req` was issued by load generator `client`.
    pub(super) fn invoke(&mut self, req: u64, client: u16) {
        if let Some(&index) = self.by_client.get(&client) {
            self.accs[index].requests += 1;
            self.pending.insert(req, index);
        }
    }

    /// Request `req` ended with `outcome`, `latency_ns` after it was issued.
    pub(super) fn complete(&mut self, req: u64, latency_ns: u64, outcome: &Outcome) {
        let Some(index) = self.pending.remove(&req) else { return };
        let acc = &mut self.accs[index];
        match outcome {
            Outcome::Error(_) if outcome.is_limited() => acc.limited += 1,
            Outcome::Ok | Outcome::Error(_) if outcome.is_success() => acc.ok += 1,
            Outcome::Ok | Outcome::Error(_) | Outcome::Unreachable | Outcome::Timeout => {}
        }
        if matches!(outcome, Outcome::Ok | Outcome::Error(_)) {
            acc.latency.record(latency_ns);
        }
    }

    /// Each region with users, in the header's order.
    pub(super) fn finish(self) -> Vec<RegionReport> {
        self.regions
            .into_iter()
            .zip(self.accs)
            .map(|((name, loadgens), a)| RegionReport {
                name,
                loadgens,
                requests: a.requests,
                ok: a.ok,
                availability: (a.requests > a.limited).then(|| a.ok as f64 / (a.requests - a.limited) as f64),
                latency: a.latency.summary(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::report::testkit::{MS, S, Stream};
    use crate::trace::{Event, Op, Outcome, RegionInfo};

    #[test]
    fn far_users_are_slower_and_each_region_counts_its_own() {
        // Hosts: 0 lg0, 1 app, 2 db; a fourth host, lg1, is added below.
        let mut stream = Stream::new(4, 1);
        let lg1 = stream.header.hosts.len() as u16;
        let mut lg = stream.header.hosts[0].clone();
        lg.name = "lg1".into();
        stream.header.hosts.push(lg);
        stream.header.regions = vec![
            RegionInfo { name: "us-east".into(), hosts: vec![0, 1, 2] },
            RegionInfo { name: "eu-west".into(), hosts: vec![lg1] },
            RegionInfo { name: "empty".into(), hosts: vec![] },
        ];
        let invoke = |req, client| Event::Invoke { req, user: 0, client, service: 1, op: Op::Read, key: 0 };
        for i in 0..100 {
            // Near users' requests take 8 ms, far users' 88 ms; one in ten far ones time out.
            stream.push(i * 10 * MS, invoke(2 * i, 0));
            stream.push(i * 10 * MS + 8 * MS, Event::Complete { req: 2 * i, outcome: Outcome::Ok });
            stream.push(i * 10 * MS + MS, invoke(2 * i + 1, lg1));
            let outcome = if i % 10 == 0 { Outcome::Timeout } else { Outcome::Ok };
            stream.push(i * 10 * MS + 89 * MS, Event::Complete { req: 2 * i + 1, outcome });
        }
        stream.push(3 * S, invoke(1_000, lg1));
        let report = stream.analyze();
        let names: Vec<(&str, &[String])> = report.regions.iter().map(|r| (r.name.as_str(), &r.loadgens[..])).collect();
        assert_eq!(
            names,
            [("us-east", &["lg0".to_string()][..]), ("eu-west", &["lg1".to_string()][..])],
            "regions with users only"
        );
        let (near, far) = (&report.regions[0], &report.regions[1]);
        assert_eq!((near.requests, near.ok, near.availability), (100, 100, Some(1.0)));
        assert!((near.latency.p50_ms - 8.0).abs() < 0.1, "{:?}", near.latency);
        assert_eq!((far.requests, far.ok), (101, 90), "the outstanding request is one of its failures");
        assert!((far.latency.p50_ms - 88.0).abs() < 0.5, "{:?}", far.latency);
        let text = report.render_text();
        assert!(text.contains("End to end by users' region"), "{text}");
        assert!(text.contains("eu-west"), "{text}");
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["regions"][1]["name"], "eu-west");
    }

    #[test]
    fn without_regions_there_is_no_section() {
        let mut stream = Stream::new(3, 1);
        stream.push(0, Event::Invoke { req: 1, user: 0, client: 0, service: 1, op: Op::Read, key: 0 });
        stream.push(MS, Event::Complete { req: 1, outcome: Outcome::Ok });
        let report = stream.analyze();
        assert!(report.regions.is_empty());
        assert!(!report.render_text().contains("users' region"));
        assert!(serde_json::to_value(&report).expect("serializes").get("regions").is_none(), "absent from JSON");
    }
}
