//! A backend set as an L7 proxy sees it: health checks, outlier detection, the balancer, the
//! retry budget and the counts, put together the way Envoy does.
//!
//! - A backend is eligible when it is in the endpoint set, healthy (or health checking is off)
//!   and not ejected. The endpoint set is every backend unless [`Backends::set_out`] took some
//!   out (an autoscaled instance not ready yet, or draining: Kubernetes' endpoints).
//! - With priority levels ([`BackendSpec::priority`]), each pick first draws a level by the
//!   levels' loads ([`super::priority`]), then picks within it; with one level (the default)
//!   there is no draw.
//! - When fewer than `panic_threshold_percent` of a level's endpoints are eligible, picks balance
//!   over all of them (Envoy's panic mode: better to send traffic to backends that may be fine
//!   than to pile it all onto the few left), and each pick says so.
//! - `begin` and `end` bracket each request sent to a backend: they keep the active counts least
//!   request reads, count requests routed, and feed outlier detection.
//! - A passing health check ends an outlier ejection (Envoy's default,
//!   `successful_active_health_check_uneject_host`), unless the config turns that off.
//!
//! This file owns that composition and the per-backend counts; it must not do I/O, keep a clock
//! (every call that depends on time takes `now`) or draw randomness of its own.

use std::time::Duration;

use rand::Rng;

use super::balance::Balancer;
use super::config::{BackendSpec, LbConfig, LbError};
use super::health::{HealthChange, HealthChecker, Probe};
use super::outlier::{Ejected, OutlierDetector, OutlierStats, Returned};
use super::priority::{self, Level};
use super::retry::{RetryBudget, RetryStats, retry_set};

/// A chosen backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The backend's index.
    pub backend: usize,
    /// Whether it was chosen in panic mode (over all backends, eligible or not).
    pub panic: bool,
}

/// The set a pick balances over at some instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligible {
    /// Backend indices, ascending.
    pub backends: Vec<usize>,
    /// Whether this is panic mode's set of all backends.
    pub panic: bool,
}

/// A load-balanced set of backends.
#[derive(Debug, Clone)]
pub struct Backends {
    specs: Vec<BackendSpec>,
    balancer: Balancer,
    health: Option<HealthChecker>,
    outlier: Option<OutlierDetector>,
    panic_threshold_percent: u32,
    health_check_uneject: bool,
    retry: RetryBudget,
    active: Vec<u32>,
    routed: Vec<u64>,
    panic_picks: u64,
    /// Backends out of the endpoint set: bit i = backend i.
    out: u64,
    /// The distinct priority levels, ascending (one, 0, unless the backends set others).
    priorities: Vec<u32>,
}

impl Backends {
    /// Checks the config and backends and builds the set, every backend idle.
    pub fn new(config: LbConfig, backends: Vec<BackendSpec>) -> Result<Self, LbError> {
        config.validate()?;
        let balancer = Balancer::new(config.algorithm, &backends)?;
        let n = backends.len();
        Ok(Backends {
            balancer,
            health: config.health.map(|h| HealthChecker::new(h, n)),
            outlier: config.outlier.map(|o| OutlierDetector::new(o, n)),
            panic_threshold_percent: config.panic_threshold_percent,
            health_check_uneject: config.health_check_uneject,
            retry: RetryBudget::new(config.retry),
            active: vec![0; n],
            routed: vec![0; n],
            panic_picks: 0,
            out: 0,
            priorities: {
                let mut levels: Vec<u32> = backends.iter().map(|b| b.priority).collect();
                levels.sort_unstable();
                levels.dedup();
                levels
            },
            specs: backends,
        })
    }

    /// How many backends there are.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The backends, in index order.
    pub fn specs(&self) -> &[BackendSpec] {
        &self.specs
    }

    /// Takes the backends whose bit is set in `out` out of the endpoint set, and puts every
    /// other back (bits past the last backend are ignored).
    pub fn set_out(&mut self, out: u64) {
        self.out = out;
    }

    /// Whether `backend` is in the endpoint set.
    pub fn is_endpoint(&self, backend: usize) -> bool {
        backend >= 64 || self.out >> backend & 1 == 0
    }

    /// Whether `backend` is an endpoint, healthy (or unchecked) and not ejected at `now`.
    pub fn is_eligible(&self, backend: usize, now: Duration) -> bool {
        let healthy = self.health.as_ref().is_none_or(|h| h.is_healthy(backend));
        let ejected = self.outlier.as_ref().is_some_and(|o| o.is_ejected(backend, now));
        self.is_endpoint(backend) && healthy && !ejected
    }

    /// The priority levels at `now`: each one's endpoints and eligible backends.
    fn levels(&self, now: Duration) -> Vec<Level> {
        let mut levels: Vec<Level> =
            self.priorities.iter().map(|&priority| Level { priority, ..Level::default() }).collect();
        for b in (0..self.len()).filter(|&b| self.is_endpoint(b)) {
            let at = self.priorities.binary_search(&self.specs[b].priority).expect("a known level");
            levels[at].endpoints.push(b);
            if self.is_eligible(b, now) {
                levels[at].eligible.push(b);
            }
        }
        levels
    }

    /// The set a pick over `level` balances over: its eligible backends, or every endpoint of
    /// it in panic mode; without `failed` (a retry's) when any other is left.
    fn level_set(&self, level: Level, failed: Option<usize>) -> Eligible {
        let panic = (level.eligible.len() as u64) * 100
            < u64::from(self.panic_threshold_percent) * level.endpoints.len() as u64;
        let set = if panic { level.endpoints } else { level.eligible };
        let backends = match failed {
            Some(failed) => retry_set(&set, failed),
            None => set,
        };
        Eligible { backends, panic }
    }

    /// The set picks balance over at `now`: the eligible backends, or every endpoint in panic
    /// mode. With priority levels, those of the most preferred level that takes traffic.
    pub fn eligible(&self, now: Duration) -> Eligible {
        let mut levels = self.levels(now);
        let loads = priority::loads(&levels);
        let first = loads.iter().position(|&l| l > 0).unwrap_or(0);
        self.level_set(levels.swap_remove(first), None)
    }

    /// The percent of the traffic each priority level takes at `now`: (level, load), ascending.
    pub fn priority_loads(&self, now: Duration) -> Vec<(u32, u64)> {
        let levels = self.levels(now);
        let loads = priority::loads(&levels);
        levels.iter().map(|l| l.priority).zip(loads).collect()
    }

    /// Picks a backend for a request at `now`; `key` is its hash key (for consistent hashing).
    /// `None` when nothing is eligible and panic mode is off.
    pub fn pick(&mut self, now: Duration, key: Option<&[u8]>, rng: &mut impl Rng) -> Option<Pick> {
        let set = self.drawn_set(now, None, rng);
        self.pick_from(&set.backends, set.panic, key, rng)
    }

    /// Picks a backend for a retry of a request that failed on `failed`: another one when any
    /// other is in the set.
    pub fn pick_retry(&mut self, now: Duration, failed: usize, key: Option<&[u8]>, rng: &mut impl Rng) -> Option<Pick> {
        let set = self.drawn_set(now, Some(failed), rng);
        self.pick_from(&set.backends, set.panic, key, rng)
    }

    /// The set of the priority level drawn for one pick (no draw with one level).
    fn drawn_set(&self, now: Duration, failed: Option<usize>, rng: &mut impl Rng) -> Eligible {
        let mut levels = self.levels(now);
        let at = if levels.len() == 1 { 0 } else { priority::draw(&priority::loads(&levels), rng) };
        self.level_set(levels.swap_remove(at), failed)
    }

    fn pick_from(&mut self, set: &[usize], panic: bool, key: Option<&[u8]>, rng: &mut impl Rng) -> Option<Pick> {
        let backend = self.balancer.pick(set, &self.active, key, rng)?;
        if panic {
            self.panic_picks += 1;
        }
        Some(Pick { backend, panic })
    }

    /// A request has been sent to `backend`.
    pub fn begin(&mut self, backend: usize) {
        self.active[backend] += 1;
        self.routed[backend] += 1;
    }

    /// A request sent to `backend` has finished at `now`; `ok` is false for a 5xx or a
    /// connection failure. Returns the ejection it caused, if any.
    pub fn end(&mut self, backend: usize, now: Duration, ok: bool) -> Option<Ejected> {
        assert!(self.active[backend] > 0, "end without begin on backend {backend}");
        self.active[backend] -= 1;
        self.outlier.as_mut()?.record(backend, now, ok)
    }

    /// The backends due a health check at `now` (none without health checking).
    pub fn health_checks_due(&mut self, now: Duration) -> Vec<usize> {
        self.health.as_mut().map(|h| h.due(now)).unwrap_or_default()
    }

    /// When the next health check falls due (`Duration::MAX` without health checking).
    pub fn next_health_check(&self) -> Duration {
        self.health.as_ref().map_or(Duration::MAX, HealthChecker::next_due)
    }

    /// Records a health check's outcome at `now`. A check that leaves the backend healthy also
    /// ends its outlier ejection, unless `health_check_uneject` is off.
    pub fn record_health(&mut self, backend: usize, now: Duration, probe: Probe) -> Option<HealthChange> {
        let health = self.health.as_mut()?;
        let change = health.record_probe(backend, probe);
        let passed = match probe {
            Probe::Passed => health.is_healthy(backend),
            Probe::Failed | Probe::Rejected => false,
        };
        if passed
            && self.health_check_uneject
            && let Some(outlier) = self.outlier.as_mut()
        {
            outlier.uneject(backend, now);
        }
        change
    }

    /// Reports, once each, the ejections that have ended by `now`.
    pub fn tick(&mut self, now: Duration) -> Vec<Returned> {
        self.outlier.as_mut().map(|o| o.tick(now)).unwrap_or_default()
    }

    /// Asks to start a retry; if true, call [`Backends::retry_done`] when it finishes (the retry
    /// itself is bracketed by `begin` and `end` like any request).
    pub fn try_retry(&mut self) -> bool {
        let active = self.total_active();
        self.retry.try_retry(active)
    }

    /// A retry granted by [`Backends::try_retry`] has finished.
    pub fn retry_done(&mut self) {
        self.retry.retry_done();
    }

    /// Active requests, by backend.
    pub fn active(&self) -> &[u32] {
        &self.active
    }

    /// Active requests over all backends.
    pub fn total_active(&self) -> u64 {
        self.active.iter().map(|&a| u64::from(a)).sum()
    }

    /// Requests sent, by backend.
    pub fn routed(&self) -> &[u64] {
        &self.routed
    }

    /// How unevenly requests were spread: the most any backend got over the mean over all
    /// backends (1.0 is perfectly even). `None` before the first request.
    pub fn spread(&self) -> Option<f64> {
        let total: u64 = self.routed.iter().sum();
        let max = *self.routed.iter().max()?;
        (total > 0).then(|| max as f64 * self.len() as f64 / total as f64)
    }

    /// Picks made in panic mode.
    pub fn panic_picks(&self) -> u64 {
        self.panic_picks
    }

    /// What outlier detection has done (zeros without it).
    pub fn outlier_stats(&self) -> OutlierStats {
        self.outlier.as_ref().map(OutlierDetector::stats).unwrap_or_default()
    }

    /// What the retry budget has done.
    pub fn retry_stats(&self) -> RetryStats {
        self.retry.stats()
    }

    /// Retries in flight.
    pub fn retries_in_flight(&self) -> u32 {
        self.retry.in_flight()
    }
}
