//! Backends: where object bytes really live. A [`Backend`] is per core (no locks): a local
//! directory ([`fs::FsBackend`]) or an S3-compatible service ([`s3::S3Backend`]) reached through a
//! per-core keep-alive connection pool. Objects are addressed by *physical key* only.

pub mod fs;
pub mod pieces;
pub mod s3;
pub mod stream;
pub mod xattr;

use bytes::Bytes;

use crate::config::{BackendConfig, BackendKind, Limits};
use crate::error::{BackendError, ProxyError};

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

/// A backend on one core.
#[derive(Debug)]
pub enum Backend {
    /// A local directory.
    Fs(fs::FsBackend),
    /// An S3 service.
    S3(Box<s3::S3Backend>),
}

impl Backend {
    /// Builds the per-core instance from its configuration and the connection limits.
    pub fn new(cfg: &BackendConfig, limits: &Limits) -> Result<Backend, ProxyError> {
        let connect_timeout = std::time::Duration::from_secs(limits.backend_connect_timeout_secs);
        let io_timeout = std::time::Duration::from_secs(limits.body_timeout_secs);
        Ok(match &cfg.kind {
            BackendKind::Fs { path } => Backend::Fs(fs::FsBackend::new(&cfg.name, path)),
            BackendKind::S3 { .. } => Backend::S3(Box::new(s3::S3Backend::new(cfg, connect_timeout, io_timeout)?)),
        })
    }

    /// Whether the ETag this backend returns for a single PUT is the body's MD5, as S3's is: then
    /// the proxy does not hash the body a second time (MD5 is the slowest step of an upload).
    pub fn etag_is_md5(&self) -> bool {
        matches!(self, Backend::S3(b) if b.etag_from_backend())
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        match self {
            Backend::Fs(b) => b.name(),
            Backend::S3(b) => b.name(),
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
        match self {
            Backend::Fs(b) => b.put(key, len, meta, body).await.map(|()| None),
            Backend::S3(b) => b.put(key, len, meta, body).await,
        }
    }

    /// Opens `key` for reading `range` (or all of it, `size` bytes).
    pub async fn get(&self, key: &str, range: Option<ByteRange>, size: u64) -> Result<stream::GetStream, ProxyError> {
        match self {
            Backend::Fs(b) => b.get(key, range, size).await,
            Backend::S3(b) => b.get(key, range, size).await,
        }
    }

    /// Deletes `key`; a missing key is success.
    pub async fn delete(&self, key: &str) -> Result<(), BackendError> {
        match self {
            Backend::Fs(b) => b.delete(key).await,
            Backend::S3(b) => b.delete(key).await,
        }
    }
}
