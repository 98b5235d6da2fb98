//! The sliding windows a closed breaker judges over, and the tally of calls they hold.
//!
//! - A count window keeps the outcomes of the last n calls in a ring: each new call pushes out
//!   the oldest once n are held.
//! - A time window of length d keeps per-bucket tallies in a ring of n buckets of width w (see
//!   [`time_buckets`]): w = 1 s for windows of 10 s to 1 h (resilience4j's one-second buckets),
//!   d / 10 for shorter windows, d / 3600 (rounded up to the nanosecond) for longer ones, and
//!   n = floor(d / w). A call at time t lies in bucket floor(t / w); at `now`, the window holds the
//!   calls of the current bucket and the n − 1 before it. So a call is never counted once it is
//!   d old, and is always counted while it is younger than d − 2w (d − w when w divides d).
//!   Buckets age by `now` alone; a `now` earlier than one already seen (a clock stepped back)
//!   counts as the latest seen, so the window never un-forgets a call.
//!
//! Owns: windows and tallies. Must not: decide anything (the state machine does), or read a
//! clock.

use std::collections::VecDeque;
use std::time::Duration;

use super::Window;

/// Calls counted: how many, how many failed, how many were slow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls counted.
    pub calls: u64,
    /// Of which failed.
    pub failed: u64,
    /// Of which took at least the slow-call duration (failed or not).
    pub slow: u64,
}

impl Tally {
    /// Counts one call.
    pub(crate) fn add(&mut self, outcome: Outcome) {
        self.calls += 1;
        self.failed += u64::from(outcome.failed);
        self.slow += u64::from(outcome.slow);
    }

    /// Takes the calls of `other` (a part of this tally) out.
    fn remove(&mut self, other: Tally) {
        self.calls -= other.calls;
        self.failed -= other.failed;
        self.slow -= other.slow;
    }

    /// The share of failed calls (0 when there are none).
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failed, self.calls)
    }

    /// The share of slow calls (0 when there are none).
    pub fn slow_rate(&self) -> f64 {
        ratio(self.slow, self.calls)
    }
}

/// `part / whole` as the nearest f64, so a rate exactly at a threshold compares equal to it.
fn ratio(part: u64, whole: u64) -> f64 {
    match whole {
        0 => 0.0,
        _ => part as f64 / whole as f64,
    }
}

/// One call's outcome as a window counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The call failed.
    pub(crate) failed: bool,
    /// The call was slow.
    pub(crate) slow: bool,
}

/// The most buckets a time window keeps (one hour of one-second buckets).
pub const MAX_BUCKETS: u64 = 3600;

/// A time window of length `window`'s bucket width and bucket count (`window` at least 1 ms).
pub fn time_buckets(window: Duration) -> (Duration, u64) {
    let d = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
    let second = 1_000_000_000;
    let width = match d {
        d if d < 10 * second => d / 10,
        d if d <= MAX_BUCKETS * second => second,
        d => d.div_ceil(MAX_BUCKETS),
    }
    .max(1);
    (Duration::from_nanos(width), d / width)
}

/// A closed breaker's window, of either kind.
#[derive(Debug, Clone)]
pub(crate) enum Sliding {
    /// The last n calls.
    Count(CountWindow),
    /// The calls of the last d.
    Time(TimeWindow),
}

impl Sliding {
    /// An empty window of the given kind.
    pub(crate) fn new(window: Window) -> Self {
        match window {
            Window::Count(n) => Sliding::Count(CountWindow::new(n)),
            Window::Time(d) => Sliding::Time(TimeWindow::new(d)),
        }
    }

    /// Counts a call that finished at `now`; returns the window's tally after it.
    pub(crate) fn record(&mut self, now: Duration, outcome: Outcome) -> Tally {
        match self {
            Sliding::Count(w) => w.record(outcome),
            Sliding::Time(w) => w.record(now, outcome),
        }
    }

    /// The window's tally at `now` (reads only: a time window is not aged by this).
    pub(crate) fn tally(&self, now: Duration) -> Tally {
        match self {
            Sliding::Count(w) => w.total,
            Sliding::Time(w) => w.tally_at(now),
        }
    }
}

/// The outcomes of the last `size` calls, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct CountWindow {
    size: usize,
    calls: VecDeque<Outcome>,
    total: Tally,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        let size = usize::try_from(size).unwrap_or(usize::MAX).max(1);
        Self { size, calls: VecDeque::new(), total: Tally::default() }
    }

    fn record(&mut self, outcome: Outcome) -> Tally {
        if self.calls.len() == self.size {
            let oldest = self.calls.pop_front().expect("a full window holds a call");
            let mut gone = Tally::default();
            gone.add(oldest);
            self.total.remove(gone);
        }
        self.calls.push_back(outcome);
        self.total.add(outcome);
        self.total
    }
}

/// Per-bucket tallies of the last `buckets` buckets of `width`, in a ring.
#[derive(Debug, Clone)]
pub(crate) struct TimeWindow {
    width_ns: u64,
    /// `(absolute bucket number, its tally)`; slot `b % len` holds bucket `b`.
    ring: Vec<(u64, Tally)>,
    /// The latest absolute bucket number seen.
    head: u64,
    total: Tally,
}

impl TimeWindow {
    fn new(window: Duration) -> Self {
        let (width, buckets) = time_buckets(window);
        let buckets = usize::try_from(buckets.max(1)).expect("at most MAX_BUCKETS buckets");
        let width_ns = u64::try_from(width.as_nanos()).expect("a width under 585 years");
        Self { width_ns, ring: vec![(0, Tally::default()); buckets], head: 0, total: Tally::default() }
    }

    fn bucket_of(&self, now: Duration) -> u64 {
        u64::try_from(now.as_nanos()).unwrap_or(u64::MAX) / self.width_ns
    }

    /// Moves the window to `now`: empties the buckets that fell out of it.
    fn roll(&mut self, now: Duration) {
        let bucket = self.bucket_of(now);
        if bucket <= self.head {
            return;
        }
        let len = self.ring.len() as u64;
        let steps = (bucket - self.head).min(len);
        for b in bucket - steps + 1..=bucket {
            let slot = &mut self.ring[(b % len) as usize];
            self.total.remove(slot.1);
            *slot = (b, Tally::default());
        }
        self.head = bucket;
    }

    fn record(&mut self, now: Duration, outcome: Outcome) -> Tally {
        self.roll(now);
        let len = self.ring.len() as u64;
        let slot = &mut self.ring[(self.head % len) as usize];
        debug_assert_eq!(slot.0, self.head, "the head's slot holds the head bucket");
        slot.1.add(outcome);
        self.total.add(outcome);
        self.total
    }

    /// The tally of the buckets still in the window at `now`, summed afresh.
    fn tally_at(&self, now: Duration) -> Tally {
        let len = self.ring.len() as u64;
        let current = self.bucket_of(now).max(self.head);
        let mut sum = Tally::default();
        for (bucket, tally) in &self.ring {
            if *bucket <= self.head && current - bucket < len {
                sum.calls += tally.calls;
                sum.failed += tally.failed;
                sum.slow += tally.slow;
            }
        }
        sum
    }
}
