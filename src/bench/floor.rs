//! The floor: the echo workload as a bare single-threaded discrete-event loop. A binary heap
//! of (time, sequence, event); a request reaches its server one link latency after it is sent,
//! the reply reaches the user one latency later, and the user sends its next request at once.
//! No bytes, no sockets, no tasks: what any simulator of this topology must at least pay (one
//! heap push and pop per message).
//!
//! Owns: that loop and its closed-form check. Must not: grow features: it is a yardstick.

use super::{Engine, LINK_LATENCY, Measurement, Topology};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What happens at a point of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// User `user`'s request reaches its server.
    RequestArrives { user: u32 },
    /// The reply reaches user `user`.
    ReplyArrives { user: u32 },
}

/// Runs the loop for `duration` of simulated time; a round trip counts when its reply arrives
/// at or before the end, so the count is `users * floor(duration / 2 ms)`.
pub fn run(topology: Topology, duration: Duration) -> Measurement {
    let started = Instant::now();
    let (round_trips, _served) = simulate(topology, duration);
    let wall = started.elapsed();
    Measurement {
        engine: Engine::Floor,
        topology,
        hosts: 0,
        round_trips,
        simulated: duration,
        wall,
        setup: None,
        complete: true,
    }
}

/// The event loop: returns the round trips and the requests each server served.
fn simulate(topology: Topology, duration: Duration) -> (u64, Vec<u64>) {
    assert!(topology.servers > 0, "a benchmark needs at least one server");
    let end_ns = duration.as_nanos() as u64;
    let hop_ns = LINK_LATENCY.as_nanos() as u64;
    let mut served = vec![0u64; topology.servers as usize];
    let mut heap = BinaryHeap::with_capacity(topology.users as usize + 1);
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, t_ns: u64, event: Event| {
        heap.push(Reverse((t_ns, seq, event)));
        seq += 1;
    };
    for user in 0..topology.users {
        push(&mut heap, hop_ns, Event::RequestArrives { user });
    }
    let mut round_trips = 0u64;
    while let Some(Reverse((t_ns, _, event))) = heap.pop() {
        if t_ns > end_ns {
            break;
        }
        match event {
            Event::RequestArrives { user } => {
                served[(user % topology.servers) as usize] += 1;
                push(&mut heap, t_ns + hop_ns, Event::ReplyArrives { user });
            }
            Event::ReplyArrives { user } => {
                round_trips += 1;
                if t_ns < end_ns {
                    push(&mut heap, t_ns + hop_ns, Event::RequestArrives { user });
                }
            }
        }
    }
    (round_trips, served)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(servers: u32, users: u32, duration_ms: u64) {
        let m = run(Topology::new(servers, users), Duration::from_millis(duration_ms));
        let expected = u64::from(users) * (duration_ms / 2);
        assert_eq!(m.round_trips, expected, "{servers} servers, {users} users, {duration_ms} ms");
    }

    #[test]
    fn round_trips_match_the_closed_form() {
        check(3, 8, 200);
        check(3, 8, 201);
        check(10, 100, 1000);
        check(1, 1, 1);
        check(50, 1000, 7);
    }

    #[test]
    fn servers_share_the_load_round_robin() {
        let (round_trips, served) = simulate(Topology::new(3, 8), Duration::from_millis(100));
        assert_eq!(round_trips, 8 * 50);
        // Users 0, 3, 6 -> server 0; 1, 4, 7 -> server 1; 2, 5 -> server 2.
        assert_eq!(served, vec![3 * 50, 3 * 50, 2 * 50]);
    }
}
