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
    /// No version of the key has this id.
    #[error("version {version:?} of key {key:?} does not exist in bucket {bucket:?}")]
    NoSuchVersion {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The version id asked for.
        version: String,
    },
    /// The version asked for is a delete marker, which has no body, tags or lock.
    #[error("version {version:?} of key {key:?} in bucket {bucket:?} is a delete marker")]
    DeleteMarker {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The delete marker's version id.
        version: String,
    },
    /// Object lock forbids the change: removing a retained or held version, or shortening a
    /// retention.
    #[error("version {version:?} of key {key:?} in bucket {bucket:?} is locked: {why}")]
    Locked {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The version's id.
        version: String,
        /// What forbids it.
        why: &'static str,
    },
    /// The bucket's state does not allow the change (suspending versioning with object lock,
    /// object lock without versioning).
    #[error("bucket {bucket:?}: {why}")]
    InvalidBucketState {
        /// The bucket.
        bucket: String,
        /// Why.
        why: &'static str,
    },
    /// A retention or legal hold on a version in a bucket without object lock.
    #[error("bucket {0:?} has no object lock configuration")]
    NoObjectLock(String),
    /// The multipart upload id is unknown (never created, completed or aborted).
    #[error("multipart upload {0:?} does not exist")]
    NoSuchUpload(String),
    /// A multipart upload changed while it was being completed or aborted (a part arrived); the
    /// caller may try again.
    #[error("multipart upload {0:?} changed concurrently")]
    UploadChanged(String),
    /// The version a change was meant for is no longer the one its reference names (a newer
    /// version replaced it since the caller read it); nothing was changed.
    #[error("{bucket}/{key:?} changed since it was read")]
    VersionChanged {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// A cleanup task id that is not (or no longer) in the queue.
    #[error("cleanup task {0} does not exist")]
    NoSuchCleanupTask(u64),
    /// A document batch's expectation did not hold for this document (it exists, does not, or
    /// changed since it was read); nothing of the batch was written.
    #[error("document {collection}/{id:?} is not as expected (it exists, is missing or changed)")]
    DocConflict {
        /// The document's collection.
        collection: String,
        /// Its id.
        id: String,
    },
    /// A document write or query the store refuses (a bad name, too large, too many at once).
    #[error("invalid document request: {0}")]
    InvalidDoc(String),
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
    /// The store cannot commit: making a commit durable failed (or the engine's storage refused
    /// a write), so the engine no longer promises durability on that handle (a failed fsync
    /// cannot be retried safely). Every later mutation fails with it at once until the engine has
    /// recovered (the sled engine of [`Store::open`](crate::Store::open) reopens itself once its
    /// directory takes writes again); reads still answer. Retryable: see
    /// [`is_unavailable`](Self::is_unavailable).
    #[error("metadata store cannot commit: {0}")]
    Flush(String),
    /// The engine cannot answer at all for now, reads included: it is reopening after it could
    /// not commit, or reopening failed (it keeps trying). Retryable.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    /// An error inside the engine that has no better name here (corruption the engine detected,
    /// an unsupported on-disk version, a lost connection to a database server).
    #[error("metadata engine: {0}")]
    Engine(String),
    /// An operating-system error (reading or writing the engine's files, starting its threads).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether the store could not commit or answer for now ([`Flush`](Self::Flush),
    /// [`Unavailable`](Self::Unavailable)), and the same call may succeed once the engine has
    /// recovered. Whether a mutation that failed so took effect is only known once the engine
    /// answers again: usually not, but its transaction may have reached the disk before the
    /// failure.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Flush(_) | StoreError::Unavailable(_))
    }
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
        assert!(StoreError::Flush("disk full".into()).is_unavailable());
        assert!(StoreError::Unavailable("reopening".into()).is_unavailable());
        assert!(!StoreError::NoSuchBucket("b".into()).is_unavailable());
        assert_eq!(
            StoreError::Flush("flush failed: no space".into()).to_string(),
            "metadata store cannot commit: flush failed: no space"
        );
        assert_eq!(
            StoreError::InvalidPeriod("2024-13".into()).to_string(),
            "usage period \"2024-13\" is not of the form YYYY-MM"
        );
    }
}
