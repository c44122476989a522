//! The proxy side of seed 003's data API ([`s3o_admin::data::DataApi`]). The orchestrated
//! store is the backend `[access] backend_id` (default `orchestrator`): its buckets are the
//! virtual buckets, answered from the metadata store exactly as the S3 port answers them
//! (settings shared with Get/PutBucket*, objects written through placement, quotas and a
//! durable commit with their records). Every configured backend is listed as itself with its
//! breaker's health and can be probed; its own buckets (all but the one holding our physical
//! objects) are reached directly through [`super::data_direct`].

use std::collections::BTreeMap;

use bytes::Bytes;
use s3o_admin::access::DEFAULT_BACKEND_ID;
use s3o_admin::data::dto::{self, rfc3339, Capabilities};
use s3o_admin::data::{Bkt, DataError, DataResult, ListArgs};
use s3o_store::{
    BucketChange, BucketSettings, ListQuery, ObjectMeta, StoreError, VersionChange, VersionQuery, VersionRef,
    WriteCondition,
};

use super::control::ProxyControl;
use super::data_direct::{self, Source, Target};
use crate::backend::{BodySource, PhysicalMeta};
use crate::error::ProxyError;
use crate::s3::copy::Md5Tee;
use crate::s3::object::{commit_version, queue_orphan, Placed};

/// Most versions `GET .../object/versions` shows of one key (newest first).
const MAX_VERSIONS: usize = 10_000;

/// What the orchestrated store can do.
const ORCHESTRATOR: Capabilities = Capabilities {
    versioning: true,
    object_lock: true,
    lifecycle: true,
    bucket_policy: true,
    cors: true,
    tagging: true,
    server_side_encrypt: false,
    admin_api: "",
    max_multipart_parts: 10_000,
    max_part_size_bytes: 5 << 30,
};

/// What the data API does on a real backend's own buckets: nothing yet.
const REAL: Capabilities = Capabilities {
    versioning: false,
    object_lock: false,
    lifecycle: false,
    bucket_policy: false,
    cors: false,
    tagging: false,
    server_side_encrypt: false,
    admin_api: "",
    max_multipart_parts: 10_000,
    max_part_size_bytes: 5 << 30,
};

/// The store's and the backends' errors in the seed's words.
pub(super) fn from_store(e: StoreError) -> DataError {
    match e {
        StoreError::NoSuchBucket(_) | StoreError::NoSuchKey { .. } | StoreError::NoSuchVersion { .. } => {
            DataError::NotFound("resource not found".into())
        }
        StoreError::BucketNotEmpty(_) => DataError::Conflict("bucket_not_empty", "bucket is not empty".into()),
        StoreError::BucketAlreadyExists(_) => DataError::Conflict("bucket_exists", "bucket already exists".into()),
        StoreError::Locked { why, .. } => DataError::Conflict("object_locked", format!("object lock: {why}")),
        StoreError::DeleteMarker { .. } => DataError::NotFound("resource not found".into()),
        StoreError::VersionChanged { .. } => {
            DataError::Conflict("conflict", "the object changed meanwhile; retry".into())
        }
        e if e.is_unavailable() => DataError::Unavailable(e.to_string()),
        e => DataError::Internal(e.to_string()),
    }
}

pub(super) fn from_proxy(e: ProxyError) -> DataError {
    match e {
        ProxyError::Store(s) => from_store(s),
        ProxyError::InsufficientStorage => DataError::InsufficientStorage("no backend has room".into()),
        ProxyError::QuotaExceeded => DataError::QuotaExceeded,
        ProxyError::NoSuchBucket | ProxyError::NoSuchKey => DataError::NotFound("resource not found".into()),
        e => DataError::Backend(e.to_string()),
    }
}

/// The object as the seed shows it (HEAD and writes: everything known).
pub(super) fn object_of(key: &str, meta: &ObjectMeta) -> dto::Object {
    let metadata: BTreeMap<String, String> = meta.user_meta.iter().cloned().collect();
    dto::Object {
        key: key.to_owned(),
        size: meta.size,
        etag: Some(meta.etag.clone()),
        content_type: meta.content_type.clone(),
        storage_class: Some("STANDARD".into()),
        version_id: meta.versioned.then(|| meta.version_id()),
        last_modified: Some(rfc3339(meta.last_modified_ms)),
        metadata: (!metadata.is_empty()).then_some(metadata),
    }
}

/// A body held whole.
struct Whole(Option<Bytes>);

impl BodySource for Whole {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        Ok(self.0.take())
    }
}

impl ProxyControl {
    /// The orchestrated store's backend id.
    pub(super) fn orchestrator_id(&self) -> String {
        self.core()
            .shared
            .access
            .get()
            .map_or_else(|| DEFAULT_BACKEND_ID.to_owned(), |a| a.cfg.backend_id.clone())
    }

    /// The bucket of the orchestrated store `b` names; 404 for an unknown backend, 501 for a
    /// real backend's.
    pub(super) fn virtual_bucket<'a>(&self, b: &'a Bkt) -> DataResult<&'a str> {
        if b.bid == self.orchestrator_id() {
            return Ok(&b.bucket);
        }
        let snap = self.core().snapshot();
        if snap.backend(&b.bid).is_some() || snap.endpoint(&b.bid).is_some() {
            return Err(DataError::NotSupported(
                "this operation is served on the orchestrator's buckets only, not on a real backend's".into(),
            ));
        }
        Err(DataError::NotFound("backend not found".into()))
    }

    pub(super) async fn list_backends(&self) -> Vec<dto::Backend> {
        let core = self.core();
        let healthy = core.shared.store.health().problem.is_none();
        let mut out = vec![dto::Backend {
            id: self.orchestrator_id(),
            name: "s3-orchestrator".into(),
            capabilities: Capabilities {
                // Encryption at rest, when the proxy has keys to seal with.
                server_side_encrypt: core.shared.keys.is_some(),
                ..ORCHESTRATOR
            },
            healthy,
            last_probe_at: Some(rfc3339(crate::clock::unix_ms())),
            last_error: None,
        }];
        let now = crate::clock::unix_ms();
        let snap = core.snapshot();
        for b in &snap.backends {
            out.push(dto::Backend {
                id: b.name.clone(),
                name: b.name.clone(),
                capabilities: REAL,
                healthy: core.shared.breakers.get(&b.name).allows(now),
                last_probe_at: None,
                last_error: None,
            });
        }
        // UI-managed backends, with their last probe (none yet: not known healthy).
        for e in &snap.access.endpoints {
            let last = self.endpoint_status(&e.cfg.name);
            out.push(dto::Backend {
                id: e.cfg.name.clone(),
                name: e.display.clone(),
                capabilities: REAL,
                healthy: last.as_ref().is_some_and(|p| p.healthy),
                last_probe_at: last.as_ref().map(|p| rfc3339(p.at_ms)),
                last_error: last.and_then(|p| p.error),
            });
        }
        out
    }

    /// The latest probe of UI-managed backend `id`: a scheduled one (the `health_probe`
    /// worker's, in its history) or a forced one (`/health`, kept apart), whichever is newer.
    pub(super) fn endpoint_status(&self, id: &str) -> Option<crate::orchestrator::health::ProbeRecord> {
        let scheduled = self.core().shared.breakers.probes(id).pop();
        let forced = self.endpoint_probes.borrow().get(id).cloned();
        match (scheduled, forced) {
            (Some(s), Some(f)) if f.at_ms > s.at_ms => Some(f),
            (Some(s), _) => Some(s),
            (None, f) => f,
        }
    }

    pub(super) async fn probe_now(&self, bid: &str) -> DataResult<dto::Probe> {
        let core = self.core();
        let at = rfc3339(crate::clock::unix_ms());
        let outcome = if bid == self.orchestrator_id() {
            core.shared.store.check_writable().await.map_err(|e| e.to_string())
        } else if core.snapshot().backend(bid).is_some() {
            match core.backend(bid) {
                Ok(client) => client.probe().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        } else if let Some(cfg) = core.snapshot().endpoint(bid).cloned() {
            let (error, latency_ms) = self.probe_endpoint(&cfg).await;
            let record = crate::orchestrator::health::ProbeRecord {
                at_ms: crate::clock::unix_ms(),
                healthy: error.is_none(),
                latency_ms,
                error: error.clone(),
            };
            self.endpoint_probes.borrow_mut().insert(bid.to_owned(), record);
            error.map_or(Ok(()), Err)
        } else {
            return Err(DataError::NotFound("backend not found".into()));
        };
        Ok(dto::Probe {
            healthy: outcome.is_ok(),
            last_probe_at: at,
            last_error: outcome.err().unwrap_or_default(),
        })
    }

    pub(super) async fn bucket_list(&self, bid: &str) -> DataResult<Vec<dto::Bucket>> {
        if bid != self.orchestrator_id() {
            return self.direct_buckets(bid).await;
        }
        let now = rfc3339(crate::clock::unix_ms());
        let buckets = self.core().shared.store.list_buckets().await.map_err(from_store)?;
        Ok(buckets
            .into_iter()
            .map(|b| {
                let tracked = b.settings.size_tracking.as_ref().is_none_or(|t| t.enabled);
                dto::Bucket {
                    name: b.name,
                    created_at: Some(rfc3339(b.created_ms)),
                    size_tracked: tracked,
                    size_bytes: tracked.then_some(b.logical_bytes),
                    object_count: tracked.then_some(b.object_count),
                    computed_at: tracked.then(|| now.clone()),
                }
            })
            .collect())
    }

    pub(super) async fn create(&self, bid: &str, name: &str, who: &str) -> DataResult<()> {
        let b = Bkt {
            bid: bid.to_owned(),
            bucket: name.to_owned(),
        };
        if !crate::endpoint::valid_bucket_name(name) {
            return Err(DataError::BadRequest(
                "invalid_bucket_name",
                "bucket name is invalid".into(),
            ));
        }
        let bucket = match self.target(&b)? {
            Target::Virtual(bucket) => bucket,
            Target::Direct(_) => return self.direct_create(bid, name).await,
        };
        let core = self.core();
        core.shared.store.create_bucket(bucket, who).await.map_err(from_store)?;
        crate::s3::permit::bucket_changed(core);
        crate::records::write_bucket_named(core, bucket).await;
        Ok(())
    }

    pub(super) async fn remove_bucket(&self, b: &Bkt) -> DataResult<()> {
        let bucket = match self.target(b)? {
            Target::Virtual(bucket) => bucket,
            Target::Direct(_) => return self.direct_delete_bucket(b).await,
        };
        let core = self.core();
        core.shared.store.delete_bucket(bucket).await.map_err(from_store)?;
        crate::s3::permit::bucket_changed(core);
        crate::records::delete_bucket(core, bucket).await;
        Ok(())
    }

    pub(super) async fn bucket_settings(&self, b: &Bkt) -> DataResult<BucketSettings> {
        let bucket = self.virtual_bucket(b)?;
        let meta = self.core().shared.store.bucket(bucket).await.map_err(from_store)?;
        meta.map(|m| m.settings)
            .ok_or_else(|| DataError::NotFound("resource not found".into()))
    }

    pub(super) async fn change_settings(&self, b: &Bkt, change: BucketChange) -> DataResult<()> {
        let bucket = self.virtual_bucket(b)?;
        crate::s3::acl::set_bucket_on(self.core(), bucket, change)
            .await
            .map_err(|e| match e {
                StoreError::InvalidBucketState { why, .. } => DataError::Conflict("invalid_bucket_state", why.into()),
                e => from_store(e),
            })?;
        Ok(())
    }

    pub(super) async fn list_page(&self, b: &Bkt, args: &ListArgs) -> DataResult<dto::ObjectPage> {
        let bucket = match self.target(b)? {
            Target::Virtual(bucket) => bucket,
            Target::Direct(client) => return data_direct::list(&client, args).await,
        };
        let start_after = match &args.token {
            Some(t) => Some(
                crate::s3::list::decode_token(t)
                    .map_err(|_| DataError::BadRequest("bad_request", "invalid continuation token".into()))?,
            ),
            None => None,
        };
        let query = ListQuery {
            prefix: args.prefix.clone(),
            delimiter: Some(args.delimiter.clone()).filter(|d| !d.is_empty()),
            start_after,
            max_keys: args.max_keys.unwrap_or(1000).min(1000),
        };
        let page = self
            .core()
            .shared
            .store
            .list_objects(bucket, &query)
            .await
            .map_err(from_store)?;
        Ok(dto::ObjectPage {
            prefix: args.prefix.clone(),
            delimiter: args.delimiter.clone(),
            common_prefixes: page.common_prefixes,
            is_truncated: page.is_truncated,
            next_continuation_token: page
                .next_marker
                .filter(|_| page.is_truncated)
                .map(|m| crate::s3::list::encode_token(&m))
                .unwrap_or_default(),
            objects: page
                .objects
                .iter()
                .map(|(key, meta)| dto::Object {
                    key: key.clone(),
                    size: meta.size,
                    etag: Some(meta.etag.clone()),
                    storage_class: Some("STANDARD".into()),
                    last_modified: Some(rfc3339(meta.last_modified_ms)),
                    ..dto::Object::default()
                })
                .collect(),
        })
    }

    /// The version of `key` named by `version` (the latest without), not a delete marker.
    pub(super) async fn version_of(&self, bucket: &str, key: &str, version: Option<&str>) -> DataResult<ObjectMeta> {
        let store = &self.core().shared.store;
        let found = match version {
            None => store.get_object(bucket, key).await,
            Some(v) => {
                let v = VersionRef::parse(v)
                    .ok_or_else(|| DataError::BadRequest("bad_request", "invalid version_id".into()))?;
                store.get_version(bucket, key, v).await
            }
        };
        found
            .map_err(from_store)?
            .filter(|m| !m.delete_marker)
            .ok_or_else(|| DataError::NotFound("resource not found".into()))
    }

    pub(super) async fn remove(&self, b: &Bkt, key: &str, version: Option<&str>) -> DataResult<()> {
        let bucket = match self.target_key(b, key)? {
            Target::Virtual(bucket) => bucket,
            Target::Direct(client) => {
                data_direct::no_versions(version)?;
                return client.delete(key).await.map_err(data_direct::from_backend);
            }
        };
        let core = self.core();
        let store = &core.shared.store;
        core.shared.cache.forget(bucket, key);
        match version {
            None => {
                if let Some(marker) = store.delete_object(bucket, key).await.map_err(from_store)?.marker {
                    crate::records::write_version(core, bucket, key, &marker).await;
                }
            }
            Some(v) => {
                let v = VersionRef::parse(v)
                    .ok_or_else(|| DataError::BadRequest("bad_request", "invalid version_id".into()))?;
                if let Some(gone) = store.delete_version(bucket, key, v, false).await.map_err(from_store)? {
                    if gone.delete_marker {
                        crate::records::forget_marker(core, bucket, key, &gone).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes `body` as the new current version of `key`, placed and committed as a PutObject.
    pub(super) async fn put_bytes(&self, bucket: &str, key: &str, body: Bytes) -> DataResult<ObjectMeta> {
        let len = body.len() as u64;
        self.store_from(bucket, key, len, ObjectMeta::default(), Whole(Some(body)))
            .await
    }

    /// Writes the `len` bytes of `body` as the new current version of `key` with `meta`'s
    /// headers and metadata, placed and committed as a PutObject (ETag: their MD5).
    pub(super) async fn store_from<B: BodySource>(
        &self,
        bucket: &str,
        key: &str,
        len: u64,
        mut meta: ObjectMeta,
        body: B,
    ) -> DataResult<ObjectMeta> {
        let core = self.core();
        // The bucket first: nothing is placed for a bucket that is not there.
        let Some(bucket_meta) = core.shared.store.bucket(bucket).await.map_err(from_store)? else {
            return Err(DataError::NotFound("resource not found".into()));
        };
        let snap = core.snapshot();
        let seal = crate::seal::write::seal_for(core, &snap, bucket).map_err(from_proxy)?;
        let stored_len = seal.as_ref().map_or(len, |w| w.stored_len(len));
        let (target, factor) = crate::s3::placement::choose_one(core, &snap, bucket, stored_len)
            .await
            .map_err(from_proxy)?;
        let (backend, reservation) = (target.backend, target.reservation);
        let store = &core.shared.store;
        let version = store.next_version().await.map_err(from_store)?;
        let physical = s3o_store::physical_key_for(bucket, key, version);
        let pmeta = PhysicalMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version,
            content_type: meta.content_type.clone(),
            integrity: Vec::new(),
            sealed: seal.is_some(),
        };
        let mut tee = Md5Tee::new(body);
        let id = crate::seal::Identity { bucket, key, version };
        let hash = core.shared.cfg.integrity.hash;
        let mut out = crate::seal::source::StoredSource::new(&mut tee, seal.as_ref(), id, len, hash);
        let put = backend.put(&physical, stored_len, &pmeta, &mut out).await;
        let facts = crate::seal::write::body_facts(seal.as_ref(), stored_len, out.hash_hex());
        drop(target.permit);
        if let Err(e) = put {
            drop(reservation);
            queue_orphan(core, backend.name(), &physical).await;
            return Err(from_proxy(e));
        }
        // Written as the operator: the bucket's owner owns it (the audit log names the user).
        meta.retention = crate::s3::lock::default_retention(&bucket_meta);
        meta.size = len;
        meta.etag = tee.etag();
        meta.copies_wanted = u32::try_from(factor).unwrap_or(u32::MAX);
        facts.apply(&mut meta);
        let backends = [backend.name().to_string()];
        let placed = Placed {
            backends: &backends,
            physical: &physical,
            version,
        };
        commit_version(
            core,
            bucket,
            key,
            &mut meta,
            &WriteCondition::None,
            vec![reservation],
            &placed,
        )
        .await
        .map_err(from_proxy)?;
        Ok(meta)
    }

    pub(super) async fn change_version(
        &self,
        b: &Bkt,
        key: &str,
        version: Option<&str>,
        change: VersionChange,
    ) -> DataResult<ObjectMeta> {
        let bucket = self.virtual_bucket(b)?;
        let which = match version {
            None => VersionRef::Latest,
            Some(v) => {
                VersionRef::parse(v).ok_or_else(|| DataError::BadRequest("bad_request", "invalid version_id".into()))?
            }
        };
        let core = self.core();
        let meta = core
            .shared
            .store
            .update_version(bucket, key, which, change)
            .await
            .map_err(from_store)?;
        crate::records::write_version(core, bucket, key, &meta).await;
        Ok(meta)
    }

    /// The upload `upload_id` of `b`/`key` (404 when it is another key's or unknown).
    pub(super) async fn upload_of(&self, b: &Bkt, key: &str, upload_id: &str) -> DataResult<s3o_store::Upload> {
        let bucket = self.virtual_bucket(b)?;
        match self.core().shared.store.upload(upload_id).await.map_err(from_store)? {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(DataError::NotFound("upload not found".into())),
        }
    }

    /// Copies version `version` (the latest without) of `src`/`src_key` to `dst`/`dst_key`,
    /// with `metadata` in place of the source's user metadata when given: within the
    /// orchestrated store as a CopyObject, else streamed from the source to the destination.
    pub(super) async fn copy_one(
        &self,
        (src, src_key, version): (&Bkt, &str, Option<&str>),
        (dst, dst_key): (&Bkt, &str),
        metadata: Option<Vec<(String, String)>>,
    ) -> DataResult<dto::Object> {
        let source = self.source_of(src, src_key, version).await?;
        let target = self.target_key(dst, dst_key).map_err(|e| match e {
            DataError::NotFound(m) if m == "backend not found" => {
                DataError::NotFound("destination backend not found".into())
            }
            e => e,
        })?;
        let len = source.describe().0;
        let mut described = source.described();
        if let Some(m) = metadata {
            described.metadata = m;
        }
        let db = match target {
            Target::Virtual(db) => db,
            Target::Direct(client) => {
                if len > crate::s3::object::MAX_PUT_SIZE {
                    return Err(DataError::NotSupported(
                        "objects over 5 GiB cannot be copied to a real bucket".into(),
                    ));
                }
                let body = self.open_source(&source).await?;
                let etag = data_direct::put(&client, dst_key, len, &described, body).await?;
                return Ok(data_direct::written(
                    dst_key,
                    len,
                    etag,
                    described.content_type.as_deref(),
                ));
            }
        };
        let core = self.core();
        let Some(dst_meta) = core.shared.store.bucket(db).await.map_err(from_store)? else {
            return Err(DataError::NotFound("resource not found".into()));
        };
        let (source, src_bucket, src_key) = match source {
            Source::Virtual(source, b, k) => (*source, b, k),
            direct @ Source::Direct(..) => {
                // From a real bucket: streamed into the store as an upload of its bytes.
                let meta = ObjectMeta {
                    content_encoding: described.standard("content-encoding"),
                    content_disposition: described.standard("content-disposition"),
                    cache_control: described.standard("cache-control"),
                    expires: described.standard("expires"),
                    content_type: described.content_type,
                    user_meta: described.metadata,
                    ..ObjectMeta::default()
                };
                let body = self.open_source(&direct).await?;
                let meta = self.store_from(db, dst_key, len, meta, body).await?;
                return Ok(object_of(dst_key, &meta));
            }
        };
        let mut meta = ObjectMeta {
            content_type: source.content_type.clone(),
            content_encoding: source.content_encoding.clone(),
            content_disposition: source.content_disposition.clone(),
            cache_control: source.cache_control.clone(),
            expires: source.expires.clone(),
            user_meta: described.metadata,
            tags: source.tags.clone(),
            retention: crate::s3::lock::default_retention(&dst_meta),
            ..ObjectMeta::default()
        };
        let snap = core.snapshot();
        crate::s3::copy::copy_bytes(
            core,
            &snap,
            (&src_bucket, &src_key, &source),
            (db, dst_key),
            &mut meta,
            &WriteCondition::None,
        )
        .await
        .map_err(from_proxy)?;
        Ok(object_of(dst_key, &meta))
    }

    pub(super) async fn all_versions(&self, b: &Bkt, key: &str) -> DataResult<Vec<dto::Version>> {
        let bucket = self.virtual_bucket(b)?;
        let store = &self.core().shared.store;
        let mut query = VersionQuery {
            prefix: key.to_owned(),
            ..VersionQuery::default()
        };
        let mut out = Vec::new();
        loop {
            if out.len() >= MAX_VERSIONS {
                return Ok(out);
            }
            let page = store.list_versions(bucket, &query).await.map_err(from_store)?;
            for v in page.versions.iter().filter(|v| v.key == key) {
                out.push(dto::Version {
                    key: v.key.clone(),
                    version_id: v.meta.version_id(),
                    is_latest: v.is_latest,
                    is_delete_marker: v.meta.delete_marker,
                    size: v.meta.size,
                    etag: (!v.meta.delete_marker).then(|| v.meta.etag.clone()),
                    storage_class: (!v.meta.delete_marker).then(|| "STANDARD".to_owned()),
                    last_modified: Some(rfc3339(v.meta.last_modified_ms)),
                });
            }
            // Past the key's own versions, nothing more is its.
            let past = page.versions.last().is_some_and(|v| v.key != key);
            if !page.is_truncated || past {
                return Ok(out);
            }
            query.key_marker = page.next_key_marker;
            query.version_marker = page.next_version_marker.as_deref().and_then(VersionRef::parse);
        }
    }
}
