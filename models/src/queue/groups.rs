//! Consumer groups over a queue's partitions, as Kafka runs them: within a group a partition
//! has at most one consumer; consumers beyond the partition count idle; a consumer that has
//! not been heard from (a receive is its heartbeat) for the session timeout loses its
//! partitions to the others. Assignment is round-robin over the live consumers in name order,
//! recomputed whenever membership changes.
//!
//! Pure: time is passed in. Must not know messages or the network.

use std::collections::BTreeMap;
use std::time::Duration;

/// The groups of one queue.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    groups: BTreeMap<String, Group>,
}

#[derive(Debug, Clone, Default)]
struct Group {
    /// Live consumers and when each was last heard from.
    members: BTreeMap<String, Duration>,
    /// The owner of each partition (index), if any.
    owners: Vec<Option<String>>,
    /// Times the assignment changed.
    rebalances: u64,
}

impl Groups {
    /// Records a heartbeat of `consumer` in `group` at `now`, expires consumers silent for
    /// longer than `session`, and returns the partitions `consumer` owns (none: it idles).
    pub fn heartbeat(
        &mut self,
        group: &str,
        consumer: &str,
        partitions: u32,
        session: Duration,
        now: Duration,
    ) -> Vec<u32> {
        let g = self.groups.entry(group.to_string()).or_default();
        let before = g.members.len();
        let known = g.members.insert(consumer.to_string(), now).is_some();
        g.members.retain(|_, seen| now.saturating_sub(*seen) <= session);
        if !known || g.members.len() != before + usize::from(!known) || g.owners.len() != partitions as usize {
            g.assign(partitions);
        }
        g.owners
            .iter()
            .enumerate()
            .filter(|(_, owner)| owner.as_deref() == Some(consumer))
            .map(|(p, _)| p as u32)
            .collect()
    }

    /// The owner of `partition` in `group`, if any.
    pub fn owner(&self, group: &str, partition: u32) -> Option<&str> {
        self.groups.get(group)?.owners.get(partition as usize)?.as_deref()
    }

    /// Times `group`'s assignment changed.
    pub fn rebalances(&self, group: &str) -> u64 {
        self.groups.get(group).map_or(0, |g| g.rebalances)
    }
}

impl Group {
    fn assign(&mut self, partitions: u32) {
        let names: Vec<&String> = self.members.keys().collect();
        let owners: Vec<Option<String>> =
            (0..partitions as usize).map(|p| (!names.is_empty()).then(|| names[p % names.len()].clone())).collect();
        if owners != self.owners {
            self.rebalances += 1;
        }
        self.owners = owners;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Duration = Duration::from_secs(10);

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn extra_consumers_idle_and_a_silent_one_loses_its_partitions() {
        let mut g = Groups::default();
        assert_eq!(g.heartbeat("g", "a", 2, S, at(0)), [0, 1]);
        assert_eq!(g.heartbeat("g", "b", 2, S, at(1)), [1]);
        assert_eq!(g.heartbeat("g", "c", 2, S, at(2)), Vec::<u32>::new(), "a third consumer of two partitions idles");
        assert_eq!(g.heartbeat("g", "a", 2, S, at(3)), [0]);
        // b and c keep beating; a goes silent past the session timeout.
        g.heartbeat("g", "b", 2, S, at(12));
        let c = g.heartbeat("g", "c", 2, S, at(14));
        assert_eq!(g.owner("g", 0), Some("b"));
        assert_eq!(c, [1], "the idle consumer takes over a partition of the silent one");
        assert!(g.rebalances("g") >= 3);
    }

    #[test]
    fn groups_are_independent() {
        let mut g = Groups::default();
        assert_eq!(g.heartbeat("g1", "a", 1, S, at(0)), [0]);
        assert_eq!(g.heartbeat("g2", "b", 1, S, at(0)), [0], "each group reads every partition");
        assert_eq!(g.owner("g1", 0), Some("a"));
        assert_eq!(g.owner("g3", 0), None);
    }

    proptest! {
        /// However consumers come and go, a partition has at most one owner, every owner is a
        /// live member, and no live member owns nothing while a partition has no owner.
        #[test]
        fn each_partition_has_at_most_one_live_owner(
            beats in proptest::collection::vec((0usize..5, 0u64..4), 1..60),
            partitions in 1u32..6,
        ) {
            let mut g = Groups::default();
            let mut now = Duration::ZERO;
            let mut owned: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
            for (consumer, gap) in beats {
                now += Duration::from_secs(gap * 4);
                let mine = g.heartbeat("g", &format!("c{consumer}"), partitions, S, now);
                let name = format!("c{consumer}");
                for p in &mine {
                    prop_assert_eq!(g.owner("g", *p), Some(name.as_str()));
                }
                owned.insert(consumer, mine);
                let group = &g.groups["g"];
                prop_assert!(group.owners.iter().flatten().all(|o| group.members.contains_key(o)));
                prop_assert!(group.owners.iter().all(Option::is_some), "a live group leaves no partition unowned");
            }
        }
    }
}
