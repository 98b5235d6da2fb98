//! The engine that drives a world, and the three things code running inside the world asks of
//! it: the simulated time, a sleep, a task spawned on the current host.
//!
//! Turmoil runs every host on its own tokio runtime with paused time, stepped 1 ms at a time;
//! madsim (in a build with `--cfg madsim`, as this workspace's is) runs every host as a node of
//! one event-driven executor that jumps to the next timer, which is exact to the nanosecond.
//! Everything else the world does (streams, listeners, disks, clocks with skew, the recorder)
//! is the same code on both, written against this module.
//!
//! Owns: [`Engine`], its dispatch and [`EngineClock`] (how the world reads the engine's time,
//! held still on madsim within a poll of a world task, and sleeps on it). Must not: hold any
//! state of the world (that is `Shared`'s), or be reached by models (they see only the seam).

use std::future::Future;
use std::time::Duration;

/// Which simulator runs the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Turmoil: a 1 ms tick, real tokio inside each host, its TCP under ours.
    #[default]
    Turmoil,
    /// madsim: event-driven, exact timers; our own in-memory transport. Only in a build with
    /// `--cfg madsim` (see [`Engine::available`]).
    Madsim,
}

impl Engine {
    /// The engine's name, as `--engine` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Turmoil => "turmoil",
            Engine::Madsim => "madsim",
        }
    }

    /// Whether this build can run the engine: madsim needs a build with `--cfg madsim`.
    pub fn available(self) -> bool {
        match self {
            Engine::Turmoil => true,
            Engine::Madsim => cfg!(madsim),
        }
    }

    /// The grid timers fire on, nanoseconds: turmoil's tokio timers have 1 ms resolution,
    /// madsim's are exact.
    pub(crate) fn timer_grid_ns(self) -> u64 {
        match self {
            Engine::Turmoil => 1_000_000,
            Engine::Madsim => 1,
        }
    }

    /// Runs `task` on the current host (the task calling this), detached.
    pub(crate) fn spawn(self, task: impl Future<Output = ()> + 'static) {
        match self {
            Engine::Turmoil => {
                tokio::task::spawn_local(task);
            }
            #[cfg(madsim)]
            Engine::Madsim => {
                madsim::task::spawn_local(still::Still::new(task));
            }
            #[cfg(not(madsim))]
            Engine::Madsim => unreachable!("a world on madsim is built only with --cfg madsim"),
        }
    }
}

/// madsim's clock, still during a poll of a world task.
///
/// madsim moves its clock only between the polls of its tasks (50-100 ns after each, and to
/// the next timer when none is ready), never during one. The world reads the time many times
/// in a poll (a message is timed, recorded and gauged), and each read locks madsim's clock: a
/// task spawned through [`Engine::spawn`] reads it once per poll, the first time it is asked,
/// and later reads in the same poll take that value. Code outside such a poll (a node's first
/// task, the supervisor) reads madsim's clock every time.
#[cfg(madsim)]
mod still {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Not in a poll of a world task: read madsim's clock.
    const OUTSIDE: u64 = u64::MAX;
    /// In a poll of a world task, the clock not read yet.
    const UNREAD: u64 = u64::MAX - 1;

    thread_local! {
        static NOW_NS: Cell<u64> = const { Cell::new(OUTSIDE) };
    }

    /// The time of the current poll, from `read` the first time a poll asks.
    pub(super) fn now_ns(read: impl FnOnce() -> u64) -> u64 {
        let held = NOW_NS.get();
        if held < UNREAD {
            debug_assert_eq!(held, read(), "madsim's clock moved within a poll");
            return held;
        }
        let now = read();
        if held == UNREAD {
            NOW_NS.set(now);
        }
        now
    }

    /// A world task whose polls hold the clock still.
    pub(super) struct Still<F> {
        task: F,
    }

    impl<F> Still<F> {
        pub(super) fn new(task: F) -> Self {
            Self { task }
        }
    }

    /// Puts back what the clock held before the poll, however the poll ends (a panic too).
    struct Restore(u64);

    impl Drop for Restore {
        fn drop(&mut self) {
            NOW_NS.set(self.0);
        }
    }

    impl<F: Future<Output = ()>> Future for Still<F> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let _restore = Restore(NOW_NS.replace(UNREAD));
            // SAFETY: the task is pinned with its wrapper (structural pinning): it is never
            // moved out of it, and the wrapper has no `Drop` and is `Unpin` only when it is.
            let task = unsafe { self.map_unchecked_mut(|still| &mut still.task) };
            task.poll(cx)
        }
    }
}

/// The engine's clock, as the world reads it and sleeps on it.
///
/// On madsim, the runtime's time handle is found once per run: finding it
/// (`TimeHandle::try_current`, and `Instant::now`, which madsim answers the same way) takes a
/// thread-local and clones two `Arc`s, and the world reads the time several times a message.
/// Turmoil's time is read per host, through `Shared::now_ns`.
#[derive(Default)]
pub(crate) struct EngineClock {
    #[cfg(madsim)]
    madsim: std::cell::OnceCell<madsim::time::TimeHandle>,
}

impl EngineClock {
    /// madsim's time handle, once inside the runtime; `None` outside it.
    #[cfg(madsim)]
    fn madsim(&self) -> Option<&madsim::time::TimeHandle> {
        if self.madsim.get().is_none() {
            let _ = self.madsim.set(madsim::time::TimeHandle::try_current()?);
        }
        self.madsim.get()
    }

    /// madsim's sleep until `at`, exact: madsim stretches every sleep to at least 1 ms, as
    /// tokio's wheel would, while its timers are exact, so the deadline is set back to `at`.
    #[cfg(madsim)]
    fn madsim_sleep(time: &madsim::time::TimeHandle, at: madsim::time::Instant) -> madsim::time::Sleep {
        let mut sleep = time.sleep_until(at);
        std::pin::Pin::new(&mut sleep).reset(at);
        sleep
    }

    /// Simulated time since the start of the run on madsim's clock, nanoseconds. Outside the
    /// runtime (before it, or a socket dropped with it) there is no time: 0.
    #[cfg(madsim)]
    pub(crate) fn madsim_now_ns(&self) -> u64 {
        still::now_ns(|| self.madsim().map_or(0, |time| time.elapsed().as_nanos() as u64))
    }

    /// Sets a timer that wakes `waker` `delay` from now, with no future behind it; `false`
    /// (nothing set) outside a madsim runtime.
    pub(crate) fn wake_after(&self, delay: Duration, waker: &std::task::Waker) -> bool {
        #[cfg(madsim)]
        if let Some(time) = self.madsim() {
            let mut sleep = Self::madsim_sleep(time, time.now_instant() + delay);
            // madsim keeps the timer until it fires, whatever becomes of the sleep.
            let _ = std::pin::Pin::new(&mut sleep).poll(&mut std::task::Context::from_waker(waker));
            return true;
        }
        let _ = (delay, waker);
        false
    }

    /// Sleeps `duration` of simulated time from now on `engine` (the deadline is taken at the
    /// call, as `tokio::time::sleep` takes it, not at the first poll).
    pub(crate) fn sleep(&self, engine: Engine, duration: Duration) -> impl Future<Output = ()> + 'static {
        let deadline = match engine {
            Engine::Turmoil => Deadline::Tokio(tokio::time::Instant::now() + duration),
            #[cfg(madsim)]
            Engine::Madsim => {
                let time = self.madsim().expect("a sleep on madsim is taken inside its runtime");
                let sleep = Self::madsim_sleep(time, time.now_instant() + duration);
                Deadline::Madsim(MadsimSleep { sleep, waker: None })
            }
            #[cfg(not(madsim))]
            Engine::Madsim => unreachable!("a world on madsim is built only with --cfg madsim"),
        };
        async move {
            match deadline {
                Deadline::Tokio(at) => tokio::time::sleep_until(at).await,
                #[cfg(madsim)]
                Deadline::Madsim(sleep) => sleep.await,
            }
        }
    }
}

/// When a sleep ends, on the engine's own clock.
enum Deadline {
    Tokio(tokio::time::Instant),
    #[cfg(madsim)]
    Madsim(MadsimSleep),
}

/// A sleep on madsim with one timer per waker.
///
/// madsim's own `Sleep` adds a timer (a callback in its heap, kept until the deadline) on every
/// poll that finds it pending, where a request's timeout is polled each time the request makes
/// progress: it is polled again only when the task's waker changed.
#[cfg(madsim)]
struct MadsimSleep {
    /// madsim's sleep, exact (see [`EngineClock::madsim_sleep`]).
    sleep: madsim::time::Sleep,
    /// The waker its timer wakes, once polled.
    waker: Option<std::task::Waker>,
}

#[cfg(madsim)]
impl Future for MadsimSleep {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.sleep.is_elapsed() {
            return std::task::Poll::Ready(());
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return std::task::Poll::Pending;
        }
        self.waker = Some(cx.waker().clone());
        std::pin::Pin::new(&mut self.sleep).poll(cx)
    }
}
