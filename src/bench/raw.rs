//! The baseline: the echo workload written directly against turmoil, one turmoil host per
//! server and one turmoil *client* host per user, as a team writing turmoil tests by hand
//! would. No framing beyond a fixed 64-byte payload, no recording, no report.
//!
//! Owns: the raw-turmoil echo server and client, and the step loop that measures them (with
//! an optional wall-clock budget, for topologies too large to run to the end). Must not: use
//! anything of Faultline's: it is the yardstick.

use super::{BenchError, Engine, LINK_LATENCY, Measurement, PAYLOAD_BYTES, Topology};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

/// The port every raw echo server listens on.
const PORT: u16 = 9000;

/// Turmoil's own deadline: far past any benchmark run, so it never fires first.
const TURMOIL_LIMIT: Duration = Duration::from_secs(3600);

/// Runs the raw-turmoil workload to the end: every user stops starting requests once
/// `duration` of simulated time has passed, and the run ends when every user is done.
pub fn run(topology: Topology, duration: Duration) -> Result<Measurement, BenchError> {
    measure(topology, duration, None)
}

/// Like [`run`], but stops after `budget` of wall time if the run has not ended by then (the
/// measurement then says `complete: false` and covers the simulated time reached).
pub fn run_bounded(topology: Topology, duration: Duration, budget: Duration) -> Result<Measurement, BenchError> {
    measure(topology, duration, Some(budget))
}

fn measure(topology: Topology, duration: Duration, budget: Option<Duration>) -> Result<Measurement, BenchError> {
    assert!(topology.servers > 0, "a benchmark needs at least one server");
    let round_trips = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    let mut sim = build(topology, duration, &round_trips);
    let setup = started.elapsed();
    let mut complete = false;
    loop {
        if sim.step().map_err(|e| BenchError::Turmoil(e.to_string()))? {
            complete = true;
            break;
        }
        if budget.is_some_and(|b| started.elapsed() >= b) {
            break;
        }
    }
    let simulated = sim.elapsed();
    drop(sim);
    let wall = started.elapsed();
    Ok(Measurement {
        engine: Engine::RawTurmoil,
        topology,
        hosts: topology.servers + topology.users,
        round_trips: round_trips.get(),
        simulated,
        wall,
        setup: Some(setup),
        complete,
    })
}

fn server_name(index: u32) -> String {
    format!("server{index}")
}

/// The simulation: tick 1 ms, every link exactly 1 ms, servers first, then one client per user
/// (user `u` talks to server `u % servers`).
fn build(topology: Topology, duration: Duration, round_trips: &Rc<Cell<u64>>) -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(duration + TURMOIL_LIMIT)
        .tick_duration(LINK_LATENCY)
        .min_message_latency(LINK_LATENCY)
        .max_message_latency(LINK_LATENCY)
        .rng_seed(1)
        .build();
    for s in 0..topology.servers {
        sim.host(server_name(s), echo_server);
    }
    for u in 0..topology.users {
        let server = server_name(u % topology.servers);
        sim.client(format!("user{u}"), echo_client(server, duration, round_trips.clone()));
    }
    sim
}

/// Accepts connections forever; each echoes fixed-size payloads until its peer goes.
async fn echo_server() -> turmoil::Result {
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    loop {
        let (stream, _peer) = listener.accept().await?;
        tokio::task::spawn_local(echo_connection(stream));
    }
}

async fn echo_connection(mut stream: TcpStream) {
    let mut buf = [0u8; PAYLOAD_BYTES];
    while stream.read_exact(&mut buf).await.is_ok() {
        if stream.write_all(&buf).await.is_err() {
            return;
        }
    }
}

/// One closed-loop user: request, wait for the whole reply, repeat until `duration` has passed.
async fn echo_client(server: String, duration: Duration, round_trips: Rc<Cell<u64>>) -> turmoil::Result {
    let end = tokio::time::Instant::now() + duration;
    let mut stream = TcpStream::connect((server.as_str(), PORT)).await?;
    let request = [0xABu8; PAYLOAD_BYTES];
    let mut reply = [0u8; PAYLOAD_BYTES];
    while tokio::time::Instant::now() < end {
        stream.write_all(&request).await?;
        stream.read_exact(&mut reply).await?;
        round_trips.set(round_trips.get() + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_with_round_trips_over_100ms() {
        let m = run(Topology::new(2, 3), Duration::from_millis(100)).expect("the raw run works");
        assert!(m.complete);
        assert!(m.round_trips > 0, "no round trips");
        assert!(m.simulated >= Duration::from_millis(100), "ended early: {:?}", m.simulated);
        // At most one round trip per user per 2 ms (two 1 ms hops), plus the last one started.
        assert!(m.round_trips <= 3 * 51, "{} round trips", m.round_trips);
    }

    #[test]
    fn is_deterministic() {
        let a = run(Topology::new(1, 2), Duration::from_millis(50)).expect("runs");
        let b = run(Topology::new(1, 2), Duration::from_millis(50)).expect("runs");
        assert_eq!(a.round_trips, b.round_trips);
        assert_eq!(a.simulated, b.simulated);
    }
}
