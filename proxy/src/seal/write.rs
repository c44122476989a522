//! The seam where a part's bytes are sealed (when its upload is encrypted) and hashed on their
//! way to the backend, shared by UploadPart, UploadPartCopy and the data API's part uploads. A
//! body written at once takes the same path through `s3::version::NewVersion::store`.

use s3o_store::{Part, Upload};

use super::source::{HashingSource, SealingSource};
use super::{Identity, WriteSeal};
use crate::backend::{Backend, BodySource, StoredPart};
use crate::error::ProxyError;
use crate::state::Core;

/// Stored bytes of a part of `len` plaintext bytes of `upload`.
pub fn part_stored_len(upload: &Upload, len: u64) -> u64 {
    match &upload.meta.sealed {
        Some(s) => s3o_store::Sealed::sealed_len(s.chunk, len),
        None => len,
    }
}

/// What storing a part learned, beyond what the backend said.
pub struct PartWrite {
    /// The backend's answer.
    pub stored: StoredPart,
    /// Stored bytes when sealed.
    pub stored_len: Option<u64>,
    /// The part's nonce base when sealed.
    pub nonce: Option<String>,
    /// The hash of its stored bytes, when hashes are kept.
    pub hash: Option<String>,
}

impl PartWrite {
    /// Records these facts in `part`.
    pub fn fill(self, part: &mut Part) -> StoredPart {
        part.stored = self.stored_len;
        part.seal_nonce = self.nonce;
        part.hash = self.hash;
        self.stored
    }

    /// Whether the backend's ETag is of the stored bytes rather than of the part (sealed).
    pub fn sealed(&self) -> bool {
        self.nonce.is_some()
    }
}

/// Streams part `number` (`len` plaintext bytes of `src`) of `upload` to `backend`, sealed when
/// the upload is and hashed when hashes are kept. `integrity` (the client's digests) is only
/// forwarded for a part stored as sent.
#[allow(clippy::too_many_arguments)]
pub async fn put_part<B: BodySource>(
    core: &Core,
    upload: &Upload,
    backend: &Backend,
    number: u32,
    unique: u64,
    len: u64,
    integrity: &[(String, String)],
    src: &mut B,
) -> Result<PartWrite, ProxyError> {
    let hash_on = core.shared.cfg.integrity.hash;
    let id = Identity {
        bucket: &upload.bucket,
        key: &upload.key,
        version: upload.version,
    };
    let (key, bid) = (upload.physical_key.as_str(), upload.backend_upload_id.as_str());
    match &upload.meta.sealed {
        Some(sealed) => {
            let seal = WriteSeal::for_part(core.shared.keyring()?, sealed, number)?;
            let stored_len = seal.stored_len(len);
            let mut sealing = SealingSource::new(src, &seal, id, len);
            let mut hashing = HashingSource::new(&mut sealing, hash_on);
            let stored = backend
                .put_part(key, bid, number, unique, stored_len, &[], &mut hashing)
                .await?;
            Ok(PartWrite {
                stored,
                stored_len: Some(stored_len),
                nonce: Some(seal.nonce_b64()),
                hash: hashing.hex(),
            })
        }
        None => {
            let mut hashing = HashingSource::new(src, hash_on);
            let stored = backend
                .put_part(key, bid, number, unique, len, integrity, &mut hashing)
                .await?;
            Ok(PartWrite {
                stored,
                stored_len: None,
                nonce: None,
                hash: hashing.hex(),
            })
        }
    }
}
