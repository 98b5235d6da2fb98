//! Active health checking state, one entry a backend, with Envoy's thresholds: a healthy
//! backend becomes unhealthy after `unhealthy_threshold` consecutive failed checks (or at once
//! when it answers with a bad status), an unhealthy one becomes healthy after
//! `healthy_threshold` consecutive passes.
//!
//! It owns the schedule (which backends are due a check at `now`) and the verdicts; it must not
//! send probes or keep time itself: the caller sends a probe for each backend [`HealthChecker::due`]
//! returns, races it against `timeout`, and records the outcome. Checks are not jittered, so
//! the schedule is the same on every run; a caller that wants them staggered can stagger the
//! first call.

use std::time::Duration;

use super::config::{HealthConfig, InitialHealth};

/// The outcome of one health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The backend answered as healthy.
    Passed,
    /// The check timed out or could not connect: counts toward `unhealthy_threshold`.
    Failed,
    /// The backend answered, with a status saying it is not healthy (an HTTP check's non-2xx):
    /// Envoy takes it out at once, whatever the threshold.
    Rejected,
}

/// A backend's health changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthChange {
    /// The backend.
    pub backend: usize,
    /// Whether it is healthy now.
    pub healthy: bool,
}

/// One backend's checking state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    healthy: bool,
    /// No check has been recorded yet (only [`InitialHealth::Pending`] treats this specially).
    first: bool,
    passes: u32,
    failures: u32,
    next_check: Duration,
}

/// Health checking state for a fixed list of backends.
#[derive(Debug, Clone)]
pub struct HealthChecker {
    config: HealthConfig,
    entries: Vec<Entry>,
}

impl HealthChecker {
    /// State for `backends` backends, all due a first check at time zero. The config must have
    /// passed [`HealthConfig::validate`].
    pub fn new(config: HealthConfig, backends: usize) -> Self {
        let healthy = match config.initial {
            InitialHealth::Healthy => true,
            InitialHealth::Unhealthy | InitialHealth::Pending => false,
        };
        let entry = Entry { healthy, first: true, passes: 0, failures: 0, next_check: Duration::ZERO };
        HealthChecker { config, entries: vec![entry; backends] }
    }

    /// The settings.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Whether `backend` is healthy.
    pub fn is_healthy(&self, backend: usize) -> bool {
        self.entries[backend].healthy
    }

    /// How many backends are healthy.
    pub fn healthy_count(&self) -> usize {
        self.entries.iter().filter(|e| e.healthy).count()
    }

    /// The backends due a check at `now`, in index order; each is scheduled again `interval`
    /// after `now`. The caller sends them a probe each.
    pub fn due(&mut self, now: Duration) -> Vec<usize> {
        let interval = self.config.interval;
        let mut due = Vec::new();
        for (backend, entry) in self.entries.iter_mut().enumerate() {
            if entry.next_check <= now {
                entry.next_check = now + interval;
                due.push(backend);
            }
        }
        due
    }

    /// When the next check falls due (the earliest over all backends).
    pub fn next_due(&self) -> Duration {
        self.entries.iter().map(|e| e.next_check).min().unwrap_or(Duration::MAX)
    }

    /// Records a check's outcome as passed (`ok`) or failed (timeout, refused connection).
    pub fn record(&mut self, backend: usize, ok: bool) -> Option<HealthChange> {
        self.record_probe(backend, if ok { Probe::Passed } else { Probe::Failed })
    }

    /// Records a check's outcome; returns the change if the backend's health flipped.
    pub fn record_probe(&mut self, backend: usize, probe: Probe) -> Option<HealthChange> {
        let (healthy_threshold, unhealthy_threshold) = (self.config.healthy_threshold, self.config.unhealthy_threshold);
        let pending = self.config.initial == InitialHealth::Pending;
        let entry = &mut self.entries[backend];
        let first = std::mem::replace(&mut entry.first, false);
        let was = entry.healthy;
        match probe {
            Probe::Passed => {
                entry.failures = 0;
                entry.passes = entry.passes.saturating_add(1);
                if !entry.healthy && (entry.passes >= healthy_threshold || (first && pending)) {
                    entry.healthy = true;
                }
            }
            Probe::Failed => {
                entry.passes = 0;
                entry.failures = entry.failures.saturating_add(1);
                if entry.healthy && entry.failures >= unhealthy_threshold {
                    entry.healthy = false;
                }
            }
            Probe::Rejected => {
                entry.passes = 0;
                entry.failures = entry.failures.saturating_add(1);
                entry.healthy = false;
            }
        }
        (entry.healthy != was).then_some(HealthChange { backend, healthy: entry.healthy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(initial: InitialHealth) -> HealthChecker {
        let config = HealthConfig { healthy_threshold: 2, unhealthy_threshold: 3, initial, ..HealthConfig::default() };
        HealthChecker::new(config, 2)
    }

    /// Records `probes` on backend 0 and checks after which (1-based) probe each change came.
    fn check(initial: InitialHealth, probes: &[Probe], expected: &[(usize, bool)]) {
        let mut checker = checker(initial);
        let changes: Vec<(usize, bool)> = probes
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| checker.record_probe(0, p).map(|c| (i + 1, c.healthy)))
            .collect();
        assert_eq!(changes, expected, "{initial:?} {probes:?}");
        assert!(checker.is_healthy(1) == (initial == InitialHealth::Healthy), "other backends are untouched");
    }

    use Probe::{Failed as F, Passed as P, Rejected as R};

    #[test]
    fn a_healthy_backend_falls_at_exactly_the_unhealthy_threshold() {
        check(InitialHealth::Healthy, &[F, F], &[]);
        check(InitialHealth::Healthy, &[F, F, F], &[(3, false)]);
        // A pass in between starts the count over.
        check(InitialHealth::Healthy, &[F, F, P, F, F], &[]);
        check(InitialHealth::Healthy, &[F, F, P, F, F, F], &[(6, false)]);
    }

    #[test]
    fn an_unhealthy_backend_returns_at_exactly_the_healthy_threshold() {
        check(InitialHealth::Unhealthy, &[P], &[]);
        check(InitialHealth::Unhealthy, &[P, P], &[(2, true)]);
        check(InitialHealth::Unhealthy, &[P, F, P], &[]);
        check(InitialHealth::Unhealthy, &[P, F, P, P], &[(4, true)]);
        check(InitialHealth::Healthy, &[F, F, F, P, P, F, F, F], &[(3, false), (5, true), (8, false)]);
    }

    #[test]
    fn a_rejected_check_takes_a_backend_out_at_once() {
        check(InitialHealth::Healthy, &[R], &[(1, false)]);
        check(InitialHealth::Healthy, &[F, R, P, P], &[(2, false), (4, true)]);
    }

    #[test]
    fn a_pending_backend_needs_one_pass_only_on_its_first_check() {
        let mut checker = checker(InitialHealth::Pending);
        assert!(!checker.is_healthy(0));
        assert_eq!(checker.record(0, true), Some(HealthChange { backend: 0, healthy: true }));
        // A first check that fails leaves the normal threshold to climb.
        check(InitialHealth::Pending, &[F, P], &[]);
        check(InitialHealth::Pending, &[F, P, P], &[(3, true)]);
        assert_eq!(checker.healthy_count(), 1);
    }

    #[test]
    fn checks_fall_due_every_interval() {
        let mut checker = checker(InitialHealth::Healthy);
        assert_eq!(checker.due(Duration::ZERO), vec![0, 1]);
        assert_eq!(checker.due(Duration::from_secs(1)), Vec::<usize>::new());
        assert_eq!(checker.next_due(), Duration::from_secs(5));
        assert_eq!(checker.due(Duration::from_millis(4_999)), Vec::<usize>::new());
        assert_eq!(checker.due(Duration::from_secs(5)), vec![0, 1]);
        assert_eq!(checker.next_due(), Duration::from_secs(10));
    }
}
