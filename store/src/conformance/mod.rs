//! The conformance suite every metadata engine must pass: the documented semantics of every
//! [`Engine`](crate::Engine) call, checked through the public [`Store`] API only, so an engine
//! in another crate runs it too (enable this crate's `conformance` feature in its
//! dev-dependencies).
//!
//! Each check is a `pub async fn` taking a fresh, empty store (or a function making them) and
//! panicking with a message naming what failed; [`run_all`] runs them all, and each module's
//! `run` runs one area. The futures need no particular runtime: [`block_on`](crate::block_on)
//! drives them in a plain `#[test]`. Some checks start threads of their own to race calls
//! against each other; those threads wait with `block_on`. [`survives_reopen`] checks durability
//! for engines that can reopen a store.
//!
//! ```ignore
//! #[test]
//! fn my_engine_conforms() {
//!     s3o_store::block_on(s3o_store::conformance::run_all(&|| my_engine::temporary_store()));
//! }
//! ```

pub mod admin;
pub mod buckets;
pub mod cleanup;
pub mod docs;
pub mod durability;
pub mod leases;
pub mod listing;
pub mod multipart;
pub mod objects;
pub mod orchestration;
pub mod quota;
pub mod relocation;
pub mod restore;
pub mod versions;

use std::fmt::Display;

pub use durability::survives_reopen;

use crate::model::{Location, ObjectMeta};
use crate::rules::physical_key_for;
use crate::{Store, StoreFuture};

/// Runs every check of the suite, each on a store `fresh` makes (empty, writable).
pub async fn run_all(fresh: &dyn Fn() -> Store) {
    buckets::run(fresh).await;
    objects::run(fresh).await;
    listing::run(fresh).await;
    multipart::run(fresh).await;
    quota::run(fresh).await;
    cleanup::run(fresh).await;
    admin::run(fresh).await;
    leases::run(fresh).await;
    versions::run(fresh).await;
    orchestration::run(fresh).await;
    restore::run(fresh).await;
    docs::run(fresh).await;
}

/// Unwraps what the suite expects to have succeeded, or panics naming the step.
trait Want<T> {
    /// The value, or a panic with `what` and the error.
    fn want(self, what: &str) -> T;
}

impl<T, E: Display> Want<T> for Result<T, E> {
    fn want(self, what: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// `Option::expect` for the suite: the value, or a panic naming what was not found.
trait ExpectSome<T> {
    /// The value, or a panic naming `what`.
    fn expect_some(self, what: &str) -> T;
}

impl<T> ExpectSome<T> for Option<T> {
    fn expect_some(self, what: &str) -> T {
        match self {
            Some(v) => v,
            None => panic!("{what} not found"),
        }
    }
}

/// Awaits a store future that must succeed.
async fn ok<T>(f: StoreFuture<T>, what: &str) -> T {
    f.await.want(what)
}

/// The depth of the cleanup queue.
async fn queue_depth(store: &Store) -> u64 {
    ok(store.cleanup_queue(0), "cleanup_queue").await.depth
}

/// A fresh store holding the empty bucket `bkt`.
async fn with_bucket(fresh: &dyn Fn() -> Store) -> Store {
    let store = fresh();
    ok(store.create_bucket("bkt", "AK"), "create bkt").await;
    store
}

/// A new version of `bucket`/`key` of `size` bytes stored on `backends`, under fresh physical
/// keys, as the proxy would commit it.
async fn version(store: &Store, bucket: &str, key: &str, size: u64, backends: &[&str]) -> ObjectMeta {
    let v = ok(store.next_version(), "next_version").await;
    ObjectMeta {
        size,
        etag: format!("\"{v:032x}\""),
        content_type: Some("text/plain".into()),
        last_modified_ms: crate::rules::now_ms(),
        version: v,
        locations: backends
            .iter()
            .map(|b| Location {
                backend: (*b).to_owned(),
                physical_key: physical_key_for(bucket, key, v),
            })
            .collect(),
        ..ObjectMeta::default()
    }
}
