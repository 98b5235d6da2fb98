use super::*;
use crate::failover::test_nodes::{FakeNode, TestEnv, block_on, status};

const LIMIT: Duration = Duration::from_secs(2);

/// A router with a probe period long enough that only the tests' own `probe()` calls (and the
/// one at start) refresh its view.
fn router(env: &TestEnv, nodes: &[&FakeNode], reads: ReadPolicy, max_lag: Option<Duration>) -> Router<TestEnv> {
    let config = RouterConfig {
        members: nodes.iter().map(|n| n.addr.clone()).collect(),
        reads,
        max_lag,
        read_your_writes: true,
        probe_every: Duration::from_secs(3600),
    };
    Router::new(env.clone(), config, LIMIT)
}

fn put(key: &str, value: &str) -> Msg {
    Msg::Put { key: key.into(), value: value.into() }
}

fn gets(node: &FakeNode) -> Vec<u64> {
    node.received()
        .into_iter()
        .filter_map(|m| match m {
            Msg::Get { min_lsn, .. } => Some(min_lsn),
            _ => None,
        })
        .collect()
}

fn puts(node: &FakeNode) -> usize {
    node.count(|m| matches!(m, Msg::Put { .. }))
}

fn lagging(node: &FakeNode, lsn: u64, lag_ms: u64) {
    node.set(|s| {
        s.status = status(NodeRole::Replica, 1, lsn);
        s.status.lag_ns = lag_ms * 1_000_000;
    });
}

/// A primary at lsn 10 on 127.0.0.(base) and replicas on the next `replicas` hosts.
async fn group(base: u8, replicas: u8) -> Vec<FakeNode> {
    let mut nodes = vec![FakeNode::start(base, status(NodeRole::Primary, 1, 10)).await];
    for k in 1..=replicas {
        nodes.push(FakeNode::start(base + k, status(NodeRole::Replica, 1, 10)).await);
    }
    nodes
}

#[test]
fn writes_follow_a_promotion() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(31, 1).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        let r = router(&env, &[a, b], ReadPolicy::Primary, None);
        r.probe().await;
        assert_eq!(r.write(put("k", "v1"), LIMIT).await.expect("written"), Msg::Written { lsn: 11, epoch: 1 });
        // b is promoted behind the router's back; a is deposed.
        a.set(|s| s.status = status(NodeRole::Fenced, 2, 11));
        b.set(|s| s.status = status(NodeRole::Primary, 2, 11));
        assert_eq!(r.write(put("k", "v2"), LIMIT).await.expect("written"), Msg::Written { lsn: 12, epoch: 2 });
        assert_eq!((puts(a), puts(b)), (2, 1), "refused once by a, then retried once on b");
        assert_eq!(r.write(put("k", "v3"), LIMIT).await.expect("written"), Msg::Written { lsn: 13, epoch: 2 });
        assert_eq!((puts(a), puts(b)), (2, 2), "the router now knows b");
    });
}

#[test]
fn with_no_primary_a_write_is_refused_naming_what_the_probe_saw() {
    block_on(async {
        let env = TestEnv::new("app");
        let a = FakeNode::start(41, status(NodeRole::Replica, 1, 3)).await;
        let b = FakeNode::start(42, status(NodeRole::Fenced, 2, 3)).await;
        let r = router(&env, &[&a, &b], ReadPolicy::RoundRobin, None);
        let err = r.write(put("k", "v"), LIMIT).await.expect_err("no primary");
        let text = err.to_string();
        assert!(matches!(err, RouteError::NoPrimary { .. }), "{err:?}");
        assert!(text.contains(&format!("{} replica epoch 1", a.addr)), "{text}");
        assert!(text.contains(&format!("{} fenced epoch 2", b.addr)), "{text}");
        assert_eq!(puts(&a) + puts(&b), 0);
    });
}

#[test]
fn a_write_that_timed_out_is_not_retried() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(51, 1).await;
        let r = router(&env, &[&nodes[0], &nodes[1]], ReadPolicy::Primary, None);
        r.probe().await;
        nodes[0].set(|s| s.silent = true);
        nodes[1].set(|s| s.status = status(NodeRole::Primary, 2, 10));
        let err = r.write(put("k", "v"), Duration::from_millis(100)).await.expect_err("no reply");
        assert!(matches!(err, RouteError::Call(CallError::Timeout(_))), "{err:?}");
        assert_eq!((puts(&nodes[0]), puts(&nodes[1])), (1, 0), "the write may have happened: no second try");
    });
}

#[test]
fn tokens_route_to_a_caught_up_replica_or_the_primary() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(61, 2).await;
        let (p, r1, r2) = (&nodes[0], &nodes[1], &nodes[2]);
        lagging(r1, 5, 0);
        let r = router(&env, &[p, r1, r2], ReadPolicy::RoundRobin, None);
        r.probe().await;
        for _ in 0..3 {
            assert_eq!(r.read(b"k".to_vec(), 8, LIMIT).await.expect("read"), Msg::Value { value: None, lsn: 10 });
        }
        assert_eq!((gets(p), gets(r1), gets(r2)), (vec![], vec![], vec![8, 8, 8]), "only r2 has reached lsn 8");
        assert_eq!(r.stats(), RouterStats { reads_primary: 0, reads_replica: 3, replicas_excluded: 1 });
        r.read(b"k".to_vec(), 11, LIMIT).await.expect("read");
        assert_eq!(gets(p), [11], "no replica has reached lsn 11");
        assert_eq!(r.stats(), RouterStats { reads_primary: 1, reads_replica: 3, replicas_excluded: 2 });
        assert_eq!(env.gauge("reads_primary"), Some(1));
        assert_eq!(env.gauge("replicas_excluded"), Some(2));
        // r2 fell behind since the probe: it refuses the token, and the primary answers.
        r2.set(|s| s.status.lsn = 4);
        r.read(b"k".to_vec(), 8, LIMIT).await.expect("read");
        assert_eq!((gets(p), gets(r2).len()), (vec![11, 8], 4));
        assert_eq!(r.stats().reads_primary, 2);
    });
}

#[test]
fn without_read_your_writes_tokens_are_neither_used_nor_sent() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(71, 1).await;
        lagging(&nodes[1], 2, 0);
        let config = RouterConfig {
            members: nodes.iter().map(|n| n.addr.clone()).collect(),
            reads: ReadPolicy::LeastLag,
            max_lag: None,
            read_your_writes: false,
            probe_every: Duration::from_secs(3600),
        };
        let r = Router::new(env.clone(), config, LIMIT);
        r.probe().await;
        assert_eq!(r.read(b"k".to_vec(), 9, LIMIT).await.expect("read"), Msg::Value { value: None, lsn: 2 });
        assert_eq!(gets(&nodes[1]), [0]);
    });
}

#[test]
fn lagging_replicas_are_excluded() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(81, 2).await;
        lagging(&nodes[1], 10, 500);
        lagging(&nodes[2], 10, 20);
        let r =
            router(&env, &[&nodes[0], &nodes[1], &nodes[2]], ReadPolicy::RoundRobin, Some(Duration::from_millis(100)));
        r.probe().await;
        for _ in 0..4 {
            r.read(b"k".to_vec(), 0, LIMIT).await.expect("read");
        }
        assert_eq!((gets(&nodes[1]).len(), gets(&nodes[2]).len()), (0, 4));
        assert_eq!(r.stats().replicas_excluded, 1);
        // Both past the limit: the primary serves.
        lagging(&nodes[2], 10, 200);
        r.probe().await;
        r.read(b"k".to_vec(), 0, LIMIT).await.expect("read");
        assert_eq!(gets(&nodes[0]).len(), 1);
        assert_eq!(r.stats(), RouterStats { reads_primary: 1, reads_replica: 4, replicas_excluded: 2 });
    });
}

#[test]
fn round_robin_alternates() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(91, 2).await;
        let r = router(&env, &[&nodes[0], &nodes[1], &nodes[2]], ReadPolicy::RoundRobin, None);
        r.probe().await;
        let mut order = Vec::new();
        for _ in 0..4 {
            let before = (gets(&nodes[1]).len(), gets(&nodes[2]).len());
            r.read(b"k".to_vec(), 0, LIMIT).await.expect("read");
            order.push(if gets(&nodes[1]).len() > before.0 { 1 } else { 2 });
            assert_eq!(gets(&nodes[1]).len() + gets(&nodes[2]).len(), before.0 + before.1 + 1);
        }
        assert_eq!(order, [1, 2, 1, 2]);
        assert!(gets(&nodes[0]).is_empty());
    });
}

#[test]
fn least_lag_picks_the_least_lagging() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(101, 3).await;
        lagging(&nodes[1], 10, 50);
        lagging(&nodes[2], 10, 10);
        lagging(&nodes[3], 10, 30);
        let r = router(&env, &[&nodes[0], &nodes[1], &nodes[2], &nodes[3]], ReadPolicy::LeastLag, None);
        r.probe().await;
        for _ in 0..3 {
            r.read(b"k".to_vec(), 0, LIMIT).await.expect("read");
        }
        assert_eq!(nodes.iter().map(|n| gets(n).len()).collect::<Vec<_>>(), [0, 0, 3, 0]);
    });
}

#[test]
fn per_request_connections_carry_writes_and_reads() {
    block_on(async {
        let env = TestEnv::new("app");
        let nodes = group(111, 1).await;
        let config = RouterConfig {
            members: nodes.iter().map(|n| n.addr.clone()).collect(),
            reads: ReadPolicy::RoundRobin,
            max_lag: None,
            read_your_writes: true,
            probe_every: Duration::from_secs(3600),
        };
        let r = Router::with_connections(env.clone(), config, LIMIT, Connections::PerRequest);
        assert_eq!(r.write(put("k", "v"), LIMIT).await.expect("written"), Msg::Written { lsn: 11, epoch: 1 });
        let value = r.read(b"k".to_vec(), 11, LIMIT).await.expect("read");
        assert_eq!(value, Msg::Value { value: Some(b"v".to_vec()), lsn: 11 }, "the replica is behind: the primary");
        let (primary_gets, replica_gets) = (gets(&nodes[0]), gets(&nodes[1]));
        assert_eq!((primary_gets, replica_gets), (vec![11], vec![]));
    });
}
