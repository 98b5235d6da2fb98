//! Bugs planted on purpose in the models, for testing the chaos checks themselves: a run with
//! [`RunOptions::plant`](crate::RunOptions) set switches on one known bug, and a sweep or a
//! test shows that the checks find it.
//!
//! Owns: the list of planted bugs ([`Plant`]), their names (kebab-case, for a flag) and which
//! model each one reaches. Each bug is a plain, doc-hidden `plant_*` field of one model's own
//! configuration, off by default; the plan compiler sets it on the hosts of that kind when the
//! run asks for the bug. Must not: change anything in a run without a plant (every scenario's
//! trace hash stays what it is), or plant more than one bug at once.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A known bug a run can switch on in the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plant {
    /// A kv replica answers reads and probes as of the LSN it has *received* rather than the
    /// one it has *applied*: a router's read-your-writes token is met on paper while the value
    /// served is older (`KvConfig::plant_reads_as_received`).
    ReplicaReadsBeforeApply,
    /// A managed kv primary never checks that its write lease ran out: cut off from the
    /// failover controller, it goes on accepting writes after another primary was promoted
    /// (`KvConfig::plant_ignore_lease_expiry`).
    LeaseNotEnforced,
    /// An app deletes the key from its cache tier *before* the store commits the write instead
    /// of after: a read that misses in between puts the old value back for the TTL
    /// (`AppConfig::plant_invalidate_before_write`).
    InvalidateBeforeWrite,
    /// An open circuit breaker never half-opens: a dependency that came back is never called
    /// again (`BreakerConfig::plant_never_half_open`, every breaker of every app: replica reads,
    /// payment calls, page parts).
    BreakerNeverHalfOpens,
    /// A queue worker acknowledges (deletes) a message when it receives it, before processing
    /// it: a crash while processing loses it (`WorkerConfig::plant_ack_before_process`).
    AckBeforeProcess,
}

impl Plant {
    /// Every planted bug, in a fixed order.
    pub const ALL: [Plant; 5] = [
        Plant::ReplicaReadsBeforeApply,
        Plant::LeaseNotEnforced,
        Plant::InvalidateBeforeWrite,
        Plant::BreakerNeverHalfOpens,
        Plant::AckBeforeProcess,
    ];

    /// Its kebab-case name: `replica-reads-before-apply`, ...
    pub fn name(self) -> &'static str {
        match self {
            Plant::ReplicaReadsBeforeApply => "replica-reads-before-apply",
            Plant::LeaseNotEnforced => "lease-not-enforced",
            Plant::InvalidateBeforeWrite => "invalidate-before-write",
            Plant::BreakerNeverHalfOpens => "breaker-never-half-opens",
            Plant::AckBeforeProcess => "ack-before-process",
        }
    }

    /// The service kind whose model it changes (as in a scenario's `service`).
    pub fn kind(self) -> &'static str {
        match self {
            Plant::ReplicaReadsBeforeApply | Plant::LeaseNotEnforced => "kv",
            Plant::InvalidateBeforeWrite | Plant::BreakerNeverHalfOpens => "app",
            Plant::AckBeforeProcess => "worker",
        }
    }
}

impl fmt::Display for Plant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Plant::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no planted bug is named {given:?}; expected one of {}", expected())]
pub struct UnknownPlant {
    /// The name given.
    pub given: String,
}

fn expected() -> String {
    Plant::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

impl FromStr for Plant {
    type Err = UnknownPlant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plant::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownPlant { given: s.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_names_are_distinct() {
        for plant in Plant::ALL {
            assert_eq!(plant.name().parse::<Plant>(), Ok(plant));
            assert_eq!(plant.to_string(), plant.name());
            assert_eq!(serde_json::to_value(plant).unwrap(), serde_json::json!(plant.name()));
        }
        let mut names: Vec<&str> = Plant::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Plant::ALL.len());
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_names_it_could_be() {
        let err = "replica-reads".parse::<Plant>().unwrap_err();
        assert_eq!(err.given, "replica-reads");
        let text = err.to_string();
        assert!(text.contains("\"replica-reads\""), "{text}");
        for plant in Plant::ALL {
            assert!(text.contains(plant.name()), "{text} names {}", plant.name());
        }
    }
}
