//! s3-orchestrator's proxy: the runtime, the HTTP/1.1 server, S3 routing and XML, placement,
//! backends and background workers. The binary (`main.rs`) is a thin CLI over this library.
//!
//! Request lifecycle: [`server`] accepts on every core → [`conn`] reads the head ([`http`]) →
//! [`s3`] routes ([`endpoint`]), authenticates (`s3o_sigv4`), authorizes, places
//! ([`s3::placement`]), forwards to a [`backend`] streaming the body ([`client`]) → responds
//! ([`xml`]) and commits metadata (`s3o_store`); [`cleanup`] deletes superseded bytes.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod accept;
pub mod access;
pub mod admin_cli;
pub mod admin_config;
pub mod admin_port;
pub mod backend;
pub mod cache;
pub mod cleanup;
pub mod client;
pub mod clock;
pub mod config;
pub mod conn;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod integrity;
pub mod lifecycle;
pub mod live;
pub mod metrics;
pub mod offline;
pub mod oidc_client;
pub mod orchestrator;
pub mod orphans;
pub mod rebuild;
pub mod records;
pub mod reload;
pub mod s3;
pub mod seal;
pub mod server;
pub mod shared_config;
pub mod signals;
pub mod state;
pub mod store_config;
pub mod stream;
pub mod tls;
pub mod unsized_body;
pub mod usage;
pub mod workers;
pub mod xml;
