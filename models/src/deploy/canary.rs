//! Argo Rollouts' canary without a traffic router: a step's weight is approximated by instance
//! counts (a weight of w% of `desired` instances puts `ceil(desired * w / 100)` on the new
//! version, at least one, and leaves the rest on the stable one). New instances start first;
//! old ones are stopped only once the step's new instances are ready, so the pool never serves
//! with fewer than `desired` ready instances by the controller's own action.
//!
//! Owns: [`Canary`]: the steps' targets and the moves toward one. Must not: know time, pauses
//! or the analysis (the controller runs those between steps).

use super::{Counts, Moves};

/// A canary's steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    /// Instances wanted in all.
    pub desired: u32,
    /// Each step's weight, percent of the instances on the new version, rising, the last 100.
    pub weights: Vec<u32>,
}

/// A step's target counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// New-version instances.
    pub new: u32,
    /// Old-version instances.
    pub old: u32,
}

/// Steps a canary could not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanaryError {
    /// No instance wanted.
    #[error("a canary of 0 instances")]
    Empty,
    /// No steps.
    #[error("a canary needs at least one step")]
    NoSteps,
    /// A weight out of 1..=100, or not above the one before.
    #[error("step {index}'s weight {weight}: expected 1 to 100, above the step before")]
    Weight {
        /// The step, from 0.
        index: usize,
        /// Its weight.
        weight: u32,
    },
}

impl Canary {
    /// The canary of `weights` over `desired` instances; a last step of 100 is added when the
    /// list does not end with one (the promotion).
    pub fn new(desired: u32, mut weights: Vec<u32>) -> Result<Self, CanaryError> {
        if desired == 0 {
            return Err(CanaryError::Empty);
        }
        if weights.is_empty() {
            return Err(CanaryError::NoSteps);
        }
        let mut before = 0;
        for (index, &weight) in weights.iter().enumerate() {
            if weight == 0 || weight > 100 || weight <= before {
                return Err(CanaryError::Weight { index, weight });
            }
            before = weight;
        }
        if before < 100 {
            weights.push(100);
        }
        Ok(Self { desired, weights })
    }

    /// The counts step `index` aims at.
    pub fn target(&self, index: usize) -> Target {
        let weight = self.weights[index.min(self.weights.len() - 1)];
        let new = (u64::from(self.desired) * u64::from(weight)).div_ceil(100) as u32;
        let new = new.clamp(1, self.desired);
        Target { new, old: self.desired - new }
    }

    /// The moves toward `target` from `now`, at most `free` starts: new instances up to the
    /// target; old ones down to theirs once the step's new instances are all ready (not-ready
    /// old ones at once).
    pub fn next(&self, target: Target, now: Counts, free: u32) -> Moves {
        let start_new = target.new.saturating_sub(now.new).min(free);
        let stop_old_unready = now.old - now.old_ready.min(now.old);
        let excess = now.old_ready.saturating_sub(target.old);
        let stop_old_ready = if now.new_ready >= target.new { excess } else { 0 };
        Moves { start_new, stop_old_ready, stop_old_unready }
    }

    /// Whether `now` is at `target`, the new instances ready.
    pub fn reached(target: Target, now: Counts) -> bool {
        now.new == target.new && now.new_ready == target.new && now.old <= target.old
    }
}
