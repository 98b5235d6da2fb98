//! [`LocalLock`]: an async lock for the tasks of one thread.
//!
//! Models run on a single-threaded executor, so the lock that keeps two frames from
//! interleaving on a connection needs no atomics: a flag, the value in a `RefCell`, and a
//! `Notify` for the tasks that wait. Taking a free lock and giving it back touch no shared
//! counter and no mutex, where `tokio::sync::Mutex` takes a semaphore permit and, on release,
//! locks its waiter list; both happen on every request and reply.
//!
//! Waiters are woken one at a time in the order they began to wait (the `Notify`'s order);
//! a task that finds the lock free takes it at once, even ahead of a woken waiter, which then
//! waits again. A waiter dropped after its wake-up passes the wake-up on (the `Notify` does).

use std::cell::{Cell, RefCell, RefMut};
use std::ops::{Deref, DerefMut};
use tokio::sync::Notify;

/// An async lock for one thread's tasks.
pub struct LocalLock<T> {
    value: RefCell<T>,
    locked: Cell<bool>,
    /// Tasks waiting for the lock.
    waiting: Cell<usize>,
    released: Notify,
}

/// Holds a [`LocalLock`]; gives it back when dropped.
pub struct LocalGuard<'a, T> {
    lock: &'a LocalLock<T>,
    value: RefMut<'a, T>,
}

impl<T> LocalLock<T> {
    /// A lock around `value`.
    pub fn new(value: T) -> Self {
        Self { value: RefCell::new(value), locked: Cell::new(false), waiting: Cell::new(0), released: Notify::new() }
    }

    /// Waits until the lock is free and takes it.
    pub async fn lock(&self) -> LocalGuard<'_, T> {
        if self.locked.get() {
            self.waiting.set(self.waiting.get() + 1);
            let _counted = Waiting(&self.waiting);
            while self.locked.get() {
                self.released.notified().await;
            }
        }
        self.locked.set(true);
        LocalGuard { lock: self, value: self.value.borrow_mut() }
    }
}

/// Counts a task as waiting while it exists (a waiter dropped mid-wait uncounts itself).
struct Waiting<'a>(&'a Cell<usize>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl<T> Deref for LocalGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for LocalGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for LocalGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.set(false);
        if self.lock.waiting.get() > 0 {
            self.lock.released.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn holders_never_overlap_and_waiters_go_in_order() {
        run(async {
            let lock = Rc::new(LocalLock::new(Vec::new()));
            let inside = Rc::new(Cell::new(0));
            let mut tasks = Vec::new();
            for i in 0..5u64 {
                let (lock, inside) = (lock.clone(), inside.clone());
                tasks.push(tokio::task::spawn_local(async move {
                    let mut held = lock.lock().await;
                    inside.set(inside.get() + 1);
                    assert_eq!(inside.get(), 1, "two holders at once");
                    held.push(i);
                    tokio::time::sleep(Duration::from_millis(10 - i)).await;
                    inside.set(inside.get() - 1);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(*lock.lock().await, vec![0, 1, 2, 3, 4]);
        });
    }

    #[test]
    fn a_waiter_that_gives_up_does_not_strand_the_next() {
        run(async {
            let lock = Rc::new(LocalLock::new(0));
            let held = lock.lock().await;
            // One waiter gives up after 5 ms; the second must still get the lock.
            let l1 = lock.clone();
            let quitter = tokio::task::spawn_local(async move {
                tokio::time::timeout(Duration::from_millis(5), l1.lock()).await.is_ok()
            });
            let l2 = lock.clone();
            let patient = tokio::task::spawn_local(async move {
                *l2.lock().await += 1;
            });
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert_eq!(lock.waiting.get(), 2);
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(!quitter.await.unwrap(), "the first waiter timed out");
            assert_eq!(lock.waiting.get(), 1, "and stopped counting as waiting");
            drop(held);
            tokio::time::timeout(Duration::from_secs(1), patient)
                .await
                .expect("the patient waiter got the lock")
                .unwrap();
            assert_eq!(*lock.lock().await, 1);
            assert_eq!(lock.waiting.get(), 0);
        });
    }

    #[test]
    fn a_woken_waiter_dropped_before_it_runs_passes_the_wake_up_on() {
        run(async {
            let lock = Rc::new(LocalLock::new(()));
            let held = lock.lock().await;
            let l1 = lock.clone();
            let first = tokio::task::spawn_local(async move {
                let _g = l1.lock().await;
            });
            let l2 = lock.clone();
            let second = tokio::task::spawn_local(async move {
                let _g = l2.lock().await;
            });
            tokio::task::yield_now().await;
            // Wake the first waiter, then cancel it before it can run.
            drop(held);
            first.abort();
            tokio::time::timeout(Duration::from_secs(1), second).await.expect("the wake-up was passed on").unwrap();
        });
    }
}
