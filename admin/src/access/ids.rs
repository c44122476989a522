//! The random names the access layer hands out: S3 access keys (`AKIA` + 16 base32 characters,
//! the AWS shape every client accepts), 40-character secrets (160 bits as lower-case hex),
//! session ids and CSRF tokens (256 bits, base64url), user ids (ULIDs: time-ordered, 26
//! characters of Crockford's base32). All from the system CSPRNG; the
//! stored form of a session id is its SHA-256, so the store never holds a usable session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::seal::random_bytes;
use crate::error::Error;

/// RFC 4648 base32 alphabet (upper case), the characters of an access key after `AKIA`.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Crockford's base32 alphabet, a ULID's characters.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Length of a secret access key.
pub const SECRET_LEN: usize = 40;
/// Length of an access key id.
pub const ACCESS_KEY_LEN: usize = 20;

/// A new access key id: `AKIA` and 16 base32 characters (80 random bits).
pub fn new_access_key() -> Result<String, Error> {
    let bytes: [u8; 16] = random_bytes()?;
    let tail: String = bytes.iter().map(|b| char::from(BASE32[usize::from(b & 31)])).collect();
    Ok(format!("AKIA{tail}"))
}

/// Whether `s` has the shape of an access key this layer mints.
pub fn is_access_key(s: &str) -> bool {
    s.len() == ACCESS_KEY_LEN && s.starts_with("AKIA") && s.bytes().skip(4).all(|b| BASE32.contains(&b))
}

/// A new secret access key: 20 random bytes as 40 lower-case hex digits.
pub fn new_secret() -> Result<String, Error> {
    let bytes: [u8; SECRET_LEN / 2] = random_bytes()?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new session id or CSRF token: 32 random bytes, base64url.
pub fn new_token() -> Result<String, Error> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A new user id: a ULID for `now_ms` (48 bits of time, 80 random bits).
pub fn new_user_id(now_ms: u64) -> Result<String, Error> {
    let random: [u8; 10] = random_bytes()?;
    let mut value = u128::from(now_ms & ((1 << 48) - 1)) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    Ok((0..26)
        .rev()
        .map(|i| char::from(CROCKFORD[((value >> (5 * i)) & 31) as usize]))
        .collect())
}

/// The stored form of a session id: its SHA-256, base64url.
pub fn token_digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let k = new_access_key().unwrap();
        assert!(is_access_key(&k), "{k}");
        assert_ne!(k, new_access_key().unwrap());
        assert!(!is_access_key("AKIA123"));
        assert!(!is_access_key("AKIAabcdefghijklmnop"));
        let s = new_secret().unwrap();
        assert_eq!(s.len(), SECRET_LEN);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(new_token().unwrap().len(), 43);
        let (a, b) = (new_user_id(1_000).unwrap(), new_user_id(2_000).unwrap());
        assert_eq!(a.len(), 26);
        assert!(a < b, "ULIDs sort by time: {a} {b}");
        assert!(a.starts_with("0000000"), "{a}");
        assert_eq!(token_digest("a"), token_digest("a"));
        assert_ne!(token_digest("a"), token_digest("b"));
    }
}
