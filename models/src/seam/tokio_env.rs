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

/// How long accepting pauses after running out of file descriptors, as servers do, so that
/// closing connections can free some.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Whether an accept error concerns one connection or a passing shortage, not the listener:
/// the server goes on accepting after it.
fn transient(e: &io::Error) -> bool {
    const ENOMEM: i32 = 12;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    const ENOBUFS: i32 = 105;
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
        || matches!(e.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
}

impl Listener for TokioListener {
    type Stream = tokio::net::TcpStream;

    /// The next connection. A connection that fails as it is accepted (reset at once) is
    /// skipped, and a shortage of file descriptors waits a little and tries again: neither may
    /// stop a real server. Any other error is the listener's own, and ends serving.
    async fn accept(&self) -> io::Result<(Self::Stream, String)> {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    if stream.set_nodelay(true).is_ok() {
                        return Ok((stream, peer.to_string()));
                    }
                }
                Err(e) if transient(&e) => tokio::time::sleep(ACCEPT_BACKOFF).await,
                Err(e) => return Err(e),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_or_a_reset_peer_does_not_stop_accepting() {
        for code in [12, 23, 24, 105] {
            assert!(transient(&io::Error::from_raw_os_error(code)), "errno {code}");
        }
        assert!(transient(&io::ErrorKind::ConnectionAborted.into()));
        assert!(transient(&io::ErrorKind::ConnectionReset.into()));
        assert!(!transient(&io::Error::from_raw_os_error(9)), "EBADF is the listener's own");
        assert!(!transient(&io::ErrorKind::InvalidInput.into()));
    }
}
