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
use crate::backend::{BodySource, ByteRange, StreamSource};
use crate::config::{BackendConfig, BackendKind};
use crate::error::{BackendError, ProxyError};
use crate::seal::reader::ObjectReader;

/// Where a data API request on `{bid}/{bucket}` goes.
pub(super) enum Target<'a> {
    /// A bucket of the orchestrated store.
    Virtual(&'a str),
    /// A real backend's own bucket, through this client.
    Direct(Box<S3Backend>),
}

/// `host:port` of an endpoint URL, lowercased, the scheme's default port made explicit.
fn host_port(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let authority = rest.trim_end_matches('/').to_ascii_lowercase();
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && !authority.ends_with(']');
    Some(if has_port {
        authority
    } else if scheme.eq_ignore_ascii_case("https") {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    })
}

/// Whether `key` may be used on real bucket `bucket` (see [`ProxyControl::target_key`]).
pub(super) fn direct_key_ok(bucket: &str, key: &str) -> DataResult<()> {
    if key.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(DataError::BadRequest("invalid_key", "object key is invalid".into()));
    }
    if crate::records::is_ours(key) || crate::records::is_ours(&format!("{bucket}/{key}")) {
        return Err(DataError::Forbidden(
            "keys shaped like the orchestrator's own are refused on real buckets".into(),
        ));
    }
    Ok(())
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

/// What an object's headers say beside its bytes: its type, its other content headers
/// (encoding, disposition, language, cache control, expiry) and its user metadata.
#[derive(Debug, Clone, Default)]
pub(super) struct Described {
    pub content_type: Option<String>,
    /// Lowercased names.
    pub standard: Vec<(String, String)>,
    pub metadata: Vec<(String, String)>,
}

impl Described {
    /// The headers of a PUT (or a copy, or a multipart upload) that gives an object these.
    fn headers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .metadata
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone()))
            .collect();
        out.extend(self.standard.iter().cloned());
        if let Some(ct) = &self.content_type {
            out.push(("content-type".into(), ct.clone()));
        }
        out
    }

    /// The standard header `name`, if set.
    pub fn standard(&self, name: &str) -> Option<String> {
        self.standard.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
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

    /// Whether `bucket` on `cfg`'s service is where a configured backend keeps our objects:
    /// the same host and port (default ports made explicit) and bucket, or an endpoint whose
    /// host is our bucket's virtual-hosted name (every path there lands in our bucket). A
    /// service reached under another name is not recognised; keys shaped like ours are refused
    /// on every real bucket besides ([`direct_key_ok`]).
    fn holds_ours(&self, cfg: &BackendConfig, bucket: &str) -> bool {
        let BackendKind::S3 { endpoint, .. } = &cfg.kind else {
            return false;
        };
        let Some(theirs) = host_port(endpoint) else {
            return false;
        };
        self.core().snapshot().backends.iter().any(|b| match &b.kind {
            BackendKind::S3 {
                endpoint: e,
                bucket: ours,
                ..
            } => host_port(e).is_some_and(|mine| {
                (mine == theirs && ours == bucket) || theirs == format!("{}.{mine}", ours.to_ascii_lowercase())
            }),
            BackendKind::Fs { .. } => false,
        })
    }

    /// [`ProxyControl::target`] for an operation on `key`: on a real bucket, a key with `.` or
    /// `..` segments is refused (a service that normalises paths would take it elsewhere), and
    /// so is one shaped like the orchestrator's own keys, as it is or under the bucket's name
    /// (what a service addressed through another host name for our bucket would see).
    pub(super) fn target_key<'a>(&self, b: &'a Bkt, key: &str) -> DataResult<Target<'a>> {
        let target = self.target(b)?;
        if let Target::Direct(_) = target {
            direct_key_ok(&b.bucket, key)?;
        }
        Ok(target)
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
    // A backend answering the same continuation token again would keep a walk going forever.
    if page.next.is_some() && page.next == args.token {
        return Err(DataError::Backend("the backend repeated its continuation token".into()));
    }
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

/// Streams `len` bytes of `body` to `key` of a real bucket with these headers.
pub(super) async fn put<B: BodySource>(
    client: &S3Backend,
    key: &str,
    len: u64,
    described: &Described,
    mut body: B,
) -> DataResult<Option<String>> {
    let headers = described.headers();
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
    /// A version of the orchestrated store, with its bucket and key.
    Virtual(Box<ObjectMeta>, String, String),
    Direct(Box<S3Backend>, String, DirectHead),
}

impl Source {
    /// Its size and type.
    pub(super) fn describe(&self) -> (u64, Option<&str>) {
        match self {
            Source::Virtual(m, ..) => (m.size, m.content_type.as_deref()),
            Source::Direct(_, _, h) => (h.size, h.content_type.as_deref()),
        }
    }

    /// Its headers beside its bytes.
    pub(super) fn described(&self) -> Described {
        match self {
            Source::Virtual(m, ..) => {
                let standard = [
                    ("content-encoding", &m.content_encoding),
                    ("content-disposition", &m.content_disposition),
                    ("cache-control", &m.cache_control),
                    ("expires", &m.expires),
                ];
                Described {
                    content_type: m.content_type.clone(),
                    standard: standard
                        .iter()
                        .filter_map(|(n, v)| v.as_ref().map(|v| ((*n).to_owned(), v.clone())))
                        .collect(),
                    metadata: m.user_meta.clone(),
                }
            }
            Source::Direct(_, _, h) => Described {
                content_type: h.content_type.clone(),
                standard: h.standard.clone(),
                metadata: h.metadata.clone(),
            },
        }
    }

    /// When it was written, when known.
    pub(super) fn last_modified_ms(&self) -> Option<u64> {
        match self {
            Source::Virtual(m, ..) => Some(m.last_modified_ms),
            Source::Direct(_, _, h) => h.last_modified_ms,
        }
    }

    /// Its ETag, when known.
    pub(super) fn etag(&self) -> Option<&str> {
        match self {
            Source::Virtual(m, ..) => Some(&m.etag),
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
    pub(super) async fn open_range(&self, src: &Source, range: Option<ByteRange>) -> Result<ObjectReader, ProxyError> {
        match src {
            Source::Virtual(meta, bucket, key) => {
                let core = self.core();
                crate::s3::read::open_copy(core, &core.snapshot(), (bucket, key), meta, range).await
            }
            Source::Direct(client, key, h) => client.get(key, range, h.size).await.map(ObjectReader::Plain),
        }
    }

    /// The object `key` (version `version`) of `b`, ready to be read: 404 when absent.
    pub(super) async fn source_of(&self, b: &Bkt, key: &str, version: Option<&str>) -> DataResult<Source> {
        match self.target_key(b, key)? {
            Target::Virtual(bucket) => Ok(Source::Virtual(
                Box::new(self.version_of(bucket, key, version).await?),
                bucket.to_string(),
                key.to_string(),
            )),
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
    if current.size > crate::s3::object::MAX_PUT_SIZE {
        return Err(DataError::NotSupported(
            "metadata of objects over 5 GiB cannot be changed in place".into(),
        ));
    }
    // All the object's headers stay, its user metadata replaced (the copy says REPLACE).
    let described = Described {
        content_type: current.content_type,
        standard: current.standard,
        metadata: metadata.to_vec(),
    };
    let headers = described.headers();
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
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
    described: &Described,
    if_absent: bool,
) -> DataResult<String> {
    if if_absent && client.head_object(key).await.map_err(from_backend)?.is_some() {
        return Err(DataError::Precondition(
            "object_exists",
            "an object already exists at this key".into(),
        ));
    }
    let headers = described.headers();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_compare_by_host_and_port() {
        assert_eq!(
            host_port("https://S3.example.com/").as_deref(),
            Some("s3.example.com:443")
        );
        assert_eq!(host_port("http://h").as_deref(), Some("h:80"));
        assert_eq!(host_port("http://h:9000").as_deref(), Some("h:9000"));
        assert_eq!(host_port("http://[::1]").as_deref(), Some("[::1]:80"));
        assert_eq!(host_port("http://[::1]:8333").as_deref(), Some("[::1]:8333"));
        assert_eq!(host_port("h:80"), None);
    }

    #[test]
    fn keys_of_ours_and_dot_segments_are_refused_on_real_buckets() {
        let ours = s3o_store::physical_key_for("photos", "a.jpg", 7);
        let (_, rest) = ours.split_once('/').unwrap();
        assert!(matches!(direct_key_ok("any", &ours), Err(DataError::Forbidden(_))));
        // Under the bucket's own name: what a virtual-hosted alias of our bucket would see.
        assert!(matches!(direct_key_ok("photos", rest), Err(DataError::Forbidden(_))));
        assert!(matches!(
            direct_key_ok("any", ".s3o/buckets/x.json"),
            Err(DataError::Forbidden(_))
        ));
        assert!(matches!(direct_key_ok("any", "a/../b"), Err(DataError::BadRequest(..))));
        assert!(matches!(direct_key_ok("any", "./b"), Err(DataError::BadRequest(..))));
        assert!(direct_key_ok("any", "docs/a..b/c.txt").is_ok());
    }
}
