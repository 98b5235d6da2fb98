//! A DNS server's zone: the names it answers, the endpoints behind them, and the routing
//! policy that picks one endpoint per query from the endpoints' health, as a managed DNS
//! service's routing policies do (Route 53's failover and geolocation records).
//!
//! - **Failover**: the first healthy endpoint in the record's order (primary, then
//!   secondaries). With none healthy it answers the first: a health check that fails
//!   everywhere more likely measures the checker than the endpoints, so the server fails open,
//!   as Route 53 does.
//! - **Nearest**: the endpoint in the client's region when it is healthy; otherwise the first
//!   healthy one in the record's order; with none healthy, the client's region's endpoint (or
//!   the first).
//!
//! It owns the choice; it must not probe endpoints or keep time (the server does both and asks
//! here with the verdicts).

/// How a record picks among its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The first healthy endpoint in order.
    Failover,
    /// The client's region's endpoint while healthy, else the first healthy one.
    Nearest,
}

/// One address a name may resolve to, with the region it serves from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// A name for reports (the host's name).
    pub name: String,
    /// "host:port" the answer carries.
    pub addr: String,
    /// The region it is in ("" for none).
    pub region: String,
}

/// One name and the endpoints it resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The name clients ask for.
    pub name: String,
    /// How it picks.
    pub policy: Policy,
    /// Indices into the zone's endpoints, in the record's order (at least one).
    pub endpoints: Vec<usize>,
}

/// The names a server answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Zone {
    /// Every endpoint any record names, each once; health is tracked per endpoint.
    pub endpoints: Vec<Endpoint>,
    /// The records.
    pub records: Vec<Record>,
}

impl Zone {
    /// The record named `name`.
    pub fn record(&self, name: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.name == name)
    }

    /// The endpoint `record` answers a client in `region` with, given which endpoints are
    /// healthy (`healthy(i)` for endpoint `i` of the zone).
    pub fn answer(&self, record: &Record, region: &str, healthy: impl Fn(usize) -> bool) -> usize {
        let first = record.endpoints[0];
        let first_healthy = record.endpoints.iter().copied().find(|&e| healthy(e));
        match record.policy {
            Policy::Failover => first_healthy.unwrap_or(first),
            Policy::Nearest => {
                let local = record.endpoints.iter().copied().find(|&e| self.endpoints[e].region == region);
                match local {
                    Some(e) if healthy(e) => e,
                    _ => first_healthy.or(local).unwrap_or(first),
                }
            }
        }
    }

    /// The regions whose clients a record may answer differently: its endpoints' regions for a
    /// nearest record (in order, each once), one entry ("") for a failover record.
    pub fn views(&self, record: &Record) -> Vec<String> {
        match record.policy {
            Policy::Failover => vec![String::new()],
            Policy::Nearest => {
                let mut regions: Vec<String> = Vec::new();
                for &e in &record.endpoints {
                    let region = &self.endpoints[e].region;
                    if !regions.contains(region) {
                        regions.push(region.clone());
                    }
                }
                regions
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn zone(policy: Policy) -> Zone {
        let endpoint = |name: &str, region: &str| Endpoint {
            name: name.into(),
            addr: format!("{name}:7000"),
            region: region.into(),
        };
        Zone {
            endpoints: vec![endpoint("app-us", "us"), endpoint("app-eu", "eu"), endpoint("app-ap", "ap")],
            records: vec![Record { name: "shop".into(), policy, endpoints: vec![0, 1, 2] }],
        }
    }

    #[test]
    fn failover_answers_the_first_healthy_endpoint_and_fails_open() {
        let z = zone(Policy::Failover);
        let r = z.record("shop").unwrap();
        assert_eq!(z.answer(r, "eu", |_| true), 0, "the primary while it is healthy, wherever the client is");
        assert_eq!(z.answer(r, "us", |e| e != 0), 1);
        assert_eq!(z.answer(r, "us", |e| e == 2), 2);
        assert_eq!(z.answer(r, "us", |_| false), 0, "none healthy: the primary");
        assert_eq!(z.views(r), [""]);
    }

    #[test]
    fn nearest_answers_the_clients_region_then_the_first_healthy() {
        let z = zone(Policy::Nearest);
        let r = z.record("shop").unwrap();
        assert_eq!(z.answer(r, "eu", |_| true), 1);
        assert_eq!(z.answer(r, "ap", |_| true), 2);
        assert_eq!(z.answer(r, "", |_| true), 0, "a client in no region gets the first");
        assert_eq!(z.answer(r, "eu", |e| e != 1), 0, "its region down: the first healthy");
        assert_eq!(z.answer(r, "us", |e| e == 2), 2);
        assert_eq!(z.answer(r, "eu", |_| false), 1, "none healthy: its own region's");
        assert_eq!(z.views(r), ["us", "eu", "ap"]);
        assert!(z.record("nope").is_none());
    }

    proptest! {
        /// Whatever the health, an answer is one of the record's endpoints, and a healthy one
        /// whenever any is.
        #[test]
        fn an_answer_is_healthy_when_any_endpoint_is(
            health in prop::collection::vec(any::<bool>(), 3),
            nearest in any::<bool>(),
            region in prop::sample::select(vec!["us", "eu", "ap", ""]),
        ) {
            let z = zone(if nearest { Policy::Nearest } else { Policy::Failover });
            let r = z.record("shop").unwrap();
            let e = z.answer(r, region, |i| health[i]);
            prop_assert!(r.endpoints.contains(&e));
            if health.iter().any(|&h| h) {
                prop_assert!(health[e]);
            }
        }
    }
}
