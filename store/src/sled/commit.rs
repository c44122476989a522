//! Group commit: a mutation is applied in memory by a sled transaction at once, and becomes
//! durable when a later `flush` reaches disk. One flusher thread per store flushes whenever
//! tickets are waiting, so concurrent writers share one fsync.
//!
//! Each commit takes the next *generation* number after its transaction has committed. A flush
//! that starts when the last handed-out generation is `g` makes every generation `<= g` durable;
//! a ticket is complete once the flushed generation reaches its own. A ticket is therefore only
//! ever completed by a flush that started after its transaction committed.
//!
//! A failed flush poisons the store: after a failed fsync the kernel may have dropped the dirty
//! pages, so retrying could report durability that does not exist. Every pending and later ticket
//! then fails with [`StoreError::Flush`], and the flusher thread stops. The engine also poisons
//! it when sled refuses a write ([`GroupCommit::poison`]). A poisoned group commit never heals:
//! recovery replaces the whole engine (`recover.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Result, StoreError};

/// Makes everything committed so far durable; `Err` carries a description of the failure.
pub(crate) type FlushFn = Box<dyn FnMut() -> std::result::Result<(), String> + Send>;

/// When the last flush made more than one commit durable, commits are arriving concurrently and
/// the flusher waits this long for more before the next flush: every flush wakes sled's whole I/O
/// thread pool, so fewer, larger flushes save CPU. A commit arriving alone after a flush that
/// served one commit is flushed at once, so a lone client pays no delay. Measured with sled's
/// thread-pool fix in place (mixed load, c=16, `benches/compare` stack, three alternating runs):
/// without the wait 16.2k / 14.4k / 15.7k ops/s, with 100 µs 16.6k / 17.0k / 16.5k.
const GATHER: std::time::Duration = std::time::Duration::from_micros(100);

/// Name of the flusher thread, as seen in `top -H` and panics.
const FLUSHER_THREAD_NAME: &str = "s3o-store-flush";

/// The shared state between committers, waiters and the flusher.
#[derive(Default)]
struct State {
    /// Last generation handed out to a commit.
    registered: u64,
    /// Every generation up to this one is durable.
    flushed: u64,
    /// Flushes completed.
    flushes: u64,
    /// Why the store stopped promising durability, once it has.
    poisoned: Option<String>,
    /// The last store handle is gone: flush what is pending and exit.
    shutdown: bool,
    /// The flusher thread has exited.
    stopped: bool,
    /// Wakers of pending async tickets, by generation.
    wakers: BTreeMap<u64, Waker>,
}

impl State {
    /// The outcome of generation `g`, or `None` while it is still pending.
    fn outcome(&self, g: u64) -> Option<Result<()>> {
        if g <= self.flushed {
            Some(Ok(()))
        } else if let Some(why) = &self.poisoned {
            Some(Err(StoreError::Flush(why.clone())))
        } else if self.stopped {
            Some(Err(StoreError::Flush("flusher thread stopped".to_owned())))
        } else {
            None
        }
    }
}

/// What the store, its tickets and its flusher thread share.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled when there is work (or shutdown) for the flusher.
    work: Condvar,
    /// Signalled after every flush attempt, for blocking waiters.
    done: Condvar,
}

/// The group-commit engine of one store; dropping it flushes what is pending and stops the thread.
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher thread around `flush`.
    pub(crate) fn start(flush: FlushFn) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(FLUSHER_THREAD_NAME.to_owned())
            .spawn(move || run_flusher(&for_thread, flush))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Registers a transaction that has just committed and returns its ticket.
    pub(crate) fn ticket(&self) -> CommitTicket {
        let mut st = self.shared.state.lock();
        st.registered += 1;
        let generation = st.registered;
        drop(st);
        self.shared.work.notify_one();
        CommitTicket {
            shared: Some(Arc::clone(&self.shared)),
            generation,
        }
    }

    /// Fails when the store is poisoned, so mutations stop before changing anything.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.shared.state.lock().poisoned {
            Some(why) => Err(StoreError::Flush(why.clone())),
            None => Ok(()),
        }
    }

    /// Why the store no longer promises durability (a failed flush, a stopped flusher), if so.
    pub(crate) fn problem(&self) -> Option<String> {
        let st = self.shared.state.lock();
        match (&st.poisoned, st.stopped) {
            (Some(why), _) => Some(why.clone()),
            (None, true) => Some("flusher thread stopped".to_owned()),
            (None, false) => None,
        }
    }

    /// Poisons the store as a failed flush would (the first cause is kept): every pending and
    /// later ticket fails, and the flusher thread stops. Generations a flush already made durable
    /// stay durable.
    pub(crate) fn poison(&self, why: &str) {
        let mut st = self.shared.state.lock();
        if st.poisoned.is_none() {
            tracing::error!(error = %why, "metadata store poisoned");
            st.poisoned = Some(why.to_owned());
        }
        let woken = std::mem::take(&mut st.wakers);
        drop(st);
        self.shared.work.notify_one();
        self.shared.done.notify_all();
        woken.into_values().for_each(Waker::wake);
    }

    /// Flushes completed since the store opened.
    pub(crate) fn flush_count(&self) -> u64 {
        self.shared.state.lock().flushes
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.work.notify_one();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("metadata flusher thread panicked");
            }
        }
    }
}

/// The flusher loop: wait for pending generations, flush once for all of them, complete them.
fn run_flusher(shared: &Shared, mut flush: FlushFn) {
    let mut st = shared.state.lock();
    let mut last_batch = 0;
    loop {
        while st.registered == st.flushed && !st.shutdown && st.poisoned.is_none() {
            shared.work.wait(&mut st);
        }
        if st.registered == st.flushed || st.poisoned.is_some() {
            break; // shutdown with nothing pending, or poisoned by the engine
        }
        if last_batch > 1 && !st.shutdown {
            // Commits are arriving concurrently: gather more before flushing.
            MutexGuard::unlocked(&mut st, || std::thread::sleep(GATHER));
        }
        let target = st.registered;
        last_batch = target - st.flushed;
        let result = MutexGuard::unlocked(&mut st, || {
            catch_unwind(AssertUnwindSafe(&mut flush)).unwrap_or_else(|_| Err("flush panicked".to_owned()))
        });
        let woken = match result {
            Ok(()) => {
                st.flushed = target;
                st.flushes += 1;
                let pending = st.wakers.split_off(&(target + 1));
                std::mem::replace(&mut st.wakers, pending)
            }
            Err(why) => {
                tracing::error!(error = %why, "metadata flush failed; store poisoned");
                st.poisoned.get_or_insert(why);
                std::mem::take(&mut st.wakers)
            }
        };
        shared.done.notify_all();
        MutexGuard::unlocked(&mut st, || woken.into_values().for_each(Waker::wake));
        if st.poisoned.is_some() {
            break;
        }
    }
    st.stopped = true;
    let woken = std::mem::take(&mut st.wakers);
    drop(st);
    shared.done.notify_all();
    woken.into_values().for_each(Waker::wake);
}

/// Completes when a mutation is durable on disk; the engine awaits it inside the future a
/// mutation returns.
///
/// Dropping it does not undo or delay the mutation; it only stops waiting for durability.
#[must_use = "a mutation is not durable until its ticket completes"]
pub(crate) struct CommitTicket {
    /// `None` for a mutation that changed nothing and so has nothing to wait for.
    shared: Option<Arc<Shared>>,
    generation: u64,
}

impl CommitTicket {
    /// A ticket for a mutation that wrote nothing: complete at once.
    pub(crate) fn ready() -> Self {
        Self {
            shared: None,
            generation: 0,
        }
    }

    /// Blocks the calling thread until the mutation is durable.
    #[cfg(test)]
    pub(crate) fn wait(self) -> Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let mut st = shared.state.lock();
        loop {
            if let Some(outcome) = st.outcome(self.generation) {
                return outcome;
            }
            shared.done.wait(&mut st);
        }
    }

    /// Whether the mutation is durable already (a failed flush counts as not durable).
    pub(crate) fn is_durable(&self) -> bool {
        match &self.shared {
            None => true,
            Some(shared) => matches!(shared.state.lock().outcome(self.generation), Some(Ok(()))),
        }
    }
}

impl Future for CommitTicket {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(shared) = &self.shared else {
            return Poll::Ready(Ok(()));
        };
        let mut st = shared.state.lock();
        match st.outcome(self.generation) {
            Some(outcome) => {
                st.wakers.remove(&self.generation);
                Poll::Ready(outcome)
            }
            None => {
                match st.wakers.get_mut(&self.generation) {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    Some(w) => w.clone_from(cx.waker()),
                    None => {
                        st.wakers.insert(self.generation, cx.waker().clone());
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for CommitTicket {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.state.lock().wakers.remove(&self.generation);
        }
    }
}

impl std::fmt::Debug for CommitTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitTicket")
            .field("generation", &self.generation)
            .field("durable", &self.is_durable())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    /// A flush function that counts calls and takes `delay`.
    fn counting(delay: Duration) -> (FlushFn, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let f: FlushFn = Box::new(move || {
            std::thread::sleep(delay);
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        (f, calls)
    }

    /// A waker that counts wakes.
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Polls `ticket` until ready with a counting waker, sleeping between polls; bounded.
    fn poll_to_end(mut ticket: CommitTicket) -> (Result<()>, usize) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        for _ in 0..2000 {
            if let Poll::Ready(r) = Pin::new(&mut ticket).poll(&mut cx) {
                return (r, counter.0.load(Ordering::SeqCst));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("ticket never completed");
    }

    #[test]
    fn a_ticket_completes_after_a_flush_by_wait_and_by_poll() {
        let (f, calls) = counting(Duration::from_millis(20));
        let gc = GroupCommit::start(f).unwrap();
        let t = gc.ticket();
        assert!(!t.is_durable());
        t.wait().unwrap();
        assert!(calls.load(Ordering::SeqCst) >= 1);
        let (r, wakes) = poll_to_end(gc.ticket());
        r.unwrap();
        assert!(wakes >= 1, "the flusher wakes a pending future");
        assert_eq!(gc.flush_count(), 2);
        assert!(gc.problem().is_none());
        assert!(CommitTicket::ready().is_durable());
        CommitTicket::ready().wait().unwrap();
        assert!(format!("{:?}", CommitTicket::ready()).contains("durable: true"));
    }

    #[test]
    fn concurrent_committers_share_flushes() {
        let (f, calls) = counting(Duration::from_millis(3));
        let gc = Arc::new(GroupCommit::start(f).unwrap());
        let threads = 8;
        let per_thread = 25;
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let gc = Arc::clone(&gc);
                std::thread::spawn(move || {
                    for _ in 0..per_thread {
                        gc.ticket().wait().unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let commits = threads * per_thread;
        let flushes = calls.load(Ordering::SeqCst);
        assert!(flushes * 2 <= commits, "{flushes} flushes for {commits} commits");
        assert_eq!(gc.flush_count(), u64::try_from(flushes).unwrap());
    }

    #[test]
    fn a_failed_flush_poisons_every_pending_and_later_ticket() {
        let f: FlushFn = Box::new(|| Err("disk on fire".to_owned()));
        let gc = GroupCommit::start(f).unwrap();
        let t = gc.ticket();
        assert!(matches!(t.wait(), Err(StoreError::Flush(why)) if why == "disk on fire"));
        assert!(matches!(gc.check(), Err(StoreError::Flush(_))));
        assert_eq!(gc.problem().as_deref(), Some("disk on fire"));
        let (r, _) = poll_to_end(gc.ticket());
        assert!(matches!(r, Err(StoreError::Flush(_))));
        assert!(!gc.ticket().is_durable());
        assert_eq!(gc.flush_count(), 0);
    }

    #[test]
    fn poisoning_fails_pending_tickets_keeps_durable_ones_and_stops_the_flusher() {
        let gate = Arc::new(Mutex::new(()));
        let g = Arc::clone(&gate);
        let f: FlushFn = Box::new(move || {
            drop(g.lock());
            Ok(())
        });
        let gc = GroupCommit::start(f).unwrap();
        let durable = gc.ticket();
        durable.wait().unwrap();
        let held = gate.lock();
        let pending = gc.ticket();
        gc.poison("sled refused a write");
        gc.poison("a later cause");
        assert!(matches!(pending.wait(), Err(StoreError::Flush(why)) if why == "sled refused a write"));
        drop(held);
        assert!(matches!(gc.check(), Err(StoreError::Flush(_))));
        assert_eq!(gc.problem().as_deref(), Some("sled refused a write"));
        let t0 = std::time::Instant::now();
        while !gc.shared.state.lock().stopped {
            assert!(t0.elapsed() < Duration::from_secs(10), "the flusher did not stop");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(gc.flush_count() >= 1);
    }

    #[test]
    fn a_panicking_flush_poisons_instead_of_hanging() {
        let f: FlushFn = Box::new(|| panic!("boom"));
        let gc = GroupCommit::start(f).unwrap();
        assert!(matches!(gc.ticket().wait(), Err(StoreError::Flush(why)) if why == "flush panicked"));
    }

    #[test]
    fn dropping_the_engine_flushes_pending_tickets_then_stops() {
        let (f, calls) = counting(Duration::from_millis(10));
        let gc = GroupCommit::start(f).unwrap();
        let tickets: Vec<_> = (0..5).map(|_| gc.ticket()).collect();
        drop(gc);
        for t in tickets {
            t.wait().unwrap();
        }
        assert!(calls.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn a_stopped_flusher_fails_tickets_it_never_saw() {
        let (f, _) = counting(Duration::ZERO);
        let gc = GroupCommit::start(f).unwrap();
        let shared = Arc::clone(&gc.shared);
        drop(gc);
        // Forge a registration after shutdown: nothing will ever flush it.
        shared.state.lock().registered += 1;
        let generation = shared.state.lock().registered;
        let t = CommitTicket {
            shared: Some(shared),
            generation,
        };
        assert!(matches!(t.wait(), Err(StoreError::Flush(why)) if why.contains("stopped")));
    }

    #[test]
    fn dropping_a_pending_ticket_forgets_its_waker() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock();
        let g = Arc::clone(&gate);
        let f: FlushFn = Box::new(move || {
            drop(g.lock());
            Ok(())
        });
        let gc = GroupCommit::start(f).unwrap();
        let mut t = gc.ticket();
        let waker = Waker::from(Arc::new(CountingWaker(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut t).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut t).poll(&mut cx).is_pending());
        assert_eq!(gc.shared.state.lock().wakers.len(), 1);
        drop(t);
        assert!(gc.shared.state.lock().wakers.is_empty());
        drop(held);
    }
}
