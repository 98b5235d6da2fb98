//! Loads past what the simulated network holds at once: each run ends with a report in which
//! the overload shows as queueing, timeouts and errors, never as a panic inside the engine.
//!
//! Turmoil's listener queues at most 64 connection requests and panicked on the 65th to arrive
//! in one step; a host's connections share 16384 ports. The stream layer holds connects back
//! within those limits (see `world::stream`), as TCP's flow control holds a sender back.

use crate::util;
use util::{go, scenario};

/// One echo host and a closed loop of `USERS` users, every one connecting at the first step.
const ONE_LISTENER: &str = r#"
name = "one listener"
duration = "1s"
[network]
latency = "1ms"
[[hosts]]
name = "echo"
service = "echo"
[workload]
targets = ["echo"]
users = USERS
arrival = { closed = { think = "0ms" } }
"#;

#[test]
fn sixty_five_connections_at_once_to_one_listener_queue_and_all_succeed() {
    // The smallest load that panicked: one connection request more than the listener holds.
    for users in [64, 65, 200] {
        let o = go(&scenario(&ONE_LISTENER.replace("USERS", &users.to_string())), 1);
        let e = &o.report.end_to_end;
        assert!(e.requests > 1000, "{users} users: {e:?}");
        assert_eq!(e.ok, e.requests - e.outstanding_at_end, "{users} users: every request answered");
        assert_eq!(e.errors + e.unreachable, 0, "{users} users: {e:?}");
        // The users past the first 64 wait for a place: a round trip or two, not a timeout.
        assert!(e.latency.max_ms < 10.0, "{users} users: max {} ms", e.latency.max_ms);
        assert!(o.report.passed(), "{}", o.report.render_text());
    }
}

#[test]
fn a_thousand_users_on_three_hosts_run_to_the_end_deterministically() {
    // `scenarios/echo.toml` with 1000 users, which panicked at its first step.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/echo.toml"))
        .expect("the echo scenario");
    let text = text.replace("users = 8", "users = 1000").replace("duration = \"5s\"", "duration = \"1s\"");
    let s = scenario(&text);
    let (a, b) = (go(&s, 2), go(&s, 2));
    assert_eq!(a.hash, b.hash, "the wait for a place is deterministic");
    let e = &a.report.end_to_end;
    assert_eq!(e.ok + e.outstanding_at_end, e.requests, "{e:?}");
    assert!(e.ok > 100_000, "{e:?}");
}

#[test]
fn an_open_loop_far_past_capacity_ends_in_timeouts_not_a_panic() {
    // 200 users each opening a connection in the first milliseconds at 20,000 requests/s, to
    // one worker that serves 100 requests/s.
    let text = r#"
name = "saturated"
duration = "2s"
[network]
latency = "1ms"
[[hosts]]
name = "echo"
service = "echo"
workers = 1
service_time = { fixed = "10ms" }
[workload]
targets = ["echo"]
users = 200
arrival = { poisson = { rate = 20000 } }
timeout = "200ms"
"#;
    let o = go(&scenario(text), 3);
    let e = &o.report.end_to_end;
    assert!(e.requests > 30_000, "{e:?}");
    // The server's queue sheds most of them at once; those it queued wait past their timeout.
    assert!(e.errors > e.requests / 2, "shed: {e:?}");
    assert!(e.timeouts > 1000, "timed out: {e:?}");
    assert!(e.ok > 0 && e.ok < 300, "the worker serves about 100 a second: {e:?}");
    assert!(!o.report.passed(), "an overload fails its objectives");
}

#[test]
fn connects_given_up_on_a_slow_link_free_their_places_after_it_heals() {
    // The app opens a connection per store call. For a second the link to the store takes
    // 300 ms one way while the app gives a call 100 ms: every connect is given up with its SYN
    // still on the way, and hundreds of them would fill the store's listener. Once their SYNs
    // have surely arrived their places are free again, and the calls after the heal succeed.
    let text = r#"
name = "slow handshakes"
duration = "4s"
window = "500ms"
[network]
latency = "1ms"
[[hosts]]
name = "db"
service = { kv = { role = "primary" } }
workers = 64
[[hosts]]
name = "app"
service = { app = { db = "db", timeout = "100ms", connect_per_request = true } }
workers = 1000
[workload]
targets = ["app"]
users = 100
arrival = { poisson = { rate = 2000 } }
timeout = "1s"
[[faults]]
at = "1s"
for = "1s"
fault = { link = { between = ["app", "db"], latency = "300ms" } }
"#;
    let o = go(&scenario(text), 4);
    let windows = &o.report.windows;
    assert_eq!(windows.len(), 8, "{windows:?}");
    let during = &windows[2];
    assert!(during.failed * 10 > during.requests * 9, "the slow link fails the calls: {during:?}");
    for after in &windows[5..] {
        assert!(after.requests > 500, "{after:?}");
        assert!(after.ok * 100 >= after.requests * 99, "no place is lost for good: {after:?}");
    }
}

#[test]
fn a_host_out_of_ports_fails_its_connects_instead_of_panicking() {
    // The target dies at once and every connect to it times out. Turmoil keeps each given-up
    // connect's port, so the load generator's 16384 ports run out after a few seconds; from
    // then on a connect fails at once (as `connect(2)` does with EADDRNOTAVAIL) rather than
    // panicking in the user's task, and the closed loop goes on at its error pace.
    let text = r#"
name = "out of ports"
duration = "8s"
[network]
latency = "1ms"
[[hosts]]
name = "echo"
service = "echo"
[workload]
targets = ["echo"]
users = 60
arrival = { closed = { think = "0ms" } }
timeout = "5ms"
[[faults]]
at = "100ms"
fault = { kill = "echo" }
"#;
    let o = go(&scenario(text), 5);
    let e = &o.report.end_to_end;
    assert_eq!(e.ok + e.unreachable, e.requests, "{e:?}");
    let windows = &o.report.windows;
    let (timing_out, failing_at_once) = (&windows[1], &windows[7]);
    assert_eq!(timing_out.ok, 0, "{timing_out:?}");
    // 60 users: a connect timing out every 5 ms plus a 10 ms pause, against a failure at once.
    assert!(timing_out.requests < 60 * 70, "{timing_out:?}");
    assert!(failing_at_once.requests > 60 * 90, "the ports ran out: {failing_at_once:?}");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        sixty_five_connections_at_once_to_one_listener_queue_and_all_succeed,
        a_thousand_users_on_three_hosts_run_to_the_end_deterministically,
        an_open_loop_far_past_capacity_ends_in_timeouts_not_a_panic,
        connects_given_up_on_a_slow_link_free_their_places_after_it_heals,
        a_host_out_of_ports_fails_its_connects_instead_of_panicking,
    }
}
