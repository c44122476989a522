//! The signing key (SigV4 "Task 3: Calculate the signature"):
//!
//! ```text
//! DateKey              = HMAC-SHA256("AWS4" + SecretAccessKey, YYYYMMDD)
//! DateRegionKey        = HMAC-SHA256(DateKey, Region)
//! DateRegionServiceKey = HMAC-SHA256(DateRegionKey, Service)
//! SigningKey           = HMAC-SHA256(DateRegionServiceKey, "aws4_request")
//! Signature            = Hex(HMAC-SHA256(SigningKey, StringToSign))
//! ```
//!
//! Deriving a key costs four HMACs, so verified keys are cached per (credential scope, secret).

use std::cell::RefCell;
use std::collections::HashMap;

use ring::hmac;

/// A derived SigV4 signing key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigningKey(pub [u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

fn hmac32(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

impl SigningKey {
    /// Derives the key for `secret` on day `date` (`YYYYMMDD`) in `region` for `service`.
    pub fn derive(secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        let mut k = Vec::with_capacity(4 + secret.len());
        k.extend_from_slice(b"AWS4");
        k.extend_from_slice(secret.as_bytes());
        let date_key = hmac32(&k, date.as_bytes());
        let region_key = hmac32(&date_key, region.as_bytes());
        let service_key = hmac32(&region_key, service.as_bytes());
        SigningKey(hmac32(&service_key, b"aws4_request"))
    }

    /// `HMAC-SHA256(SigningKey, data)`: the raw signature of a string to sign.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        hmac32(&self.0, data)
    }
}

/// A cached key with the secret it was derived from.
type CachedKey = (Box<str>, SigningKey);

/// Upper bound on cached signing keys per cache; the cache is cleared when it is reached (keys
/// change daily, and a client with a new key re-derives it once).
pub const MAX_CACHED_KEYS: usize = 4096;

/// A per-core cache of derived signing keys, keyed by the credential string
/// `AKID/YYYYMMDD/region/service/aws4_request`. It keeps the secret the key was derived from, so
/// a rotated secret is never served a stale key. Not `Sync`: one per thread.
#[derive(Debug, Default)]
pub struct KeyCache {
    map: RefCell<HashMap<Box<str>, CachedKey>>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    /// The signing key for `credential` (the whole `Credential=` value) and `secret`, derived on
    /// first use.
    pub fn get(&self, credential: &str, secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        if let Some((s, k)) = self.map.borrow().get(credential) {
            if **s == *secret {
                return *k;
            }
        }
        let key = SigningKey::derive(secret, date, region, service);
        let mut map = self.map.borrow_mut();
        if map.len() >= MAX_CACHED_KEYS {
            map.clear();
        }
        map.insert(credential.into(), (secret.into(), key));
        key
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::hex;

    #[test]
    fn derives_the_documented_key() {
        // AWS docs, "Examples of how to derive a signing key for Signature Version 4".
        let k = SigningKey::derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(&k.0),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_follows_secret_rotation() {
        let c = KeyCache::new();
        let cred = "AK/20120215/us-east-1/s3/aws4_request";
        let a = c.get(cred, "one", "20120215", "us-east-1", "s3");
        assert_eq!(c.get(cred, "one", "20120215", "us-east-1", "s3"), a);
        let b = c.get(cred, "two", "20120215", "us-east-1", "s3");
        assert_ne!(a, b);
        assert_eq!(b, SigningKey::derive("two", "20120215", "us-east-1", "s3"));
        assert_eq!(c.len(), 1);
    }
}
