//! s3-orchestrator's proxy: the runtime, the HTTP/1.1 server, S3 routing and XML, placement,
//! backends and background workers. The binary (`main.rs`) is a thin CLI over this library.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod endpoint;
pub mod http;
pub mod xml;
