//! OpenID Connect, the relying party's pure half: the provider's discovery document and keys,
//! the authorization URL (code flow, PKCE S256, state and nonce), and the ID token's verification
//! (RS256 or ES256 signature over the JWKS key its `kid` names, `iss`, `aud`, `exp`, `iat`,
//! `nonce`), and the role a user gets from a configured claim. The HTTP requests themselves go
//! through an [`OidcTransport`] the proxy implements.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use parking_lot::Mutex;
use ring::signature;
use serde::Deserialize;
use serde_json::Value;

use super::records::Role;
use crate::control::BoxFuture;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
const SKEW_SECS: i64 = 60;

/// The `[access.oidc]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret (sent with HTTP Basic to the token endpoint); none for a public client.
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: `{public admin URL}/auth/callback`.
    pub redirect_url: String,
    /// Scopes asked for (`openid` always).
    pub scopes: Vec<String>,
    /// The claim (a dotted path) whose values pick the role (default `groups`).
    pub role_claim: String,
    /// Claim values that make an admin.
    pub admin_values: Vec<String>,
    /// Claim values that make a user.
    pub user_values: Vec<String>,
    /// Claim values that make a read-only user.
    pub readonly_values: Vec<String>,
    /// The role when no value matches.
    pub default_role: Role,
}

impl OidcConfig {
    /// `oidc:{host[:port]}` of the issuer: the identity source of its users.
    pub fn identity_source(&self) -> String {
        let rest = self.issuer.split_once("://").map_or(self.issuer.as_str(), |(_, r)| r);
        format!("oidc:{}", rest.split('/').next().unwrap_or(rest))
    }

    /// The role the claims give: admin over user over read-only, else the default.
    pub fn role_of(&self, claims: &Value) -> Role {
        let mut node = claims;
        for part in self.role_claim.split('.') {
            node = node.get(part).unwrap_or(&Value::Null);
        }
        let values: Vec<&str> = match node {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let any = |wanted: &[String]| values.iter().any(|v| wanted.iter().any(|w| w == v));
        if any(&self.admin_values) {
            Role::Admin
        } else if any(&self.user_values) {
            Role::User
        } else if any(&self.readonly_values) {
            Role::Readonly
        } else {
            self.default_role
        }
    }
}

/// HTTP for the relying party: GET a URL, POST a form (with HTTP Basic credentials if given).
/// Resolves to the status and body.
pub trait OidcTransport: Send + Sync {
    /// GET `url`.
    fn get(&self, url: &str) -> BoxFuture<'static, Result<(u16, Vec<u8>), String>>;
    /// POST `form` to `url`.
    fn post_form(
        &self,
        url: &str,
        form: Vec<(String, String)>,
        basic: Option<(String, String)>,
    ) -> BoxFuture<'static, Result<(u16, Vec<u8>), String>>;
}

/// The provider's endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// `issuer`, which ID tokens must carry.
    pub issuer: String,
    /// Where the browser goes.
    pub authorization_endpoint: String,
    /// Where codes become tokens.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
}

/// One key of a JWKS.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    #[serde(default)]
    kid: Option<String>,
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// The provider's endpoints and signing keys, as last fetched.
pub type Provider = (Arc<Discovery>, Arc<Vec<Jwk>>);

/// The relying party: settings, transport, and what it learned of the provider.
pub struct Oidc {
    /// Settings.
    pub cfg: OidcConfig,
    transport: Box<dyn OidcTransport>,
    discovered: Mutex<Option<Provider>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.cfg.issuer)
            .finish_non_exhaustive()
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(t: &dyn OidcTransport, url: &str) -> Result<T, String> {
    let (status, body) = t.get(url).await?;
    if status != 200 {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
}

impl Oidc {
    /// A relying party for `cfg` over `transport`; nothing is fetched until first needed.
    pub fn new(cfg: OidcConfig, transport: Box<dyn OidcTransport>) -> Oidc {
        Oidc {
            cfg,
            transport,
            discovered: Mutex::new(None),
        }
    }

    /// The provider's endpoints and keys (fetched once; `refresh` fetches them again, for a key
    /// rotated since).
    pub async fn provider(&self, refresh: bool) -> Result<Provider, String> {
        if !refresh {
            if let Some(d) = self.discovered.lock().clone() {
                return Ok(d);
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer.trim_end_matches('/')
        );
        let d: Discovery = fetch_json(self.transport.as_ref(), &url).await?;
        if d.issuer.trim_end_matches('/') != self.cfg.issuer.trim_end_matches('/') {
            return Err(format!("the discovery document names issuer {:?}", d.issuer));
        }
        let keys: Jwks = fetch_json(self.transport.as_ref(), &d.jwks_uri).await?;
        let found = (Arc::new(d), Arc::new(keys.keys));
        *self.discovered.lock() = Some(found.clone());
        Ok(found)
    }

    /// The URL that starts a login.
    pub fn authorization_url(&self, d: &Discovery, state: &str, nonce: &str, verifier: &str) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(self.cfg.scopes.iter().filter(|s| *s != "openid").cloned());
        let params = [
            ("response_type", "code"),
            ("client_id", &self.cfg.client_id),
            ("redirect_uri", &self.cfg.redirect_url),
            ("scope", &scopes.join(" ")),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect();
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{}", d.authorization_endpoint, query.join("&"))
    }

    /// Exchanges `code` for tokens and verifies the ID token; its claims.
    pub async fn finish(&self, code: &str, verifier: &str, nonce: &str, now_s: i64) -> Result<Value, String> {
        let (d, _) = self.provider(false).await?;
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), self.cfg.redirect_url.clone()),
            ("client_id".to_owned(), self.cfg.client_id.clone()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ];
        let basic = self
            .cfg
            .client_secret
            .as_ref()
            .map(|s| (form_encode(&self.cfg.client_id), form_encode(s)));
        let (status, body) = self.transport.post_form(&d.token_endpoint, form, basic).await?;
        if status != 200 {
            return Err(format!(
                "token endpoint: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let tokens: Value = serde_json::from_slice(&body).map_err(|e| format!("token endpoint: {e}"))?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or("the token response has no id_token")?;
        let kid = jwt_kid(id_token)?;
        let (_, mut keys) = self.provider(false).await?;
        if !keys.iter().any(|k| k.kid.as_deref() == kid.as_deref()) {
            keys = self.provider(true).await?.1;
        }
        verify_id_token(id_token, &keys, &d.issuer, &self.cfg.client_id, nonce, now_s)
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (also fine in a query string).
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn b64(part: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| "the ID token is not base64url".to_owned())
}

/// The `kid` of a JWT's header.
fn jwt_kid(token: &str) -> Result<Option<String>, String> {
    let header = token.split('.').next().ok_or("the ID token is empty")?;
    let h: Value = serde_json::from_slice(&b64(header)?).map_err(|e| format!("ID token header: {e}"))?;
    Ok(h.get("kid").and_then(Value::as_str).map(str::to_owned))
}

/// Verifies an ID token: three parts, an RS256 or ES256 signature by the key of its `kid` (or
/// the only key of that type), then `iss`, `aud` (or `azp`), `exp`, `iat` and `nonce`. Its
/// claims.
pub fn verify_id_token(
    token: &str,
    keys: &[Jwk],
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now_s: i64,
) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, sig] = parts[..] else {
        return Err("the ID token is not a signed JWT".into());
    };
    let h: Value = serde_json::from_slice(&b64(header)?).map_err(|e| format!("ID token header: {e}"))?;
    let alg = h.get("alg").and_then(Value::as_str).unwrap_or_default();
    let kid = h.get("kid").and_then(Value::as_str);
    let kty = match alg {
        "RS256" => "RSA",
        "ES256" => "EC",
        other => return Err(format!("ID token algorithm {other:?} is not accepted (RS256, ES256)")),
    };
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|k| k.kty == kty && (kid.is_none() || k.kid.as_deref() == kid))
        .collect();
    let signed = format!("{header}.{payload}");
    let signature = b64(sig)?;
    let ok = candidates
        .iter()
        .any(|k| verify_with(k, alg, signed.as_bytes(), &signature));
    if !ok {
        return Err("the ID token's signature does not verify".into());
    }
    let claims: Value = serde_json::from_slice(&b64(payload)?).map_err(|e| format!("ID token claims: {e}"))?;
    if claims
        .get("iss")
        .and_then(Value::as_str)
        .map(|s| s.trim_end_matches('/'))
        != Some(issuer.trim_end_matches('/'))
    {
        return Err("the ID token's issuer is not the provider".into());
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err("the ID token is not for this client".into());
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("the ID token has no exp")?;
    if now_s > exp + SKEW_SECS {
        return Err("the ID token has expired".into());
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_some_and(|iat| iat > now_s + SKEW_SECS)
    {
        return Err("the ID token was issued in the future".into());
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err("the ID token's nonce does not match this login".into());
    }
    if claims.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err("the ID token has no subject".into());
    }
    Ok(claims)
}

/// Whether `key` verifies `sig` over `msg` for `alg`.
fn verify_with(key: &Jwk, alg: &str, msg: &[u8], sig: &[u8]) -> bool {
    let dec = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
    };
    match alg {
        "RS256" => match (dec(&key.n), dec(&key.e)) {
            (Some(n), Some(e)) => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
            _ => false,
        },
        "ES256" if key.crv.as_deref() == Some("P-256") => match (dec(&key.x), dec(&key.y)) {
            (Some(x), Some(y)) => {
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    fn es256_key() -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let jwk = Jwk {
            kid: Some("k1".into()),
            kty: "EC".into(),
            n: None,
            e: None,
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(&public[1..33])),
            y: Some(URL_SAFE_NO_PAD.encode(&public[33..65])),
        };
        (pair, jwk)
    }

    fn sign(pair: &EcdsaKeyPair, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": "k1"}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let msg = format!("{header}.{payload}");
        let sig = pair.sign(&SystemRandom::new(), msg.as_bytes()).unwrap();
        format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    #[test]
    fn id_tokens_verify_only_when_every_check_holds() {
        let (pair, jwk) = es256_key();
        let keys = vec![jwk];
        let good = json!({"iss": "http://idp", "aud": "s3o", "exp": 2000, "iat": 1000, "nonce": "n1", "sub": "alice"});
        let token = sign(&pair, &good);
        assert_eq!(
            verify_id_token(&token, &keys, "http://idp", "s3o", "n1", 1500).unwrap()["sub"],
            "alice"
        );
        for (what, claims, nonce, now) in [
            (
                "issuer",
                json!({"iss": "http://evil", "aud": "s3o", "exp": 2000, "nonce": "n1", "sub": "a"}),
                "n1",
                1500,
            ),
            (
                "audience",
                json!({"iss": "http://idp", "aud": "other", "exp": 2000, "nonce": "n1", "sub": "a"}),
                "n1",
                1500,
            ),
            (
                "expiry",
                json!({"iss": "http://idp", "aud": "s3o", "exp": 1000, "nonce": "n1", "sub": "a"}),
                "n1",
                1500,
            ),
            (
                "nonce",
                json!({"iss": "http://idp", "aud": "s3o", "exp": 2000, "nonce": "n2", "sub": "a"}),
                "n1",
                1500,
            ),
            (
                "subject",
                json!({"iss": "http://idp", "aud": "s3o", "exp": 2000, "nonce": "n1"}),
                "n1",
                1500,
            ),
        ] {
            assert!(
                verify_id_token(&sign(&pair, &claims), &keys, "http://idp", "s3o", nonce, now).is_err(),
                "{what}"
            );
        }
        // A tampered payload or a foreign key fails the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = json!({"iss": "http://idp", "aud": "s3o", "exp": 2000, "nonce": "n1", "sub": "admin"});
        parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
        let err = verify_id_token(&parts.join("."), &keys, "http://idp", "s3o", "n1", 1500).unwrap_err();
        assert!(err.contains("signature"), "{err}");
        let (other, _) = es256_key();
        assert!(verify_id_token(&sign(&other, &good), &keys, "http://idp", "s3o", "n1", 1500).is_err());
        let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), parts[1]);
        assert!(verify_id_token(&none_alg, &keys, "http://idp", "s3o", "n1", 1500).is_err());
    }

    #[test]
    fn roles_from_claims() {
        let cfg = OidcConfig {
            issuer: "https://idp.example:8443/realms/x".into(),
            client_id: "c".into(),
            client_secret: None,
            redirect_url: "http://a/auth/callback".into(),
            scopes: vec![],
            role_claim: "realm_access.roles".into(),
            admin_values: vec!["ops".into()],
            user_values: vec!["dev".into()],
            readonly_values: vec!["guest".into()],
            default_role: Role::Readonly,
        };
        assert_eq!(cfg.identity_source(), "oidc:idp.example:8443");
        let claims = |v: Value| json!({ "realm_access": { "roles": v } });
        assert_eq!(cfg.role_of(&claims(json!(["dev", "ops"]))), Role::Admin);
        assert_eq!(cfg.role_of(&claims(json!("dev"))), Role::User);
        assert_eq!(cfg.role_of(&claims(json!(["x"]))), Role::Readonly);
        assert_eq!(cfg.role_of(&json!({})), Role::Readonly);
        assert_eq!(form_encode("a b/c"), "a%20b%2Fc");
    }
}
