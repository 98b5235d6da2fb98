//! The world's integration tests, one module a subject, built as one binary (`--test it`):
//! a test is `<module>::<name>`, e.g. `cargo nextest run -p faultline-sim --test it lb::`.

mod util;

mod autoscale;
mod backoff;
mod breakers;
mod cache;
mod cache_faults;
mod cdn;
mod deploy;
mod dns;
mod engines;
mod fidelity;
mod geo;
mod http;
mod hunt;
mod lb;
mod library;
mod monolith;
mod overload;
mod planted;
mod queue;
mod rate_limit;
mod regions;
mod retry_storm;
mod samples;
mod scenario_errors;
mod sessions;
mod sharding;
mod world;
