//! One computation per key at a time on the admin thread: callers asking for a key whose
//! computation is running wait for its result instead of starting their own (the data API's
//! prefix sizes: concurrent requests for one prefix share one walk). Single-threaded (`Rc`,
//! `RefCell`): the admin port runs on one core. A leader dropped before it finished (its client
//! went away) hands its waiters `abandoned`, so none waits forever.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// The shared slot of one running computation.
struct Flight<T> {
    result: RefCell<Option<T>>,
    waiters: RefCell<Vec<Waker>>,
}

impl<T> Flight<T> {
    fn finish(&self, value: T) {
        *self.result.borrow_mut() = Some(value);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// Computations in flight by key.
pub struct SingleFlight<T> {
    running: RefCell<HashMap<String, Rc<Flight<T>>>>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            running: RefCell::default(),
        }
    }
}

/// Ends a leader's flight: with its result, or `abandoned` when dropped unfinished.
struct Leader<'a, T: Clone> {
    key: &'a str,
    flights: &'a SingleFlight<T>,
    flight: Rc<Flight<T>>,
    abandoned: Option<T>,
}

impl<T: Clone> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        self.flights.running.borrow_mut().remove(self.key);
        if self.flight.result.borrow().is_none() {
            if let Some(v) = self.abandoned.take() {
                self.flight.finish(v);
            }
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// The result of `compute` for `key`, or of the one already running for it.
    pub async fn run<F: Future<Output = T>>(&self, key: &str, abandoned: T, compute: impl FnOnce() -> F) -> T {
        let running = self.running.borrow().get(key).cloned();
        if let Some(flight) = running {
            return std::future::poll_fn(|cx| match flight.result.borrow().as_ref() {
                Some(v) => Poll::Ready(v.clone()),
                None => {
                    flight.waiters.borrow_mut().push(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
        }
        let flight = Rc::new(Flight {
            result: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
        });
        self.running.borrow_mut().insert(key.to_owned(), flight.clone());
        let leader = Leader {
            key,
            flights: self,
            flight,
            abandoned: Some(abandoned),
        };
        let value = compute().await;
        leader.flight.finish(value.clone());
        value
    }

    /// How many computations are running.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.running.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[monoio::test(timer_enabled = true)]
    async fn concurrent_callers_share_one_computation() {
        let flights = SingleFlight::<u32>::default();
        let runs = Cell::new(0);
        let compute = || async {
            runs.set(runs.get() + 1);
            monoio::time::sleep(std::time::Duration::from_millis(30)).await;
            7
        };
        let (a, b, c) = monoio::join!(
            flights.run("p/", 0, compute),
            flights.run("p/", 0, compute),
            flights.run("p/", 0, compute)
        );
        assert_eq!((a, b, c, runs.get()), (7, 7, 7, 1));
        assert_eq!(flights.in_flight(), 0);
        // Once done, the next caller computes again.
        assert_eq!(flights.run("p/", 0, compute).await, 7);
        assert_eq!(runs.get(), 2);
    }

    #[monoio::test(timer_enabled = true)]
    async fn a_dropped_leader_releases_its_waiters() {
        let flights = SingleFlight::<u32>::default();
        let slow = || async {
            monoio::time::sleep(std::time::Duration::from_secs(60)).await;
            7
        };
        let leader = flights.run("p/", 99, slow);
        let waiter = flights.run("p/", 0, slow);
        let cut = async {
            // The leader runs first (registering the flight), then is dropped after 20 ms.
            let _ = monoio::time::timeout(std::time::Duration::from_millis(20), leader).await;
        };
        let (_, got) = monoio::join!(cut, waiter);
        assert_eq!(got, 99);
        assert_eq!(flights.in_flight(), 0);
    }
}
