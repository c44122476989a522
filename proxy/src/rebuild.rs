//! `s3-orchestrator rebuild-index`: rebuilds a lost metadata store from what the backends hold
//! (design rule 6). Offline: the CLI holds the data directory's lock, and the store must be empty
//! unless forced.
//!
//! Every configured backend is listed in full. Each version record (`{physical}.meta`, see
//! [`crate::records`]) gives a version's metadata; the copy beside it, if the listing has it, is
//! one of its locations (a record without its data is skipped, with a warning). Copies of one
//! version on several backends merge into one version with several locations (of records that
//! differ, the one written last wins). A data object without any record (written before records
//! existed) is recovered from its labels (fs xattrs, s3 `x-amz-meta-s3o-*`) as a version with its
//! size, ETag and content type. Bucket records restore their buckets' settings, configured
//! buckets exist anyway, and a bucket known only from its versions is created with a warning.
//! Then every version, delete markers included, is restored in version order, and new versions
//! are moved past the largest one found. Of a key's `null` versions (unversioned or suspended
//! buckets), only the newest is restored: the older ones were replaced but not yet cleaned up
//! when the store was lost.

use std::collections::{BTreeMap, HashMap};

use tracing::{info, warn};

use s3o_store::{physical_key_for, BucketChange, BucketMeta, Location, ObjectMeta, Store, Versioning};

use crate::backend::{Backend, Listed, BODY_BUF};
use crate::config::Config;
use crate::offline::{run_on_core, OfflineError};
use crate::records::{self, BucketRecord, VersionRecord, MAX_RECORD_BYTES};
use crate::state::Core;

/// How a rebuild runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildOptions {
    /// Find and count everything, restore nothing (into a throwaway store).
    pub dry_run: bool,
    /// Rebuild into a store that already holds buckets (versions found merge with it).
    pub force: bool,
}

/// What a rebuild found and restored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildSummary {
    /// Buckets restored or found configured.
    pub buckets: u64,
    /// Versions holding bytes restored.
    pub versions: u64,
    /// Delete markers restored.
    pub delete_markers: u64,
    /// Copies (locations) of the versions restored.
    pub copies: u64,
    /// Versions found only by their labels (no record).
    pub from_labels: u64,
    /// Records and objects skipped (each logged): records without data, unlabelled or
    /// mislabelled objects, replaced `null` versions.
    pub skipped: u64,
    /// What failed (listing a backend, restoring a version…); non-empty makes the command fail.
    pub errors: Vec<String>,
}

impl std::fmt::Display for RebuildSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} buckets, {} versions, {} delete markers, {} copies ({} from labels only), {} skipped, {} errors",
            self.buckets,
            self.versions,
            self.delete_markers,
            self.copies,
            self.from_labels,
            self.skipped,
            self.errors.len()
        )
    }
}

/// One version as found on the backends.
#[derive(Debug)]
struct Found {
    /// Its metadata (from a record, or from labels), locations in `meta.locations`.
    meta: ObjectMeta,
    /// When its record was written (0: found by labels).
    written_ms: u64,
    /// Each copy found beside a record, with what that record says of its bytes
    /// ([`stored_print`]): copies whose record disagrees with the newest are left out.
    prints: Vec<(Location, String)>,
}

/// A version as one record (or one copy's labels) describes it.
struct Recorded {
    meta: ObjectMeta,
    /// When the record was written (0: by labels, or a record from before records were dated).
    written_ms: u64,
    /// Whether it comes from a record (whose description of the copy's bytes is trusted).
    from_record: bool,
}

/// What a version's record says of the stored bytes of its copies: their length and how they
/// are sealed (the segments' nonces, which a rewrite changes and a key rotation keeps).
fn stored_print(meta: &ObjectMeta) -> String {
    let nonces: Vec<&str> = meta
        .sealed
        .iter()
        .flat_map(|s| s.segments.iter().map(|g| g.nonce.as_str()))
        .collect();
    format!("{}:{}", meta.stored_size(), nonces.join(","))
}

/// Everything the listings and records said.
#[derive(Default)]
struct Findings {
    /// Versions by (bucket, key, version).
    versions: BTreeMap<(String, String, u64), Found>,
    /// The version each physical key holds.
    by_physical: HashMap<String, (String, String, u64)>,
    /// Bucket records by name.
    buckets: BTreeMap<String, BucketRecord>,
    /// The largest version number met anywhere.
    max_version: u64,
}

/// Rebuilds `store` from the backends `cfg` configures (see the module notes). Fails before
/// changing anything when `store` holds a bucket and `options.force` is not set.
pub fn rebuild_index(cfg: Config, store: Store, options: &RebuildOptions) -> Result<RebuildSummary, OfflineError> {
    let held = s3o_store::block_on(store.list_buckets()).map_err(|e| OfflineError::Failed(e.to_string()))?;
    if !held.is_empty() && !options.force {
        let names: Vec<&str> = held.iter().take(5).map(|b| b.name.as_str()).collect();
        return Err(OfflineError::Failed(format!(
            "the metadata store is not empty (it holds {} buckets: {}…); rebuild into an empty store, or pass --force to merge what the backends hold into it",
            held.len(),
            names.join(", ")
        )));
    }
    // A dry run restores into a throwaway store: everything is checked, nothing kept.
    let target = if options.dry_run {
        Store::temporary().map_err(|e| OfflineError::Setup(e.to_string()))?
    } else {
        store
    };
    run_on_core(cfg, target, async |core: &Core| rebuild_on(core).await)
}

/// The rebuild on a core.
async fn rebuild_on(core: &Core) -> RebuildSummary {
    let mut summary = RebuildSummary::default();
    let mut found = Findings::default();
    let snap = core.snapshot();
    let mut data: Vec<(String, Listed)> = Vec::new();
    for b in &snap.backends {
        match scan_backend(core, &b.name, &mut found, &mut summary).await {
            Ok(objects) => data.extend(objects.into_iter().map(|o| (b.name.clone(), o))),
            Err(e) => summary.errors.push(format!("backend {}: {e}", b.name)),
        }
    }
    for (backend, obj) in &data {
        place_copy(core, backend, obj, &mut found, &mut summary).await;
    }
    // A copy whose own record describes other bytes than the newest record held the version's
    // bytes before a rewrite (an old plaintext copy of a version sealed since, waiting for its
    // cleanup): never a location of the version.
    for v in found.versions.values_mut() {
        let newest = stored_print(&v.meta);
        let prints = &v.prints;
        v.meta
            .locations
            .retain(|l| prints.iter().find(|(c, _)| c == l).is_none_or(|(_, p)| *p == newest));
    }
    restore_all(core, found, &mut summary).await;
    info!(%summary, "index rebuild done");
    summary
}

/// Lists backend `backend` in full: reads its bucket and version records into `found`, and
/// returns its data objects (physical keys) for [`place_copy`].
async fn scan_backend(
    core: &Core,
    backend: &str,
    found: &mut Findings,
    summary: &mut RebuildSummary,
) -> Result<Vec<Listed>, String> {
    let client = core.backend(backend).map_err(|e| e.to_string())?;
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client.list_page(after.as_deref()).await.map_err(|e| e.to_string())?;
        listed.extend(page.objects);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let present: HashMap<&str, &Listed> = listed.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut objects = Vec::new();
    for obj in &listed {
        if let Some(name) = records::bucket_of_record_key(&obj.key) {
            match read_json::<BucketRecord>(&client, obj).await {
                Ok(r) if r.name == name => {
                    found.buckets.insert(r.name.clone(), r);
                }
                Ok(_) => skip(summary, backend, &obj.key, "bucket record names another bucket"),
                Err(e) => skip(summary, backend, &obj.key, &e),
            }
        } else if let Some(physical) = records::physical_of_record_key(&obj.key) {
            let record = match read_json::<VersionRecord>(&client, obj).await {
                Ok(r) => r,
                Err(e) => {
                    skip(summary, backend, &obj.key, &e);
                    continue;
                }
            };
            // A record beside the version's first copy, or beside a copy made later under a
            // fresh key of the same bucket (replication, moves, a rewrite).
            let named = physical_key_for(&record.bucket, &record.key, record.meta.version) == physical
                || records::split_physical_key(physical)
                    .is_some_and(|(b, n)| b == record.bucket && physical_key_for(b, &record.key, n) == physical);
            if !named {
                skip(summary, backend, &obj.key, "record names another version");
                continue;
            }
            // A fresh key's own number is the store's too: never to be issued again.
            let keyed = records::split_physical_key(physical).map_or(0, |(_, n)| n);
            found.max_version = found.max_version.max(record.meta.version).max(keyed);
            let copy = match present.get(physical) {
                _ if record.meta.delete_marker => None,
                Some(data) if data.size == record.meta.stored_size() => Some(Location {
                    backend: backend.to_owned(),
                    physical_key: physical.to_owned(),
                }),
                Some(_) => {
                    skip(summary, backend, &obj.key, "its data object has another size");
                    continue;
                }
                None => {
                    skip(summary, backend, &obj.key, "record without its data object");
                    continue;
                }
            };
            let v = Recorded {
                meta: record.meta,
                written_ms: record.written_ms,
                from_record: true,
            };
            add_version(found, record.bucket, record.key, v, copy);
        } else if let Some((_, version)) = records::split_physical_key(&obj.key) {
            found.max_version = found.max_version.max(version);
            objects.push(obj.clone());
        }
    }
    Ok(objects)
}

/// Adds a version found in a record (or by labels) and one copy of it to `found`: a version
/// already found gets the copy, and the metadata of whichever record was written last.
fn add_version(found: &mut Findings, bucket: String, key: String, v: Recorded, copy: Option<Location>) {
    let Recorded {
        mut meta,
        written_ms,
        from_record,
    } = v;
    let id = (bucket.clone(), key.clone(), meta.version);
    found
        .by_physical
        .insert(physical_key_for(&bucket, &key, meta.version), id.clone());
    if let Some(c) = &copy {
        found.by_physical.insert(c.physical_key.clone(), id.clone());
    }
    meta.locations.clear();
    let print = stored_print(&meta);
    let entry = found.versions.entry(id).or_insert_with(|| Found {
        meta: meta.clone(),
        written_ms,
        prints: Vec::new(),
    });
    if written_ms > entry.written_ms {
        let locations = std::mem::take(&mut entry.meta.locations);
        entry.meta = ObjectMeta { locations, ..meta };
        entry.written_ms = written_ms;
    }
    if let Some(c) = copy.as_ref().filter(|_| from_record) {
        entry.prints.push((c.clone(), print));
    }
    if let Some(copy) = copy.filter(|c| !entry.meta.locations.contains(c)) {
        entry.meta.locations.push(copy);
    }
}

/// Places data object `obj` of `backend`: a copy of a version already found, or a version of
/// its own found by its labels; skipped (with a warning) without usable labels.
async fn place_copy(core: &Core, backend: &str, obj: &Listed, found: &mut Findings, summary: &mut RebuildSummary) {
    let copy = Location {
        backend: backend.to_owned(),
        physical_key: obj.key.clone(),
    };
    if let Some(id) = found.by_physical.get(&obj.key) {
        if let Some(v) = found.versions.get_mut(id) {
            if v.meta.stored_size() != obj.size {
                return skip(summary, backend, &obj.key, "copy of another size than its version");
            }
            if !v.meta.locations.contains(&copy) {
                v.meta.locations.push(copy);
            }
            return;
        }
    }
    let client = match core.backend(backend) {
        Ok(c) => c,
        Err(e) => return skip(summary, backend, &obj.key, &e),
    };
    let labels = match client.labels(&obj.key).await {
        // Sealed bytes cannot be opened without their record (it holds the data key): never
        // taken for plaintext.
        Ok(Some(l)) if l.sealed => {
            return skip(
                summary,
                backend,
                &obj.key,
                "sealed (encrypted) bytes without their version's record",
            )
        }
        Ok(Some(l)) if physical_key_for(&l.bucket, &l.key, l.version) == obj.key => l,
        Ok(_) => return skip(summary, backend, &obj.key, "no record, and no labels naming it"),
        Err(e) => return skip(summary, backend, &obj.key, &e),
    };
    let etag = match crate::admin_port::import::etag_of(&client, obj).await {
        Ok(e) => e,
        Err(e) => return skip(summary, backend, &obj.key, &e),
    };
    summary.from_labels += 1;
    let meta = ObjectMeta {
        size: obj.size,
        etag,
        content_type: labels.content_type,
        last_modified_ms: if obj.last_modified_ms > 0 {
            obj.last_modified_ms
        } else {
            crate::clock::unix_ms()
        },
        version: labels.version,
        ..ObjectMeta::default()
    };
    let v = Recorded {
        meta,
        written_ms: 0,
        from_record: false,
    };
    add_version(found, labels.bucket, labels.key, v, Some(copy));
}

/// Restores the buckets, then every version in version order, then moves versions on.
async fn restore_all(core: &Core, found: Findings, summary: &mut RebuildSummary) {
    let store = &core.shared.store;
    let fail = |summary: &mut RebuildSummary, what: String| {
        warn!(error = %what, "index rebuild");
        summary.errors.push(what);
    };
    for record in found.buckets.values() {
        if let Err(e) = restore_bucket(store, record).await {
            fail(summary, format!("bucket {}: {e}", record.name));
        }
    }
    // Buckets known only from their versions.
    let mut buckets: BTreeMap<String, BucketMeta> = match store.list_buckets().await {
        Ok(all) => all.into_iter().map(|b| (b.name.clone(), b)).collect(),
        Err(e) => return fail(summary, format!("buckets unreadable: {e}")),
    };
    for ((bucket, _, _), v) in &found.versions {
        if buckets.contains_key(bucket) {
            continue;
        }
        warn!(%bucket, "bucket without a record or configuration: created");
        let meta = BucketMeta {
            name: bucket.clone(),
            created_ms: crate::clock::unix_ms(),
            owner: "rebuild".into(),
            settings: s3o_store::BucketSettings {
                versioning: if v.meta.versioned {
                    Versioning::Enabled
                } else {
                    Versioning::Unversioned
                },
                ..Default::default()
            },
            ..BucketMeta::default()
        };
        match store.restore_bucket(&meta).await {
            Ok(()) => {
                buckets.insert(bucket.clone(), meta);
            }
            Err(e) => fail(summary, format!("bucket {bucket}: {e}")),
        }
    }
    summary.buckets = buckets.len() as u64;
    let mut order: Vec<((String, String, u64), Found)> = found.versions.into_iter().collect();
    // Versions found by labels only are versioned as their bucket is now.
    for ((bucket, _, _), v) in &mut order {
        if v.written_ms == 0 {
            v.meta.versioned = buckets
                .get(bucket)
                .is_some_and(|b| b.settings.versioning == Versioning::Enabled);
        }
    }
    // Of a key's `null` versions only the newest stays: it replaced the others.
    let mut newest_null: HashMap<(String, String), u64> = HashMap::new();
    for ((bucket, key, version), v) in &order {
        if !v.meta.versioned {
            let n = newest_null.entry((bucket.clone(), key.clone())).or_default();
            *n = (*n).max(*version);
        }
    }
    order.sort_by_key(|((_, _, version), _)| *version);
    for ((bucket, key, version), v) in order {
        if !v.meta.versioned && newest_null.get(&(bucket.clone(), key.clone())) != Some(&version) {
            skip(
                summary,
                "-",
                &format!("{bucket}/{key} version {version}"),
                "a newer null version replaced it",
            );
            continue;
        }
        if let Err(e) = store.restore_version(&bucket, &key, &v.meta).await {
            fail(summary, format!("{bucket}/{key} version {version}: {e}"));
            continue;
        }
        if v.meta.delete_marker {
            summary.delete_markers += 1;
        } else {
            summary.versions += 1;
            summary.copies += v.meta.locations.len() as u64;
        }
    }
    if let Err(e) = store.advance_versions(found.max_version).await {
        fail(summary, format!("versions not moved past {}: {e}", found.max_version));
    }
}

/// Restores one bucket from its record; a bucket that exists (a configured one) takes the
/// record's settings (versioning only when the record has it on).
async fn restore_bucket(store: &Store, record: &BucketRecord) -> s3o_store::Result<()> {
    store.restore_bucket(&record.to_meta()).await?;
    let Some(have) = store.bucket(&record.name).await? else {
        return Ok(());
    };
    let mut settings = record.settings.clone();
    if settings.versioning == Versioning::Unversioned {
        // Versioning once enabled is never removed: a record that predates it keeps the store's.
        settings.versioning = have.settings.versioning;
    }
    if settings.object_lock.is_none() {
        // Nor is object lock.
        settings.object_lock = have.settings.object_lock;
    }
    if have.settings != settings {
        store
            .update_bucket(&record.name, BucketChange::Settings(Box::new(settings)))
            .await?;
    }
    Ok(())
}

/// Logs and counts something skipped.
fn skip(summary: &mut RebuildSummary, backend: &str, key: &str, why: impl std::fmt::Display) {
    warn!(backend, key, reason = %why, "index rebuild: skipped");
    summary.skipped += 1;
}

/// Reads the small JSON document `obj` of `client`.
async fn read_json<T: serde::de::DeserializeOwned>(client: &Backend, obj: &Listed) -> Result<T, String> {
    if obj.size > MAX_RECORD_BYTES {
        return Err(format!("record of {} bytes is too large", obj.size));
    }
    let mut stream = client.get(&obj.key, None, obj.size).await.map_err(|e| e.to_string())?;
    let mut body = Vec::with_capacity(usize::try_from(obj.size).unwrap_or(0));
    let mut buf = Vec::with_capacity(BODY_BUF.min(usize::try_from(obj.size).unwrap_or(BODY_BUF)).max(1));
    while stream.remaining() > 0 {
        let (r, b) = stream.read(buf).await;
        r.map_err(|e| e.to_string())?;
        if b.is_empty() {
            return Err("record ended early".into());
        }
        body.extend_from_slice(&b);
        buf = b;
    }
    serde_json::from_slice(&body).map_err(|e| format!("not a record: {e}"))
}
