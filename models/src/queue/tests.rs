//! The broker's state machine against SQS's contract, and its invariants under random
//! operation sequences; the broker host and a worker on the seam.

use super::QueueConfig;
use super::broker::{AckError, Broker, Record, SendError};
use proptest::prelude::*;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn queue(max_depth: usize, max_receives: u32) -> QueueConfig {
    QueueConfig { max_depth, max_receives, visibility: ms(100), ..QueueConfig::new("q") }
}

#[test]
fn a_received_message_is_invisible_until_its_lease_runs_out() {
    let mut b = Broker::new(&[queue(0, 0)], 1);
    let (id, _) = b.send("q", b"k", b"v", ms(0)).unwrap();
    let first = b.receive("q", None, ms(1)).unwrap().expect("a message");
    assert_eq!((first.id, first.receives), (id, 1));
    assert_eq!(b.receive("q", None, ms(50)).unwrap(), None, "invisible while leased");
    assert_eq!(b.stats(ms(50)).inflight, 1);
    let again = b.receive("q", None, ms(101)).unwrap().expect("visible again");
    assert_eq!((again.id, again.receives), (id, 2));
    assert_eq!(b.redeliveries, 1);
}

#[test]
fn a_stale_receipt_does_not_delete_a_redelivered_message() {
    let mut b = Broker::new(&[queue(0, 0)], 1);
    let (id, _) = b.send("q", b"", b"v", ms(0)).unwrap();
    let first = b.receive("q", None, ms(0)).unwrap().unwrap();
    let second = b.receive("q", None, ms(150)).unwrap().unwrap();
    assert_eq!(b.ack("q", id, first.receipt), Err(AckError::Stale));
    assert_eq!(b.held("q"), [id], "still there");
    assert_eq!(b.ack("q", id, second.receipt), Ok(()));
    assert!(b.held("q").is_empty());
    assert_eq!(b.ack("q", id, second.receipt), Err(AckError::Stale), "deleted once");
    assert_eq!(b.deleted, 1);
}

#[test]
fn past_max_receives_a_message_goes_to_the_dead_letter_queue_and_others_flow() {
    let mut b = Broker::new(&[queue(0, 3)], 1);
    let (poison, _) = b.send("q", b"poison", b"", ms(0)).unwrap();
    for n in 1..=3 {
        let d = b.receive("q", None, ms(n * 200)).unwrap().unwrap();
        assert_eq!((d.id, d.receives), (poison, n as u32));
        b.nack("q", d.id, d.receipt, ms(0), ms(n * 200)).unwrap();
    }
    let (good, _) = b.send("q", b"good", b"", ms(700)).unwrap();
    let d = b.receive("q", None, ms(800)).unwrap().unwrap();
    assert_eq!(d.id, good, "the poison message is dead-lettered, the next one delivered");
    assert_eq!(b.dead_letters("q"), [poison]);
    assert_eq!(b.stats(ms(800)).dead, 1);
    assert!(b.take_journal().contains(&Record::Dead { queue: "q".into(), id: poison }));
}

#[test]
fn a_bounded_queue_answers_full() {
    let mut b = Broker::new(&[queue(2, 0)], 1);
    b.send("q", b"", b"", ms(0)).unwrap();
    b.send("q", b"", b"", ms(0)).unwrap();
    assert_eq!(b.send("q", b"", b"", ms(0)), Err(SendError::Full));
    assert_eq!(b.refused, 1);
    let d = b.receive("q", None, ms(1)).unwrap().unwrap();
    b.ack("q", d.id, d.receipt).unwrap();
    assert!(b.send("q", b"", b"", ms(2)).is_ok(), "room again after a delete");
    assert_eq!(b.send("nope", b"", b"", ms(2)), Err(SendError::NoQueue));
}

#[test]
fn a_nack_delays_the_next_delivery() {
    let mut b = Broker::new(&[queue(0, 0)], 1);
    b.send("q", b"", b"", ms(0)).unwrap();
    let d = b.receive("q", None, ms(0)).unwrap().unwrap();
    b.nack("q", d.id, d.receipt, ms(30), ms(10)).unwrap();
    assert_eq!(b.receive("q", None, ms(39)).unwrap(), None);
    assert_eq!(b.stats(ms(39)).depth, 1, "a delayed message counts in the depth, not in flight");
    assert!(b.receive("q", None, ms(40)).unwrap().is_some());
}

#[test]
fn a_consumer_receives_only_from_its_partitions() {
    let config = QueueConfig { partitions: 2, ..queue(0, 0) };
    let mut b = Broker::new(&[config], 1);
    let mut by_partition = [Vec::new(), Vec::new()];
    for n in 0..8u8 {
        let (id, p) = b.send("q", &[n], b"", ms(0)).unwrap();
        by_partition[p as usize].push(id);
    }
    assert!(by_partition.iter().all(|p| !p.is_empty()), "keys spread over both partitions");
    // Once both have joined, "a" owns partition 0 and "b" partition 1 (name order).
    b.receive("q", Some(("g", "a")), ms(1)).unwrap();
    b.receive("q", Some(("g", "b")), ms(1)).unwrap();
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for t in 2..12 {
        got_a.extend(b.receive("q", Some(("g", "a")), ms(t)).unwrap().map(|d| d.id));
        got_b.extend(b.receive("q", Some(("g", "b")), ms(t)).unwrap().map(|d| d.id));
    }
    assert!(!got_a.is_empty() && !got_b.is_empty());
    assert!(got_a.iter().all(|id| by_partition[0].contains(id)), "a took only from partition 0");
    assert!(got_b.iter().all(|id| by_partition[1].contains(id)), "b took only from partition 1");
    assert_eq!(b.receive("q", Some(("g", "c")), ms(12)).unwrap(), None, "a third consumer idles");
}

#[test]
fn replay_rebuilds_the_queue_and_ids_stay_unique_across_lives() {
    let mut b = Broker::new(&[queue(0, 2)], 1);
    let (a, _) = b.send("q", b"a", b"1", ms(0)).unwrap();
    let (c, _) = b.send("q", b"c", b"2", ms(0)).unwrap();
    let d = b.receive("q", None, ms(1)).unwrap().unwrap();
    b.ack("q", d.id, d.receipt).unwrap();
    let journal = b.take_journal();
    let mut again = Broker::new(&[queue(0, 2)], 2);
    again.replay(journal, ms(5));
    assert_eq!(again.held("q"), [c]);
    assert_eq!((again.accepted, again.deleted), (2, 1));
    let (next, _) = again.send("q", b"", b"", ms(6)).unwrap();
    assert!(next != a && next != c && next > c);
}

#[derive(Debug, Clone)]
enum Op {
    Send,
    Receive,
    Ack(usize),
    StaleAck(usize),
    Nack(usize),
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Send),
        3 => Just(Op::Receive),
        2 => (0usize..8).prop_map(Op::Ack),
        1 => (0usize..8).prop_map(Op::StaleAck),
        1 => (0usize..8).prop_map(Op::Nack),
        2 => (1u64..150).prop_map(Op::Wait),
    ]
}

proptest! {
    /// Whatever happens, every accepted message is held, deleted or dead-lettered exactly once
    /// (the delivery invariant the report's accounting check judges), the bound holds, and the
    /// log's replay rebuilds the same queue.
    #[test]
    fn every_accepted_message_is_held_deleted_or_dead(ops in proptest::collection::vec(op(), 1..120)) {
        let mut b = Broker::new(&[queue(5, 3)], 1);
        let mut now = Duration::ZERO;
        let mut leases: Vec<(u64, u64)> = Vec::new();
        let mut old: Vec<(u64, u64)> = Vec::new();
        let mut journal = Vec::new();
        for op in ops {
            match op {
                Op::Send => { let _ = b.send("q", b"", b"", now); }
                Op::Receive => {
                    if let Some(d) = b.receive("q", None, now).unwrap() {
                        leases.retain(|(id, r)| { if *id == d.id { old.push((*id, *r)); } *id != d.id });
                        leases.push((d.id, d.receipt));
                    }
                }
                Op::Ack(i) if !leases.is_empty() => {
                    let (id, r) = leases.remove(i % leases.len());
                    prop_assert_eq!(b.ack("q", id, r), Ok(()));
                }
                Op::StaleAck(i) if !old.is_empty() => {
                    let (id, r) = old[i % old.len()];
                    prop_assert_eq!(b.ack("q", id, r), Err(AckError::Stale));
                }
                Op::Nack(i) if !leases.is_empty() => {
                    let (id, r) = leases.remove(i % leases.len());
                    prop_assert_eq!(b.nack("q", id, r, ms(20), now), Ok(()));
                }
                Op::Ack(_) | Op::StaleAck(_) | Op::Nack(_) => {}
                Op::Wait(n) => now += ms(n),
            }
            // A lease whose message went to the dead-letter queue is stale from now on.
            let dead = b.dead_letters("q");
            leases.retain(|(id, _)| !dead.contains(id));
            journal.extend(b.take_journal());
            let held = b.held("q").len() as u64;
            prop_assert!(held <= 5);
            prop_assert_eq!(b.accepted, held + b.deleted + dead.len() as u64);
        }
        let mut replayed = Broker::new(&[queue(5, 3)], 2);
        replayed.replay(journal, now);
        prop_assert_eq!(replayed.held("q"), b.held("q"));
        prop_assert_eq!(replayed.dead_letters("q"), b.dead_letters("q"));
        prop_assert_eq!((replayed.accepted, replayed.deleted), (b.accepted, b.deleted));
    }
}

/// The broker host on loopback sockets: its answers, a send that waits for room, a restart
/// that keeps or loses messages as the fsync choice says, and bad bytes.
mod net {
    use crate::client::Client;
    use crate::queue::api::QueueMsg;
    use crate::queue::host::{BrokerConfig, BrokerHost};
    use crate::queue::{QueueConfig, QueueFsync};
    use crate::seam::{Env, MemDisk};
    use crate::server::{Capacity, ServiceTime, serve};
    use crate::testenv::{TestEnv, block_on};
    use std::rc::Rc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_secs(5);

    fn config(max_depth: usize, fsync: QueueFsync, send_wait: Option<Duration>) -> BrokerConfig {
        BrokerConfig { queues: vec![QueueConfig { max_depth, ..QueueConfig::new("q") }], fsync, send_wait }
    }

    /// Starts a broker on `disk`, served on a fresh loopback port; returns it and its address.
    async fn broker(disk: &Rc<MemDisk>, config: BrokerConfig) -> (BrokerHost<TestEnv>, String, TestEnv) {
        let env = TestEnv::with_disk("mq", disk.clone());
        let listener = env.bind(0).await.expect("bind");
        let addr = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let host = BrokerHost::start(env.clone(), config).expect("recovers");
        let served = host.clone();
        let e = env.clone();
        tokio::task::spawn_local(async move {
            let _ = serve(e, listener, Capacity::new(4, 100, ServiceTime::Zero), served).await;
        });
        (host, addr, env)
    }

    fn send(key: &str) -> QueueMsg {
        QueueMsg::Send { queue: "q".into(), key: key.into(), body: vec![1] }
    }

    #[test]
    fn the_host_answers_sends_receives_and_acks() {
        block_on(async {
            let disk = Rc::new(MemDisk::new());
            let (_host, addr, env) = broker(&disk, config(1, QueueFsync::Always, None)).await;
            let c: Client<TestEnv, QueueMsg> = Client::new(env.clone(), addr, LIMIT);
            assert!(matches!(c.call(send("a"), LIMIT).await.unwrap(), QueueMsg::Sent { .. }));
            assert_eq!(c.call(send("b"), LIMIT).await.unwrap(), QueueMsg::Full { depth: 1 });
            let receive = QueueMsg::Receive { queue: String::new(), group: String::new(), consumer: "w".into() };
            let QueueMsg::Delivered { id, receipt, receives: 1, .. } = c.call(receive, LIMIT).await.unwrap() else {
                panic!("a delivery from the first queue, named by \"\"")
            };
            let stale = QueueMsg::Ack { queue: "q".into(), id, receipt: receipt + 1 };
            assert_eq!(c.call(stale, LIMIT).await.unwrap(), QueueMsg::Acked { id, done: 0 });
            assert_eq!(env.gauge(faultline_vocab::gauge::QUEUE_INFLIGHT), Some(1));
            let ack = QueueMsg::Ack { queue: "q".into(), id, receipt };
            assert_eq!(c.call(ack, LIMIT).await.unwrap(), QueueMsg::Acked { id, done: 1 });
            assert_eq!(env.gauge(faultline_vocab::gauge::QUEUE_DELETED), Some(1));
            assert_eq!(env.gauge(faultline_vocab::gauge::QUEUE_FULL), Some(1));
            let nowhere = QueueMsg::Send { queue: "nope".into(), key: vec![], body: vec![] };
            assert!(matches!(c.call(nowhere, LIMIT).await.unwrap(), QueueMsg::Error { .. }));
        });
    }

    #[test]
    fn a_waiting_send_gets_in_when_room_is_made() {
        block_on(async {
            let disk = Rc::new(MemDisk::new());
            let (host, addr, env) = broker(&disk, config(1, QueueFsync::Always, Some(LIMIT))).await;
            let c = Rc::new(Client::<TestEnv, QueueMsg>::new(env.clone(), addr, LIMIT));
            c.call(send("a"), LIMIT).await.unwrap();
            let waiting = tokio::task::spawn_local({
                let c = c.clone();
                async move { c.call(send("b"), LIMIT).await.unwrap() }
            });
            tokio::task::yield_now().await;
            let receive = QueueMsg::Receive { queue: "q".into(), group: String::new(), consumer: "w".into() };
            let QueueMsg::Delivered { id, receipt, .. } = c.call(receive, LIMIT).await.unwrap() else { panic!() };
            c.call(QueueMsg::Ack { queue: "q".into(), id, receipt }, LIMIT).await.unwrap();
            assert!(matches!(waiting.await.unwrap(), QueueMsg::Sent { .. }), "the wait ended with room");
            assert_eq!(host.broker().held("q").len(), 1);
        });
    }

    #[test]
    fn a_restart_keeps_synced_messages_and_loses_the_unsynced_ones() {
        for (fsync, kept) in [(QueueFsync::Always, 2), (QueueFsync::Never, 0)] {
            block_on(async {
                let disk = Rc::new(MemDisk::new());
                let (_, addr, env) = broker(&disk, config(0, fsync, None)).await;
                let c: Client<TestEnv, QueueMsg> = Client::new(env.clone(), addr, LIMIT);
                c.call(send("a"), LIMIT).await.unwrap();
                c.call(send("b"), LIMIT).await.unwrap();
                disk.crash();
                let again = BrokerHost::start(TestEnv::with_disk("mq", disk.clone()), config(0, fsync, None)).unwrap();
                assert_eq!(again.broker().held("q").len(), kept, "{fsync:?}");
                assert_eq!(again.broker().accepted, kept as u64, "{fsync:?}");
            });
        }
    }

    /// Makes round trips to the broker through `c` until `done` holds (bounded: the worker's
    /// exchanges with the broker need a few rounds only).
    async fn until(c: &Client<TestEnv, QueueMsg>, done: impl Fn() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            round_trip(c).await;
        }
        panic!("the condition never held");
    }

    /// One request to the broker and its answer (a send to a queue it does not have).
    async fn round_trip(c: &Client<TestEnv, QueueMsg>) {
        let nowhere = QueueMsg::Send { queue: "nope".into(), key: vec![], body: vec![] };
        assert!(matches!(c.call(nowhere, LIMIT).await, Ok(QueueMsg::Error { .. })));
    }

    #[test]
    fn the_planted_bug_acks_before_processing_and_the_honest_worker_after() {
        use crate::queue::backoff::Backoff;
        use crate::queue::worker::{self, WorkerConfig};
        use faultline_vocab::gauge::{QUEUE_DELETED, QUEUE_INFLIGHT, WORKER_PROCESSED};
        for planted in [false, true] {
            block_on(async move {
                let disk = Rc::new(MemDisk::new());
                let (_host, addr, env) = broker(&disk, config(0, QueueFsync::Always, None)).await;
                let c: Client<TestEnv, QueueMsg> = Client::new(env.clone(), addr.clone(), LIMIT);
                c.call(send("a"), LIMIT).await.unwrap();
                let worker_env = TestEnv::manual("worker");
                let config = WorkerConfig {
                    broker: addr,
                    queue: "q".into(),
                    group: None,
                    slots: 1,
                    service_time: ServiceTime::Fixed(Duration::from_secs(1)),
                    poison: None,
                    idempotent: false,
                    backoff: Backoff { base: Duration::from_millis(10), cap: Duration::from_secs(1) },
                    poll: Duration::from_secs(1),
                    timeout: LIMIT,
                    plant_ack_before_process: planted,
                };
                tokio::task::spawn_local(worker::run(worker_env.clone(), config));
                until(&c, || env.gauge(QUEUE_INFLIGHT) == Some(1) || env.gauge(QUEUE_DELETED) == Some(1)).await;
                if planted {
                    until(&c, || env.gauge(QUEUE_DELETED) == Some(1)).await;
                } else {
                    for _ in 0..10 {
                        round_trip(&c).await;
                    }
                    assert_ne!(env.gauge(QUEUE_DELETED), Some(1), "not deleted while it is processed");
                }
                assert_eq!(worker_env.gauge(WORKER_PROCESSED), Some(0), "the processing takes a second");
                worker_env.advance(Duration::from_secs(1));
                until(&c, || worker_env.gauge(WORKER_PROCESSED) == Some(1)).await;
                until(&c, || env.gauge(QUEUE_DELETED) == Some(1)).await;
            });
        }
    }

    #[test]
    fn bad_bytes_close_the_connection_and_the_broker_serves_on() {
        block_on(async {
            let disk = Rc::new(MemDisk::new());
            let (_, addr, env) = broker(&disk, config(0, QueueFsync::Always, None)).await;
            let mut raw = env.connect(&addr).await.expect("connect");
            raw.write_all(&[0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1, 99, 7]).await.unwrap();
            let mut buf = Vec::new();
            let _ = raw.read_to_end(&mut buf).await;
            let c: Client<TestEnv, QueueMsg> = Client::new(env.clone(), addr, LIMIT);
            assert!(matches!(c.call(send("a"), LIMIT).await.unwrap(), QueueMsg::Sent { .. }));
        });
    }
}
