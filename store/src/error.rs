//! The one error type of the store: every way a metadata operation can fail, named for what went
//! wrong. The proxy maps these onto S3 error codes and HTTP statuses in exactly one place.

use sled::transaction::{ConflictableTransactionError, TransactionError};

/// Everything that can go wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create_bucket` for a name that is already taken.
    #[error("bucket {0:?} already exists")]
    BucketAlreadyExists(String),
    /// The named bucket does not exist.
    #[error("bucket {0:?} does not exist")]
    NoSuchBucket(String),
    /// `delete_bucket` for a bucket that still holds objects.
    #[error("bucket {0:?} is not empty")]
    BucketNotEmpty(String),
    /// A bucket name the key layout cannot hold (empty, or containing a NUL byte).
    #[error("bucket name {0:?} is not valid")]
    InvalidBucketName(String),
    /// Reserving the bytes would push the backend past its quota.
    #[error(
        "quota of backend {backend:?} exceeded: {requested} requested, {used} used or reserved, \
         {quota} allowed"
    )]
    QuotaExceeded {
        /// The backend whose quota would be exceeded.
        backend: String,
        /// Bytes asked for.
        requested: u64,
        /// Bytes already committed plus bytes reserved in flight.
        used: u64,
        /// The backend's quota in bytes.
        quota: u64,
    },
    /// A conditional write found the current version not as required.
    #[error("precondition failed for {bucket:?}/{key:?}")]
    PreconditionFailed {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// The key has no current version.
    #[error("key {key:?} does not exist in bucket {bucket:?}")]
    NoSuchKey {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// The multipart upload id is unknown (never created, completed or aborted).
    #[error("multipart upload {0:?} does not exist")]
    NoSuchUpload(String),
    /// A multipart upload changed while it was being completed or aborted (a part arrived); the
    /// caller may try again.
    #[error("multipart upload {0:?} changed concurrently")]
    UploadChanged(String),
    /// A cleanup task id that is not (or no longer) in the queue.
    #[error("cleanup task {0} does not exist")]
    NoSuchCleanupTask(u64),
    /// A value on disk that does not decode: the store is damaged or from an incompatible version.
    #[error("corrupt record in tree {tree}: {detail}")]
    Corrupt {
        /// The tree the record was read from.
        tree: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A value that could not be encoded for storage.
    #[error("cannot encode record for tree {tree}: {detail}")]
    Encode {
        /// The tree the record was meant for.
        tree: &'static str,
        /// Why encoding failed.
        detail: String,
    },
    /// The group-commit flush failed; the store no longer promises durability and must be
    /// restarted (a failed fsync cannot be retried safely).
    #[error("metadata flush failed, store is poisoned: {0}")]
    Flush(String),
    /// An error from sled itself (I/O, corruption detected by sled, unsupported on-disk version).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// An operating-system error outside sled (e.g. starting the flusher thread).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(err: TransactionError<StoreError>) -> Self {
        match err {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

impl From<StoreError> for ConflictableTransactionError<StoreError> {
    fn from(err: StoreError) -> Self {
        ConflictableTransactionError::Abort(err)
    }
}

/// The result type of every fallible store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_errors_unwrap_to_the_store_error() {
        let abort = TransactionError::Abort(StoreError::NoSuchBucket("b".into()));
        assert!(matches!(StoreError::from(abort), StoreError::NoSuchBucket(b) if b == "b"));
        let storage = TransactionError::Storage(sled::Error::Unsupported("x".into()));
        assert!(matches!(StoreError::from(storage), StoreError::Sled(_)));
        let conflictable = ConflictableTransactionError::from(StoreError::NoSuchCleanupTask(7));
        assert!(matches!(
            conflictable,
            ConflictableTransactionError::Abort(StoreError::NoSuchCleanupTask(7))
        ));
    }

    #[test]
    fn messages_name_the_thing() {
        let e = StoreError::QuotaExceeded {
            backend: "b1".into(),
            requested: 5,
            used: 10,
            quota: 12,
        };
        assert_eq!(
            e.to_string(),
            "quota of backend \"b1\" exceeded: 5 requested, 10 used or reserved, 12 allowed"
        );
    }
}
