//! Encryption at rest (envelope): each new object gets a fresh data key that seals its body in
//! AES-256-GCM chunks ([`format`]) as it streams to the backends ([`source::StoredSource`]), and
//! is stored in the version's record wrapped by a master key ([`keys`]). Reads open only the
//! chunks a range needs ([`reader::OpenReader`]). Sizes, ETags and checksums are those of the
//! plaintext; quotas and usage count the stored bytes.

pub mod config;
pub mod existing;
pub mod format;
pub mod keys;
pub mod reader;
pub mod rotate;
pub mod source;
pub mod write;

use base64::Engine as _;
use s3o_store::{ObjectMeta, SealSegment, Sealed};

pub use format::{DataKey, Identity};
pub use keys::Keyring;

/// What can go wrong sealing or opening a body.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A chunk failed authentication: changed, reordered, truncated or moved bytes.
    #[error("a sealed chunk failed authentication (the stored bytes were changed, truncated, reordered or moved)")]
    Tampered,
    /// The object's data key was wrapped by a master key that is not configured.
    #[error("the master key {0:?} that wrapped this object's data key is not configured")]
    UnknownKey(String),
    /// A wrapped data key does not unwrap.
    #[error("the object's wrapped data key does not unwrap with its master key")]
    BadWrappedKey,
    /// The record of a sealed object does not describe its body.
    #[error("the sealed object's record is inconsistent: {0}")]
    BadRecord(&'static str),
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
    /// Sealing failed (cannot happen with a valid key).
    #[error("AES-GCM failed")]
    Crypto,
}

impl From<SealError> for crate::error::ProxyError {
    fn from(e: SealError) -> Self {
        crate::error::ProxyError::Internal(e.to_string())
    }
}

/// How a new body (or part) is sealed: its data key, how the key is recorded, and the segment's
/// number and nonce.
pub struct WriteSeal {
    /// The data key.
    pub key: DataKey,
    /// Id of the master key that wrapped it.
    pub key_id: String,
    /// It, wrapped.
    pub wrapped: String,
    /// Plaintext bytes per chunk.
    pub chunk: u32,
    /// The segment's number (0 for a body written at once, else the part number).
    pub number: u32,
    /// The segment's nonce base.
    pub nonce: [u8; 12],
}

impl WriteSeal {
    /// A fresh data key and nonce for a body written at once.
    pub fn fresh(keys: &Keyring, chunk: u32) -> Result<WriteSeal, SealError> {
        let k = keys.fresh()?;
        Ok(WriteSeal {
            key: k.key,
            key_id: k.key_id,
            wrapped: k.wrapped,
            chunk,
            number: 0,
            nonce: keys.random()?,
        })
    }

    /// The part `number` of an upload sealed as `sealed`: its data key, a fresh nonce.
    pub fn for_part(keys: &Keyring, sealed: &Sealed, number: u32) -> Result<WriteSeal, SealError> {
        Ok(WriteSeal {
            key: keys.unwrap(&sealed.key_id, &sealed.dek)?,
            key_id: sealed.key_id.clone(),
            wrapped: sealed.dek.clone(),
            chunk: sealed.chunk,
            number,
            nonce: keys.random()?,
        })
    }

    /// The nonce base as recorded (base64).
    pub fn nonce_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.nonce)
    }

    /// The record of a body sealed as this one segment.
    pub fn record(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            dek: self.wrapped.clone(),
            chunk: self.chunk,
            segments: vec![SealSegment {
                number: self.number,
                nonce: self.nonce_b64(),
            }],
        }
    }

    /// Stored bytes of `plain` plaintext bytes sealed this way.
    pub fn stored_len(&self, plain: u64) -> u64 {
        Sealed::sealed_len(self.chunk, plain)
    }
}

/// The nonce base recorded as `b64`.
pub fn decode_nonce(b64: &str) -> Result<[u8; 12], SealError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| SealError::BadRecord("a nonce is not base64"))?;
    raw.try_into()
        .map_err(|_| SealError::BadRecord("a nonce is not 12 bytes"))
}

/// The layout of a sealed version's body.
pub fn layout_of(meta: &ObjectMeta, sealed: &Sealed) -> Result<format::Layout, SealError> {
    let sizes = meta.segment_sizes();
    if sizes.len() != sealed.segments.len() {
        return Err(SealError::BadRecord("segments and parts differ in number"));
    }
    Ok(format::Layout::new(sealed.chunk, sizes))
}
