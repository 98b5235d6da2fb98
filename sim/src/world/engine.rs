//! The engine that drives a world, and the three things code running inside the world asks of
//! it: the simulated time, a sleep, a task spawned on the current host.
//!
//! Turmoil runs every host on its own tokio runtime with paused time, stepped 1 ms at a time;
//! madsim (in a build with `--cfg madsim`, as this workspace's is) runs every host as a node of
//! one event-driven executor that jumps to the next timer, which is exact to the nanosecond.
//! Everything else the world does (streams, listeners, disks, clocks with skew, the recorder)
//! is the same code on both, written against this module.
//!
//! Owns: [`Engine`] and its dispatch. Must not: hold any state of the world (that is
//! `Shared`'s), or be reached by models (they see only the seam).

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

    /// Simulated time since the start of the run on madsim's clock, nanoseconds (madsim only;
    /// turmoil's is read per host through `Shared::now_ns`). Outside the runtime (a socket
    /// dropped with it) there is no time: 0.
    #[cfg(madsim)]
    pub(crate) fn madsim_now_ns() -> u64 {
        madsim::time::TimeHandle::try_current().map_or(0, |time| time.elapsed().as_nanos() as u64)
    }

    /// Sleeps `duration` of simulated time from now (the deadline is taken at the call, as
    /// `tokio::time::sleep` takes it, not at the first poll).
    pub(crate) fn sleep(self, duration: Duration) -> impl Future<Output = ()> + 'static {
        let deadline = match self {
            Engine::Turmoil => Deadline::Tokio(tokio::time::Instant::now() + duration),
            #[cfg(madsim)]
            Engine::Madsim => Deadline::Madsim(madsim::time::Instant::now() + duration),
            #[cfg(not(madsim))]
            Engine::Madsim => unreachable!("a world on madsim is built only with --cfg madsim"),
        };
        async move {
            match deadline {
                Deadline::Tokio(at) => tokio::time::sleep_until(at).await,
                #[cfg(madsim)]
                Deadline::Madsim(at) => {
                    // madsim stretches every sleep to at least 1 ms, as tokio's wheel would;
                    // its timers themselves are exact, so the deadline is set back to the one
                    // asked for.
                    let mut sleep = madsim::time::sleep_until(at);
                    std::pin::Pin::new(&mut sleep).reset(at);
                    sleep.await
                }
            }
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
                madsim::task::spawn_local(task);
            }
            #[cfg(not(madsim))]
            Engine::Madsim => unreachable!("a world on madsim is built only with --cfg madsim"),
        }
    }
}

/// When a sleep ends, on the engine's own clock.
enum Deadline {
    Tokio(tokio::time::Instant),
    #[cfg(madsim)]
    Madsim(madsim::time::Instant),
}
