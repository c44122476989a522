//! This proxy as one instance among those sharing the database: its id, its row in
//! `s3o_instances` with a heartbeat, the reservations it released but has not yet deleted, and
//! the clean-up of instances that stopped beating (their reservations would otherwise hold quota
//! forever).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_postgres::Client;

use super::error::{describe, from_db};
use super::{big, Db};
use crate::error::Result;
use crate::rules::now_ms;

/// How often an instance beats, and deletes its released reservations if none asked sooner.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);

/// An instance whose heartbeat is older than this is gone: its reservations are deleted.
pub(crate) const INSTANCE_EXPIRY_MS: u64 = 30_000;

/// A fresh instance id: unique per process start (time, process id, a random hash seed).
pub(crate) fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Where this instance's connections start among the counter shards.
pub(crate) fn shard_base(id: &str) -> usize {
    usize::from_str_radix(id.get(..4).unwrap_or("0"), 16).unwrap_or(0)
}

/// Released reservations waiting to be deleted, by id (with their backend and bytes).
#[derive(Default)]
pub(crate) struct Releases {
    pending: Mutex<HashMap<u64, String>>,
    wake: Notify,
}

impl Releases {
    /// Records a release and wakes the task that deletes them.
    pub(crate) fn add(&self, id: u64, backend: &str) {
        self.pending.lock().insert(id, backend.to_owned());
        self.wake.notify_one();
    }

    /// The ids released on `backend` and not yet deleted (left out of this instance's sums).
    pub(crate) fn on(&self, backend: &str) -> Vec<i64> {
        let pending = self.pending.lock();
        pending
            .iter()
            .filter(|(_, b)| *b == backend)
            .map(|(id, _)| big(*id))
            .collect()
    }

    /// Every id released and not yet deleted.
    pub(crate) fn all(&self) -> Vec<i64> {
        self.pending.lock().keys().map(|id| big(*id)).collect()
    }

    /// Forgets ids whose rows are deleted.
    fn done(&self, ids: &[i64]) {
        let mut pending = self.pending.lock();
        for id in ids {
            pending.remove(&super::unbig(*id));
        }
    }
}

impl crate::reservation::ReservationLedger for Db {
    fn release(&self, id: u64, backend: &str, _bytes: u64) {
        self.releases.add(id, backend);
    }
}

/// Registers the instance.
pub(crate) async fn register(client: &Client, id: &str, info: &str) -> Result<()> {
    let now = big(now_ms());
    client
        .execute(
            "INSERT INTO s3o_instances (id, started_ms, heartbeat_ms, info) VALUES ($1, $2, $2, $3)",
            &[&id, &now, &info],
        )
        .await
        .map_err(|e| from_db(&e))?;
    Ok(())
}

/// Deletes the instance's pending releases and its row (at close).
pub(crate) async fn deregister(db: &Db) -> Result<()> {
    let mut conn = db.pool.get().await.map_err(super::error::PgErr::into_store)?;
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
    let ids = db.releases.all();
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
    delete_released(db, &mut conn).await;
    if !beat {
        return;
    }
    let now = big(now_ms());
    let expired = now.saturating_sub(big(INSTANCE_EXPIRY_MS));
    let r = conn
        .client()
        .batch_execute(&format!(
            "INSERT INTO s3o_instances (id, started_ms, heartbeat_ms) VALUES ('{id}', {now}, {now})
                 ON CONFLICT (id) DO UPDATE SET heartbeat_ms = {now};
             DELETE FROM s3o_reservations r WHERE NOT EXISTS
                 (SELECT 1 FROM s3o_instances i WHERE i.id = r.instance AND i.heartbeat_ms >= {expired});
             DELETE FROM s3o_instances WHERE heartbeat_ms < {expired};",
            id = db.instance
        ))
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %describe(&e), "postgres: heartbeat failed");
    }
}
