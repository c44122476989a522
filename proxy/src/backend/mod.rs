//! Backends: where object bytes really live. A [`Backend`] is per core (no locks): a local
//! directory ([`fs::FsBackend`]) or an S3-compatible service ([`s3::S3Backend`]) reached through a
//! per-core keep-alive connection pool. Objects are addressed by *physical key* only.

pub mod fs;
pub mod hashed;
pub mod pieces;
pub mod s3;
pub mod stream;
pub mod tee;
pub mod xattr;

use std::sync::Arc;

use bytes::Bytes;

use crate::config::{BackendConfig, BackendKind, Limits};
use crate::error::{BackendError, ProxyError};
use crate::metrics::BackendCounters;
use crate::orchestrator::health::{Breaker, Outcome};

/// Size of the buffers bodies are moved with. Measured with `benches/compare/profile.sh` on the
/// 2-core development VM (MB/s through the proxy, 256 KiB → 1 MiB → 2 MiB): 64 MiB GET
/// 1 987 → 2 760 → 2 964, 64 MiB PUT 1 851 → 2 194 → 2 339, 1 MiB PUT at c=8 1 379 → 1 551 →
/// 1 470. 1 MiB takes most of the gain; small objects get buffers of their own size.
pub const BODY_BUF: usize = 1024 * 1024;

/// A source of payload bytes for a PUT (the client's verified-as-it-goes body).
pub trait BodySource {
    /// The next piece of payload; `None` at the end. Errors abort the upload.
    fn next_piece(&mut self) -> impl std::future::Future<Output = Result<Option<Bytes>, ProxyError>>;

    /// The next piece if it is already at hand (no waiting); `None` when it is not, or at the
    /// end (which only [`BodySource::next_piece`] reports).
    fn next_buffered(&mut self) -> Result<Option<Bytes>, ProxyError> {
        Ok(None)
    }

    /// What the source checks the body against itself, known before its first byte, so a
    /// backend can be handed the same check instead of one we compute.
    fn integrity(&self) -> SourceIntegrity {
        SourceIntegrity::None
    }

    /// The verified value (base64) of a [`SourceIntegrity::Trailer`] checksum, once the source
    /// has ended.
    fn trailer_value(&self) -> Option<String> {
        None
    }
}

/// What a [`BodySource`] verifies its bytes against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceIntegrity {
    /// Nothing.
    None,
    /// This SHA-256 of the whole body (a signed `x-amz-content-sha256`).
    Sha256([u8; 32]),
    /// A checksum of this algorithm that arrives after the body (an aws-chunked trailer).
    Trailer(s3o_sigv4::ChecksumAlgorithm),
}

/// Facts about a logical object stored with its bytes, so the index can be rebuilt from the
/// backends (design rule 6).
#[derive(Debug, Clone)]
pub struct PhysicalMeta {
    /// Logical bucket.
    pub bucket: String,
    /// Logical key.
    pub key: String,
    /// Version number.
    pub version: u64,
    /// Content-Type to store on the backend.
    pub content_type: Option<String>,
    /// Digests the client gave up front (`content-md5`, `x-amz-checksum-<alg>`) as (header,
    /// value), forwarded so an S3 backend verifies what it stores, too.
    pub integrity: Vec<(String, String)>,
    /// Whether the bytes are sealed (encrypted at rest): labelled so an index rebuild never
    /// takes them for plaintext (their data key lives in the version's record only).
    pub sealed: bool,
}

/// What a data object's labels say of it (fs: extended attributes, s3: `x-amz-meta-s3o-*`):
/// enough to rebuild its version when no record of it is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// Logical bucket.
    pub bucket: String,
    /// Logical key.
    pub key: String,
    /// Version number.
    pub version: u64,
    /// Content type, when stored.
    pub content_type: Option<String>,
    /// Whether the bytes are sealed.
    pub sealed: bool,
}

/// Where a backend put a part.
#[derive(Debug, Clone, Default)]
pub struct StoredPart {
    /// The backend's ETag of the part, when it gives one.
    pub etag: Option<String>,
    /// The name of the part's own copy, for backends that keep parts apart.
    pub backend_ref: Option<String>,
}

/// A [`BodySource`] over a read: a copy streams the source object through it.
pub struct StreamSource(pub crate::seal::reader::ObjectReader);

impl BodySource for StreamSource {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        if self.0.remaining() == 0 {
            return Ok(None);
        }
        let buffered = self.0.take_buffered();
        if !buffered.is_empty() {
            return Ok(Some(Bytes::from(buffered)));
        }
        let cap = usize::try_from(self.0.remaining()).unwrap_or(BODY_BUF).min(BODY_BUF);
        let (res, buf) = self.0.read(Vec::with_capacity(cap)).await;
        res?;
        if buf.is_empty() {
            return Ok(None);
        }
        Ok(Some(Bytes::from(buf)))
    }
}

/// A byte range `start..=end` (inclusive, as in HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never empty (start <= end by construction).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// An object found on a backend by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key on the backend.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag as the backend gives it (quoted), if it gives one.
    pub etag: Option<String>,
    /// Last modified, unix milliseconds (0 when unknown).
    pub last_modified_ms: u64,
}

/// One page of a backend listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedPage {
    /// Objects in key order.
    pub objects: Vec<Listed>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<String>,
}

/// A backend on one core: its client, what it counts and its circuit breaker.
#[derive(Debug)]
pub struct Backend {
    imp: Imp,
    counters: Arc<BackendCounters>,
    breaker: Arc<Breaker>,
}

/// The kinds of backend.
#[derive(Debug)]
enum Imp {
    /// A local directory.
    Fs(fs::FsBackend),
    /// An S3 service.
    S3(Box<s3::S3Backend>),
}

/// The counters and the breaker a request's outcome goes to.
struct Watch<'a>(&'a BackendCounters, &'a Breaker);

/// Counts a request's failure, tells the breaker what the outcome says of the backend's health,
/// and passes the outcome on.
fn counted<T, E: Outcome>(w: Watch<'_>, r: Result<T, E>) -> Result<T, E> {
    match &r {
        Ok(_) => w.1.success(),
        Err(e) => {
            w.0.error();
            w.1.record(e.health());
        }
    }
    r
}

impl Backend {
    /// Builds the per-core instance from its configuration and the connection limits; it
    /// counts its requests and bytes into `counters`.
    pub fn new(
        cfg: &BackendConfig,
        limits: &Limits,
        counters: Arc<BackendCounters>,
        breaker: Arc<Breaker>,
    ) -> Result<Backend, ProxyError> {
        let connect_timeout = std::time::Duration::from_secs(limits.backend_connect_timeout_secs);
        let io_timeout = std::time::Duration::from_secs(limits.body_timeout_secs);
        let imp = match &cfg.kind {
            BackendKind::Fs { path } => Imp::Fs(fs::FsBackend::new(&cfg.name, path)),
            BackendKind::S3 { .. } => Imp::S3(Box::new(s3::S3Backend::new(cfg, connect_timeout, io_timeout)?)),
        };
        Ok(Backend { imp, counters, breaker })
    }

    fn watch(&self) -> Watch<'_> {
        Watch(&self.counters, &self.breaker)
    }

    /// The backend's circuit breaker (shared by its clients on every core).
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Whether the ETag this backend returns for a single PUT is the body's MD5, as S3's is: then
    /// the proxy does not hash the body a second time (MD5 is the slowest step of an upload).
    pub fn etag_is_md5(&self) -> bool {
        matches!(&self.imp, Imp::S3(b) if b.etag_from_backend())
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        match &self.imp {
            Imp::Fs(b) => b.name(),
            Imp::S3(b) => b.name(),
        }
    }

    /// Stores exactly `len` bytes from `body` under `key`; returns the backend's ETag when it
    /// gives one. On error nothing may be assumed about the key (the caller queues it for cleanup).
    pub async fn put<B: BodySource>(
        &self,
        key: &str,
        len: u64,
        meta: &PhysicalMeta,
        body: &mut B,
    ) -> Result<Option<String>, ProxyError> {
        self.counters.request(len);
        let r = match &self.imp {
            Imp::Fs(b) => b.put(key, len, meta, body).await.map(|()| None),
            Imp::S3(b) => b.put(key, len, meta, body).await,
        };
        counted(self.watch(), r)
    }

    /// Opens `key` for reading `range` (or all of it, `size` bytes).
    pub async fn get(&self, key: &str, range: Option<ByteRange>, size: u64) -> Result<stream::GetStream, ProxyError> {
        self.counters.request(0);
        let r = match &self.imp {
            Imp::Fs(b) => b.get(key, range, size).await,
            Imp::S3(b) => b.get(key, range, size).await,
        };
        // Egress is counted as opened: a client that stops reading early still made the
        // backend send (most of) it.
        if let Ok(s) = &r {
            self.counters.egress(s.remaining());
        }
        counted(self.watch(), r)
    }

    /// Starts a multipart upload of `key`; returns the id the backend knows it by (`upload_id`
    /// itself where the backend keeps parts as our own files).
    pub async fn create_upload(&self, key: &str, meta: &PhysicalMeta, upload_id: &str) -> Result<String, ProxyError> {
        match &self.imp {
            Imp::Fs(_) => Ok(upload_id.to_string()),
            Imp::S3(b) => {
                self.counters.request(0);
                counted(self.watch(), b.create_upload(key, meta).await)
            }
        }
    }

    /// Stores part `part_number` (exactly `len` bytes of `body`) of the backend upload
    /// `upload_id` of `key`; `unique` names the stored copy where the backend keeps parts apart.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_part<B: BodySource>(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        unique: u64,
        len: u64,
        integrity: &[(String, String)],
        body: &mut B,
    ) -> Result<StoredPart, ProxyError> {
        self.counters.request(len);
        let r = match &self.imp {
            Imp::Fs(b) => b
                .put_part(upload_id, part_number, unique, len, body)
                .await
                .map(|r| StoredPart {
                    etag: None,
                    backend_ref: Some(r),
                }),
            Imp::S3(b) => b
                .upload_part(key, upload_id, part_number, len, integrity, body)
                .await
                .map(|etag| StoredPart {
                    etag,
                    backend_ref: None,
                }),
        };
        counted(self.watch(), r)
    }

    /// Completes the backend upload `upload_id` of `key` from `parts` (in order, `len` bytes in
    /// all); returns the backend's ETag when it gives one.
    pub async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[s3o_store::Part],
        len: u64,
        meta: &PhysicalMeta,
    ) -> Result<Option<String>, ProxyError> {
        let missing = || {
            ProxyError::Internal(format!(
                "backend {}: a recorded part lacks its backend reference",
                self.name()
            ))
        };
        self.counters.request(0);
        let r = match &self.imp {
            Imp::Fs(b) => {
                let files = parts
                    .iter()
                    .map(|p| p.backend_ref.clone().map(|r| (r, p.stored_size())).ok_or_else(missing))
                    .collect::<Result<Vec<_>, _>>()?;
                b.complete_upload(key, upload_id, &files, len, meta)
                    .await
                    .map(|()| None)
            }
            Imp::S3(b) => {
                let etags = parts
                    .iter()
                    .map(|p| p.backend_etag.as_deref().map(|e| (p.number, e)).ok_or_else(missing))
                    .collect::<Result<Vec<_>, _>>()?;
                b.complete_upload(key, upload_id, &etags).await
            }
        };
        counted(self.watch(), r)
    }

    /// Aborts the backend upload `upload_id` of `key`, removing its parts; an unknown upload is
    /// success.
    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), BackendError> {
        self.counters.request(0);
        let r = match &self.imp {
            Imp::Fs(b) => b.abort_upload(upload_id).await,
            Imp::S3(b) => b.abort_upload(key, upload_id).await,
        };
        counted(self.watch(), r)
    }

    /// Whether a completed upload's parts stay behind on the backend (and must be cleaned up).
    pub fn keeps_parts(&self) -> bool {
        matches!(&self.imp, Imp::Fs(_))
    }

    /// Whether this backend copies between its own keys without the bytes passing through us.
    pub fn copies_within(&self) -> bool {
        matches!(&self.imp, Imp::S3(_))
    }

    /// Copies `src` to `dst` inside the backend (see [`Backend::copies_within`]).
    pub async fn copy_within(&self, src: &str, dst: &str, meta: &PhysicalMeta) -> Result<Option<String>, ProxyError> {
        self.counters.request(0);
        match &self.imp {
            Imp::S3(b) => counted(self.watch(), b.copy_object(src, dst, meta).await),
            Imp::Fs(_) => Err(ProxyError::Internal("fs backends do not copy within".into())),
        }
    }

    /// Copies `range` of `src` into a part of the backend upload `upload_id` of `dst`, inside the
    /// backend (see [`Backend::copies_within`]).
    pub async fn copy_part_within(
        &self,
        src: &str,
        dst: &str,
        upload_id: &str,
        part_number: u32,
        range: ByteRange,
    ) -> Result<Option<String>, ProxyError> {
        self.counters.request(0);
        match &self.imp {
            Imp::S3(b) => counted(self.watch(), b.copy_part(src, dst, upload_id, part_number, range).await),
            Imp::Fs(_) => Err(ProxyError::Internal("fs backends do not copy within".into())),
        }
    }

    /// Checks the backend can be reached (and its bucket or directory used).
    pub async fn probe(&self) -> Result<(), BackendError> {
        self.counters.request(0);
        let r = match &self.imp {
            Imp::Fs(b) => b.probe(),
            Imp::S3(b) => b.probe().await,
        };
        counted(self.watch(), r)
    }

    /// One page of every object stored on the backend (ours and any others), after `after`
    /// (the `next` of the previous page).
    pub async fn list_page(&self, after: Option<&str>) -> Result<ListedPage, BackendError> {
        self.counters.request(0);
        let r = match &self.imp {
            Imp::Fs(b) => b.list_page(after),
            Imp::S3(b) => b.list_page(after).await,
        };
        counted(self.watch(), r)
    }

    /// The labels of the object `key` (its logical bucket, key, version and content type), if
    /// it carries them; for rebuilding versions that have no record.
    pub async fn labels(&self, key: &str) -> Result<Option<Labels>, BackendError> {
        self.counters.request(0);
        let r = match &self.imp {
            Imp::Fs(b) => b.labels(key),
            Imp::S3(b) => b.labels(key).await,
        };
        counted(self.watch(), r)
    }

    /// Deletes `key`; a missing key is success.
    pub async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.counters.request(0);
        let r = match &self.imp {
            Imp::Fs(b) => b.delete(key).await,
            Imp::S3(b) => b.delete(key).await,
        };
        counted(self.watch(), r)
    }
}
