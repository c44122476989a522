//! The crate's one error type. Each variant names what went wrong and maps to exactly one HTTP
//! status (`Error::status`), so a `Control` implementation picks the status by picking the variant
//! and the handlers turn any error into the seed's `{"error": "..."}` body in one place.

/// Everything that can go wrong in the admin API, from bad input to a failed backend call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent something we cannot accept (missing parameter, invalid JSON, bad key): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist (an object, a backend): 404.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. an operation already running): 409.
    #[error("{0}")]
    Conflict(String),
    /// The feature is not wired in this deployment (e.g. no worker pool): 503.
    #[error("{0}")]
    Unavailable(String),
    /// Our side failed (store, backend, I/O); the message is shown to the admin: 500.
    #[error("{0}")]
    Internal(String),
    /// A configured password hash is not a valid argon2 PHC string.
    #[error("invalid password hash: {0}")]
    PasswordHash(String),
    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Random,
    /// The runtime log level could not be changed (the subscriber is gone).
    #[error("cannot change the log level: {0}")]
    LogLevel(String),
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Unavailable(_) => 503,
            Error::Internal(_) | Error::PasswordHash(_) | Error::Random | Error::LogLevel(_) => 500,
        }
    }

    /// Shorthand for [`Error::BadRequest`].
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }

    /// Shorthand for [`Error::Internal`].
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(Error::bad_request("x").status(), 400);
        assert_eq!(Error::NotFound("x".into()).status(), 404);
        assert_eq!(Error::Conflict("x".into()).status(), 409);
        assert_eq!(Error::Unavailable("x".into()).status(), 503);
        assert_eq!(Error::internal("x").status(), 500);
        assert_eq!(Error::Random.status(), 500);
        assert_eq!(Error::bad_request("no key").to_string(), "no key");
    }
}
