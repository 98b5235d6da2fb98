//! The epoch history of a log: where each epoch's entries begin, and how a primary decides,
//! from a subscriber's `(from_lsn, last_epoch)`, whether their logs agree up to there or how
//! far the subscriber must cut its log back.
//!
//! Pure data: no disk, no network, no clock. The rule it relies on is the log-matching
//! property: every epoch has exactly one primary, that primary never rewrites its own log while
//! it writes in the epoch, and a replica only appends a primary's entries after the primary
//! checked that their logs agree up to there. So two logs that hold an entry of the same epoch
//! at the same LSN are identical up to and including that LSN.

/// Where each epoch of one log begins, and where the log ends.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct EpochHistory {
    /// `(epoch, first lsn)`: epochs strictly increasing, first LSNs strictly increasing.
    starts: Vec<(u64, u64)>,
    /// The last LSN of the log (0 when empty).
    last_lsn: u64,
}

/// What a primary answers a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconcile {
    /// The logs agree up to `from_lsn - 1`: stream from `from_lsn`.
    Stream,
    /// The logs cannot be shown to agree past this LSN: the subscriber drops everything after it
    /// and subscribes again. Always below the subscriber's `from_lsn - 1`, so repeated rounds
    /// end.
    Truncate(u64),
}

impl EpochHistory {
    /// The history of `entries` given as `(lsn, epoch)` in log order.
    #[cfg(test)]
    pub(crate) fn of(entries: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut history = Self::default();
        for (lsn, epoch) in entries {
            history.push(lsn, epoch);
        }
        history
    }

    /// Records the next entry. Its LSN must follow the last one and its epoch must not be
    /// lower (callers check both first).
    pub(crate) fn push(&mut self, lsn: u64, epoch: u64) {
        assert_eq!(lsn, self.last_lsn + 1, "the epoch history stays dense");
        assert!(epoch >= self.last_epoch(), "epochs never go back within a log");
        if self.starts.last().is_none_or(|&(last, _)| last != epoch) {
            self.starts.push((epoch, lsn));
        }
        self.last_lsn = lsn;
    }

    /// The last LSN (0 when empty).
    #[cfg(test)]
    pub(crate) fn last_lsn(&self) -> u64 {
        self.last_lsn
    }

    /// The epoch of the last entry (0 when empty).
    pub(crate) fn last_epoch(&self) -> u64 {
        self.starts.last().map_or(0, |&(epoch, _)| epoch)
    }

    /// The epoch of the entry at `lsn`, or `None` for 0 or past the end.
    pub(crate) fn epoch_at(&self, lsn: u64) -> Option<u64> {
        if lsn == 0 || lsn > self.last_lsn {
            return None;
        }
        let i = self.starts.partition_point(|&(_, first)| first <= lsn);
        Some(self.starts[i - 1].0)
    }

    /// The LSNs `(first, last)` this log holds of `epoch`, if any.
    fn span(&self, epoch: u64) -> Option<(u64, u64)> {
        let i = self.starts.iter().position(|&(e, _)| e == epoch)?;
        let end = self.starts.get(i + 1).map_or(self.last_lsn, |&(_, next)| next - 1);
        Some((self.starts[i].1, end))
    }

    /// The last LSN whose entry is of an epoch below `epoch` (0 if none).
    fn end_before(&self, epoch: u64) -> u64 {
        match self.starts.iter().find(|&&(e, _)| e >= epoch) {
            Some(&(_, first)) => first - 1,
            None => self.last_lsn,
        }
    }

    /// Decides, as the primary owning this history, how to serve a subscriber whose next
    /// wanted LSN is `from_lsn` (at least 1) and whose entry at `from_lsn - 1` is of
    /// `last_epoch`.
    ///
    /// - Same epoch at `from_lsn - 1` here (or nothing before it): the logs agree, stream.
    /// - This log holds entries of `last_epoch`: both logs agree up to the last of them (same
    ///   epoch, same LSN, same entry), and disagree after it.
    /// - It holds none: the subscriber's entries of `last_epoch` were never seen here; they are
    ///   cut, together with anything past the last entry here of an older epoch. The
    ///   subscriber's entries before that are checked again on its next subscription.
    pub(crate) fn reconcile(&self, from_lsn: u64, last_epoch: u64) -> Reconcile {
        let prev = from_lsn.saturating_sub(1);
        if prev == 0 || self.epoch_at(prev) == Some(last_epoch) {
            return Reconcile::Stream;
        }
        let agreed = match self.span(last_epoch) {
            Some((first, last)) if first <= prev => last,
            _ => self.end_before(last_epoch),
        };
        Reconcile::Truncate(agreed.min(prev - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A history from the epochs of entries 1, 2, 3, ...
    fn of(epochs: &[u64]) -> EpochHistory {
        EpochHistory::of(epochs.iter().enumerate().map(|(i, &e)| (i as u64 + 1, e)))
    }

    fn check(primary: &[u64], from_lsn: u64, last_epoch: u64, expected: Reconcile) {
        assert_eq!(of(primary).reconcile(from_lsn, last_epoch), expected, "primary {primary:?}");
    }

    #[test]
    fn epochs_are_found_by_lsn() {
        let h = of(&[1, 1, 3, 3, 4]);
        assert_eq!(h.epoch_at(0), None);
        assert_eq!(h.epoch_at(2), Some(1));
        assert_eq!(h.epoch_at(3), Some(3));
        assert_eq!(h.epoch_at(5), Some(4));
        assert_eq!(h.epoch_at(6), None);
        assert_eq!((h.last_lsn(), h.last_epoch()), (5, 4));
        assert_eq!(EpochHistory::default().last_epoch(), 0);
    }

    #[test]
    fn matching_subscribers_stream() {
        check(&[], 1, 0, Reconcile::Stream);
        check(&[1, 1, 2], 1, 0, Reconcile::Stream);
        check(&[1, 1, 2], 3, 1, Reconcile::Stream);
        check(&[1, 1, 2], 4, 2, Reconcile::Stream);
    }

    #[test]
    fn divergent_subscribers_are_cut_to_the_agreed_prefix() {
        // The old primary of epoch 1 wrote 3..5 that never reached the new primary (epoch 2 from 3).
        check(&[1, 1, 2], 6, 1, Reconcile::Truncate(2));
        // A subscriber ahead of a primary that lost unsynced writes and restarted in epoch 2.
        check(&[1, 1, 1, 2], 9, 1, Reconcile::Truncate(3));
        // Same epoch, subscriber ahead: the primary's whole log agrees.
        check(&[1, 1], 5, 1, Reconcile::Truncate(2));
        // Entries of an epoch the primary never saw: cut back past it, check again next time.
        check(&[1, 1, 2, 4], 6, 3, Reconcile::Truncate(3));
        check(&[1, 1, 2, 4], 4, 3, Reconcile::Truncate(2));
        check(&[], 3, 1, Reconcile::Truncate(0));
        check(&[1, 2], 3, 0, Reconcile::Truncate(0));
    }

    /// A reference log: each entry is `(epoch, value)`; two logs agree at an LSN when their
    /// prefixes up to it are equal.
    fn agreed(a: &[(u64, u32)], b: &[(u64, u32)]) -> usize {
        a.iter().zip(b).take_while(|(x, y)| x == y).count()
    }

    proptest! {
        /// Two logs with a common prefix whose tails were written by different primaries
        /// (even epochs on one side, odd ones on the other, so no epoch has two writers): a
        /// truncation never cuts into the agreed prefix and always shortens the subscriber, and
        /// the rounds end in a stream verdict only once the subscriber's log is a prefix of the
        /// primary's.
        #[test]
        fn reconcile_matches_a_brute_force_comparison(
            primary_tail in proptest::collection::vec(0u64..3, 0..8),
            shared in 0usize..8,
            subscriber_tail in proptest::collection::vec(0u64..3, 0..6),
        ) {
            let mut primary: Vec<(u64, u32)> = Vec::new();
            let mut epoch = 2;
            for (i, step) in primary_tail.iter().enumerate() {
                epoch += step * 2;
                primary.push((epoch, i as u32));
            }
            let shared = shared.min(primary.len());
            let mut subscriber = primary[..shared].to_vec();
            let mut epoch = subscriber.last().map_or(1, |e| e.0 + 1) | 1;
            for (i, step) in subscriber_tail.iter().enumerate() {
                epoch += step * 2;
                subscriber.push((epoch, 1000 + i as u32));
            }
            let history = EpochHistory::of(primary.iter().enumerate().map(|(i, e)| (i as u64 + 1, e.0)));
            for _ in 0..=subscriber.len() {
                let prev = subscriber.len() as u64;
                let last_epoch = subscriber.last().map_or(0, |e| e.0);
                match history.reconcile(prev + 1, last_epoch) {
                    Reconcile::Stream => {
                        prop_assert_eq!(agreed(&primary, &subscriber), subscriber.len());
                        return Ok(());
                    }
                    Reconcile::Truncate(to) => {
                        prop_assert!(to < prev, "truncate to {} does not shorten {}", to, prev);
                        let before = agreed(&primary, &subscriber);
                        prop_assert!(to as usize >= before, "truncate to {} cuts the agreed {}", to, before);
                        subscriber.truncate(to as usize);
                    }
                }
            }
            prop_assert!(false, "reconciliation did not end");
        }
    }
}
