//! `POST /admin/api/rotate-encryption-key`: every data key wrapped by one master key is wrapped
//! anew by the current one, in place (a compare-and-set on the wrapped key, so a concurrent
//! rewrite of the version wins), and the version's records beside its copies follow (an index
//! rebuild then restores the new wrapping). Metadata only: no object byte moves. Uploads in
//! progress keep their wrapping until they complete or expire.

use s3o_store::{VersionAt, VersionChange};
use tracing::{info, warn};

use crate::error::ProxyError;
use crate::state::Core;

/// Why a rotation cannot start.
pub fn refused(core: &Core, old: &str) -> Option<String> {
    let Some(keys) = core.shared.keys.as_deref() else {
        return Some("encryption is not configured ([encryption] key, key_file or key_command)".into());
    };
    if old == keys.current_id() {
        return Some(format!("{old:?} is the current master key"));
    }
    (!keys.knows(old))
        .then(|| format!("master key {old:?} is not configured (list it under [[encryption.previous_keys]])"))
}

/// Re-wraps every version's data key wrapped by `old`: (rotated, failed, total).
pub async fn rotate(core: &Core, old: &str) -> Result<(u64, u64, u64), ProxyError> {
    let keys = core.shared.keyring()?;
    let store = &core.shared.store;
    let (mut rotated, mut failed, mut total) = (0u64, 0u64, 0u64);
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = store.scan_versions(cursor.as_ref(), None, 512).await?;
        for v in &page.versions {
            let Some(sealed) = v.meta.sealed.as_ref().filter(|s| s.key_id == old) else {
                continue;
            };
            total += 1;
            let change = keys.rewrap(old, &sealed.dek).map(|dek| VersionChange::Expecting {
                version: v.meta.version,
                change: Box::new(VersionChange::Rewrap {
                    expected_dek: sealed.dek.clone(),
                    key_id: keys.current_id().to_string(),
                    dek,
                }),
            });
            let at = v.meta.version_ref();
            let done = match change {
                Ok(change) => store
                    .update_version(&v.bucket, &v.key, at, change)
                    .await
                    .map_err(ProxyError::from),
                Err(e) => Err(e.into()),
            };
            match done {
                Ok(changed) => {
                    rotated += 1;
                    crate::integrity::IntegrityCounters::bump(&core.shared.metrics.integrity.rewrapped);
                    crate::records::write_version(core, &v.bucket, &v.key, &changed).await;
                }
                Err(e) => {
                    failed += 1;
                    warn!(bucket = %v.bucket, key = %v.key, error = %e, "key rotation: not re-wrapped");
                }
            }
        }
        if rotated > 0 && rotated % 10_000 == 0 {
            info!(rotated, "key rotation in progress");
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    info!(rotated, failed, total, old, "key rotation done");
    Ok((rotated, failed, total))
}
