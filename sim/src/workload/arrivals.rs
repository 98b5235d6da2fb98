//! Arrival processes and key popularity: pure functions of a seeded stream, tested against
//! theory (Poisson counts and gaps, Zipf frequencies).
//!
//! Rates are requests per second. A piecewise rate (step, spike, phases) is a Poisson process whose
//! rate changes at given times; since the exponential gap is memoryless, a gap that crosses a
//! boundary is redrawn from the boundary at the new rate, which is exact. A burst is a count of
//! requests at one instant: the clients of a contention experiment all starting at once.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};

/// When requests arrive at one load generator.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalProcess {
    /// Evenly spaced at `rate` per second, the first after `phase_ns`.
    Constant {
        /// Requests per second.
        rate: f64,
        /// Offset of the first arrival, nanoseconds.
        phase_ns: u64,
    },
    /// Poisson, with the rate changing at the given times: `(from_ns, rate)`, sorted by time,
    /// the first at 0.
    Poisson {
        /// The rate's segments.
        segments: Vec<(u64, f64)>,
    },
    /// `requests` arrivals at `at_ns`, all at that instant, and none after.
    Burst {
        /// How many.
        requests: u64,
        /// When, nanoseconds.
        at_ns: u64,
    },
}

/// Draws successive arrival times.
pub struct Arrivals {
    process: ArrivalProcess,
    rng: ChaCha8Rng,
    count: u64,
    t_ns: u64,
}

impl ArrivalProcess {
    /// Whether the rate drops to 0 for good before the end (the last of several segments has
    /// rate 0): a quiet tail.
    pub fn quiet_tail(&self) -> bool {
        match self {
            ArrivalProcess::Poisson { segments } => segments.len() > 1 && segments.last().is_some_and(|s| s.1 <= 0.0),
            ArrivalProcess::Constant { .. } | ArrivalProcess::Burst { .. } => false,
        }
    }
}

impl Arrivals {
    /// Arrivals of `process`, drawn from `rng`.
    pub fn new(process: ArrivalProcess, rng: ChaCha8Rng) -> Self {
        Self { process, rng, count: 0, t_ns: 0 }
    }

    /// The next arrival time in nanoseconds, or `None` if no arrival comes before `end_ns`.
    pub fn next_before(&mut self, end_ns: u64) -> Option<u64> {
        let next = match &self.process {
            ArrivalProcess::Constant { rate, phase_ns } => {
                if *rate <= 0.0 {
                    return None;
                }
                let gap = 1e9 / rate;
                (*phase_ns as f64 + self.count as f64 * gap) as u64
            }
            ArrivalProcess::Poisson { segments } => next_poisson(segments, self.t_ns, &mut self.rng, end_ns)?,
            ArrivalProcess::Burst { requests, at_ns } => {
                if self.count >= *requests {
                    return None;
                }
                *at_ns
            }
        };
        if next >= end_ns {
            return None;
        }
        self.count += 1;
        self.t_ns = next;
        Some(next)
    }

    /// The arrivals drawn so far (the next one's index in the process).
    pub fn count(&self) -> u64 {
        self.count
    }
}

fn rate_at(segments: &[(u64, f64)], t_ns: u64) -> (f64, Option<u64>) {
    let i = segments.partition_point(|(from, _)| *from <= t_ns).saturating_sub(1);
    let rate = segments.get(i).map(|s| s.1).unwrap_or(0.0);
    (rate, segments.get(i + 1).map(|s| s.0))
}

fn next_poisson(segments: &[(u64, f64)], mut t_ns: u64, rng: &mut ChaCha8Rng, end_ns: u64) -> Option<u64> {
    // Bounded: each round either returns or moves to the next segment boundary.
    for _ in 0..=segments.len() {
        let (rate, boundary) = rate_at(segments, t_ns);
        if rate > 0.0 {
            let u: f64 = rng.random();
            let gap_ns = -(1.0 - u).ln() / rate * 1e9;
            let next = t_ns as f64 + gap_ns;
            match boundary {
                Some(b) if next >= b as f64 => t_ns = b,
                _ => return Some(next.min(u64::MAX as f64) as u64),
            }
        } else {
            t_ns = boundary?;
        }
        if t_ns >= end_ns {
            return None;
        }
    }
    None
}

/// Which key a request touches.
#[derive(Debug, Clone)]
pub enum KeyChooser {
    /// Every key in `0..keys` equally likely.
    Uniform {
        /// Number of keys.
        keys: u64,
    },
    /// Zipf-distributed rank; key 0 is the most popular.
    Zipf(Zipf<f64>),
}

impl KeyChooser {
    /// A chooser over `keys` keys; `zipf_s` = `None` for uniform. `keys` must be > 0 and `s` > 0
    /// (validated with the scenario).
    pub fn new(keys: u64, zipf_s: Option<f64>) -> Self {
        match zipf_s {
            None => KeyChooser::Uniform { keys: keys.max(1) },
            Some(s) => KeyChooser::Zipf(Zipf::new(keys.max(1) as f64, s).expect("validated: keys > 0 and s > 0")),
        }
    }

    /// Draws a key index.
    pub fn choose(&self, rng: &mut ChaCha8Rng) -> u64 {
        match self {
            KeyChooser::Uniform { keys } => rng.random_range(0..*keys),
            KeyChooser::Zipf(z) => (z.sample(rng) as u64).saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(11)
    }

    fn all(process: ArrivalProcess, end_ns: u64) -> Vec<u64> {
        let mut a = Arrivals::new(process, rng());
        std::iter::from_fn(|| a.next_before(end_ns)).collect()
    }

    #[test]
    fn constant_is_evenly_spaced() {
        let t = all(ArrivalProcess::Constant { rate: 100.0, phase_ns: 5_000_000 }, 1_000_000_000);
        assert_eq!(t.len(), 100);
        assert_eq!(t[0], 5_000_000);
        assert_eq!(t[1] - t[0], 10_000_000);
    }

    #[test]
    fn poisson_count_and_gaps_match_theory() {
        // 1000/s for 100 s: mean 100_000, sd ~316; gaps exponential: mean 1 ms, CV 1.
        let t = all(ArrivalProcess::Poisson { segments: vec![(0, 1000.0)] }, 100_000_000_000);
        let n = t.len() as f64;
        assert!((n - 100_000.0).abs() < 1500.0, "count {n}");
        let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((mean - 1e6).abs() < 2e4, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.02, "cv {cv}");
    }

    #[test]
    fn step_changes_rate_at_the_boundary() {
        let segments = vec![(0, 100.0), (10_000_000_000, 1000.0)];
        let t = all(ArrivalProcess::Poisson { segments }, 20_000_000_000);
        let before = t.iter().filter(|&&x| x < 10_000_000_000).count() as f64;
        let after = t.len() as f64 - before;
        assert!((before - 1000.0).abs() < 150.0, "before {before}");
        assert!((after - 10_000.0).abs() < 450.0, "after {after}");
    }

    #[test]
    fn a_burst_arrives_at_one_instant_and_only_before_the_end() {
        let t = all(ArrivalProcess::Burst { requests: 5, at_ns: 2_000_000 }, 1_000_000_000);
        assert_eq!(t, [2_000_000; 5]);
        assert!(all(ArrivalProcess::Burst { requests: 5, at_ns: 2_000_000 }, 2_000_000).is_empty());
        assert!(all(ArrivalProcess::Burst { requests: 0, at_ns: 0 }, 1_000).is_empty());
    }

    #[test]
    fn zero_rate_segment_is_silent() {
        let segments = vec![(0, 0.0), (5_000_000_000, 100.0), (6_000_000_000, 0.0)];
        let t = all(ArrivalProcess::Poisson { segments }, 10_000_000_000);
        assert!(t.iter().all(|&x| (5_000_000_000..6_000_000_000).contains(&x)));
        assert!(t.len() > 60 && t.len() < 140, "{}", t.len());
    }

    #[test]
    fn zipf_frequencies_match_the_formula() {
        // P(rank k) = k^-s / H(n, s).
        let (n, s) = (100u64, 1.0f64);
        let chooser = KeyChooser::new(n, Some(s));
        let mut r = rng();
        let draws = 200_000;
        let mut counts = vec![0u64; n as usize];
        for _ in 0..draws {
            counts[chooser.choose(&mut r) as usize] += 1;
        }
        let h: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        for k in [1usize, 2, 10] {
            let expected = (k as f64).powf(-s) / h;
            let got = counts[k - 1] as f64 / draws as f64;
            assert!((got - expected).abs() < 0.1 * expected, "rank {k}: {got} vs {expected}");
        }
    }

    #[test]
    fn uniform_stays_in_range() {
        let chooser = KeyChooser::new(10, None);
        let mut r = rng();
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[chooser.choose(&mut r) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
