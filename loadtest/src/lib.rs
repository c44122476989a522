//! S3 load generator and a minimal fast S3 backend for benchmarks (the `s3o-loadtest` binary).
//!
//! - [`backend`]: `serve-backend`, a thread-per-core monoio S3 server that keeps objects in
//!   memory (or drains them: blackhole) and checks no signatures, to measure a proxy against.
//! - [`run`]: `run`, a warp-like load generator that signs every request with `s3o-sigv4` and
//!   reports per-operation throughput, latency and time-to-first-byte percentiles.
//! - [`transfer`]: `transfer`, one big object moved the way the aws cli moves it: a multipart
//!   upload with parts sent in parallel, a download by parallel ranged GETs, optionally checked
//!   byte for byte against the generator.
//! - [`cli`]: the command line and its validation; [`size`], [`histogram`], [`http`],
//!   [`chunked`] and [`pattern`] (random-access generated data): the pure pieces both halves
//!   use; [`client`]: bodies, signing, connections.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod chunked;
pub mod cli;
pub mod client;
pub mod histogram;
pub mod http;
pub mod pattern;
pub mod run;
pub mod size;
pub mod transfer;
