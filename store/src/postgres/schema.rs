//! The PostgreSQL engine's schema and its migrations: versioned, forward-only, applied at open
//! under an advisory lock (several proxies starting at once apply each migration once), each in
//! its own transaction together with its row in `s3o_schema`. A database whose schema is newer
//! than this binary knows is refused: an older proxy must not write records it does not
//! understand.
//!
//! Layout (all names unqualified, so the connection's `search_path` picks the schema):
//! - `s3o_buckets`, `s3o_objects` (the current version of each key; the listing columns beside
//!   the full record, keys as `bytea` so they sort in UTF-8 byte order as S3 lists them);
//! - `s3o_counters`: per-bucket and per-backend totals and the cleanup queue's depth, as rows
//!   sharded by connection so concurrent commits never wait on one hot row; a total is the sum of
//!   its shards (`numeric`, so u64 sums never overflow);
//! - `s3o_reservations`: quota reservations in flight, by instance; `s3o_reserve` checks and
//!   records one under a per-backend advisory lock, in one round trip;
//! - `s3o_uploads`, `s3o_parts`, `s3o_completed`: multipart uploads;
//! - `s3o_cleanup`: the durable cleanup queue, indexed by due time;
//! - `s3o_usage_counters`: monthly per-backend request and byte counters;
//! - `s3o_instances`, `s3o_leases`: the proxies sharing the database and who runs which worker;
//! - `s3o_meta`: small named values (the readiness probe), and the `s3o_versions` sequence;
//! - `s3o_live_config`: the configuration one instance published for the others;
//! - `s3o_object_versions`: noncurrent versions and delete markers (bucket `settings` hold versioning
//!   and object lock);
//! - `s3o_replication`: versions waiting for more copies, by version, indexed by due time;
//! - `s3o_states`: small named documents (drain progress and the like) every instance sees.
//!
//! Migrations: 1 the initial schema; 2 the shared configuration; 3 versioning and object lock;
//! 4 the replication queue, the state documents and an index of the cleanup queue by backend
//! (for removing a backend).

use tokio_postgres::Client;

use crate::error::{Result, StoreError};

/// One migration: its version, what it does, and its SQL (several statements).
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// Every migration, in version order. Append only: a released migration never changes.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: r#"
CREATE TABLE s3o_buckets (
    name text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    created_ms bigint NOT NULL
);
CREATE TABLE s3o_objects (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    size bigint NOT NULL,
    etag text NOT NULL,
    last_modified_ms bigint NOT NULL,
    version bigint NOT NULL,
    meta bytea NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE s3o_counters (
    scope text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    shard smallint NOT NULL,
    objects numeric NOT NULL DEFAULT 0,
    bytes numeric NOT NULL DEFAULT 0,
    uploads numeric NOT NULL DEFAULT 0,
    committed numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, name, shard)
);
CREATE TABLE s3o_reservations (
    instance text COLLATE "C" NOT NULL,
    id bigint NOT NULL,
    backend text COLLATE "C" NOT NULL,
    bytes numeric NOT NULL,
    PRIMARY KEY (instance, id)
);
CREATE INDEX s3o_reservations_by_backend ON s3o_reservations (backend);
CREATE TABLE s3o_uploads (
    upload_id text COLLATE "C" PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    backend text COLLATE "C" NOT NULL,
    initiated_ms bigint NOT NULL,
    part_bytes bigint NOT NULL DEFAULT 0,
    parts_seq bigint NOT NULL DEFAULT 0,
    record bytea NOT NULL
);
CREATE INDEX s3o_uploads_by_key ON s3o_uploads (bucket, key, upload_id);
CREATE INDEX s3o_uploads_by_time ON s3o_uploads (initiated_ms);
CREATE TABLE s3o_parts (
    upload_id text COLLATE "C" NOT NULL,
    number integer NOT NULL,
    size bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (upload_id, number)
);
CREATE TABLE s3o_completed (
    upload_id text COLLATE "C" PRIMARY KEY,
    completed_ms bigint NOT NULL,
    record bytea NOT NULL
);
CREATE INDEX s3o_completed_by_time ON s3o_completed (completed_ms);
CREATE TABLE s3o_cleanup (
    id bigserial PRIMARY KEY,
    backend text COLLATE "C" NOT NULL,
    physical_key text NOT NULL,
    size bigint NOT NULL,
    reason text NOT NULL,
    accounting text NOT NULL,
    upload_id text,
    attempts integer NOT NULL DEFAULT 0,
    not_before_ms bigint NOT NULL
);
CREATE INDEX s3o_cleanup_due ON s3o_cleanup (not_before_ms, id);
CREATE TABLE s3o_usage_counters (
    period text COLLATE "C" NOT NULL,
    backend text COLLATE "C" NOT NULL,
    api_requests numeric NOT NULL DEFAULT 0,
    egress_bytes numeric NOT NULL DEFAULT 0,
    ingress_bytes numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (period, backend)
);
CREATE TABLE s3o_instances (
    id text COLLATE "C" PRIMARY KEY,
    started_ms bigint NOT NULL,
    heartbeat_ms bigint NOT NULL,
    info text NOT NULL DEFAULT ''
);
CREATE TABLE s3o_leases (
    name text COLLATE "C" PRIMARY KEY,
    holder text NOT NULL,
    expires_ms bigint NOT NULL
);
CREATE TABLE s3o_meta (
    key text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
CREATE SEQUENCE s3o_versions;

-- Reserves p_bytes on p_backend for instance p_instance as reservation p_id. With a quota, the
-- check and the insert run under a per-backend advisory lock (so two reservations never fit
-- together past the quota, whichever proxies make them), counting committed bytes and every
-- reservation but those of p_instance listed in p_skip (released, their delete not yet applied),
-- plus p_local: what p_instance reserved on the backend without a quota (kept in its memory).
-- Returns NULL when granted, else the bytes already used. (The commit waits for the WAL flush
-- like any other: with synchronous_commit off, reservations made concurrently were seen to
-- exceed the quota together.)
CREATE FUNCTION s3o_reserve(p_instance text, p_id bigint, p_backend text, p_bytes numeric,
                            p_quota numeric, p_skip bigint[], p_local numeric) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
    used numeric;
BEGIN
    IF p_quota IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('s3o-quota/' || p_backend, 0));
        SELECT greatest(coalesce((SELECT sum(committed) FROM s3o_counters
                                   WHERE scope = 'backend' AND name = p_backend), 0), 0)
             + coalesce((SELECT sum(bytes) FROM s3o_reservations
                          WHERE backend = p_backend
                            AND NOT (instance = p_instance AND id = ANY (p_skip))), 0)
             + p_local
          INTO used;
        IF used + p_bytes > p_quota THEN
            RETURN used;
        END IF;
    END IF;
    INSERT INTO s3o_reservations (instance, id, backend, bytes)
        VALUES (p_instance, p_id, p_backend, p_bytes);
    RETURN NULL;
END
$$;
"#,
    },
    Migration {
        version: 2,
        description: "the configuration shared between instances",
        sql: r#"
CREATE TABLE s3o_live_config (
    id integer PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL,
    origin text NOT NULL,
    document text NOT NULL,
    published_ms bigint NOT NULL
);
"#,
    },
    Migration {
        version: 3,
        description: "versioning and object lock",
        sql: r#"
ALTER TABLE s3o_buckets ADD COLUMN settings bytea;
CREATE TABLE s3o_object_versions (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version bigint NOT NULL,
    null_version boolean NOT NULL,
    meta bytea NOT NULL,
    PRIMARY KEY (bucket, key, version)
);
"#,
    },
    Migration {
        version: 4,
        description: "replication queue, state documents",
        sql: r#"
CREATE TABLE s3o_replication (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    not_before_ms bigint NOT NULL,
    PRIMARY KEY (bucket, key, version)
);
CREATE INDEX s3o_replication_due ON s3o_replication (not_before_ms, bucket, key, version);
CREATE TABLE s3o_states (
    name text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
CREATE INDEX s3o_cleanup_by_backend ON s3o_cleanup (backend);
"#,
    },
    Migration {
        version: 5,
        description: "document collections",
        sql: r#"
CREATE TABLE s3o_docs (
    collection text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (collection, id)
);
"#,
    },
    Migration {
        version: 6,
        description: "object owners for listings",
        sql: r#"
ALTER TABLE s3o_objects ADD COLUMN owner text;
"#,
    },
];

/// The newest schema version this binary knows.
pub(crate) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database's schema up to [`latest`], or refuses a newer one. Holds a session
/// advisory lock meanwhile so concurrent starts apply each migration once.
pub(crate) async fn migrate(client: &mut Client) -> Result<()> {
    const LOCK: &str = "SELECT pg_advisory_lock(hashtextextended('s3o-migrations', 0))";
    const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtextextended('s3o-migrations', 0))";
    client
        .batch_execute(LOCK)
        .await
        .map_err(|e| fail("take the migration lock", &e))?;
    let outcome = apply(client).await;
    let unlocked = client.batch_execute(UNLOCK).await;
    outcome?;
    unlocked.map_err(|e| fail("release the migration lock", &e))
}

/// Applies every migration the database lacks.
async fn apply(client: &mut Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS s3o_schema (
                 version integer PRIMARY KEY,
                 description text NOT NULL,
                 applied_ms bigint NOT NULL
             )",
        )
        .await
        .map_err(|e| fail("create s3o_schema", &e))?;
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM s3o_schema", &[])
        .await
        .map_err(|e| fail("read the schema version", &e))?;
    let current: i32 = row.get(0);
    if current > latest() {
        return Err(StoreError::Engine(format!(
            "the database schema is at version {current}, newer than this binary knows ({}): \
             run a newer s3-orchestrator against it",
            latest()
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = client.transaction().await.map_err(|e| fail("begin a migration", &e))?;
        tx.batch_execute(m.sql)
            .await
            .map_err(|e| fail(&format!("apply migration {} ({})", m.version, m.description), &e))?;
        let now = i64::try_from(crate::rules::now_ms()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO s3o_schema (version, description, applied_ms) VALUES ($1, $2, $3)",
            &[&m.version, &m.description, &now],
        )
        .await
        .map_err(|e| fail("record a migration", &e))?;
        tx.commit().await.map_err(|e| fail("commit a migration", &e))?;
        tracing::info!(
            version = m.version,
            description = m.description,
            "metadata schema migrated"
        );
    }
    Ok(())
}

/// A failed step of the migration, named.
fn fail(step: &str, e: &tokio_postgres::Error) -> StoreError {
    StoreError::Engine(format!("cannot {step}: {}", super::error::describe(e)))
}
