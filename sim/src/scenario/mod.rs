//! Scenario files: TOML -> typed, validated [`Scenario`].
pub mod types;
pub mod units;
pub use types::*;
