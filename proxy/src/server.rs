//! The runtime: one thread per core, each with its own monoio runtime (io_uring, or epoll where
//! io_uring is unavailable or `MONOIO_FORCE_LEGACY_DRIVER=1`) and its own `SO_REUSEPORT`
//! listener; graceful shutdown on SIGTERM/SIGINT that lets requests in flight finish.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::{ListenerOpts, TcpListener};
use tracing::{error, info, warn};

use crate::error::ProxyError;
use crate::state::{Core, Shared};

/// How often the accept loop checks for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(200);

/// A running proxy: its address and the handles to stop it.
#[derive(Debug)]
pub struct Running {
    /// The bound S3 address.
    pub addr: SocketAddr,
    /// Shared state.
    pub shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Which monoio driver this process uses.
pub fn driver_name() -> &'static str {
    if monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "epoll (legacy)"
    }
}

impl Running {
    /// Starts `threads` cores serving `shared`, binding `addr` (port 0 picks a free port).
    pub fn start(shared: Arc<Shared>, addr: SocketAddr, threads: usize) -> Result<Running, ProxyError> {
        let (tx, rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let mut handles = Vec::new();
        let mut bound = addr;
        for id in 0..threads.max(1) {
            let shared = shared.clone();
            let tx = tx.clone();
            let bind_to = bound;
            let h = std::thread::Builder::new()
                .name(format!("s3o-core-{id}"))
                .spawn(move || run_core(shared, id, bind_to, tx))
                .map_err(|e| ProxyError::Internal(format!("spawn: {e}")))?;
            handles.push(h);
            // The first core picks the port; the others share it through SO_REUSEPORT.
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Ok(a)) => bound = a,
                Ok(Err(e)) => return Err(ProxyError::Internal(e)),
                Err(_) => return Err(ProxyError::Internal("core did not start".into())),
            }
        }
        crate::cleanup::spawn_worker(shared.clone());
        info!(%bound, threads, driver = driver_name(), "s3-orchestrator listening");
        Ok(Running {
            addr: bound,
            shared,
            threads: handles,
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
        if let Err(e) = self.shared.store.sync() {
            error!(error = %e, "final metadata flush failed");
        }
        info!("s3-orchestrator stopped");
    }
}

fn run_core(shared: Arc<Shared>, id: usize, addr: SocketAddr, tx: mpsc::Sender<Result<SocketAddr, String>>) {
    let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .build();
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Err(format!("core {id}: runtime: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        let opts = ListenerOpts::new().reuse_port(true).reuse_addr(true).backlog(1024);
        let listener = match TcpListener::bind_with_config(addr, &opts) {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Err(format!("core {id}: bind {addr}: {e}")));
                return;
            }
        };
        let core = match Core::new(shared.clone(), id) {
            Ok(c) => Rc::new(c),
            Err(e) => {
                let _ = tx.send(Err(format!("core {id}: {e}")));
                return;
            }
        };
        let _ = tx.send(listener.local_addr().map_err(|e| e.to_string()));
        let max_conns = shared.cfg.limits.max_connections_per_thread;
        let open = Rc::new(std::cell::Cell::new(0usize));
        while !shared.stopping() {
            let accepted = match monoio::time::timeout(ACCEPT_POLL, listener.accept()).await {
                Err(_) => continue,
                Ok(Err(e)) => {
                    warn!(error = %e, "accept failed");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Ok(Ok(a)) => a,
            };
            let (stream, _peer) = accepted;
            if open.get() >= max_conns {
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let core = core.clone();
            let open2 = open.clone();
            open.set(open.get() + 1);
            monoio::spawn(async move {
                crate::conn::serve_connection(core, stream).await;
                open2.set(open2.get() - 1);
            });
        }
        drop(listener);
        // Let connections finish their current request (they stop at the next head read).
        let t0 = Instant::now();
        let grace = Duration::from_secs(shared.cfg.server.shutdown_grace_secs);
        while open.get() > 0 && t0.elapsed() < grace {
            monoio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
