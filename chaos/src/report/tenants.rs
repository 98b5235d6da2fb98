//! The tenants section of the report: each tenant's requests, availability and latency, and its
//! worst window, so that "one shard failed over and the other tenants did not notice" is a
//! figure.
//!
//! Owns: the fold of `Invoke` and `Complete` events into [`TenantReport`]s, by the header's
//! tenants (key `k` belongs to `tenants[k % len]`). Must not: decide a verdict, or know how a
//! database places tenants.
//!
//! Definitions, as end to end: availability is ok / (requests - limited); a request still
//! outstanding at the end counts as failed; latency is of answered requests. A window is the
//! report's, a request belongs to the one it was issued in; the worst window is the one with
//! the lowest availability among those with at least [`MIN_WINDOW_REQUESTS`] requests (ties:
//! the earliest). A trace whose header has no tenants has no tenants section.
//!
//! Memory: two counters per tenant and window (a completed request's tenant and window come
//! from its key and invocation time, as the run's history matched them); the report keeps every
//! window with a request (a tenant's series, for plots and tests).

use super::metrics::Latency;
use super::{LatencySummary, TenantReport, TenantWindow};
use crate::trace::Outcome;
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;

/// Windows with fewer requests than this are too small to be a tenant's worst.
pub const MIN_WINDOW_REQUESTS: u64 = 10;

struct Acc {
    requests: u64,
    ok: u64,
    limited: u64,
    latency: Latency<u64>,
    /// Per window index: requests issued, of which succeeded (limited ones left out).
    windows: BTreeMap<u64, (u64, u64)>,
}

/// The tenants' requests seen so far.
pub(super) struct TenantsAcc {
    names: Vec<String>,
    window_ns: u64,
    tenants: Vec<Acc>,
}

impl TenantsAcc {
    pub(super) fn new(names: &[String], window_ns: u64) -> Self {
        let tenants = names
            .iter()
            .map(|_| Acc { requests: 0, ok: 0, limited: 0, latency: Latency::new(), windows: BTreeMap::new() })
            .collect();
        Self { names: names.to_vec(), window_ns: window_ns.max(1), tenants }
    }

    /// The accumulator of `key`'s tenant, and the window of `t_ns`; `None` without tenants.
    fn at(&mut self, key: u64, t_ns: u64) -> Option<(&mut Acc, u64)> {
        let tenant = key.checked_rem(self.names.len() as u64)? as usize;
        Some((&mut self.tenants[tenant], t_ns / self.window_ns))
    }

    /// A request on key `key` was issued at `t_ns`.
    pub(super) fn invoke(&mut self, t_ns: u64, key: u64) {
        let Some((acc, window)) = self.at(key, t_ns) else { return };
        acc.requests += 1;
        acc.windows.entry(window).or_default().0 += 1;
    }

    /// A request on key `key` issued at `invoked_ns` ended with `outcome` after `latency_ns`.
    pub(super) fn complete(&mut self, invoked_ns: u64, key: u64, latency_ns: u64, outcome: &Outcome) {
        let Some((acc, window)) = self.at(key, invoked_ns) else { return };
        match outcome {
            Outcome::Error(_) if outcome.is_limited() => {
                acc.limited += 1;
                if let Some(counts) = acc.windows.get_mut(&window) {
                    counts.0 -= 1;
                }
            }
            Outcome::Ok | Outcome::Error(_) if outcome.is_success() => {
                acc.ok += 1;
                acc.windows.entry(window).or_default().1 += 1;
            }
            Outcome::Ok | Outcome::Error(_) | Outcome::Unreachable | Outcome::Timeout => {}
        }
        if matches!(outcome, Outcome::Ok | Outcome::Error(_)) {
            acc.latency.record(latency_ns);
        }
    }

    /// The section (empty without tenants); requests still outstanding count as failed.
    pub(super) fn finish(self) -> Vec<TenantReport> {
        let width_s = self.window_ns as f64 / NS_PER_S;
        self.names
            .into_iter()
            .zip(self.tenants)
            .map(|(name, acc)| {
                let windows: Vec<TenantWindow> = acc
                    .windows
                    .iter()
                    .filter(|(_, (requests, _))| *requests > 0)
                    .map(|(index, &(requests, ok))| TenantWindow {
                        start_s: *index as f64 * width_s,
                        requests,
                        availability: ok as f64 / requests as f64,
                    })
                    .collect();
                let worst = windows
                    .iter()
                    .filter(|w| w.requests >= MIN_WINDOW_REQUESTS)
                    .fold(None, |worst: Option<&TenantWindow>, w| match worst {
                        Some(low) if low.availability <= w.availability => Some(low),
                        _ => Some(w),
                    })
                    .cloned();
                let latency: LatencySummary = acc.latency.summary();
                TenantReport {
                    name,
                    requests: acc.requests,
                    ok: acc.ok,
                    availability: (acc.requests > acc.limited)
                        .then(|| acc.ok as f64 / (acc.requests - acc.limited) as f64),
                    latency,
                    worst_window: worst,
                    windows,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn requests_are_grouped_by_key_and_the_worst_window_is_found() {
        let mut acc = TenantsAcc::new(&["acme".into(), "globex".into()], S);
        // Second 0: every request of both tenants succeeds. Second 1: globex's fail (even keys are
        // acme's, odd keys globex's). One globex request is still outstanding at the end.
        for second in 0..2u64 {
            for key in 0..20u64 {
                let at = second * S + key;
                acc.invoke(at, key);
                let failed = second == 1 && key % 2 == 1;
                acc.complete(at, key, 1_000_000, if failed { &Outcome::Timeout } else { &Outcome::Ok });
            }
        }
        acc.invoke(2 * S, 3);
        let report = acc.finish();
        let (acme, globex) = (&report[0], &report[1]);
        assert_eq!((acme.name.as_str(), acme.requests, acme.ok), ("acme", 20, 20));
        assert_eq!(acme.availability, Some(1.0));
        assert_eq!(acme.worst_window.as_ref().map(|w| w.availability), Some(1.0));
        assert_eq!((globex.requests, globex.ok), (21, 10));
        assert_eq!(globex.availability, Some(10.0 / 21.0));
        let worst = globex.worst_window.as_ref().expect("a window with enough requests");
        assert_eq!((worst.start_s, worst.requests, worst.availability), (1.0, 10, 0.0));
        assert_eq!(globex.latency.count, 10, "timeouts have no latency");
        let starts: Vec<(f64, u64)> = globex.windows.iter().map(|w| (w.start_s, w.requests)).collect();
        assert_eq!(starts, [(0.0, 10), (1.0, 10), (2.0, 1)], "every window with a request");
    }

    #[test]
    fn without_tenants_nothing_is_kept() {
        let mut acc = TenantsAcc::new(&[], S);
        acc.invoke(0, 7);
        acc.complete(0, 7, 5, &Outcome::Ok);
        assert!(acc.tenants.is_empty());
        assert!(acc.finish().is_empty());
    }
}
