use super::test_nodes::{FakeNode, TestEnv, block_on, status, until};
use super::*;

const MS: Duration = Duration::from_millis(1);

fn config(n: usize) -> FailoverConfig {
    FailoverConfig {
        members: (1..=n).map(|i| format!("db{i}:7000")).collect(),
        check_every: 10 * MS,
        fail_after: 50 * MS,
        lease: 30 * MS,
        timeout: 5 * MS,
    }
}

fn primary(epoch: u64, lsn: u64) -> Option<NodeStatus> {
    Some(status(NodeRole::Primary, epoch, lsn))
}

fn replica(epoch: u64, lsn: u64, last_epoch: u64) -> Option<NodeStatus> {
    Some(NodeStatus { role: NodeRole::Replica, epoch, lsn, last_epoch, lag_ns: 0 })
}

fn fenced(epoch: u64, lsn: u64, last_epoch: u64) -> Option<NodeStatus> {
    Some(NodeStatus { role: NodeRole::Fenced, epoch, lsn, last_epoch, lag_ns: 0 })
}

/// Runs one round at `t_ms`: checks, then `replies`; returns the plan.
fn round(c: &mut Controller, t_ms: u64, replies: &[Option<NodeStatus>]) -> Plan {
    c.checks(Duration::from_millis(t_ms));
    c.observe(Duration::from_millis(t_ms), replies)
}

#[test]
fn a_config_that_could_overlap_leases_is_refused() {
    assert!(config(3).validate().is_ok());
    let check = |f: fn(&mut FailoverConfig), needle: &str| {
        let mut c = config(3);
        f(&mut c);
        let err = c.validate().expect_err("invalid");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(needle), "{err} should mention {needle}");
    };
    check(|c| c.fail_after = c.lease + c.check_every - MS, "fail_after");
    check(|c| c.members.clear(), "at least one member");
    check(|c| c.members[1] = c.members[0].clone(), "twice");
    check(|c| c.lease = Duration::ZERO, "lease");
    check(|c| c.check_every = Duration::ZERO, "check_every");
    let mut exact = config(3);
    exact.fail_after = exact.lease + exact.check_every;
    assert!(exact.validate().is_ok(), "the bound itself is allowed");
    let err = block_on(run_controller(TestEnv::new("ctl"), FailoverConfig { members: vec![], ..config(1) }));
    assert_eq!(err.expect_err("refused").kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn leases_go_to_the_healthy_primary_only() {
    let mut c = Controller::new(config(3), Duration::ZERO);
    let probe = c.checks(Duration::ZERO);
    assert!(probe.iter().all(|m| *m == Msg::Check { epoch: 0, lease_ms: 0 }), "{probe:?}");
    c.observe(Duration::ZERO, &[replica(2, 5, 2), primary(2, 5), replica(2, 4, 2)]);
    let checks = c.checks(10 * MS);
    let expected = [0, 30, 0].map(|lease_ms| Msg::Check { epoch: 2, lease_ms });
    assert_eq!(checks, expected);
    // A primary that missed a check gets no lease until it answers again.
    c.observe(10 * MS, &[replica(2, 5, 2), None, replica(2, 4, 2)]);
    assert!(c.checks(20 * MS).iter().all(|m| matches!(m, Msg::Check { lease_ms: 0, .. })));
    c.observe(20 * MS, &[replica(2, 5, 2), primary(2, 6), replica(2, 4, 2)]);
    assert_eq!(c.checks(30 * MS)[1], Msg::Check { epoch: 2, lease_ms: 30 });
}

#[test]
fn detection_waits_for_fail_after_and_not_longer() {
    let mut c = Controller::new(config(3), Duration::ZERO);
    let plan = round(&mut c, 0, &[primary(1, 9), replica(1, 9, 1), replica(1, 8, 1)]);
    assert_eq!(plan.events, ["found primary db1 epoch 1"]);
    let down = [None, replica(1, 9, 1), replica(1, 8, 1)];
    for t in [10, 20, 30, 40, 49] {
        let plan = round(&mut c, t, &down);
        assert_eq!(plan, Plan::default(), "nothing happens at {t} ms");
    }
    let plan = round(&mut c, 50, &down);
    assert_eq!(plan.events, ["detected db1 down after 50 ms"]);
    assert_eq!(plan.promote, Some((1, 2)), "db2 holds lsn 9, db3 only 8");
    assert_eq!(c.promoted(1, 2, &status(NodeRole::Primary, 2, 9), 51 * MS), "promoted db2 epoch 2 at lsn 9");
    assert_eq!(c.epoch(), 2);
}

#[test]
fn no_promotion_while_the_primary_answers() {
    let mut c = Controller::new(config(2), Duration::ZERO);
    for t in (0..1000).step_by(10) {
        // Every other check is lost: never fail_after in a row.
        let p = if t % 20 == 0 { primary(1, t) } else { None };
        let plan = round(&mut c, t, &[p, replica(1, t, 1)]);
        assert_eq!(plan.promote, None, "at {t} ms");
        assert!(plan.events.iter().all(|e| e.starts_with("found")), "{:?}", plan.events);
    }
}

#[test]
fn promotion_waits_for_the_last_lease_to_run_out() {
    let mut cfg = config(2);
    cfg.timeout = 40 * MS;
    let mut c = Controller::new(cfg, Duration::ZERO);
    round(&mut c, 0, &[primary(1, 3), replica(1, 3, 1)]);
    // The grant of the round at 10 ms may hold until 10 + timeout 40 + lease 30 = 80 ms.
    let down = [None, replica(1, 3, 1)];
    let plan = round(&mut c, 10, &down);
    assert_eq!(plan.promote, None);
    let plan = round(&mut c, 60, &down);
    assert_eq!(plan.events, ["detected db1 down after 60 ms"]);
    assert_eq!(plan.promote, None, "the lease granted at 10 ms may still hold");
    assert_eq!(round(&mut c, 79, &down).promote, None);
    let plan = round(&mut c, 80, &down);
    assert_eq!(plan.promote, Some((1, 2)));
    assert!(plan.events.is_empty(), "detection is reported once: {:?}", plan.events);
}

#[test]
fn the_most_caught_up_member_wins_and_ties_go_to_member_order() {
    let c = Controller::new(config(4), Duration::ZERO);
    // A later epoch beats a longer log of an older epoch.
    assert_eq!(c.best(&[None, replica(3, 20, 1), replica(3, 12, 2), replica(3, 12, 2)]), Some(2));
    assert_eq!(c.best(&[None, replica(3, 5, 2), None, replica(3, 5, 2)]), Some(1));
    assert_eq!(c.best(&[primary(3, 99), None, None, None]), None, "nobody to promote");
    // A fenced old primary qualifies when it answers and is the best.
    assert_eq!(c.best(&[fenced(3, 9, 2), replica(3, 8, 2), None, None]), Some(0));
}

#[test]
fn a_failed_primary_that_answers_fenced_and_best_is_promoted_again() {
    let mut c = Controller::new(config(2), Duration::ZERO);
    round(&mut c, 0, &[primary(1, 7), replica(1, 6, 1)]);
    // db1 restarted: managed nodes come up fenced.
    let back = [fenced(1, 7, 1), replica(1, 6, 1)];
    assert_eq!(round(&mut c, 10, &back).promote, None);
    assert_eq!(round(&mut c, 49, &back).promote, None);
    let plan = round(&mut c, 50, &back);
    assert_eq!(plan.events, ["detected db1 down after 50 ms"]);
    assert_eq!(plan.promote, Some((0, 2)), "db1 answers fenced and holds more than db2");
}

#[test]
fn with_no_primary_at_start_the_best_is_promoted_after_fail_after() {
    let mut c = Controller::new(config(3), 100 * MS);
    let replies = [fenced(0, 0, 0), fenced(1, 4, 1), None];
    assert_eq!(round(&mut c, 140, &replies), Plan::default());
    let plan = round(&mut c, 150, &replies);
    assert_eq!(plan.events, ["no primary after 50 ms"]);
    assert_eq!(plan.promote, Some((1, 2)), "above the highest epoch any member reported");
    c.promotion_failed(1, 2, "Fenced: epoch not above mine");
    assert_eq!(round(&mut c, 160, &replies).promote, Some((1, 3)), "retried with a higher epoch");
}

#[test]
fn strays_are_told_to_follow_the_current_primary() {
    let mut c = Controller::new(config(4), Duration::ZERO);
    let plan = round(&mut c, 0, &[primary(3, 9), replica(3, 9, 3), primary(2, 7), replica(2, 5, 2)]);
    assert_eq!(plan.events, ["found primary db1 epoch 3"]);
    assert_eq!(plan.follow, [2, 3], "an old-epoch primary and an old-epoch replica");
    let s = status(NodeRole::Replica, 3, 7);
    assert_eq!(c.followed(2, &s).as_deref(), Some("db3 follows db1 epoch 3"));
    let plan = round(&mut c, 10, &[primary(3, 9), replica(3, 9, 3), replica(3, 7, 2), fenced(3, 5, 2)]);
    assert_eq!(plan.follow, [3], "a restarted, fenced node rejoins; db3 already follows");
}

/// Fake nodes on 127.0.0.{11,12,13}: db11 primary of epoch 1 (lsn 10), db12 a replica at lsn
/// 9, db13 a replica at lsn 10.
async fn group() -> Vec<FakeNode> {
    let mut nodes = Vec::new();
    for (host, role, lsn) in [(11, NodeRole::Primary, 10), (12, NodeRole::Replica, 9), (13, NodeRole::Replica, 10)] {
        nodes.push(FakeNode::start(host, status(role, 1, lsn)).await);
    }
    nodes
}

fn live_config(nodes: &[FakeNode]) -> FailoverConfig {
    FailoverConfig {
        members: nodes.iter().map(|n| n.addr.clone()).collect(),
        check_every: 10 * MS,
        fail_after: 150 * MS,
        lease: 40 * MS,
        timeout: 50 * MS,
    }
}

#[test]
fn a_silent_primary_is_replaced_by_the_most_caught_up_replica_which_the_others_follow() {
    block_on(async {
        let env = TestEnv::new("ctl");
        let nodes = group().await;
        let config = live_config(&nodes);
        tokio::task::spawn_local(run_controller(env.clone(), config.clone()));
        until(&env, "the primary's first lease", || {
            nodes[0].count(|m| matches!(m, Msg::Check { epoch: 1, lease_ms: 40 })) > 0
        })
        .await;
        nodes[0].set(|s| s.silent = true);
        let silenced = env.now();
        until(&env, "a promotion", || nodes[2].status().role == NodeRole::Primary).await;
        let states = env.state_log();
        let detected = states.iter().find(|(_, s)| s.starts_with("failover: detected")).expect("detected");
        let promoted = states.iter().find(|(_, s)| s.starts_with("failover: promoted")).expect("promoted");
        assert_eq!(promoted.1, "failover: promoted 127.0.0.13 epoch 2 at lsn 10");
        assert!(detected.0 >= silenced + config.fail_after - config.check_every - config.timeout, "{states:?}");
        let down_ms: u128 = detected.1.rsplit(' ').nth(1).and_then(|n| n.parse().ok()).expect("a number of ms");
        assert!(down_ms >= 150, "{}", detected.1);
        assert!(promoted.0 >= detected.0);
        assert_eq!(nodes[2].count(|m| matches!(m, Msg::Promote { epoch: 2 })), 1);
        let follow = Msg::Follow { primary: nodes[2].addr.clone(), epoch: 2 };
        until(&env, "the replica to follow", || nodes[1].count(|m| *m == follow) == 1).await;
        assert_eq!(env.gauge("epoch"), Some(2));
        // Leases went only ever to the primary of the epoch.
        for (i, node) in nodes.iter().enumerate() {
            for msg in node.received() {
                if let Msg::Check { epoch, lease_ms } = msg
                    && lease_ms > 0
                {
                    assert!((i, epoch) == (0, 1) || (i, epoch) == (2, 2), "{i} got a lease in epoch {epoch}");
                }
            }
        }
        // The deposed primary comes back: it steps down on the new epoch and is told to follow.
        nodes[0].set(|s| s.silent = false);
        until(&env, "the old primary to rejoin", || nodes[0].count(|m| *m == follow) == 1).await;
        assert_eq!(nodes[0].status().role, NodeRole::Replica);
        until(&env, "the rejoin to be reported", || {
            env.state_log().iter().any(|(_, s)| s == "failover: 127.0.0.11 follows 127.0.0.13 epoch 2")
        })
        .await;
    });
}

#[test]
fn a_primary_that_answers_keeps_its_place() {
    block_on(async {
        let env = TestEnv::new("ctl");
        let nodes = group().await;
        tokio::task::spawn_local(run_controller(env.clone(), live_config(&nodes)));
        // Many times fail_after's worth of checks.
        until(&env, "forty leases", || nodes[0].count(|m| matches!(m, Msg::Check { lease_ms: 40, .. })) >= 40).await;
        assert!(nodes.iter().all(|n| n.count(|m| matches!(m, Msg::Promote { .. } | Msg::Follow { .. })) == 0));
        assert_eq!(env.state_log(), [(env.state_log()[0].0, "failover: found primary 127.0.0.11 epoch 1".to_string())]);
        assert_eq!(env.gauge("epoch"), Some(1));
    });
}

/// A loopback proxy on `127.0.0.<host>` in front of `backend`; `cut` drops every connection
/// through it and stops accepting, as if the backend's host had died.
struct Proxy {
    addr: String,
    accept: tokio::task::JoinHandle<()>,
    conns: Rc<std::cell::RefCell<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(host: u8, backend: String) -> Self {
        let env = crate::seam::TokioEnv::new("proxy", &format!("127.0.0.{host}"), 1);
        let listener = env.bind(0).await.expect("bind");
        let addr = listener.local_addr().expect("an address").to_string();
        let conns: Rc<std::cell::RefCell<Vec<tokio::task::JoinHandle<()>>>> = Rc::default();
        let tracked = conns.clone();
        let accept = tokio::task::spawn_local(async move {
            while let Ok((mut inbound, _)) = crate::seam::Listener::accept(&listener).await {
                let backend = backend.clone();
                tracked.borrow_mut().push(tokio::task::spawn_local(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend.as_str()).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self { addr, accept, conns }
    }

    fn cut(&self) {
        self.accept.abort();
        for conn in self.conns.borrow_mut().drain(..) {
            conn.abort();
        }
    }
}

#[test]
fn a_real_managed_group_fails_over_and_a_router_follows_it() {
    use crate::kv::{KvConfig, KvNode};
    use crate::router::{ReadPolicy, Router, RouterConfig};
    use crate::seam::TokioEnv;
    use crate::server::{Capacity, serve};
    block_on(async {
        let kv = KvConfig { managed: true, ..KvConfig::default() };
        let node = |i: u8| TokioEnv::new(&format!("db{i}"), &format!("127.0.0.{i}"), u64::from(i));
        let (a, b, c) = (node(131), node(132), node(133));
        let listener = a.bind(0).await.expect("bind");
        let a_addr = listener.local_addr().expect("an address").to_string();
        let primary = KvNode::primary(a.clone(), kv).expect("a fresh store opens");
        tokio::task::spawn_local(serve(a.clone(), listener, Capacity::default(), primary));
        let proxy = Proxy::start(134, a_addr).await;
        let mut members = vec![proxy.addr.clone()];
        for env in [&b, &c] {
            let listener = env.bind(0).await.expect("bind");
            members.push(listener.local_addr().expect("an address").to_string());
            let replica = KvNode::replica(env.clone(), kv, proxy.addr.clone()).expect("a fresh store opens");
            tokio::task::spawn_local(serve(env.clone(), listener, Capacity::default(), replica));
        }
        let ctl = TestEnv::new("ctl");
        let config = FailoverConfig {
            members: members.clone(),
            check_every: 20 * MS,
            fail_after: 150 * MS,
            lease: 100 * MS,
            timeout: 50 * MS,
        };
        tokio::task::spawn_local(run_controller(ctl.clone(), config));
        let app = TestEnv::new("app");
        let routes_members = members.clone();
        let routes = RouterConfig {
            members,
            reads: ReadPolicy::RoundRobin,
            max_lag: None,
            read_your_writes: true,
            probe_every: 20 * MS,
        };
        let router = Router::new(app.clone(), routes, Duration::from_millis(500));

        let put = |v: &str| Msg::Put { key: b"k".to_vec(), value: v.as_bytes().to_vec() };
        let first = write_until_accepted(&app, &router, put("v1")).await;
        assert_eq!(first, Msg::Written { lsn: 1, epoch: 1 });
        // Both replicas hold it before the primary dies: nothing acknowledged can be lost.
        for replica in &routes_members[1..] {
            wait_for_lsn(&app, replica, 1).await;
        }
        proxy.cut();
        until(&ctl, "a promotion", || ctl.state_log().iter().any(|(_, s)| s.contains("promoted"))).await;
        let promoted = ctl.state_log().into_iter().find(|(_, s)| s.contains("promoted")).expect("promoted").1;
        assert!(promoted.ends_with("epoch 2 at lsn 1"), "{promoted}");
        let second = write_until_accepted(&app, &router, put("v2")).await;
        assert_eq!(second, Msg::Written { lsn: 2, epoch: 2 });
        let read = router.read(b"k".to_vec(), 2, LIMIT_RW).await.expect("a read");
        assert_eq!(read, Msg::Value { value: Some(b"v2".to_vec()), lsn: 2 });
        assert_eq!(ctl.gauge("epoch"), Some(2));
    });
}

/// Waits until the node at `addr` reports at least `lsn` in its log.
async fn wait_for_lsn<E: Env>(env: &E, addr: &str, lsn: u64) {
    for _ in 0..400 {
        let probe = crate::client::call_once(env, addr, Msg::Check { epoch: 0, lease_ms: 0 }, LIMIT_RW).await;
        if matches!(probe, Ok(Msg::Status(s)) if s.lsn >= lsn) {
            return;
        }
        env.sleep(5 * MS).await;
    }
    panic!("{addr} never reached lsn {lsn}");
}

const LIMIT_RW: Duration = Duration::from_millis(500);

/// Retries `msg` until the group accepts it (a managed primary writes only under a lease).
async fn write_until_accepted<E: Env>(env: &E, router: &crate::router::Router<E>, msg: Msg) -> Msg {
    let mut last = None;
    for _ in 0..400 {
        match router.write(msg.clone(), LIMIT_RW).await {
            Ok(written) => return written,
            Err(e) => last = Some(e.to_string()),
        }
        env.sleep(5 * MS).await;
    }
    panic!("no write accepted; last: {last:?}");
}
