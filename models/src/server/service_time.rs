//! The cost side of the server's queueing model: how long a request occupies a worker slot
//! ([`ServiceTime`], sampled from the server's seeded stream, slowed by the Slowdown knob, slept
//! on tokio's timer grid with a dither that keeps its mean exact) and a server's [`Capacity`].
//!
//! Pure functions and plain data: this module must not touch a connection, a clock or a protocol.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// How long one request occupies a worker slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServiceTime {
    /// No cost: the request is served as soon as it arrives.
    Zero,
    /// Always this long.
    Fixed(Duration),
    /// Exponentially distributed with this mean.
    Exponential(Duration),
    /// Log-normally distributed with this mean, the shape of real query latencies (most fast,
    /// a long tail). `sigma` is the standard deviation of the cost's logarithm: its median is
    /// `mean * exp(-sigma² / 2)`, so 0.5 puts the median 12% under the mean and 1.0 puts it 39%
    /// under. A negative `sigma` acts as its absolute value, a non-finite one as 0 (`Fixed`).
    LogNormal {
        /// The mean cost (exact: the location parameter is derived from it).
        mean: Duration,
        /// The spread of the cost's logarithm.
        sigma: f64,
    },
}

impl ServiceTime {
    /// Draws one cost.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            ServiceTime::Zero => Duration::ZERO,
            ServiceTime::Fixed(d) => d,
            ServiceTime::Exponential(mean) => {
                let u: f64 = rng.random::<f64>();
                // 1 - u is in (0, 1], so the log is finite.
                Duration::from_secs_f64(-(1.0 - u).ln() * mean.as_secs_f64())
            }
            ServiceTime::LogNormal { mean, sigma } => {
                let sigma = if sigma.is_finite() { sigma.abs() } else { 0.0 };
                let z = standard_normal(rng);
                // E[exp(sigma * z)] = exp(sigma² / 2): dividing it out keeps the mean exact.
                let secs = mean.as_secs_f64() * (sigma * z - sigma * sigma / 2.0).exp();
                Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
            }
        }
    }
}

/// One draw of a standard normal variable (Box-Muller; two uniforms per draw, so the stream's
/// position never depends on state kept between draws).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u is in (0, 1], so the log is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `cost` under a slowdown of `percent`: multiplied by (100 + percent) / 100.
pub(crate) fn slowed(cost: Duration, percent: u64) -> Duration {
    let nanos = cost.as_nanos().saturating_mul(100 + u128::from(percent)) / 100;
    u64::try_from(nanos).map_or(Duration::MAX, Duration::from_nanos)
}

/// Resolution of tokio's timer wheel: a sleep ends on the first whole millisecond at or after
/// its deadline (on real tokio and on turmoil; madsim's timers are exact, see
/// [`crate::seam::Env::timer_grid`]).
#[cfg(test)]
const TIMER_GRID: Duration = Duration::from_millis(1);

/// The sleep to ask for so that a service time of `cost` is realised without bias on a timer
/// grid of `grid` (the engine's: [`crate::seam::Env::timer_grid`]); `dither` is uniform in
/// [0, 1).
///
/// Sleeping `cost` itself would end on the grid point at or after `now + cost`: half a
/// millisecond too long on average, which inflates an exponential 2 ms cost by 27% (an
/// exponential 100 ms cost by 0.5%, enough to lengthen the mean queue wait of four slots at
/// 95% utilisation by 12%).
/// Sleeping `cost - dither * grid` instead ends on the grid point below or above
/// `now + cost` with the probabilities that make its mean exactly `now + cost` (stochastic
/// rounding, whatever the phase of `now` on the grid): a fixed 1.5 ms cost is 1 ms or 2 ms
/// half of the time each, a whole number of milliseconds is kept exactly. Costs below the
/// grid become zero or one grid step, with the right mean.
pub(crate) fn dithered_sleep(cost: Duration, dither: f64, grid: Duration) -> Duration {
    debug_assert!((0.0..1.0).contains(&dither), "dither {dither} outside [0, 1)");
    cost.saturating_sub(grid.mul_f64(dither))
}

/// The capacity of a server. Build it with [`Capacity::new`] (or `..Capacity::default()`), so
/// settings added later keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Worker slots serving requests at once.
    pub workers: usize,
    /// Requests allowed to wait for a slot; past this they are shed with `Overloaded`.
    pub queue_limit: usize,
    /// Cost of one request.
    pub service_time: ServiceTime,
    /// Connections open at once; one more is refused with `TooManyConnections`. `None`: no limit.
    pub max_connections: Option<usize>,
    /// How long a new connection holds its slot before its first request is served.
    pub connect_cost: Duration,
    /// The longest a query may wait for a worker slot before it is answered `Overloaded`.
    /// `None`: it waits as long as it takes.
    pub queue_timeout: Option<Duration>,
}

impl Capacity {
    /// `workers` slots, a queue of `queue_limit` and a cost of `service_time`; no connection
    /// limit, no connect cost, no queue timeout.
    pub fn new(workers: usize, queue_limit: usize, service_time: ServiceTime) -> Self {
        Self {
            workers,
            queue_limit,
            service_time,
            max_connections: None,
            connect_cost: Duration::ZERO,
            queue_timeout: None,
        }
    }

    /// Whether connections are modelled (counted, limited or costly).
    pub(super) fn models_connections(&self) -> bool {
        self.max_connections.is_some() || !self.connect_cost.is_zero()
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Self::new(64, 10_000, ServiceTime::Zero)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn exponential_service_time_has_the_right_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let st = ServiceTime::Exponential(Duration::from_millis(10));
        let n = 20_000;
        let total: f64 = (0..n).map(|_| st.sample(&mut rng).as_secs_f64()).sum();
        let mean_ms = total / n as f64 * 1000.0;
        assert!((mean_ms - 10.0).abs() < 0.3, "mean {mean_ms} ms");
    }

    /// Draws `n` costs; returns their mean and median in milliseconds.
    fn mean_and_median_ms(st: ServiceTime, n: usize) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut ms: Vec<f64> = (0..n).map(|_| st.sample(&mut rng).as_secs_f64() * 1000.0).collect();
        let mean = ms.iter().sum::<f64>() / n as f64;
        ms.sort_by(f64::total_cmp);
        (mean, ms[n / 2])
    }

    #[test]
    fn log_normal_service_time_has_its_mean_and_median() {
        let n = 200_000;
        for sigma in [0.5, 1.0] {
            let (mean, median) =
                mean_and_median_ms(ServiceTime::LogNormal { mean: Duration::from_millis(10), sigma }, n);
            // The sample mean's sd is 10 ms * sqrt(exp(sigma²) - 1) / sqrt(n): under 0.03 ms here.
            assert!((mean - 10.0).abs() < 0.12, "sigma {sigma}: mean {mean} ms");
            let want = (-sigma * sigma / 2.0f64).exp();
            assert!((median / mean - want).abs() < 0.02, "sigma {sigma}: p50 / mean {} want {want}", median / mean);
        }
    }

    #[test]
    fn log_normal_degenerates_to_its_mean_without_spread() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for sigma in [0.0, f64::NAN, f64::INFINITY] {
            let d = ServiceTime::LogNormal { mean: Duration::from_millis(4), sigma }.sample(&mut rng);
            assert!(d.abs_diff(Duration::from_millis(4)) < Duration::from_nanos(10), "sigma {sigma}: {d:?}");
        }
        let (mean, median) =
            mean_and_median_ms(ServiceTime::LogNormal { mean: Duration::from_millis(10), sigma: -0.5 }, 50_000);
        assert!((mean - 10.0).abs() < 0.2, "a negative sigma acts as its absolute value: mean {mean} ms");
        assert!(median < 9.2, "median {median} ms");
    }

    #[test]
    fn slowdown_scales_the_cost() {
        let cost = Duration::from_millis(10);
        assert_eq!(slowed(cost, 0), cost);
        assert_eq!(slowed(cost, 100), Duration::from_millis(20));
        assert_eq!(slowed(cost, 250), Duration::from_millis(35));
        assert_eq!(slowed(Duration::ZERO, 1000), Duration::ZERO);
        assert_eq!(slowed(Duration::from_secs(1 << 40), u64::MAX), Duration::MAX);
    }

    /// The time a sleep of `request` really takes from a start `phase` into a grid step: it
    /// ends on the first grid point at or after its deadline, as tokio's timer wheel does.
    fn realised(phase: Duration, request: Duration) -> Duration {
        let grid = TIMER_GRID.as_nanos();
        let end = (phase + request).as_nanos().div_ceil(grid) * grid;
        Duration::from_nanos(end as u64) - phase
    }

    /// The mean realised time of a service `cost` over `n` dithers drawn from `seed`.
    fn mean_realised_ms(cost: Duration, phase: Duration, seed: u64, n: u32) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let total: Duration = (0..n).map(|_| realised(phase, dithered_sleep(cost, rng.random(), TIMER_GRID))).sum();
        total.as_secs_f64() * 1000.0 / f64::from(n)
    }

    #[test]
    fn dithered_sleeps_realise_the_cost_on_average_on_the_timer_grid() {
        let n = 200_000;
        for (cost_us, phase_us) in [(300, 0), (1500, 0), (2700, 0), (2700, 400), (100_250, 0)] {
            let cost = Duration::from_micros(cost_us);
            let got = mean_realised_ms(cost, Duration::from_micros(phase_us), cost_us, n);
            let want = cost.as_secs_f64() * 1000.0;
            // The rounding error is at most one grid step: its mean over n has sd <= 0.5 / sqrt(n) ms.
            assert!((got - want).abs() < 0.005, "cost {want} ms, phase {phase_us} us: realised {got} ms");
        }
        // Without the dither, a sleep that starts on the grid is rounded up: 0.5 ms too long on average.
        assert_eq!(realised(Duration::ZERO, Duration::from_micros(1500)), Duration::from_millis(2));
    }

    #[test]
    fn dithered_sleeps_keep_whole_milliseconds_exact() {
        for dither in [0.0, 0.3, 0.999_999] {
            let request = dithered_sleep(Duration::from_millis(3), dither, TIMER_GRID);
            assert_eq!(realised(Duration::ZERO, request), Duration::from_millis(3), "dither {dither}");
        }
    }

    #[test]
    fn fixed_and_zero_are_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(ServiceTime::Zero.sample(&mut rng), Duration::ZERO);
        assert_eq!(ServiceTime::Fixed(Duration::from_millis(3)).sample(&mut rng), Duration::from_millis(3));
    }

    #[test]
    fn the_default_capacity_models_no_connections() {
        let capacity = Capacity::default();
        assert_eq!(capacity, Capacity::new(64, 10_000, ServiceTime::Zero));
        assert!(!capacity.models_connections());
        assert_eq!(capacity.queue_timeout, None);
    }
}
