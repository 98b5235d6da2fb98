//! One timer for all of a load generator's request timeouts.
//!
//! Every request of a generator has the same timeout, so their deadlines come in the order the
//! requests start: a queue, whose front is the next deadline. One task sleeps until that
//! deadline, expires every request whose deadline has come and that still waits, and sleeps
//! again until the next. Arming and cancelling a timer in tokio's wheel for every request cost
//! more than a tenth of a request's own work; here a request costs a queue entry, and the one
//! timer is armed about once per timeout period however many requests run (entries of requests
//! that ended leave the front as new ones come, so the front is the oldest one in flight).
//!
//! A request expires in the same tick as its own timer would have fired (tokio rounds every
//! deadline up to its 1 ms grid; so does this task's sleep), and a reply that arrives within
//! that tick still counts: the deadline is inclusive. (With a timer per call, such a reply lost:
//! the timer woke the user before the reply was read. Either is a fair reading of a reply
//! that lands on the deadline; this one is the one whose answer does not hang on task order.)

use crate::world::SimEnv;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::sync::Notify;

/// A request's deadline, shared by the request (which waits on it) and the queue.
#[derive(Default)]
pub(crate) struct Expiry {
    expired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Expiry {
    /// Completes when the deadline has passed.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.expired.get() {
                return Poll::Ready(());
            }
            let mut waker = self.waker.borrow_mut();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    fn expire(&self) {
        self.expired.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// The deadlines of one generator's requests, in the order they started.
pub(crate) struct Deadlines {
    env: SimEnv,
    timeout_ns: u64,
    queue: RefCell<VecDeque<(u64, Rc<Expiry>)>>,
    /// Wakes the keeper when the queue gets its first entry.
    armed: Notify,
    /// The keeper is waiting for an entry.
    idle: Cell<bool>,
}

impl Deadlines {
    /// The deadlines of requests that time out after `timeout`.
    pub(crate) fn new(env: SimEnv, timeout: Duration) -> Rc<Self> {
        let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        Rc::new(Self {
            env,
            timeout_ns,
            queue: RefCell::new(VecDeque::new()),
            armed: Notify::new(),
            idle: Cell::new(false),
        })
    }

    /// Starts the clock of a request that starts now. The request holds the handle while it
    /// waits and drops it when it ends.
    pub(crate) fn start(&self) -> Rc<Expiry> {
        let expiry = Rc::new(Expiry::default());
        let deadline = self.env.sim_ns().saturating_add(self.timeout_ns);
        let mut queue = self.queue.borrow_mut();
        // Requests mostly end in the order they started: the entries of those that ended go
        // now, not at their deadlines, so the queue holds about the requests in flight.
        while queue.front().is_some_and(|(_, e)| Rc::strong_count(e) == 1) {
            queue.pop_front();
        }
        queue.push_back((deadline, expiry.clone()));
        drop(queue);
        if self.idle.get() {
            self.armed.notify_one();
        }
        expiry
    }

    /// Expires requests as their deadlines come; runs as long as its host does.
    pub(crate) async fn keep(self: Rc<Self>) {
        loop {
            let next = self.queue.borrow().front().map(|(deadline, _)| *deadline);
            let Some(deadline) = next else {
                self.idle.set(true);
                self.armed.notified().await;
                self.idle.set(false);
                continue;
            };
            let now = self.env.sim_ns();
            if deadline > now {
                self.env.sleep_world(Duration::from_nanos(deadline - now)).await;
                continue;
            }
            loop {
                let due = {
                    let mut queue = self.queue.borrow_mut();
                    match queue.front() {
                        Some((deadline, _)) if *deadline <= now => queue.pop_front(),
                        _ => None,
                    }
                };
                let Some((_, expiry)) = due else { break };
                // A request that ended has dropped its handle: nobody to tell.
                if Rc::strong_count(&expiry) > 1 {
                    expiry.expire();
                }
            }
        }
    }
}
