//! The decision parts of an L7 load balancer, after Envoy: which backend a request goes to,
//! which backends are fit to receive it, and how many retries the set may absorb.
//!
//! - [`balance`]: a [`Balancer`] picks among an eligible set by round robin, random, least
//!   request (power of two choices), smooth weighted round robin or consistent hashing (ring or
//!   Maglev, over [`crate::shard`]).
//! - [`health`]: active health checking, with Envoy's healthy and unhealthy thresholds.
//! - [`outlier`]: passive outlier detection on consecutive failures, with growing, capped
//!   ejections and a cap on how many backends are out at once.
//! - [`retry`]: Envoy's retry budget, and a retry's choice of another backend.
//! - [`priority`]: Envoy's priority levels: the load each level takes, failing over from one to
//!   the next as its health drops.
//! - [`backends`]: [`Backends`] puts them together, with Envoy's panic mode, and counts active
//!   and routed requests.
//! - [`config`]: the settings, with Envoy's defaults, and [`LbError`].
//! - [`proxy`]: the host that uses them, an HTTP proxy with health checks and retries.
//!
//! Architecture invariant: every part but [`proxy`] is pure and synchronous. It does no I/O, never reads a
//! clock (time comes in as `now: Duration`, from the seam's clock in the proxy that uses it) and
//! draws randomness only from the `rng` it is handed (a seeded `ChaCha8Rng` in the simulation),
//! so the same calls give the same picks on every run. Only [`proxy`], the host that sends
//! requests, probes and timeouts, does I/O, and only through the seam.

pub mod backends;
pub mod balance;
pub mod config;
pub mod health;
pub mod outlier;
pub mod priority;
pub mod proxy;
pub mod retry;
#[cfg(test)]
mod tests;

pub use backends::{Backends, Eligible, Pick};
pub use balance::Balancer;
pub use config::{
    Algorithm, BackendSpec, HashScheme, HealthConfig, InitialHealth, LbConfig, LbError, OutlierConfig,
    RetryBudgetConfig,
};
pub use health::{HealthChange, HealthChecker, Probe};
pub use outlier::{Ejected, OutlierDetector, OutlierStats, Returned};
pub use retry::{RetryBudget, RetryStats};
