//! The async circuit breaker on the seam: [`Breaker`] wraps calls (futures of a `Result`) in a
//! [`BreakerCore`], timing each with `Env::now`.
//!
//! A rejected call fails fast with [`BreakerError::Open`] and its future is never polled. Every
//! transition is reported as it happens with `Env::state(state::BREAKER, "<name>:<state>")`,
//! and each rejection sets the gauge `breaker_rejected` to the breaker's count of rejected calls
//! so far. The gauge is per host: several breakers on one host overwrite each other's value.
//!
//! A call whose future is dropped before it finishes hands its permit back (a half-open
//! breaker then admits another probe in its place) and counts as nothing.
//!
//! Single-threaded like every model: the state sits in a `RefCell` behind an `Rc`, never
//! borrowed across an `await`.
//!
//! Owns: the wrapper, its reports and [`BreakerError`]. Must not: decide anything the state
//! machine decides, or read a clock but the seam's.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use faultline_vocab::{gauge, state};

use super::core::{BreakerCore, Counters, Permit, Transition};
use super::{BreakerConfig, ConfigError, State};
use crate::seam::Env;

/// What a call through a breaker can end in.
#[derive(Debug, thiserror::Error)]
pub enum BreakerError<Er> {
    /// The breaker did not let the call through (open, or half-open with every probe out);
    /// the call was not made.
    #[error("circuit breaker `{name}` is open{}", retry_text(*.retry_in))]
    Open {
        /// The breaker's name.
        name: String,
        /// How long until a probe may go (`None`: when the probes out have finished).
        retry_in: Option<Duration>,
    },
    /// The call was made and failed with this error.
    #[error("{0}")]
    Inner(Er),
}

fn retry_text(retry_in: Option<Duration>) -> String {
    match retry_in {
        Some(d) => format!(": a probe may go in {d:?}"),
        None => ": waiting for the probes out".to_string(),
    }
}

impl<Er> BreakerError<Er> {
    /// Whether the breaker rejected the call (it was not made).
    pub fn is_open(&self) -> bool {
        matches!(self, BreakerError::Open { .. })
    }

    /// The call's own error, if it was made and failed.
    pub fn into_inner(self) -> Option<Er> {
        match self {
            BreakerError::Open { .. } => None,
            BreakerError::Inner(e) => Some(e),
        }
    }
}

struct Shared<E: Env> {
    env: E,
    name: String,
    core: RefCell<BreakerCore>,
}

/// A named circuit breaker on environment `E`; clones share the same breaker.
pub struct Breaker<E: Env> {
    shared: Rc<Shared<E>>,
}

impl<E: Env> Clone for Breaker<E> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<E: Env> std::fmt::Debug for Breaker<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker").field("name", &self.shared.name).field("state", &self.state()).finish()
    }
}

impl<E: Env> Breaker<E> {
    /// A closed breaker named `name` (in its state reports), or why `config` makes no sense.
    pub fn new(env: E, name: &str, config: BreakerConfig) -> Result<Self, ConfigError> {
        let core = RefCell::new(BreakerCore::new(config)?);
        Ok(Self { shared: Rc::new(Shared { env, name: name.to_string(), core }) })
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The current state (see [`BreakerCore::state`]).
    pub fn state(&self) -> State {
        self.shared.core.borrow().state()
    }

    /// What the breaker has done so far.
    pub fn counters(&self) -> Counters {
        self.shared.core.borrow().counters()
    }

    /// Runs `fut` through the breaker; an `Err` counts as a failure.
    pub async fn call<T, Er>(&self, fut: impl Future<Output = Result<T, Er>>) -> Result<T, BreakerError<Er>> {
        self.call_classified(fut, Result::is_err).await
    }

    /// Runs `fut` through the breaker; the outcome counts as a failure when `is_failure` says
    /// so (an `Ok` HTTP 5xx response, say). The result is handed back either way.
    pub async fn call_classified<T, Er>(
        &self,
        fut: impl Future<Output = Result<T, Er>>,
        is_failure: impl Fn(&Result<T, Er>) -> bool,
    ) -> Result<T, BreakerError<Er>> {
        let guard = self.admit()?;
        let out = fut.await;
        guard.finish(is_failure(&out));
        out.map_err(BreakerError::Inner)
    }

    /// Asks for a permit now: a guard that records the call when finished, or releases the
    /// permit when dropped; or the rejection, reported.
    pub(crate) fn admit<Er>(&self) -> Result<CallGuard<E>, BreakerError<Er>> {
        let now = self.shared.env.now();
        let acquired = {
            let mut core = self.shared.core.borrow_mut();
            let opened = core.advance(now);
            (opened, core.acquire(now), core.counters().rejected)
        };
        let (opened, acquired, rejected) = acquired;
        self.report(opened);
        match acquired {
            Ok(permit) => Ok(CallGuard { breaker: self.clone(), permit: Some(permit), start: now }),
            Err(rejection) => {
                self.shared.env.gauge(gauge::BREAKER_REJECTED, i64::try_from(rejected).unwrap_or(i64::MAX));
                Err(BreakerError::Open { name: self.shared.name.clone(), retry_in: rejection.retry_in })
            }
        }
    }

    fn report(&self, transition: Option<Transition>) {
        if let Some(t) = transition {
            self.shared.env.state(state::BREAKER, &format!("{}:{}", self.shared.name, t.to.as_str()));
        }
    }
}

/// A call let through: [`CallGuard::finish`] records it; dropping it unfinished releases it.
pub(crate) struct CallGuard<E: Env> {
    breaker: Breaker<E>,
    permit: Option<Permit>,
    start: Duration,
}

impl<E: Env> CallGuard<E> {
    /// Records the call as finished now; `failed`: it counts as a failure.
    pub(crate) fn finish(mut self, failed: bool) {
        let Some(permit) = self.permit.take() else { return };
        let shared = &self.breaker.shared;
        let now = shared.env.now();
        let took = now.saturating_sub(self.start);
        let transition = shared.core.borrow_mut().record(now, permit, !failed, took);
        self.breaker.report(transition);
    }
}

impl<E: Env> Drop for CallGuard<E> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.shared.core.borrow_mut().release(permit);
        }
    }
}
