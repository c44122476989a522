//! The admin port: a second listener on its own thread and monoio runtime, beside the proxy
//! cores (which it never slows: it shares only the store, the live state and the counters with
//! them). It serves seed 000's operator API (`/admin/api/*`), UI API (`{ui}/*`), `/health`,
//! `/health/ready` and `/metrics` through the handlers of `s3o_admin`, over the same HTTP layer
//! as the S3 port, optionally with TLS.

mod conn;
mod control;
mod data;
mod data_direct;
mod data_impl;
mod data_parts;
mod data_stream;
mod data_walks;
mod data_zip;
pub mod import;
mod objects;
mod prometheus;
mod single_flight;
mod stream;
mod transfer;
mod zip;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::TcpListener;
use s3o_admin::{Auth, AuthConfig, LockoutPolicy, Logging};
use tracing::{info, warn};

pub use control::ProxyControl;
use stream::AdminStream;

use crate::config::Config;
use crate::server::StartError;
use crate::state::Shared;

/// How often the accept loop checks for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(200);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most admin connections open at once (the admin port is for operators and scrapers, and
/// must never take the descriptors the S3 port needs).
const MAX_ADMIN_CONNECTIONS: usize = 256;

/// What every admin connection shares.
pub(crate) struct AdminService {
    /// The proxy's shared state.
    pub shared: Arc<Shared>,
    /// Token, sessions and login lockout.
    pub auth: Auth,
    /// The proxy side of the handlers.
    pub control: ProxyControl,
    /// The multi-user API's state (`[access]`).
    pub access: Option<Arc<s3o_admin::access::Access>>,
}

/// The running admin listener.
#[derive(Debug)]
pub struct AdminPort {
    /// The bound address.
    pub addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AdminPort {
    /// Waits for the admin thread to end (after shutdown was flagged in the shared state).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The authentication settings of `cfg`'s `[ui]` section.
pub fn auth_config(cfg: &Config) -> AuthConfig {
    let ui = &cfg.ui;
    AuthConfig {
        ui_path: ui.path.clone().unwrap_or_else(|| s3o_admin::DEFAULT_UI_PATH.to_owned()),
        admin_token: ui.admin_token.clone(),
        admin_key: ui.admin_key.clone(),
        admin_secret: ui.admin_secret.clone(),
        session_key: ui.session_secret.as_ref().map(|s| s.as_bytes().to_vec()),
        lockout: LockoutPolicy::default(),
    }
}

/// Starts the admin listener on `addr` if the config has an `[admin]` section. `logging` is the
/// process's log buffer and level control (for `{ui}/api/logs` and `/admin/api/log-level`).
pub fn start(shared: Arc<Shared>, logging: Option<Logging>) -> Result<Option<AdminPort>, StartError> {
    let Some(admin) = shared.cfg.admin.clone() else {
        return Ok(None);
    };
    let addr = admin.listen;
    let auth = Auth::new(&auth_config(&shared.cfg)).map_err(|e| StartError::Setup(format!("[ui]: {e}")))?;
    let tls = match crate::tls::admin_files(&shared.cfg) {
        Some(files) => {
            let tls = crate::tls::ServerTls::load("admin", files).map_err(StartError::Setup)?;
            let tls = shared.tls.admin.get_or_init(|| Arc::new(tls));
            // The certificate inside follows SIGHUP reloads.
            Some(monoio_rustls::TlsAcceptor::from(tls.config()))
        }
        None => None,
    };
    // A plain bind first: an address in use fails here with the OS's own words.
    let probe = std::net::TcpListener::bind(addr).map_err(|source| StartError::Listen { addr, source })?;
    drop(probe);
    let (tx, rx) = mpsc::channel::<Result<SocketAddr, StartError>>();
    let thread = std::thread::Builder::new()
        .name("s3o-admin".into())
        .spawn(move || {
            let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build();
            let mut rt = match rt {
                Ok(rt) => rt,
                Err(source) => {
                    let _ = tx.send(Err(StartError::Setup(format!(
                        "admin port: cannot start its I/O runtime: {source}"
                    ))));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match TcpListener::bind(addr) {
                    Ok(l) => l,
                    Err(source) => {
                        let _ = tx.send(Err(StartError::Listen { addr, source }));
                        return;
                    }
                };
                let bound = listener
                    .local_addr()
                    .map_err(|source| StartError::Listen { addr, source });
                let control = match ProxyControl::new(shared.clone(), logging) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(StartError::Setup(crate::server::startup_cause(&e))));
                        return;
                    }
                };
                let _ = tx.send(bound);
                let access = shared.access.get().cloned();
                let svc = Rc::new(AdminService {
                    shared,
                    auth,
                    control,
                    access,
                });
                accept_loop(svc, listener, tls).await;
            });
        })
        .map_err(|source| StartError::Setup(format!("admin port: cannot spawn its thread: {source}")))?;
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(bound)) => {
            info!(%bound, tls = admin.tls_cert_file.is_some(), "admin port listening");
            Ok(Some(AdminPort {
                addr: bound,
                thread: Some(thread),
            }))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StartError::Setup("the admin port did not start within 10 s".into())),
    }
}

/// Accepts until shutdown; each connection is one task.
async fn accept_loop(svc: Rc<AdminService>, listener: TcpListener, tls: Option<monoio_rustls::TlsAcceptor>) {
    let open = Rc::new(std::cell::Cell::new(0usize));
    while !svc.shared.stopping() {
        let (tcp, peer) = match crate::accept::accept_within(&listener, ACCEPT_POLL).await {
            Err(_) => continue,
            Ok(Err(e)) => {
                warn!(component = "admin", error = %e, "admin accept failed");
                monoio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(Ok(c)) => c,
        };
        if open.get() >= MAX_ADMIN_CONNECTIONS {
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let svc = svc.clone();
        let tls = tls.clone();
        let open2 = open.clone();
        open.set(open.get() + 1);
        monoio::spawn(async move {
            let stream = match tls {
                None => Some(AdminStream::Plain(tcp)),
                Some(acceptor) => match monoio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => Some(AdminStream::Tls(Box::new(s))),
                    _ => None,
                },
            };
            if let Some(stream) = stream {
                conn::serve(svc, stream, peer.ip()).await;
            }
            open2.set(open2.get() - 1);
        });
    }
}
