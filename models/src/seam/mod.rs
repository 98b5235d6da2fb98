//! The seam: everything a model may use from the outside world, and nothing more.
//!
//! A model is generic over [`Env`]. On real tokio ([`TokioEnv`]) the seam is loopback or real
//! sockets, `tokio::time`, a ChaCha stream seeded by the caller and files on disk. In the
//! simulation (`faultline-sim`) it is turmoil's network, the simulated clock with per-host skew,
//! a ChaCha stream derived from the run's seed and an in-memory disk that loses unsynced bytes on
//! a crash. A model never calls `std::time`, `thread_rng`, `std::fs` or spawns OS threads: if it
//! needs something from outside, it goes through here.
//!
//! Models run on a single-threaded executor (`spawn_local`), the way turmoil runs each host, so
//! they may hold `Rc` and `RefCell` and need not be `Send`.
//!
//! Observability also crosses the seam: [`Env::gauge`] sets a named gauge the world samples
//! (queue depth, in-flight requests, LSN), and [`Env::state`] reports a state change (role,
//! epoch) that the simulation writes to the trace. On real tokio both are no-ops unless the
//! caller installs an observer.

mod disk;
mod tokio_env;

pub use disk::{Disk, DiskError, FsDisk, MemDisk};
pub use tokio_env::{TokioEnv, TokioListener};

use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to a peer (a TCP connection on either engine).
///
/// It splits into owned halves, so one task can read while others write: unlike
/// `tokio::io::split`, the halves share no lock that every read and write must take.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {
    /// The reading half.
    type ReadHalf: AsyncRead + Unpin + 'static;
    /// The writing half; dropping it shuts the write direction, as dropping the stream does.
    type WriteHalf: AsyncWrite + Unpin + 'static;
    /// Splits the stream into its two halves.
    fn into_split(self) -> (Self::ReadHalf, Self::WriteHalf);
}

impl Stream for tokio::net::TcpStream {
    type ReadHalf = tokio::net::tcp::OwnedReadHalf;
    type WriteHalf = tokio::net::tcp::OwnedWriteHalf;

    fn into_split(self) -> (Self::ReadHalf, Self::WriteHalf) {
        tokio::net::TcpStream::into_split(self)
    }
}

/// A bound listening socket.
pub trait Listener: 'static {
    /// The stream type accepted connections use.
    type Stream: Stream;
    /// Waits for the next inbound connection; returns it and the peer's address as text.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, String)>>;
}

/// The environment handle a model receives: network, clock, randomness, disk, observability.
pub trait Env: Clone + 'static {
    /// Stream type of this engine.
    type Stream: Stream;
    /// Listener type of this engine.
    type Listener: Listener<Stream = Self::Stream>;

    /// The name of the host this model runs on (for logs and state reports).
    fn host_name(&self) -> &str;
    /// Opens a connection to `addr` ("host:port"; a host name in the simulation).
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Binds a listener on `port` of this host.
    fn bind(&self, port: u16) -> impl Future<Output = io::Result<Self::Listener>>;
    /// This host's clock: time since the engine's epoch, including any injected skew.
    fn now(&self) -> Duration;
    /// Sleeps for `duration` on the engine's clock.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
    /// A random stream for `purpose`, reproducible from the run's seed in the simulation.
    fn rng(&self, purpose: &str) -> ChaCha8Rng;
    /// This host's disk, which outlives the model across a crash and restart.
    fn disk(&self) -> Rc<dyn Disk>;
    /// The resolution of this engine's timers: a sleep ends on the first multiple of it at or
    /// after its deadline. Tokio's timer wheel (real tokio, turmoil) has 1 ms; madsim's timers
    /// are exact. A model that spends a modelled cost in a sleep dithers it by this.
    fn timer_grid(&self) -> Duration {
        Duration::from_millis(1)
    }
    /// Runs `task` concurrently on this host's executor.
    fn spawn(&self, task: impl Future<Output = ()> + 'static);
    /// Sets the gauge `name` of this host to `value` (sampled by the world, never traced per call).
    fn gauge(&self, name: &'static str, value: i64);
    /// Reports a state change of this host (a role, an epoch); traced as it happens.
    fn state(&self, key: &'static str, value: &str);
    /// Reports one request this host served: its kind, how long it took here, and whether it
    /// succeeded. The simulation turns these into per-service latency and throughput.
    fn served(&self, kind: RequestKind, latency: Duration, ok: bool);
    /// Whether [`Env::served`] reports go anywhere. The server reads the clock to time a
    /// request only when they do: on real sockets, nothing observes them, and two clock reads
    /// per request are a tenth of a pipelined cache command's cost.
    fn observes_served(&self) -> bool {
        true
    }
    /// Reports that this node took a role in a replicated group (at start, on promotion, on
    /// demotion); traced as it happens, and read by the checkers to follow epochs and logs.
    fn role(&self, change: RoleChange);
    /// The current value of one of this host's knobs (0 when not turned), in the knob's unit.
    fn knob(&self, knob: Knob) -> u64;
}

/// A node's role in a replicated group, as reported through [`Env::role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChange {
    /// "primary", "replica" or "fenced".
    pub role: &'static str,
    /// The highest epoch the node knows of (a primary: the epoch it writes in).
    pub epoch: u64,
    /// The last LSN in its log.
    pub lsn: u64,
    /// The epoch of the entry at `lsn` (0 for an empty log).
    pub last_epoch: u64,
}

/// Settings that chaos turns while a model runs: a model reads them where they apply. The
/// enum lives in `faultline-vocab`, so chaos names the same knobs without importing models.
pub use faultline_vocab::Knob;

/// What kind of request a server handled, for per-service metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A read.
    Read,
    /// A write (put or delete).
    Write,
    /// Anything else (echo, control).
    Other,
}

/// The outcome of [`timeout`] when the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `fut` until it finishes or `limit` passes on the environment's clock.
///
/// The future is polled first (`biased`), so a result that is ready at the deadline wins: the
/// choice never depends on an unseeded random branch order.
pub async fn timeout<E: Env, F: Future>(env: &E, limit: Duration, fut: F) -> Result<F::Output, Elapsed> {
    tokio::select! {
        biased;
        out = fut => Ok(out),
        () = env.sleep(limit) => Err(Elapsed),
    }
}
