//! The seam where a new version's or a part's bytes are sealed (when encrypted) and hashed on
//! their way to a backend: PutObject, PostObject, CopyObject and the data API's uploads through
//! `s3::version::NewVersion`, UploadPart, UploadPartCopy and the data API's parts through
//! [`put_part`].

use s3o_store::{ContentHash, Part, Sealed, Upload};

use super::source::StoredSource;
use super::{Identity, WriteSeal};
use crate::backend::{Backend, BodySource, StoredPart};
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::state::Core;

/// How a new version of `bucket` is sealed: `None` when the bucket does not encrypt.
pub fn seal_for(core: &Core, snap: &Snapshot, bucket: &str) -> Result<Option<WriteSeal>, ProxyError> {
    if !snap.placement(bucket).encrypt {
        return Ok(None);
    }
    let keys = core.shared.keyring()?;
    Ok(Some(WriteSeal::fresh(keys, core.shared.cfg.encryption.chunk_size)?))
}

/// A new upload's seal record (no segments yet: each part adds its own), when `bucket` encrypts.
pub fn upload_seal(core: &Core, snap: &Snapshot, bucket: &str) -> Result<Option<Sealed>, ProxyError> {
    Ok(seal_for(core, snap, bucket)?.map(|w| Sealed {
        segments: Vec::new(),
        ..w.record()
    }))
}

/// What a version written at once records of its stored bytes: (sealed, stored, hash).
pub fn body_facts(seal: Option<&WriteSeal>, stored_len: u64, hash: Option<String>) -> BodyFacts {
    BodyFacts {
        sealed: seal.map(WriteSeal::record),
        stored: seal.map(|_| stored_len),
        hash: hash.map(|h| ContentHash {
            alg: Default::default(),
            parts: vec![h],
        }),
    }
}

/// What a version's record says of its stored bytes.
#[derive(Debug, Clone, Default)]
pub struct BodyFacts {
    /// How they are sealed.
    pub sealed: Option<Sealed>,
    /// Their length when not the plaintext's.
    pub stored: Option<u64>,
    /// Their hash.
    pub hash: Option<ContentHash>,
}

impl BodyFacts {
    /// Records these facts in `meta` (a new version: no copy is damaged).
    pub fn apply(self, meta: &mut s3o_store::ObjectMeta) {
        meta.sealed = self.sealed;
        meta.stored = self.stored;
        meta.hash = self.hash;
        meta.damaged.clear();
    }
}

/// Stored bytes of a part of `len` plaintext bytes of `upload`.
pub fn part_stored_len(upload: &Upload, len: u64) -> u64 {
    match &upload.meta.sealed {
        Some(s) => Sealed::sealed_len(s.chunk, len),
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
    /// Records these facts in `part`; returns the backend's answer.
    pub fn fill(self, part: &mut Part) -> StoredPart {
        part.stored = self.stored_len;
        part.seal_nonce = self.nonce;
        part.hash = self.hash;
        self.stored
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
    let id = Identity {
        bucket: &upload.bucket,
        key: &upload.key,
        version: upload.version,
    };
    let seal = match &upload.meta.sealed {
        Some(sealed) => Some(WriteSeal::for_part(core.shared.keyring()?, sealed, number)?),
        None => None,
    };
    let integrity = if seal.is_some() { &[][..] } else { integrity };
    let mut out = StoredSource::new(src, seal.as_ref(), id, len, core.shared.cfg.integrity.hash);
    let stored_len = out.stored_len();
    let (key, bid) = (upload.physical_key.as_str(), upload.backend_upload_id.as_str());
    let stored = backend
        .put_part(key, bid, number, unique, stored_len, integrity, &mut out)
        .await?;
    Ok(PartWrite {
        stored,
        stored_len: seal.as_ref().map(|_| stored_len),
        nonce: seal.as_ref().map(WriteSeal::nonce_b64),
        hash: out.hash_hex(),
    })
}
