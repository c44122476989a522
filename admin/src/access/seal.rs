//! Sealing secrets at rest: AES-256-GCM (ring) under the deployment's access key, with a fresh
//! random 96-bit nonce per seal and the record's id as associated data, so a sealed secret moved
//! to another record (or altered by one bit) does not open. A sealed value is
//! `v1.` + base64url(nonce ‖ ciphertext ‖ tag). The key comes from config or a key file as 32
//! bytes written in base64 or hex (64 digits); anything else is refused at startup with its cause.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::Error;

/// The prefix of every sealed value (the format's version).
const SEALED_PREFIX: &str = "v1.";

/// The key that seals and opens secrets. Its `Debug` shows nothing of the key.
pub struct SealKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// A key from its text form: 32 bytes as base64 (standard or URL-safe, padded or not) or as
    /// 64 hex digits; surrounding whitespace (a key file's newline) is ignored.
    pub fn parse(text: &str) -> Result<SealKey, Error> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| Error::bad_request("the secret key is not valid hex"))?
        } else {
            STANDARD
                .decode(t)
                .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
                .map_err(|_| Error::bad_request("the secret key is neither base64 nor 64 hex digits"))?
        };
        if bytes.len() != 32 {
            return Err(Error::bad_request(format!(
                "the secret key must be 32 bytes (AES-256), it is {}",
                bytes.len()
            )));
        }
        SealKey::from_bytes(&bytes)
    }

    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SealKey, Error> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::bad_request("the secret key must be 32 bytes (AES-256)"))?;
        Ok(SealKey {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Seals `secret` for the record `id`.
    pub fn seal(&self, id: &str, secret: &[u8]) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| Error::Random)?;
        let mut out = secret.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(id.as_bytes()), &mut out)
            .map_err(|_| Error::internal("sealing failed"))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&out);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Opens a value sealed for `id`; `None` when it was sealed under another key or for another
    /// record, or was altered.
    pub fn open(&self, id: &str, sealed: &str) -> Option<Vec<u8>> {
        let blob = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if blob.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(id.as_bytes()), &mut buf).ok()?;
        Some(plain.to_vec())
    }
}

/// Fills a fresh array with random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    SystemRandom::new().fill(&mut b).map_err(|_| Error::Random)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::parse(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn seals_and_opens_only_for_the_same_record_and_key() {
        let k = key();
        let sealed = k.seal("AKIAEXAMPLE", b"secret-value").unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("secret"));
        assert_eq!(k.open("AKIAEXAMPLE", &sealed).unwrap(), b"secret-value");
        assert_eq!(k.open("AKIAOTHER", &sealed), None, "bound to its record");
        let other = SealKey::parse(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(other.open("AKIAEXAMPLE", &sealed), None, "bound to its key");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(k.open("AKIAEXAMPLE", std::str::from_utf8(&tampered).unwrap()), None);
        assert_ne!(
            k.seal("AKIAEXAMPLE", b"x").unwrap(),
            k.seal("AKIAEXAMPLE", b"x").unwrap()
        );
        for junk in ["", "v1.", "v1.!!!", "v2.AAAA", "v1.AAAA"] {
            assert_eq!(k.open("AKIAEXAMPLE", junk), None, "{junk:?}");
        }
    }

    #[test]
    fn key_forms() {
        assert!(SealKey::parse(&format!("{}\n", STANDARD.encode([1u8; 32]))).is_ok());
        assert!(SealKey::parse(&URL_SAFE_NO_PAD.encode([255u8; 32])).is_ok());
        assert!(SealKey::parse(&"0f".repeat(32)).is_ok());
        let short = SealKey::parse(&STANDARD.encode([1u8; 16])).unwrap_err();
        assert!(short.to_string().contains("32 bytes"), "{short}");
        assert!(SealKey::parse("not a key").is_err());
        assert_eq!(format!("{:?}", key()), "SealKey(..)");
    }
}
