//! The models' test environment: `TokioEnv` (its network, randomness and knobs) with an
//! in-memory disk the test keeps, a record of every gauge, state, role and served request
//! reported, and optionally a manual clock that only moves when the test advances it, so
//! timing tests are exact and never wait on the wall clock. Also [`block_on`], which runs a
//! test the way a host runs: a current-thread runtime inside a `LocalSet`.

use crate::seam::{Disk, Env, Knob, MemDisk, RequestKind, RoleChange, TokioEnv, TokioListener};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// A clock that moves only when told to.
#[derive(Default)]
pub(crate) struct ManualClock {
    now: Cell<Duration>,
    tick: Notify,
}

/// The environment of one node under test.
#[derive(Clone)]
pub(crate) struct TestEnv {
    /// The real environment underneath (knobs are turned on it).
    pub(crate) inner: TokioEnv,
    /// The node's disk, kept across restarts.
    pub(crate) disk: Rc<MemDisk>,
    clock: Option<Rc<ManualClock>>,
    gauges: Rc<RefCell<BTreeMap<&'static str, i64>>>,
    states: Rc<RefCell<BTreeMap<&'static str, String>>>,
    /// Every state report, with the time it was made, as "key: value".
    state_log: Rc<RefCell<Vec<(Duration, String)>>>,
    roles: Rc<RefCell<Vec<RoleChange>>>,
    served: Rc<RefCell<Vec<(RequestKind, Duration, bool)>>>,
}

impl TestEnv {
    /// A node named `name` on the real clock, with a fresh disk.
    pub(crate) fn new(name: &str) -> Self {
        Self::with_disk(name, Rc::new(MemDisk::new()))
    }

    /// A node named `name` on the real clock, on `disk`.
    pub(crate) fn with_disk(name: &str, disk: Rc<MemDisk>) -> Self {
        Self {
            inner: TokioEnv::with_disk(name, "127.0.0.1", 5, disk.clone()),
            disk,
            clock: None,
            gauges: Rc::default(),
            states: Rc::default(),
            state_log: Rc::default(),
            roles: Rc::default(),
            served: Rc::default(),
        }
    }

    /// A node named `name` on a manual clock that starts at zero.
    pub(crate) fn manual(name: &str) -> Self {
        Self { clock: Some(Rc::default()), ..Self::new(name) }
    }

    /// Moves the manual clock forward by `by` and wakes the sleepers that are due.
    pub(crate) fn advance(&self, by: Duration) {
        let clock = self.clock.as_ref().expect("a manual clock");
        clock.now.set(clock.now.get() + by);
        clock.tick.notify_waiters();
    }

    /// The last value of gauge `name`.
    pub(crate) fn gauge(&self, name: &str) -> Option<i64> {
        self.gauges.borrow().get(name).copied()
    }

    /// The last value of state `key`.
    pub(crate) fn state(&self, key: &str) -> Option<String> {
        self.states.borrow().get(key).cloned()
    }

    /// Every role report, in order.
    pub(crate) fn roles(&self) -> Vec<RoleChange> {
        self.roles.borrow().clone()
    }

    /// Every state report so far, with the time it was made, as "key: value".
    pub(crate) fn state_log(&self) -> Vec<(Duration, String)> {
        self.state_log.borrow().clone()
    }

    /// Every served request reported so far: kind, latency, success.
    pub(crate) fn served_log(&self) -> Vec<(RequestKind, Duration, bool)> {
        self.served.borrow().clone()
    }
}

/// Runs `f` on a current-thread runtime inside a `LocalSet`, as a simulated host runs.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// Lets every ready task on the current `LocalSet` run until all of them wait.
pub(crate) async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

impl Env for TestEnv {
    type Stream = <TokioEnv as Env>::Stream;
    type Listener = TokioListener;

    fn host_name(&self) -> &str {
        self.inner.host_name()
    }
    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        self.inner.connect(addr).await
    }
    async fn bind(&self, port: u16) -> io::Result<Self::Listener> {
        self.inner.bind(port).await
    }
    fn now(&self) -> Duration {
        match &self.clock {
            Some(clock) => clock.now.get(),
            None => self.inner.now(),
        }
    }
    async fn sleep(&self, duration: Duration) {
        let Some(clock) = &self.clock else { return self.inner.sleep(duration).await };
        let deadline = clock.now.get() + duration;
        loop {
            let tick = clock.tick.notified();
            if clock.now.get() >= deadline {
                return;
            }
            tick.await;
        }
    }
    fn rng(&self, purpose: &str) -> ChaCha8Rng {
        self.inner.rng(purpose)
    }
    fn disk(&self) -> Rc<dyn Disk> {
        self.disk.clone()
    }
    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        self.inner.spawn(task)
    }
    fn gauge(&self, name: &'static str, value: i64) {
        self.gauges.borrow_mut().insert(name, value);
    }
    fn state(&self, key: &'static str, value: &str) {
        self.states.borrow_mut().insert(key, value.to_string());
        self.state_log.borrow_mut().push((self.now(), format!("{key}: {value}")));
    }
    fn served(&self, kind: RequestKind, latency: Duration, ok: bool) {
        self.served.borrow_mut().push((kind, latency, ok));
    }
    fn role(&self, change: RoleChange) {
        self.roles.borrow_mut().push(change);
    }
    fn knob(&self, knob: Knob) -> u64 {
        self.inner.knob(knob)
    }
}
