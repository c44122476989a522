//! The access layer in the proxy: the `[access]` section, starting the layer (its sealing key,
//! the audit writer, a first admin from the configuration), keeping the S3 port's credentials and
//! anonymous bindings in step with the store ([`AccessSync`]: polls the store's guard revision
//! twice a second and publishes a new live snapshot when it moves), and why requests are denied
//! (counted per reason for `/metrics`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;

use s3o_admin::access::audit::AuditQueue;
use s3o_admin::access::net::TrustedProxies;
use s3o_admin::access::ratelimit::{RateLimit, RateLimiter};
use s3o_admin::access::records::{Permission, Role};
use s3o_admin::access::s3view::{self, ConfigCredential};
use s3o_admin::access::seal::SealKey;
use s3o_admin::access::{Access, AccessConfig, DEFAULT_BACKEND_ID};

use crate::config::{Access as KeyAccess, Config};
use crate::state::Shared;
use crate::workers::{Tick, Worker};

/// `[access]`: the multi-user layer (users, sessions, virtual credentials, anonymous buckets,
/// audit) on the admin port, enforced on the S3 port.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSection {
    /// The orchestrated store's id as a backend (default `orchestrator`).
    #[serde(default)]
    pub backend_id: Option<String>,
    /// The key that seals credential secrets: 32 bytes as base64 or 64 hex digits.
    #[serde(default)]
    pub secret_key: Option<String>,
    /// A file holding that key (instead of `secret_key`).
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// Password logins (default on).
    #[serde(default)]
    pub local_login: Option<bool>,
    /// Hard session lifetime in seconds (default 8 h).
    #[serde(default)]
    pub session_lifetime_secs: Option<u64>,
    /// Idle session expiry in seconds (default 1 h).
    #[serde(default)]
    pub session_idle_secs: Option<u64>,
    /// Shortest password (default 12).
    #[serde(default)]
    pub min_password_length: Option<usize>,
    /// Wrong passwords that lock an account (default 5).
    #[serde(default)]
    pub lockout_attempts: Option<u32>,
    /// How long a lock lasts in seconds (default 900).
    #[serde(default)]
    pub lockout_secs: Option<u64>,
    /// Requests to the public share pages per client address per minute (default 10).
    #[serde(default)]
    pub share_per_minute: Option<u32>,
    /// Logins per client address per 15 minutes (default 10).
    #[serde(default)]
    pub login_per_15_minutes: Option<u32>,
    /// `/api` requests per session per minute (default 600; 0: unlimited).
    #[serde(default)]
    pub api_per_minute: Option<u32>,
    /// The global switch of anonymous bindings (default off).
    #[serde(default)]
    pub anonymous_enabled: bool,
    /// Anonymous requests per second per address, for bindings that set none (default 20).
    #[serde(default)]
    pub anonymous_rps: Option<u32>,
    /// Peers (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Audit events older than this are removed (default 90; 0 keeps them).
    #[serde(default)]
    pub audit_retention_days: Option<u32>,
    /// A first admin, created at startup when no user of that name exists.
    #[serde(default)]
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// OpenID Connect sign-in.
    #[serde(default)]
    pub oidc: Option<crate::oidc_client::OidcSection>,
}

/// `[access.bootstrap_admin]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapAdmin {
    /// Login name.
    pub username: String,
    /// Initial password (changed at first login); use `${ENV}` rather than writing it here.
    pub password: String,
}

impl AccessSection {
    /// The sealing key, if one is configured; a bad one is an error naming its cause.
    pub fn seal_key(&self) -> Result<Option<SealKey>, String> {
        let text = match (&self.secret_key, &self.secret_key_file) {
            (Some(_), Some(_)) => return Err("[access]: set secret_key or secret_key_file, not both".into()),
            (Some(k), None) => k.clone(),
            (None, Some(f)) => {
                std::fs::read_to_string(f).map_err(|e| format!("[access] secret_key_file {}: {e}", f.display()))?
            }
            (None, None) => return Ok(None),
        };
        SealKey::parse(&text)
            .map(Some)
            .map_err(|e| format!("[access] secret key: {e}"))
    }

    /// The access layer's settings.
    pub fn settings(&self) -> Result<AccessConfig, String> {
        let d = AccessConfig::default();
        let trusted =
            TrustedProxies::parse(&self.trusted_proxies).map_err(|e| format!("[access] trusted_proxies: {e}"))?;
        let secs = |v: Option<u64>, default_ms: u64| v.map_or(default_ms, |s| s.saturating_mul(1000));
        let cfg = AccessConfig {
            backend_id: self.backend_id.clone().unwrap_or_else(|| DEFAULT_BACKEND_ID.to_owned()),
            local_login: self.local_login.unwrap_or(true),
            session_lifetime_ms: secs(self.session_lifetime_secs, d.session_lifetime_ms),
            session_idle_ms: secs(self.session_idle_secs, d.session_idle_ms),
            min_password_len: self.min_password_length.unwrap_or(d.min_password_len),
            lockout_attempts: self.lockout_attempts.unwrap_or(d.lockout_attempts).max(1),
            lockout_ms: secs(self.lockout_secs, d.lockout_ms),
            login_limit: match self.login_per_15_minutes {
                Some(n) => RateLimit {
                    requests: n,
                    window_ms: 15 * 60_000,
                    burst: n,
                },
                None => d.login_limit,
            },
            api_limit: self.api_per_minute.map_or(d.api_limit, RateLimit::per_minute),
            share_limit: self.share_per_minute.map_or(d.share_limit, RateLimit::per_minute),
            anonymous_enabled: self.anonymous_enabled,
            anonymous_rps: self.anonymous_rps.unwrap_or(d.anonymous_rps),
            trusted_proxies: trusted,
        };
        if cfg.backend_id.is_empty() {
            return Err("[access] backend_id must not be empty".into());
        }
        if cfg.session_idle_ms == 0 || cfg.session_lifetime_ms == 0 {
            return Err("[access] session lifetimes must be at least 1 second".into());
        }
        Ok(cfg)
    }
}

/// The configuration file's credentials as the merged views show them.
fn config_credentials(cfg: &Config) -> Vec<ConfigCredential> {
    cfg.credentials
        .iter()
        .map(|c| ConfigCredential {
            access_key: c.access_key.clone(),
            buckets: c.buckets.clone(),
            permission: match c.access {
                KeyAccess::ReadOnly => Permission::ReadOnly,
                KeyAccess::ReadWrite => Permission::ReadWrite,
            },
        })
        .collect()
}

/// Starts the access layer of `shared`'s configuration (none without `[access]`): the audit
/// writer, the first admin, and the store's credentials and bindings in the live snapshot.
/// Runs on the main thread at startup.
pub fn start(shared: &Arc<Shared>) -> Result<Option<Arc<Access>>, String> {
    let Some(section) = &shared.cfg.access else {
        return Ok(None);
    };
    let settings = section.settings()?;
    let seal = section.seal_key()?.map(Arc::new);
    let (audit, _writer) = AuditQueue::start(shared.store.clone()).map_err(|e| format!("[access]: {e}"))?;
    let mut access = Access::new(settings, shared.store.clone(), seal, audit);
    access.config_credentials = config_credentials(&shared.cfg);
    if let Some(o) = &section.oidc {
        let rp = s3o_admin::access::oidc::Oidc::new(o.settings()?, Box::new(o.transport()?));
        access.oidc = Some(Arc::new(rp));
    }
    let weak = Arc::downgrade(shared);
    access.on_s3_change = Box::new(move || {
        if let Some(shared) = weak.upgrade() {
            shared.access_changed.store(true, Ordering::Release);
        }
    });
    if let Some(b) = &section.bootstrap_admin {
        bootstrap(&access, b)?;
    }
    let access = Arc::new(access);
    let view = s3o_store::block_on(s3view::load(
        &access.store,
        access.seal.as_deref(),
        &access.cfg.backend_id,
    ))
    .map_err(|e| format!("[access]: reading credentials: {e}"))?;
    if view.unopened > 0 {
        tracing::warn!(
            count = view.unopened,
            "stored credentials whose secret does not open under the configured key are refused"
        );
    }
    shared.live.publish_access(&view);
    Ok(Some(access))
}

/// Creates the configured first admin unless a user of that name exists.
fn bootstrap(access: &Access, b: &BootstrapAdmin) -> Result<(), String> {
    if b.username.is_empty() || b.password.len() < access.cfg.min_password_len {
        return Err(format!(
            "[access.bootstrap_admin]: a username and a password of at least {} characters are required",
            access.cfg.min_password_len
        ));
    }
    let made = s3o_store::block_on(s3o_admin::api::create_local_user(
        access,
        &b.username,
        &b.password,
        Role::Admin,
        true,
    ));
    match made {
        Ok(Ok(user)) => {
            tracing::info!(username = %user.username, "created the first admin from [access.bootstrap_admin]");
            Ok(())
        }
        Ok(Err(_taken)) => Ok(()),
        Err(e) => Err(format!("[access.bootstrap_admin]: {e}")),
    }
}

/// Keeps the live snapshot's store-managed credentials and bindings in step with the store.
pub struct AccessSync {
    /// The proxy's state.
    pub shared: Arc<Shared>,
    /// The layer.
    pub access: Arc<Access>,
}

impl Worker for AccessSync {
    fn name(&self) -> &'static str {
        "access_sync"
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(500)
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let forced = self.shared.access_changed.swap(false, Ordering::AcqRel);
        let revision = s3view::revision(&self.access.store).await.map_err(|e| e.to_string())?;
        if !forced && revision == self.shared.live.snapshot().access.revision {
            return Ok(Tick::Idle);
        }
        let view = s3view::load(
            &self.access.store,
            self.access.seal.as_deref(),
            &self.access.cfg.backend_id,
        )
        .await
        .map_err(|e| e.to_string())?;
        self.shared.live.publish_access(&view);
        Ok(Tick::Idle)
    }
}

/// Removes audit events past their retention, on one instance.
pub struct AuditTrim {
    /// The layer.
    pub access: Arc<Access>,
    /// Days events are kept (0: forever).
    pub retention_days: u32,
}

/// Most events one trim removes before giving the worker thread back.
const TRIM_BATCH: usize = 10_000;

impl Worker for AuditTrim {
    fn name(&self) -> &'static str {
        "audit_trim"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }

    fn exclusive(&self) -> bool {
        true
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        if self.retention_days == 0 {
            return Ok(Tick::Idle);
        }
        let keep_ms = u64::from(self.retention_days) * 86_400_000;
        let before = self.access.now().saturating_sub(keep_ms);
        let removed = s3o_admin::access::audit::trim(&self.access.store, before, TRIM_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        Ok(if removed >= TRIM_BATCH { Tick::Busy } else { Tick::Idle })
    }
}

/// Why the S3 port refused a request (for `s3o_access_denied_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The bucket is outside the credential's scope (either side of a copy included).
    Scope,
    /// A write with a read-only credential.
    ReadOnly,
    /// A bucket-level change without the right to manage buckets.
    Manage,
    /// The credential expired.
    Expired,
    /// An unsigned request that neither an anonymous binding nor a public ACL allows.
    Anonymous,
    /// An anonymous client over its binding's rate.
    AnonymousRate,
    /// The bucket's or object's ACL (or its ownership, or its public access block) does not
    /// grant the caller what the operation needs.
    Acl,
}

impl DenyReason {
    /// Every reason, in the order of [`Denials`].
    pub const ALL: [DenyReason; 7] = [
        DenyReason::Scope,
        DenyReason::ReadOnly,
        DenyReason::Manage,
        DenyReason::Expired,
        DenyReason::Anonymous,
        DenyReason::AnonymousRate,
        DenyReason::Acl,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            DenyReason::Scope => "scope",
            DenyReason::ReadOnly => "read_only",
            DenyReason::Manage => "manage",
            DenyReason::Expired => "expired",
            DenyReason::Anonymous => "anonymous",
            DenyReason::AnonymousRate => "anonymous_rate",
            DenyReason::Acl => "acl",
        }
    }
}

/// Denials counted per reason.
#[derive(Debug, Default)]
pub struct Denials([AtomicU64; 7]);

impl Denials {
    /// Counts one denial.
    pub fn count(&self, reason: DenyReason) {
        let i = DenyReason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// (label, count) for every reason.
    pub fn totals(&self) -> Vec<(&'static str, u64)> {
        DenyReason::ALL
            .iter()
            .zip(self.0.iter())
            .map(|(r, n)| (r.label(), n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Token buckets of anonymous clients, per (address, bucket).
type AnonymousLimiter = RateLimiter<(IpAddr, String)>;

/// Per-address rate limits of anonymous requests, one limiter per rate in use.
#[derive(Debug, Default)]
pub struct AnonymousLimits {
    by_rate: Mutex<Vec<(u32, Arc<AnonymousLimiter>)>>,
}

impl AnonymousLimits {
    /// Takes one request of `ip` on `bucket` at `rps` per second: `false` when over it.
    pub fn allow(&self, ip: IpAddr, bucket: &str, rps: u32, now_ms: u64) -> bool {
        if rps == 0 {
            return true;
        }
        let limiter = {
            let mut all = self.by_rate.lock();
            match all.iter().find(|(r, _)| *r == rps) {
                Some((_, l)) => l.clone(),
                None => {
                    let l = Arc::new(RateLimiter::new(RateLimit::per_second(rps)));
                    all.push((rps, l.clone()));
                    l
                }
            }
        };
        let key = (s3o_admin::access::ratelimit::ip_key(ip), bucket.to_owned());
        limiter.check(&key, now_ms).is_ok()
    }
}

/// What the audit log keeps of one S3 request that changes data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    /// The access key (`anonymous` for none), once authenticated.
    pub who: String,
    /// The bucket.
    pub bucket: String,
    /// The object key, if any.
    pub key: String,
}

/// Records the audit event of an S3 request that changes data (`s3.<operation>`, status `ok`
/// for 2xx, `denied` for 401/403, else `error`). Never waits (see [`AuditQueue::record`]).
pub fn audit_s3(
    core: &crate::state::Core,
    io: &crate::client::ClientIo,
    note: AuditNote,
    head: &crate::http::RequestHead,
    rid: &str,
) {
    let Some(access) = core.shared.access.get() else {
        return;
    };
    let status = match io.status {
        200..=299 => "ok",
        401 | 403 => "denied",
        _ => "error",
    };
    let event = s3o_admin::access::records::AuditEvent {
        user_id: note.who,
        action: format!("s3.{}", io.operation.to_ascii_lowercase()),
        backend: access.cfg.backend_id.clone(),
        bucket: note.bucket,
        key: note.key,
        request_id: rid.to_owned(),
        ip: io.stream.peer_ip().to_string(),
        user_agent: head
            .header("user-agent")
            .unwrap_or_default()
            .chars()
            .take(256)
            .collect(),
        status: status.into(),
        detail: serde_json::json!({ "http_status": io.status }).to_string(),
        ..Default::default()
    };
    access.audit.record(event);
}
