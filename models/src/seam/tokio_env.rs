//! The seam on real tokio: real sockets, `tokio::time`, files and a caller-seeded ChaCha stream.
//!
//! This is the only place in `models` allowed to touch the operating system. It runs models
//! inside a `tokio::task::LocalSet` (see [`TokioEnv::spawn`]), exactly as a turmoil host does.

use super::{Disk, Env, Knob, Listener, MemDisk, RoleChange};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// The real-world environment. `seed` makes `rng` streams reproducible even here.
#[derive(Clone)]
pub struct TokioEnv {
    name: Rc<str>,
    host: String,
    seed: u64,
    disk: Rc<dyn Disk>,
    start: tokio::time::Instant,
    knobs: Rc<[Cell<u64>; Knob::ALL.len()]>,
}

impl TokioEnv {
    /// An environment named `name` whose `connect` resolves peers with `host` (e.g. 127.0.0.1),
    /// with an in-memory disk.
    pub fn new(name: &str, host: &str, seed: u64) -> Self {
        Self::with_disk(name, host, seed, Rc::new(MemDisk::new()))
    }

    /// Like [`TokioEnv::new`], with the given disk (an [`super::FsDisk`] for real durability).
    pub fn with_disk(name: &str, host: &str, seed: u64, disk: Rc<dyn Disk>) -> Self {
        let knobs = Rc::new(Default::default());
        Self { name: name.into(), host: host.to_string(), seed, disk, start: tokio::time::Instant::now(), knobs }
    }

    /// Turns `knob` to `value` for this environment and its clones (an operator's switch).
    pub fn set_knob(&self, knob: Knob, value: u64) {
        self.knobs[knob.index()].set(value);
    }
}

/// A real TCP listener.
pub struct TokioListener(tokio::net::TcpListener);

impl TokioListener {
    /// The address it is bound to.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }
}

impl Listener for TokioListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, String)> {
        let (stream, peer) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer.to_string()))
    }
}

impl Env for TokioEnv {
    type Stream = tokio::net::TcpStream;
    type Listener = TokioListener;

    fn host_name(&self) -> &str {
        &self.name
    }

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn bind(&self, port: u16) -> io::Result<Self::Listener> {
        Ok(TokioListener(tokio::net::TcpListener::bind((self.host.as_str(), port)).await?))
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }

    fn rng(&self, purpose: &str) -> ChaCha8Rng {
        let mut seed = self.seed;
        for b in purpose.bytes().chain(self.name.bytes()) {
            seed = seed.rotate_left(5) ^ u64::from(b);
            seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn disk(&self) -> Rc<dyn Disk> {
        self.disk.clone()
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + 'static) {
        tokio::task::spawn_local(task);
    }

    fn gauge(&self, _name: &'static str, _value: i64) {}

    fn state(&self, _key: &'static str, _value: &str) {}

    fn served(&self, _kind: super::RequestKind, _latency: Duration, _ok: bool) {}

    fn observes_served(&self) -> bool {
        false
    }

    fn role(&self, _change: RoleChange) {}

    fn knob(&self, knob: Knob) -> u64 {
        self.knobs[knob.index()].get()
    }
}
