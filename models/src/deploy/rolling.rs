//! Kubernetes' rolling update as a function of the counts: start new instances while the total
//! stays within `desired + max_surge`, stop old ones while the ready stay at least
//! `desired - max_unavailable`. Readiness gates it: a new instance adds to the ready only once
//! its probe passed, so a version that never gets ready stalls the rollout (the controller's
//! progress deadline then halts it).
//!
//! Owns: [`Rolling`] and its decision. Must not: know phases, hosts or time.

use super::{Amount, Counts, Moves};

/// A rolling update's bounds, resolved for the desired count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rolling {
    /// Instances wanted on the new version at the end.
    pub desired: u32,
    /// Instances beyond `desired` allowed during the update.
    pub max_surge: u32,
    /// Ready instances below `desired` allowed during the update.
    pub max_unavailable: u32,
}

/// A rolling update that could never move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RollingError {
    /// Nothing may be added and nothing taken down.
    #[error("max_surge and max_unavailable are both 0 for {desired} instances: the rollout could never move")]
    BothZero {
        /// The desired count.
        desired: u32,
    },
    /// No instance wanted.
    #[error("a rolling update of 0 instances")]
    Empty,
}

impl Rolling {
    /// The bounds for `desired` instances (a surge percent rounded up, an unavailable percent
    /// rounded down, as Kubernetes does); both 0 is refused.
    pub fn new(desired: u32, surge: Amount, unavailable: Amount) -> Result<Self, RollingError> {
        if desired == 0 {
            return Err(RollingError::Empty);
        }
        let (max_surge, max_unavailable) = (surge.up(desired), unavailable.down(desired).min(desired));
        if max_surge == 0 && max_unavailable == 0 {
            return Err(RollingError::BothZero { desired });
        }
        Ok(Self { desired, max_surge, max_unavailable })
    }

    /// The fewest ready instances the controller's own moves may leave.
    pub fn min_available(&self) -> u32 {
        self.desired - self.max_unavailable
    }

    /// The most instances running at once.
    pub fn max_total(&self) -> u32 {
        self.desired + self.max_surge
    }

    /// The next moves from `now`, with at most `free` instances startable (stopped hosts).
    ///
    /// Old instances that are not ready go first (they serve nothing); ready old ones go while
    /// the ready stay at least [`Rolling::min_available`]; then new ones start up to `desired`
    /// within [`Rolling::max_total`].
    pub fn next(&self, now: Counts, free: u32) -> Moves {
        let stop_old_unready = now.old - now.old_ready.min(now.old);
        let surplus = now.ready().saturating_sub(self.min_available());
        let stop_old_ready = now.old_ready.min(surplus);
        let left = now.total() - stop_old_unready - stop_old_ready;
        let room = self.max_total().saturating_sub(left);
        let start_new = self.desired.saturating_sub(now.new).min(room).min(free);
        Moves { start_new, stop_old_ready, stop_old_unready }
    }

    /// Whether the update is done: every instance new and ready, no old one left.
    pub fn complete(&self, now: Counts) -> bool {
        now.old == 0 && now.new_ready >= self.desired
    }
}
