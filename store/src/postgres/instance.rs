//! This proxy as one instance among those sharing the database: its row in
//! `s3o_instances` with a heartbeat, the deletion of the reservations it released, and
//! the clean-up of instances that stopped beating (their reservations would otherwise hold quota
//! forever), and the worker leases (on the database's clock).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_postgres::Client;

use super::error::{describe, from_db, PgErr};
use super::{attempt, big, together, Db};
use crate::error::Result;
use crate::lease::{Lease, SharedConfig};

/// How often an instance beats, and deletes its released reservations if none asked sooner.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);

/// An instance whose heartbeat is older than this is gone: its reservations are deleted.
pub(crate) const INSTANCE_EXPIRY_MS: u64 = 30_000;

/// Where this instance's connections start among the counter shards.
pub(crate) fn shard_base(id: &str) -> usize {
    usize::from_str_radix(id.get(..4).unwrap_or("0"), 16).unwrap_or(0)
}

const ACQUIRE_LEASE: &str = "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
     INSERT INTO s3o_leases AS l (name, holder, expires_ms) SELECT $1, $2, ms + $3 FROM now
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
         WHERE l.holder = excluded.holder OR l.expires_ms < (SELECT ms FROM now)";
const GET_LEASE: &str = "SELECT name, holder, expires_ms FROM s3o_leases WHERE name = $1";
const RELEASE_LEASE: &str = "DELETE FROM s3o_leases WHERE name = $1 AND holder = $2";
const ALL_LEASES: &str = "SELECT name, holder, expires_ms FROM s3o_leases ORDER BY name";

/// A lease from its row (name, holder, expiry).
fn lease_of(row: &tokio_postgres::Row) -> std::result::Result<Lease, PgErr> {
    Ok(Lease {
        name: row.try_get(0)?,
        holder: row.try_get(1)?,
        expires_ms: super::unbig(row.try_get(2)?),
    })
}

/// Takes or renews a lease, by the database's clock (the instances' clocks may differ).
pub(crate) async fn acquire_lease(db: &Db, name: String, holder: String, ttl_ms: u64) -> Result<Lease> {
    let ttl = big(ttl_ms);
    attempt!(db, |conn| async {
        let acquire = conn.st(ACQUIRE_LEASE).await?;
        let get = conn.st(GET_LEASE).await?;
        let c = conn.client();
        let (_, row) = together!(
            c.execute(&acquire, &[&name, &holder, &ttl]),
            c.query_one(&get, &[&name])
        )?;
        lease_of(&row)
    })
}

/// Gives a lease up.
pub(crate) async fn release_lease(db: &Db, name: String, holder: String) -> Result<()> {
    attempt!(db, |conn| async {
        let st = conn.st(RELEASE_LEASE).await?;
        conn.client().execute(&st, &[&name, &holder]).await?;
        Ok::<_, PgErr>(())
    })
}

/// Every lease.
pub(crate) async fn leases(db: &Db) -> Result<Vec<Lease>> {
    attempt!(db, |conn| async {
        let st = conn.st(ALL_LEASES).await?;
        let rows = conn.client().query(&st, &[]).await?;
        rows.iter()
            .map(lease_of)
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

const PUBLISH_CONFIG: &str = "INSERT INTO s3o_live_config AS c (id, generation, origin, document, published_ms)
     VALUES (1, 1, $1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET generation = c.generation + 1, origin = excluded.origin,
         document = excluded.document, published_ms = excluded.published_ms
     RETURNING generation";
const CONFIG_AFTER: &str = "SELECT generation, origin, document FROM s3o_live_config WHERE id = 1 AND generation > $1";

/// Publishes the shared configuration.
pub(crate) async fn publish_config(db: &Db, origin: String, document: String) -> Result<u64> {
    let now = big(crate::rules::now_ms());
    attempt!(db, |conn| async {
        let st = conn.st(PUBLISH_CONFIG).await?;
        let row = conn.client().query_one(&st, &[&origin, &document, &now]).await?;
        Ok::<_, PgErr>(super::unbig(row.try_get(0)?))
    })
}

/// The shared configuration if newer than `generation`.
pub(crate) async fn config_after(db: &Db, generation: u64) -> Result<Option<SharedConfig>> {
    let after = big(generation);
    super::row_if_any(db, CONFIG_AFTER, &[&after], |row| {
        Ok(SharedConfig {
            generation: super::unbig(row.try_get(0)?),
            origin: row.try_get(1)?,
            document: row.try_get(2)?,
        })
    })
    .await
}

/// Registers the instance.
pub(crate) async fn register(client: &Client, id: &str, info: &str) -> Result<()> {
    client
        .execute(
            "INSERT INTO s3o_instances (id, started_ms, heartbeat_ms, info)
             VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                     (extract(epoch FROM clock_timestamp()) * 1000)::bigint, $2)",
            &[&id, &info],
        )
        .await
        .map_err(|e| from_db(&e))?;
    Ok(())
}

/// Deletes the instance's pending releases and its row (at close).
pub(crate) async fn deregister(db: &Db) -> Result<()> {
    let mut conn = db.pool.get().await.map_err(super::error::PgErr::into_store)?;
    // Statements outside a transaction: the connection stays fit whatever they answer.
    conn.settle();
    delete_released(db, &mut conn).await;
    conn.client()
        .execute("DELETE FROM s3o_reservations WHERE instance = $1", &[&db.instance])
        .await
        .map_err(|e| from_db(&e))?;
    conn.client()
        .execute("DELETE FROM s3o_instances WHERE id = $1", &[&db.instance])
        .await
        .map_err(|e| from_db(&e))?;
    Ok(())
}

/// Deletes the released reservations (failures are retried at the next beat).
async fn delete_released(db: &Db, conn: &mut super::pool::Conn<'_>) {
    let ids = db.releases.undeleted();
    if ids.is_empty() {
        return;
    }
    let r = conn
        .client()
        .execute(
            "DELETE FROM s3o_reservations WHERE instance = $1 AND id = ANY ($2)",
            &[&db.instance, &ids],
        )
        .await;
    match r {
        Ok(_) => db.releases.done(&ids),
        Err(e) => tracing::warn!(error = %describe(&e), "postgres: released reservations not deleted yet"),
    }
}

/// The instance's background task: deletes released reservations as they come, and every
/// [`HEARTBEAT`] renews the instance's row and removes the instances (and their reservations)
/// whose heartbeat expired. Ends when the engine is dropped.
pub(crate) async fn heartbeat(db: Weak<Db>) {
    let mut next_beat = tokio::time::Instant::now();
    loop {
        let Some(strong) = db.upgrade() else { return };
        let beat = {
            // Waits holding the engine: dropping it ends only at the next beat (2 s at most).
            let woken = tokio::time::timeout_at(next_beat, strong.releases.wake.notified());
            woken.await.is_err()
        };
        drop(strong);
        let Some(db) = db.upgrade() else { return };
        beat_once(&db, beat).await;
        if beat {
            next_beat = tokio::time::Instant::now() + HEARTBEAT;
        }
    }
}

/// One round of the heartbeat task.
async fn beat_once(db: &Arc<Db>, beat: bool) {
    let Ok(mut conn) = db.pool.get().await else {
        return;
    };
    // Statements outside a transaction: the connection stays fit whatever they answer.
    conn.settle();
    delete_released(db, &mut conn).await;
    if !beat {
        return;
    }
    // The database's clock, not ours: the instances' clocks may disagree.
    let now = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
    let r = conn
        .client()
        .batch_execute(&format!(
            "INSERT INTO s3o_instances (id, started_ms, heartbeat_ms) VALUES ('{id}', {now}, {now})
                 ON CONFLICT (id) DO UPDATE SET heartbeat_ms = {now};
             DELETE FROM s3o_reservations r WHERE NOT EXISTS
                 (SELECT 1 FROM s3o_instances i WHERE i.id = r.instance AND i.heartbeat_ms >= {now} - {expiry});
             DELETE FROM s3o_instances WHERE heartbeat_ms < {now} - {expiry};",
            id = db.instance,
            expiry = INSTANCE_EXPIRY_MS
        ))
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %describe(&e), "postgres: heartbeat failed");
    }
}
