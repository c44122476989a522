//! The admin port's JSON APIs (seed 000 under `/admin/api` and `{ui}`, plus `/health`,
//! `/health/ready` and `/metrics`): pure, I/O-free handlers from a parsed [`Request`] to a
//! [`Response`] over a [`Control`] trait that the proxy implements. This crate knows no runtime,
//! socket or storage engine, so everything here is tested with fakes.
//!
//! How the proxy serves one request on the admin listener:
//!
//! 1. Parse the head; [`route()`]`(auth.ui_path(), method, path)` gives the [`Route`] or a ready
//!    404/405 response.
//! 2. If [`Route::is_streamed`] (upload, download): [`Auth::authenticate`] a body-less request,
//!    then stream as [`stream`] describes.
//! 3. Otherwise, if [`Route::takes_body`], read the body, stopping with [`Response::too_large`]
//!    once it passes [`MAX_JSON_BODY`] (or when `Content-Length` says it will); other routes'
//!    bodies are ignored. Then [`handle`] answers, authenticating first.
//!
//! Authentication ([`auth`]): `X-Admin-Token` for `/admin/api/*` (the OpenAPI document
//! included), a session cookie for `{ui}/api/*`, nothing for `/health`, `/health/ready`,
//! `/metrics`, `{ui}/login` and `{ui}/logout`. Every error body is `{"error": "..."}`.
//!
//! Logging: [`install`] sets the process subscriber with a reloadable level ([`LevelControl`])
//! and the [`LogLayer`] ring buffer that `{ui}/api/logs` reads. Metrics: [`MetricsWriter`]
//! writes the Prometheus text format.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod access;
pub mod api;
pub mod auth;
pub mod control;
pub mod data;
pub mod error;
mod handlers;
pub mod http;
pub mod keys;
pub mod level;
pub mod lockout;
pub mod logbuf;
pub mod metrics;
pub mod route;
pub mod session;
pub mod stream;
pub mod time;

pub use auth::{hash_password, Auth, AuthConfig, Principal};
pub use control::{
    BackendStatus, BoxFuture, CleanupItem, CleanupQueue, Control, Dashboard, DeleteOutcome, ObjectLocation,
    Orchestration, QuotaStat, Readiness, Status, SyncOutcome, TreeEntry, TreePage, TreeQuery, UsageLimit, UsageStat,
    WorkerHealth, WorkerLease,
};
pub use error::{Error, Result};
pub use handlers::{handle, OPENAPI_JSON};
pub use http::{Request, Response, MAX_JSON_BODY, MAX_UPLOAD_BODY};
pub use keys::{ObjectKey, ObjectPrefix};
pub use level::{install, LevelControl, LogLevel, Logging};
pub use lockout::LockoutPolicy;
pub use logbuf::{LogBuffer, LogEntry, LogLayer, LogQuery, LOG_BUFFER_CAPACITY};
pub use metrics::{write_worker_metrics, Histogram, MetricKind, MetricValue, MetricsWriter};
pub use route::{route, AuthClass, Route, DEFAULT_UI_PATH};
pub use time::Timestamp;
