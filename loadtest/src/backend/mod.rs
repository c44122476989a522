//! `serve-backend`: a minimal, fast S3 backend for benchmarks. Thread-per-core: every thread
//! runs its own monoio runtime (io_uring where available, epoll otherwise) with its own
//! `SO_REUSEPORT` listener on the same port, so the kernel spreads connections over threads and
//! no lock is taken on the request path except the store's shard mutex. It does not check
//! signatures; it stores objects in memory shared across threads, or (blackhole mode) drains
//! bodies keeping only their sizes and answers GETs with zeros, or (pattern mode) drains bodies
//! checking every byte against the generator of [`crate::pattern`] and regenerates them for GETs.

pub mod conn;
pub mod endpoint;
pub mod store;
pub mod xml;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use monoio::net::{ListenerOpts, TcpListener};

use self::conn::{Ctx, ZERO_CHUNK};
use self::store::Store;

/// How often an idle accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(200);

/// Where object bodies go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// Kept in memory, shared by all threads.
    Memory,
    /// Drained; only sizes are kept and GETs return zeros.
    Blackhole,
    /// Drained, every byte checked against the generated data (`s3o_loadtest::pattern`; a body
    /// that differs is refused with 400 BadDigest); GETs regenerate the bytes. Nothing is kept
    /// but sizes and stream numbers, so objects of any size cost no memory and read back exact.
    Pattern,
}

/// How to run the backend.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// The address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Threads, each with its own runtime and listener.
    pub threads: usize,
    /// Where bodies go.
    pub storage: Storage,
}

/// A running backend.
#[derive(Debug)]
pub struct Backend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// A thread's runtime: io_uring with a timer where the kernel allows, epoll otherwise.
pub type Runtime = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

/// Builds a thread's runtime.
pub fn runtime() -> std::io::Result<Runtime> {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .build()
}

/// "io_uring" or "epoll": the driver the runtimes use (honours `MONOIO_FORCE_LEGACY_DRIVER`).
pub fn driver_name() -> &'static str {
    if monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "epoll"
    }
}

impl Backend {
    /// Starts the threads and returns once all of them listen.
    pub fn start(cfg: &BackendConfig) -> std::io::Result<Backend> {
        let store = Arc::new(Store::new());
        let stop = Arc::new(AtomicBool::new(false));
        let zeros = Bytes::from(vec![0u8; ZERO_CHUNK]);
        let mut threads = Vec::new();
        let mut addr = cfg.listen;
        for id in 0..cfg.threads.max(1) {
            let (tx, rx) = mpsc::channel();
            let ctx = Ctx {
                store: store.clone(),
                storage: cfg.storage,
                zeros: zeros.clone(),
            };
            let stop2 = stop.clone();
            let h = std::thread::Builder::new()
                .name(format!("backend-{id}"))
                .spawn(move || run_thread(addr, ctx, stop2, tx))?;
            threads.push(h);
            match rx.recv() {
                Ok(Ok(bound)) => addr = bound,
                Ok(Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(std::io::Error::other("backend thread died"));
                }
            }
        }
        Ok(Backend { addr, stop, threads })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, and waits for the threads (open connections are dropped).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn run_thread(addr: SocketAddr, ctx: Ctx, stop: Arc<AtomicBool>, tx: mpsc::Sender<std::io::Result<SocketAddr>>) {
    let mut rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    rt.block_on(async move {
        let opts = ListenerOpts::new().reuse_port(true).reuse_addr(true).backlog(1024);
        let listener = match TcpListener::bind_with_config(addr, &opts) {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let _ = tx.send(listener.local_addr());
        let ctx = Rc::new(ctx);
        while !stop.load(Ordering::Relaxed) {
            match monoio::time::timeout(ACCEPT_POLL, listener.accept()).await {
                Err(_) => {}
                Ok(Ok((stream, _))) => {
                    let _ = stream.set_nodelay(true);
                    monoio::spawn(conn::serve(stream, ctx.clone()));
                }
                Ok(Err(_)) => monoio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
}
