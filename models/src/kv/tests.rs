//! Network tests of the kv store on loopback sockets: replication across a primary restart (a
//! new epoch), truncation of a replica that is ahead of a primary that lost unsynced writes, a
//! managed failover whose deposed primary rejoins as a replica, and malformed input.
//!
//! Each host runs on its own `LocalSet`, so aborting it drops every task it spawned and closes
//! its sockets, the way a crash does. Waits are bounded polls, never fixed sleeps.

use super::*;
use crate::client::Client;
use crate::kv::api::{Msg, NodeRole};
use crate::seam::{Knob, MemDisk, TokioListener};
use crate::server::{Capacity, serve};
use crate::testenv::TestEnv;
use std::future::Future;
use tokio::io::AsyncWriteExt;
use tokio::task::{JoinHandle, LocalSet};

const LIMIT: Duration = Duration::from_secs(2);

fn block_on<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    LocalSet::new().block_on(&rt, f)
}

/// Runs `model` as a host on its own `LocalSet`; aborting the handle kills the host.
fn start(model: impl Future<Output = io::Result<()>> + 'static) -> JoinHandle<()> {
    tokio::task::spawn_local(async move {
        let host = LocalSet::new();
        let _ = host.run_until(model).await;
    })
}

/// Opens a primary and serves it on `listener`, inside the calling host (so the host owns it).
async fn serve_primary(env: TestEnv, listener: TokioListener, capacity: Capacity, config: KvConfig) -> io::Result<()> {
    serve(env.clone(), listener, capacity, KvNode::primary(env, config)?).await
}

/// Opens a replica of `primary` and serves it on `listener`, inside the calling host.
async fn serve_replica(
    env: TestEnv,
    listener: TokioListener,
    capacity: Capacity,
    primary: String,
    config: KvConfig,
) -> io::Result<()> {
    serve(env.clone(), listener, capacity, KvNode::replica(env, config, primary)?).await
}

async fn bind(env: &TestEnv, port: u16) -> (TokioListener, u16) {
    let listener = env.bind(port).await.expect("bind on loopback");
    let port = listener.local_addr().expect("a bound address").port();
    (listener, port)
}

fn env(name: &str, disk: &Rc<MemDisk>) -> TestEnv {
    TestEnv::with_disk(name, disk.clone())
}

async fn call(client: &Client<TestEnv, Msg>, msg: Msg) -> Msg {
    client.call(msg, LIMIT).await.expect("a reply")
}

async fn put(client: &Client<TestEnv, Msg>, key: &str, value: &str) -> Msg {
    call(client, Msg::Put { key: key.into(), value: value.into() }).await
}

/// Polls the replica until `key` reads `value` at `lsn`; at most ~3 s.
async fn replica_reaches(
    env: &TestEnv,
    replica: &Client<TestEnv, Msg>,
    key: &str,
    value: Option<&str>,
    lsn: u64,
) -> bool {
    let expected = Msg::Value { value: value.map(Into::into), lsn };
    for _ in 0..300 {
        if replica.call(Msg::Get { key: key.into(), min_lsn: 0 }, LIMIT).await.ok().as_ref() == Some(&expected) {
            return true;
        }
        env.sleep(Duration::from_millis(10)).await;
    }
    false
}

#[test]
fn a_replica_follows_its_primary_across_a_restart_into_a_new_epoch() {
    block_on(async {
        let (primary_disk, replica_disk) = (Rc::new(MemDisk::new()), Rc::new(MemDisk::new()));
        let primary_env = env("primary", &primary_disk);
        let config = KvConfig::default();
        let (listener, port) = bind(&primary_env, 0).await;
        let host = start(serve_primary(primary_env.clone(), listener, Capacity::default(), config));
        let replica_env = env("replica", &replica_disk);
        let (replica_listener, replica_port) = bind(&replica_env, 0).await;
        let addr = format!("127.0.0.1:{port}");
        start(serve_replica(replica_env.clone(), replica_listener, Capacity::default(), addr.clone(), config));
        let writer = Client::new(primary_env.clone(), addr.clone(), LIMIT);
        for i in 1..=10u64 {
            assert_eq!(put(&writer, &format!("k{i}"), "before").await, Msg::Written { lsn: i, epoch: 1 });
        }
        let replica = Client::new(replica_env.clone(), format!("127.0.0.1:{replica_port}"), LIMIT);
        assert!(replica_reaches(&replica_env, &replica, "k10", Some("before"), 10).await);

        host.abort();
        let _ = host.await;
        primary_disk.crash();
        let (listener, _) = bind(&primary_env, port).await;
        start(serve_primary(primary_env.clone(), listener, Capacity::default(), config));
        let writer = Client::new(primary_env.clone(), addr, LIMIT);
        assert_eq!(put(&writer, "k1", "after").await, Msg::Written { lsn: 11, epoch: 2 });
        assert!(replica_reaches(&replica_env, &replica, "k1", Some("after"), 11).await);
        assert_eq!(
            call(&replica, Msg::Get { key: b"k2".to_vec(), min_lsn: 0 }).await,
            Msg::Value { value: Some(b"before".to_vec()), lsn: 11 }
        );
        let status = call(&replica, Msg::Check { epoch: 0, lease_ms: 0 }).await;
        assert!(matches!(status, Msg::Status(s) if s.epoch == 2 && s.last_epoch == 2), "got {status:?}");
    });
}

#[test]
fn a_replica_ahead_of_a_primary_that_lost_writes_truncates_to_the_agreed_prefix() {
    block_on(async {
        let (primary_disk, replica_disk) = (Rc::new(MemDisk::new()), Rc::new(MemDisk::new()));
        let primary_env = env("primary", &primary_disk);
        let (listener, port) = bind(&primary_env, 0).await;
        let synced = KvConfig::default();
        let lossy = KvConfig { fsync: FsyncPolicy::Never, ..KvConfig::default() };
        let host = start(serve_primary(primary_env.clone(), listener, Capacity::default(), synced));
        let replica_env = env("replica", &replica_disk);
        let (replica_listener, replica_port) = bind(&replica_env, 0).await;
        let addr = format!("127.0.0.1:{port}");
        start(serve_replica(replica_env.clone(), replica_listener, Capacity::default(), addr.clone(), synced));
        let writer = Client::new(primary_env.clone(), addr.clone(), LIMIT);
        assert_eq!(put(&writer, "kept", "x").await, Msg::Written { lsn: 1, epoch: 1 });
        host.abort();
        let _ = host.await;
        let (listener, _) = bind(&primary_env, port).await;
        let host = start(serve_primary(primary_env.clone(), listener, Capacity::default(), lossy));
        let writer = Client::new(primary_env.clone(), addr.clone(), LIMIT);
        for i in 2..=5u64 {
            assert_eq!(put(&writer, &format!("old{i}"), "x").await, Msg::Written { lsn: i, epoch: 2 });
        }
        let replica = Client::new(replica_env.clone(), format!("127.0.0.1:{replica_port}"), LIMIT);
        assert!(replica_reaches(&replica_env, &replica, "old5", Some("x"), 5).await);

        host.abort();
        let _ = host.await;
        primary_disk.crash();
        let (listener, _) = bind(&primary_env, port).await;
        start(serve_primary(primary_env.clone(), listener, Capacity::default(), lossy));
        let writer = Client::new(primary_env.clone(), addr, LIMIT);
        assert_eq!(put(&writer, "new", "y").await, Msg::Written { lsn: 2, epoch: 3 });
        assert!(replica_reaches(&replica_env, &replica, "new", Some("y"), 2).await);
        assert_eq!(
            call(&replica, Msg::Get { key: b"old5".to_vec(), min_lsn: 0 }).await,
            Msg::Value { value: None, lsn: 2 }
        );
        assert_eq!(
            call(&replica, Msg::Get { key: b"kept".to_vec(), min_lsn: 0 }).await,
            Msg::Value { value: Some(b"x".to_vec()), lsn: 2 }
        );
        let dropped = replica_env.state("truncated").expect("a truncation report");
        assert!(dropped.starts_with("dropped 4 entries after lsn 1"), "{dropped}");
    });
}

#[test]
fn a_deposed_primary_rejoins_as_a_replica_of_the_new_one() {
    block_on(async {
        let managed = KvConfig { managed: true, ..KvConfig::default() };
        let (a_env, b_env) = (env("db-a", &Rc::new(MemDisk::new())), env("db-b", &Rc::new(MemDisk::new())));
        let (a_listener, a_port) = bind(&a_env, 0).await;
        let (b_listener, b_port) = bind(&b_env, 0).await;
        let (a_addr, b_addr) = (format!("127.0.0.1:{a_port}"), format!("127.0.0.1:{b_port}"));
        start(serve_primary(a_env.clone(), a_listener, Capacity::default(), managed));
        start(serve_replica(b_env.clone(), b_listener, Capacity::default(), a_addr.clone(), managed));
        let (a, b) = (Client::new(a_env.clone(), a_addr, LIMIT), Client::new(b_env.clone(), b_addr.clone(), LIMIT));
        assert!(matches!(put(&a, "k", "v").await, Msg::Error { code: ErrorCode::NotPrimary, .. }), "no lease yet");
        assert!(matches!(call(&a, Msg::Check { epoch: 1, lease_ms: 60_000 }).await, Msg::Status(_)));
        for i in 1..=3u64 {
            assert_eq!(put(&a, &format!("k{i}"), "a").await, Msg::Written { lsn: i, epoch: 1 });
        }
        assert!(replica_reaches(&b_env, &b, "k3", Some("a"), 3).await);

        // b stops applying: the next two writes reach only a's log.
        b_env.inner.set_knob(Knob::ApplyDelay, 3_600_000_000_000);
        for i in 4..=5u64 {
            assert_eq!(put(&a, &format!("k{i}"), "a").await, Msg::Written { lsn: i, epoch: 1 });
        }
        let promoted = call(&b, Msg::Promote { epoch: 2 }).await;
        assert!(matches!(promoted, Msg::Status(s) if s.role == NodeRole::Primary && s.lsn == 3), "got {promoted:?}");
        assert!(matches!(call(&b, Msg::Check { epoch: 2, lease_ms: 60_000 }).await, Msg::Status(_)));
        assert_eq!(put(&b, "k4", "b").await, Msg::Written { lsn: 4, epoch: 2 });

        let stale = call(&a, Msg::Follow { primary: b_addr.clone(), epoch: 0 }).await;
        assert!(matches!(stale, Msg::Error { code: ErrorCode::Fenced, .. }), "got {stale:?}");
        let followed = call(&a, Msg::Follow { primary: b_addr, epoch: 2 }).await;
        assert!(matches!(followed, Msg::Status(s) if s.role == NodeRole::Replica), "got {followed:?}");
        assert!(replica_reaches(&a_env, &a, "k4", Some("b"), 4).await);
        assert_eq!(call(&a, Msg::Get { key: b"k5".to_vec(), min_lsn: 4 }).await, Msg::Value { value: None, lsn: 4 });
        assert!(matches!(put(&a, "k6", "a").await, Msg::Error { code: ErrorCode::NotPrimary, .. }));
        let status = call(&a, Msg::Check { epoch: 0, lease_ms: 0 }).await;
        assert!(matches!(status, Msg::Status(s) if (s.epoch, s.lsn, s.last_epoch) == (2, 4, 2)), "got {status:?}");
    });
}

#[test]
fn a_malformed_frame_closes_only_its_connection() {
    block_on(async {
        let disk = Rc::new(MemDisk::new());
        let primary_env = env("primary", &disk);
        let (listener, port) = bind(&primary_env, 0).await;
        start(serve_primary(primary_env.clone(), listener, Capacity::default(), KvConfig::default()));
        let addr = format!("127.0.0.1:{port}");
        let mut raw = primary_env.connect(&addr).await.expect("connect");
        raw.write_all(&[0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 99]).await.expect("send garbage");
        raw.write_all(&u32::MAX.to_be_bytes()).await.expect("send an oversized length");
        let client = Client::new(primary_env.clone(), addr, LIMIT);
        assert_eq!(put(&client, "k", "v").await, Msg::Written { lsn: 1, epoch: 1 });
        assert_eq!(
            call(&client, Msg::Get { key: b"k".to_vec(), min_lsn: 0 }).await,
            Msg::Value { value: Some(b"v".to_vec()), lsn: 1 }
        );
        let refused = call(&client, Msg::Value { value: None, lsn: 1 }).await;
        assert!(matches!(refused, Msg::Error { code: ErrorCode::BadRequest, .. }), "got {refused:?}");
    });
}
