//! The workload: virtual users multiplexed on a few load-generator hosts.
//!
//! Real load tools run thousands of users per machine; so does Faultline. Turmoil's cost per
//! step grows with its host count, so one simulated host per user would make large runs
//! crawl. Each load generator is one turmoil host running many users as tasks; each user has
//! its own connection to its target, and every request is recorded as an invoke/complete pair.
//!
//! Open-loop arrivals (constant, Poisson, step, spike) are split evenly over the load
//! generators (a superposition of Poisson processes is Poisson) and each arrival goes to a
//! user drawn at random; requests never wait for earlier ones, so a slow system cannot slow
//! the offered load (no coordinated omission). Closed loop: each user sends its next request
//! when the last one ends, after a think time.
//!
//! The first load generator also runs the batch job (`batch`): long transactions that a fault
//! injects beside the users' traffic. Each generator keeps its requests' timeouts with one timer
//! (`deadlines`), and, when the workload has a `retry` table, one retry budget (`retry`).

pub mod arrivals;
mod batch;
mod deadlines;
mod loadgen;
mod retry;

pub(crate) use loadgen::run_loadgen;
pub use loadgen::{LoadgenPlan, Mode, UserPlan};
pub use retry::{BackoffPlan, JitterPlan, RetryPlan};
