//! Document collections: the small records of the access layer (users, sessions, S3 credentials,
//! anonymous bindings, audit events…) as opaque values under `(collection, id)`, each with a
//! revision that grows by one per write. Writes go in atomic batches whose every entry may state
//! what it expects of the document first ([`Expect`]): the whole batch applies, or nothing does and
//! the call fails with [`StoreError::DocConflict`] naming the first entry that did not hold. That
//! is enough for unique names (create a name document with [`Expect::Absent`] beside the record),
//! optimistic updates ([`Expect::Revision`]) and invariants over several records (bump a guard
//! document in the same batch).
//!
//! Listing ([`DocQuery`]) is by id in bytewise order, forwards or backwards, from after a cursor,
//! under an id prefix, so time-ordered ids (audit events) page newest first.

use crate::error::{Result, StoreError};

/// Largest value of one document: records are small; anything bigger is a caller's bug.
pub const MAX_DOC_BYTES: usize = 64 * 1024;
/// Most writes in one batch: a batch is one transaction, kept short.
pub const MAX_DOC_BATCH: usize = 64;
/// Longest collection name or document id, in bytes.
pub const MAX_DOC_NAME: usize = 512;
/// Most documents one [`DocQuery`] returns.
pub const MAX_DOC_PAGE: usize = 1000;

/// What a write expects of the document's current state; the batch fails when it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Nothing.
    Any,
    /// There is no such document.
    Absent,
    /// There is one, of any revision.
    Present,
    /// There is one, at exactly this revision.
    Revision(u64),
}

impl Expect {
    /// Whether a document at `revision` (`None`: absent) meets this expectation.
    pub fn holds(self, revision: Option<u64>) -> bool {
        match (self, revision) {
            (Expect::Any, _) => true,
            (Expect::Absent, r) => r.is_none(),
            (Expect::Present, r) => r.is_some(),
            (Expect::Revision(want), Some(r)) => want == r,
            (Expect::Revision(_), None) => false,
        }
    }
}

/// What a write does once its expectation holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocOp {
    /// Stores this value (creating the document at revision 1, or the next revision).
    Put(Vec<u8>),
    /// Removes the document (a no-op when absent and expected so).
    Delete,
    /// Nothing: the entry only checks its expectation.
    Check,
}

/// One entry of a batch given to [`Engine::apply_docs`](crate::Engine::apply_docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWrite {
    /// The collection (ASCII letters, digits, `-`, `_`, `/`, `.`).
    pub collection: String,
    /// The document id (UTF-8, no `0x00`).
    pub id: String,
    /// What must hold first.
    pub expect: Expect,
    /// What then happens.
    pub op: DocOp,
}

impl DocWrite {
    /// Stores `value` whatever was there.
    pub fn put(collection: &str, id: &str, value: Vec<u8>) -> DocWrite {
        DocWrite::new(collection, id, Expect::Any, DocOp::Put(value))
    }

    /// Creates the document; the batch fails if it exists.
    pub fn create(collection: &str, id: &str, value: Vec<u8>) -> DocWrite {
        DocWrite::new(collection, id, Expect::Absent, DocOp::Put(value))
    }

    /// Replaces the document if it is still at `revision`.
    pub fn replace(collection: &str, id: &str, revision: u64, value: Vec<u8>) -> DocWrite {
        DocWrite::new(collection, id, Expect::Revision(revision), DocOp::Put(value))
    }

    /// Removes the document, which must meet `expect`.
    pub fn delete(collection: &str, id: &str, expect: Expect) -> DocWrite {
        DocWrite::new(collection, id, expect, DocOp::Delete)
    }

    /// Only checks `expect`.
    pub fn check(collection: &str, id: &str, expect: Expect) -> DocWrite {
        DocWrite::new(collection, id, expect, DocOp::Check)
    }

    fn new(collection: &str, id: &str, expect: Expect, op: DocOp) -> DocWrite {
        DocWrite {
            collection: collection.to_owned(),
            id: id.to_owned(),
            expect,
            op,
        }
    }

    /// The conflict error this entry fails its batch with.
    pub fn conflict(&self) -> StoreError {
        StoreError::DocConflict {
            collection: self.collection.clone(),
            id: self.id.clone(),
        }
    }
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// Its id within its collection.
    pub id: String,
    /// 1 when created, one more per write since.
    pub revision: u64,
    /// The value as stored.
    pub value: Vec<u8>,
}

/// A page of one collection, by id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocQuery {
    /// The collection.
    pub collection: String,
    /// Only ids starting with this.
    pub prefix: String,
    /// Only ids after this one (before it when `reverse`).
    pub after: Option<String>,
    /// At most this many (capped at [`MAX_DOC_PAGE`]; 0 means the cap).
    pub limit: usize,
    /// Descending id order.
    pub reverse: bool,
}

impl DocQuery {
    /// The first page of `collection` in ascending order.
    pub fn all(collection: &str) -> DocQuery {
        DocQuery {
            collection: collection.to_owned(),
            ..DocQuery::default()
        }
    }

    /// The number of documents to return.
    pub fn page_size(&self) -> usize {
        match self.limit {
            0 => MAX_DOC_PAGE,
            n => n.min(MAX_DOC_PAGE),
        }
    }

    /// Whether `id` is in this query's range (prefix and cursor).
    pub fn admits(&self, id: &str) -> bool {
        id.starts_with(&self.prefix)
            && match &self.after {
                None => true,
                Some(a) if self.reverse => id < a.as_str(),
                Some(a) => id > a.as_str(),
            }
    }
}

/// Refuses a collection name or id the engines cannot store, and oversized values.
pub(crate) fn check_name(collection: &str, id: &str) -> Result<()> {
    let collection_ok = !collection.is_empty()
        && collection.len() <= MAX_DOC_NAME
        && collection
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'));
    if !collection_ok {
        return Err(StoreError::InvalidDoc(format!("collection name {collection:?}")));
    }
    if id.len() > MAX_DOC_NAME || id.contains('\0') {
        return Err(StoreError::InvalidDoc(format!("document id {id:?} in {collection}")));
    }
    Ok(())
}

/// Checks a whole batch before an engine starts it.
pub(crate) fn check_batch(writes: &[DocWrite]) -> Result<()> {
    if writes.len() > MAX_DOC_BATCH {
        return Err(StoreError::InvalidDoc(format!(
            "{} writes in one batch (at most {MAX_DOC_BATCH})",
            writes.len()
        )));
    }
    for w in writes {
        check_name(&w.collection, &w.id)?;
        if let DocOp::Put(v) = &w.op {
            if v.len() > MAX_DOC_BYTES {
                return Err(StoreError::InvalidDoc(format!(
                    "{}/{}: {} bytes (at most {MAX_DOC_BYTES})",
                    w.collection,
                    w.id,
                    v.len()
                )));
            }
        }
    }
    Ok(())
}

/// Checks a query's collection and prefix.
pub(crate) fn check_query(query: &DocQuery) -> Result<()> {
    check_name(&query.collection, &query.prefix)?;
    if let Some(a) = &query.after {
        check_name(&query.collection, a)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations() {
        assert!(Expect::Any.holds(None) && Expect::Any.holds(Some(3)));
        assert!(Expect::Absent.holds(None) && !Expect::Absent.holds(Some(1)));
        assert!(!Expect::Present.holds(None) && Expect::Present.holds(Some(1)));
        assert!(Expect::Revision(2).holds(Some(2)) && !Expect::Revision(2).holds(Some(3)));
        assert!(!Expect::Revision(1).holds(None));
    }

    #[test]
    fn names_and_sizes_are_bounded() {
        assert!(check_name("users", "u-1").is_ok());
        assert!(check_name("", "x").is_err());
        assert!(check_name("bad name", "x").is_err());
        assert!(check_name("c", "a\0b").is_err());
        assert!(check_name("c", &"x".repeat(MAX_DOC_NAME + 1)).is_err());
        let big = DocWrite::put("c", "x", vec![0; MAX_DOC_BYTES + 1]);
        assert!(check_batch(&[big]).is_err());
        let many = vec![DocWrite::check("c", "x", Expect::Any); MAX_DOC_BATCH + 1];
        assert!(check_batch(&many).is_err());
    }

    #[test]
    fn query_ranges() {
        let mut q = DocQuery::all("c");
        q.prefix = "a".into();
        q.after = Some("ab".into());
        assert!(q.admits("ac") && !q.admits("ab") && !q.admits("b"));
        q.reverse = true;
        assert!(q.admits("aa") && !q.admits("ac"));
        assert_eq!(DocQuery::all("c").page_size(), MAX_DOC_PAGE);
    }
}
