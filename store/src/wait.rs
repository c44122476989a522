//! [`block_on`]: waiting for a store future on a thread that is not an async runtime's (startup,
//! shutdown, tests, benches). Store futures are woken by the engine's own threads, never by the
//! runtime that polls them, so parking the calling thread until woken is all it takes.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on the calling thread, parking it while the future is pending.
///
/// Never call it on an async runtime's core thread: it would stop every other task of that core
/// until the store answers. Await the future there instead.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // A wake between the poll and here leaves the token set: park returns at once.
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// Ready once another thread has set its flag, and woken it.
    #[derive(Default)]
    struct WokenLater {
        done: Arc<AtomicBool>,
        spawned: bool,
    }

    impl Future for WokenLater {
        type Output = u32;

        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            if self.done.load(Ordering::SeqCst) {
                return Poll::Ready(7);
            }
            if !self.spawned {
                self.spawned = true;
                let (waker, done) = (cx.waker().clone(), Arc::clone(&self.done));
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(10));
                    done.store(true, Ordering::SeqCst);
                    waker.wake();
                });
            }
            Poll::Pending
        }
    }

    #[test]
    fn waits_for_a_wake_from_another_thread() {
        assert_eq!(block_on(async { 1 }), 1);
        assert_eq!(block_on(WokenLater::default()), 7);
    }
}
