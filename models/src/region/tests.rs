//! Network tests of active-active nodes on loopback sockets: replication both ways, counters
//! that lose nothing, concurrent writes resolved the same way everywhere, catching up after a
//! peer was down, a restart that keeps the journal, a runaway clock refused, and the window
//! digests two converged nodes agree on. Waits are bounded polls, never fixed sleeps.

use super::api::GeoMsg;
use super::hlc::Stamp;
use super::*;
use crate::client::Client;
use crate::kv::api::Msg;
use crate::seam::{Env, MemDisk, TokioListener};
use crate::server::{Capacity, serve};
use crate::testenv::{TestEnv, block_on};
use std::rc::Rc;
use std::time::Duration;
use tokio::task::{JoinHandle, LocalSet};

const LIMIT: Duration = Duration::from_secs(2);

fn config(origin: u16, peers: Vec<GeoPeer>) -> GeoConfig {
    GeoConfig {
        heartbeat: Duration::from_millis(10),
        window: Duration::from_millis(50),
        call_timeout: Duration::from_millis(500),
        ..GeoConfig::new(origin, peers)
    }
}

async fn bind(env: &TestEnv) -> (TokioListener, String) {
    let listener = env.bind(0).await.expect("bind on loopback");
    let port = listener.local_addr().expect("a bound address").port();
    (listener, format!("127.0.0.1:{port}"))
}

/// One region's node: its environment, its client and peer listeners' addresses.
struct Region {
    env: TestEnv,
    node: Option<GeoNode<TestEnv>>,
    host: Option<JoinHandle<()>>,
    data: String,
    peer: String,
}

/// Binds a data and a peer port for each of `n` regions.
async fn regions(n: u16) -> (Vec<Region>, Vec<(TokioListener, TokioListener)>) {
    let mut out = Vec::new();
    let mut listeners = Vec::new();
    for i in 0..n {
        let env = TestEnv::with_disk(&format!("geo{i}"), Rc::new(MemDisk::new()));
        let (data_l, data) = bind(&env).await;
        let (peer_l, peer) = bind(&env).await;
        out.push(Region { env, node: None, host: None, data, peer });
        listeners.push((data_l, peer_l));
    }
    (out, listeners)
}

fn peers_of(regions: &[Region], origin: u16) -> Vec<GeoPeer> {
    (0..regions.len() as u16)
        .filter(|i| *i != origin)
        .map(|i| GeoPeer { origin: i, addr: regions[i as usize].peer.clone() })
        .collect()
}

/// Opens region `i`'s node and serves both ports on a host of its own (aborting it kills it).
fn start(regions: &mut [Region], i: usize, listeners: (TokioListener, TokioListener)) {
    let cfg = config(i as u16, peers_of(regions, i as u16));
    let r = &mut regions[i];
    let node = GeoNode::open(r.env.clone(), cfg).expect("the journal opens");
    let (env, served) = (r.env.clone(), node.clone());
    r.host = Some(tokio::task::spawn_local(async move {
        let host = LocalSet::new();
        host.run_until(async move {
            served.replicate();
            let peer = serve(env.clone(), listeners.1, Capacity::default(), served.peer_port());
            let data = serve(env.clone(), listeners.0, Capacity::default(), served);
            let _ = tokio::join!(peer, data);
        })
        .await;
    }));
    r.node = Some(node);
}

async fn eventually(env: &TestEnv, mut ready: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if ready() {
            return true;
        }
        env.sleep(Duration::from_millis(10)).await;
    }
    false
}

fn node(r: &Region) -> &GeoNode<TestEnv> {
    r.node.as_ref().expect("started")
}

#[test]
fn writes_in_every_region_reach_every_other_and_counters_add_up() {
    block_on(async {
        let (mut rs, ls) = regions(3).await;
        for (i, l) in ls.into_iter().enumerate() {
            start(&mut rs, i, l);
        }
        let client = Client::<TestEnv, Msg>::new(rs[0].env.clone(), rs[0].data.clone(), LIMIT);
        let put = Msg::Put { key: b"a".to_vec(), value: b"from-0".to_vec() };
        assert_eq!(client.call(put, LIMIT).await.unwrap(), Msg::Written { lsn: 0, epoch: 0 });
        node(&rs[1]).write(b"b", Some(b"from-1".to_vec())).unwrap();
        for (i, delta) in [(0usize, 5i64), (1, 7), (2, -3), (0, 1)] {
            node(&rs[i]).add(b"c", delta).unwrap();
        }
        let env = rs[0].env.clone();
        let converged = eventually(&env, || {
            rs.iter().all(|r| {
                let n = node(r);
                n.get(b"a").as_deref() == Some(&b"from-0"[..])
                    && n.get(b"b").as_deref() == Some(&b"from-1"[..])
                    && n.counter(b"c") == 10
            })
        })
        .await;
        assert!(converged, "every region holds both writes and the counter's sum");
        let added = client.call(Msg::Add { key: b"c".to_vec(), delta: 2 }, LIMIT).await.unwrap();
        assert_eq!(added, Msg::Counted { value: 12 }, "a client adds through the data port");
        let read = client.call(Msg::Get { key: b"b".to_vec(), min_lsn: 0 }, LIMIT).await.unwrap();
        assert_eq!(read, Msg::Value { value: Some(b"from-1".to_vec()), lsn: 0 }, "a client reads a peer's write");
    });
}

#[test]
fn concurrent_writes_to_one_key_end_the_same_everywhere_and_the_loser_is_reported() {
    block_on(async {
        let (mut rs, ls) = regions(2).await;
        for (i, l) in ls.into_iter().enumerate() {
            start(&mut rs, i, l);
        }
        // Both before either ships: concurrent.
        node(&rs[0]).write(b"k", Some(b"zero".to_vec())).unwrap();
        node(&rs[1]).write(b"k", Some(b"one".to_vec())).unwrap();
        let env = rs[0].env.clone();
        let same = eventually(&env, || {
            node(&rs[0]).get(b"k").is_some()
                && node(&rs[0]).get(b"k") == node(&rs[1]).get(b"k")
                && node(&rs[0]).discarded() + node(&rs[1]).discarded() == 1
        })
        .await;
        assert!(same, "both regions settle on one value, and one discarded the other's write");
        let reports: Vec<String> = rs
            .iter()
            .flat_map(|r| r.env.state_log())
            .map(|(_, s)| s)
            .filter(|s| s.starts_with("lww_discard"))
            .collect();
        assert_eq!(reports.len(), 1, "{reports:?}");
        let winner = node(&rs[0]).get(b"k").unwrap();
        let loser: &[u8] = if winner == b"zero" { b"one" } else { b"zero" };
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(reports[0], format!("lww_discard: 6b {} {}", hex(loser), hex(&winner)));
    });
}

#[test]
fn a_region_that_was_down_catches_up_and_a_restart_keeps_the_journal() {
    block_on(async {
        let (mut rs, mut ls) = regions(2).await;
        let second = ls.pop().unwrap();
        start(&mut rs, 0, ls.pop().unwrap());
        for i in 0..50u8 {
            node(&rs[0]).write(&[i], Some(vec![i])).unwrap();
        }
        start(&mut rs, 1, second);
        let env = rs[0].env.clone();
        assert!(eventually(&env, || (0..50u8).all(|i| node(&rs[1]).get(&[i]) == Some(vec![i]))).await, "it catches up");

        // Kill region 1 and bring it back on the same disk: its journal has everything.
        rs[1].host.take().unwrap().abort();
        rs[1].env.disk.crash();
        let node1 = GeoNode::open(rs[1].env.clone(), config(1, peers_of(&rs, 1))).unwrap();
        assert_eq!(node1.get(&[49]), Some(vec![49]), "a synced write survives the crash");
        node1.write(b"after", Some(b"x".to_vec())).unwrap();
        assert_eq!(node1.get(b"after").as_deref(), Some(&b"x"[..]));
    });
}

#[test]
fn a_batch_from_a_clock_too_far_ahead_is_refused_whole() {
    block_on(async {
        let env = TestEnv::manual("geo0");
        env.advance(Duration::from_secs(10));
        let node = GeoNode::open(env.clone(), config(0, vec![GeoPeer { origin: 1, addr: "x:1".into() }])).unwrap();
        let entry = |seq, wall_ns| super::api::Entry {
            seq,
            stamp: Stamp { wall_ns, logical: 0 },
            key: b"k".to_vec(),
            body: super::api::Body::Write(Some(vec![seq as u8])),
        };
        let now = 10_000_000_000u64;
        let ahead = Stamp { wall_ns: now + 2_000_000_000, logical: 0 };
        assert_eq!(node.receive(1, ahead, vec![entry(1, now)]), GeoMsg::Refused { ahead_ns: 2_000_000_000 });
        assert_eq!(node.get(b"k"), None, "nothing of a refused batch is applied");
        assert_eq!(node.refused(), 1);
        let near = Stamp { wall_ns: now + 100_000_000, logical: 0 };
        assert_eq!(node.receive(1, near, vec![entry(1, now)]), GeoMsg::Have { upto: 1 });
        assert_eq!(node.receive(1, near, vec![entry(3, now)]), GeoMsg::Have { upto: 1 }, "a gap is not applied");
        assert_eq!(
            node.receive(9, near, vec![]),
            GeoMsg::Error { code: crate::proto::ErrorCode::BadRequest, detail: "region 9 is not a peer".into() }
        );
        // A local write after it is stamped above the remote clock it observed.
        node.write(b"k", Some(b"local".to_vec())).unwrap();
        assert_eq!(node.get(b"k").as_deref(), Some(&b"local"[..]));
    });
}

#[test]
fn converged_regions_report_the_same_digest_for_every_window() {
    block_on(async {
        let (mut rs, ls) = regions(2).await;
        for (i, l) in ls.into_iter().enumerate() {
            start(&mut rs, i, l);
        }
        let env = rs[0].env.clone();
        for i in 0..40u8 {
            node(&rs[usize::from(i % 2)]).write(&[i % 7], Some(vec![i])).unwrap();
            env.sleep(Duration::from_millis(3)).await;
        }
        let windows = |r: &Region| -> std::collections::BTreeMap<u64, String> {
            r.env
                .state_log()
                .into_iter()
                .filter_map(|(_, s)| s.strip_prefix("geo_window: ").map(str::to_string))
                .map(|s| {
                    let (k, d) = s.split_once(' ').unwrap();
                    (k.parse().unwrap(), d.to_string())
                })
                .collect()
        };
        let last_write_window = {
            let st = node(&rs[0]).inner_windows();
            st.into_iter().filter(|(_, d)| *d != 0).map(|(k, _)| k).max().unwrap()
        };
        let held = eventually(&env, || rs.iter().all(|r| windows(r).contains_key(&(last_write_window + 1)))).await;
        assert!(held, "both regions hold every window past the last write");
        let (a, b) = (windows(&rs[0]), windows(&rs[1]));
        let common: Vec<_> = a.keys().filter(|k| b.contains_key(k)).collect();
        assert!(common.len() >= 2, "{a:?} {b:?}");
        for k in common {
            assert_eq!(a[k], b[k], "window {k}");
        }
        assert!(a.values().any(|d| d != "0000000000000000"), "windows with writes have a digest");
    });
}
