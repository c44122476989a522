//! The data API on a real backend's own buckets: requests that go straight to that S3 endpoint
//! (ListBuckets, Create/DeleteBucket, listings, HEAD, tags, metadata, folders, deletes, copies,
//! multipart uploads; downloads, uploads, zips and walks read and write through [`Source`] and
//! [`Target`]), never through the orchestrator's metadata. The real bucket that holds the orchestrator's physical
//! objects is refused (writing or deleting there behind the index would corrupt it), and an `fs`
//! backend has no buckets of its own. Copies stream between any two places, the orchestrated
//! store included, with bounded memory.

use std::sync::Arc;

use s3o_admin::data::dto::{self, rfc3339};
use s3o_admin::data::{Bkt, DataError, DataResult, ListArgs};
use s3o_store::ObjectMeta;

use super::control::ProxyControl;
use super::data::from_proxy;
use crate::backend::s3::{DirectHead, S3Backend, MAX_DIRECT_PAGE};
use crate::backend::stream::GetStream;
use crate::backend::{BodySource, ByteRange, StreamSource};
use crate::config::{BackendConfig, BackendKind};
use crate::error::{BackendError, ProxyError};

/// Where a data API request on `{bid}/{bucket}` goes.
pub(super) enum Target<'a> {
    /// A bucket of the orchestrated store.
    Virtual(&'a str),
    /// A real backend's own bucket, through this client.
    Direct(Box<S3Backend>),
}

/// A backend's failure in the seed's words: a missing bucket or key is a 404, the rest 502.
pub(super) fn from_backend(e: BackendError) -> DataError {
    match e {
        BackendError::NotFound { .. } | BackendError::Status { status: 404, .. } => {
            DataError::NotFound("resource not found".into())
        }
        e => DataError::Backend(e.to_string()),
    }
}

fn from_direct(e: ProxyError) -> DataError {
    match e {
        ProxyError::Backend(b) => from_backend(b),
        e => from_proxy(e),
    }
}

/// The object a HEAD describes, as the seed shows it.
pub(super) fn direct_object(key: &str, h: &DirectHead) -> dto::Object {
    dto::Object {
        key: key.to_owned(),
        size: h.size,
        etag: h.etag.clone(),
        content_type: h.content_type.clone(),
        storage_class: None,
        version_id: None,
        last_modified: h.last_modified_ms.map(rfc3339),
        metadata: (!h.metadata.is_empty()).then(|| h.metadata.iter().cloned().collect()),
    }
}

/// The headers of a direct PUT: content type and user metadata.
fn put_headers(content_type: Option<&str>, metadata: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = metadata
        .iter()
        .map(|(k, v)| (format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone()))
        .collect();
    if let Some(ct) = content_type {
        out.push(("content-type".into(), ct.to_owned()));
    }
    out
}

impl ProxyControl {
    /// The settings of real backend `bid` (configured or UI-managed): 404 for an unknown one,
    /// 501 for an `fs` one.
    pub(super) fn endpoint_of(&self, bid: &str) -> DataResult<Arc<BackendConfig>> {
        let snap = self.core().snapshot();
        let Some(cfg) = snap.backend(bid).or_else(|| snap.endpoint(bid)).cloned() else {
            return Err(DataError::NotFound("backend not found".into()));
        };
        match &cfg.kind {
            BackendKind::S3 { .. } => Ok(cfg),
            BackendKind::Fs { .. } => Err(DataError::NotSupported(
                "a filesystem backend has no buckets of its own".into(),
            )),
        }
    }

    /// A client of `bucket` on endpoint `cfg` (`None`: the service itself, for ListBuckets).
    fn client_of(&self, cfg: &BackendConfig, bucket: Option<&str>) -> DataResult<S3Backend> {
        S3Backend::for_bucket(cfg, bucket, &self.core().shared.cfg.limits)
            .map_err(|e| DataError::Internal(e.to_string()))
    }

    /// Where `b` goes: the orchestrated store's bucket, or a client of a real backend's own
    /// bucket (403 for the bucket holding the orchestrator's objects).
    pub(super) fn target<'a>(&self, b: &'a Bkt) -> DataResult<Target<'a>> {
        if b.bid == self.orchestrator_id() {
            return Ok(Target::Virtual(&b.bucket));
        }
        let cfg = self.endpoint_of(&b.bid)?;
        // A name S3 would refuse never reaches the backend.
        if !crate::endpoint::valid_bucket_name(&b.bucket) {
            return Err(DataError::BadRequest(
                "invalid_bucket_name",
                "bucket name is invalid".into(),
            ));
        }
        if self.holds_ours(&cfg, &b.bucket) {
            return Err(DataError::Forbidden(
                "this bucket holds the orchestrator's objects; use the orchestrator's buckets".into(),
            ));
        }
        Ok(Target::Direct(Box::new(self.client_of(&cfg, Some(&b.bucket))?)))
    }

    /// Whether `bucket` on `cfg`'s service is where a configured backend keeps our objects
    /// (the same endpoint and bucket, whichever backend or endpoint names it).
    fn holds_ours(&self, cfg: &BackendConfig, bucket: &str) -> bool {
        let BackendKind::S3 { endpoint, .. } = &cfg.kind else {
            return false;
        };
        let service = |e: &str| e.trim_end_matches('/').to_ascii_lowercase();
        self.core().snapshot().backends.iter().any(|b| match &b.kind {
            BackendKind::S3 {
                endpoint: e,
                bucket: ours,
                ..
            } => ours == bucket && service(e) == service(endpoint),
            BackendKind::Fs { .. } => false,
        })
    }

    /// The buckets of real backend `bid`, as it lists them (sizes unknown).
    pub(super) async fn direct_buckets(&self, bid: &str) -> DataResult<Vec<dto::Bucket>> {
        let cfg = self.endpoint_of(bid)?;
        let listed = self.client_of(&cfg, None)?.list_buckets().await.map_err(from_backend)?;
        Ok(listed
            .into_iter()
            .map(|(name, created)| dto::Bucket {
                name,
                created_at: created.map(rfc3339),
                size_tracked: false,
                size_bytes: None,
                object_count: None,
                computed_at: None,
            })
            .collect())
    }

    /// Creates bucket `name` on real backend `bid` in its configured region.
    pub(super) async fn direct_create(&self, bid: &str, name: &str) -> DataResult<()> {
        let cfg = self.endpoint_of(bid)?;
        let BackendKind::S3 { region, .. } = &cfg.kind else {
            return Err(DataError::NotSupported("not an S3 backend".into()));
        };
        self.client_of(&cfg, Some(name))?
            .create_bucket(region)
            .await
            .map_err(from_backend)
    }

    /// Deletes the real bucket `b`.
    pub(super) async fn direct_delete_bucket(&self, b: &Bkt) -> DataResult<()> {
        match self.target(b)? {
            Target::Direct(c) => c.delete_bucket().await.map_err(from_backend),
            Target::Virtual(_) => Err(DataError::Internal("not a real bucket".into())),
        }
    }
}

/// One page of a real bucket, in the seed's shape.
pub(super) async fn list(client: &S3Backend, args: &ListArgs) -> DataResult<dto::ObjectPage> {
    let max = args.max_keys.unwrap_or(MAX_DIRECT_PAGE).min(MAX_DIRECT_PAGE);
    let page = client
        .list_objects(&args.prefix, &args.delimiter, args.token.as_deref(), max)
        .await
        .map_err(from_backend)?;
    Ok(dto::ObjectPage {
        prefix: args.prefix.clone(),
        delimiter: args.delimiter.clone(),
        common_prefixes: page.common_prefixes,
        is_truncated: page.next.is_some(),
        next_continuation_token: page.next.unwrap_or_default(),
        objects: page
            .objects
            .into_iter()
            .map(|o| dto::Object {
                key: o.key,
                size: o.size,
                etag: o.etag,
                storage_class: o.storage_class,
                last_modified: o.last_modified_ms.map(rfc3339),
                ..dto::Object::default()
            })
            .collect(),
    })
}

/// HEAD of `key` in a real bucket (404 when absent).
pub(super) async fn head(client: &S3Backend, key: &str) -> DataResult<DirectHead> {
    client
        .head_object(key)
        .await
        .map_err(from_backend)?
        .ok_or_else(|| DataError::NotFound("resource not found".into()))
}

/// A version id on a real bucket: not served (its versions are the backend's own).
pub(super) fn no_versions(version: Option<&str>) -> DataResult<()> {
    match version {
        Some(_) => Err(DataError::NotSupported(
            "versions of a real backend's objects are not supported".into(),
        )),
        None => Ok(()),
    }
}

/// Streams `len` bytes of `body` to `key` of a real bucket with this type and metadata.
pub(super) async fn put<B: BodySource>(
    client: &S3Backend,
    key: &str,
    len: u64,
    (content_type, metadata): (Option<&str>, &[(String, String)]),
    mut body: B,
) -> DataResult<Option<String>> {
    let headers = put_headers(content_type, metadata);
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    client.put_object(key, len, &refs, &mut body).await.map_err(from_direct)
}

/// An empty body (a folder marker).
pub(super) struct Empty;

impl BodySource for Empty {
    async fn next_piece(&mut self) -> Result<Option<bytes::Bytes>, ProxyError> {
        Ok(None)
    }
}

/// An object read by a copy, a download or a share: a version of the orchestrated store or an
/// object of a real bucket.
pub(super) enum Source {
    Virtual(Box<ObjectMeta>),
    Direct(Box<S3Backend>, String, DirectHead),
}

impl Source {
    /// Its size, type and user metadata.
    pub(super) fn describe(&self) -> (u64, Option<&str>, &[(String, String)]) {
        match self {
            Source::Virtual(m) => (m.size, m.content_type.as_deref(), &m.user_meta),
            Source::Direct(_, _, h) => (h.size, h.content_type.as_deref(), &h.metadata),
        }
    }

    /// When it was written, when known.
    pub(super) fn last_modified_ms(&self) -> Option<u64> {
        match self {
            Source::Virtual(m) => Some(m.last_modified_ms),
            Source::Direct(_, _, h) => h.last_modified_ms,
        }
    }

    /// Its ETag, when known.
    pub(super) fn etag(&self) -> Option<&str> {
        match self {
            Source::Virtual(m) => Some(&m.etag),
            Source::Direct(_, _, h) => h.etag.as_deref(),
        }
    }
}

impl ProxyControl {
    /// Opens all of `src`'s bytes.
    pub(super) async fn open_source(&self, src: &Source) -> DataResult<StreamSource> {
        self.open_range(src, None).await.map(StreamSource).map_err(from_direct)
    }

    /// Opens `range` of `src`'s bytes (all without).
    pub(super) async fn open_range(&self, src: &Source, range: Option<ByteRange>) -> Result<GetStream, ProxyError> {
        match src {
            Source::Virtual(meta) => {
                let core = self.core();
                crate::s3::read::open_copy(core, &core.snapshot(), meta, range).await
            }
            Source::Direct(client, key, h) => client.get(key, range, h.size).await,
        }
    }

    /// The object `key` (version `version`) of `b`, ready to be read: 404 when absent.
    pub(super) async fn source_of(&self, b: &Bkt, key: &str, version: Option<&str>) -> DataResult<Source> {
        match self.target(b)? {
            Target::Virtual(bucket) => Ok(Source::Virtual(Box::new(self.version_of(bucket, key, version).await?))),
            Target::Direct(client) => {
                no_versions(version)?;
                let h = head(&client, key).await?;
                Ok(Source::Direct(client, key.to_owned(), h))
            }
        }
    }
}

/// The object written to a real bucket by a copy or upload, as the seed shows it.
pub(super) fn written(key: &str, len: u64, etag: Option<String>, content_type: Option<&str>) -> dto::Object {
    dto::Object {
        key: key.to_owned(),
        size: len,
        etag,
        content_type: content_type.map(str::to_owned),
        ..dto::Object::default()
    }
}

impl ProxyControl {
    /// Probes endpoint `cfg` (ListBuckets within 5 s): the error if it failed, and how long it
    /// took, ms.
    pub(super) async fn probe_endpoint(&self, cfg: &BackendConfig) -> (Option<String>, u64) {
        crate::backend::s3::probe_service(cfg, &self.core().shared.cfg.limits).await
    }
}

/// The headers of `key`'s object with `metadata` in place of its user metadata (its type kept).
pub(super) async fn set_metadata(
    client: &S3Backend,
    key: &str,
    metadata: &[(String, String)],
) -> DataResult<dto::Object> {
    let current = head(client, key).await?;
    let headers = put_headers(current.content_type.as_deref(), metadata);
    let mut refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    refs.push(("x-amz-metadata-directive", "REPLACE"));
    client.copy_object_with(key, key, &refs).await.map_err(from_direct)?;
    Ok(direct_object(key, &head(client, key).await?))
}

/// The multipart uploads in progress in a real bucket under `prefix`.
pub(super) async fn uploads(client: &S3Backend, prefix: &str) -> DataResult<Vec<dto::UploadInfo>> {
    let listed = client.list_uploads(prefix).await.map_err(from_backend)?;
    Ok(listed
        .into_iter()
        .map(|(key, upload_id, initiated)| dto::UploadInfo {
            key,
            upload_id,
            initiated: initiated.map(rfc3339),
        })
        .collect())
}

/// Starts a multipart upload of `key` in a real bucket (412 when `if_absent` and it exists).
pub(super) async fn initiate(
    client: &S3Backend,
    key: &str,
    (content_type, metadata): (Option<&str>, &[(String, String)]),
    if_absent: bool,
) -> DataResult<String> {
    if if_absent && client.head_object(key).await.map_err(from_backend)?.is_some() {
        return Err(DataError::Precondition(
            "object_exists",
            "an object already exists at this key".into(),
        ));
    }
    let headers = put_headers(content_type, metadata);
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    client.create_upload_with(key, &refs).await.map_err(from_direct)
}

/// Completes a multipart upload of a real bucket from the parts' numbers and ETags.
pub(super) async fn complete(
    client: &S3Backend,
    key: &str,
    upload_id: &str,
    parts: &[(u32, String)],
) -> DataResult<dto::Object> {
    let refs: Vec<(u32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
    client
        .complete_upload(key, upload_id, &refs)
        .await
        .map_err(|e| match e {
            ProxyError::Backend(BackendError::Status {
                status: 400, detail, ..
            }) => DataError::BadRequest("bad_request", detail),
            e => from_direct(e),
        })?;
    Ok(direct_object(key, &head(client, key).await?))
}
