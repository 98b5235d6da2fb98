//! A client's cache of one name's answer, with the ways real clients keep answers longer than
//! their TTL (the long tail of a DNS failover):
//!
//! - [`Caching::Honour`]: keeps an answer its TTL, then asks again.
//! - [`Caching::Extend`]: keeps an answer at least `min_ttl`, whatever its TTL says (a
//!   resolver that raises short TTLs to a floor; measurements find several percent of
//!   resolvers extend TTLs).
//! - [`Caching::Pinned`]: keeps its first answer until the process restarts (a JVM that caches
//!   lookups forever).
//!
//! Whatever the caching, an answer that has run out is still kept as stale: a client whose
//! lookup fails uses it rather than nothing (serve-stale, RFC 8767).
//!
//! It owns the cache and its clock arithmetic; it must not send queries (the caller does, when
//! [`Resolver::fresh`] has nothing) or read the clock (every call is given `now`).

use std::time::Duration;

/// How long a client keeps an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// For its TTL.
    Honour,
    /// For its TTL, but at least `min_ttl`.
    Extend {
        /// The floor.
        min_ttl: Duration,
    },
    /// Until restart: the first answer is kept for good.
    Pinned,
}

/// One client's cached answer for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    caching: Caching,
    /// The address, and when it runs out (`None`: never).
    cached: Option<(String, Option<Duration>)>,
}

impl Resolver {
    /// An empty cache keeping answers as `caching` says.
    pub fn new(caching: Caching) -> Self {
        Resolver { caching, cached: None }
    }

    /// How it keeps answers.
    pub fn caching(&self) -> Caching {
        self.caching
    }

    /// The cached address if it has not run out at `now`.
    pub fn fresh(&self, now: Duration) -> Option<&str> {
        match &self.cached {
            Some((addr, None)) => Some(addr),
            Some((addr, Some(until))) if now < *until => Some(addr),
            _ => None,
        }
    }

    /// The cached address, run out or not.
    pub fn stale(&self) -> Option<&str> {
        self.cached.as_ref().map(|(addr, _)| addr.as_str())
    }

    /// Keeps `addr`, answered at `now` with `ttl`, as the caching says. A pinned client keeps
    /// the first answer it stored and ignores later ones.
    pub fn store(&mut self, addr: &str, ttl: Duration, now: Duration) {
        let until = match self.caching {
            Caching::Honour => Some(now.saturating_add(ttl)),
            Caching::Extend { min_ttl } => Some(now.saturating_add(ttl.max(min_ttl))),
            Caching::Pinned if self.cached.is_some() => return,
            Caching::Pinned => None,
        };
        self.cached = Some((addr.to_string(), until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Duration = Duration::from_secs(1);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn an_honouring_client_keeps_an_answer_its_ttl_then_only_as_stale() {
        let mut r = Resolver::new(Caching::Honour);
        assert_eq!((r.fresh(S), r.stale()), (None, None));
        r.store("a:1", 30 * S, 10 * S);
        assert_eq!(r.fresh(39 * S), Some("a:1"));
        assert_eq!(r.fresh(40 * S), None, "runs out at 10 s + 30 s");
        assert_eq!(r.stale(), Some("a:1"));
        r.store("b:1", 30 * S, 40 * S);
        assert_eq!(r.fresh(41 * S), Some("b:1"));
    }

    #[test]
    fn an_extending_client_keeps_short_answers_up_to_its_floor_and_long_ones_their_ttl() {
        let mut r = Resolver::new(Caching::Extend { min_ttl: 300 * S });
        r.store("a:1", 30 * S, Duration::ZERO);
        assert_eq!(r.fresh(299 * S), Some("a:1"));
        assert_eq!(r.fresh(300 * S), None);
        r.store("a:1", 600 * S, 300 * S);
        assert_eq!(r.fresh(899 * S), Some("a:1"));
    }

    #[test]
    fn a_pinned_client_keeps_its_first_answer_for_good() {
        let mut r = Resolver::new(Caching::Pinned);
        r.store("a:1", 30 * S, Duration::ZERO);
        r.store("b:1", 30 * S, 40 * S);
        assert_eq!(r.fresh(Duration::from_secs(1 << 40)), Some("a:1"));
    }

    proptest! {
        /// At any time after the same answers, an extending client holds an answer fresh
        /// whenever an honouring one does, and a pinned one always holds one.
        #[test]
        fn extending_never_shortens_and_pinning_never_runs_out(
            answers in prop::collection::vec((0u64..1000, 1u64..600), 1..8),
            floor in 1u64..900,
            later in 0u64..2000,
        ) {
            let mut honour = Resolver::new(Caching::Honour);
            let mut extend = Resolver::new(Caching::Extend { min_ttl: secs(floor) });
            let mut pinned = Resolver::new(Caching::Pinned);
            let mut now = 0;
            for (gap, ttl) in answers {
                now += gap;
                for r in [&mut honour, &mut extend, &mut pinned] {
                    r.store("a:1", secs(ttl), secs(now));
                }
            }
            let at = secs(now + later);
            prop_assert!(honour.fresh(at).is_none() || extend.fresh(at).is_some());
            prop_assert!(pinned.fresh(at).is_some());
        }
    }
}
