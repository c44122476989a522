//! Session cookies: a stateless value `{user}.{expiry}.{tag}` where `user` is base64url, `expiry`
//! is Unix seconds and `tag` is the base64url HMAC-SHA256 (ring) of the first two parts under the
//! process's session key. Verification recomputes the tag in constant time and checks the expiry,
//! so a forged, re-signed (other key), truncated or expired cookie is refused. The key is random
//! per process unless configured, so a restart logs everyone out. Logout clears the browser's
//! cookie; a copied cookie stays valid until it expires (at most [`SESSION_TTL_SECS`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::Error;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "s3o_session";

/// How long a session lasts (seed 000: "24-hour TTL").
pub const SESSION_TTL_SECS: u64 = 24 * 3600;

/// Domain separation for the signed payload, so a tag from another use of the key never verifies.
const CONTEXT: &[u8] = b"s3o-session-v1\0";

/// The HMAC key that signs and verifies session cookies.
pub struct SessionKey {
    key: hmac::Key,
}

impl SessionKey {
    /// A key from configured secret bytes (sessions then survive restarts).
    pub fn from_secret(secret: &[u8]) -> Self {
        SessionKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A fresh random key for this process.
    pub fn random() -> Result<Self, Error> {
        let mut secret = [0u8; 32];
        SystemRandom::new().fill(&mut secret).map_err(|_| Error::Random)?;
        Ok(SessionKey::from_secret(&secret))
    }

    fn tag(&self, payload: &str) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(CONTEXT);
        ctx.update(payload.as_bytes());
        ctx.sign()
    }

    /// The cookie value for `user`, valid until `expires` (Unix seconds).
    pub fn issue(&self, user: &str, expires: u64) -> String {
        let payload = format!("{}.{expires}", URL_SAFE_NO_PAD.encode(user));
        let tag = self.tag(&payload);
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The user a cookie value was issued to, if its tag is ours and it has not expired at `now`
    /// (Unix seconds).
    pub fn verify(&self, value: &str, now: u64) -> Option<String> {
        let (payload, tag_b64) = value.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).ok()?;
        let mut msg = Vec::with_capacity(CONTEXT.len() + payload.len());
        msg.extend_from_slice(CONTEXT);
        msg.extend_from_slice(payload.as_bytes());
        hmac::verify(&self.key, &msg, &tag).ok()?;
        let (user_b64, expires) = payload.split_once('.')?;
        let expires: u64 = expires.parse().ok()?;
        if expires <= now {
            return None;
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(user_b64).ok()?).ok()
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_772_461_800;

    #[test]
    fn round_trip_and_expiry() {
        let k = SessionKey::random().unwrap();
        let c = k.issue("admin", NOW + SESSION_TTL_SECS);
        assert_eq!(k.verify(&c, NOW).as_deref(), Some("admin"));
        assert_eq!(k.verify(&c, NOW + SESSION_TTL_SECS - 1).as_deref(), Some("admin"));
        assert_eq!(k.verify(&c, NOW + SESSION_TTL_SECS), None);
    }

    #[test]
    fn forged_truncated_and_resigned_are_refused() {
        let k = SessionKey::from_secret(b"configured secret");
        let c = k.issue("admin", NOW + 60);
        let (user, rest) = c.split_once('.').unwrap();
        let (exp, tag) = rest.split_once('.').unwrap();
        // Another user or a later expiry with the original tag.
        let forged_user = format!("{}.{exp}.{tag}", URL_SAFE_NO_PAD.encode("root"));
        let forged_exp = format!("{user}.{}.{tag}", NOW + 10_000_000);
        // Signed with another key.
        let other = SessionKey::from_secret(b"another secret").issue("admin", NOW + 60);
        for bad in [
            forged_user.as_str(),
            forged_exp.as_str(),
            other.as_str(),
            &c[..c.len() - 1],
            &c[..c.len() - 20],
            &format!("{user}.{exp}"),
            &format!("{user}.{exp}."),
            &format!("{c}x"),
            "",
            "...",
            "not-a-cookie",
        ] {
            assert_eq!(k.verify(bad, NOW), None, "{bad}");
        }
        assert_eq!(k.verify(&c, NOW).as_deref(), Some("admin"));
    }
}
