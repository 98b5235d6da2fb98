//! Passive outlier detection on consecutive failures, as Envoy's `consecutive_5xx`: a backend
//! whose last `consecutive_5xx` requests all failed (5xx or no answer) is ejected for
//! `base_ejection_time` times the number of ejections in a row, capped at `max_ejection_time`,
//! as long as fewer than `max_ejection_percent` of the backends are ejected already.
//!
//! Decisions, and where they differ from Envoy:
//! - The cap is Envoy's rule: a backend may be ejected while the share *already* ejected is
//!   below the percentage, so the first ejection always goes through (for a percentage above
//!   0) and at most `ceil(n * percent / 100)` backends are out at once. A backend refused by
//!   the cap stays a candidate: its next failure tries again (Envoy waits for a new run of
//!   failures).
//! - A backend returns to service exactly when its time is over (Envoy notices at its next
//!   `interval` sweep, up to `interval` later). Everything is computed from `now`, so
//!   [`OutlierDetector::is_ejected`] needs no sweep; [`OutlierDetector::tick`] only reports
//!   returns.
//! - The multiplier drops by one for each full `interval` a backend has spent back in service
//!   (Envoy decrements it at each sweep that finds the backend healthy), and stops growing once
//!   the cap is reached.
//! - Results of requests that finish while their backend is ejected are ignored.
//!
//! This file owns the counts and ejections; it must not choose backends or keep a clock.

use std::time::Duration;

use super::config::OutlierConfig;

/// A backend was ejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ejected {
    /// The backend.
    pub backend: usize,
    /// When it was ejected.
    pub at: Duration,
    /// When it returns to service.
    pub until: Duration,
    /// The ejection multiplier: this is its `times`-th ejection in a row.
    pub times: u32,
}

impl Ejected {
    /// How long the ejection lasts.
    pub fn duration(&self) -> Duration {
        self.until - self.at
    }
}

/// A backend came back into service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Returned {
    /// The backend.
    pub backend: usize,
    /// When its ejection ended.
    pub at: Duration,
}

/// Counts of what outlier detection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutlierStats {
    /// Ejections made.
    pub ejections: u64,
    /// Ejections refused because `max_ejection_percent` backends were out already (Envoy's
    /// `ejections_overflow`).
    pub overflow: u64,
}

#[derive(Debug, Clone, Default)]
struct Host {
    consecutive: u32,
    /// The multiplier of the last ejection.
    times: u32,
    /// The last ejection (kept after it ends, for the multiplier's decay).
    last: Option<(Duration, Duration)>,
    /// Whether [`OutlierDetector::tick`] has reported the last ejection's end.
    reported: bool,
}

/// Outlier detection over a fixed list of backends.
#[derive(Debug, Clone)]
pub struct OutlierDetector {
    config: OutlierConfig,
    hosts: Vec<Host>,
    stats: OutlierStats,
}

impl OutlierDetector {
    /// Detection over `backends` backends. The config must have passed
    /// [`OutlierConfig::validate`].
    pub fn new(config: OutlierConfig, backends: usize) -> Self {
        OutlierDetector { config, hosts: vec![Host::default(); backends], stats: OutlierStats::default() }
    }

    /// The settings.
    pub fn config(&self) -> &OutlierConfig {
        &self.config
    }

    /// What detection has done so far.
    pub fn stats(&self) -> OutlierStats {
        self.stats
    }

    /// Whether `backend` is ejected at `now`.
    pub fn is_ejected(&self, backend: usize, now: Duration) -> bool {
        self.hosts[backend].last.is_some_and(|(_, until)| now < until)
    }

    /// How many backends are ejected at `now`.
    pub fn ejected_count(&self, now: Duration) -> usize {
        (0..self.hosts.len()).filter(|&b| self.is_ejected(b, now)).count()
    }

    /// The failures in a row `backend` has had since its last success or ejection.
    pub fn consecutive_failures(&self, backend: usize) -> u32 {
        self.hosts[backend].consecutive
    }

    /// Records a finished request: `ok` is false for a 5xx or a connection failure. Returns the
    /// ejection it caused, if any.
    pub fn record(&mut self, backend: usize, now: Duration, ok: bool) -> Option<Ejected> {
        if self.is_ejected(backend, now) {
            return None;
        }
        let host = &mut self.hosts[backend];
        if ok {
            host.consecutive = 0;
            return None;
        }
        host.consecutive = host.consecutive.saturating_add(1);
        if host.consecutive < self.config.consecutive_5xx {
            return None;
        }
        if !self.below_cap(now) {
            self.stats.overflow += 1;
            return None;
        }
        Some(self.eject(backend, now))
    }

    /// Whether one more backend may be ejected: Envoy's test, the share already ejected strictly
    /// below the percentage.
    fn below_cap(&self, now: Duration) -> bool {
        let ejected = self.ejected_count(now) as u64;
        ejected * 100 < u64::from(self.config.max_ejection_percent) * self.hosts.len() as u64
    }

    fn eject(&mut self, backend: usize, now: Duration) -> Ejected {
        let times = (self.multiplier(backend, now) + 1).min(self.max_multiplier());
        let duration = self.config.base_ejection_time.saturating_mul(times).min(self.config.max_ejection_time);
        let until = now + duration;
        let host = &mut self.hosts[backend];
        host.consecutive = 0;
        host.times = times;
        host.last = Some((now, until));
        host.reported = false;
        self.stats.ejections += 1;
        Ejected { backend, at: now, until, times }
    }

    /// The multiplier `backend` carries at `now`: its last ejection's, less one for each full
    /// `interval` it has since spent in service.
    fn multiplier(&self, backend: usize, now: Duration) -> u32 {
        let host = &self.hosts[backend];
        match host.last {
            None => 0,
            Some((_, until)) if now < until => host.times,
            Some((_, until)) => {
                let clean = (now - until).as_nanos() / self.config.interval.as_nanos();
                host.times.saturating_sub(u32::try_from(clean).unwrap_or(u32::MAX))
            }
        }
    }

    /// The multiplier at which an ejection reaches `max_ejection_time`.
    fn max_multiplier(&self) -> u32 {
        let ratio = self.config.max_ejection_time.as_nanos().div_ceil(self.config.base_ejection_time.as_nanos());
        u32::try_from(ratio).unwrap_or(u32::MAX).max(1)
    }

    /// Ends `backend`'s ejection at `now` (a passing active health check does this in Envoy) and
    /// clears its failure count. Returns whether it was ejected; if not, nothing changes.
    pub fn uneject(&mut self, backend: usize, now: Duration) -> bool {
        if !self.is_ejected(backend, now) {
            return false;
        }
        let host = &mut self.hosts[backend];
        host.consecutive = 0;
        host.last = host.last.map(|(at, _)| (at, now));
        true
    }

    /// Reports, once each, the backends whose ejection has ended by `now`, in index order.
    pub fn tick(&mut self, now: Duration) -> Vec<Returned> {
        let mut returned = Vec::new();
        for (backend, host) in self.hosts.iter_mut().enumerate() {
            let Some((_, until)) = host.last else { continue };
            if until <= now && !host.reported {
                host.reported = true;
                returned.push(Returned { backend, at: until });
            }
        }
        returned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn detector(backends: usize) -> OutlierDetector {
        OutlierDetector::new(OutlierConfig::default(), backends)
    }

    /// Fails `backend` `count` times at `now`; returns the last result.
    fn fail(detector: &mut OutlierDetector, backend: usize, now: Duration, count: u32) -> Option<Ejected> {
        (0..count).map(|_| detector.record(backend, now, false)).last().flatten()
    }

    #[test]
    fn ejects_at_the_fifth_consecutive_failure_not_before() {
        let mut detector = detector(10);
        for i in 1..5 {
            assert_eq!(detector.record(0, S(1), false), None, "failure {i} must not eject");
            assert!(!detector.is_ejected(0, S(1)));
        }
        let ejected = detector.record(0, S(1), false).expect("the fifth failure ejects");
        assert_eq!(ejected, Ejected { backend: 0, at: S(1), until: S(31), times: 1 });
        assert_eq!(ejected.duration(), S(30));
        assert!(detector.is_ejected(0, S(1)));
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut detector = detector(10);
        assert_eq!(fail(&mut detector, 0, S(1), 4), None);
        assert_eq!(detector.record(0, S(1), true), None);
        assert_eq!(detector.consecutive_failures(0), 0);
        assert_eq!(fail(&mut detector, 0, S(1), 4), None);
        assert!(fail(&mut detector, 0, S(1), 1).is_some());
    }

    #[test]
    fn returns_to_service_when_the_time_is_over() {
        let mut detector = detector(10);
        fail(&mut detector, 3, S(10), 5).unwrap();
        assert!(detector.is_ejected(3, S(39)));
        assert_eq!(detector.tick(S(39)), vec![]);
        assert!(!detector.is_ejected(3, S(40)));
        assert_eq!(detector.tick(S(45)), vec![Returned { backend: 3, at: S(40) }]);
        assert_eq!(detector.tick(S(50)), vec![], "a return is reported once");
        // Failures recorded while ejected do not count toward the next ejection.
        let mut detector2 = detector.clone();
        fail(&mut detector2, 3, S(60), 5).unwrap();
        assert_eq!(fail(&mut detector2, 3, S(61), 10), None);
        assert_eq!(detector2.consecutive_failures(3), 0);
    }

    #[test]
    fn ejection_time_grows_with_repeats_and_is_capped() {
        let mut detector = detector(10);
        let mut now = S(0);
        let mut lengths = Vec::new();
        for _ in 0..12 {
            let ejected = fail(&mut detector, 0, now, 5).expect("ejects");
            lengths.push(ejected.duration().as_secs());
            now = ejected.until; // fails again straight after returning
        }
        assert_eq!(lengths, vec![30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]);
        // Clean for 10 intervals (100 s) after the cap: the multiplier falls from 10 to 0.
        let ejected = fail(&mut detector, 0, now + S(100), 5).unwrap();
        assert_eq!((ejected.times, ejected.duration()), (1, S(30)));
        // Clean for 2 intervals only after a 2nd ejection: back to a first ejection's length.
        let mut detector = self::detector(10);
        let first = fail(&mut detector, 0, S(0), 5).unwrap();
        let second = fail(&mut detector, 0, first.until + S(9), 5).unwrap();
        assert_eq!(second.times, 2, "9 s is less than one interval");
        let third = fail(&mut detector, 0, second.until + S(25), 5).unwrap();
        assert_eq!(third.times, 1, "two intervals clean take the multiplier from 2 to 0");
    }

    #[test]
    fn the_cap_holds_when_the_base_does_not_divide_it() {
        let config = OutlierConfig { base_ejection_time: S(40), max_ejection_time: S(100), ..OutlierConfig::default() };
        let mut detector = OutlierDetector::new(config, 10);
        let mut now = S(0);
        let mut lengths = Vec::new();
        for _ in 0..5 {
            let ejected = fail(&mut detector, 0, now, 5).expect("ejects");
            lengths.push((ejected.times, ejected.duration().as_secs()));
            now = ejected.until;
        }
        assert_eq!(lengths, vec![(1, 40), (2, 80), (3, 100), (3, 100), (3, 100)]);
    }

    #[test]
    fn the_cap_allows_one_ejection_at_least_and_ceil_of_the_share_at_most() {
        // 10% of 3 backends is 0.3: Envoy still ejects one, then no more.
        let mut detector = detector(3);
        assert!(fail(&mut detector, 0, S(1), 5).is_some());
        assert_eq!(fail(&mut detector, 1, S(1), 5), None);
        assert_eq!(detector.stats(), OutlierStats { ejections: 1, overflow: 1 });
        // A refused backend stays a candidate: once the first returns, its next failure ejects.
        assert!(detector.record(1, S(31), false).is_some());
        // A 0% cap ejects nothing.
        let config = OutlierConfig { max_ejection_percent: 0, ..OutlierConfig::default() };
        let mut none = OutlierDetector::new(config, 3);
        assert_eq!(fail(&mut none, 0, S(1), 5), None);
    }

    #[test]
    fn a_health_check_can_end_an_ejection() {
        let mut detector = detector(10);
        fail(&mut detector, 0, S(0), 5).unwrap();
        assert!(detector.uneject(0, S(5)));
        assert!(!detector.is_ejected(0, S(5)));
        assert!(!detector.uneject(0, S(6)));
        assert_eq!(detector.tick(S(6)), vec![Returned { backend: 0, at: S(5) }]);
    }

    proptest! {
        #[test]
        fn never_more_than_the_cap_are_ejected(
            backends in 1usize..40, percent in 0u32..=100,
            events in proptest::collection::vec((0usize..40, any::<bool>(), 0u64..3), 1..400),
        ) {
            let config = OutlierConfig { max_ejection_percent: percent, consecutive_5xx: 2, ..OutlierConfig::default() };
            let mut detector = OutlierDetector::new(config, backends);
            let cap = (backends as u64 * u64::from(percent)).div_ceil(100) as usize;
            let mut now = S(0);
            for (backend, ok, step) in events {
                now += S(step);
                detector.record(backend % backends, now, ok);
                prop_assert!(detector.ejected_count(now) <= cap, "{} ejected, cap {}", detector.ejected_count(now), cap);
            }
        }
    }
}
