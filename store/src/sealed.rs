//! What a version's record says of its stored bytes beyond their size: how they are sealed
//! (encryption at rest: the wrapped data key and the STREAM segments the proxy's `seal` module
//! reads and writes) and the content hash of what the backends hold (integrity). Pure data, and
//! the arithmetic every engine needs to count a sealed version's bytes on its backends.

use serde::{Deserialize, Serialize};

/// Bytes an AES-GCM tag adds to each sealed chunk.
pub const SEAL_TAG_BYTES: u64 = 16;

/// How a version's bytes are encrypted on its backends (envelope encryption).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Id of the master key that wrapped `dek`.
    pub key_id: String,
    /// The data key, wrapped by that master key (base64 of nonce ‖ ciphertext ‖ tag).
    pub dek: String,
    /// Plaintext bytes per chunk (each chunk is stored with its tag).
    pub chunk: u32,
    /// The independently sealed runs of the body, in order: one for a body written at once, one
    /// per part for an object completed from a multipart upload.
    pub segments: Vec<SealSegment>,
}

/// One independently sealed run of a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealSegment {
    /// Its number, bound into every chunk's associated data: 0 for a body written at once, the
    /// part number for a part.
    pub number: u32,
    /// The run's nonce base (base64 of 12 random bytes), from which each chunk's nonce derives.
    pub nonce: String,
}

impl Sealed {
    /// Stored bytes of a run of `plain` plaintext bytes in chunks of `chunk`: each chunk with
    /// its tag, and an empty run still one (empty) chunk, so its end is authenticated too.
    pub fn sealed_len(chunk: u32, plain: u64) -> u64 {
        let chunk = u64::from(chunk.max(1));
        plain + SEAL_TAG_BYTES * plain.div_ceil(chunk).max(1)
    }
}

/// The algorithm of a [`ContentHash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// BLAKE3, 32 bytes.
    #[default]
    Blake3,
}

/// Digests of a version's stored bytes (as the backends hold them: sealed when encrypted), one
/// per segment: the whole body for one written at once, each part for a multipart object. Every
/// copy of a version holds the same bytes, so one list verifies each of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHash {
    /// The algorithm.
    #[serde(default)]
    pub alg: HashAlgorithm,
    /// Lowercase hex digests, one per segment, in order.
    pub parts: Vec<String>,
}

/// What a version's record says of its stored bytes, replaced together with its locations when
/// its bytes are rewritten (sealed or opened) under new physical keys
/// ([`Engine::rewrite`](crate::Engine::rewrite)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredFacts {
    /// How the new bytes are sealed (`None`: stored as sent).
    pub sealed: Option<Sealed>,
    /// Their length when not the plaintext's.
    pub stored: Option<u64>,
    /// Their content hash.
    pub hash: Option<ContentHash>,
}

impl StoredFacts {
    /// Puts these facts in `meta` (the new bytes: no copy is damaged).
    pub fn apply(&self, meta: &mut crate::ObjectMeta) {
        meta.sealed.clone_from(&self.sealed);
        meta.stored = self.stored;
        meta.hash.clone_from(&self.hash);
        meta.damaged.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_lengths_count_a_tag_per_chunk_and_one_for_an_empty_run() {
        assert_eq!(Sealed::sealed_len(65536, 0), 16);
        assert_eq!(Sealed::sealed_len(65536, 1), 17);
        assert_eq!(Sealed::sealed_len(65536, 65536), 65552);
        assert_eq!(Sealed::sealed_len(65536, 65537), 65537 + 32);
        assert_eq!(Sealed::sealed_len(4, 9), 9 + 48);
    }

    #[test]
    fn records_round_trip_as_json() {
        let s = Sealed {
            key_id: "k1".into(),
            dek: "AAAA".into(),
            chunk: 65536,
            segments: vec![SealSegment {
                number: 0,
                nonce: "BBBB".into(),
            }],
        };
        let back: Sealed = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let h: ContentHash = serde_json::from_str(r#"{"parts":["ab"]}"#).unwrap();
        assert_eq!(h.alg, HashAlgorithm::Blake3);
    }
}
