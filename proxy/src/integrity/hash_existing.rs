//! `POST /admin/api/hash-existing`: gives every version written without a content hash one. A
//! hash is only recorded when the bytes it describes are vouched for: bytes stored as sent whose
//! MD5s match the object's ETag (a single PUT's MD5, or the multipart ETag of its parts' MD5s),
//! sealed bytes that open whole (every chunk's tag checked), or two copies or more that agree.
//! Otherwise the version is counted as failed and left without a hash, rather than recording
//! rotten bytes as the truth the scrubber would then "repair" good copies from.

use s3o_store::{ContentHash, StoredVersion, VersionAt, VersionChange};
use tracing::warn;

use super::digest::{digest_stream, Digests};
use crate::error::ProxyError;
use crate::state::Core;

/// Hashes every version without a hash: (hashed, failed, total).
pub async fn hash_existing(core: &Core) -> Result<(u64, u64, u64), ProxyError> {
    let store = &core.shared.store;
    let (mut hashed, mut failed, mut total) = (0u64, 0u64, 0u64);
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = store.scan_versions(cursor.as_ref(), None, 256).await?;
        for v in page
            .versions
            .iter()
            .filter(|v| !v.meta.delete_marker && v.meta.hash.is_none())
        {
            total += 1;
            let recorded = match hash_of(core, v).await {
                Ok(hash) => {
                    let change = VersionChange::Expecting {
                        version: v.meta.version,
                        change: Box::new(VersionChange::Hash {
                            hash,
                            locations: v.meta.locations.clone(),
                        }),
                    };
                    store
                        .update_version(&v.bucket, &v.key, v.meta.version_ref(), change)
                        .await
                        .map_err(ProxyError::from)
                }
                Err(e) => Err(e),
            };
            match recorded {
                Ok(_) => hashed += 1,
                Err(e) => {
                    failed += 1;
                    warn!(bucket = %v.bucket, key = %v.key, version = v.meta.version, error = %e, "hash-existing: no hash recorded");
                }
            }
        }
        if core.shared.winding_down() {
            break;
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok((hashed, failed, total))
}

/// Whether `d`, the MD5s of a copy stored as sent, match `etag`.
fn etag_vouches(etag: &str, d: &Digests) -> bool {
    let etag = etag.trim_matches('"');
    match etag.split_once('-') {
        None => d.md5.len() == 1 && s3o_sigv4::encode::hex(&d.md5[0]) == etag,
        Some((whole, n)) => {
            use md5::{Digest, Md5};
            let mut m = Md5::new();
            for part in &d.md5 {
                m.update(part);
            }
            n.parse::<usize>().is_ok_and(|n| n == d.md5.len()) && s3o_sigv4::encode::hex(&m.finalize()) == whole
        }
    }
}

/// The content hash of `v`'s stored bytes, from copies whose bytes are vouched for.
async fn hash_of(core: &Core, v: &StoredVersion) -> Result<ContentHash, ProxyError> {
    let sizes = v.meta.stored_segment_sizes();
    let plain = v.meta.sealed.is_none();
    let mut seen: Vec<Digests> = Vec::new();
    let mut backends: Vec<&str> = Vec::new();
    for loc in &v.meta.locations {
        if v.meta.damaged.contains(&loc.backend) || backends.contains(&loc.backend.as_str()) {
            continue;
        }
        backends.push(&loc.backend);
        let read = async {
            let mut stream = core
                .backend(&loc.backend)?
                .get(&loc.physical_key, None, v.meta.stored_size())
                .await?;
            digest_stream(&mut stream, &sizes, plain, None).await
        };
        match read.await {
            Ok(Some(d)) => seen.push(d),
            Ok(None) => {
                warn!(bucket = %v.bucket, key = %v.key, backend = %loc.backend, "hash-existing: a copy of another length")
            }
            Err(e) => {
                warn!(bucket = %v.bucket, key = %v.key, backend = %loc.backend, error = %e, "hash-existing: a copy not read")
            }
        }
    }
    let hash = |d: &Digests| ContentHash {
        alg: Default::default(),
        parts: d.blake3.clone(),
    };
    if plain {
        if let Some(d) = seen.iter().find(|d| etag_vouches(&v.meta.etag, d)) {
            return Ok(hash(d));
        }
    }
    let Some(first) = seen.first() else {
        return Err(ProxyError::Internal("no copy could be read".into()));
    };
    let agreeing = seen.iter().filter(|d| d.blake3 == first.blake3).count();
    if agreeing != seen.len() {
        return Err(ProxyError::Internal(
            "its copies differ and none matches its ETag".into(),
        ));
    }
    if plain {
        // One copy and an ETag that is not an MD5 of it (nothing to check it against): the hash
        // of what is there, so any later change is caught.
        if seen.len() == 1
            && !v
                .meta
                .etag
                .trim_matches('"')
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Ok(hash(first));
        }
        if seen.len() >= 2 {
            return Ok(hash(first));
        }
        return Err(ProxyError::Internal("its only copy does not match its ETag".into()));
    }
    // Sealed: the version must open whole (every chunk's tag), and every copy read agrees.
    let snap = core.snapshot();
    let mut reader = crate::s3::read::open_copy(core, &snap, (&v.bucket, &v.key), &v.meta, None).await?;
    let mut buf = Vec::with_capacity(crate::backend::BODY_BUF);
    while reader.remaining() > 0 {
        let (res, b) = reader.read(buf).await;
        res?;
        if b.is_empty() {
            break;
        }
        buf = b;
    }
    Ok(hash(first))
}
