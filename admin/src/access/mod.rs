//! The access layer (seed 003): users and their roles, server-side sessions with CSRF tokens,
//! virtual S3 credentials whose secrets are sealed at rest, anonymous bucket bindings, and the
//! audit log, all kept in the metadata store's document collections ([`records`]) so every proxy
//! sharing a store sees the same state. [`Access`] is the state the admin port's `/api` and
//! `/auth` handlers (`crate::api`) work over; the proxy reads credentials and bindings through
//! [`s3view`] to enforce them on the S3 port.
//!
//! How the seed's backends map onto ours: the orchestrated store is one backend whose id is
//! [`AccessConfig::backend_id`] (default `orchestrator`) and whose buckets are the virtual
//! buckets; credentials and anonymous bindings name that backend. Each configured real backend
//! is a backend of its own, for operators to inspect (issue 14).

pub mod audit;
pub mod ids;
pub mod net;
pub mod oidc;
pub mod ratelimit;
pub mod records;
pub mod s3view;
pub mod seal;

use std::net::IpAddr;
use std::sync::Arc;

use s3o_store::Store;

use self::audit::AuditQueue;
use self::net::TrustedProxies;
use self::ratelimit::{RateLimit, RateLimiter};
use self::seal::SealKey;

/// The default id of the orchestrated store as a backend.
pub const DEFAULT_BACKEND_ID: &str = "orchestrator";
/// The session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "stowage_session";
/// The CSRF cookie (readable by the page, echoed in `X-CSRF-Token`).
pub const CSRF_COOKIE: &str = "stowage_csrf";

/// Settings of the access layer, from the proxy's `[access]` section.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// The orchestrated store's id as a backend.
    pub backend_id: String,
    /// Local (password) login enabled.
    pub local_login: bool,
    /// Hard lifetime of a session, ms.
    pub session_lifetime_ms: u64,
    /// A session unused this long ends, ms.
    pub session_idle_ms: u64,
    /// Shortest password accepted, in bytes.
    pub min_password_len: usize,
    /// Wrong passwords in a row that lock an account.
    pub lockout_attempts: u32,
    /// How long a lock lasts, ms.
    pub lockout_ms: u64,
    /// Logins (and OIDC starts and callbacks) per client address.
    pub login_limit: RateLimit,
    /// `/api/*` requests per session.
    pub api_limit: RateLimit,
    /// Requests to the public share pages (`/s/*`) per client address.
    pub share_limit: RateLimit,
    /// The global switch of anonymous bindings.
    pub anonymous_enabled: bool,
    /// Requests per second per client address of a binding that sets none.
    pub anonymous_rps: u32,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: TrustedProxies,
}

impl Default for AccessConfig {
    /// The seed's defaults: sessions of 8 h ending after 1 h idle, passwords of 12 bytes, 5 wrong
    /// passwords lock for 15 min, 10 logins per 15 min per address, 600 API calls a minute per
    /// session, anonymous bindings off, 20 anonymous requests a second per address.
    fn default() -> Self {
        AccessConfig {
            backend_id: DEFAULT_BACKEND_ID.to_owned(),
            local_login: true,
            session_lifetime_ms: 8 * 3_600_000,
            session_idle_ms: 3_600_000,
            min_password_len: 12,
            lockout_attempts: 5,
            lockout_ms: 15 * 60_000,
            login_limit: RateLimit {
                requests: 10,
                window_ms: 15 * 60_000,
                burst: 10,
            },
            api_limit: RateLimit::per_minute(600),
            share_limit: RateLimit::per_minute(10),
            anonymous_enabled: false,
            anonymous_rps: 20,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// The access layer's state for the life of the admin listener.
pub struct Access {
    /// Settings.
    pub cfg: AccessConfig,
    /// Where its records live.
    pub store: Store,
    /// Seals credential secrets; `None` refuses minting with 503 `secret_key_unset`.
    pub seal: Option<Arc<SealKey>>,
    /// Login attempts per client address.
    pub login_limiter: RateLimiter<IpAddr>,
    /// API calls per session.
    pub api_limiter: RateLimiter<String>,
    /// Share page requests per client address.
    pub share_limiter: RateLimiter<IpAddr>,
    /// The API's traffic, for the admin dashboard.
    pub api_stats: crate::data::stats::ApiStats,
    /// Where events go.
    pub audit: AuditQueue,
    /// The OpenID Connect relying party, when `[access.oidc]` is set.
    pub oidc: Option<Arc<oidc::Oidc>>,
    /// Credentials defined in the configuration file (read-only here), for the merged views.
    pub config_credentials: Vec<s3view::ConfigCredential>,
    /// Called after a credential or binding changed, so this instance reloads at once (others
    /// notice the guard's new revision).
    pub on_s3_change: Box<dyn Fn() + Send + Sync>,
    /// The clock, ms since the epoch (replaceable in tests).
    pub clock: fn() -> u64,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("cfg", &self.cfg)
            .field("seal", &self.seal.is_some())
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The access layer over `store` with `cfg`, sealing with `seal`, logging to `audit`.
    pub fn new(cfg: AccessConfig, store: Store, seal: Option<Arc<SealKey>>, audit: AuditQueue) -> Access {
        Access {
            login_limiter: RateLimiter::new(cfg.login_limit),
            api_limiter: RateLimiter::new(cfg.api_limit),
            share_limiter: RateLimiter::new(cfg.share_limit),
            api_stats: Default::default(),
            cfg,
            store,
            seal,
            audit,
            config_credentials: Vec::new(),
            oidc: None,
            on_s3_change: Box::new(|| {}),
            clock: crate::time::now_ms,
        }
    }

    /// Now, ms.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }
}
