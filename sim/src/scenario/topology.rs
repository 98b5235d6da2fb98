//! Semantic checks of the topology: host names, what each service refers to, links, and the
//! hosts faults name (the regions' tables and region faults: `regions.rs`). Part of validation (see `validate.rs`, which owns the [`Checker`]).

use super::spans::{Seg, fmt_dur};

use super::types::{FaultEntry, FaultSpec, Host, Link, ShardChange, Sp};
use super::validate::{Checker, or_span};
use crate::services::{Want, expect};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

/// The most hosts a scenario may have (host indices fit in a `u16`).
pub const MAX_HOSTS: usize = u16::MAX as usize;

/// Runs every topology check.
pub(crate) fn check(c: &mut Checker) {
    hosts(c);
    for (i, host) in c.scenario.hosts.iter().enumerate() {
        service(c, i, host);
    }
    links(c);
    super::regions::check(c);
    faults(c);
}

fn hosts(c: &mut Checker) {
    let hosts = &c.scenario.hosts;
    if hosts.is_empty() {
        let span = c.span_at(&[Seg::Key("hosts")], 0..0);
        c.report(span, "no hosts", "the scenario has no hosts; expected at least one [[hosts]] table".into());
    }
    if hosts.len() > MAX_HOSTS {
        let span = hosts[MAX_HOSTS].span();
        c.report(span, "too many hosts", format!("{} hosts; expected at most {MAX_HOSTS}", hosts.len()));
    }
    let mut first_line: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, host) in hosts.iter().enumerate() {
        let name = &host.get_ref().name;
        if name.get_ref().trim().is_empty() {
            c.report(name.span(), "empty", "a host name is empty; expected a name such as \"db\"".into());
        }
        if is_loadgen_name(name.get_ref()) {
            let message = format!(
                "host name {:?} is reserved: the load generators are named lg0, lg1, ...; expected another name, e.g. \"{}-host\"",
                name.get_ref(),
                name.get_ref()
            );
            c.report(name.span(), "reserved for load generators", message);
        }
        if let Some(line) = first_line.get(name.get_ref().as_str()) {
            let message = format!("duplicate host name {:?}; the first is on line {line}", name.get_ref());
            c.report(name.span(), "duplicate", message);
        } else {
            let (line, _) = super::error::line_column(c.text, name.span().start);
            first_line.insert(name.get_ref(), line);
        }
        if host.get_ref().workers == 0 {
            let span = c.span_at(&[Seg::Key("hosts"), Seg::Index(i), Seg::Key("workers")], name.span());
            c.report(span, "zero", "workers = 0; expected at least 1 worker slot".into());
        }
    }
}

/// Whether `name` has the form of a load generator's name: `lg` and a number (`lg0`, `lg12`).
/// The world names its load generators so; every such name is reserved, whatever `loadgens` is.
pub(crate) fn is_loadgen_name(name: &str) -> bool {
    name.strip_prefix("lg").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn service(c: &mut Checker, index: usize, host: &Sp<Host>) {
    let host = host.get_ref();
    host.service.validate(c, index, host);
    if let super::types::ServiceTimeSpec::Lognormal { mean, sigma } = &host.service_time {
        let value = *sigma.get_ref();
        if !(value.is_finite() && (0.0..=10.0).contains(&value)) {
            let message = format!("lognormal sigma {value} is out of range; expected a number in [0, 10], e.g. 1.0");
            c.report(sigma.span(), "out of range", message);
        }
        if mean.0.is_zero() {
            let message = "a lognormal service time with mean 0; expected a mean longer than 0, or \"zero\"".into();
            c.report(host.name.span(), "zero mean", message);
        }
    }
}

/// Checks a link's hosts and loss; returns its pair of host names, in order, when both exist.
fn link<'a>(c: &mut Checker, link: &'a Link, span: Range<usize>) -> Option<(&'a str, &'a str)> {
    let [a, b] = &link.between;
    let known_a = c.host(a, "not a host").is_some();
    let known_b = c.host(b, "not a host").is_some();
    if let Some(loss) = &link.loss {
        c.loss(loss);
    }
    if a.get_ref() == b.get_ref() {
        let message = format!("a link between {:?} and itself; expected two different hosts", a.get_ref());
        c.report(or_span(b.span(), span), "same host twice", message);
        return None;
    }
    (known_a && known_b).then(|| {
        let (x, y) = (a.get_ref().as_str(), b.get_ref().as_str());
        if x < y { (x, y) } else { (y, x) }
    })
}

fn links(c: &mut Checker) {
    c.loss(&c.scenario.network.loss);
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for entry in &c.scenario.links {
        if let Some(pair) = link(c, entry.get_ref(), entry.span())
            && !seen.insert(pair)
        {
            let message =
                format!("a second link between {:?} and {:?}; expected one [[links]] entry per pair", pair.0, pair.1);
            c.report(entry.get_ref().between[0].span(), "duplicate link", message);
        }
    }
}

fn faults(c: &mut Checker) {
    for entry in &c.scenario.faults {
        let fault = entry.get_ref();
        c.before_end(&fault.at, "fault");
        if let Some(length) = &fault.length
            && length.get_ref().0.is_zero()
        {
            let message = format!(
                "a fault `for` {}: it would be undone at once; expected a length longer than 0, or no `for`",
                fmt_dur(length.get_ref().0)
            );
            c.report(length.span(), "zero", message);
        }
        match &fault.fault {
            FaultSpec::Kill(host) | FaultSpec::Restart(host) => {
                c.host(host, "not a host");
            }
            FaultSpec::Partition { a, b, .. } | FaultSpec::Heal { a, b, .. } => sides(c, a, b, entry.span()),
            FaultSpec::ClockSkew { host, jump, drift } => {
                c.host(host, "not a host");
                if jump.ns == 0 && drift.ppm == 0 {
                    let message = "a clock_skew with neither `jump` nor `drift`; expected jump = \"-2s\" or drift = \"-10%\" (or both)".into();
                    c.report(host.span(), "no skew", message);
                }
            }
            FaultSpec::Link(l) => {
                link(c, l, entry.span());
            }
            FaultSpec::ReplicationDelay { host, .. } => expect(c, host, Want::Kv, "a replication_delay's `host`"),
            FaultSpec::DiskDelay { host, .. } => expect(c, host, Want::Kv, "a disk_delay's `host`"),
            FaultSpec::Slowdown { host, .. } => {
                c.host(host, "not a host");
            }
            FaultSpec::FailRequests { host, percent } => {
                expect(c, host, Want::HttpApp, "a fail_requests' `host`");
                if !(1..=100).contains(percent) {
                    let message = format!("fail_requests with percent = {percent}; expected 1 to 100");
                    c.report(host.span(), "out of range", message);
                }
            }
            FaultSpec::LongTransactions { target, count, hold } => {
                expect(c, target, Want::Store, "a long_transactions' `target`");
                if !(1..=10_000).contains(count) || hold.0.is_zero() {
                    let message = format!(
                        "long_transactions with count = {count} and hold = {}; expected a count from 1 to 10000 and a hold longer than 0",
                        fmt_dur(hold.0)
                    );
                    c.report(entry.span(), "out of range", message);
                }
                if let Some(length) = &fault.length {
                    let message = "long_transactions take no `for`: `hold` is how long they last".to_string();
                    c.report(length.span(), "no `for` here", message);
                }
            }
            FaultSpec::CacheFlush(_)
            | FaultSpec::MemoryPressure { .. }
            | FaultSpec::ShardLeave(_)
            | FaultSpec::ShardJoin(_)
            | FaultSpec::CdnPurge(_) => cache_fault(c, fault, entry.span()),
            FaultSpec::RegionOutage(_)
            | FaultSpec::RegionPartition(_)
            | FaultSpec::RegionLatency(_)
            | FaultSpec::RegionSkew(_) => super::regions::fault(c, fault, entry.span()),
            FaultSpec::DnsTtl { host, ttl } => {
                let is_dns = c.host(host, "not a host").map(|h| crate::services::dns::of(&h.service).is_some());
                if is_dns == Some(false) {
                    let message = format!("a dns_ttl's `host` must be a dns server, but {:?} is not", host.get_ref());
                    c.report(host.span(), "not a dns server", message);
                }
                if ttl.0.is_zero() || ttl.0 > std::time::Duration::from_millis(u64::from(u32::MAX)) {
                    let message = format!("a dns_ttl of {}; expected a TTL above 0 and under 49 days", fmt_dur(ttl.0));
                    c.report(host.span(), "out of range", message);
                }
            }
        }
    }
}

/// Checks a cache fault: a flush or memory pressure names a cache node (a flush takes no
/// `for`, pressure a limit above 0); a shard change names apps whose cache tier lists the node;
/// a CDN purge names a cdn edge and takes no `for`.
fn cache_fault(c: &mut Checker, fault: &FaultEntry, span: Range<usize>) {
    match &fault.fault {
        FaultSpec::CacheFlush(host) => {
            expect(c, host, Want::Cache, "a cache_flush's host");
            if let Some(length) = &fault.length {
                let message = "a cache_flush takes no `for`: the flushed keys do not come back".to_string();
                c.report(length.span(), "no `for` here", message);
            }
        }
        FaultSpec::MemoryPressure { host, maxmemory } => {
            expect(c, host, Want::Cache, "a memory_pressure's `host`");
            if maxmemory.0 == 0 {
                let message =
                    "a memory_pressure with maxmemory = 0 (no limit); expected a limit above 0, e.g. \"2mb\"".into();
                c.report(host.span(), "zero", message);
            }
        }
        FaultSpec::ShardLeave(change) | FaultSpec::ShardJoin(change) => shard_change(c, change, span),
        FaultSpec::CdnPurge(host) => {
            expect(c, host, Want::Cdn, "a cdn_purge's host");
            if let Some(length) = &fault.length {
                let message = "a cdn_purge takes no `for`: the purged answers do not come back".to_string();
                c.report(length.span(), "no `for` here", message);
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
        | FaultSpec::DnsTtl { .. }
        | FaultSpec::RegionOutage(_)
        | FaultSpec::RegionPartition(_)
        | FaultSpec::RegionLatency(_)
        | FaultSpec::RegionSkew(_) => {}
    }
}

/// Checks a shard leaving or joining: a cache node, and apps (at least one, each once) whose
/// cache tier lists it.
fn shard_change(c: &mut Checker, change: &ShardChange, span: Range<usize>) {
    let node = change.node.get_ref();
    expect(c, &change.node, Want::Cache, "a shard change's `node`");
    if change.app.is_empty() {
        let message = "a shard change with no `app`; expected the app hosts whose cache tier changes".into();
        c.report(span, "no apps", message);
    }
    let mut seen = BTreeSet::new();
    for app in &change.app {
        if !seen.insert(app.get_ref().as_str()) {
            c.report(
                app.span(),
                "listed twice",
                format!("{:?} is listed twice; expected each app once", app.get_ref()),
            );
            continue;
        }
        let Some(host) = c.host(app, "not a host") else { continue };
        let shards = host.service.shards();
        // An unknown node is reported once, at the node.
        if !c.hosts.contains_key(node.as_str()) || shards.iter().any(|n| n.get_ref() == node) {
            continue;
        }
        let nodes: Vec<&str> = shards.iter().map(|n| n.get_ref().as_str()).collect();
        let listed = if nodes.is_empty() {
            "it has no cache".to_string()
        } else {
            format!("its cache nodes are: {}", super::spans::name_list(nodes))
        };
        let message = format!("{:?} is not a cache node of {:?}; {listed}", node, app.get_ref());
        c.report(app.span(), "not in its tier", message);
    }
}

/// Checks the two sides of a partition or heal: known hosts, neither side empty, no host on both.
fn sides(c: &mut Checker, a: &[Sp<String>], b: &[Sp<String>], span: Range<usize>) {
    for name in a.iter().chain(b) {
        c.host(name, "not a host");
    }
    if a.is_empty() || b.is_empty() {
        c.report(
            span,
            "empty side",
            "a partition or heal has an empty side; expected at least one host in `a` and in `b`".into(),
        );
    }
    for name in b {
        if a.iter().any(|x| x.get_ref() == name.get_ref()) {
            let message =
                format!("host {:?} is on both sides; expected each host in `a` or `b`, not both", name.get_ref());
            c.report(name.span(), "on both sides", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::validate::tests::{check, findings};

    const KV_PRIMARY: &str = "service = { kv = { role = \"primary\" } }";

    #[test]
    fn host_names() {
        let duplicate = ("duplicate host name \"db\"; the first is on line 4", "\"db\"");
        check(
            "name = \"cache\"",
            "name = \"db\"",
            &[duplicate, ("unknown host \"cache\"; the hosts are: db, replica, app", "\"cache\"")],
        );
        check(
            "[[links]]",
            "[[hosts]]\nname = \" \"\nservice = \"echo\"\n[[links]]",
            &[("host name is empty", "\" \"")],
        );
        check("name = \"cache\"", "name = \"cache\"\nworkers = 0", &[("workers = 0", "0")]);
    }

    #[test]
    fn load_generator_names_are_reserved() {
        let edit = |name: &str| {
            let hosts = format!("[[hosts]]\nname = \"{name}\"\nservice = \"echo\"\n[[links]]");
            findings("[[links]]", &hosts)
        };
        for name in ["lg0", "lg1", "lg7", "lg12", "lg00"] {
            let got = edit(name);
            assert_eq!(got.len(), 1, "{name}: {got:?}");
            assert!(got[0].0.contains(&format!("host name \"{name}\" is reserved")), "{got:?}");
            assert!(got[0].0.contains(&format!("e.g. \"{name}-host\"")), "{got:?}");
            assert_eq!(got[0].1, format!("\"{name}\""));
        }
        for name in ["lg", "lgx", "lg1a", "lg-1", "xlg1", "LG1", "lg0-host"] {
            assert_eq!(edit(name), vec![], "{name} is not a load generator's name");
        }
    }

    #[test]
    fn kv_references() {
        let replica = "service = { kv = { role = \"replica\", primary = \"db\" } }";
        check(
            replica,
            "service = { kv = { role = \"replica\" } }",
            &[("kv replica \"replica\" has no `primary`", "\"replica\"")],
        );
        check(
            replica,
            "service = { kv = { role = \"replica\", primary = \"app\" } }",
            &[("must be a kv primary, but \"app\" is an app; the kv primary hosts are: db", "\"app\"")],
        );
        check(
            replica,
            "service = { kv = { role = \"replica\", primary = \"replica\" } }",
            &[("\"replica\" is a kv-replica", "\"replica\"")],
        );
        check(
            KV_PRIMARY,
            "service = { kv = { role = \"primary\", primary = \"db\" } }",
            &[("a kv primary has no `primary`", "\"db\"")],
        );
    }

    #[test]
    fn app_references() {
        check(
            "db = \"db\", read",
            "db = \"cache\", read",
            &[("an app's `db` must be a kv primary or pool, but \"cache\" is a cache", "\"cache\"")],
        );
        check(
            "read_from = \"replica\"",
            "read_from = \"app\"",
            &[("must be a kv node (primary or replica)", "\"app\"")],
        );
        check("read_from = \"replica\"", "read_from = \"db\"", &[]);
        check("cache = \"cache\" }", "cache = \"db\" }", &[("must be a cache, but \"db\" is a kv-primary", "\"db\"")]);
        check("cache = \"cache\" }", "cache = \"cache\", timeout = \"0s\" }", &[("`timeout` is 0", "\"0s\"")]);
        check(
            KV_PRIMARY,
            "service = \"echo\"",
            &[("the file has no kv primary", "\"db\""), ("the file has no kv primary or pool", "\"db\"")],
        );
        check("db = \"db\", read_from = \"replica\", ", "", &[("has neither `db`, `router` nor `shards`", "\"app\"")]);
        let router = "router = { members = [\"db\", \"replica\"] }, ";
        check("read_from = \"replica\", ", router, &[("more than one of `db`, `router` and `shards`", "\"db\"")]);
        check("db = \"db\", read_from = \"replica\", ", router, &[]);
        check(
            "db = \"db\", read_from = \"replica\", ",
            "router = { members = [\"db\"] }, ",
            &[("a router has 1 members of which 1 are kv primaries", "\"db\"")],
        );
        check(
            "db = \"db\", read_from = \"replica\", ",
            "router = { members = [\"db\", \"cache\", \"db\"] }, ",
            &[("a member of a router must be a kv node", "\"cache\""), ("listed twice", "\"db\"")],
        );
    }

    #[test]
    fn failover_pool_and_data_faults() {
        let failover = "[[hosts]]\nname = \"fo\"\nservice = { failover = { members = [\"db\", \"replica\"] } }\n\n[[hosts]]\nname = \"app\"";
        check("[[hosts]]\nname = \"app\"", failover, &[]);
        let tight = failover.replace("] }", "], lease = \"3s\" }");
        check(
            "[[hosts]]\nname = \"app\"",
            &tight,
            &[("fail_after 3s is shorter than lease + check_every (3500ms)", "\"fo\"")],
        );
        let pool =
            "[[hosts]]\nname = \"pgb\"\nservice = { pool = { backend = \"replica\" } }\n\n[[hosts]]\nname = \"app\"";
        check("[[hosts]]\nname = \"app\"", pool, &[("a pool's `backend` must be a kv primary", "\"replica\"")]);
        let pooled = pool.replace("\"replica\"", "\"db\"");
        check("[[hosts]]\nname = \"app\"", &pooled, &[]);
        check("db = \"db\", read", "db = \"pgb\", read", &[("unknown host \"pgb\"", "\"pgb\"")]);
        let delay = "fault = { replication_delay = { host = \"cache\", delay = \"2s\" } }";
        check(
            "fault = { kill = \"replica\" }",
            delay,
            &[("a replication_delay's `host` must be a kv node", "\"cache\"")],
        );
        let slow = "fault = { slowdown = { host = \"dbx\", percent = 300 } }";
        check("fault = { kill = \"replica\" }", slow, &[("unknown host \"dbx\"", "\"dbx\"")]);
        let kill = "for = \"3s\"\nfault = { kill = \"replica\" }";
        let long = "fault = { long_transactions = { target = \"cache\", count = 5, hold = \"1s\" } }";
        check(kill, long, &[("a long_transactions' `target` must be a kv primary or pool", "\"cache\"")]);
        let with_for = "for = \"3s\"\nfault = { long_transactions = { target = \"db\", count = 5, hold = \"1s\" } }";
        check(kill, with_for, &[("long_transactions take no `for`", "\"3s\"")]);
        let zero = "fault = { long_transactions = { target = \"db\", count = 0, hold = \"1s\" } }";
        let got = findings(kill, zero);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].0.contains("count = 0 and hold = 1s; expected a count from 1 to 10000"), "{got:?}");
        let sync = "{ kv = { role = \"primary\", replication = { sync = { replicas = 0 } } } }";
        check("{ kv = { role = \"primary\" } }", sync, &[("sync replication with replicas = 0", "0")]);
    }

    #[test]
    fn cache_faults() {
        let kill = "fault = { kill = \"replica\" }";
        check(kill, "fault = { cache_flush = \"cache\" }", &[("a cache_flush takes no `for`", "\"3s\"")]);
        let flush_db = "fault = { cache_flush = \"db\" }";
        check(
            kill,
            flush_db,
            &[("no `for`", "\"3s\""), ("a cache_flush's host must be a cache, but \"db\" is a kv-primary", "\"db\"")],
        );
        let pressure = |host: &str, size: &str| {
            format!("fault = {{ memory_pressure = {{ host = \"{host}\", maxmemory = {size} }} }}")
        };
        check(kill, &pressure("cache", "\"1mb\""), &[]);
        check(kill, &pressure("app", "\"1mb\""), &[("a memory_pressure's `host` must be a cache", "\"app\"")]);
        check(kill, &pressure("cache", "0"), &[("maxmemory = 0 (no limit); expected a limit above 0", "\"cache\"")]);
        let shard = |kind: &str, apps: &str, node: &str| {
            format!("fault = {{ {kind} = {{ app = [{apps}], node = \"{node}\" }} }}")
        };
        check(kill, &shard("shard_leave", "\"app\"", "cache"), &[]);
        check(kill, &shard("shard_join", "\"app\"", "cache"), &[]);
        check(
            kill,
            &shard("shard_leave", "\"app\"", "db"),
            &[
                ("\"db\" is not a cache node of \"app\"; its cache nodes are: cache", "\"app\""),
                ("a shard change's `node` must be a cache, but \"db\" is a kv-primary", "\"db\""),
            ],
        );
        check(
            kill,
            &shard("shard_join", "\"db\", \"app\", \"app\", \"ap\"", "cache"),
            &[
                ("\"cache\" is not a cache node of \"db\"; it has no cache", "\"db\""),
                ("\"app\" is listed twice", "\"app\""),
                ("unknown host \"ap\"", "\"ap\""),
            ],
        );
        check(kill, &shard("shard_leave", "\"app\"", "cache9"), &[("unknown host \"cache9\"", "\"cache9\"")]);
        let none = shard("shard_leave", "", "cache");
        let got = findings(kill, &none);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].0.contains("a shard change with no `app`"), "{got:?}");
    }

    #[test]
    fn a_tier_has_at_most_64_nodes() {
        let nodes = vec!["\"cache\""; 65].join(", ");
        let got = findings("cache = \"cache\" }", &format!("tier = {{ nodes = [{nodes}] }} }}"));
        let too_many: Vec<_> = got.iter().filter(|(m, _)| m.contains("has 65 `nodes`; expected at most 64")).collect();
        assert_eq!(too_many.len(), 1, "{got:?}");
    }

    #[test]
    fn links() {
        check(
            "between = [\"app\", \"db\"]",
            "between = [\"app\", \"app\"]",
            &[("a link between \"app\" and itself", "\"app\"")],
        );
        check(
            "between = [\"app\", \"db\"]",
            "between = [\"app\", \"bd\"]",
            &[("unknown host \"bd\"; the hosts are: db, replica, cache, app; did you mean \"db\"?", "\"bd\"")],
        );
        check(
            "latency = \"2ms\"",
            "latency = \"2ms\"\nloss = 1.0",
            &[("loss 1 is out of range; expected a probability in [0, 1)", "1.0")],
        );
        check(
            "latency = \"2ms\"",
            "latency = \"2ms\"\n[[links]]\nbetween = [\"db\", \"app\"]",
            &[("a second link between \"app\" and \"db\"", "\"db\"")],
        );
        check("duration = \"20s\"", "duration = \"20s\"\nnetwork = { loss = -0.1 }", &[("loss -0.1", "-0.1")]);
    }

    #[test]
    fn faults() {
        check(
            "at = \"10s\"",
            "at = \"70s\"",
            &[("fault at 70s is after the end of the run (20s); expected a time before 20s", "\"70s\"")],
        );
        check("at = \"10s\"", "at = \"20s\"", &[("fault at 20s is at the end of the run (20s)", "\"20s\"")]);
        check("for = \"3s\"", "for = \"30s\"", &[]);
        check("for = \"3s\"", "for = \"0s\"", &[("undone at once", "\"0s\"")]);
        check("{ kill = \"replica\" }", "{ restart = \"nope\" }", &[("unknown host \"nope\"", "\"nope\"")]);
        let partition = "{ partition = { a = [\"app\", \"x\"], b = [\"app\"] } }";
        check(
            "{ kill = \"replica\" }",
            partition,
            &[("unknown host \"x\"", "\"x\""), ("\"app\" is on both sides", "\"app\"")],
        );
        let got = findings("{ kill = \"replica\" }", "{ heal = { a = [], b = [\"db\"] } }");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].0.contains("empty side"), "{got:?}");
        let oneway = "{ partition = { a = [\"db\"], b = [\"ap\"], oneway = true } }";
        check("{ kill = \"replica\" }", oneway, &[("unknown host \"ap\"", "\"ap\"")]);
        let skew = "{ clock_skew = { host = \"dbb\", drift = \"-10%\" } }";
        check("{ kill = \"replica\" }", skew, &[("unknown host \"dbb\"", "\"dbb\"")]);
        let none = "{ clock_skew = { host = \"db\", jump = \"0s\" } }";
        check("{ kill = \"replica\" }", none, &[("neither `jump` nor `drift`", "\"db\"")]);
        check("{ kill = \"replica\" }", "{ clock_skew = { host = \"db\", jump = \"-2s\" } }", &[]);
        let link = "{ link = { between = [\"db\", \"db\"], loss = 2 } }";
        check(
            "{ kill = \"replica\" }",
            link,
            &[("a link between \"db\" and itself", "\"db\""), ("loss 2 is out of range", "2")],
        );
    }
}
