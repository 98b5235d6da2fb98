//! Criterion benches of the linearizability checker (`faultline_chaos::lin::check`) on seeded
//! histories from `lin::generator`: 50 clients on 10 keys, 10,000 and 100,000 operations, linearizable
//! (targets: under 1 s and under 10 s), plus the same 10,000 with 5% indeterminate operations
//! and with an injected stale read (a verdict of Illegal, with its explanation), and 10,000 on a
//! single key with 10 and 15 concurrent clients (cost grows steeply with concurrency per key).
//!
//! Each history is generated once, untimed, and its verdict asserted before it is measured.
//! Must not: assert timings (targets are read off the report, see docs/performance.md).
//! Sample sizes are small so `cargo bench -p faultline-chaos --bench linearizability` finishes in
//! well under two minutes on two cores. Throughput is in operations.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use faultline_chaos::lin::generator::{GenConfig, Violation, generate};
use faultline_chaos::lin::{CheckConfig, Operation, Verdict, check};
use std::hint::black_box;
use std::time::Duration;

fn history(ops: usize, info_ratio: f64, violation: Option<Violation>) -> Vec<Operation> {
    let config = GenConfig { seed: 7, ops, clients: 50, keys: 10, info_ratio, violation, ..GenConfig::default() };
    generate(&config).ops
}

/// All clients on one key: the search's cost grows steeply with concurrency per key.
fn one_key(clients: usize) -> Vec<Operation> {
    generate(&GenConfig { seed: 7, ops: 10_000, clients, keys: 1, ..GenConfig::default() }).ops
}

fn bench(c: &mut Criterion, name: &str, ops: &[Operation], expect_ok: bool, samples: usize, secs: u64) {
    let config = CheckConfig::default();
    let verdict = check(ops, &config).expect("a valid history").verdict;
    assert_eq!(verdict == Verdict::Ok, expect_ok, "{name}: {verdict:?}");
    let mut group = c.benchmark_group("linearizability");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(samples)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(secs))
        .throughput(Throughput::Elements(ops.len() as u64));
    group.bench_function(name, |b| b.iter(|| black_box(check(black_box(ops), &config))));
    group.finish();
}

fn checker(c: &mut Criterion) {
    bench(c, "10k_ops_50_clients_10_keys", &history(10_000, 0.0, None), true, 10, 3);
    bench(c, "10k_ops_5pct_info", &history(10_000, 0.05, None), true, 10, 3);
    bench(c, "10k_ops_stale_read", &history(10_000, 0.0, Some(Violation::StaleRead)), false, 10, 3);
    bench(c, "100k_ops_50_clients_10_keys", &history(100_000, 0.0, None), true, 10, 10);
    bench(c, "10k_ops_10_clients_1_key", &one_key(10), true, 10, 3);
    bench(c, "10k_ops_15_clients_1_key", &one_key(15), true, 10, 5);
}

criterion_group!(benches, checker);
criterion_main!(benches);
