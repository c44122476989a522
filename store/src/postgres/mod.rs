//! The PostgreSQL engine: the metadata model in a PostgreSQL database (the schema is in
//! [`schema`]) that several proxies share. Every call runs on the engine's own runtime thread
//! with a pooled connection ([`pool`]), so no proxy core ever waits on the network: the call
//! returns a future that the runtime's task completes.
//!
//! A mutation is one transaction, sent in as few round trips as its logic allows: the reads it
//! decides on (row locks, `FOR UPDATE`) go out pipelined behind `BEGIN`, the writes pipelined
//! ahead of `COMMIT`. Its future resolves once the commit is durable (PostgreSQL flushes the
//! WAL of concurrent commits together: the engine's group commit). Atomicity across proxies
//! comes from the database: the row of the key being written is locked (`FOR UPDATE`) before a
//! condition is checked, a bucket is locked (`FOR KEY SHARE`) by every write into it and
//! exclusively by its deletion, an upload's row by each of its parts and by its completion, and
//! quota reservations are checked and recorded under a per-backend advisory lock
//! (`s3o_reserve`). A transaction that loses a race (a deadlock, a serialization failure, two
//! first writes of one key) rolls back and runs again.
//!
//! Reservations live in `s3o_reservations`, tagged with this engine's instance id; a released
//! one is deleted by a background task, and until then is left out of every sum this instance
//! makes. The same task keeps the instance's heartbeat in `s3o_instances` and deletes the
//! reservations of instances whose heartbeat stopped (a proxy that crashed).

mod batch;
mod cleanup;
pub mod cluster;
mod counters;
mod docs;
mod engine;
mod error;
mod instance;
mod list;
mod multipart;
mod objects;
mod pool;
mod releases;
mod relocate;
mod replication;
mod restore;
mod schema;
mod version_ops;
mod versions;
mod versions_list;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::StoreFuture;
use crate::error::{Result, StoreError};
use error::PgErr;
use pool::Pool;
use releases::Releases;

/// How often one call is attempted when it keeps losing races to concurrent writers.
const MAX_ATTEMPTS: u32 = 16;

/// The longest one call may take (connecting included) before it fails as `Unavailable`: a
/// database that stops answering (a network partition) must not hold requests forever.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// A libpq-style URL or key=value string: `postgres://user:pass@host:5432/db?sslmode=require`
    /// or `host=/run/postgresql dbname=s3o`.
    pub url: String,
    /// Connections this proxy keeps (each serves one call at a time).
    pub pool_size: usize,
    /// PEM certificates to trust beside the web roots, for a server with a private CA.
    pub ca_pem: Option<Vec<u8>>,
    /// The schema to keep the tables in (created if missing); `None` for the connection's
    /// default (`public`).
    pub schema: Option<String>,
    /// What this instance calls itself in `s3o_instances` (a host name, an address).
    pub instance_info: String,
}

impl PgConfig {
    /// A config for `url` with defaults: 16 connections, the default schema.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            ca_pem: None,
            schema: None,
            instance_info: String::new(),
        }
    }
}

/// What every task of the engine shares.
pub(crate) struct Db {
    pool: Pool,
    /// This instance's id in `s3o_instances` and `s3o_reservations`.
    instance: String,
    /// The last reservation id handed out.
    last_reservation: AtomicU64,
    /// Released reservations not yet deleted.
    releases: Releases,
    /// Why the last call failed for want of the database, until one succeeds.
    problem: Mutex<Option<String>>,
    /// Versions taken from the sequence and not yet handed out, in order.
    versions: tokio::sync::Mutex<std::collections::VecDeque<u64>>,
}

impl Db {
    /// Records the outcome of a call in the engine's health.
    fn track<T>(&self, r: &Result<T>) {
        match r {
            Err(e) if e.is_unavailable() => *self.problem.lock() = Some(e.to_string()),
            Ok(_) => {
                if self.problem.lock().is_some() {
                    *self.problem.lock() = None;
                }
            }
            Err(_) => {}
        }
    }
}

/// The PostgreSQL engine of one proxy.
pub struct PgEngine {
    db: Arc<Db>,
    /// The runtime whose thread runs every call; `None` only while dropping.
    rt: Option<tokio::runtime::Runtime>,
}

impl PgEngine {
    /// Connects to the database (waiting at most the connect timeout), applies the schema's
    /// migrations, registers this instance and starts its heartbeat. Call it from a plain
    /// thread (it blocks).
    pub fn open(config: &PgConfig) -> Result<Self> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| StoreError::Engine(format!("postgres url: {e}")))?;
        if let Some(schema) = &config.schema {
            check_schema_name(schema)?;
            let options = pg.get_options().unwrap_or_default();
            pg.options(format!("{options} -c search_path={schema}").trim());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("s3o-postgres")
            .enable_all()
            .build()?;
        let instance = crate::lease::new_instance_id();
        let shard_base = instance::shard_base(&instance);
        let pool = rt.block_on(async { Pool::new(pg, config.pool_size, config.ca_pem.as_deref(), shard_base) })?;
        let db = Arc::new(Db {
            pool,
            instance,
            last_reservation: AtomicU64::new(0),
            releases: Releases::default(),
            problem: Mutex::new(None),
            versions: tokio::sync::Mutex::default(),
        });
        rt.block_on(async {
            let mut client = db.pool.dedicated().await?;
            if let Some(schema) = &config.schema {
                client
                    .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .await
                    .map_err(|e| error::from_db(&e))?;
            }
            schema::migrate(&mut client).await?;
            instance::register(&client, &db.instance, &config.instance_info).await
        })?;
        rt.spawn(instance::heartbeat(Arc::downgrade(&db)));
        tracing::info!(instance = %db.instance, pool = config.pool_size, "metadata store: postgres engine open");
        Ok(Self { db, rt: Some(rt) })
    }

    /// This instance's id, as `s3o_instances` and the worker leases name it.
    pub fn instance_id(&self) -> &str {
        &self.db.instance
    }

    /// Runs `call` on the engine's runtime; the future resolves to its result.
    fn run<T, F, Fut>(&self, call: F) -> StoreFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Db>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let Some(rt) = &self.rt else {
            return crate::engine::ready(Err(StoreError::Unavailable("postgres engine closed".into())));
        };
        let db = self.db.clone();
        let task = rt.spawn(async move {
            let r = match tokio::time::timeout(CALL_TIMEOUT, call(db.clone())).await {
                Ok(r) => r,
                Err(_) => Err(StoreError::Unavailable(format!(
                    "postgres did not answer within {} s",
                    CALL_TIMEOUT.as_secs()
                ))),
            };
            db.track(&r);
            r
        });
        Box::pin(async move {
            task.await
                .map_err(|e| StoreError::Engine(format!("postgres call did not finish: {e}")))?
        })
    }
}

impl Drop for PgEngine {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Deletes the releases still pending and the instance's row, briefly; never waits
            // longer than a second for a database that does not answer.
            let db = self.db.clone();
            let _ = rt.block_on(async move {
                tokio::time::timeout(std::time::Duration::from_secs(1), instance::deregister(&db)).await
            });
            rt.shutdown_background();
        }
    }
}

/// Refuses a schema name that is not a plain identifier (it is spliced into SQL).
fn check_schema_name(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Engine(format!(
            "postgres schema {schema:?}: use lowercase letters, digits and _ (not first a digit)"
        )))
    }
}

/// Runs one attempt of a call (`$attempt`, an expression awaiting to `Result<T, PgErr>`, with
/// `$conn` a pooled connection) until it succeeds, fails for good, or keeps losing races
/// [`MAX_ATTEMPTS`] times; a failed attempt's transaction is rolled back first.
macro_rules! attempt {
    ($db:expr, |$conn:ident| $attempt:expr) => {{
        let mut tries = 0u32;
        loop {
            let mut $conn = match $db.pool.get().await {
                Ok(c) => c,
                Err(e) => break Err(e.into_store()),
            };
            match $attempt.await {
                Ok(v) => {
                    $conn.settle();
                    break Ok(v);
                }
                Err(e) => {
                    $conn.recover().await;
                    tries += 1;
                    if e.is_retryable() && tries < $crate::postgres::MAX_ATTEMPTS {
                        continue;
                    }
                    break Err(e.into_store());
                }
            }
        }
    }};
}
pub(crate) use attempt;

/// The row `sql` finds for `params`, read by `read`, if there is one (retried as [`attempt!`]).
pub(crate) async fn row_if_any<T>(
    db: &Db,
    sql: &'static str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    read: impl Fn(&tokio_postgres::Row) -> std::result::Result<T, PgErr>,
) -> Result<Option<T>> {
    attempt!(db, |conn| async {
        let st = conn.st(sql).await?;
        match conn.client().query_opt(&st, params).await? {
            Some(row) => Ok(Some(read(&row)?)),
            None => Ok::<_, PgErr>(None),
        }
    })
}

/// Sends its statements' futures together (pipelined, in order) and waits for all of them:
/// their results, or the first error.
macro_rules! together {
    ($a:expr, $b:expr $(,)?) => {
        futures_util::future::try_join($a, $b).await
    };
    ($a:expr, $b:expr, $c:expr $(,)?) => {
        futures_util::future::try_join3($a, $b, $c).await
    };
    ($a:expr, $b:expr, $c:expr, $d:expr $(,)?) => {
        futures_util::future::try_join4($a, $b, $c, $d).await
    };
}
pub(crate) use together;

/// A `u64` as PostgreSQL's `bigint`, clamped (sizes and times never come near the limit).
pub(crate) fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A `bigint` read back as `u64` (negative values, which the engine never writes, as 0).
pub(crate) fn unbig(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A `numeric` sum read as text (`NULL` as 0), as `u64`: clamped to 0 and `u64::MAX`.
pub(crate) fn num(text: Option<&str>, record: &'static str) -> std::result::Result<u64, PgErr> {
    let Some(t) = text else { return Ok(0) };
    let t = t.split('.').next().unwrap_or(t);
    if t.starts_with('-') {
        return Ok(0);
    }
    match t.parse::<u128>() {
        Ok(v) => Ok(u64::try_from(v).unwrap_or(u64::MAX)),
        Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => Ok(u64::MAX),
        Err(e) => Err(PgErr::Store(StoreError::Corrupt {
            record,
            detail: format!("{t:?} is not a count: {e}"),
        })),
    }
}

/// Decodes a JSON record of table `record`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    record: &'static str,
    bytes: &[u8],
) -> std::result::Result<T, PgErr> {
    serde_json::from_slice(bytes).map_err(|e| {
        PgErr::Store(StoreError::Corrupt {
            record,
            detail: e.to_string(),
        })
    })
}

/// Encodes a JSON record for table `record`.
pub(crate) fn encode<T: serde::Serialize>(record: &'static str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encode {
        record,
        detail: e.to_string(),
    })
}

/// The next reservation id of this instance.
impl Db {
    fn next_reservation_id(&self) -> u64 {
        self.last_reservation.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[cfg(test)]
mod tests;
