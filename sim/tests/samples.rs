//! Sparse gauge samples: a trace samples a gauge only when it changed, and loses nothing by it.
//! The dense series rebuilt from a sparse trace is the dense recording's, sample for sample,
//! and the report is the same.

use crate::util;
use faultline_chaos::trace::samples::Dense;
use faultline_chaos::trace::{Event, Header, Record};
use faultline_sim::RecordConfig;
use std::collections::BTreeMap;

/// Per (host, gauge): its samples' times, values and means.
type Series = BTreeMap<(u16, String), Vec<(u64, i64, f64)>>;

/// The dense series a trace stands for.
fn series(header: &Header, records: &[Record]) -> Series {
    let mut dense = Dense::new(header.sample_ns);
    let mut out = Series::new();
    for record in records {
        if let Event::Sample { host, gauge, last, mean } = &record.event {
            let points = out.entry((*host, gauge.clone())).or_default();
            dense.push(record.t_ns, *host, gauge, *last, *mean, |p| points.push((p.t_ns, p.last, p.mean)));
        }
    }
    out
}

fn samples(records: &[Record]) -> usize {
    records.iter().filter(|r| matches!(r.event, Event::Sample { .. })).count()
}

/// Runs the library's scenario `name` (with `edits`) recorded both ways and compares them;
/// returns the sparse trace's samples and the dense one's.
fn both_ways(name: &str, edits: &[(&str, &str)], seed: u64) -> (usize, usize) {
    let scenario = util::library(name, edits);
    let record = |every_sample| RecordConfig { messages: false, every_sample };
    let (sparse_run, sparse_header, sparse) = util::trace(&scenario, seed, record(false));
    let (dense_run, dense_header, dense) = util::trace(&scenario, seed, record(true));
    assert_eq!(sparse_header.sample_ns, 100_000_000, "{name}: the header says how often gauges are sampled");
    assert_eq!(dense_header.sample_ns, 0, "{name}: a dense trace's samples are read as they are");
    let (rebuilt, recorded) = (series(&sparse_header, &sparse), series(&dense_header, &dense));
    assert_eq!(rebuilt.keys().collect::<Vec<_>>(), recorded.keys().collect::<Vec<_>>(), "{name}: the same gauges");
    for (key, want) in &recorded {
        let got = &rebuilt[key];
        assert_eq!(got.len(), want.len(), "{name} {key:?}: as many samples");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0, g.1), (w.0, w.1), "{name} {key:?}: the same time and value");
            assert!(
                (g.2 - w.2).abs() <= 1e-9 * w.2.abs().max(1.0),
                "{name} {key:?} at {}: mean {} vs {}",
                w.0,
                g.2,
                w.2
            );
        }
    }
    // The rest of the trace is the same record for record.
    let others = |records: &[Record]| {
        records.iter().filter(|r| !matches!(r.event, Event::Sample { .. })).cloned().collect::<Vec<_>>()
    };
    assert!(others(&sparse) == others(&dense), "{name}: the same events besides the samples");
    assert_eq!(
        sparse_run.report.render_text().lines().filter(|l| !l.contains("trace")).collect::<Vec<_>>(),
        dense_run.report.render_text().lines().filter(|l| !l.contains("trace")).collect::<Vec<_>>(),
        "{name}: the same report"
    );
    (samples(&sparse), samples(&dense))
}

#[test]
fn a_sparse_trace_stands_for_the_dense_one_and_gives_the_same_report() {
    // A web app and its database under steady load, a broker restarted, an L2 node lost, a pool
    // scaled by an autoscaler (up to 20 s after its step): levels, counters, a queue's depth
    // and an autoscaler's metric.
    let ramp = [("duration = \"120s\"", "duration = \"50s\"")];
    for (name, edits) in [
        ("quickstart.toml", &[][..]),
        ("queue-broker-restart.toml", &[]),
        ("cache-node-lost.toml", &[]),
        ("autoscale-ramp.toml", &ramp),
    ] {
        let (sparse, dense) = both_ways(name, edits, 1);
        assert!(sparse < dense, "{name}: {sparse} samples sparse, {dense} dense");
    }
}

#[test]
fn an_idle_gauge_costs_no_samples() {
    // One request a second for a minute to an echo server: its gauges change when a request
    // comes in and when it leaves, so few of the 600 sampling times see a change, where a dense
    // trace samples every gauge at each of them.
    let scenario = util::scenario(
        r#"
name = "idle"
duration = "60s"
[[hosts]]
name = "echo"
service = "echo"
[workload]
targets = ["echo"]
users = 10
arrival = { poisson = { rate = 1 } }
"#,
    );
    let record = |every_sample| RecordConfig { messages: false, every_sample };
    let (_, _, sparse) = util::trace(&scenario, 1, record(false));
    let (_, _, dense) = util::trace(&scenario, 1, record(true));
    let (sparse, dense) = (samples(&sparse), samples(&dense));
    assert!(sparse * 5 < dense, "{sparse} samples sparse against {dense} dense");
}
