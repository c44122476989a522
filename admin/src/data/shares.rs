//! Shares: links that let anyone with the code fetch one object (`/api/shares` to make, list
//! and revoke them; the public `/s/{code}/info`, `/unlock` and `/raw`). Kept in the store's
//! document collections (`shares` by id, `share-codes` by code, `shares-by-user` per creator),
//! so every instance sharing a store serves them. A share may carry an argon2id password
//! (unlocked for 30 minutes by an HMAC-signed cookie whose key lives in the store), an expiry
//! and a download cap; each `/raw` request counts one download, atomically (a conditional
//! write on the share's revision), before any byte goes out. The public pages allow
//! `[access] share_per_minute` requests a minute per address (10 by default).

use base64::Engine as _;
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use s3o_store::DocWrite;

use super::handlers::{body, key_ok, no_content};
use super::{dto::rfc3339, Bkt, DataApi, DataError, DataRoute};
use crate::access::records::{all, apply, encode};
use crate::access::Access;
use crate::api::{api_error, audit::event, Caller};
use crate::http::{Request, Response};

/// Shares by id.
pub const SHARES: &str = "shares";
/// Share ids by code.
pub const SHARE_CODES: &str = "share-codes";
/// `{user}/{share id}` of each share's creator.
pub const SHARES_BY_USER: &str = "shares-by-user";
/// Where the unlock cookies' key lives (collection, id).
const UNLOCK_KEY: (&str, &str) = ("access", "share-unlock-key");
/// How long an unlock lasts.
const UNLOCK_SECS: u64 = 1800;
/// Conditional writes tried before a download count gives up (racing downloads).
const COUNT_TRIES: usize = 16;

/// A stored share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Share {
    /// Its id (time-ordered).
    pub id: String,
    /// The code in its URL (10 random bytes, base64url).
    pub code: String,
    /// The backend of the object.
    pub backend_id: String,
    /// The bucket of the object.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The creator's user id.
    pub created_by: String,
    /// When it was made, ms.
    pub created_ms: u64,
    /// When it stops serving, ms.
    #[serde(default)]
    pub expires_ms: Option<u64>,
    /// The argon2id hash of its password (`""`: none).
    #[serde(default)]
    pub password_hash: String,
    /// Most downloads (`None`: unlimited).
    #[serde(default)]
    pub max_downloads: Option<u64>,
    /// Downloads so far.
    #[serde(default)]
    pub download_count: u64,
    /// When it was revoked, ms.
    #[serde(default)]
    pub revoked_ms: Option<u64>,
    /// When it was last downloaded, ms.
    #[serde(default)]
    pub last_accessed_ms: Option<u64>,
    /// `attachment` or `inline`.
    pub disposition: String,
}

impl Share {
    /// The seed's share DTO.
    fn view(&self) -> Value {
        let mut v = json!({
            "id": self.id, "code": self.code, "url": format!("/s/{}", self.code),
            "backend_id": self.backend_id, "bucket": self.bucket, "key": self.key,
            "created_by": self.created_by, "created_at": rfc3339(self.created_ms),
        });
        if let Some(e) = self.expires_ms {
            v["expires_at"] = json!(rfc3339(e));
        }
        v["has_password"] = json!(!self.password_hash.is_empty());
        if let Some(m) = self.max_downloads {
            v["max_downloads"] = json!(m);
        }
        v["download_count"] = json!(self.download_count);
        v["revoked"] = json!(self.revoked_ms.is_some());
        if let Some(r) = self.revoked_ms {
            v["revoked_at"] = json!(rfc3339(r));
        }
        if let Some(l) = self.last_accessed_ms {
            v["last_accessed_at"] = json!(rfc3339(l));
        }
        v["disposition"] = json!(self.disposition);
        v
    }

    /// Why the share serves nothing now (410), if it does not.
    fn gone(&self, now_ms: u64) -> Option<Response> {
        if self.revoked_ms.is_some() {
            return Some(api_error(410, "revoked", "share revoked"));
        }
        if self.expires_ms.is_some_and(|e| e <= now_ms) {
            return Some(api_error(410, "expired", "share expired"));
        }
        if self.max_downloads.is_some_and(|m| self.download_count >= m) {
            return Some(api_error(410, "exhausted", "download limit reached"));
        }
        None
    }

    /// The bucket it shares from.
    pub fn bkt(&self) -> Bkt {
        Bkt {
            bid: self.backend_id.clone(),
            bucket: self.bucket.clone(),
        }
    }
}

fn internal() -> Response {
    api_error(500, "internal", "internal error")
}

/// The share with id `id` and its revision.
async fn by_id(access: &Access, id: &str) -> Result<Option<(Share, u64)>, Response> {
    let doc = access.store.doc(SHARES, id).await.map_err(|_| internal())?;
    match doc {
        None => Ok(None),
        Some(d) => Ok(Some((
            serde_json::from_slice(&d.value).map_err(|_| internal())?,
            d.revision,
        ))),
    }
}

/// The share with code `code` and its revision.
async fn by_code(access: &Access, code: &str) -> Result<Option<(Share, u64)>, Response> {
    let doc = access.store.doc(SHARE_CODES, code).await.map_err(|_| internal())?;
    match doc {
        None => Ok(None),
        Some(d) => by_id(access, &String::from_utf8_lossy(&d.value)).await,
    }
}

/// Answers `GET|POST /api/shares` and `DELETE /api/shares/{id}`.
pub(super) async fn handle(
    route: DataRoute,
    req: &Request,
    access: &Access,
    caller: &Caller,
    data: &dyn DataApi,
) -> Response {
    let result = match route {
        DataRoute::Shares => list(req, access, caller).await,
        DataRoute::CreateShare => create(req, access, caller, data).await,
        DataRoute::RevokeShare(id) => revoke(req, access, caller, &id).await,
        _ => Err(internal()),
    };
    result.unwrap_or_else(|r| r)
}

async fn list(req: &Request, access: &Access, caller: &Caller) -> Result<Response, Response> {
    let everyone = req.query_param("scope").ok().flatten().as_deref() == Some("all");
    if everyone && caller.user.role != crate::access::records::Role::Admin {
        return Err(api_error(403, "forbidden", "admin only"));
    }
    let mut shares: Vec<Share> = if everyone {
        all::<Share>(&access.store, SHARES, "")
            .await
            .map_err(|_| internal())?
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    } else {
        let mine = crate::access::records::ids(&access.store, SHARES_BY_USER, &format!("{}/", caller.user.id))
            .await
            .map_err(|_| internal())?;
        let mut out = Vec::with_capacity(mine.len());
        for id in mine {
            if let Some((s, _)) = by_id(access, id.rsplit('/').next().unwrap_or_default()).await? {
                out.push(s);
            }
        }
        out
    };
    shares.sort_by_key(|s| std::cmp::Reverse(s.created_ms));
    let views: Vec<Value> = shares.iter().map(Share::view).collect();
    Ok(Response::json(200, &json!({ "shares": views })))
}

async fn create(req: &Request, access: &Access, caller: &Caller, data: &dyn DataApi) -> Result<Response, Response> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        backend_id: String,
        #[serde(default)]
        bucket: String,
        #[serde(default)]
        key: String,
        #[serde(default)]
        expires_at: String,
        #[serde(default)]
        password: String,
        #[serde(default)]
        max_downloads: i64,
        #[serde(default)]
        disposition: String,
    }
    let b: Body = body(req, 4096)?;
    let bad = |why: &str| api_error(400, "bad_request", &format!("invalid share parameters: {why}"));
    if !key_ok(&b.key) {
        return Err(api_error(400, "invalid_key", "object key is invalid"));
    }
    let expires_ms = match b.expires_at.as_str() {
        "" => None,
        t => Some(
            crate::time::parse_rfc3339_ms(t)
                .ok_or_else(|| api_error(400, "bad_request", "expires_at must be RFC3339"))?,
        ),
    };
    let now = access.now();
    if b.backend_id.is_empty() || b.bucket.is_empty() {
        return Err(bad("backend_id, bucket and key are required"));
    }
    if expires_ms.is_some_and(|e| e <= now) {
        return Err(bad("expires_at must be in the future"));
    }
    if b.max_downloads < 0 {
        return Err(bad("max_downloads must be >= 0"));
    }
    let disposition = match b.disposition.as_str() {
        "" | "attachment" => "attachment",
        "inline" => "inline",
        _ => return Err(bad("disposition must be attachment or inline")),
    };
    let bkt = Bkt {
        bid: b.backend_id.clone(),
        bucket: b.bucket.clone(),
    };
    match data.info(&bkt, &b.key, None).await {
        Ok(_) => {}
        Err(DataError::NotFound(m)) if m == "backend not found" => {
            return Err(api_error(502, "backend_error", "backend unavailable"));
        }
        Err(_) => return Err(bad("target object not reachable")),
    }
    let password_hash = match b.password.as_str() {
        "" => String::new(),
        p => crate::auth::hash_password(p).map_err(|_| internal())?,
    };
    let id = crate::access::ids::new_user_id(now).map_err(|_| internal())?;
    for _ in 0..5 {
        let code_bytes: [u8; 10] = crate::access::seal::random_bytes().map_err(|_| internal())?;
        let share = Share {
            id: id.clone(),
            code: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(code_bytes),
            backend_id: b.backend_id.clone(),
            bucket: b.bucket.clone(),
            key: b.key.clone(),
            created_by: caller.user.id.clone(),
            created_ms: now,
            expires_ms,
            password_hash: password_hash.clone(),
            max_downloads: u64::try_from(b.max_downloads).ok().filter(|m| *m > 0),
            download_count: 0,
            revoked_ms: None,
            last_accessed_ms: None,
            disposition: disposition.to_owned(),
        };
        let writes = vec![
            DocWrite::create(SHARE_CODES, &share.code, id.clone().into_bytes()),
            DocWrite::create(SHARES, &id, encode(&share).map_err(|_| internal())?),
            DocWrite::put(SHARES_BY_USER, &format!("{}/{id}", caller.user.id), Vec::new()),
        ];
        if apply(&access.store, writes).await.map_err(|_| internal())? {
            let mut e = event(req, access, &caller.user.id, "share.create");
            (e.backend, e.bucket, e.key) = (share.backend_id.clone(), share.bucket.clone(), share.key.clone());
            e.detail = json!({"code": share.code, "has_password": !share.password_hash.is_empty(),
                "max_downloads": share.max_downloads.unwrap_or(0), "share_id": share.id})
            .to_string();
            access.audit.record(e);
            return Ok(Response::json(201, &share.view()));
        }
    }
    Err(internal())
}

async fn revoke(req: &Request, access: &Access, caller: &Caller, id: &str) -> Result<Response, Response> {
    let not_found = || api_error(404, "not_found", "share not found");
    let admin = caller.user.role == crate::access::records::Role::Admin;
    for _ in 0..COUNT_TRIES {
        let Some((mut share, revision)) = by_id(access, id).await? else {
            return Err(not_found());
        };
        if share.created_by != caller.user.id && !admin {
            return Err(not_found());
        }
        if share.revoked_ms.is_none() {
            share.revoked_ms = Some(access.now());
            let write = DocWrite::replace(SHARES, id, revision, encode(&share).map_err(|_| internal())?);
            if !apply(&access.store, vec![write]).await.map_err(|_| internal())? {
                continue;
            }
        }
        let mut e = event(req, access, &caller.user.id, "share.revoke");
        e.detail = json!({ "share_id": id }).to_string();
        access.audit.record(e);
        return Ok(no_content());
    }
    Err(internal())
}

/// The unlock cookies' key, made once and kept in the store (shared by every instance), sealed
/// under the access key when one is configured. A stored key that cannot be read as this
/// configuration keeps it (sealed under another key, or plain while a key is now set) is
/// replaced: unlocks made before then are asked again.
async fn unlock_key(access: &Access) -> Result<hmac::Key, Response> {
    let (collection, id) = UNLOCK_KEY;
    for _ in 0..2 {
        let stored = access.store.doc(collection, id).await.map_err(|_| internal())?;
        if let Some(raw) = stored.as_ref().and_then(|d| open_unlock_key(access, &d.value)) {
            return Ok(hmac::Key::new(hmac::HMAC_SHA256, &raw));
        }
        let fresh: [u8; 32] = crate::access::seal::random_bytes().map_err(|_| internal())?;
        let value = match access.seal.as_deref() {
            Some(k) => k.seal(id, &fresh).map_err(|_| internal())?.into_bytes(),
            None => fresh.to_vec(),
        };
        let write = match &stored {
            None => DocWrite::create(collection, id, value),
            Some(d) => DocWrite::replace(collection, id, d.revision, value),
        };
        // A lost race means another instance wrote one: read it on the next turn.
        apply(&access.store, vec![write]).await.map_err(|_| internal())?;
    }
    Err(internal())
}

/// The unlock key a stored value holds, if this configuration can read it.
fn open_unlock_key(access: &Access, value: &[u8]) -> Option<Vec<u8>> {
    let sealed = std::str::from_utf8(value).ok().filter(|v| v.starts_with("v1."));
    match (access.seal.as_deref(), sealed) {
        (Some(k), Some(sealed)) => k.open(UNLOCK_KEY.1, sealed).filter(|raw| raw.len() == 32),
        (None, None) => (value.len() == 32).then(|| value.to_vec()),
        _ => None,
    }
}

fn cookie_name(code: &str) -> String {
    format!("stowage_unlock_{code}")
}

fn unlock_mac(key: &hmac::Key, code: &str, expiry: u64) -> String {
    let mut msg = code.as_bytes().to_vec();
    msg.push(0);
    msg.extend_from_slice(expiry.to_string().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac::sign(key, &msg).as_ref())
}

/// Whether the request carries a live unlock cookie for `code`.
async fn unlocked(access: &Access, req: &Request, code: &str) -> Result<bool, Response> {
    let name = cookie_name(code);
    let value = req
        .header("cookie")
        .into_iter()
        .flat_map(|c| c.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned());
    let Some((expiry, mac)) = value.as_deref().and_then(|v| v.split_once('.')) else {
        return Ok(false);
    };
    let Ok(expiry) = expiry.parse::<u64>() else {
        return Ok(false);
    };
    if expiry.saturating_mul(1000) <= access.now() {
        return Ok(false);
    }
    let key = unlock_key(access).await?;
    let want = unlock_mac(&key, code, expiry);
    Ok(crate::api::session::constant_time_eq(want.as_bytes(), mac.as_bytes()))
}

/// The public pages' gate: the address's limit, the share (404), its state (410), then its
/// password (`for_unlock`: checked by the caller instead).
pub async fn gate(access: &Access, req: &Request, code: &str, for_unlock: bool) -> Result<(Share, u64), Response> {
    let ip = access.cfg.trusted_proxies.client_ip(req);
    if access
        .share_limiter
        .check(&crate::access::ratelimit::ip_key(ip), access.now())
        .is_err()
    {
        return Err(api_error(429, "rate_limited", "too many attempts; try again later"));
    }
    let (share, revision) = by_code(access, code)
        .await?
        .ok_or_else(|| api_error(404, "not_found", "share not found"))?;
    if let Some(gone) = share.gone(access.now()) {
        return Err(gone);
    }
    if !for_unlock && !share.password_hash.is_empty() && !unlocked(access, req, code).await? {
        return Err(api_error(401, "password_required", "password required"));
    }
    Ok((share, revision))
}

/// Counts one download of `share`, atomically against its cap: 410 when it can serve no more.
/// A share without a cap is served even when racing downloads keep its count from being
/// written (the count is then short).
pub async fn count_download(access: &Access, share: &Share) -> Result<(), Response> {
    let exhausted = || api_error(410, "exhausted", "this share link is no longer available");
    for _ in 0..COUNT_TRIES {
        let Some((mut s, revision)) = by_id(access, &share.id).await? else {
            return Err(exhausted());
        };
        if s.gone(access.now()).is_some() {
            return Err(exhausted());
        }
        s.download_count += 1;
        s.last_accessed_ms = Some(access.now());
        let write = DocWrite::replace(SHARES, &s.id, revision, encode(&s).map_err(|_| internal())?);
        if apply(&access.store, vec![write]).await.map_err(|_| internal())? {
            return Ok(());
        }
    }
    if share.max_downloads.is_none() {
        return Ok(());
    }
    Err(api_error(
        503,
        "store_unavailable",
        "too many concurrent downloads; retry",
    ))
}

/// The preview kind of a file (`image`, `video`, `audio`, `pdf`, `text`, `none`).
fn preview_kind(content_type: Option<&str>, name: &str) -> &'static str {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let by_type = if ct.starts_with("image/") {
        "image"
    } else if ct.starts_with("video/") {
        "video"
    } else if ct.starts_with("audio/") {
        "audio"
    } else if ct == "application/pdf" {
        "pdf"
    } else if ct.starts_with("text/")
        || matches!(
            ct.as_str(),
            "application/json" | "application/x-yaml" | "application/yaml"
        )
    {
        "text"
    } else {
        "none"
    };
    if by_type != "none" {
        return by_type;
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "avif" | "bmp" | "svg" => "image",
        "mp4" | "webm" | "mov" | "m4v" | "mkv" => "video",
        "mp3" | "wav" | "ogg" | "flac" | "m4a" => "audio",
        "pdf" => "pdf",
        "txt" | "md" | "markdown" | "csv" | "tsv" | "json" | "yaml" | "yml" | "log" | "ini" | "toml" | "sh" | "js"
        | "ts" | "css" | "html" | "xml" | "go" | "py" | "rb" | "rs" | "java" | "c" | "h" | "cpp" | "sql" => "text",
        _ => "none",
    }
}

/// The seed's share info DTO.
async fn info_of(share: &Share, data: &dyn DataApi) -> Result<Value, Response> {
    let o = data
        .info(&share.bkt(), &share.key, None)
        .await
        .map_err(|_| api_error(502, "backend_error", "could not read shared object"))?;
    let name = share
        .key
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or(&share.key)
        .to_owned();
    let mut v = json!({ "code": share.code, "name": name, "size": o.size });
    for (k, val) in [
        ("content_type", &o.content_type),
        ("etag", &o.etag),
        ("last_modified", &o.last_modified),
    ] {
        if let Some(x) = val {
            v[k] = json!(x);
        }
    }
    if let Some(e) = share.expires_ms {
        v["expires_at"] = json!(rfc3339(e));
    }
    v["has_password"] = json!(!share.password_hash.is_empty());
    if let Some(m) = share.max_downloads {
        v["max_downloads"] = json!(m);
    }
    v["download_count"] = json!(share.download_count);
    if let Some(left) = share
        .max_downloads
        .map(|m| m.saturating_sub(share.download_count))
        .filter(|l| *l > 0)
    {
        v["downloads_left"] = json!(left);
    }
    v["disposition"] = json!(share.disposition);
    v["preview_kind"] = json!(preview_kind(o.content_type.as_deref(), &name));
    v["raw_url"] = json!(format!("/s/{}/raw", share.code));
    Ok(v)
}

/// Answers `GET /s/{code}/info` and `POST /s/{code}/unlock`.
pub async fn public(route: DataRoute, req: &Request, access: &Access, data: Option<&dyn DataApi>) -> Response {
    let Some(data) = data else {
        return api_error(503, "store_unavailable", "the data API is not served by this instance");
    };
    let result = async {
        match route {
            DataRoute::ShareInfo(code) => {
                let (share, _) = gate(access, req, &code, false).await?;
                Ok(Response::json(200, &info_of(&share, data).await?).with_header("cache-control", "no-store"))
            }
            DataRoute::ShareUnlock(code) => {
                #[derive(Deserialize)]
                struct Body {
                    #[serde(default)]
                    password: String,
                }
                let b: Body = body(req, 4096)?;
                let (share, _) = gate(access, req, &code, true).await?;
                let mut cookie = None;
                if !share.password_hash.is_empty() {
                    if b.password.is_empty() || !crate::api::auth_verify(&b.password, &share.password_hash) {
                        return Err(api_error(401, "password_mismatch", "wrong password"));
                    }
                    let expiry = access.now() / 1000 + UNLOCK_SECS;
                    let mac = unlock_mac(&unlock_key(access).await?, &code, expiry);
                    let secure = if access.cfg.trusted_proxies.is_https(req) {
                        "; Secure"
                    } else {
                        ""
                    };
                    cookie = Some(format!(
                        "{}={expiry}.{mac}; Path=/s/{code}; HttpOnly; SameSite=Lax; Max-Age={UNLOCK_SECS}{secure}",
                        cookie_name(&code)
                    ));
                }
                let mut r = Response::json(200, &info_of(&share, data).await?).with_header("cache-control", "no-store");
                if let Some(c) = cookie {
                    r.headers.push(("set-cookie".into(), c));
                }
                Ok(r)
            }
            _ => Err(api_error(501, "not_supported", "this endpoint is not implemented yet")),
        }
    }
    .await;
    result.unwrap_or_else(|r: Response| r)
}
