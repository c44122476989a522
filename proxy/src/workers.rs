//! Background services (the cleanup queue, the multipart reaper, and every worker later features
//! add) on one small framework: each is a [`Worker`] that ticks, run as a task on one shared
//! worker thread with its own monoio runtime, stopped between ticks at shutdown and joined. Each
//! keeps a [`Health`] record (ticks, last success, last failure and its error, consecutive
//! failures) in the [`Registry`] that status endpoints and metrics read.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{debug, warn};

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Nothing (more) to do now: wait the worker's interval.
    Idle,
    /// Work was done and more may be waiting: tick again at once.
    Busy,
}

/// A background service. Ticks run one at a time; an `Err` is recorded as a failure and the
/// worker ticks again after its interval.
pub trait Worker {
    /// The name shown in status and metrics.
    fn name(&self) -> &'static str;
    /// The pause after an idle or failed tick.
    fn interval(&self) -> Duration;
    /// One round of work.
    fn tick(&mut self) -> impl Future<Output = Result<Tick, String>>;
    /// Whether the worker must run on one instance only of those sharing the store (it drains a
    /// shared queue): it then ticks only while it holds the store's lease named after it.
    fn exclusive(&self) -> bool {
        false
    }
}

/// How long a worker lease lasts unless renewed (before every tick, and every third of it
/// between ticks, so two renewals may fail before it lapses): a dead holder's workers move to another instance within this.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often an instance not holding a worker's lease tries to take it.
pub const LEASE_POLL: Duration = Duration::from_secs(1);

/// A worker's health, updated by its runner and read from any thread.
#[derive(Debug)]
pub struct Health {
    name: &'static str,
    ticks: AtomicU64,
    consecutive_failures: AtomicU64,
    /// Unix milliseconds; 0 = never.
    last_success_ms: AtomicU64,
    last_failure_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
    running: AtomicBool,
    /// The worker's lease as last seen, for an exclusive worker.
    lease: Mutex<Option<s3o_store::Lease>>,
}

/// A copy of a worker's [`Health`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// The worker's name.
    pub name: &'static str,
    /// Ticks run.
    pub ticks: u64,
    /// Failed ticks since the last success.
    pub consecutive_failures: u64,
    /// When the last tick succeeded (unix ms), if ever.
    pub last_success_ms: Option<u64>,
    /// When the last tick failed (unix ms), if ever.
    pub last_failure_ms: Option<u64>,
    /// The last failure's error, if any.
    pub last_error: Option<String>,
    /// Whether the worker is running (started and not stopped).
    pub running: bool,
    /// For an exclusive worker: its lease as last seen (which instance holds it, until when).
    pub lease: Option<s3o_store::Lease>,
}

impl Health {
    fn new(name: &'static str) -> Health {
        Health {
            name,
            ticks: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            last_success_ms: AtomicU64::new(0),
            last_failure_ms: AtomicU64::new(0),
            last_error: Mutex::new(None),
            running: AtomicBool::new(false),
            lease: Mutex::new(None),
        }
    }

    fn record(&self, result: &Result<Tick, String>, now_ms: u64) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(_) => {
                self.consecutive_failures.store(0, Ordering::Relaxed);
                self.last_success_ms.store(now_ms, Ordering::Relaxed);
            }
            Err(e) => {
                self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                self.last_failure_ms.store(now_ms, Ordering::Relaxed);
                *self.last_error.lock() = Some(e.clone());
            }
        }
    }

    /// The record now.
    pub fn snapshot(&self) -> HealthSnapshot {
        let when = |a: &AtomicU64| Some(a.load(Ordering::Relaxed)).filter(|&t| t > 0);
        HealthSnapshot {
            name: self.name,
            ticks: self.ticks.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_success_ms: when(&self.last_success_ms),
            last_failure_ms: when(&self.last_failure_ms),
            last_error: self.last_error.lock().clone(),
            running: self.running.load(Ordering::Relaxed),
            lease: self.lease.lock().clone(),
        }
    }
}

/// Every worker's health record, and the stop signal they share.
#[derive(Debug, Default)]
pub struct Registry {
    health: Mutex<Vec<Arc<Health>>>,
    stop: AtomicBool,
    /// The store whose leases exclusive workers take, and this instance's name in them.
    leases: std::sync::OnceLock<Leases>,
}

impl Registry {
    /// A new record for a worker called `name`.
    fn register(&self, name: &'static str) -> Arc<Health> {
        let h = Arc::new(Health::new(name));
        self.health.lock().push(h.clone());
        h
    }

    /// Every worker's record now, in start order.
    pub fn snapshot(&self) -> Vec<HealthSnapshot> {
        self.health.lock().iter().map(|h| h.snapshot()).collect()
    }

    /// Whether a worker pool was started (workers registered).
    pub fn started(&self) -> bool {
        !self.health.lock().is_empty()
    }

    /// Makes exclusive workers take `store`'s leases (as the store's instance) before ticking.
    pub fn use_leases(&self, store: s3o_store::Store) {
        let instance = store.instance();
        self.lease_as(store, instance, LEASE_TTL);
    }

    /// Makes exclusive workers take `store`'s leases as `instance`, for `ttl` at a time.
    fn lease_as(&self, store: s3o_store::Store, instance: String, ttl: Duration) {
        let _ = self.leases.set(Leases {
            store,
            me: instance,
            ttl,
        });
    }

    /// This instance's name in worker leases, if workers take leases.
    pub fn instance(&self) -> Option<&str> {
        self.leases.get().map(|l| l.me.as_str())
    }

    /// Whether the workers were told to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// How often a waiting worker looks at the stop signal.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// Least time between two warnings of the same failure of one worker.
const REPEAT_WARN: Duration = Duration::from_secs(60);

/// Runs `worker` until the registry says stop, recording each tick in `health`.
pub async fn run<W: Worker>(mut worker: W, registry: Arc<Registry>, health: Arc<Health>) {
    health.running.store(true, Ordering::Relaxed);
    // The last failure logged, and when: the same failure again is logged once a minute at most
    // (a store that cannot commit fails every tick until it recovers).
    let mut last_warned: Option<(String, Instant)> = None;
    let leases = registry.leases.get().filter(|_| worker.exclusive());
    let mut holding = false;
    while !registry.stopping() {
        if let Some(l) = leases {
            holding = l.take(worker.name(), &health).await;
            if !holding {
                pause(&registry, l.ttl.min(LEASE_POLL).min(worker.interval())).await;
                continue;
            }
        }
        let result = worker.tick().await;
        health.record(&result, crate::clock::unix_ms());
        let wait = match &result {
            Ok(tick) => {
                last_warned = None;
                if *tick == Tick::Busy {
                    continue;
                }
                worker.interval()
            }
            Err(e) => {
                let repeated = last_warned
                    .as_ref()
                    .is_some_and(|(last, at)| last == e && at.elapsed() < REPEAT_WARN);
                if repeated {
                    debug!(worker = worker.name(), error = %e, "worker tick failed again");
                } else {
                    warn!(worker = worker.name(), error = %e, "worker tick failed");
                    last_warned = Some((e.clone(), Instant::now()));
                }
                worker.interval()
            }
        };
        match leases {
            // A holder renews its lease while it waits, so an interval longer than the lease
            // does not hand the worker to a standby between two ticks.
            Some(l) => {
                let until = Instant::now() + wait;
                let renew = l.ttl / 3;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    pause(&registry, left.min(renew)).await;
                    if registry.stopping() || left <= renew {
                        break;
                    }
                    holding = l.take(worker.name(), &health).await;
                    if !holding {
                        break;
                    }
                }
            }
            None => pause(&registry, wait).await,
        }
    }
    if let (Some(l), true) = (leases, holding) {
        // Hand the worker over at once rather than after the lease expires.
        if let Err(e) = l.store.release_lease(worker.name(), &l.me).await {
            debug!(worker = worker.name(), error = %e, "worker lease not released; it expires");
        }
    }
    health.running.store(false, Ordering::Relaxed);
    debug!(worker = worker.name(), "worker stopped");
}

/// Where and as whom exclusive workers take their leases.
#[derive(Debug)]
struct Leases {
    store: s3o_store::Store,
    me: String,
    ttl: Duration,
}

impl Leases {
    /// Takes or renews `name`'s lease, recording what the store says in `health`; whether this
    /// instance holds it now.
    async fn take(&self, name: &str, health: &Health) -> bool {
        match self.store.acquire_lease(name, &self.me, millis(self.ttl)).await {
            Ok(lease) => {
                let mine = lease.holder == self.me;
                *health.lease.lock() = Some(lease);
                mine
            }
            Err(e) => {
                let failed: Result<Tick, String> = Err(format!("worker lease: {e}"));
                health.record(&failed, crate::clock::unix_ms());
                false
            }
        }
    }
}

/// Waits `wait`, or less if the workers are told to stop meanwhile.
async fn pause(registry: &Registry, wait: Duration) {
    let until = Instant::now() + wait;
    while !registry.stopping() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        monoio::time::sleep(left.min(STOP_CHECK)).await;
    }
}

/// A duration in whole milliseconds.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Adds workers to the running worker thread (handed to the setup closure of [`Workers::start`]).
pub struct Spawner {
    registry: Arc<Registry>,
}

impl Spawner {
    /// Starts `worker` as a task of the worker thread.
    pub fn spawn<W: Worker + 'static>(&self, worker: W) {
        let health = self.registry.register(worker.name());
        monoio::spawn(run(worker, self.registry.clone(), health));
    }
}

/// The worker thread: its runtime runs every worker as a task until [`Workers::stop`].
#[derive(Debug)]
pub struct Workers {
    registry: Arc<Registry>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts the worker thread; `setup` runs on it and spawns the workers (built there, so they
    /// may hold per-thread state such as backend clients).
    pub fn start(
        registry: Arc<Registry>,
        setup: impl FnOnce(&Spawner) + Send + 'static,
    ) -> Result<Workers, std::io::Error> {
        let reg = registry.clone();
        let (started, setup_done) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("s3o-workers".into()).spawn(move || {
            let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build();
            let mut rt = match rt {
                Ok(rt) => rt,
                Err(e) => {
                    warn!(error = %e, "worker thread: no runtime; background workers not running");
                    return;
                }
            };
            rt.block_on(async move {
                setup(&Spawner { registry: reg.clone() });
                let _ = started.send(());
                // Let the workers run until told to stop, then give their loops a moment to end
                // their current tick.
                while !reg.stopping() {
                    monoio::time::sleep(STOP_CHECK).await;
                }
                let t0 = Instant::now();
                while reg.health.lock().iter().any(|h| h.running.load(Ordering::Relaxed)) && t0.elapsed() < STOP_WAIT {
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        })?;
        // Every worker is registered once `start` returns (or the thread failed to set up).
        let _ = setup_done.recv_timeout(Duration::from_secs(10));
        Ok(Workers {
            registry,
            thread: Some(thread),
        })
    }

    /// Tells every worker to stop after its current tick and joins the thread.
    pub fn stop(mut self) {
        self.registry.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    /// A `Workers` dropped without [`Workers::stop`] still tells its workers to stop.
    fn drop(&mut self) {
        self.registry.stop.store(true, Ordering::Release);
    }
}

/// How long stopping waits for workers to end their current tick.
const STOP_WAIT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails `fail` times, then succeeds, busy for the first `busy` successes.
    struct Flaky {
        fail: u32,
        busy: u32,
    }

    impl Worker for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn interval(&self) -> Duration {
            Duration::from_millis(5)
        }
        async fn tick(&mut self) -> Result<Tick, String> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(format!("{} failures to go", self.fail));
            }
            if self.busy > 0 {
                self.busy -= 1;
                return Ok(Tick::Busy);
            }
            Ok(Tick::Idle)
        }
    }

    #[test]
    fn health_counts_failures_until_a_success() {
        let h = Health::new("w");
        h.record(&Err("disk full".into()), 1_000);
        h.record(&Err("disk still full".into()), 2_000);
        let s = h.snapshot();
        assert_eq!((s.ticks, s.consecutive_failures), (2, 2));
        assert_eq!((s.last_success_ms, s.last_failure_ms), (None, Some(2_000)));
        assert_eq!(s.last_error.as_deref(), Some("disk still full"));
        h.record(&Ok(Tick::Idle), 3_000);
        let s = h.snapshot();
        assert_eq!(
            (s.ticks, s.consecutive_failures, s.last_success_ms),
            (3, 0, Some(3_000))
        );
        assert_eq!(
            s.last_error.as_deref(),
            Some("disk still full"),
            "the last error stays visible"
        );
    }

    #[test]
    fn workers_run_record_and_stop_when_told() {
        let registry = Arc::new(Registry::default());
        let w = Workers::start(registry.clone(), |s| s.spawn(Flaky { fail: 2, busy: 3 })).unwrap();
        let t0 = Instant::now();
        while registry.snapshot().first().is_none_or(|h| h.ticks < 8) {
            assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", registry.snapshot());
            std::thread::sleep(Duration::from_millis(5));
        }
        let s = &registry.snapshot()[0];
        assert!(s.running && s.name == "flaky" && s.consecutive_failures == 0, "{s:?}");
        assert_eq!(s.last_error.as_deref(), Some("0 failures to go"));
        assert!(s.last_success_ms.is_some() && s.last_failure_ms.is_some());
        let t0 = Instant::now();
        w.stop();
        assert!(t0.elapsed() < Duration::from_secs(5), "stopped and joined promptly");
        assert!(!registry.snapshot()[0].running);
    }

    /// An exclusive worker ticking once a minute, counting its ticks.
    struct Rare(Arc<AtomicU64>);

    impl Worker for Rare {
        fn name(&self) -> &'static str {
            "rare"
        }
        fn interval(&self) -> Duration {
            Duration::from_secs(60)
        }
        fn exclusive(&self) -> bool {
            true
        }
        async fn tick(&mut self) -> Result<Tick, String> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(Tick::Idle)
        }
    }

    /// Waits (bounded) until `cond` holds.
    fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            assert!(t0.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_lease_holder_keeps_its_lease_between_rare_ticks_and_hands_it_over_at_stop() {
        let store = s3o_store::Store::temporary().unwrap();
        let ttl = Duration::from_millis(300);
        let (a, b) = (Arc::new(Registry::default()), Arc::new(Registry::default()));
        a.lease_as(store.clone(), "a".into(), ttl);
        b.lease_as(store.clone(), "b".into(), ttl);
        let (ticks_a, ticks_b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let t = ticks_a.clone();
        let wa = Workers::start(a.clone(), move |s| s.spawn(Rare(t))).unwrap();
        wait_until("a ticks", || ticks_a.load(Ordering::Relaxed) == 1);
        let t = ticks_b.clone();
        let wb = Workers::start(b.clone(), move |s| s.spawn(Rare(t))).unwrap();
        // Several lease times pass while a waits for its next tick: it renews, b never takes over.
        let t0 = Instant::now();
        while t0.elapsed() < ttl * 6 {
            let view = b.snapshot()[0].lease.clone();
            assert!(view.as_ref().is_none_or(|l| l.holder == "a"), "{view:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(ticks_b.load(Ordering::Relaxed), 0, "b never ran the worker");
        let mine = a.snapshot()[0].lease.clone().unwrap();
        assert!(
            mine.holder == "a" && mine.expires_ms > crate::clock::unix_ms(),
            "{mine:?}"
        );
        // Stopping a releases the lease: b takes it at its next try, well within one lease time.
        wa.stop();
        wait_until("b ticks", || ticks_b.load(Ordering::Relaxed) == 1);
        assert_eq!(b.snapshot()[0].lease.clone().unwrap().holder, "b");
        wb.stop();
    }
}
