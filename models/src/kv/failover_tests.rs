//! A property test of a managed group driven the way a failover controller drives it, with the
//! replication stream replaced by direct, synchronous calls: random writes, partial shipping,
//! crashes that lose unsynced bytes, and promotions of any member (not always the most caught
//! up one, as an asynchronous group must sometimes accept).
//!
//! What must hold: whenever a primary agrees to stream to a member, that member's log is a
//! prefix of the primary's; every truncation shortens the log and never cuts the agreed prefix;
//! and once shipping is allowed to finish, every member holds exactly the primary's log and map.

use super::node::{Node, Start};
use super::{FsyncPolicy, KvConfig};
use crate::kv::api::{LogEntry, Msg, NodeRole};
use crate::testenv::TestEnv;
use proptest::prelude::*;

/// One step of the run.
#[derive(Debug, Clone)]
enum Op {
    /// This many writes on the primary (none when there is no writable primary).
    Write(u8),
    /// Ship up to this many entries to a member.
    Ship(usize, usize),
    /// A member crashes and restarts at once.
    Crash(usize),
    /// The controller promotes a member in a new epoch and points the others at it.
    Failover(usize),
}

const MEMBERS: usize = 3;
const LEASE_MS: u32 = 3_600_000;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..4).prop_map(Op::Write),
        3 => (0..MEMBERS, 1usize..6).prop_map(|(m, n)| Op::Ship(m, n)),
        1 => (0..MEMBERS).prop_map(Op::Crash),
        1 => (0..MEMBERS).prop_map(Op::Failover),
    ]
}

struct Group {
    envs: Vec<TestEnv>,
    configs: Vec<KvConfig>,
    nodes: Vec<Node<TestEnv>>,
    primary: usize,
    epoch: u64,
}

fn log_of(node: &Node<TestEnv>) -> Vec<LogEntry> {
    node.wal.read_from(1, usize::MAX).expect("a readable log")
}

impl Group {
    fn new(fsync: [bool; MEMBERS]) -> Self {
        let envs: Vec<TestEnv> = (0..MEMBERS).map(|m| TestEnv::new(&format!("db{m}"))).collect();
        let configs: Vec<KvConfig> = fsync
            .iter()
            .map(|&sync| KvConfig {
                managed: true,
                fsync: if sync { FsyncPolicy::Always } else { FsyncPolicy::Never },
                ..KvConfig::default()
            })
            .collect();
        let nodes = (0..MEMBERS).map(|m| Self::open(&envs[m], configs[m], m)).collect();
        let group = Self { envs, configs, nodes, primary: 0, epoch: 1 };
        group.nodes[0].check(1, LEASE_MS);
        group
    }

    fn open(env: &TestEnv, config: KvConfig, member: usize) -> Node<TestEnv> {
        let start = if member == 0 { Start::Primary } else { Start::Replica("db0:1".into()) };
        Node::open(env.clone(), config, start, 4).expect("a node opens")
    }

    fn write(&self, n: u8) {
        let primary = &self.nodes[self.primary];
        for i in 0..n {
            // Refused when the primary crashed and no one was promoted yet.
            let _ = primary.append_local(vec![i], Some(vec![n, i]));
        }
    }

    /// One subscription of `member`, as the stream would run it: truncation rounds, then up
    /// to `max` entries.
    fn ship(&self, member: usize, max: usize) -> Result<(), TestCaseError> {
        let (primary, replica) = (&self.nodes[self.primary], &self.nodes[member]);
        if member == self.primary || replica.status().role != NodeRole::Replica {
            return Ok(());
        }
        if primary.status().role != NodeRole::Primary {
            return Ok(());
        }
        let generation = replica.follow_generation();
        for _ in 0..=replica.status().lsn + 1 {
            let (from_lsn, last_epoch) = replica.subscription();
            match primary.subscribe(member as u64, from_lsn, last_epoch) {
                Ok(_) => {
                    let (theirs, ours) = (log_of(primary), log_of(replica));
                    prop_assert!(theirs.starts_with(&ours), "streaming to a member whose log diverges");
                    let entries: Vec<LogEntry> =
                        primary.entries_from(from_lsn).unwrap().into_iter().take(max).collect();
                    replica.apply_batch(generation, &entries).unwrap();
                    primary.ack(member as u64, replica.status().lsn);
                    return Ok(());
                }
                Err(Msg::Truncate { to_lsn, epoch }) => {
                    let (theirs, ours) = (log_of(primary), log_of(replica));
                    let agreed = theirs.iter().zip(&ours).take_while(|(a, b)| a == b).count() as u64;
                    prop_assert!(to_lsn >= agreed, "truncate to {} cuts the agreed prefix {}", to_lsn, agreed);
                    prop_assert!(to_lsn < from_lsn - 1, "truncate to {} does not shorten {}", to_lsn, from_lsn - 1);
                    replica.truncate_to(generation, to_lsn, epoch).unwrap();
                }
                Err(other) => prop_assert!(false, "unexpected reply to a subscription: {:?}", other),
            }
        }
        prop_assert!(false, "truncation rounds did not end");
        Ok(())
    }

    /// A crash and restart; the controller points a member that comes back fenced at the
    /// primary, except the primary itself, which waits for a failover.
    fn crash(&mut self, member: usize) {
        self.envs[member].disk.crash();
        self.nodes[member] = Self::open(&self.envs[member], self.configs[member], member);
        if member != self.primary {
            let addr = format!("db{}:1", self.primary);
            self.nodes[member].become_replica(&addr, self.epoch).expect("the controller's epoch is the newest");
        }
    }

    fn failover(&mut self, member: usize) -> Result<(), TestCaseError> {
        self.epoch += 1;
        let promoted = self.nodes[member].promote(self.epoch);
        prop_assert!(matches!(promoted, Msg::Status(s) if s.role == NodeRole::Primary), "{:?}", promoted);
        self.nodes[member].check(self.epoch, LEASE_MS);
        self.primary = member;
        let addr = format!("db{member}:1");
        for (m, node) in self.nodes.iter().enumerate() {
            if m != member {
                prop_assert!(node.become_replica(&addr, self.epoch).is_ok());
                prop_assert_eq!(node.status().role, NodeRole::Replica);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_member_ends_with_the_primary_log(
        fsync in any::<[bool; MEMBERS]>(),
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let mut group = Group::new(fsync);
        for op in ops {
            match op {
                Op::Write(n) => group.write(n),
                Op::Ship(member, max) => group.ship(member, max)?,
                Op::Crash(member) => group.crash(member),
                Op::Failover(member) => group.failover(member)?,
            }
        }
        if group.nodes[group.primary].status().role != NodeRole::Primary {
            let next = (group.primary + 1) % MEMBERS;
            group.failover(next)?;
        }
        group.write(2);
        for _ in 0..100 {
            for member in 0..MEMBERS {
                group.ship(member, usize::MAX)?;
            }
        }
        let primary = &group.nodes[group.primary];
        let expected = log_of(primary);
        for (m, node) in group.nodes.iter().enumerate() {
            prop_assert_eq!(&log_of(node), &expected, "member {} differs from the primary", m);
            let (ours, theirs) = (node.state.borrow().log.store.clone(), primary.state.borrow().log.store.clone());
            prop_assert_eq!(ours.map(), theirs.map());
            let epochs: Vec<u64> = log_of(node).iter().map(|e| e.epoch).collect();
            prop_assert!(epochs.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
