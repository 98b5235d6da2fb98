//! Tests of the sharded database route: keys placed by tenant, one group's failure kept to its
//! tenants, health while any group answers, shared router counters.

use super::store::Route;
use super::*;
use crate::failover::test_nodes::{FakeNode, status};
use crate::kv::api::NodeRole;
use crate::router::{ReadPolicy, RouterConfig};
use crate::seam::TokioEnv;
use crate::testenv::block_on;
use std::collections::BTreeMap;

const LIMIT: Duration = Duration::from_millis(500);

fn group(node: &FakeNode) -> RouterConfig {
    RouterConfig {
        members: vec![node.addr.clone()],
        reads: ReadPolicy::Primary,
        max_lag: None,
        read_your_writes: false,
        probe_every: Duration::from_secs(3600),
    }
}

/// Groups "a" and "b", acme on a and globex on b, other tenants jump-hashed.
fn sharded(a: &FakeNode, b: &FakeNode, default: Option<&str>) -> AppConfig {
    let tenants = BTreeMap::from([("acme".to_string(), "a".to_string()), ("globex".to_string(), "b".to_string())]);
    let db = DbRoute::Sharded(ShardedDb {
        groups: vec![("a".into(), group(a)), ("b".into(), group(b))],
        tenants,
        default: default.map(Into::into),
    });
    AppConfig::new(db, LIMIT)
}

fn puts(node: &FakeNode) -> Vec<Vec<u8>> {
    let received = node.received().into_iter();
    received.filter_map(|m| if let Msg::Put { key, .. } = m { Some(key) } else { None }).collect()
}

fn put(key: &str) -> Msg {
    Msg::Put { key: key.into(), value: b"v".to_vec() }
}

#[test]
fn keys_go_to_their_tenants_group() {
    block_on(async {
        let env = TokioEnv::new("app", "127.0.0.1", 3);
        let a = FakeNode::start(131, status(NodeRole::Primary, 1, 0)).await;
        let b = FakeNode::start(132, status(NodeRole::Primary, 1, 0)).await;
        let app = App::new(env, &sharded(&a, &b, None)).expect("a valid directory");
        for key in ["acme:k1", "globex:k1", "acme:k2", "initech:k1", "initech:k2"] {
            let reply = app.write(key.as_bytes().to_vec(), put(key)).await;
            assert!(matches!(reply, Msg::Written { .. }), "{key}: {reply:?}");
        }
        let (on_a, on_b) = (puts(&a), puts(&b));
        assert!(on_a.starts_with(&[b"acme:k1".to_vec()]) && on_a.contains(&b"acme:k2".to_vec()), "{on_a:?}");
        assert!(on_b.contains(&b"globex:k1".to_vec()) && !on_b.iter().any(|k| k.starts_with(b"acme")), "{on_b:?}");
        // An unknown tenant's keys stay together, on one group.
        let initech_on_a = on_a.iter().filter(|k| k.starts_with(b"initech")).count();
        let initech_on_b = on_b.iter().filter(|k| k.starts_with(b"initech")).count();
        assert!((initech_on_a, initech_on_b) == (2, 0) || (initech_on_a, initech_on_b) == (0, 2));
        let Route::Sharded { groups, .. } = &app.store.route else { panic!("a sharded route") };
        assert_eq!(groups.len(), 2);
    });
}

#[test]
fn a_dead_group_fails_only_its_tenants_and_health_needs_one_group() {
    block_on(async {
        let env = TokioEnv::new("app", "127.0.0.1", 3);
        let a = FakeNode::start(133, status(NodeRole::Primary, 1, 0)).await;
        let b = FakeNode::start(134, status(NodeRole::Primary, 1, 0)).await;
        let app = App::new(env, &sharded(&a, &b, Some("a"))).expect("a valid directory");
        assert_eq!(app.health().await, Ok(()));
        b.set(|s| s.silent = true);
        assert!(matches!(app.get(b"acme:k".to_vec(), 0).await, Msg::Value { .. }));
        assert!(matches!(app.get(b"other:k".to_vec(), 0).await, Msg::Value { .. }), "unknown tenants go to a");
        let Msg::Error { code: ErrorCode::Upstream, detail } = app.get(b"globex:k".to_vec(), 0).await else {
            panic!("globex lives on the silent group");
        };
        assert!(detail.contains(&b.addr), "{detail}");
        assert_eq!(app.health().await, Ok(()), "group a still answers");
        a.set(|s| s.silent = true);
        let failed = app.health().await.expect_err("no group answers");
        assert!(failed.contains("group a") && failed.contains("group b"), "{failed}");
        // The routers share their counters: every read above is counted once, whichever group.
        let Route::Sharded { groups, .. } = &app.store.route else { panic!("a sharded route") };
        assert_eq!(groups[0].stats(), groups[1].stats());
        assert!(groups[0].stats().reads_primary >= 3, "{:?}", groups[0].stats());
    });
}

#[test]
fn a_tenant_on_an_unknown_group_is_refused() {
    block_on(async {
        let env = TokioEnv::new("app", "127.0.0.1", 3);
        let a = FakeNode::start(135, status(NodeRole::Primary, 1, 0)).await;
        let mut config = sharded(&a, &a, None);
        let DbRoute::Sharded(db) = &mut config.db else { unreachable!() };
        db.tenants.insert("umbrella".into(), "c".into());
        let Err(error) = App::new(env, &config) else { panic!("group c does not exist") };
        let error = error.to_string();
        assert!(error.starts_with("sharded db: ") && error.contains("umbrella"), "{error}");
    });
}
