//! Deploys as pure decisions: the rollout state machines a deploy controller follows and the
//! verdicts of its automated analysis, with no clock, network or world.
//!
//! - [`rolling`]: Kubernetes' rolling update: how many new instances to start and old ones to
//!   stop next, given the counts and their readiness, within `max_surge` and `max_unavailable`.
//! - [`canary`]: Argo Rollouts' canary without a traffic router: each step's weight as
//!   instance counts, and the moves that reach them.
//! - [`analysis`]: an analysis over measurement windows (error rate, p99 latency) that aborts
//!   after a number of failed measurements.
//!
//! Owns: the arithmetic of a rollout. Must not: start or stop anything, read a clock, or know
//! how an instance's readiness or errors are measured (the controller in `faultline-sim` does).

pub mod analysis;
pub mod canary;
pub mod rolling;

#[cfg(test)]
mod tests;

/// What one decision asks of the controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moves {
    /// New-version instances to start.
    pub start_new: u32,
    /// Old-version instances that are ready to take out of service (drained, then stopped).
    pub stop_old_ready: u32,
    /// Old-version instances that are not ready (starting, or failing their probe) to stop.
    pub stop_old_unready: u32,
}

/// What the controller sees of a pool now. Draining and stopped instances count nowhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Old-version instances running (starting or ready).
    pub old: u32,
    /// Of which ready (their readiness probe passed last).
    pub old_ready: u32,
    /// New-version instances running (starting or ready).
    pub new: u32,
    /// Of which ready.
    pub new_ready: u32,
}

impl Counts {
    /// Instances running, either version.
    pub fn total(self) -> u32 {
        self.old + self.new
    }

    /// Instances ready, either version.
    pub fn ready(self) -> u32 {
        self.old_ready + self.new_ready
    }

    /// The counts once `moves` are made (the new instances not ready yet).
    pub fn after(self, moves: Moves) -> Counts {
        let stopped = moves.stop_old_ready + moves.stop_old_unready;
        Counts {
            old: self.old.saturating_sub(stopped),
            old_ready: self.old_ready.saturating_sub(moves.stop_old_ready),
            new: self.new + moves.start_new,
            new_ready: self.new_ready,
        }
    }
}

/// A number of instances, or a percent of the desired count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// So many instances.
    Count(u32),
    /// This percent of the desired count.
    Percent(u32),
}

impl Amount {
    /// The amount for `desired` instances, a percent rounded up (Kubernetes' `maxSurge`).
    pub fn up(self, desired: u32) -> u32 {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => (u64::from(desired) * u64::from(p)).div_ceil(100) as u32,
        }
    }

    /// The amount for `desired` instances, a percent rounded down (`maxUnavailable`).
    pub fn down(self, desired: u32) -> u32 {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => (u64::from(desired) * u64::from(p) / 100) as u32,
        }
    }
}
