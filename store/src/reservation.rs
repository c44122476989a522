//! Quota reservations as every engine hands them out: bytes set aside on one backend for an upload
//! in flight (DESIGN §3.4). A [`Reservation`] gives its bytes back to the engine's ledger when
//! dropped, unless a commit consumed it, so a failed or abandoned upload never keeps quota.
//!
//! Where the ledger lives is the engine's choice: the sled engine keeps it in memory (one proxy
//! per store); an engine shared by several proxies keeps it where they all see it. A commit that
//! takes reservations (`put_object`, `put_part`) counts the bytes as usage and then lets the
//! reservations go, in that order: for that instant the bytes count twice, which can refuse a
//! borderline request but never admit one too many.

use std::sync::Arc;

/// Where an engine's reservations go back to.
pub trait ReservationLedger: Send + Sync {
    /// Gives back reservation `id` of `bytes` on `backend`. Called from `Drop`, on any thread
    /// (also an async runtime's): it must not block or wait for I/O; an engine that needs I/O to
    /// release queues the release for its own thread.
    fn release(&self, id: u64, backend: &str, bytes: u64);
}

/// Bytes set aside on one backend for an upload in flight. Released when dropped; pass it to the
/// commit of the upload (`put_object`, `put_part`) so the bytes move into committed usage
/// instead.
#[must_use = "a reservation is released as soon as it is dropped"]
pub struct Reservation {
    id: u64,
    backend: String,
    bytes: u64,
    /// `None` once consumed by a commit.
    ledger: Option<Arc<dyn ReservationLedger>>,
}

impl Reservation {
    /// A reservation of `bytes` on `backend`, known to `ledger` as `id`; for engines.
    pub fn new(ledger: Arc<dyn ReservationLedger>, id: u64, backend: impl Into<String>, bytes: u64) -> Self {
        Self {
            id,
            backend: backend.into(),
            bytes,
            ledger: Some(ledger),
        }
    }

    /// The engine's id of this reservation.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The backend the bytes are reserved on.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// How many bytes are reserved.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Marks the reservation as consumed by a commit that removed it from the ledger itself (an
    /// engine whose ledger is part of its transactions): nothing is released on drop. For engines.
    pub fn consume(mut self) {
        self.ledger = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(ledger) = self.ledger.take() {
            ledger.release(self.id, &self.backend, self.bytes);
        }
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("id", &self.id)
            .field("backend", &self.backend)
            .field("bytes", &self.bytes)
            .field("consumed", &self.ledger.is_none())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<(u64, String, u64)>>);

    impl ReservationLedger for Log {
        fn release(&self, id: u64, backend: &str, bytes: u64) {
            self.0.lock().push((id, backend.to_owned(), bytes));
        }
    }

    #[test]
    fn dropping_releases_once_and_consuming_releases_nothing() {
        let log = Arc::new(Log::default());
        let r = Reservation::new(log.clone(), 7, "b1", 100);
        assert_eq!((r.id(), r.backend(), r.bytes()), (7, "b1", 100));
        assert!(format!("{r:?}").contains("consumed: false"));
        drop(r);
        assert_eq!(*log.0.lock(), [(7, "b1".to_owned(), 100)]);
        Reservation::new(log.clone(), 8, "b1", 5).consume();
        assert_eq!(log.0.lock().len(), 1);
    }
}
