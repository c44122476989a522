//! [`HashCheck`]: a whole-object read checked against the version's content hash, one BLAKE3
//! digest per segment of the stored bytes. A segment that does not match fails the read that
//! completes it (before its bytes are handed out) and queues the copy as a suspect for the
//! scrubber.

use std::sync::Arc;

use crate::error::{BackendError, ProxyError};
use crate::integrity::Suspect;

/// The running check of one read.
pub struct HashCheck {
    /// Each segment's stored length and expected digest.
    segments: Vec<(u64, [u8; 32])>,
    /// The segment being read, and its bytes so far.
    at: usize,
    done: u64,
    hasher: blake3::Hasher,
    /// Where a failure is reported.
    suspects: Arc<crate::state::Shared>,
    suspect: Suspect,
}

impl HashCheck {
    /// The check of a read of all of `meta`'s stored bytes from `backend`; `None` when the
    /// version has no (usable) hash.
    pub fn of(
        meta: &s3o_store::ObjectMeta,
        bucket: &str,
        key: &str,
        backend: &str,
        shared: Arc<crate::state::Shared>,
    ) -> Option<HashCheck> {
        let hash = meta.hash.as_ref()?;
        let sizes = meta.stored_segment_sizes();
        if sizes.len() != hash.parts.len() {
            return None;
        }
        let segments = sizes
            .into_iter()
            .zip(&hash.parts)
            .map(|(n, h)| blake3::Hash::from_hex(h).ok().map(|h| (n, *h.as_bytes())))
            .collect::<Option<Vec<_>>>()?;
        Some(HashCheck {
            segments,
            at: 0,
            done: 0,
            hasher: blake3::Hasher::new(),
            suspects: shared,
            suspect: Suspect {
                bucket: bucket.to_string(),
                key: key.to_string(),
                version: meta.version,
                backend: backend.to_string(),
            },
        })
    }

    /// Adds `bytes`, checking each segment they complete.
    pub fn feed(&mut self, mut bytes: &[u8], backend: &str) -> Result<(), ProxyError> {
        loop {
            // Segments completed (empty ones at once).
            while let Some(&(len, want)) = self.segments.get(self.at) {
                if self.done < len {
                    break;
                }
                if *self.hasher.finalize().as_bytes() != want {
                    return Err(self.failed(backend));
                }
                self.at += 1;
                self.done = 0;
                self.hasher.reset();
            }
            if bytes.is_empty() {
                return Ok(());
            }
            let Some(&(len, _)) = self.segments.get(self.at) else {
                return Err(self.failed(backend));
            };
            let n = usize::try_from(len - self.done).unwrap_or(usize::MAX).min(bytes.len());
            self.hasher.update(&bytes[..n]);
            self.done += n as u64;
            bytes = &bytes[n..];
        }
    }

    fn failed(&self, backend: &str) -> ProxyError {
        tracing::error!(backend, bucket = %self.suspect.bucket, key = %self.suspect.key, version = self.suspect.version, "a copy's bytes do not match its content hash: read cut short, copy queued for repair");
        self.suspects.suspects.push(self.suspect.clone());
        crate::integrity::IntegrityCounters::bump(&self.suspects.metrics.integrity.read_failures);
        BackendError::Protocol {
            backend: backend.to_string(),
            detail: "the copy's bytes do not match their content hash".into(),
        }
        .into()
    }
}
