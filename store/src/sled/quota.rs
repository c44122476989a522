//! Quotas and usage in the sled engine: committed bytes per backend live in the `usage` tree;
//! bytes of uploads in flight live in an in-memory ledger (one proxy owns a sled store). A
//! reservation is granted only if committed plus reserved plus requested bytes fit the quota,
//! checked and recorded under the ledger's lock, so concurrent writers can never push a backend
//! past its limit (DESIGN §3.4).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use sled::transaction::TransactionalTree;

use super::error::TxError;
use super::layout::{decode_u64, encode_u64, utf8, USAGE};
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::reservation::{Reservation, ReservationLedger};

/// Bytes reserved in flight, by backend.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    state: Mutex<LedgerState>,
}

/// What the ledger's lock guards.
#[derive(Debug, Default)]
struct LedgerState {
    /// Bytes in flight by backend; a backend with none has no entry.
    reserved: HashMap<String, u64>,
    /// The id of the last reservation handed out.
    last_id: u64,
}

impl Ledger {
    /// Forgets every reservation on `backend` (the backend is being removed); their handles
    /// release nothing when dropped.
    pub(crate) fn forget(&self, backend: &str) {
        self.state.lock().reserved.remove(backend);
    }
}

impl ReservationLedger for Ledger {
    fn release(&self, _id: u64, backend: &str, bytes: u64) {
        let mut st = self.state.lock();
        if let Some(n) = st.reserved.get_mut(backend) {
            *n = n.saturating_sub(bytes);
            if *n == 0 {
                st.reserved.remove(backend);
            }
        }
    }
}

impl SledEngine {
    /// Reserves `bytes` on `backend` within `quota_bytes` (see
    /// [`Engine::reserve`](crate::Engine::reserve)).
    pub(crate) fn reserve(&self, backend: &str, bytes: u64, quota_bytes: Option<u64>) -> Result<Reservation> {
        // Bytes that could not be committed should not move.
        self.commits.check()?;
        let mut st = self.ledger.state.lock();
        let in_flight = st.reserved.get(backend).copied().unwrap_or(0);
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
        st.reserved.insert(backend.to_owned(), in_flight.saturating_add(bytes));
        st.last_id += 1;
        let ledger: Arc<dyn ReservationLedger> = self.ledger.clone();
        Ok(Reservation::new(ledger, st.last_id, backend, bytes))
    }

    /// Committed bytes on `backend`.
    pub(crate) fn usage(&self, backend: &str) -> Result<u64> {
        match self.usage.get(backend.as_bytes())? {
            Some(v) => decode_u64(USAGE, &v),
            None => Ok(0),
        }
    }

    /// Committed bytes of every backend that has any, by backend name.
    pub(crate) fn all_usage(&self) -> Result<Vec<(String, u64)>> {
        self.usage
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((utf8(USAGE, &k)?, decode_u64(USAGE, &v)?))
            })
            .collect()
    }

    /// Bytes reserved in flight on `backend`.
    pub(crate) fn reserved(&self, backend: &str) -> u64 {
        self.ledger.state.lock().reserved.get(backend).copied().unwrap_or(0)
    }

    /// Bytes reserved in flight, by backend, for every backend with any.
    pub(crate) fn all_reserved(&self) -> Vec<(String, u64)> {
        let st = self.ledger.state.lock();
        st.reserved.iter().map(|(b, n)| (b.clone(), *n)).collect()
    }
}

/// Adds `delta` (may be negative) to `backend`'s usage inside a transaction; never below zero.
pub(crate) fn adjust_usage(usage: &TransactionalTree, backend: &str, delta: i128) -> std::result::Result<(), TxError> {
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
    use crate::block_on;
    use crate::sled_engine::testing::{ok, temporary};
    use sled::transaction::TransactionError;
    use sled::Transactional;

    fn adjust(engine: &SledEngine, backend: &str, delta: i128) {
        let r: std::result::Result<(), TransactionError<StoreError>> =
            (&engine.usage,).transaction(|(u,)| adjust_usage(u, backend, delta));
        r.unwrap();
    }

    #[test]
    fn released_reservations_leave_no_entry_behind() {
        let (store, engine) = temporary();
        let a = ok(store.reserve("b1", 60, Some(100)));
        let b = ok(store.reserve("b1", 40, Some(100)));
        assert!(b.id() > a.id());
        drop((a, b));
        assert!(engine.ledger.state.lock().reserved.is_empty());
    }

    #[test]
    fn committed_usage_counts_against_the_quota() {
        let (store, engine) = temporary();
        adjust(&engine, "b1", 90);
        assert_eq!(ok(store.usage("b1")), 90);
        assert!(block_on(store.reserve("b1", 11, Some(100))).is_err());
        drop(ok(store.reserve("b1", 10, Some(100))));
        adjust(&engine, "b2", 5);
        assert_eq!(ok(store.all_usage()), vec![("b1".to_owned(), 90), ("b2".to_owned(), 5)]);
    }

    #[test]
    fn usage_never_goes_below_zero_and_zero_is_removed() {
        let (store, engine) = temporary();
        adjust(&engine, "b1", 5);
        adjust(&engine, "b1", -10);
        assert_eq!(ok(store.usage("b1")), 0);
        assert!(ok(store.all_usage()).is_empty());
    }

    #[test]
    fn corrupt_usage_is_reported() {
        let (store, engine) = temporary();
        engine.usage.insert("b1", &b"bad"[..]).unwrap();
        assert!(matches!(block_on(store.usage("b1")), Err(StoreError::Corrupt { .. })));
        assert!(matches!(
            block_on(store.reserve("b1", 1, Some(10))),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(block_on(store.all_usage()), Err(StoreError::Corrupt { .. })));
    }
}
