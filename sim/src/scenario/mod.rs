//! Scenario files: TOML -> typed, validated [`Scenario`].
//!
//! `types` is the format; `units` holds durations and sizes (their types and parsing); `clock` parses clock offsets and drifts; `load` reads and parses a file and runs
//! `validate` (with `topology`) over it; `error` is what goes wrong, located; `schema` exports
//! the format as JSON Schema; `query` looks hosts up; `autoscale` is the autoscaled pool's table; `deploy` is the deploy's; `swarm` is what a swarm run may draw; `cost` prices hosts for `faultline compare`; `emit` writes faults back as scenario text; `retry` is the workload's retry table; `spans` locates values in the text; `regions` is the regions' tables and their faults' settings.
pub mod autoscale;
pub mod clock;
pub mod cost;
pub mod deploy;
pub mod emit;
mod error;
mod load;
mod query;
pub mod regions;
pub mod resolve;
mod retry;
mod schema;
pub(crate) mod spans;
pub mod swarm;
mod tenants;
mod topology;
pub mod types;
pub mod units;
pub(crate) mod validate;

pub use crate::services::Service;
pub use crate::services::app::{AppService, ReadsSpec, RouterSpec};
pub use crate::services::cache::CacheService;
pub use crate::services::failover::FailoverService;
pub use crate::services::kv::{Fsync, KvRole, KvService, ReplicationSpec};
pub use crate::services::pool::{PoolModeSpec, PoolService};
pub use error::{Problem, ScenarioError};
pub use load::{MAX_FILE_BYTES, load_file, parse_bytes, parse_str};
pub use retry::{BackoffSpec, JitterSpec, MAX_RETRY_ATTEMPTS, RetrySpec};
pub use schema::{SCHEMA_ID, json_schema};
pub use topology::MAX_HOSTS;
pub use types::*;
pub use validate::{Finding, MAX_RATE, MAX_TICK, MAX_USERS, validate};
