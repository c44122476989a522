//! The runtime: one thread per core, each with its own monoio runtime (io_uring, or epoll where
//! io_uring is unavailable or `MONOIO_FORCE_LEGACY_DRIVER=1`) and its own `SO_REUSEPORT`
//! listener; connection caps (per thread, derived from the open-file limit, and per client
//! address); accept back-off when descriptors run out; graceful shutdown on SIGTERM/SIGINT that
//! lets requests in flight finish.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::{ListenerOpts, TcpListener};
use thiserror::Error;
use tracing::{debug, error, info, warn};

use crate::error::ProxyError;
use crate::state::{Core, Shared};
use crate::stream::ClientStream;
use crate::tls::conn::TlsConn;
use crate::workers::Workers;

mod admission;

pub use admission::{connections_per_thread, raise_open_file_limit, OpenFileLimit};
use admission::{effective_limits, Gate};

/// How often the accept loop checks for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(200);
/// How long a core may take to bind its listener and set up its backends.
const CORE_START_TIMEOUT: Duration = Duration::from_secs(10);
/// First pause after an accept failure (a transient one, such as a connection aborted before
/// it was accepted, rarely repeats).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause between accepts while descriptors are exhausted: short enough that clients
/// wait little once connections close, long enough not to spin on a listener that stays ready.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(500);
/// How long a TLS client over a connection cap may take to finish its handshake before it is
/// told 503 SlowDown (it holds a descriptor meanwhile).
const REFUSE_HANDSHAKE: Duration = Duration::from_millis(500);

/// The monoio driver a core runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Linux io_uring.
    IoUring,
    /// The epoll fallback (`MONOIO_FORCE_LEGACY_DRIVER=1`, or io_uring unavailable).
    Legacy,
}

impl Driver {
    /// `io_uring` or `legacy` (the values `S3O_EXPECT_DRIVER` takes in CI).
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::IoUring => "io_uring",
            Driver::Legacy => "legacy",
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The driver of the last runtime a core of this process built (0: none yet).
static STARTED_DRIVER: AtomicU8 = AtomicU8::new(0);

/// The driver the cores of the proxy started last in this process actually run on; `None`
/// before any started.
pub fn started_driver() -> Option<Driver> {
    match STARTED_DRIVER.load(Ordering::SeqCst) {
        1 => Some(Driver::IoUring),
        2 => Some(Driver::Legacy),
        _ => None,
    }
}

/// Why the proxy could not start; each names what failed and the OS reason.
#[derive(Debug, Error)]
pub enum StartError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error (e.g. "Address already in use").
        source: std::io::Error,
    },
    /// A core's monoio runtime could not be built.
    #[error("cannot start the I/O runtime of core {core}: {source}")]
    Runtime {
        /// The core.
        core: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// A core thread could not be spawned.
    #[error("cannot spawn core thread {core}: {source}")]
    Thread {
        /// The core.
        core: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// A core's state (backend clients) could not be set up.
    #[error("{0}")]
    Setup(String),
    /// A core did not report back in time.
    #[error("core {0} did not start within {CORE_START_TIMEOUT:?}")]
    Timeout(usize),
}

/// What a [`ProxyError`] met while starting means, for an operator: the detail of an internal
/// error (which names the backend or file) instead of the generic message S3 clients get.
pub fn startup_cause(e: &ProxyError) -> String {
    match e {
        ProxyError::Internal(detail) => detail.clone(),
        other => other.to_string(),
    }
}

/// A running proxy: its address and the handles to stop it.
#[derive(Debug)]
pub struct Running {
    /// The bound S3 address.
    pub addr: SocketAddr,
    /// The bound HTTPS S3 address (`tls_listen`), when configured.
    pub tls_addr: Option<SocketAddr>,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// The monoio driver the cores run on.
    pub driver: Driver,
    /// The effective per-thread connection limit.
    pub max_connections_per_thread: usize,
    threads: Vec<std::thread::JoinHandle<()>>,
    workers: Option<Workers>,
    /// The admin port, when configured.
    pub admin: Option<crate::admin_port::AdminPort>,
}

/// What a core reports once it listens (its plain and TLS addresses), or why it cannot.
type Ready = Result<(SocketAddr, Option<SocketAddr>, Driver), StartError>;

/// Where a core listens.
#[derive(Debug, Clone, Copy)]
struct Binds {
    plain: SocketAddr,
    tls: Option<SocketAddr>,
}

impl Running {
    /// Starts `threads` cores serving `shared`, binding `addr` (port 0 picks a free port), and
    /// the admin port when configured.
    pub fn start(shared: Arc<Shared>, addr: SocketAddr, threads: usize) -> Result<Running, StartError> {
        Self::start_with(shared, addr, threads, None)
    }

    /// [`Running::start`] with the process's logging handles, which the admin port's log-level
    /// and logs endpoints use.
    pub fn start_with(
        shared: Arc<Shared>,
        addr: SocketAddr,
        threads: usize,
        logging: Option<s3o_admin::Logging>,
    ) -> Result<Running, StartError> {
        let threads = threads.max(1);
        let tls_listen = shared.cfg.server.tls_listen;
        for a in std::iter::once(addr).chain(tls_listen) {
            if a.port() != 0 {
                // Cores listen with SO_REUSEPORT, which would let a second proxy of the same user
                // share a port silently: a plain bind first finds any listener already there.
                drop(std::net::TcpListener::bind(a).map_err(|source| StartError::Listen { addr: a, source })?);
            }
        }
        let tls = match (tls_listen, crate::tls::s3_files(&shared.cfg)) {
            (Some(_), Some(files)) => {
                let tls = crate::tls::ServerTls::load("S3", files).map_err(StartError::Setup)?;
                let tls = shared.tls.s3.get_or_init(|| Arc::new(tls));
                Some(tls.config())
            }
            _ => None,
        };
        // Backends being drained take no new copies from the first request on.
        if let Err(e) = s3o_store::block_on(crate::orchestrator::drain::refresh(&shared)) {
            warn!(error = %e, "the drain states could not be read; the drain worker retries");
        }
        if let Err(e) = s3o_store::block_on(crate::usage::refresh_gate(&shared)) {
            // Until the first flush reads them, limits count only this process's requests.
            warn!(error = %e, "this month's usage could not be read for the usage limits");
        }
        if shared.access.get().is_none() {
            if let Some(access) = crate::access::start(&shared).map_err(StartError::Setup)? {
                let _ = shared.access.set(access);
            }
        }
        let gate = Arc::new(effective_limits(&shared, threads));
        let (tx, rx) = mpsc::channel::<Ready>();
        let mut handles = Vec::new();
        let mut bound = Binds {
            plain: addr,
            tls: tls.as_ref().and(tls_listen),
        };
        let mut driver = Driver::Legacy;
        for id in 0..threads {
            let shared2 = shared.clone();
            let tx = tx.clone();
            let gate = gate.clone();
            let bind_to = bound;
            let tls = tls.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("s3o-core-{id}"))
                .spawn(move || run_core(shared2, gate, id, bind_to, tls, tx));
            let ready = match spawned {
                Ok(h) => {
                    handles.push(h);
                    rx.recv_timeout(CORE_START_TIMEOUT)
                        .unwrap_or(Err(StartError::Timeout(id)))
                }
                Err(source) => Err(StartError::Thread { core: id, source }),
            };
            match ready {
                // The first core picks the ports; the others share them through SO_REUSEPORT.
                Ok((a, t, d)) => (bound, driver) = (Binds { plain: a, tls: t }, d),
                Err(e) => {
                    shared.shutdown.store(true, Ordering::SeqCst);
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(e);
                }
            }
        }
        let worker_shared = shared.clone();
        let usage_every = Duration::from_secs(shared.cfg.admin.as_ref().map_or(10, |a| a.usage_flush_secs));
        shared.workers.use_leases(shared.store.clone());
        let workers = Workers::start(shared.workers.clone(), move |s| {
            s.spawn(crate::cleanup::CleanupWorker::new(worker_shared.clone()));
            s.spawn(crate::cleanup::ReaperWorker(worker_shared.clone()));
            s.spawn(crate::usage::UsageWorker {
                shared: worker_shared.clone(),
                every: usage_every,
            });
            s.spawn(crate::orphans::OrphanWorker(worker_shared.clone()));
            s.spawn(crate::orchestrator::probe::ProbeWorker::new(worker_shared.clone()));
            crate::orchestrator::spawn_workers(s, &worker_shared);
            if let Some(access) = worker_shared.access.get() {
                s.spawn(crate::access::AccessSync {
                    shared: worker_shared.clone(),
                    access: access.clone(),
                });
                s.spawn(crate::access::AuditTrim {
                    access: access.clone(),
                    retention_days: worker_shared
                        .cfg
                        .access
                        .as_ref()
                        .and_then(|a| a.audit_retention_days)
                        .unwrap_or(90),
                });
            }
            let base = worker_shared.config_dir.get().cloned().unwrap_or_default();
            s.spawn(crate::shared_config::ConfigWatch::start(worker_shared, base));
        });
        let workers = match workers {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(error = %e, "background workers (cleanup queue, multipart reaper) not started");
                None
            }
        };
        let admin = match crate::admin_port::start(shared.clone(), logging) {
            Ok(a) => a,
            Err(e) => {
                shared.shutdown.store(true, Ordering::SeqCst);
                for h in handles {
                    let _ = h.join();
                }
                if let Some(w) = workers {
                    w.stop();
                }
                return Err(e);
            }
        };
        info!(bound = %bound.plain, tls = ?bound.tls, threads, %driver, "s3-orchestrator listening");
        Ok(Running {
            addr: bound.plain,
            tls_addr: bound.tls,
            shared,
            driver,
            max_connections_per_thread: gate.per_thread,
            threads: handles,
            workers,
            admin,
        })
    }

    /// Stops accepting, waits up to `grace` for requests in flight, and joins the cores.
    pub fn shutdown(self, grace: Duration) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let t0 = Instant::now();
        while self.shared.inflight.load(Ordering::SeqCst) > 0 && t0.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.shared.inflight.load(Ordering::SeqCst);
        if left > 0 {
            warn!(left, "shutdown grace period over with requests still in flight");
        }
        for h in self.threads {
            let _ = h.join();
        }
        if let Some(a) = self.admin {
            a.join();
        }
        if let Some(w) = self.workers {
            w.stop();
        }
        let s = &self.shared;
        let flushed = s3o_store::block_on(s.usage.flush(&s.store, &s.metrics, crate::clock::unix_ms()));
        if let Err(e) = flushed {
            warn!(error = %e, "usage counters not flushed at shutdown");
        }
        if let Err(e) = s3o_store::block_on(self.shared.store.sync()) {
            error!(error = %e, "final metadata flush failed");
        }
        info!("s3-orchestrator stopped");
    }
}

/// Whether an accept error means descriptors (or kernel memory for them) ran out.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn run_core(
    shared: Arc<Shared>,
    gate: Arc<Gate>,
    id: usize,
    binds: Binds,
    tls: Option<Arc<rustls::ServerConfig>>,
    tx: mpsc::Sender<Ready>,
) {
    let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .build();
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(source) => {
            let _ = tx.send(Err(StartError::Runtime { core: id, source }));
            return;
        }
    };
    let driver = match &rt {
        monoio::FusionRuntime::Uring(_) => Driver::IoUring,
        monoio::FusionRuntime::Legacy(_) => Driver::Legacy,
    };
    STARTED_DRIVER.store(
        match driver {
            Driver::IoUring => 1,
            Driver::Legacy => 2,
        },
        Ordering::SeqCst,
    );
    rt.block_on(async move {
        let opts = ListenerOpts::new().reuse_port(true).reuse_addr(true).backlog(1024);
        let bind = |addr: SocketAddr| {
            let l = TcpListener::bind_with_config(addr, &opts).map_err(|source| StartError::Listen { addr, source })?;
            let local = l.local_addr().map_err(|source| StartError::Listen { addr, source })?;
            Ok::<_, StartError>((l, local))
        };
        let listeners = bind(binds.plain).and_then(|plain| match (binds.tls, tls) {
            (Some(t), Some(cfg)) => Ok((plain, Some((bind(t)?, cfg)))),
            _ => Ok((plain, None)),
        });
        let ((listener, local), tls_listener) = match listeners {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let core = match Core::new(shared.clone(), id) {
            Ok(c) => Rc::new(c),
            Err(e) => {
                let _ = tx.send(Err(StartError::Setup(startup_cause(&e))));
                return;
            }
        };
        let tls_local = tls_listener.as_ref().map(|((_, a), _)| *a);
        let _ = tx.send(Ok((local, tls_local, driver)));
        let open = Rc::new(std::cell::Cell::new(0usize));
        let tls_loop = tls_listener
            .map(|((l, _), cfg)| monoio::spawn(accept_loop(core.clone(), gate.clone(), l, open.clone(), Some(cfg))));
        accept_loop(core, gate, listener, open.clone(), None).await;
        if let Some(t) = tls_loop {
            t.await;
        }
        // Let connections finish their current request (they stop at the next head read).
        let t0 = Instant::now();
        let grace = Duration::from_secs(shared.cfg.server.shutdown_grace_secs);
        while open.get() > 0 && t0.elapsed() < grace {
            monoio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Accepts on `listener` until shutdown, each connection one task on this core; with `tls`,
/// each connection first completes a TLS handshake (within the head timeout).
async fn accept_loop(
    core: Rc<Core>,
    gate: Arc<Gate>,
    listener: TcpListener,
    open: Rc<std::cell::Cell<usize>>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let shared = core.shared.clone();
    let handshake_time = Duration::from_secs(shared.cfg.limits.head_timeout_secs);
    let mut backoff = Duration::ZERO;
    while !shared.stopping() {
        let accepted = match crate::accept::accept_within(&listener, ACCEPT_POLL).await {
            Err(_) => continue,
            Ok(Err(e)) => {
                let exhausted = out_of_descriptors(&e);
                backoff = if exhausted {
                    (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX)
                } else {
                    ACCEPT_BACKOFF_MIN
                };
                if let Some(suppressed) = gate.accept_log.lock().allow() {
                    if exhausted {
                        warn!(error = %e, suppressed, open = open.get(), pause = ?backoff,
                            "accept failed: out of file descriptors; backing off");
                    } else {
                        warn!(error = %e, suppressed, "accept failed");
                    }
                }
                monoio::time::sleep(backoff).await;
                continue;
            }
            Ok(Ok(a)) => a,
        };
        backoff = Duration::ZERO;
        let (stream, peer) = accepted;
        if open.get() >= gate.per_thread {
            if let Some(suppressed) = gate.full_log.lock().allow() {
                warn!(
                    limit = gate.per_thread,
                    suppressed, "connection limit reached; closing new connections"
                );
            }
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let core = core.clone();
        let open2 = open.clone();
        open.set(open.get() + 1);
        let slot = gate.admit(peer.ip());
        let tls = tls.clone();
        monoio::spawn(async move {
            let stream = match tls {
                None => Some(ClientStream::Plain(stream)),
                Some(cfg) => {
                    // A refused client gets its 503 only once it can read it, so quickly.
                    let limit = if slot.is_some() {
                        handshake_time
                    } else {
                        REFUSE_HANDSHAKE
                    };
                    match TlsConn::accept(stream, cfg, limit).await {
                        Ok(c) => Some(ClientStream::Tls(Box::new(c))),
                        Err(e) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            None
                        }
                    }
                }
            };
            match (stream, slot) {
                (Some(stream), Some(slot)) => {
                    core.metrics.connection(1);
                    let metrics = core.metrics.clone();
                    crate::conn::serve_connection(core, stream).await;
                    metrics.connection(-1);
                    drop(slot);
                }
                (Some(stream), None) => crate::conn::refuse(core, stream).await,
                (None, _) => {}
            }
            open2.set(open2.get() - 1);
        });
    }
}
