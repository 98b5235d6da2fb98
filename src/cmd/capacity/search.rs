//! The capacity search: the highest arrival rate that passes, found by probing rates.
//!
//! Deterministic and bounded: from the scenario's own rate, double while the rate passes (up to
//! the largest rate allowed), or halve while it fails (at most [`MAX_HALVINGS`] times); then
//! bisect between the highest passing and the lowest failing rate until they are within the
//! precision asked for ([`PRECISION`] by default) of each other. At most [`MAX_PROBES`] rates
//! are probed in all.
//!
//! Owns: the order rates are tried in and when to stop. Must not: run anything itself (a probe
//! is the caller's closure), so it is tested over pure functions.

/// The bracket is narrow enough, by default, when the failing rate is at most this much above
/// the passing.
pub const PRECISION: f64 = 0.05;

/// The most times the starting rate is halved looking for a passing rate.
pub const MAX_HALVINGS: u32 = 10;

/// The most rates one search probes: doubling from 1 to 10,000,000 per second takes 24, the
/// bisection from a factor of 2 to 5% takes 5.
pub const MAX_PROBES: usize = 48;

/// Where the search ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knee {
    /// The highest rate that passed; `None`: every rate tried failed.
    pub passing: Option<f64>,
    /// The lowest rate that failed; `None`: every rate passed, up to the largest allowed.
    pub failing: Option<f64>,
    /// How many rates were probed.
    pub probes: usize,
}

/// Searches from `start` (> 0) for the highest rate at most `max_rate` at which `probe` says
/// the system passes, to a bracket of `precision` (the failing rate at most that share above
/// the passing). `probe(rate)` runs the system at `rate`; its error ends the search.
pub fn search<E>(
    start: f64,
    max_rate: f64,
    precision: f64,
    mut probe: impl FnMut(f64) -> Result<bool, E>,
) -> Result<Knee, E> {
    assert!(start > 0.0 && start.is_finite(), "the search starts at a positive rate, not {start}");
    assert!(max_rate > 0.0 && max_rate.is_finite(), "the largest rate is positive, not {max_rate}");
    assert!(precision > 0.0 && precision.is_finite(), "the precision is positive, not {precision}");
    let mut knee = Knee { passing: None, failing: None, probes: 0 };
    let mut tried = |rate: f64, knee: &mut Knee| -> Result<bool, E> {
        knee.probes += 1;
        let pass = probe(rate)?;
        if pass {
            knee.passing = Some(knee.passing.map_or(rate, |p: f64| p.max(rate)));
        } else {
            knee.failing = Some(knee.failing.map_or(rate, |f: f64| f.min(rate)));
        }
        Ok(pass)
    };
    let mut rate = start.min(max_rate);
    if tried(rate, &mut knee)? {
        while rate < max_rate && knee.probes < MAX_PROBES {
            rate = (rate * 2.0).min(max_rate);
            if !tried(rate, &mut knee)? {
                break;
            }
        }
    } else {
        for _ in 0..MAX_HALVINGS {
            rate /= 2.0;
            if tried(rate, &mut knee)? {
                break;
            }
        }
    }
    while let (Some(lo), Some(hi)) = (knee.passing, knee.failing) {
        if hi <= lo * (1.0 + precision) || knee.probes >= MAX_PROBES {
            break;
        }
        tried((lo + hi) / 2.0, &mut knee)?;
    }
    Ok(knee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Searches a system that passes below `threshold`, recording every rate tried.
    fn check(start: f64, max_rate: f64, threshold: f64) -> (Knee, Vec<f64>) {
        check_to(start, max_rate, threshold, PRECISION)
    }

    /// [`check`] to a bracket of `precision`.
    fn check_to(start: f64, max_rate: f64, threshold: f64, precision: f64) -> (Knee, Vec<f64>) {
        let mut rates = Vec::new();
        let knee = search(start, max_rate, precision, |r| -> Result<bool, Infallible> {
            rates.push(r);
            Ok(r <= threshold)
        })
        .unwrap();
        assert_eq!(knee.probes, rates.len());
        (knee, rates)
    }

    #[test]
    fn doubling_then_bisection_finds_the_knee_within_five_percent() {
        for (start, threshold) in [(100.0, 730.0), (1.0, 9_999.0), (50.0, 50.5), (400.0, 401.0), (3.0, 1_000_000.0)] {
            let (knee, rates) = check(start, 10_000_000.0, threshold);
            let (lo, hi) = (knee.passing.unwrap(), knee.failing.unwrap());
            assert!(lo <= threshold && hi > threshold, "{start} {threshold}: {knee:?}");
            assert!(hi <= lo * 1.05, "a 5% bracket: {knee:?} after {rates:?}");
            assert!(threshold - lo <= 0.05 * threshold, "within 5% of {threshold}: {knee:?}");
            assert!(rates.len() <= 30, "bounded: {} runs for {threshold}: {rates:?}", rates.len());
        }
    }

    #[test]
    fn a_wider_precision_stops_sooner_at_a_wider_bracket() {
        for (start, threshold) in [(100.0, 730.0), (1.0, 9_999.0), (40.0, 41.5), (3.0, 1_000_000.0)] {
            let (fine, fine_rates) = check(start, 1e7, threshold);
            let (coarse, coarse_rates) = check_to(start, 1e7, threshold, 0.2);
            let (lo, hi) = (coarse.passing.unwrap(), coarse.failing.unwrap());
            assert!(lo <= threshold && hi > threshold, "{start} {threshold}: {coarse:?}");
            assert!(hi <= lo * 1.2, "a 20% bracket: {coarse:?} after {coarse_rates:?}");
            assert!(coarse_rates.len() < fine_rates.len(), "{coarse_rates:?} against {fine_rates:?}");
            assert_eq!(coarse_rates, fine_rates[..coarse_rates.len()], "the same path, stopped sooner");
            assert!(fine.passing.unwrap() >= lo, "{fine:?} against {coarse:?}");
        }
    }

    #[test]
    fn a_failing_start_halves_until_a_rate_passes() {
        let (knee, rates) = check(1_000.0, 10_000_000.0, 90.0);
        assert_eq!(&rates[..5], &[1_000.0, 500.0, 250.0, 125.0, 62.5]);
        assert!(knee.passing.unwrap() >= 90.0 / 1.05 && knee.passing.unwrap() <= 90.0, "{knee:?}");
        assert!(knee.failing.unwrap() <= knee.passing.unwrap() * 1.05);
    }

    #[test]
    fn nothing_passes_or_everything_passes() {
        let (never, rates) = check(100.0, 10_000_000.0, 0.0);
        assert_eq!(never, Knee { passing: None, failing: Some(100.0 / 1024.0), probes: 11 });
        assert_eq!(rates.len(), 1 + MAX_HALVINGS as usize);
        let (always, rates) = check(100.0, 1_000.0, f64::INFINITY);
        assert_eq!(always, Knee { passing: Some(1_000.0), failing: None, probes: 5 });
        assert_eq!(rates, [100.0, 200.0, 400.0, 800.0, 1_000.0], "doubling stops at the largest rate");
    }

    #[test]
    fn the_same_answers_give_the_same_rates_and_errors_end_the_search() {
        assert_eq!(check(70.0, 1e7, 333.0), check(70.0, 1e7, 333.0));
        let mut calls = 0;
        let result = search(10.0, 1e7, PRECISION, |r| {
            calls += 1;
            if r > 30.0 { Err("run failed") } else { Ok(true) }
        });
        assert_eq!(result, Err("run failed"));
        assert_eq!(calls, 3, "10, 20, 40: the error at 40 stops it");
    }
}
