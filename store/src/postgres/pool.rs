//! The PostgreSQL engine's connection pool: a fixed number of slots, each a connection opened on
//! first use (and again after it broke) with its own cache of prepared statements, so a call
//! costs its round trips and never a parse. Each slot also names the counter shard its commits
//! write (`s3o_counters`): two connections never update the same counter row, so concurrent
//! commits do not queue behind one another's fsync on it.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{describe, PgErr};
use crate::error::{Result, StoreError};

/// Counter shards in `s3o_counters`: connections of every instance spread over these.
pub(crate) const SHARDS: usize = 64;

/// How a connection is secured.
enum Tls {
    /// No TLS (`sslmode=disable`, or a Unix socket).
    Off,
    /// TLS by rustls, with the system's web roots and any extra CA.
    Rustls(MakeRustlsConnect),
}

/// One connection slot.
struct Slot {
    /// The slot's number in the pool.
    index: usize,
    /// The open connection, if any.
    client: Option<Client>,
    /// Statements prepared on `client`, by SQL text.
    statements: HashMap<&'static str, Statement>,
}

/// A fixed set of connections to one database.
pub(crate) struct Pool {
    config: Config,
    tls: Tls,
    free: Mutex<Vec<Slot>>,
    permits: Semaphore,
    /// The first counter shard of this pool's slots.
    shard_base: usize,
}

impl Pool {
    /// A pool of `size` connections to the database `config` names, none opened yet; TLS as the
    /// config's `sslmode` asks, trusting the web roots and the PEM certificates in `ca_pem`.
    pub(crate) fn new(mut config: Config, size: usize, ca_pem: Option<&[u8]>, shard_base: usize) -> Result<Self> {
        let size = size.max(1);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("s3-orchestrator");
        }
        // The server's notices ("already exists, skipping" at migration, "no transaction in
        // progress" on a rollback after a failed commit) are expected here; errors still come.
        let options = config.get_options().unwrap_or_default();
        if !options.contains("client_min_messages") {
            config.options(format!("{options} -c client_min_messages=error").trim_start());
        }
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => Tls::Off,
            _ => Tls::Rustls(MakeRustlsConnect::new(client_tls(ca_pem)?)),
        };
        Ok(Self {
            config,
            tls,
            free: Mutex::new(
                (0..size)
                    .rev()
                    .map(|index| Slot {
                        index,
                        client: None,
                        statements: HashMap::new(),
                    })
                    .collect(),
            ),
            permits: Semaphore::new(size),
            shard_base,
        })
    }

    /// A connection of the pool, waiting for one to be free; opened now if it was not.
    pub(crate) async fn get(&self) -> std::result::Result<Conn<'_>, PgErr> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("postgres pool closed".into()))?;
        let mut slot = self
            .free
            .lock()
            .pop()
            .ok_or_else(|| StoreError::Engine("postgres pool: a permit without a free slot".into()))?;
        if slot.client.as_ref().is_none_or(Client::is_closed) {
            slot.statements.clear();
            slot.client = None;
            match self.connect().await {
                Ok(client) => slot.client = Some(client),
                Err(e) => {
                    self.free.lock().push(slot);
                    return Err(e);
                }
            }
        }
        Ok(Conn {
            pool: self,
            slot: Some(slot),
            _permit: permit,
            settled: false,
        })
    }

    /// Opens one connection; its driver runs on the engine's runtime.
    async fn connect(&self) -> std::result::Result<Client, PgErr> {
        let client = match &self.tls {
            Tls::Off => {
                let (client, conn) = self.config.connect(NoTls).await.map_err(connect_failed)?;
                tokio::spawn(drive(conn));
                client
            }
            Tls::Rustls(tls) => {
                let (client, conn) = self.config.connect(tls.clone()).await.map_err(connect_failed)?;
                tokio::spawn(drive(conn));
                client
            }
        };
        Ok(client)
    }

    /// Opens a connection outside the slots (migrations, one-off work at open).
    pub(crate) async fn dedicated(&self) -> Result<Client> {
        self.connect().await.map_err(PgErr::into_store)
    }
}

/// The error of a failed connection attempt.
fn connect_failed(e: tokio_postgres::Error) -> PgErr {
    PgErr::Store(StoreError::Unavailable(format!(
        "cannot connect to postgres: {}",
        describe(&e)
    )))
}

/// Runs a connection's protocol until it closes.
async fn drive<F>(conn: F)
where
    F: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>,
{
    if let Err(e) = conn.await {
        tracing::warn!(error = %describe(&e), "postgres connection closed");
    }
}

/// rustls settings for connections to the database: the web roots plus `ca_pem`'s certificates.
fn client_tls(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| StoreError::Engine(format!("postgres CA file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| StoreError::Engine(format!("postgres CA file: {e}")))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Engine(format!("postgres TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// A connection taken from the pool, given back when dropped.
pub(crate) struct Conn<'a> {
    pool: &'a Pool,
    slot: Option<Slot>,
    _permit: SemaphorePermit<'a>,
    /// Whether the call using it finished (succeeded, or failed and rolled back). A connection
    /// dropped unsettled (its call timed out mid-transaction) is closed, not reused.
    settled: bool,
}

impl Conn<'_> {
    /// The slot, present until drop.
    fn slot(&self) -> &Slot {
        self.slot
            .as_ref()
            .unwrap_or_else(|| unreachable!("a connection has its slot until dropped"))
    }

    /// The open connection.
    pub(crate) fn client(&self) -> &Client {
        self.slot()
            .client
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pooled connection is open when handed out"))
    }

    /// The counter shard this connection's commits write.
    pub(crate) fn shard(&self) -> i16 {
        i16::try_from((self.pool.shard_base + self.slot().index) % SHARDS).unwrap_or(0)
    }

    /// `sql` prepared on this connection (once; later calls answer from the cache).
    pub(crate) async fn st(&mut self, sql: &'static str) -> std::result::Result<Statement, PgErr> {
        let slot = self
            .slot
            .as_mut()
            .unwrap_or_else(|| unreachable!("a connection has its slot until dropped"));
        if let Some(s) = slot.statements.get(sql) {
            return Ok(s.clone());
        }
        let client = slot
            .client
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pooled connection is open when handed out"));
        let st = client.prepare(sql).await?;
        slot.statements.insert(sql, st.clone());
        Ok(st)
    }

    /// Marks the connection fit for the next call.
    pub(crate) fn settle(&mut self) {
        self.settled = true;
    }

    /// After a failed attempt: ends any transaction it left open. A connection that no longer
    /// answers is closed, to be reopened by the next use of its slot.
    pub(crate) async fn recover(&mut self) {
        if self.client().is_closed() {
            return;
        }
        self.settled = true;
        if let Err(e) = self.client().batch_execute("ROLLBACK").await {
            tracing::debug!(error = %describe(&e), "postgres: rollback after a failed call failed; reconnecting");
            if let Some(slot) = self.slot.as_mut() {
                slot.client = None;
            }
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(mut slot) = self.slot.take() {
            if !self.settled {
                slot.client = None;
            }
            self.pool.free.lock().push(slot);
        }
    }
}
