//! Hybrid logical clocks (Kulkarni et al., 2014): timestamps that follow the physical clock
//! closely yet never run backwards and always order a message's receipt after its sending.
//!
//! A [`Stamp`] is `(wall, logical)`: `wall` is the largest physical time seen (this node's or a
//! peer's), `logical` counts events within one `wall`. A local or send event takes the larger
//! of the last `wall` and the physical time, and bumps `logical` when `wall` did not move; a
//! receive event takes the largest of the three and sets `logical` by which one won. A remote
//! stamp more than `max_offset` ahead of the physical clock is refused (CockroachDB stops a
//! node that far off): accepting it would drag this clock, and every write stamped by it,
//! into the future.
//!
//! This module owns the clock arithmetic only; it must not read a clock (the caller passes
//! the physical time) or know what is stamped.

use std::fmt;

/// A hybrid logical timestamp. Ordered by `wall`, then `logical`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// Physical time component, nanoseconds on the clock of whichever node set it.
    pub wall_ns: u64,
    /// Logical counter within `wall_ns`.
    pub logical: u32,
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}+{}", self.wall_ns / 1_000_000_000, self.wall_ns % 1_000_000_000, self.logical)
    }
}

/// A remote stamp refused because it is too far ahead of this node's physical clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooFarAhead {
    /// How far ahead of the physical clock it was, nanoseconds.
    pub ahead_ns: u64,
}

/// One node's hybrid logical clock.
#[derive(Debug, Clone)]
pub struct Hlc {
    last: Stamp,
    max_offset_ns: u64,
}

impl Hlc {
    /// A clock that refuses remote stamps more than `max_offset_ns` ahead of the physical time.
    pub fn new(max_offset_ns: u64) -> Self {
        Self { last: Stamp::default(), max_offset_ns }
    }

    /// The last stamp issued or observed.
    pub fn last(&self) -> Stamp {
        self.last
    }

    /// Moves the clock to at least `stamp` without issuing one (a restart replaying what it
    /// stamped or received before it stopped).
    pub fn restore(&mut self, stamp: Stamp) {
        self.last = self.last.max(stamp);
    }

    /// A local or send event at physical time `pt_ns`: a stamp above every one before.
    pub fn now(&mut self, pt_ns: u64) -> Stamp {
        let next = if pt_ns > self.last.wall_ns {
            Stamp { wall_ns: pt_ns, logical: 0 }
        } else {
            Stamp { wall_ns: self.last.wall_ns, logical: self.last.logical.saturating_add(1) }
        };
        self.last = next;
        next
    }

    /// A receive event of `remote` at physical time `pt_ns`: a stamp above both `remote` and
    /// every stamp before, or a refusal when `remote` is more than the maximum offset ahead.
    pub fn observe(&mut self, remote: Stamp, pt_ns: u64) -> Result<Stamp, TooFarAhead> {
        let ahead_ns = remote.wall_ns.saturating_sub(pt_ns);
        if ahead_ns > self.max_offset_ns {
            return Err(TooFarAhead { ahead_ns });
        }
        let wall_ns = self.last.wall_ns.max(remote.wall_ns).max(pt_ns);
        let logical = match (wall_ns == self.last.wall_ns, wall_ns == remote.wall_ns) {
            (true, true) => self.last.logical.max(remote.logical).saturating_add(1),
            (true, false) => self.last.logical.saturating_add(1),
            (false, true) => remote.logical.saturating_add(1),
            (false, false) => 0,
        };
        self.last = Stamp { wall_ns, logical };
        Ok(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_clock_follows_physical_time_and_counts_within_a_tick() {
        let mut c = Hlc::new(500);
        assert_eq!(c.now(10), Stamp { wall_ns: 10, logical: 0 });
        assert_eq!(c.now(10), Stamp { wall_ns: 10, logical: 1 });
        assert_eq!(c.now(9), Stamp { wall_ns: 10, logical: 2 }, "a physical clock stepping back does not");
        assert_eq!(c.now(12), Stamp { wall_ns: 12, logical: 0 });
    }

    #[test]
    fn a_receive_orders_after_the_remote_stamp() {
        let mut c = Hlc::new(1_000);
        c.now(100);
        let got = c.observe(Stamp { wall_ns: 600, logical: 4 }, 200).unwrap();
        assert_eq!(got, Stamp { wall_ns: 600, logical: 5 });
        let next = c.observe(Stamp { wall_ns: 600, logical: 9 }, 300).unwrap();
        assert_eq!(next, Stamp { wall_ns: 600, logical: 10 });
        assert_eq!(c.observe(Stamp { wall_ns: 5, logical: 0 }, 700).unwrap(), Stamp { wall_ns: 700, logical: 0 });
    }

    #[test]
    fn a_remote_clock_too_far_ahead_is_refused_and_leaves_the_clock_alone() {
        let mut c = Hlc::new(500);
        let before = c.now(1_000);
        assert_eq!(c.observe(Stamp { wall_ns: 1_501, logical: 0 }, 1_000), Err(TooFarAhead { ahead_ns: 501 }));
        assert_eq!(c.last(), before);
        assert!(c.observe(Stamp { wall_ns: 1_500, logical: 0 }, 1_000).is_ok(), "exactly the offset is allowed");
    }

    proptest! {
        /// Whatever the interleaving of local events and receipts, stamps strictly increase,
        /// every receipt orders after what it received, and the clock stays within the
        /// maximum offset of the largest physical time seen.
        #[test]
        fn stamps_increase_and_stay_near_physical_time(
            events in prop::collection::vec((any::<bool>(), 0u64..10_000, 0u64..12_000, 0u32..5), 1..200)
        ) {
            let max_offset = 1_000;
            let mut c = Hlc::new(max_offset);
            let mut prev = Stamp::default();
            let mut pt = 0u64;
            for (receive, dpt, remote_wall, remote_logical) in events {
                pt += dpt % 50;
                let stamp = if receive {
                    let remote = Stamp { wall_ns: remote_wall, logical: remote_logical };
                    match c.observe(remote, pt) {
                        Ok(s) => { prop_assert!(s > remote); s }
                        Err(e) => { prop_assert!(remote_wall > pt + max_offset); prop_assert_eq!(e.ahead_ns, remote_wall - pt); continue; }
                    }
                } else {
                    c.now(pt)
                };
                prop_assert!(stamp > prev);
                prop_assert!(stamp.wall_ns <= pt + max_offset);
                prop_assert!(stamp.wall_ns >= pt);
                prev = stamp;
            }
        }
    }
}
