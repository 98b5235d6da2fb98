//! Rate limiting with the GCRA (one theoretical arrival time a key, as redis-cell and the
//! `governor` crate): a key may make `burst + 1` requests at once, then one every
//! `period / count`.
//!
//! - `gcra`: the arithmetic, pure; the L2 engine's `CL.THROTTLE` calls it.
//!
//! This module must not know the simulation or a wire format.

pub mod gcra;

pub use gcra::{GcraError, Quota, Verdict, decide};
