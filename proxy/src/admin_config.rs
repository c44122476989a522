//! The `[admin]` and `[ui]` sections of the config: where the admin port listens (optionally
//! with TLS) and how its two APIs authenticate (seed 000: `ui.admin_token`, falling back to
//! `ui.admin_key`, for `/admin/api/*`; `ui.admin_key` + `ui.admin_secret` for UI sessions).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[admin]`: the admin port. Absent: the proxy runs without one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin listener, e.g. `127.0.0.1:9001` (never the S3 address).
    pub listen: SocketAddr,
    /// PEM certificate chain: with `tls_key_file`, the admin port speaks HTTPS only.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Seconds between flushes of the usage counters to the store (and so the most a
    /// restart can lose of them).
    #[serde(default = "default_usage_flush")]
    pub usage_flush_secs: u64,
}

fn default_usage_flush() -> u64 {
    10
}

/// `[ui]`: credentials of the admin and UI APIs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Where the UI API is mounted (default `/ui`).
    #[serde(default)]
    pub path: Option<String>,
    /// The login name of UI sessions; also the admin token when `admin_token` is unset.
    #[serde(default)]
    pub admin_key: Option<String>,
    /// The UI password as an argon2id PHC string (`s3-orchestrator hash-password` makes one).
    #[serde(default)]
    pub admin_secret: Option<String>,
    /// The `X-Admin-Token` of `/admin/api/*`.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Key that signs session cookies (so sessions survive a restart); absent = random per
    /// process.
    #[serde(default)]
    pub session_secret: Option<String>,
}
