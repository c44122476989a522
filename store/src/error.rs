//! The one error type of the store: every way a metadata operation can fail, named for what went
//! wrong, whatever the engine. The proxy maps these onto S3 error codes and HTTP statuses in
//! exactly one place. An engine converts its own errors into these inside its module (the sled
//! engine's conversions are in `sled/error.rs`); no engine type appears here.

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
    /// A bucket name no engine can hold (empty, or containing a NUL byte).
    #[error("bucket name {0:?} is not valid")]
    InvalidBucketName(String),
    /// A usage period that is not of the form `YYYY-MM`.
    #[error("usage period {0:?} is not of the form YYYY-MM")]
    InvalidPeriod(String),
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
    /// A stored record that does not decode: the store is damaged or from an incompatible
    /// version.
    #[error("corrupt {record} record: {detail}")]
    Corrupt {
        /// The kind of record (the engine's tree or table name).
        record: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A value that could not be encoded for storage.
    #[error("cannot encode {record} record: {detail}")]
    Encode {
        /// The kind of record it was meant for.
        record: &'static str,
        /// Why encoding failed.
        detail: String,
    },
    /// Making a commit durable failed; the store no longer promises durability and must be
    /// restarted (a failed fsync cannot be retried safely). Every later mutation fails with it.
    #[error("metadata flush failed, store is poisoned: {0}")]
    Flush(String),
    /// An error inside the engine that has no better name here (corruption the engine detected,
    /// an unsupported on-disk version, a lost connection to a database server).
    #[error("metadata engine: {0}")]
    Engine(String),
    /// An operating-system error (reading or writing the engine's files, starting its threads).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The result type of every fallible store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = StoreError::Corrupt {
            record: "objects",
            detail: "eof".into(),
        };
        assert_eq!(e.to_string(), "corrupt objects record: eof");
        assert_eq!(
            StoreError::InvalidPeriod("2024-13".into()).to_string(),
            "usage period \"2024-13\" is not of the form YYYY-MM"
        );
    }
}
