//! S3 load generator and a minimal fast S3 backend for benchmarks (the `s3o-loadtest` binary).
//!
//! - [`backend`]: `serve-backend`, a thread-per-core monoio S3 server that keeps objects in
//!   memory (or drains them: blackhole) and checks no signatures, to measure a proxy against.
//! - [`run`]: `run`, a warp-like load generator that signs every request with `s3o-sigv4` and
//!   reports per-operation throughput, latency and time-to-first-byte percentiles.
//! - [`cli`]: the command line and its validation; [`size`], [`histogram`], [`http`] and
//!   [`chunked`]: the pure pieces both halves use; [`client`]: bodies, signing, connections.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod chunked;
pub mod cli;
pub mod client;
pub mod histogram;
pub mod http;
pub mod run;
pub mod size;
