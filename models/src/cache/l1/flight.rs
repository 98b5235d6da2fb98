//! Single-flight (after Go's `singleflight`): concurrent loads of one key share one load.
//!
//! Every caller of [`SingleFlight::run`] brings its own loader future, which stays unpolled
//! unless that caller leads. The first caller of a key leads: it registers a flight, runs its
//! loader, publishes the output to every waiter and unregisters the flight. Later callers find
//! the flight and wait for its output (a clone each). The output is not kept: once the flight has
//! landed, the next caller loads again (caching is the cache's business). A failing loader is
//! simply one whose output is an `Err`: every waiter gets the same error.
//!
//! Cancellation: a waiter dropped (say, by its own timeout) leaves the flight alone. A leader
//! dropped before its loader finished takes the flight down with it; its waiters wake and the
//! first of them to run becomes the new leader with its own loader (the others wait for that one),
//! so nobody waits for a load that no one is running. Each waiter retries at most once per leader
//! that drops, so the loop is bounded by the number of callers.
//!
//! Single-threaded (`Rc`, `RefCell`, a [`Landing`] per flight: the output's slot and a
//! `tokio::sync::Notify`); nothing here reads a clock or spawns. Not a `tokio::sync::watch`: its
//! receivers register on one of eight notifiers picked by tokio's thread-local random numbers,
//! so the order in which waiters wake, and with it a simulation's trace, would change from run
//! to run. This file must not cache results, retry failures or time anything out.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use tokio::sync::Notify;

/// Counters of a [`SingleFlight`], cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlightStats {
    /// Loader runs started (one per flight, plus one per leader that took over from a dropped one).
    pub loads_started: u64,
    /// Callers that found a flight in progress and waited for it (counted once per caller).
    pub coalesced: u64,
}

/// Where a flight's output lands: waiters wake in the order they began to wait.
#[derive(Debug)]
struct Landing<V> {
    /// `None` until the loader's output lands.
    output: RefCell<Option<V>>,
    /// The leader ended without an output (it was dropped).
    abandoned: Cell<bool>,
    /// Wakes the waiters when either of the above changes.
    changed: Notify,
}

impl<V: Clone> Landing<V> {
    fn new() -> Self {
        Self { output: RefCell::new(None), abandoned: Cell::new(false), changed: Notify::new() }
    }

    /// The output once it lands; `None` if the leader was dropped first.
    async fn wait(&self) -> Option<V> {
        loop {
            // Registered before looking, so a landing between the look and the wait still wakes it.
            let changed = self.changed.notified();
            if let Some(output) = self.output.borrow().as_ref() {
                return Some(output.clone());
            }
            if self.abandoned.get() {
                return None;
            }
            changed.await;
        }
    }
}

#[derive(Debug)]
struct Flight<V> {
    /// Which leader runs it (a leader unregisters only its own flight).
    id: u64,
    /// Where its output lands.
    landing: Rc<Landing<V>>,
}

#[derive(Debug)]
struct Inner<K, V> {
    flights: BTreeMap<K, Flight<V>>,
    next_id: u64,
    stats: FlightStats,
}

/// One load per key in flight; duplicates wait for it and share its output.
#[derive(Debug)]
pub struct SingleFlight<K, V> {
    inner: Rc<RefCell<Inner<K, V>>>,
}

impl<K, V> Clone for SingleFlight<K, V> {
    /// Another handle on the same flights.
    fn clone(&self) -> Self {
        Self { inner: Rc::clone(&self.inner) }
    }
}

impl<K: Ord + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a caller found for its key.
enum Found<V> {
    /// A flight to wait for.
    Flight(Rc<Landing<V>>),
    /// Nothing: the caller leads.
    Nothing,
}

impl<K: Ord + Clone, V: Clone> SingleFlight<K, V> {
    /// No flights.
    pub fn new() -> Self {
        Self {
            inner: Rc::new(RefCell::new(Inner { flights: BTreeMap::new(), next_id: 0, stats: FlightStats::default() })),
        }
    }

    /// The output of `loader`, or of the load of `key` already in flight.
    pub async fn run<F>(&self, key: K, loader: F) -> V
    where
        F: Future<Output = V>,
    {
        let mut counted = false;
        // Bounded: each pass either returns or follows a leader that was dropped.
        loop {
            match self.find(&key, &mut counted) {
                Found::Nothing => return self.lead(key, loader).await,
                Found::Flight(landing) => {
                    if let Some(output) = landing.wait().await {
                        return output;
                    }
                    // The leader was dropped before landing: look again, and maybe lead.
                }
            }
        }
    }

    /// The flight for `key`, counting the caller as coalesced the first time it waits.
    fn find(&self, key: &K, counted: &mut bool) -> Found<V> {
        let mut inner = self.inner.borrow_mut();
        let Some(flight) = inner.flights.get(key) else {
            return Found::Nothing;
        };
        let landing = Rc::clone(&flight.landing);
        if !*counted {
            *counted = true;
            inner.stats.coalesced += 1;
        }
        Found::Flight(landing)
    }

    /// Registers a flight, runs the loader and publishes its output.
    async fn lead<F>(&self, key: K, loader: F) -> V
    where
        F: Future<Output = V>,
    {
        let landing = Rc::new(Landing::new());
        let id = {
            let mut inner = self.inner.borrow_mut();
            let id = inner.next_id;
            inner.next_id += 1;
            inner.stats.loads_started += 1;
            let previous = inner.flights.insert(key.clone(), Flight { id, landing: Rc::clone(&landing) });
            debug_assert!(previous.is_none(), "a second flight for one key");
            id
        };
        // Unregisters the flight however this future ends: landed, dropped or panicked.
        let _landing = Unregister { inner: &self.inner, key, id, landing: Rc::clone(&landing) };
        let value = loader.await;
        *landing.output.borrow_mut() = Some(value.clone());
        landing.changed.notify_waiters();
        value
    }

    /// Keys with a load in flight.
    pub fn in_flight(&self) -> usize {
        self.inner.borrow().flights.len()
    }

    /// The counters.
    pub fn stats(&self) -> FlightStats {
        self.inner.borrow().stats
    }
}

/// Removes a leader's flight when the leader ends, however it ends, and wakes its waiters if
/// it ended without an output.
struct Unregister<'a, K: Ord, V> {
    inner: &'a RefCell<Inner<K, V>>,
    key: K,
    id: u64,
    landing: Rc<Landing<V>>,
}

impl<K: Ord, V> Drop for Unregister<'_, K, V> {
    fn drop(&mut self) {
        let mut inner = self.inner.borrow_mut();
        if inner.flights.get(&self.key).is_some_and(|flight| flight.id == self.id) {
            inner.flights.remove(&self.key);
        }
        drop(inner);
        if self.landing.output.borrow().is_none() {
            self.landing.abandoned.set(true);
            self.landing.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tokio::sync::watch;
    use tokio::task::{JoinHandle, LocalSet, spawn_local, yield_now};

    /// Runs a test body on a current-thread runtime inside a `LocalSet` (no real time).
    fn local<F: Future>(body: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        LocalSet::new().block_on(&runtime, body)
    }

    /// Yields until `done` holds (bounded: the tasks need only a few turns).
    async fn settle(done: impl Fn() -> bool) {
        for _ in 0..100 {
            if done() {
                return;
            }
            yield_now().await;
        }
        panic!("the tasks never reached the expected state");
    }

    /// A loader that counts its runs, waits for the gate to open, then returns `value`.
    async fn gated<T>(runs: Rc<Cell<u32>>, mut gate: watch::Receiver<bool>, value: T) -> T {
        runs.set(runs.get() + 1);
        gate.wait_for(|open| *open).await.expect("the gate outlives the loaders");
        value
    }

    fn spawn_caller<T: Clone + 'static>(
        flights: &SingleFlight<&'static str, T>,
        runs: &Rc<Cell<u32>>,
        gate: &watch::Receiver<bool>,
        value: T,
    ) -> JoinHandle<T> {
        let flights = flights.clone();
        let loader = gated(Rc::clone(runs), gate.clone(), value);
        spawn_local(async move { flights.run("k", loader).await })
    }

    #[test]
    fn concurrent_callers_share_exactly_one_load() {
        local(async {
            let flights = SingleFlight::new();
            let runs = Rc::new(Cell::new(0));
            let (open, gate) = watch::channel(false);
            let callers: Vec<_> = (0..10).map(|n| spawn_caller(&flights, &runs, &gate, n)).collect();
            settle(|| flights.stats().coalesced == 9).await;
            assert_eq!(flights.in_flight(), 1);
            open.send_replace(true);
            for caller in callers {
                // Everyone gets the leader's output (the first caller's value, 0).
                assert_eq!(caller.await.expect("no panic"), 0);
            }
            assert_eq!(runs.get(), 1);
            assert_eq!(flights.stats(), FlightStats { loads_started: 1, coalesced: 9 });
            assert_eq!(flights.in_flight(), 0);
        });
    }

    #[test]
    fn waiters_take_the_output_in_the_order_they_came() {
        // The wake order decides the order of everything the waiters do next, so a simulation
        // replays only if it never changes: first come, first woken, on every run.
        local(async {
            let flights = SingleFlight::new();
            let runs = Rc::new(Cell::new(0));
            let (open, gate) = watch::channel(false);
            let order = Rc::new(RefCell::new(Vec::new()));
            let callers: Vec<_> = (0..20)
                .map(|n| {
                    let (flights, order) = (flights.clone(), Rc::clone(&order));
                    let loader = gated(Rc::clone(&runs), gate.clone(), ());
                    spawn_local(async move {
                        flights.run("k", loader).await;
                        order.borrow_mut().push(n);
                    })
                })
                .collect();
            settle(|| flights.stats().coalesced == 19).await;
            open.send_replace(true);
            for caller in callers {
                caller.await.expect("no panic");
            }
            assert_eq!(*order.borrow(), (0..20).collect::<Vec<_>>());
        });
    }

    #[test]
    fn a_failed_load_gives_every_waiter_the_error() {
        local(async {
            let flights: SingleFlight<&str, Result<u32, String>> = SingleFlight::new();
            let runs = Rc::new(Cell::new(0));
            let (open, gate) = watch::channel(false);
            let callers: Vec<_> = (0..5).map(|_| spawn_caller(&flights, &runs, &gate, Err("down".into()))).collect();
            settle(|| flights.stats().coalesced == 4).await;
            open.send_replace(true);
            for caller in callers {
                assert_eq!(caller.await.expect("no panic"), Err("down".to_string()));
            }
            assert_eq!(runs.get(), 1);
        });
    }

    #[test]
    fn the_output_is_not_kept_and_keys_fly_apart() {
        local(async {
            let flights: SingleFlight<&str, u32> = SingleFlight::new();
            assert_eq!(flights.run("k", async { 1 }).await, 1);
            assert_eq!(flights.run("k", async { 2 }).await, 2);
            let (open, gate) = watch::channel(false);
            let runs = Rc::new(Cell::new(0));
            let first = spawn_caller(&flights, &runs, &gate, 3);
            let other = {
                let flights = flights.clone();
                let loader = gated(Rc::clone(&runs), gate.clone(), 4);
                spawn_local(async move { flights.run("other", loader).await })
            };
            settle(|| flights.in_flight() == 2).await;
            open.send_replace(true);
            assert_eq!(first.await.expect("no panic"), 3);
            assert_eq!(other.await.expect("no panic"), 4);
            assert_eq!(flights.stats(), FlightStats { loads_started: 4, coalesced: 0 });
        });
    }

    #[test]
    fn a_dropped_waiter_does_not_cancel_the_flight() {
        local(async {
            let flights = SingleFlight::new();
            let runs = Rc::new(Cell::new(0));
            let (open, gate) = watch::channel(false);
            let leader = spawn_caller(&flights, &runs, &gate, 5);
            let quitter = spawn_caller(&flights, &runs, &gate, 6);
            let patient = spawn_caller(&flights, &runs, &gate, 7);
            settle(|| flights.stats().coalesced == 2).await;
            quitter.abort();
            assert!(quitter.await.expect_err("aborted").is_cancelled());
            assert_eq!(flights.in_flight(), 1);
            open.send_replace(true);
            assert_eq!(leader.await.expect("no panic"), 5);
            assert_eq!(patient.await.expect("no panic"), 5);
            assert_eq!(runs.get(), 1);
            assert_eq!(flights.stats().loads_started, 1);
        });
    }

    #[test]
    fn a_dropped_leader_hands_the_flight_to_one_waiter() {
        local(async {
            let flights = SingleFlight::new();
            let (_never, stuck) = watch::channel(false);
            let leader_runs = Rc::new(Cell::new(0));
            let leader = spawn_caller(&flights, &leader_runs, &stuck, 1);
            let waiter_runs = Rc::new(Cell::new(0));
            let (open, gate) = watch::channel(false);
            let waiters: Vec<_> = (0..3).map(|n| spawn_caller(&flights, &waiter_runs, &gate, 10 + n)).collect();
            settle(|| flights.stats().coalesced == 3).await;
            leader.abort();
            assert!(leader.await.expect_err("aborted").is_cancelled());
            // One waiter takes over with its own loader; the other two wait for it.
            settle(|| flights.stats().loads_started == 2 && flights.in_flight() == 1).await;
            open.send_replace(true);
            let outputs: Vec<u32> = {
                let mut outputs = Vec::new();
                for waiter in waiters {
                    outputs.push(waiter.await.expect("no panic"));
                }
                outputs
            };
            assert!(outputs.iter().all(|&output| output == outputs[0]), "outputs differ: {outputs:?}");
            assert_eq!(leader_runs.get(), 1);
            assert_eq!(waiter_runs.get(), 1);
            assert_eq!(flights.stats(), FlightStats { loads_started: 2, coalesced: 3 });
            assert_eq!(flights.in_flight(), 0);
        });
    }
}
