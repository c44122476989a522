//! The access layer's records and where they live in the store's document collections:
//!
//! | collection      | id                         | value                                   |
//! |-----------------|----------------------------|-----------------------------------------|
//! | `users`         | user id (ULID)             | [`User`]                                |
//! | `usernames`     | lower-cased username       | the user id (unique names)              |
//! | `emails`        | lower-cased email          | the user id (unique emails)             |
//! | `sessions`      | SHA-256 of the session id  | [`Session`]                             |
//! | `user-sessions` | `{user id}/{digest}`       | empty (a user's sessions, to end them)  |
//! | `s3-creds`      | access key id              | [`Credential`] (secret sealed)          |
//! | `s3-creds-by-user` | `{user id}/{access key}` | empty (a user's credentials)          |
//! | `s3-anon`       | `{backend id}/{bucket}`    | [`Binding`]                             |
//! | `endpoints`     | endpoint id                | [`Endpoint`] (secret sealed): UI-managed backends |
//! | `access`        | `admins`                   | guard: bumped with every change to who is an enabled admin |
//! | `access`        | `s3`                       | guard: bumped with every credential, binding or endpoint change; proxies reload on a new revision |
//! | `audit`         | 16-digit event id          | [`AuditEvent`]                          |

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use s3o_store::{Doc, DocWrite, Store};

use crate::error::Error;

/// Collection of UI-managed backends (S3 endpoints).
pub const ENDPOINTS: &str = "endpoints";
/// Collection of users.
pub const USERS: &str = "users";
/// Unique usernames.
pub const USERNAMES: &str = "usernames";
/// Unique emails.
pub const EMAILS: &str = "emails";
/// Sessions by digest.
pub const SESSIONS: &str = "sessions";
/// A user's sessions.
pub const USER_SESSIONS: &str = "user-sessions";
/// Virtual S3 credentials.
pub const CREDS: &str = "s3-creds";
/// A user's credentials.
pub const CREDS_BY_USER: &str = "s3-creds-by-user";
/// Anonymous bindings.
pub const ANON: &str = "s3-anon";
/// Guard documents.
pub const GUARDS: &str = "access";
/// The guard over who is an enabled admin.
pub const ADMINS_GUARD: &str = "admins";
/// The guard whose revision tells proxies the credentials or bindings changed.
pub const S3_GUARD: &str = "s3";
/// Audit events.
pub const AUDIT: &str = "audit";

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, user management included.
    Admin,
    /// Reads and writes data, mints own credentials.
    User,
    /// Reads only.
    Readonly,
}

impl Role {
    /// The role named `s` (`admin`, `user`, `readonly`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            "readonly" => Some(Role::Readonly),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Readonly => "readonly",
        }
    }

    /// Whether it may change data (admin or user).
    pub fn writes(self) -> bool {
        self != Role::Readonly
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// ULID.
    pub id: String,
    /// Login name as entered (unique case-insensitively).
    pub username: String,
    /// Optional email (unique case-insensitively).
    #[serde(default)]
    pub email: Option<String>,
    /// Role.
    pub role: Role,
    /// `local` or `oidc:{issuer host}`.
    pub identity_source: String,
    /// The OpenID subject of an OIDC user.
    #[serde(default)]
    pub oidc_subject: Option<String>,
    /// argon2id PHC hash of a local user's password.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// A disabled user cannot log in and loses its sessions.
    pub enabled: bool,
    /// The user must change the password before using the API.
    pub must_change_pw: bool,
    /// Wrong passwords since the last success, unlock or reset.
    #[serde(default)]
    pub failed_attempts: u32,
    /// Locked out until then (ms since the epoch).
    #[serde(default)]
    pub locked_until_ms: Option<u64>,
    /// Creation time, ms.
    pub created_ms: u64,
    /// Who created it (a user id), if anyone.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Last successful login, ms.
    #[serde(default)]
    pub last_login_ms: Option<u64>,
}

impl User {
    /// Whether this user counts as an enabled admin (for the last-admin rule).
    pub fn is_enabled_admin(&self) -> bool {
        self.enabled && self.role == Role::Admin
    }
}

/// A login session (stored under the SHA-256 of its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Whose.
    pub user_id: String,
    /// The CSRF token mutations must carry.
    pub csrf: String,
    /// `local` or `oidc:{host}`.
    pub identity_source: String,
    /// The user had to change the password when this session began (cleared by changing it).
    pub must_change_pw: bool,
    /// Start, ms.
    pub created_ms: u64,
    /// Last request, ms (written at most once a minute).
    pub last_seen_ms: u64,
    /// Hard end, ms: the session never lives past it.
    pub expires_ms: u64,
    /// Client address at login.
    pub ip: String,
    /// User agent at login.
    #[serde(default)]
    pub user_agent: String,
}

/// What a credential may do within its buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Permission {
    /// Reads and writes (the seed's keys have full access).
    #[default]
    #[serde(rename = "read-write")]
    ReadWrite,
    /// Reads only.
    #[serde(rename = "read-only")]
    ReadOnly,
}

/// A virtual S3 credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// `AKIA` + 16 base32 characters.
    pub access_key: String,
    /// The secret, sealed (see [`super::seal`]).
    pub secret_sealed: String,
    /// The backend its buckets are on (the orchestrated store's id).
    pub backend_id: String,
    /// Its scope.
    pub buckets: Vec<String>,
    /// What it may do there.
    #[serde(default)]
    pub permission: Permission,
    /// Its owner (a user id), if any.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Whether an admin set its scope: only then are the buckets it names granted to it whatever
    /// their owners and ACLs say (a user's own key narrows what the user's account may do).
    #[serde(default)]
    pub scope_granted: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Refused while false.
    pub enabled: bool,
    /// Refused from then on (ms).
    #[serde(default)]
    pub expires_ms: Option<u64>,
    /// Creation, ms, and by whom.
    pub created_ms: u64,
    /// Creator's user id.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Last change, ms.
    pub updated_ms: u64,
    /// Who changed it last.
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// A backend managed through the API (`/api/admin/backends`): an S3 endpoint whose own buckets
/// the data API reaches directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Its id: 1-64 of `a-z 0-9 _ -`, starting alphanumeric.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Driver (`s3v4`).
    pub kind: String,
    /// `http(s)://host[:port]`.
    pub endpoint: String,
    /// Region to sign for (`""`: `us-east-1`).
    #[serde(default)]
    pub region: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// Access key id.
    pub access_key: String,
    /// The secret key, sealed with the endpoint's id (see [`super::seal`]).
    pub secret_sealed: Option<String>,
    /// Registered (served) while true.
    pub enabled: bool,
    /// Creation, ms.
    pub created_ms: u64,
    /// Creator's user id.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Last change, ms.
    pub updated_ms: u64,
    /// Who changed it last.
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// An anonymous binding: unsigned reads of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The backend (the orchestrated store's id).
    pub backend_id: String,
    /// The bucket.
    pub bucket: String,
    /// Only `ReadOnly`.
    pub mode: String,
    /// Requests per second per client address (0: the global default).
    pub per_source_ip_rps: u32,
    /// Creation, ms.
    pub created_ms: u64,
    /// Creator's user id.
    #[serde(default)]
    pub created_by: Option<String>,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditEvent {
    /// Unique, time-ordered.
    pub id: u64,
    /// When, ms.
    pub ts_ms: u64,
    /// Who (a user id, or an access key for S3 requests).
    #[serde(default)]
    pub user_id: String,
    /// What (`auth.login`, `s3_credential.create`, `s3.putobject`, …).
    pub action: String,
    /// Backend id.
    #[serde(default)]
    pub backend: String,
    /// Bucket.
    #[serde(default)]
    pub bucket: String,
    /// Object key.
    #[serde(default)]
    pub key: String,
    /// Request id.
    #[serde(default)]
    pub request_id: String,
    /// Client address.
    #[serde(default)]
    pub ip: String,
    /// User agent.
    #[serde(default)]
    pub user_agent: String,
    /// `ok`, `denied` or `error`.
    pub status: String,
    /// JSON text with details.
    #[serde(default)]
    pub detail: String,
}

/// Encodes a record for the store.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::internal(format!("cannot encode a record: {e}")))
}

/// Decodes a stored record.
pub fn decode<T: DeserializeOwned>(doc: &Doc) -> Result<T, Error> {
    serde_json::from_slice(&doc.value).map_err(|e| Error::internal(format!("corrupt record {}: {e}", doc.id)))
}

/// A store error as this crate's.
pub fn store_err(e: s3o_store::StoreError) -> Error {
    if e.is_unavailable() {
        Error::Unavailable(format!("metadata store: {e}"))
    } else {
        Error::internal(format!("metadata store: {e}"))
    }
}

/// One record and its revision, if present.
pub async fn get<T: DeserializeOwned>(store: &Store, collection: &str, id: &str) -> Result<Option<(T, u64)>, Error> {
    match store.doc(collection, id).await.map_err(store_err)? {
        Some(doc) => Ok(Some((decode(&doc)?, doc.revision))),
        None => Ok(None),
    }
}

/// Every document of a collection under `prefix`, paged through the store.
async fn every_doc(store: &Store, collection: &str, prefix: &str) -> Result<Vec<Doc>, Error> {
    let mut out: Vec<Doc> = Vec::new();
    let mut query = s3o_store::DocQuery::all(collection);
    query.prefix = prefix.to_owned();
    loop {
        let page = store.docs(&query).await.map_err(store_err)?;
        let full = page.len() >= query.page_size();
        out.extend(page);
        match out.last() {
            Some(last) if full => query.after = Some(last.id.clone()),
            _ => return Ok(out),
        }
    }
}

/// Every record of a collection under `prefix` (paged through), with revisions.
pub async fn all<T: DeserializeOwned>(store: &Store, collection: &str, prefix: &str) -> Result<Vec<(T, u64)>, Error> {
    every_doc(store, collection, prefix)
        .await?
        .iter()
        .map(|doc| Ok((decode(doc)?, doc.revision)))
        .collect()
}

/// The ids of a collection under `prefix` (paged through).
pub async fn ids(store: &Store, collection: &str, prefix: &str) -> Result<Vec<String>, Error> {
    Ok(every_doc(store, collection, prefix)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect())
}

/// Applies a batch; a failed expectation is `Ok(false)`.
pub async fn apply(store: &Store, writes: Vec<DocWrite>) -> Result<bool, Error> {
    match store.apply_docs(writes).await {
        Ok(_) => Ok(true),
        Err(s3o_store::StoreError::DocConflict { .. }) => Ok(false),
        Err(e) => Err(store_err(e)),
    }
}

/// The guard write that tells every proxy the credentials, bindings or endpoints changed.
pub fn bump_s3() -> DocWrite {
    DocWrite::put(GUARDS, S3_GUARD, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_permissions_by_name() {
        for r in [Role::Admin, Role::User, Role::Readonly] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(serde_json::to_string(&Permission::ReadOnly).unwrap(), "\"read-only\"");
        assert!(!Role::Readonly.writes() && Role::User.writes());
    }
}
