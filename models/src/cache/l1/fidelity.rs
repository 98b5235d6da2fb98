//! Fidelity tests of the L1 cache: hit rates on a generated Zipf trace against the published
//! figures (Caffeine's simulator: Zipf s = 1.0, a cache of 1% of the keys, LRU ~39% and
//! W-TinyLFU ~51%; at 10%, ~68% against ~75%) and against theory: Che's approximation of LRU
//! under independent requests, and the best any online policy can do there, holding the most
//! popular keys.
//!
//! This file generates its own traces from a seeded ChaCha8Rng; it must not read files or time.

use super::{Admission, L1, L1Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Keys in the trace's universe.
const KEYS: usize = 100_000;
/// Requests replayed.
const REQUESTS: usize = 1_000_000;
/// Requests replayed before counting, so a cold start does not weigh on the figure.
const WARMUP: usize = 100_000;

/// Zipf popularity over ranks `0..n`: rank `i` has weight `1 / (i + 1)^s`.
struct Zipf {
    /// Cumulative probabilities, ending at 1.
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut cdf: Vec<f64> = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 0..n {
            total += 1.0 / ((rank + 1) as f64).powf(s);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        Self { cdf }
    }

    /// The probability of rank `i`.
    fn probability(&self, i: usize) -> f64 {
        self.cdf[i] - if i == 0 { 0.0 } else { self.cdf[i - 1] }
    }

    /// A rank by inverse CDF.
    fn sample(&self, rng: &mut ChaCha8Rng) -> u64 {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

fn trace(zipf: &Zipf, seed: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..REQUESTS).map(|_| zipf.sample(&mut rng)).collect()
}

/// The hit rate (in %) of a read-through cache replaying the trace, after the warm-up.
fn hit_rate(trace: &[u64], capacity: usize, admission: Admission) -> f64 {
    let mut l1: L1<u64> = L1::new(L1Config { capacity, ttl: None, admission, seed: 1 });
    let now = Duration::ZERO;
    let mut hits = 0u64;
    for (at, &rank) in trace.iter().enumerate() {
        let key = rank.to_be_bytes();
        match l1.get(&key, now) {
            Some(value) => {
                assert_eq!(value, rank, "a key read back another key's value");
                hits += u64::from(at >= WARMUP);
            }
            None => l1.insert(&key, rank, now),
        }
        assert!(l1.len() <= capacity);
    }
    100.0 * hits as f64 / (trace.len() - WARMUP) as f64
}

/// Che's approximation of LRU's hit rate (in %) under independent requests: the characteristic
/// time `t` solves `sum(1 - exp(-p t)) = capacity`; the hit rate is `sum(p (1 - exp(-p t)))`.
fn che_lru(zipf: &Zipf, capacity: usize) -> f64 {
    let probabilities: Vec<f64> = (0..zipf.cdf.len()).map(|i| zipf.probability(i)).collect();
    let occupancy = |t: f64| probabilities.iter().map(|p| 1.0 - (-p * t).exp()).sum::<f64>();
    let (mut low, mut high) = (0.0, 1.0);
    while occupancy(high) < capacity as f64 {
        high *= 2.0;
    }
    for _ in 0..60 {
        let middle = (low + high) / 2.0;
        if occupancy(middle) < capacity as f64 { low = middle } else { high = middle }
    }
    100.0 * probabilities.iter().map(|p| p * (1.0 - (-p * high).exp())).sum::<f64>()
}

/// The best online hit rate (in %) under independent requests: the `capacity` most popular keys.
fn best_online(zipf: &Zipf, capacity: usize) -> f64 {
    100.0 * zipf.cdf[capacity - 1]
}

fn assert_near(what: &str, measured: f64, expected: f64, tolerance: f64) {
    assert!(
        (measured - expected).abs() <= tolerance,
        "{what}: measured {measured:.2}%, expected {expected:.2}% within {tolerance} points"
    );
}

#[test]
fn zipf_sampler_follows_its_distribution() {
    let zipf = Zipf::new(KEYS, 1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let draws = 200_000;
    let mut top = [0u32; 3];
    for _ in 0..draws {
        let rank = zipf.sample(&mut rng) as usize;
        if rank < 3 {
            top[rank] += 1;
        }
    }
    for (rank, &count) in top.iter().enumerate() {
        let expected = zipf.probability(rank);
        let observed = count as f64 / draws as f64;
        let tolerance = 4.0 * (expected * (1.0 - expected) / draws as f64).sqrt();
        assert!((observed - expected).abs() <= tolerance, "rank {rank}: {observed:.4} vs {expected:.4}");
    }
}

/// The measured figures on this trace (seed 2015): at 1%, LRU 50.63% (Che 50.62%), W-TinyLFU
/// 60.11% (best 61.91%); at 10%, LRU 73.69% (Che 73.73%), W-TinyLFU 79.16% (best 80.96%).
///
/// The published 39% / 51% and 68% / 75% cannot be met on this trace by any correct LRU: Che's
/// approximation, which the measured LRU matches to 0.05 points, puts LRU at 50.6% and 73.7%
/// for Zipf s = 1.0 over 100k keys. So the test holds LRU to theory (within 1 point), W-TinyLFU
/// to within 2.5 points of the best online policy (and not above it), each to the figure
/// measured here (within 2 points), and the gap between them to at least 8 points at 1% and 4
/// points at 10% (published: 12 and 7; measured: 9.5 and 5.5).
#[test]
fn zipf_hit_rates_at_one_and_ten_percent() {
    let zipf = Zipf::new(KEYS, 1.0);
    let trace = trace(&zipf, 2015);
    // (capacity, measured LRU, measured W-TinyLFU, least gap)
    for (capacity, lru_measured, tinylfu_measured, gap_least) in
        [(KEYS / 100, 50.63, 60.11, 8.0), (KEYS / 10, 73.69, 79.16, 4.0)]
    {
        let lru = hit_rate(&trace, capacity, Admission::Lru);
        let tinylfu = hit_rate(&trace, capacity, Admission::TinyLfu);
        let che = che_lru(&zipf, capacity);
        let best = best_online(&zipf, capacity);
        let figures =
            format!("capacity {capacity}: LRU {lru:.2}% (Che {che:.2}%), W-TinyLFU {tinylfu:.2}%, best {best:.2}%");
        eprintln!("{figures}");
        assert_near(&format!("LRU against Che's approximation; {figures}"), lru, che, 1.0);
        assert_near(&format!("LRU; {figures}"), lru, lru_measured, 2.0);
        assert_near(&format!("W-TinyLFU; {figures}"), tinylfu, tinylfu_measured, 2.0);
        assert!(tinylfu <= best + 0.5, "W-TinyLFU above the best online policy; {figures}");
        assert!(tinylfu >= best - 2.5, "W-TinyLFU far below the best online policy; {figures}");
        assert!(tinylfu - lru >= gap_least, "W-TinyLFU gains under {gap_least} points over LRU; {figures}");
    }
}

/// The same ordering on a flatter Zipf (s = 0.8), where frequency matters less per key.
#[test]
fn tinylfu_beats_lru_on_a_flatter_zipf() {
    let zipf = Zipf::new(KEYS, 0.8);
    let trace = trace(&zipf, 8);
    let capacity = KEYS / 100;
    let lru = hit_rate(&trace, capacity, Admission::Lru);
    let tinylfu = hit_rate(&trace, capacity, Admission::TinyLfu);
    let che = che_lru(&zipf, capacity);
    let best = best_online(&zipf, capacity);
    let figures = format!(
        "s = 0.8, capacity {capacity}: LRU {lru:.2}% (Che {che:.2}%), W-TinyLFU {tinylfu:.2}%, best {best:.2}%"
    );
    eprintln!("{figures}");
    assert_near(&format!("LRU against Che's approximation; {figures}"), lru, che, 1.0);
    assert!(tinylfu - lru >= 8.0, "{figures}");
    assert!(tinylfu <= best + 0.5, "{figures}");
}
