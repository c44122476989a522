//! The reservations this instance tracks itself: those it released but has not yet deleted
//! from `s3o_reservations` (left out of its own sums meanwhile, so a release frees quota at
//! once), and those made without a quota (counted in memory only: nothing checks them).
//!
//! A sum of reserved bytes reads the table and then leaves out the ids released by then. An id
//! whose row is deleted *during* that read must still be left out (the read may have counted
//! it, while a reservation granted in its place counts too), so while sums are in flight a
//! confirmed deletion is kept, marked with its batch, until every sum that began before it ends.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{big, unbig, Db};

/// The bit that marks a reservation kept in this instance's memory (one made without a quota:
/// nothing checks it against a limit, so it need not cost a commit in the database).
pub(crate) const LOCAL: u64 = 1 << 62;

/// Released reservations and quota-less ones (see the module's introduction).
#[derive(Default)]
pub(crate) struct Releases {
    pending: Mutex<Pending>,
    pub(crate) wake: Notify,
    local: Mutex<HashMap<String, u64>>,
}

#[derive(Default)]
struct Pending {
    /// Released ids: their backend, and the deletion batch that removed their row, if one did.
    ids: HashMap<u64, (String, Option<u64>)>,
    /// Deletion batches confirmed so far.
    batches: u64,
    /// Sums in flight, counted by the number of batches confirmed when they began.
    readers: BTreeMap<u64, usize>,
}

impl Pending {
    /// Forgets the deleted ids no sum in flight may have counted.
    fn prune(&mut self) {
        match self.readers.keys().next().copied() {
            None => self.ids.retain(|_, (_, done)| done.is_none()),
            Some(oldest) => self.ids.retain(|_, (_, done)| done.is_none_or(|b| b > oldest)),
        }
    }
}

/// A sum of reserved bytes in flight: what it must leave out, once it has read the table.
pub(crate) struct Sum<'a> {
    releases: &'a Releases,
    began: u64,
}

impl Sum<'_> {
    /// The ids on `backend` (every backend if `None`) released before now or deleted since the
    /// sum began.
    pub(crate) fn skip(&self, backend: Option<&str>) -> std::collections::HashSet<u64> {
        let pending = self.releases.pending.lock();
        pending
            .ids
            .iter()
            .filter(|(_, (b, done))| backend.is_none_or(|want| b == want) && done.is_none_or(|d| d > self.began))
            .map(|(id, _)| *id)
            .collect()
    }
}

impl Drop for Sum<'_> {
    fn drop(&mut self) {
        let mut pending = self.releases.pending.lock();
        if let Some(n) = pending.readers.get_mut(&self.began) {
            *n -= 1;
            if *n == 0 {
                pending.readers.remove(&self.began);
            }
        }
        pending.prune();
    }
}

impl Releases {
    /// Records a release and wakes the task that deletes them.
    pub(crate) fn add(&self, id: u64, backend: &str) {
        self.pending.lock().ids.insert(id, (backend.to_owned(), None));
        self.wake.notify_one();
    }

    /// The ids released on `backend` now (for a quota check, which reads the table after this:
    /// one released meanwhile is counted, which errs on the safe side).
    pub(crate) fn on(&self, backend: &str) -> Vec<i64> {
        let pending = self.pending.lock();
        pending
            .ids
            .iter()
            .filter(|(_, (b, _))| b == backend)
            .map(|(id, _)| big(*id))
            .collect()
    }

    /// Begins a sum of reserved bytes: call before reading the table, then [`Sum::skip`].
    pub(crate) fn sum(&self) -> Sum<'_> {
        let mut pending = self.pending.lock();
        let began = pending.batches;
        *pending.readers.entry(began).or_default() += 1;
        Sum { releases: self, began }
    }

    /// The ids released and not yet deleted (for the task that deletes them).
    pub(crate) fn undeleted(&self) -> Vec<i64> {
        let pending = self.pending.lock();
        pending
            .ids
            .iter()
            .filter(|(_, (_, done))| done.is_none())
            .map(|(id, _)| big(*id))
            .collect()
    }

    /// Records that the rows of `ids` are deleted.
    pub(crate) fn done(&self, ids: &[i64]) {
        let mut pending = self.pending.lock();
        pending.batches += 1;
        let batch = pending.batches;
        for id in ids {
            if let Some((_, done)) = pending.ids.get_mut(&unbig(*id)) {
                *done = Some(batch);
            }
        }
        pending.prune();
    }

    /// Counts a reservation made without a quota.
    pub(crate) fn add_local(&self, backend: &str, bytes: u64) {
        let mut local = self.local.lock();
        let n = local.entry(backend.to_owned()).or_default();
        *n = n.saturating_add(bytes);
    }

    /// Forgets the reservations made without a quota on `backend` (the backend is being
    /// removed); their handles release nothing when dropped.
    pub(crate) fn forget_local(&self, backend: &str) {
        self.local.lock().remove(backend);
    }

    /// Bytes reserved without a quota on `backend`.
    pub(crate) fn local_on(&self, backend: &str) -> u64 {
        self.local.lock().get(backend).copied().unwrap_or(0)
    }

    /// Bytes reserved without a quota, by backend.
    pub(crate) fn local_all(&self) -> Vec<(String, u64)> {
        self.local.lock().iter().map(|(b, n)| (b.clone(), *n)).collect()
    }
}

impl crate::reservation::ReservationLedger for Db {
    fn release(&self, id: u64, backend: &str, bytes: u64) {
        if id & LOCAL == 0 {
            self.releases.add(id, backend);
            return;
        }
        let mut local = self.releases.local.lock();
        if let Some(n) = local.get_mut(backend) {
            *n = n.saturating_sub(bytes);
            if *n == 0 {
                local.remove(backend);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_during_a_sum_stays_skipped_until_the_sum_ends() {
        let r = Releases::default();
        r.add(1, "b");
        r.add(2, "c");
        let before = r.sum();
        r.done(&[big(1)]);
        assert!(r.undeleted() == vec![big(2)]);
        let after = r.sum();
        // The sum that began before the deletion may have read the row: it still skips it.
        assert_eq!(before.skip(Some("b")), [1].into());
        assert_eq!(after.skip(Some("b")), [].into());
        assert_eq!(after.skip(None), [2].into());
        drop(before);
        drop(after);
        assert_eq!(r.on("b"), Vec::<i64>::new(), "forgotten once no sum needs it");
        // Without sums in flight a deletion is forgotten at once.
        r.done(&[big(2)]);
        assert!(r.on("c").is_empty() && r.undeleted().is_empty());
    }
}
