//! Quotas and usage: committed bytes per backend live in the `usage` tree; bytes of uploads in
//! flight live in an in-memory reservation table. A reservation is granted only if committed plus
//! reserved plus requested bytes fit the quota, checked and recorded under one lock, so concurrent
//! writers can never push a backend past its limit (DESIGN §3.4).
//!
//! When `put_object` commits, it adds the object's bytes to usage and then drops the reservation,
//! in that order: for that instant the bytes count twice, which can refuse a borderline request
//! but never admit one too many.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::error::{Result, StoreError};
use crate::sled_engine::layout::{decode_u64, encode_u64, utf8, USAGE};
use crate::Store;

/// Bytes reserved in flight, by backend.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    reserved: Mutex<HashMap<String, u64>>,
}

impl Ledger {
    /// Gives `bytes` of `backend` back.
    fn release(&self, backend: &str, bytes: u64) {
        let mut reserved = self.reserved.lock();
        if let Some(n) = reserved.get_mut(backend) {
            *n = n.saturating_sub(bytes);
            if *n == 0 {
                reserved.remove(backend);
            }
        }
    }
}

/// Bytes set aside on one backend for an upload in flight. Released when dropped; pass it to
/// [`Store::put_object`] so the bytes move into committed usage instead.
#[derive(Debug)]
#[must_use = "a reservation is released as soon as it is dropped"]
pub struct Reservation {
    ledger: Arc<Ledger>,
    backend: String,
    bytes: u64,
}

impl Reservation {
    /// The backend the bytes are reserved on.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// How many bytes are reserved.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.ledger.release(&self.backend, self.bytes);
    }
}

impl Store {
    /// Reserves `bytes` on `backend` if committed usage plus reservations in flight plus `bytes`
    /// stay within `quota_bytes` (no limit when `None`; the bytes are still tracked).
    pub fn reserve(&self, backend: &str, bytes: u64, quota_bytes: Option<u64>) -> Result<Reservation> {
        let ledger = &self.inner.ledger;
        let mut reserved = ledger.reserved.lock();
        let in_flight = reserved.get(backend).copied().unwrap_or(0);
        if let Some(quota) = quota_bytes {
            let used = self.usage(backend)?.saturating_add(in_flight);
            if used.checked_add(bytes).is_none_or(|total| total > quota) {
                return Err(StoreError::QuotaExceeded {
                    backend: backend.to_owned(),
                    requested: bytes,
                    used,
                    quota,
                });
            }
        }
        reserved.insert(backend.to_owned(), in_flight.saturating_add(bytes));
        Ok(Reservation {
            ledger: Arc::clone(ledger),
            backend: backend.to_owned(),
            bytes,
        })
    }

    /// Committed bytes on `backend`: current versions plus replaced ones not yet cleaned up.
    pub fn usage(&self, backend: &str) -> Result<u64> {
        match self.inner.usage.get(backend.as_bytes())? {
            Some(v) => decode_u64(USAGE, &v),
            None => Ok(0),
        }
    }

    /// Committed bytes of every backend that has any, by backend name.
    pub fn all_usage(&self) -> Result<Vec<(String, u64)>> {
        self.inner
            .usage
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((utf8(USAGE, &k)?, decode_u64(USAGE, &v)?))
            })
            .collect()
    }

    /// Bytes reserved in flight on `backend`.
    pub fn reserved(&self, backend: &str) -> u64 {
        self.inner.ledger.reserved.lock().get(backend).copied().unwrap_or(0)
    }
}

/// Adds `delta` (may be negative) to `backend`'s usage inside a transaction; never below zero.
pub(crate) fn adjust_usage(
    usage: &TransactionalTree,
    backend: &str,
    delta: i128,
) -> std::result::Result<(), ConflictableTransactionError<StoreError>> {
    let current = match usage.get(backend.as_bytes())? {
        Some(v) => decode_u64(USAGE, &v)?,
        None => 0,
    };
    let next = i128::from(current) + delta;
    if next < 0 {
        tracing::warn!(backend, current, delta = %delta, "usage would go negative; clamped to 0");
    }
    let next = u64::try_from(next.max(0)).unwrap_or(u64::MAX);
    if next == 0 {
        usage.remove(backend.as_bytes())?;
    } else {
        usage.insert(backend.as_bytes(), &encode_u64(next))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::transaction::TransactionError;
    use sled::Transactional;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn adjust(store: &Store, backend: &str, delta: i128) {
        let r: std::result::Result<(), TransactionError<StoreError>> =
            (&store.inner.usage,).transaction(|(u,)| adjust_usage(u, backend, delta));
        r.unwrap();
    }

    #[test]
    fn reservations_count_until_dropped() {
        let store = Store::temporary().unwrap();
        let a = store.reserve("b1", 60, Some(100)).unwrap();
        assert_eq!((a.backend(), a.bytes()), ("b1", 60));
        assert_eq!(store.reserved("b1"), 60);
        let err = store.reserve("b1", 41, Some(100)).unwrap_err();
        assert!(matches!(
            err,
            StoreError::QuotaExceeded { ref backend, requested: 41, used: 60, quota: 100 } if backend == "b1"
        ));
        let b = store.reserve("b1", 40, Some(100)).unwrap();
        drop(a);
        assert_eq!(store.reserved("b1"), 40);
        drop(b);
        assert_eq!(store.reserved("b1"), 0);
        assert!(store.inner.ledger.reserved.lock().is_empty());
    }

    #[test]
    fn committed_usage_counts_and_no_quota_means_no_limit() {
        let store = Store::temporary().unwrap();
        adjust(&store, "b1", 90);
        assert_eq!(store.usage("b1").unwrap(), 90);
        assert!(store.reserve("b1", 11, Some(100)).is_err());
        let r = store.reserve("b1", 10, Some(100)).unwrap();
        drop(r);
        let huge = store.reserve("b1", u64::MAX, None).unwrap();
        assert_eq!(store.reserved("b1"), u64::MAX);
        // Overflowing arithmetic is a refusal, not a wrap-around.
        assert!(store.reserve("b1", 1, Some(u64::MAX)).is_err());
        drop(huge);
        adjust(&store, "b2", 5);
        assert_eq!(
            store.all_usage().unwrap(),
            vec![("b1".to_owned(), 90), ("b2".to_owned(), 5)]
        );
    }

    #[test]
    fn usage_never_goes_below_zero_and_zero_is_removed() {
        let store = Store::temporary().unwrap();
        adjust(&store, "b1", 5);
        adjust(&store, "b1", -10);
        assert_eq!(store.usage("b1").unwrap(), 0);
        assert!(store.all_usage().unwrap().is_empty());
    }

    #[test]
    fn corrupt_usage_is_reported() {
        let store = Store::temporary().unwrap();
        store.inner.usage.insert("b1", &b"bad"[..]).unwrap();
        assert!(matches!(store.usage("b1"), Err(StoreError::Corrupt { .. })));
        assert!(matches!(
            store.reserve("b1", 1, Some(10)),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(store.all_usage(), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_quota() {
        let store = Store::temporary().unwrap();
        let quota = 1_000;
        let peak = Arc::new(AtomicU64::new(0));
        let granted = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                let peak = Arc::clone(&peak);
                let granted = Arc::clone(&granted);
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..500u64 {
                        let bytes = 1 + (i * 7 + t) % 50;
                        if let Ok(r) = store.reserve("b", bytes, Some(quota)) {
                            granted.fetch_add(1, Ordering::Relaxed);
                            peak.fetch_max(store.reserved("b"), Ordering::Relaxed);
                            held.push(r);
                        }
                        if held.len() > 3 {
                            drop(held.remove(0));
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(peak.load(Ordering::Relaxed) <= quota);
        assert!(granted.load(Ordering::Relaxed) > 0);
        assert_eq!(store.reserved("b"), 0);
    }
}
