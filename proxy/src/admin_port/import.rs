//! `{ui}/api/sync`: importing the objects a backend held before the proxy managed it into a
//! virtual bucket. Each object the backend lists becomes the current version of the same key in
//! the bucket, pointing at the bytes where they already are (nothing is copied); its size counts
//! against the backend's usage from then on. Keys the bucket already has are skipped, so a
//! second run imports nothing new; the proxy's own objects (physical keys, their `.meta`
//! records, anything under `.s3o/`, see [`crate::records`]) are never imported. The same import
//! runs offline as `s3-orchestrator sync`, which can limit it to a prefix and only count what it
//! would do ([`SyncOptions`]).
//!
//! From then on the object is the proxy's like any other: overwriting or deleting it through S3
//! queues the original key on the backend for deletion. An imported object keeps its own key on
//! the backend and has no record there: after an index rebuild, import it again.

use md5::{Digest, Md5};
use s3o_admin::{Error, SyncOutcome};
use s3o_store::{Location, ObjectMeta, StoreError, WriteCondition};

use crate::backend::{Backend, Listed, BODY_BUF};
use crate::state::Core;

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// How an import runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Only the backend's keys starting with this ("" for all).
    pub prefix: String,
    /// Count what would be imported and skipped, changing nothing.
    pub dry_run: bool,
}

/// The quoted ETag of a listed object: the backend's, or the MD5 of its bytes when it gives none.
pub(crate) async fn etag_of(client: &Backend, obj: &Listed) -> Result<String, Error> {
    if let Some(e) = obj.etag.as_deref().filter(|e| !e.trim_matches('"').is_empty()) {
        return Ok(if e.starts_with('"') {
            e.to_owned()
        } else {
            format!("\"{e}\"")
        });
    }
    let mut stream = client.get(&obj.key, None, obj.size).await.map_err(internal)?;
    let mut md5 = Md5::new();
    let mut buf = Vec::with_capacity(BODY_BUF.min(usize::try_from(obj.size).unwrap_or(BODY_BUF)).max(1));
    while stream.remaining() > 0 {
        let (r, b) = stream.read(buf).await;
        r.map_err(internal)?;
        if b.is_empty() {
            return Err(Error::Internal(format!("{} ended early", obj.key)));
        }
        md5.update(&b);
        buf = b;
    }
    Ok(format!("\"{}\"", s3o_sigv4::encode::hex(&md5.finalize())))
}

/// Imports the objects of backend `backend` into virtual bucket `bucket` as `options` say (all
/// of them, or only keys under a prefix; or a dry run that only counts).
pub async fn sync_with(core: &Core, backend: &str, bucket: &str, options: &SyncOptions) -> Result<SyncOutcome, Error> {
    let snap = core.snapshot();
    if snap.backend(backend).is_none() {
        return Err(Error::BadRequest(format!("unknown backend {backend:?}")));
    }
    let store = &core.shared.store;
    if store.bucket(bucket).await.map_err(internal)?.is_none() {
        return Err(Error::BadRequest(format!("unknown bucket {bucket:?}")));
    }
    let client = core.backend(backend).map_err(internal)?;
    let mut outcome = SyncOutcome {
        imported: 0,
        skipped: 0,
    };
    let mut after: Option<String> = None;
    loop {
        let page = client.list_page(after.as_deref()).await.map_err(internal)?;
        for obj in &page.objects {
            if crate::records::is_ours(&obj.key) || !obj.key.starts_with(&options.prefix) {
                continue;
            }
            if store.get_object(bucket, &obj.key).await.map_err(internal)?.is_some() {
                outcome.skipped += 1;
                continue;
            }
            if options.dry_run {
                outcome.imported += 1;
                continue;
            }
            let etag = etag_of(&client, obj).await?;
            let version = store.next_version().await.map_err(internal)?;
            // The bytes are on the backend already: they are counted, never refused.
            let reservation = store.reserve(backend, obj.size, None).await.map_err(internal)?;
            let meta = ObjectMeta {
                size: obj.size,
                etag,
                last_modified_ms: if obj.last_modified_ms > 0 {
                    obj.last_modified_ms
                } else {
                    crate::clock::unix_ms()
                },
                version,
                locations: vec![Location {
                    backend: backend.to_owned(),
                    physical_key: obj.key.clone(),
                }],
                ..ObjectMeta::default()
            };
            match store
                .put_object(bucket, &obj.key, &meta, &WriteCondition::IfAbsent, vec![reservation])
                .await
            {
                Ok(_) => outcome.imported += 1,
                Err(StoreError::PreconditionFailed { .. }) => outcome.skipped += 1,
                Err(e) => return Err(internal(e)),
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_own_objects_are_recognised() {
        let ours = s3o_store::physical_key_for("photos", "a/b.jpg", 42);
        assert!(crate::records::is_ours(&ours), "{ours}");
        assert!(crate::records::is_ours(&format!("{ours}.meta")));
        assert!(crate::records::is_ours(".s3o/buckets/photos.json"));
        assert!(!crate::records::is_ours("photos/a/b.jpg"));
        assert!(!crate::records::is_ours("readme.txt"));
    }
}
