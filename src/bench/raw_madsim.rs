//! The baseline on madsim: the echo workload written directly against madsim, one node per
//! server and one per user, on madsim's own TCP with every message 1 ms on its way, as a team
//! writing madsim tests by hand would. No framing beyond a fixed 64-byte payload, no
//! recording, no report.
//!
//! Owns: the raw-madsim echo server and client and their measurement. Must not: use anything
//! of Faultline's: it is the yardstick of `faultline on madsim`.

use super::{BenchError, Engine, LINK_LATENCY, Measurement, PAYLOAD_BYTES, Topology};
use madsim::net::{TcpListener, TcpStream};
use madsim::runtime::Runtime;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The port every raw echo server listens on.
const PORT: u16 = 9000;

fn server_addr(index: u32) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, (index >> 8) as u8, index as u8)), PORT)
}

fn user_ip(index: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, (index >> 8) as u8, index as u8))
}

/// Runs the raw-madsim workload to the end: every user stops starting requests once
/// `duration` of simulated time has passed, and the run ends when every user is done.
pub fn run(topology: Topology, duration: Duration) -> Result<Measurement, BenchError> {
    assert!(topology.servers > 0, "a benchmark needs at least one server");
    let round_trips = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut config = madsim::Config::default();
    // Exactly 1 ms on every message (madsim draws from the range; it must not be empty).
    config.net.send_latency = LINK_LATENCY..LINK_LATENCY + Duration::from_nanos(1);
    let runtime = Runtime::with_seed_and_config(1, config);
    let servers: Vec<_> = (0..topology.servers)
        .map(|s| runtime.create_node().name(format!("server{s}")).ip(server_addr(s).ip()).build())
        .collect();
    let users: Vec<_> =
        (0..topology.users).map(|u| runtime.create_node().name(format!("user{u}")).ip(user_ip(u)).build()).collect();
    let setup = started.elapsed();
    let counter = round_trips.clone();
    let simulated = runtime.block_on(async move {
        for (s, node) in servers.iter().enumerate() {
            node.spawn(echo_server(server_addr(s as u32)));
        }
        // Let every server bind before the first connect.
        madsim::time::sleep(Duration::from_millis(1)).await;
        let start = madsim::time::Instant::now();
        let clients: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(u, node)| {
                node.spawn(echo_client(server_addr(u as u32 % topology.servers), duration, counter.clone()))
            })
            .collect();
        for client in clients {
            let _ = client.await;
        }
        start.elapsed()
    });
    drop(runtime);
    let wall = started.elapsed();
    Ok(Measurement {
        engine: Engine::RawMadsim,
        topology,
        hosts: topology.servers + topology.users,
        round_trips: round_trips.load(Ordering::Relaxed),
        simulated,
        wall,
        setup: Some(setup),
        complete: true,
    })
}

/// Accepts connections forever; each echoes fixed-size payloads until its peer goes.
async fn echo_server(addr: SocketAddr) {
    let Ok(listener) = TcpListener::bind(addr).await else { return };
    while let Ok((stream, _peer)) = listener.accept().await {
        madsim::task::spawn(echo_connection(stream));
    }
}

async fn echo_connection(mut stream: TcpStream) {
    let mut buf = [0u8; PAYLOAD_BYTES];
    while stream.read_exact(&mut buf).await.is_ok() {
        // madsim's stream sends what it buffered on a flush.
        if stream.write_all(&buf).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// One closed-loop user: request, wait for the whole reply, repeat until `duration` has passed.
async fn echo_client(server: SocketAddr, duration: Duration, round_trips: Arc<AtomicU64>) {
    let end = madsim::time::Instant::now() + duration;
    let Ok(mut stream) = TcpStream::connect(server).await else { return };
    let request = [0xABu8; PAYLOAD_BYTES];
    let mut reply = [0u8; PAYLOAD_BYTES];
    while madsim::time::Instant::now() < end {
        let sent = stream.write_all(&request).await.is_ok() && stream.flush().await.is_ok();
        if !sent || stream.read_exact(&mut reply).await.is_err() {
            return;
        }
        round_trips.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_with_round_trips_over_100ms() {
        let m = run(Topology::new(2, 3), Duration::from_millis(100)).expect("the raw run works");
        assert!(m.round_trips > 3 * 20, "{} round trips", m.round_trips);
        // At most one round trip per user per 2 ms (two 1 ms hops), plus the last one started.
        assert!(m.round_trips <= 3 * 51, "{} round trips", m.round_trips);
        assert!(m.simulated >= Duration::from_millis(100), "ended early: {:?}", m.simulated);
    }
}
