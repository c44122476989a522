//! `s3o_admin::data::DataApi` for [`ProxyControl`]: each call delegates to the helpers of
//! [`super::data`] (buckets, settings, objects) or runs a multipart step through the same core
//! as the S3 port's (`crate::s3::multipart`).

use bytes::Bytes;
use s3o_admin::data::dto::{self, rfc3339};
use s3o_admin::data::{Bkt, DataApi, DataError, DataResult, ListArgs};
use s3o_admin::BoxFuture;
use s3o_store::{BucketChange, BucketSettings, ObjectMeta, VersionChange, WriteCondition};

use super::control::ProxyControl;
use super::data::{from_proxy, from_store, object_of};
use super::data_direct::{self, Target};
use crate::error::ProxyError;

impl DataApi for ProxyControl {
    fn backends(&self) -> BoxFuture<'_, Vec<dto::Backend>> {
        Box::pin(self.list_backends())
    }

    fn probe<'a>(&'a self, bid: &'a str) -> BoxFuture<'a, DataResult<dto::Probe>> {
        Box::pin(self.probe_now(bid))
    }

    fn buckets<'a>(&'a self, bid: &'a str) -> BoxFuture<'a, DataResult<Vec<dto::Bucket>>> {
        Box::pin(self.bucket_list(bid))
    }

    fn create_bucket<'a>(&'a self, bid: &'a str, name: &'a str, who: &'a str) -> BoxFuture<'a, DataResult<()>> {
        Box::pin(self.create(bid, name, who))
    }

    fn delete_bucket<'a>(&'a self, b: &'a Bkt) -> BoxFuture<'a, DataResult<()>> {
        Box::pin(self.remove_bucket(b))
    }

    fn settings<'a>(&'a self, b: &'a Bkt) -> BoxFuture<'a, DataResult<BucketSettings>> {
        Box::pin(self.bucket_settings(b))
    }

    fn change<'a>(&'a self, b: &'a Bkt, change: BucketChange) -> BoxFuture<'a, DataResult<()>> {
        Box::pin(self.change_settings(b, change))
    }

    fn list<'a>(&'a self, b: &'a Bkt, args: &'a ListArgs) -> BoxFuture<'a, DataResult<dto::ObjectPage>> {
        Box::pin(self.list_page(b, args))
    }

    fn info<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        version: Option<&'a str>,
    ) -> BoxFuture<'a, DataResult<dto::Object>> {
        Box::pin(async move {
            match self.target_key(b, key)? {
                Target::Virtual(bucket) => Ok(object_of(key, &self.version_of(bucket, key, version).await?)),
                Target::Direct(client) => {
                    data_direct::no_versions(version)?;
                    Ok(data_direct::direct_object(key, &data_direct::head(&client, key).await?))
                }
            }
        })
    }

    fn delete<'a>(&'a self, b: &'a Bkt, key: &'a str, version: Option<&'a str>) -> BoxFuture<'a, DataResult<()>> {
        Box::pin(self.remove(b, key, version))
    }

    fn put_empty<'a>(&'a self, b: &'a Bkt, key: &'a str, _who: &'a str) -> BoxFuture<'a, DataResult<dto::Object>> {
        Box::pin(async move {
            let bucket = match self.target_key(b, key)? {
                Target::Virtual(bucket) => bucket,
                Target::Direct(client) => {
                    let etag = data_direct::put(&client, key, 0, &Default::default(), data_direct::Empty).await?;
                    return Ok(data_direct::written(key, 0, etag, None));
                }
            };
            if self
                .core()
                .shared
                .store
                .bucket(bucket)
                .await
                .map_err(from_store)?
                .is_none()
            {
                return Err(DataError::NotFound("resource not found".into()));
            }
            let meta = self.put_bytes(bucket, key, Bytes::new()).await?;
            let mut o = object_of(key, &meta);
            o.last_modified = None;
            o.storage_class = None;
            Ok(o)
        })
    }

    fn tags_of<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        version: Option<&'a str>,
    ) -> BoxFuture<'a, DataResult<Vec<(String, String)>>> {
        Box::pin(async move {
            match self.target_key(b, key)? {
                Target::Virtual(bucket) => Ok(self.version_of(bucket, key, version).await?.tags),
                Target::Direct(client) => {
                    data_direct::no_versions(version)?;
                    let tags = client.object_tags(key).await.map_err(data_direct::from_backend)?;
                    tags.ok_or_else(|| DataError::NotFound("resource not found".into()))
                }
            }
        })
    }

    fn set_tags<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        version: Option<&'a str>,
        mut tags: Vec<(String, String)>,
    ) -> BoxFuture<'a, DataResult<()>> {
        tags.sort();
        Box::pin(async move {
            if let Target::Direct(client) = self.target_key(b, key)? {
                data_direct::no_versions(version)?;
                return match client.set_object_tags(key, &tags).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(DataError::NotFound("resource not found".into())),
                    Err(e) => Err(data_direct::from_backend(e)),
                };
            }
            self.change_version(b, key, version, VersionChange::Tags(tags))
                .await
                .map(drop)
        })
    }

    fn set_metadata<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        metadata: Vec<(String, String)>,
    ) -> BoxFuture<'a, DataResult<dto::Object>> {
        Box::pin(async move {
            let bucket = match self.target_key(b, key)? {
                Target::Virtual(bucket) => bucket,
                Target::Direct(client) => return data_direct::set_metadata(&client, key, &metadata).await,
            };
            let current = self.version_of(bucket, key, None).await?;
            // A locked version's metadata is part of what the lock keeps.
            if current.lock_forbids_removal(crate::clock::unix_ms(), false).is_some() {
                return Err(DataError::Conflict("object_locked", "the object is locked".into()));
            }
            let change = VersionChange::Expecting {
                version: current.version,
                change: Box::new(VersionChange::UserMeta(metadata)),
            };
            let meta = self.change_version(b, key, None, change).await?;
            Ok(object_of(key, &meta))
        })
    }

    fn versions<'a>(&'a self, b: &'a Bkt, key: &'a str) -> BoxFuture<'a, DataResult<Vec<dto::Version>>> {
        Box::pin(self.all_versions(b, key))
    }

    fn uploads<'a>(&'a self, b: &'a Bkt, prefix: &'a str) -> BoxFuture<'a, DataResult<Vec<dto::UploadInfo>>> {
        Box::pin(async move {
            let bucket = match self.target(b)? {
                Target::Virtual(bucket) => bucket,
                Target::Direct(client) => return data_direct::uploads(&client, prefix).await,
            };
            let store = &self.core().shared.store;
            let list = store
                .list_uploads(bucket, prefix, "", "", 1000)
                .await
                .map_err(from_store)?;
            Ok(list
                .into_iter()
                .map(|u| dto::UploadInfo {
                    key: u.key,
                    upload_id: u.upload_id,
                    initiated: Some(rfc3339(u.initiated_ms)),
                })
                .collect())
        })
    }

    fn initiate<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        content_type: Option<String>,
        metadata: Vec<(String, String)>,
        if_absent: bool,
    ) -> BoxFuture<'a, DataResult<String>> {
        Box::pin(async move {
            let bucket = match self.target_key(b, key)? {
                Target::Virtual(bucket) => bucket,
                Target::Direct(client) => {
                    let given = data_direct::Described {
                        content_type,
                        metadata,
                        ..Default::default()
                    };
                    return data_direct::initiate(&client, key, &given, if_absent).await;
                }
            };
            let core = self.core();
            let store = &core.shared.store;
            let Some(bucket_meta) = store.bucket(bucket).await.map_err(from_store)? else {
                return Err(DataError::NotFound("resource not found".into()));
            };
            if if_absent && store.get_object(bucket, key).await.map_err(from_store)?.is_some() {
                return Err(DataError::Precondition(
                    "object_exists",
                    "an object already exists at this key".into(),
                ));
            }
            let meta = ObjectMeta {
                content_type,
                user_meta: metadata,
                retention: crate::s3::lock::default_retention(&bucket_meta),
                ..ObjectMeta::default()
            };
            let snap = core.snapshot();
            // Started as the operator: the bucket's owner (and the operator) may go on with it.
            let upload = crate::s3::multipart::start_upload(core, &snap, (bucket, key), meta, "", (None, None))
                .await
                .map_err(from_proxy)?;
            Ok(upload.upload_id)
        })
    }

    fn abort<'a>(&'a self, b: &'a Bkt, key: &'a str, upload_id: &'a str) -> BoxFuture<'a, DataResult<()>> {
        Box::pin(async move {
            if let Target::Direct(client) = self.target_key(b, key)? {
                return client
                    .abort_upload(key, upload_id)
                    .await
                    .map_err(data_direct::from_backend);
            }
            let upload = self.upload_of(b, key, upload_id).await?;
            self.core()
                .shared
                .store
                .abort_upload(&upload.upload_id)
                .await
                .map_err(from_store)?;
            Ok(())
        })
    }

    fn complete<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        upload_id: &'a str,
        parts: Vec<(u32, String)>,
    ) -> BoxFuture<'a, DataResult<dto::Object>> {
        Box::pin(async move {
            if let Target::Direct(client) = self.target_key(b, key)? {
                return data_direct::complete(&client, key, upload_id, &parts).await;
            }
            let upload = self.upload_of(b, key, upload_id).await?;
            let requested: Vec<crate::xml::CompletedPart> = parts
                .into_iter()
                .map(|(part_number, etag)| crate::xml::CompletedPart {
                    part_number,
                    etag,
                    checksums: Vec::new(),
                })
                .collect();
            let none = |_: &str| None;
            let finished =
                crate::s3::multipart::finish_upload(self.core(), &upload, &requested, &WriteCondition::None, &none)
                    .await;
            let (meta, version_id) = finished.map_err(|e| match e {
                ProxyError::InvalidPart | ProxyError::InvalidPartOrder | ProxyError::EntityTooSmall => {
                    DataError::BadRequest("bad_request", e.to_string())
                }
                e => from_proxy(e),
            })?;
            let mut o = object_of(key, &meta);
            o.version_id = version_id;
            Ok(o)
        })
    }

    fn storage(&self) -> BoxFuture<'_, DataResult<(Vec<dto::BackendStorage>, Vec<dto::BucketStorage>)>> {
        Box::pin(async move {
            let core = self.core();
            let store = &core.shared.store;
            let id = self.orchestrator_id();
            let buckets = store.list_buckets().await.map_err(from_store)?;
            let mut by_backend = vec![dto::BackendStorage {
                backend_id: id.clone(),
                bytes: buckets.iter().map(|b| b.logical_bytes).sum(),
                objects: buckets.iter().map(|b| b.object_count).sum(),
                buckets: buckets.len() as u64,
            }];
            // Each real backend: the copies it holds for the store, in its one bucket.
            let stats = store.backend_stats().await.map_err(from_store)?;
            for b in &core.snapshot().backends {
                let s = stats.iter().find(|s| s.backend == b.name);
                by_backend.push(dto::BackendStorage {
                    backend_id: b.name.clone(),
                    bytes: s.map_or(0, |s| s.bytes),
                    objects: s.map_or(0, |s| s.objects),
                    buckets: 1,
                });
            }
            let mut top: Vec<dto::BucketStorage> = buckets
                .into_iter()
                .map(|b| dto::BucketStorage {
                    backend_id: id.clone(),
                    bucket: b.name,
                    bytes: b.logical_bytes,
                    objects: b.object_count,
                })
                .collect();
            top.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.bucket.cmp(&b.bucket)));
            top.truncate(10);
            Ok((by_backend, top))
        })
    }

    fn health(&self) -> BoxFuture<'_, Vec<dto::BackendHealth>> {
        Box::pin(async move {
            let core = self.core();
            let now = crate::clock::unix_ms();
            let problem = core.shared.store.health().problem;
            let mut out = vec![dto::BackendHealth {
                id: self.orchestrator_id(),
                name: "s3-orchestrator".into(),
                healthy: problem.is_none(),
                last_probe_at: Some(rfc3339(now)),
                last_error: problem,
                latency_ms: 0,
                history: Vec::new(),
            }];
            for b in &core.snapshot().backends {
                let history = history_of(core, &b.name);
                let last = history.last().cloned();
                out.push(dto::BackendHealth {
                    id: b.name.clone(),
                    name: b.name.clone(),
                    healthy: core.shared.breakers.get(&b.name).allows(now),
                    last_probe_at: last.as_ref().map(|p| p.at.clone()),
                    last_error: last.as_ref().and_then(|p| p.error.clone()),
                    latency_ms: last.map_or(0, |p| p.latency_ms),
                    history,
                });
            }
            // UI-managed backends: the worker's probes as history, the latest probe as status.
            for e in &core.snapshot().access.endpoints {
                let history = history_of(core, &e.cfg.name);
                let last = self.endpoint_status(&e.cfg.name);
                out.push(dto::BackendHealth {
                    id: e.cfg.name.clone(),
                    name: e.display.clone(),
                    healthy: last.as_ref().is_some_and(|p| p.healthy),
                    last_probe_at: last.as_ref().map(|p| rfc3339(p.at_ms)),
                    last_error: last.as_ref().and_then(|p| p.error.clone()),
                    latency_ms: last.map_or(0, |p| p.latency_ms),
                    history,
                });
            }
            out
        })
    }

    fn usage<'a>(&'a self, b: &'a Bkt) -> BoxFuture<'a, DataResult<(u64, u64)>> {
        Box::pin(async move {
            let bucket = self.virtual_bucket(b)?;
            let meta = self.core().shared.store.bucket(bucket).await.map_err(from_store)?;
            let meta = meta.ok_or_else(|| DataError::NotFound("resource not found".into()))?;
            Ok((meta.logical_bytes, meta.object_count))
        })
    }

    fn prefix_size<'a>(&'a self, b: &'a Bkt, prefix: &'a str) -> BoxFuture<'a, DataResult<(u64, u64)>> {
        Box::pin(async move {
            let bucket = self.virtual_bucket(b)?;
            // Concurrent requests for one prefix share one walk (bucket names hold no `/`).
            let key = format!("{bucket}/{prefix}");
            let abandoned = Err(DataError::Unavailable("the prefix walk was abandoned; retry".into()));
            self.prefix_walks
                .run(&key, abandoned, || async {
                    let store = &self.core().shared.store;
                    let (count, bytes) = store.prefix_summary(bucket, prefix).await.map_err(from_store)?;
                    Ok((bytes, count))
                })
                .await
        })
    }

    fn config_ids(&self) -> Vec<String> {
        let mut ids = vec![self.orchestrator_id()];
        ids.extend(self.core().snapshot().backends.iter().map(|b| b.name.clone()));
        ids
    }

    fn test_endpoint<'a>(
        &'a self,
        spec: &'a s3o_admin::data::endpoints::EndpointSpec,
    ) -> BoxFuture<'a, (Option<String>, u64)> {
        Box::pin(async move {
            let keys = (spec.access_key.as_str(), spec.secret_key.as_str());
            let cfg =
                crate::config::BackendConfig::endpoint("test", &spec.endpoint, &spec.region, spec.path_style, keys);
            self.probe_endpoint(&cfg).await
        })
    }

    fn copy<'a>(
        &'a self,
        src: (&'a Bkt, &'a str, Option<&'a str>),
        dst: (&'a Bkt, &'a str),
        metadata: Option<Vec<(String, String)>>,
    ) -> BoxFuture<'a, DataResult<dto::Object>> {
        Box::pin(self.copy_one(src, dst, metadata))
    }
}

/// The `health_probe` worker's last probes of backend `name`, oldest first.
fn history_of(core: &crate::state::Core, name: &str) -> Vec<dto::ProbeEntry> {
    core.shared
        .breakers
        .probes(name)
        .into_iter()
        .map(|p| dto::ProbeEntry {
            at: rfc3339(p.at_ms),
            healthy: p.healthy,
            latency_ms: p.latency_ms,
            error: p.error,
        })
        .collect()
}
