//! `run`: the load generator. Thread-per-core like the backend: each thread has its own monoio
//! runtime, signer and body maker, and runs its share of the workers (worker `g` goes to thread
//! `g % threads`). A run has three phases, the threads passing a barrier between setup and load:
//!
//! 1. setup: create the bucket (once), open every worker's connection, upload the prepared
//!    objects (split over all workers);
//! 2. warm-up: operations run but are not recorded;
//! 3. measure: until `--duration` is over or `--ops` are done (or the safety limit).
//!
//! Each thread's [`Stats`] are merged at the end into the [`report::Report`].

pub mod report;
pub mod stats;
pub mod worker;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use s3o_sigv4::Signer;

use crate::backend::runtime;
use crate::cli::RunConfig;
use crate::client::conn::{with_timeout, Conn};
use crate::client::payload::{BodyMaker, PayloadData, RequestBody};
use crate::client::request::RequestBuilder;
use crate::run::stats::Stats;
use crate::run::worker::{ThreadCtx, Worker};

/// What a finished run hands to the report.
#[derive(Debug)]
pub struct RunResult {
    /// All threads' measurements merged.
    pub stats: Stats,
    /// How long setup (connections and prepared objects) took.
    pub setup: Duration,
}

/// Runs the load described by `cfg`; progress goes to stderr.
pub fn run(cfg: RunConfig) -> Result<RunResult, String> {
    let cfg = Arc::new(cfg);
    let data = Arc::new(PayloadData::new(
        usize::try_from(cfg.buffer_len()).map_err(|_| "payload too large")?,
        cfg.payload,
    ));
    if cfg.create_bucket {
        create_bucket(&cfg)?;
    }
    let barrier = Arc::new(Barrier::new(cfg.threads + 1));
    let abort = Arc::new(AtomicBool::new(false));
    let setup_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let setup_started = Instant::now();
    let mut handles = Vec::with_capacity(cfg.threads);
    for t in 0..cfg.threads {
        let (cfg, data, barrier) = (cfg.clone(), data.clone(), barrier.clone());
        let (abort, setup_error) = (abort.clone(), setup_error.clone());
        let h = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || thread_main(t, cfg, data, &barrier, &abort, &setup_error))
            .map_err(|e| format!("spawn: {e}"))?;
        handles.push(h);
    }
    barrier.wait();
    let setup = setup_started.elapsed();
    if !abort.load(Ordering::Relaxed) && cfg.prepare {
        eprintln!("prepared {} objects in {:.2}s", cfg.objects, setup.as_secs_f64());
    }
    let mut stats = Stats::new();
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => stats.merge(&s),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a load thread panicked".into()),
        }
    }
    if let Some(e) = setup_error.lock().take() {
        return Err(format!("setup failed: {e}"));
    }
    Ok(RunResult { stats, setup })
}

/// The body of one load thread.
fn thread_main(
    t: usize,
    cfg: Arc<RunConfig>,
    data: Arc<PayloadData>,
    barrier: &Barrier,
    abort: &AtomicBool,
    setup_error: &Mutex<Option<String>>,
) -> Result<Stats, String> {
    let rt = runtime().map_err(|e| format!("runtime: {e}"));
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            abort.store(true, Ordering::Relaxed);
            barrier.wait();
            return Err(e);
        }
    };
    let signer = Signer::new(&cfg.access_key, &cfg.secret_key, &cfg.region, "s3");
    let ctx = Rc::new(ThreadCtx {
        builder: RequestBuilder::new(signer, &cfg.host, &cfg.bucket),
        bodies: RefCell::new(BodyMaker::new(data, cfg.payload)),
        stats: RefCell::new(Stats::new()),
        measure_from: Cell::new(None),
        deadline: Cell::new(Instant::now()),
        cfg: cfg.clone(),
    });
    let (per, extra) = match cfg.ops {
        Some(n) => (Some(n / cfg.concurrency as u64), n % cfg.concurrency as u64),
        None => (None, 0),
    };
    let workers: Vec<Worker> = (t..cfg.concurrency)
        .step_by(cfg.threads)
        .map(|g| Worker::new(g, per.map(|p| p + u64::from((g as u64) < extra))))
        .collect();
    let workers = rt.block_on(setup(workers, ctx.clone()));
    let workers = match workers {
        Ok(w) => w,
        Err(e) => {
            abort.store(true, Ordering::Relaxed);
            setup_error.lock().get_or_insert(e);
            Vec::new()
        }
    };
    barrier.wait();
    if abort.load(Ordering::Relaxed) {
        return Ok(Stats::new());
    }
    let start = Instant::now() + cfg.warmup;
    ctx.measure_from.set(Some(start));
    ctx.deadline.set(start + cfg.duration);
    ctx.stats.borrow_mut().window_start = Some(start);
    rt.block_on(async {
        let handles: Vec<_> = workers.into_iter().map(|w| monoio::spawn(w.run(ctx.clone()))).collect();
        for h in handles {
            h.await;
        }
    });
    let stats = ctx.stats.replace(Stats::new());
    Ok(stats)
}

/// Connects every worker and uploads the prepared objects (object `i` by global worker
/// `i % concurrency`).
async fn setup(workers: Vec<Worker>, ctx: Rc<ThreadCtx>) -> Result<Vec<Worker>, String> {
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut w| {
            let ctx = ctx.clone();
            monoio::spawn(async move {
                w.connect(&ctx).await?;
                if ctx.cfg.prepare {
                    let mut i = w.id as u64;
                    while i < ctx.cfg.objects as u64 {
                        w.prepare_one(&ctx, i).await?;
                        i += ctx.cfg.concurrency as u64;
                    }
                }
                Ok::<Worker, String>(w)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut first_err = None;
    for h in handles {
        match h.await {
            Ok(w) => out.push(w),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `PUT /bucket`; an existing bucket (`BucketAlreadyOwnedByYou`, `BucketAlreadyExists`) is fine.
fn create_bucket(cfg: &RunConfig) -> Result<(), String> {
    let mut rt = runtime().map_err(|e| format!("runtime: {e}"))?;
    let signer = Signer::new(&cfg.access_key, &cfg.secret_key, &cfg.region, "s3");
    let builder = RequestBuilder::new(signer, &cfg.host, &cfg.bucket);
    let unsigned = crate::client::payload::UNSIGNED.into();
    let out = builder.build("PUT", None, "", RequestBody::empty(&unsigned));
    let (addr, limit) = (cfg.addr, cfg.op_timeout);
    let resp = rt.block_on(async move {
        with_timeout(limit, async move {
            let mut conn = Conn::connect(addr).await?;
            conn.exchange(out, true).await
        })
        .await
    });
    let resp = resp.map_err(|e| format!("create bucket {}: {e}", cfg.bucket))?;
    let body = String::from_utf8_lossy(&resp.body);
    let exists = body.contains("BucketAlreadyOwnedByYou") || body.contains("BucketAlreadyExists");
    if (200..300).contains(&resp.status) || exists {
        Ok(())
    } else {
        Err(format!("create bucket {}: HTTP {}: {body}", cfg.bucket, resp.status))
    }
}
