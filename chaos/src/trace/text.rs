//! Records as human text lines and as JSON lines (`faultline trace dump`).
//!
//! Owns: the text and JSON form of every [`Event`] and of the [`Header`]. Must not: do I/O
//! (callers print the lines) or change what a record means (host ids become names, times
//! become seconds, nothing is dropped).
//!
//! Decisions: times print as seconds with microsecond precision, computed from integer
//! nanoseconds so no float rounding creeps in; JSON keeps the exact `t_ns` next to `t_s`.
//! A host id with no entry in the header prints as `host#N`. JSON objects come from
//! `serde_json::Map`, whose keys are sorted, so output is deterministic.

use super::{Event, FORMAT_VERSION, Header, Observation, Op, Outcome, Record};
use crate::fault::Fault;
use crate::slo::SloKind;
use serde_json::{Value, json};

/// One human-readable line for `record`, e.g.
/// `   12.004000  invoke   req=17 user=3 lg0 -> app read key=42`.
pub fn to_text(header: &Header, record: &Record) -> String {
    let name = |h: &u16| host_name(header, *h);
    let fields = match &record.event {
        Event::Invoke { req, user, client, service, op, key } => {
            format!("req={req} user={user} {} -> {} {} key={key}", name(client), name(service), op_name(*op))
        }
        Event::Complete { req, outcome } => format!("req={req} {}", outcome_text(outcome)),
        Event::Served { host, op, latency_ns, ok } => format!(
            "{} {} latency={} {}",
            name(host),
            op_name(*op),
            ms_text(*latency_ns),
            if *ok { "ok" } else { "error" }
        ),
        Event::Message { from, to, bytes, retransmitted } => {
            let retransmitted = if *retransmitted { " retransmitted" } else { "" };
            format!("{} -> {} {bytes}B{retransmitted}", name(from), name(to))
        }
        Event::State { host, key, value } => format!("{} {key}={value}", name(host)),
        Event::Power { host, up } => format!("{} {}", name(host), if *up { "up" } else { "down" }),
        Event::Sample { host, gauge, last, mean } => format!("{} {gauge} last={last} mean={mean:.3}", name(host)),
        Event::Role { host, role, epoch, lsn, last_epoch } => {
            format!("{} {role} epoch={epoch} lsn={lsn} last_epoch={last_epoch}", name(host))
        }
        Event::Observed { req, what } => match what {
            Observation::Read { writer: Some(w), lsn } => format!("req={req} read writer={w} lsn={lsn}"),
            Observation::Read { writer: None, lsn } => format!("req={req} read absent lsn={lsn}"),
            Observation::Written { lsn, epoch } => format!("req={req} written lsn={lsn} epoch={epoch}"),
            Observation::Expects { writer: Some(w) } => format!("req={req} expects writer={w}"),
            Observation::Expects { writer: None } => format!("req={req} expects absent"),
        },
        Event::Fault(fault) => fault.describe(&host_names(header)),
        Event::End => String::new(),
        Event::Retry { req, attempt, after, denied } => {
            let denied = if *denied { " denied by the budget" } else { "" };
            format!("req={req} attempt={attempt} after {}{denied}", outcome_text(after))
        }
    };
    format!("{}  {:<8} {fields}", seconds_text(record.t_ns), kind(&record.event)).trim_end().to_string()
}

/// One JSON object for `record`: `t_s`, `t_ns`, `kind` and the event's fields, hosts by name.
pub fn to_json(header: &Header, record: &Record) -> Value {
    let name = |h: &u16| Value::from(host_name(header, *h));
    let mut value = match &record.event {
        Event::Invoke { req, user, client, service, op, key } => json!({
            "req": req, "user": user, "client": name(client), "service": name(service),
            "op": op_name(*op), "key": key,
        }),
        Event::Complete { req, outcome } => {
            let mut value = json!({ "req": req, "outcome": outcome_name(outcome) });
            if let Outcome::Error(code) = outcome {
                value["code"] = json!(code);
            }
            value
        }
        Event::Served { host, op, latency_ns, ok } => {
            json!({ "host": name(host), "op": op_name(*op), "latency_ns": latency_ns, "ok": ok })
        }
        Event::Message { from, to, bytes, retransmitted } => {
            json!({ "from": name(from), "to": name(to), "bytes": bytes, "retransmitted": retransmitted })
        }
        Event::State { host, key, value } => {
            json!({ "host": name(host), "key": key, "value": value })
        }
        Event::Power { host, up } => json!({ "host": name(host), "up": up }),
        Event::Sample { host, gauge, last, mean } => {
            json!({ "host": name(host), "gauge": gauge, "last": last, "mean": mean })
        }
        Event::Role { host, role, epoch, lsn, last_epoch } => {
            json!({ "host": name(host), "role": role, "epoch": epoch, "lsn": lsn, "last_epoch": last_epoch })
        }
        Event::Observed { req, what } => match what {
            Observation::Read { writer, lsn } => json!({ "req": req, "read": { "writer": writer, "lsn": lsn } }),
            Observation::Written { lsn, epoch } => json!({ "req": req, "written": { "lsn": lsn, "epoch": epoch } }),
            Observation::Expects { writer } => json!({ "req": req, "expects": { "writer": writer } }),
        },
        Event::Fault(fault) => fault_json(header, fault),
        Event::End => json!({}),
        Event::Retry { req, attempt, after, denied } => {
            let mut value = json!({ "req": req, "attempt": attempt, "after": outcome_name(after), "denied": denied });
            if let Outcome::Error(code) = after {
                value["code"] = json!(code);
            }
            value
        }
    };
    value["t_s"] = json!(record.t_ns as f64 / 1e9);
    value["t_ns"] = json!(record.t_ns);
    value["kind"] = json!(kind(&record.event));
    value
}

/// The header as one JSON object, hosts of links by name, the data-tier checks with their
/// bounds in nanoseconds (`null`: not judged).
pub fn header_json(header: &Header) -> Value {
    let hosts: Vec<Value> = header
        .hosts
        .iter()
        .enumerate()
        .map(|(id, h)| json!({ "id": id, "name": h.name, "service": h.service, "group": h.group }))
        .collect();
    let links: Vec<Value> = header
        .links
        .iter()
        .map(|l| {
            json!({
                "a": host_name(header, l.a), "b": host_name(header, l.b),
                "latency_ns": l.latency_ns, "jitter_ns": l.jitter_ns, "loss": l.loss,
            })
        })
        .collect();
    let slos: Vec<Value> = header
        .slos
        .iter()
        .map(|slo| {
            let mut value = match &slo.kind {
                SloKind::Latency { quantile, max_ns } => {
                    json!({ "kind": "latency", "quantile": quantile, "max_ns": max_ns })
                }
                SloKind::Availability { min_ratio } => {
                    json!({ "kind": "availability", "min_ratio": min_ratio })
                }
                SloKind::SessionsLost { max } => json!({ "kind": "sessions_lost", "max": max }),
                SloKind::Converged { within_ns } => json!({ "kind": "converged", "within_ns": within_ns }),
            };
            value["name"] = json!(slo.name);
            value["service"] = json!(slo.service);
            value
        })
        .collect();
    let c = &header.checks;
    let checks = json!({
        "max_rpo_ns": c.max_rpo_ns, "read_your_writes": c.read_your_writes,
        "max_staleness_ns": c.max_staleness_ns, "linearizable": c.linearizable,
        "max_rto_ns": c.max_rto_ns, "rto_window_ns": c.rto_window_ns, "recovery_ratio": c.recovery_ratio,
    });
    let mut value = json!({
        "format_version": FORMAT_VERSION,
        "tool_version": header.tool_version,
        "rand_version": header.rand_version,
        "scenario": header.scenario,
        "seed": header.seed,
        "duration_ns": header.duration_ns,
        "duration_s": header.duration_ns as f64 / 1e9,
        "window_ns": header.window_ns,
        "hosts": hosts,
        "links": links,
        "slos": slos,
        "checks": checks,
    });
    if header.sample_ns != 0 {
        // Sparse samples: see `samples`.
        value["sample_ns"] = json!(header.sample_ns);
    }
    if !header.regions.is_empty() {
        let regions: Vec<Value> = header
            .regions
            .iter()
            .map(|r| {
                let hosts: Vec<String> = r.hosts.iter().map(|h| host_name(header, *h)).collect();
                json!({ "name": r.name, "hosts": hosts })
            })
            .collect();
        value["regions"] = json!(regions);
    }
    value
}

/// The event's kind, as in text and JSON lines.
pub fn kind(event: &Event) -> &'static str {
    match event {
        Event::Invoke { .. } => "invoke",
        Event::Complete { .. } => "complete",
        Event::Served { .. } => "served",
        Event::Message { .. } => "message",
        Event::State { .. } => "state",
        Event::Power { .. } => "power",
        Event::Sample { .. } => "sample",
        Event::Role { .. } => "role",
        Event::Observed { .. } => "observed",
        Event::Fault(_) => "fault",
        Event::End => "end",
        Event::Retry { .. } => "retry",
    }
}

/// The name of host `id` in `header`, or `host#id` when the header has no such host.
pub fn host_name(header: &Header, id: u16) -> String {
    match header.hosts.get(id as usize) {
        Some(host) => host.name.clone(),
        None => format!("host#{id}"),
    }
}

/// Every host's name, by id (what [`Fault::describe`] takes).
pub fn host_names(header: &Header) -> Vec<String> {
    header.hosts.iter().map(|h| h.name.clone()).collect()
}

/// Nanoseconds as seconds with microsecond precision, right-aligned in 12 columns.
pub fn seconds_text(t_ns: u64) -> String {
    format!("{:>5}.{:06}", t_ns / 1_000_000_000, t_ns % 1_000_000_000 / 1_000)
}

fn ms_text(ns: u64) -> String {
    format!("{}.{:03}ms", ns / 1_000_000, ns % 1_000_000 / 1_000)
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Read => "read",
        Op::Write => "write",
        Op::Other => "other",
        Op::Cas => "cas",
        Op::Add => "add",
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Error(_) => "error",
        Outcome::Unreachable => "unreachable",
        Outcome::Timeout => "timeout",
    }
}

fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Error(code) => format!("error({code})"),
        other => outcome_name(other).to_string(),
    }
}

fn fault_json(header: &Header, fault: &Fault) -> Value {
    let name = |h: &u16| Value::from(host_name(header, *h));
    let group = |g: &[u16]| Value::from(g.iter().map(name).collect::<Vec<_>>());
    let mut value = match fault {
        Fault::Kill { host } => json!({ "fault": "kill", "host": name(host) }),
        Fault::Restart { host } => json!({ "fault": "restart", "host": name(host) }),
        Fault::Partition { a, b } => json!({ "fault": "partition", "a": group(a), "b": group(b) }),
        Fault::Heal { a, b } => json!({ "fault": "heal", "a": group(a), "b": group(b) }),
        Fault::LinkDegrade { a, b, latency_ns, jitter_ns, loss } => json!({
            "fault": "link_degrade", "a": name(a), "b": name(b),
            "latency_ns": latency_ns, "jitter_ns": jitter_ns, "loss": loss,
        }),
        Fault::LongTransactions { target, count, hold_ns } => {
            json!({ "fault": "long_transactions", "target": name(target), "count": count, "hold_ns": hold_ns })
        }
        Fault::Tune { host, knob, value, grow_per_s } => {
            json!({ "fault": "tune", "host": name(host), "knob": knob.name(), "value": value, "grow_per_s": grow_per_s })
        }
        Fault::LinkRestore { a, b } => {
            json!({ "fault": "link_restore", "a": name(a), "b": name(b) })
        }
        Fault::PartitionOneWay { from, to } => {
            json!({ "fault": "partition_oneway", "from": group(from), "to": group(to) })
        }
        Fault::HealOneWay { from, to } => json!({ "fault": "heal_oneway", "from": group(from), "to": group(to) }),
        Fault::ClockSkew { host, offset_ns, drift_ppm } => {
            json!({ "fault": "clock_skew", "host": name(host), "offset_ns": offset_ns, "drift_ppm": drift_ppm })
        }
        Fault::CacheFlush { host } => json!({ "fault": "cache_flush", "host": name(host) }),
        Fault::ShardLeave { apps, node } => json!({ "fault": "shard_leave", "apps": group(apps), "node": name(node) }),
        Fault::ShardJoin { apps, node } => json!({ "fault": "shard_join", "apps": group(apps), "node": name(node) }),
        Fault::CdnPurge { host } => json!({ "fault": "cdn_purge", "host": name(host) }),
        Fault::RegionOutage { region } => {
            json!({ "fault": "region_outage", "region": region.name, "hosts": group(&region.hosts) })
        }
        Fault::RegionRestore { region } => {
            json!({ "fault": "region_restore", "region": region.name, "hosts": group(&region.hosts) })
        }
        Fault::RegionPartition { a, b, oneway } => json!({
            "fault": "region_partition", "a": a.name, "b": b.name, "oneway": oneway,
            "a_hosts": group(&a.hosts), "b_hosts": group(&b.hosts),
        }),
        Fault::RegionHeal { a, b, oneway } => json!({
            "fault": "region_heal", "a": a.name, "b": b.name, "oneway": oneway,
            "a_hosts": group(&a.hosts), "b_hosts": group(&b.hosts),
        }),
        Fault::RegionLatency { a, b, latency_ns, jitter_ns, loss } => json!({
            "fault": "region_latency", "a": a.name, "b": b.name,
            "a_hosts": group(&a.hosts), "b_hosts": group(&b.hosts),
            "latency_ns": latency_ns, "jitter_ns": jitter_ns, "loss": loss,
        }),
        Fault::RegionLatencyRestore { a, b } => json!({
            "fault": "region_latency_restore", "a": a.name, "b": b.name,
            "a_hosts": group(&a.hosts), "b_hosts": group(&b.hosts),
        }),
        Fault::RegionSkew { region, offset_ns, drift_ppm } => json!({
            "fault": "region_skew", "region": region.name, "hosts": group(&region.hosts),
            "offset_ns": offset_ns, "drift_ppm": drift_ppm,
        }),
    };
    value["description"] = json!(fault.describe(&host_names(header)));
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::Slo;
    use crate::trace::{HostInfo, LinkInfo};

    fn header() -> Header {
        let host = |name: &str| HostInfo { name: name.into(), service: name.into(), group: "g".into() };
        Header {
            tool_version: "0.1.0".into(),
            rand_version: "0.9".into(),
            scenario: "text".into(),
            seed: 7,
            duration_ns: 60_000_000_000,
            window_ns: 1_000_000_000,
            hosts: vec![host("lg0"), host("app"), host("db")],
            links: vec![LinkInfo { a: 1, b: 2, latency_ns: 1_000, jitter_ns: 0, loss: 0.0 }],
            slos: vec![Slo {
                name: "avail".into(),
                service: Some("app".into()),
                kind: SloKind::Availability { min_ratio: 0.999 },
            }],
            checks: Default::default(),
            shards: Default::default(),
            regions: Vec::new(),
            sample_ns: 0,
        }
    }

    fn check(t_ns: u64, event: Event, text: &str, json: Value) {
        let record = Record { t_ns, event };
        assert_eq!(to_text(&header(), &record), text);
        assert_eq!(to_json(&header(), &record), json);
    }

    #[test]
    fn invoke_reads_like_the_example() {
        let event = Event::Invoke { req: 17, user: 3, client: 0, service: 1, op: Op::Read, key: 42 };
        check(
            12_004_000_321,
            event,
            "   12.004000  invoke   req=17 user=3 lg0 -> app read key=42",
            json!({ "t_s": 12.004000321, "t_ns": 12_004_000_321u64, "kind": "invoke", "req": 17, "user": 3,
                    "client": "lg0", "service": "app", "op": "read", "key": 42 }),
        );
    }

    #[test]
    fn outcomes_and_unknown_hosts() {
        let complete = Event::Complete { req: 5, outcome: Outcome::Error(3) };
        let json =
            json!({ "t_s": 0.5, "t_ns": 500_000_000u64, "kind": "complete", "req": 5, "outcome": "error", "code": 3 });
        check(500_000_000, complete, "    0.500000  complete req=5 error(3)", json);
        let served = Event::Served { host: 9, op: Op::Write, latency_ns: 1_234_567, ok: false };
        let json = json!({ "t_s": 1.0, "t_ns": 1_000_000_000u64, "kind": "served", "host": "host#9", "op": "write",
                           "latency_ns": 1_234_567, "ok": false });
        check(1_000_000_000, served, "    1.000000  served   host#9 write latency=1.234ms error", json);
    }

    #[test]
    fn retries_name_the_attempt_and_what_ended_the_last() {
        let retry = Event::Retry { req: 5, attempt: 2, after: Outcome::Error(3), denied: false };
        let json = json!({ "t_s": 0.5, "t_ns": 500_000_000u64, "kind": "retry", "req": 5, "attempt": 2,
                           "after": "error", "code": 3, "denied": false });
        check(500_000_000, retry, "    0.500000  retry    req=5 attempt=2 after error(3)", json);
        let denied = Event::Retry { req: 6, attempt: 1, after: Outcome::Timeout, denied: true };
        let json = json!({ "t_s": 0.5, "t_ns": 500_000_000u64, "kind": "retry", "req": 6, "attempt": 1,
                           "after": "timeout", "denied": true });
        check(500_000_000, denied, "    0.500000  retry    req=6 attempt=1 after timeout denied by the budget", json);
    }

    #[test]
    fn every_kind_has_a_line() {
        let events = [
            (Event::Message { from: 1, to: 2, bytes: 64, retransmitted: true }, "message  app -> db 64B retransmitted"),
            (Event::State { host: 2, key: "role".into(), value: "primary".into() }, "state    db role=primary"),
            (Event::Power { host: 2, up: false }, "power    db down"),
            (
                Event::Sample { host: 1, gauge: "inflight".into(), last: 4, mean: 2.5 },
                "sample   app inflight last=4 mean=2.500",
            ),
            (Event::Fault(Fault::Partition { a: vec![1], b: vec![2] }), "fault    partition [app] | [db]"),
            (Event::End, "end"),
        ];
        for (event, tail) in events {
            let record = Record { t_ns: 3_000_001_000, event };
            let text = to_text(&header(), &record);
            assert_eq!(text, format!("    3.000001  {tail}"));
            let json = to_json(&header(), &record);
            assert_eq!(json["kind"], kind(&record.event));
            assert_eq!(json["t_ns"], 3_000_001_000u64);
        }
    }

    #[test]
    fn fault_json_names_hosts_and_describes() {
        let record = Record { t_ns: 0, event: Event::Fault(Fault::Kill { host: 2 }) };
        let json = to_json(&header(), &record);
        assert_eq!(json["fault"], "kill");
        assert_eq!(json["host"], "db");
        assert_eq!(json["description"], "kill db");
    }

    #[test]
    fn region_faults_in_json_name_the_regions_and_their_hosts() {
        use crate::fault::RegionHosts;
        let region = |name: &str, hosts: Vec<u16>| RegionHosts { name: name.into(), hosts };
        let outage = Fault::RegionOutage { region: region("eu-west", vec![1, 2]) };
        let json = to_json(&header(), &Record { t_ns: 0, event: Event::Fault(outage) });
        assert_eq!(json["fault"], "region_outage");
        assert_eq!(json["region"], "eu-west");
        assert_eq!(json["hosts"], json!(["app", "db"]));
        assert_eq!(json["description"], "outage of region eu-west: kill [app,db]");
        let cut = Fault::RegionPartition { a: region("us", vec![0]), b: region("eu", vec![2]), oneway: true };
        let record = Record { t_ns: 0, event: Event::Fault(cut) };
        let json = to_json(&header(), &record);
        assert_eq!(
            (json["a"].clone(), json["b_hosts"].clone(), json["oneway"].clone()),
            (json!("us"), json!(["db"]), json!(true))
        );
        assert_eq!(to_text(&header(), &record), "    0.000000  fault    partition region us -> eu one way");
    }

    #[test]
    fn header_json_lists_regions_only_when_there_are_some() {
        assert!(header_json(&header()).get("regions").is_none(), "no regions, no key: the output is as before");
        assert!(header_json(&header()).get("sample_ns").is_none(), "dense samples: no key");
        let sampled = Header { sample_ns: 100_000_000, ..header() };
        assert_eq!(header_json(&sampled)["sample_ns"], 100_000_000);
        let mut placed = header();
        placed.regions = vec![crate::trace::RegionInfo { name: "eu-west".into(), hosts: vec![0, 2] }];
        assert_eq!(header_json(&placed)["regions"], json!([{ "name": "eu-west", "hosts": ["lg0", "db"] }]));
    }

    #[test]
    fn header_json_resolves_hosts() {
        let json = header_json(&header());
        assert_eq!(json["format_version"], FORMAT_VERSION);
        assert_eq!(json["scenario"], "text");
        assert_eq!(json["hosts"][2]["name"], "db");
        assert_eq!(json["links"][0]["a"], "app");
        assert_eq!(json["links"][0]["b"], "db");
        assert_eq!(json["slos"][0]["kind"], "availability");
        assert_eq!(json["slos"][0]["service"], "app");
        assert_eq!(json["duration_s"], 60.0);
    }

    #[test]
    fn header_json_carries_every_check_setting() {
        let mut header = header();
        header.checks = crate::check::CheckConfig {
            max_rpo_ns: Some(500_000_000),
            read_your_writes: true,
            max_staleness_ns: None,
            linearizable: true,
            max_rto_ns: Some(5_000_000_000),
            rto_window_ns: 2_000_000_000,
            recovery_ratio: 0.95,
        };
        let expected = json!({
            "max_rpo_ns": 500_000_000u64, "read_your_writes": true, "max_staleness_ns": null,
            "linearizable": true, "max_rto_ns": 5_000_000_000u64, "rto_window_ns": 2_000_000_000u64,
            "recovery_ratio": 0.95,
        });
        assert_eq!(header_json(&header)["checks"], expected);
    }

    #[test]
    fn seconds_keep_microseconds_without_float_rounding() {
        assert_eq!(seconds_text(0), "    0.000000");
        assert_eq!(seconds_text(999_999_999), "    0.999999");
        assert_eq!(seconds_text(123_456_789_012_345), "123456.789012");
    }
}
