//! How the PostgreSQL engine's failures become [`StoreError`]s: a lost or refused connection, a
//! server shutting down or out of resources (a full disk) is `Unavailable` (retryable, and
//! reported in the engine's health); a serialization failure, a deadlock or a unique violation
//! between racing writers is retried by the engine itself; anything else is `Engine` with the
//! server's message.

use tokio_postgres::error::SqlState;

use crate::error::StoreError;

/// What an attempt at one call failed with.
#[derive(Debug)]
pub(crate) enum PgErr {
    /// A failure with its meaning (a failed condition, a missing record).
    Store(StoreError),
    /// The database's or the connection's.
    Db(tokio_postgres::Error),
}

impl From<StoreError> for PgErr {
    fn from(e: StoreError) -> Self {
        PgErr::Store(e)
    }
}

impl From<tokio_postgres::Error> for PgErr {
    fn from(e: tokio_postgres::Error) -> Self {
        PgErr::Db(e)
    }
}

impl PgErr {
    /// Whether the whole attempt may simply run again: it lost a race to a concurrent writer
    /// and rolled back.
    pub(crate) fn is_retryable(&self) -> bool {
        let PgErr::Db(e) = self else { return false };
        matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::UNIQUE_VIOLATION
        )
    }

    /// The store's error for it.
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            PgErr::Store(e) => e,
            PgErr::Db(e) => from_db(&e),
        }
    }
}

/// The store's error for a database error.
pub(crate) fn from_db(e: &tokio_postgres::Error) -> StoreError {
    if is_unavailable(e) {
        StoreError::Unavailable(format!("postgres: {}", describe(e)))
    } else {
        StoreError::Engine(format!("postgres: {}", describe(e)))
    }
}

/// Whether the error means the database cannot serve now (connection lost or refused, server
/// shutting down, out of disk or memory, too many connections) rather than a refused statement.
pub(crate) fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08: connection exception; 53: insufficient resources; 57P: operator
        // intervention (shutdown, crash recovery); 58: system error (I/O).
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") || c.starts_with("58")
        }
        // No SQLSTATE: an I/O or TLS error on the socket, a timeout.
        None => true,
    }
}

/// The error's message with the server's detail, on one line.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    }
}
