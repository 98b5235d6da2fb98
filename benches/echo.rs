//! Criterion benches of the closed-loop echo workload (`faultline::bench`): the three engines
//! (raw turmoil, Faultline, the bare event loop) at 3 servers / 8 users, and Faultline with
//! multiplexed users at 10 servers / 100 users, each over 200 ms of simulated time.
//! Throughput is in round trips (counted once, untimed, before each bench: runs are
//! deterministic, so every iteration answers the same number).
//!
//! Sample sizes and measurement times are small so that `cargo bench --bench echo` finishes
//! in a couple of minutes on two cores; `faultline bench` runs the longer, judged figures.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use faultline::bench::{Measurement, Topology, floor, raw, world};
use std::hint::black_box;
use std::time::Duration;

const SIMULATED: Duration = Duration::from_millis(200);

/// The allocator the `faultline` binary runs with, so both measure the same thing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, round_trips: u64) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(round_trips));
}

fn bench_engine(c: &mut Criterion, topology: Topology, name: &str, run: impl Fn() -> Measurement) {
    let group_name = format!("echo_{}x{}", topology.servers, topology.users);
    let mut group = c.benchmark_group(group_name);
    configure(&mut group, run().round_trips);
    group.bench_function(name, |b| b.iter(|| black_box(run())));
    group.finish();
}

fn small(c: &mut Criterion) {
    let topology = Topology::new(3, 8);
    bench_engine(c, topology, "floor", || floor::run(topology, SIMULATED));
    bench_engine(c, topology, "raw_turmoil", || raw::run(topology, SIMULATED).expect("raw turmoil runs"));
    bench_engine(c, topology, "faultline_8lg", || {
        world::run(topology, topology.users, SIMULATED).expect("faultline runs")
    });
}

fn medium(c: &mut Criterion) {
    let topology = Topology::new(10, 100);
    bench_engine(c, topology, "faultline_2lg", || world::run(topology, 2, SIMULATED).expect("faultline runs"));
}

criterion_group!(benches, small, medium);
criterion_main!(benches);
