//! How sled's errors become [`StoreError`]s: I/O errors keep their kind, everything else sled
//! reports becomes [`StoreError::Engine`]; an aborted transaction yields the error it aborted with.

use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::error::StoreError;

/// The error type inside a transaction closure.
pub(crate) type TxError = ConflictableTransactionError<StoreError>;

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        match err {
            sled::Error::Io(e) => StoreError::Io(e),
            other => StoreError::Engine(format!("sled: {other}")),
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(err: TransactionError<StoreError>) -> Self {
        match err {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

impl From<StoreError> for TxError {
    fn from(err: StoreError) -> Self {
        ConflictableTransactionError::Abort(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_errors_unwrap_to_the_store_error() {
        let abort = TransactionError::Abort(StoreError::NoSuchBucket("b".into()));
        assert!(matches!(StoreError::from(abort), StoreError::NoSuchBucket(b) if b == "b"));
        let storage = TransactionError::Storage(sled::Error::Unsupported("x".into()));
        assert!(matches!(StoreError::from(storage), StoreError::Engine(m) if m.contains("x")));
        let io = sled::Error::Io(std::io::Error::other("disk"));
        assert!(matches!(StoreError::from(io), StoreError::Io(_)));
        let conflictable = TxError::from(StoreError::NoSuchCleanupTask(7));
        assert!(matches!(
            conflictable,
            ConflictableTransactionError::Abort(StoreError::NoSuchCleanupTask(7))
        ));
    }
}
