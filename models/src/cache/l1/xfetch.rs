//! XFetch (Vattani, Chierichetti and Lowenstein, "Optimal Probabilistic Cache Stampede
//! Prevention", VLDB 2015): refresh a value before it expires, with a chance that grows as the
//! expiry nears, so that one reader (not all of them at once) recomputes it.
//!
//! A value is stored with `delta`, how long its recompute took. A reader refreshes early when
//! `now - delta * beta * ln(u) >= expiry`, with `u` uniform in (0, 1]. At `expiry - now = t` that
//! happens with chance `exp(-t / (beta * delta))`: a slow recompute starts earlier, `beta > 1`
//! favours earlier refreshes, `beta = 1` is the paper's optimum.
//!
//! This file must not draw randomness itself or read a clock: `u` and `now` are passed in (the
//! caller draws `u` from the seam's RNG, for example with [`draw_u`]).

use rand::Rng;
use std::time::Duration;

/// The paper's recommended `beta`.
pub const BETA_DEFAULT: f64 = 1.0;

/// Whether a reader at `now` should recompute a value expiring at `expiry`, whose recompute
/// took `delta`, given `u` drawn uniformly from (0, 1].
///
/// At or past the expiry it is always true. A `u` of 0 or less counts as the smallest possible
/// draw (refresh whenever `delta * beta > 0`), a `u` above 1 as 1 (no early refresh), and a
/// `beta` that is not positive (or NaN) disables early refresh.
pub fn should_refresh(now: Duration, expiry: Duration, delta: Duration, beta: f64, u: f64) -> bool {
    if now >= expiry {
        return true;
    }
    let scale = delta.as_secs_f64() * beta;
    if scale.is_nan() || scale <= 0.0 {
        return false;
    }
    if u <= 0.0 {
        return true;
    }
    // -ln(u) is exponential with mean 1: the early margin is exponential with mean `scale`.
    let margin = -u.min(1.0).ln() * scale;
    now.as_secs_f64() + margin >= expiry.as_secs_f64()
}

/// A draw of `u` uniform in (0, 1], as [`should_refresh`] wants.
pub fn draw_u(rng: &mut impl Rng) -> f64 {
    1.0 - rng.random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn at_or_past_expiry_always_refreshes() {
        assert!(should_refresh(ms(100), ms(100), ms(0), 1.0, 1.0));
        assert!(should_refresh(ms(150), ms(100), ms(10), 0.0, 0.5));
    }

    #[test]
    fn follows_the_formula_at_the_edges() {
        // delta 10 ms, beta 1, 20 ms left: refresh iff -ln(u) >= 2, i.e. u <= e^-2 = 0.1353.
        assert!(should_refresh(ms(80), ms(100), ms(10), 1.0, 0.135));
        assert!(!should_refresh(ms(80), ms(100), ms(10), 1.0, 0.136));
        // beta 2 doubles the margin: u <= e^-1.
        assert!(should_refresh(ms(80), ms(100), ms(10), 2.0, 0.367));
        assert!(!should_refresh(ms(80), ms(100), ms(10), 2.0, 0.368));
        // u = 1 never refreshes early; u <= 0 always does.
        assert!(!should_refresh(ms(99), ms(100), ms(10), 1.0, 1.0));
        assert!(should_refresh(ms(0), ms(100), ms(10), 1.0, 0.0));
        // No delta or no beta: no early refresh.
        assert!(!should_refresh(ms(99), ms(100), ms(0), 1.0, 1e-12));
        assert!(!should_refresh(ms(99), ms(100), ms(10), f64::NAN, 1e-12));
    }

    #[test]
    fn draws_are_in_the_half_open_unit_interval() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..10_000 {
            let u = draw_u(&mut rng);
            assert!(u > 0.0, "u = {u}");
            assert!(u <= 1.0, "u = {u}");
        }
    }

    #[test]
    fn early_refresh_chance_is_exp_minus_t_over_beta_delta() {
        let mut rng = ChaCha8Rng::seed_from_u64(2015);
        let draws = 200_000;
        let expiry = ms(10_000);
        for (delta_ms, beta, left_ms) in [(100, 1.0, 50), (100, 1.0, 100), (100, 1.0, 300), (40, 2.5, 120)] {
            let now = expiry - ms(left_ms);
            let refreshed =
                (0..draws).filter(|_| should_refresh(now, expiry, ms(delta_ms), beta, draw_u(&mut rng))).count();
            let observed = refreshed as f64 / draws as f64;
            let expected = (-(left_ms as f64) / (beta * delta_ms as f64)).exp();
            // Four standard errors of a binomial proportion.
            let tolerance = 4.0 * (expected * (1.0 - expected) / draws as f64).sqrt();
            assert!(
                (observed - expected).abs() <= tolerance,
                "delta {delta_ms} ms, beta {beta}, {left_ms} ms left: observed {observed:.4}, expected {expected:.4}"
            );
        }
    }
}
