//! What the S3 port needs of the access layer: every enabled credential with its secret opened,
//! and every anonymous binding, read from the store in one pass ([`load`]), plus the revision of
//! the guard document that every change bumps ([`revision`]), which proxies poll to reload. The
//! proxy turns a [`S3Access`] into its live snapshot; nothing here runs on the request path.

use s3o_store::Store;

use super::records::{all, get, Binding, Credential, Endpoint, Permission, ANON, CREDS, ENDPOINTS, GUARDS, S3_GUARD};
use super::seal::SealKey;
use crate::error::Error;

/// A credential defined in the configuration file (shown read-only in the merged views).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigCredential {
    /// Access key id.
    pub access_key: String,
    /// Its buckets (`*`: all).
    pub buckets: Vec<String>,
    /// Read-only or read-write.
    pub permission: Permission,
}

/// A store-managed credential as the S3 port enforces it.
#[derive(Clone, PartialEq, Eq)]
pub struct LiveCredential {
    /// Access key id.
    pub access_key: String,
    /// The opened secret.
    pub secret: String,
    /// Its buckets.
    pub buckets: Vec<String>,
    /// What it may do there.
    pub permission: Permission,
    /// Refused from then on, ms.
    pub expires_ms: Option<u64>,
    /// Its owner.
    pub user_id: Option<String>,
    /// Whether an admin set its scope (see [`Credential::scope_granted`](super::records::Credential)).
    pub scope_granted: bool,
}

impl std::fmt::Debug for LiveCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCredential")
            .field("access_key", &self.access_key)
            .field("buckets", &self.buckets)
            .field("permission", &self.permission)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// An enabled UI-managed backend with its secret opened.
#[derive(Clone, PartialEq, Eq)]
pub struct LiveEndpoint {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `http(s)://host[:port]`.
    pub endpoint: String,
    /// Region to sign for (`""`: `us-east-1`).
    pub region: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// Access key id.
    pub access_key: String,
    /// The opened secret.
    pub secret: String,
}

impl std::fmt::Debug for LiveEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveEndpoint")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Everything the S3 port enforces from the store, at one guard revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Access {
    /// The guard's revision when this was read (0: never written).
    pub revision: u64,
    /// Enabled credentials whose secret opened.
    pub credentials: Vec<LiveCredential>,
    /// Anonymous bindings.
    pub bindings: Vec<Binding>,
    /// Enabled UI-managed backends whose secret opened.
    pub endpoints: Vec<LiveEndpoint>,
    /// Credentials and endpoints whose secret did not open under the configured key (a wrong
    /// key file).
    pub unopened: usize,
}

/// The guard's revision: cheap to poll.
pub async fn revision(store: &Store) -> Result<u64, Error> {
    Ok(store
        .doc(GUARDS, S3_GUARD)
        .await
        .map_err(super::records::store_err)?
        .map_or(0, |d| d.revision))
}

/// Reads every credential and binding for backend `backend_id`. The guard is read first, so a
/// change that lands during the read leaves a newer revision to reload at.
pub async fn load(store: &Store, seal: Option<&SealKey>, backend_id: &str) -> Result<S3Access, Error> {
    let revision = revision(store).await?;
    let mut out = S3Access {
        revision,
        ..S3Access::default()
    };
    for (c, _) in all::<Credential>(store, CREDS, "").await? {
        if !c.enabled || c.backend_id != backend_id {
            continue;
        }
        let Some(secret) = seal
            .and_then(|k| k.open(&c.access_key, &c.secret_sealed))
            .and_then(|s| String::from_utf8(s).ok())
        else {
            out.unopened += 1;
            continue;
        };
        out.credentials.push(LiveCredential {
            access_key: c.access_key,
            secret,
            buckets: c.buckets,
            permission: c.permission,
            expires_ms: c.expires_ms,
            user_id: c.user_id,
            scope_granted: c.scope_granted,
        });
    }
    for (e, _) in all::<Endpoint>(store, ENDPOINTS, "").await? {
        if !e.enabled {
            continue;
        }
        let Some(secret) = e
            .secret_sealed
            .as_deref()
            .and_then(|sealed| seal.and_then(|k| k.open(&e.id, sealed)))
            .and_then(|s| String::from_utf8(s).ok())
        else {
            out.unopened += 1;
            continue;
        };
        out.endpoints.push(LiveEndpoint {
            id: e.id,
            name: e.name,
            endpoint: e.endpoint,
            region: e.region,
            path_style: e.path_style,
            access_key: e.access_key,
            secret,
        });
    }
    out.bindings = all::<Binding>(store, ANON, &format!("{backend_id}/"))
        .await?
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    Ok(out)
}

/// One credential record (for tests and tools).
pub async fn credential(store: &Store, access_key: &str) -> Result<Option<Credential>, Error> {
    Ok(get::<Credential>(store, CREDS, access_key).await?.map(|(c, _)| c))
}
