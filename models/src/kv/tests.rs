//! Network tests of the kv store on loopback sockets: replication across a primary restart,
//! resynchronisation after the primary lost unsynced writes, and malformed input.
//!
//! Each host runs on its own `LocalSet`, so aborting it drops every task it spawned and closes
//! its sockets, the way a crash does. Waits are bounded polls, never fixed sleeps.

use super::*;
use crate::client::Client;
use crate::seam::{MemDisk, TokioEnv, TokioListener};
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

async fn bind(env: &TokioEnv, port: u16) -> (TokioListener, u16) {
    let listener = env.bind(port).await.expect("bind on loopback");
    let port = listener.local_addr().expect("a bound address").port();
    (listener, port)
}

fn env(name: &str, disk: &Rc<MemDisk>) -> TokioEnv {
    TokioEnv::with_disk(name, "127.0.0.1", 7, disk.clone())
}

async fn call(client: &Client<TokioEnv>, msg: Msg) -> Msg {
    client.call(msg, LIMIT).await.expect("a reply")
}

async fn put(client: &Client<TokioEnv>, key: &str, value: &str) -> Msg {
    call(client, Msg::Put { key: key.into(), value: value.into() }).await
}

/// Polls the replica until `key` reads `value` at `lsn`; at most ~3 s.
async fn replica_reaches(env: &TokioEnv, replica: &Client<TokioEnv>, key: &str, value: Option<&str>, lsn: u64) -> bool {
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
fn a_replica_follows_its_primary_across_a_restart() {
    block_on(async {
        let (primary_disk, replica_disk) = (Rc::new(MemDisk::new()), Rc::new(MemDisk::new()));
        let primary_env = env("primary", &primary_disk);
        let config = KvConfig { fsync: FsyncPolicy::Always };
        let (listener, port) = bind(&primary_env, 0).await;
        let host = start(run_primary_on(primary_env.clone(), listener, Capacity::default(), config));
        let replica_env = env("replica", &replica_disk);
        let (replica_listener, replica_port) = bind(&replica_env, 0).await;
        let addr = format!("127.0.0.1:{port}");
        start(run_replica_on(replica_env.clone(), replica_listener, Capacity::default(), addr.clone(), config));
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
        start(run_primary_on(primary_env.clone(), listener, Capacity::default(), config));
        let writer = Client::new(primary_env.clone(), addr, LIMIT);
        assert_eq!(put(&writer, "k1", "after").await, Msg::Written { lsn: 11, epoch: 1 });
        assert!(replica_reaches(&replica_env, &replica, "k1", Some("after"), 11).await);
        assert_eq!(
            call(&replica, Msg::Get { key: b"k2".to_vec(), min_lsn: 0 }).await,
            Msg::Value { value: Some(b"before".to_vec()), lsn: 11 }
        );
    });
}

#[test]
fn a_replica_ahead_of_a_primary_that_lost_writes_resyncs() {
    block_on(async {
        let (primary_disk, replica_disk) = (Rc::new(MemDisk::new()), Rc::new(MemDisk::new()));
        let primary_env = env("primary", &primary_disk);
        let (listener, port) = bind(&primary_env, 0).await;
        let lossy = KvConfig { fsync: FsyncPolicy::Never };
        let host = start(run_primary_on(primary_env.clone(), listener, Capacity::default(), lossy));
        let replica_env = env("replica", &replica_disk);
        let (replica_listener, replica_port) = bind(&replica_env, 0).await;
        let addr = format!("127.0.0.1:{port}");
        start(run_replica_on(
            replica_env.clone(),
            replica_listener,
            Capacity::default(),
            addr.clone(),
            KvConfig::default(),
        ));
        let writer = Client::new(primary_env.clone(), addr.clone(), LIMIT);
        for i in 1..=5u64 {
            assert_eq!(put(&writer, &format!("old{i}"), "x").await, Msg::Written { lsn: i, epoch: 1 });
        }
        let replica = Client::new(replica_env.clone(), format!("127.0.0.1:{replica_port}"), LIMIT);
        assert!(replica_reaches(&replica_env, &replica, "old5", Some("x"), 5).await);

        host.abort();
        let _ = host.await;
        primary_disk.crash();
        let (listener, _) = bind(&primary_env, port).await;
        start(run_primary_on(primary_env.clone(), listener, Capacity::default(), lossy));
        let writer = Client::new(primary_env.clone(), addr, LIMIT);
        assert_eq!(put(&writer, "new", "y").await, Msg::Written { lsn: 1, epoch: 1 });
        assert!(replica_reaches(&replica_env, &replica, "new", Some("y"), 1).await);
        assert_eq!(
            call(&replica, Msg::Get { key: b"old5".to_vec(), min_lsn: 0 }).await,
            Msg::Value { value: None, lsn: 1 }
        );
    });
}

#[test]
fn a_malformed_frame_closes_only_its_connection() {
    block_on(async {
        let disk = Rc::new(MemDisk::new());
        let primary_env = env("primary", &disk);
        let (listener, port) = bind(&primary_env, 0).await;
        start(run_primary_on(primary_env.clone(), listener, Capacity::default(), KvConfig::default()));
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
        let refused = call(&client, Msg::Echo { payload: vec![1] }).await;
        assert!(matches!(refused, Msg::Error { code: ErrorCode::BadRequest, .. }), "got {refused:?}");
    });
}
