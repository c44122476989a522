//! The sled engine: the metadata model kept in sled trees, one transaction per mutation, made
//! durable by a shared group-commit flush.

mod buckets;
pub(crate) mod cleanup;
pub mod commit;
pub mod layout;
mod list;
pub(crate) mod multipart;
pub(crate) mod objects;
pub(crate) mod quota;
