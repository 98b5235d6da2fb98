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
