//! Invariant checks over a run's history of reads, writes and roles: what the data tier must
//! keep true, and how long it took to recover.
//!
//! [`CheckConfig`] is what a run is judged against (declared in the scenario, carried in the
//! trace header so a trace alone can be judged again).
//!
//! Flow: [`History`] collects, in one pass over the records, what the checks need; [`evaluate`]
//! turns it into a [`DataReport`] of measurements; [`judge`] makes verdicts of those the
//! config asks for. Everything is a pure function of the records.
//!
//! - `history`: the compact history ([`History`], [`OpEntry`], [`EpochEntry`]) and its memory
//!   bound.
//! - `lineage`: which `(epoch, lsn)` entries each epoch's log holds ([`Lineage`]).
//! - `durability`: lost acknowledged writes and the RPO; one primary per epoch.
//! - `groups`: a sharded database's groups, each with its own history, and their merge.
//! - `reads`: read-your-writes and staleness.
//! - `linear`: reads and writes as a register history for [`crate::lin`].
//! - `rto`: recovery after each fault.
//! - `data`, `verdict`: the measurements together, and the verdicts.
//!
//! Must not: do I/O, read a clock, or iterate a hash map (every collection is ordered).

mod data;
mod durability;
pub mod groups;
pub mod history;
mod lineage;
mod linear;
mod reads;
mod rto;
#[cfg(test)]
pub(crate) mod testkit;
mod verdict;

pub use data::{DataReport, EpochReport, evaluate};
pub use durability::{DeposedWrite, Durability, LISTED, LostWrite, OnePrimary, SharedEpoch, durability, one_primary};
pub use history::{EpochEntry, FailoverEntry, FailoverKind, History, Matched, OpEntry};
pub use lineage::Lineage;
pub use linear::{LinVerdict, Linearizability, linearizability, operations};
pub use reads::{ReadYourWrites, Staleness, read_your_writes, staleness};
pub use rto::{Recovery, recovery};
pub use verdict::{judge, ms_text, rto_label, rto_text, s_text};

use serde::{Deserialize, Serialize};

/// The data-tier checks a run is judged against. The measurements (lost writes, RPO, RTO,
/// staleness, epochs) are always reported when the trace has the events they need; these
/// settings say which of them are verdicts and with what bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckConfig {
    /// Acknowledged writes may be lost as long as the RPO (age of the oldest lost write at the
    /// moment it was lost) stays within this, nanoseconds. `None`: no acknowledged write may
    /// be lost.
    pub max_rpo_ns: Option<u64>,
    /// A user's read after its own acknowledged write must see that write or a newer one.
    pub read_your_writes: bool,
    /// A read may return a value at most this old (time since a newer acknowledged write),
    /// nanoseconds. `None`: staleness is measured, not judged.
    pub max_staleness_ns: Option<u64>,
    /// Reads and writes per key must be linearizable.
    pub linearizable: bool,
    /// After each fault, the success rate must be back above `recovery_ratio` within this,
    /// nanoseconds. `None`: RTO is measured, not judged.
    pub max_rto_ns: Option<u64>,
    /// Width of the sliding window over which the success rate is measured for RTO, ns.
    pub rto_window_ns: u64,
    /// The success rate that counts as recovered, in (0, 1].
    pub recovery_ratio: f64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            max_rpo_ns: None,
            read_your_writes: false,
            max_staleness_ns: None,
            linearizable: false,
            max_rto_ns: None,
            rto_window_ns: 1_000_000_000,
            recovery_ratio: 0.99,
        }
    }
}
