//! What a sharding scheme costs and how evenly it spreads: the fraction of keys that change owner
//! between two sharders, the load spread of keys over one sharder's nodes, and a [`Report`] of
//! both that a CLI can print.
//!
//! Pure: the keys are given (or generated from a seed by [`sample_keys`]); this file must not
//! read anything from outside, nor know how a scheme routes.

use std::fmt;

use super::Sharder;

/// Of `keys`, the fraction whose owner (by name) differs between `before` and `after`; 0 when
/// there are no keys.
pub fn moved_fraction<'k>(before: &Sharder, after: &Sharder, keys: impl IntoIterator<Item = &'k [u8]>) -> f64 {
    let (mut moved, mut total) = (0u64, 0u64);
    for key in keys {
        total += 1;
        if before.owner(key) != after.owner(key) {
            moved += 1;
        }
    }
    if total == 0 { 0.0 } else { moved as f64 / total as f64 }
}

/// How keys spread over a sharder's nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// Keys counted.
    pub keys: u64,
    /// Keys owned by each node, in [`Sharder::nodes`] order.
    pub counts: Vec<u64>,
    /// The busiest node's keys over the mean (1 is perfectly even; 0 when there are no keys).
    pub max_over_mean: f64,
    /// Coefficient of variation: the (population) standard deviation of the counts over their
    /// mean (0 is perfectly even, and 0 when there are no keys).
    pub cv: f64,
}

/// The load spread of `keys` over `sharder`'s nodes.
pub fn spread<'k>(sharder: &Sharder, keys: impl IntoIterator<Item = &'k [u8]>) -> Spread {
    let mut counts = vec![0u64; sharder.nodes().len()];
    for key in keys {
        counts[sharder.owner_index(key)] += 1;
    }
    let keys: u64 = counts.iter().sum();
    let n = counts.len() as f64;
    let mean = keys as f64 / n;
    if keys == 0 {
        return Spread { keys, counts, max_over_mean: 0.0, cv: 0.0 };
    }
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let variance = counts.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / n;
    Spread { keys, counts, max_over_mean: max / mean, cv: variance.sqrt() / mean }
}

/// `count` distinct keys, `k<seed>:<i>`, for measuring a scheme (all one directory tenant).
pub fn sample_keys(count: usize, seed: u64) -> Vec<Vec<u8>> {
    (0..count).map(|i| format!("k{seed}:{i}").into_bytes()).collect()
}

/// A membership change measured over a set of keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The scheme's short name (the `after` sharder's).
    pub scheme: &'static str,
    /// Nodes before the change.
    pub nodes_before: usize,
    /// Nodes after the change.
    pub nodes_after: usize,
    /// Keys measured.
    pub keys: u64,
    /// The fraction of the keys that changed owner.
    pub moved: f64,
    /// The spread before the change.
    pub before: Spread,
    /// The spread after the change.
    pub after: Spread,
}

/// Measures the change from `before` to `after` over `keys`.
pub fn report<K: AsRef<[u8]>>(before: &Sharder, after: &Sharder, keys: &[K]) -> Report {
    let keys_iter = || keys.iter().map(AsRef::as_ref);
    Report {
        scheme: after.scheme_name(),
        nodes_before: before.nodes().len(),
        nodes_after: after.nodes().len(),
        keys: keys.len() as u64,
        moved: moved_fraction(before, after, keys_iter()),
        before: spread(before, keys_iter()),
        after: spread(after, keys_iter()),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (before, after) = (&self.before, &self.after);
        writeln!(f, "{}: {} -> {} nodes, {} keys", self.scheme, self.nodes_before, self.nodes_after, self.keys)?;
        writeln!(f, "  moved   {:6.2}% of the keys", self.moved * 100.0)?;
        writeln!(f, "  before  max/mean {:.3}  cv {:.3}", before.max_over_mean, before.cv)?;
        writeln!(f, "  after   max/mean {:.3}  cv {:.3}", after.max_over_mean, after.cv)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Node, Scheme};
    use super::*;

    fn range(bounds: &[&str], nodes: &[&str]) -> Sharder {
        let bounds = bounds.iter().map(|b| b.as_bytes().to_vec()).collect();
        Sharder::new(Scheme::Range { bounds }, nodes.iter().map(|&n| Node::from(n)).collect()).unwrap()
    }

    #[test]
    fn spread_counts_keys_per_node() {
        let sharder = range(&["m"], &["a", "b"]);
        let keys: [&[u8]; 4] = [b"c", b"d", b"e", b"x"];
        let spread = spread(&sharder, keys);
        assert_eq!(spread.counts, [3, 1]);
        assert_eq!(spread.keys, 4);
        assert_eq!(spread.max_over_mean, 1.5);
        assert_eq!(spread.cv, 0.5);
        let none = super::spread(&sharder, std::iter::empty());
        assert_eq!((none.max_over_mean, none.cv), (0.0, 0.0));
    }

    #[test]
    fn moved_fraction_compares_owners_by_name() {
        let before = range(&["m"], &["a", "b"]);
        let after = range(&["f"], &["a", "b"]);
        let keys: [&[u8]; 4] = [b"c", b"g", b"h", b"x"];
        assert_eq!(moved_fraction(&before, &after, keys), 0.5);
        assert_eq!(moved_fraction(&before, &before, keys), 0.0);
        assert_eq!(moved_fraction(&before, &after, std::iter::empty()), 0.0);
    }

    #[test]
    fn a_report_prints_movement_and_spread() {
        let before = range(&["m"], &["a", "b"]);
        let after = range(&["h"], &["a", "b"]);
        let report = report(&before, &after, &["c", "g", "h", "x"]);
        assert_eq!(report.moved, 0.25);
        assert_eq!(
            report.to_string(),
            "range: 2 -> 2 nodes, 4 keys\n  moved    25.00% of the keys\n  before  max/mean 1.500  cv 0.500\n  \
             after   max/mean 1.000  cv 0.000\n"
        );
    }

    #[test]
    fn sample_keys_are_distinct_and_seeded() {
        let keys = sample_keys(1_000, 7);
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 1_000);
        assert_eq!(keys[3], b"k7:3");
        assert_ne!(sample_keys(10, 8), sample_keys(10, 7));
    }
}
