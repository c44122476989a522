//! Document collections in the sled engine: one tree, `docs`, keyed `collection 0x00 id`, each
//! value the revision (`u64` big-endian) followed by the document. A batch is one sled
//! transaction over that tree (whose reads see the batch's own earlier writes), then the group
//! commit makes it durable.

use sled::transaction::ConflictableTransactionError;

use super::commit::CommitTicket;
use super::layout::DOCS;
use super::SledEngine;
use crate::docs::{check_batch, check_name, check_query, Doc, DocOp, DocQuery, DocWrite};
use crate::error::{Result, StoreError};

/// `collection 0x00 id`.
fn doc_key(collection: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(collection.len() + 1 + id.len());
    k.extend_from_slice(collection.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The revision at the front of a stored value.
fn revision_of(value: &[u8]) -> Result<u64> {
    value
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt {
            record: DOCS,
            detail: format!("value of {} bytes has no revision", value.len()),
        })
}

/// The first key after every key that starts with `prefix` (which holds a `0x00`, so some byte
/// below `0xFF` can be raised).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF; prefix.len() + 1]
}

/// A stored value: the revision, then the document.
fn stored(revision: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&revision.to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// A stored entry as a [`Doc`], its id taken from the key after `collection 0x00`.
fn doc_of(skip: usize, key: &[u8], value: &[u8]) -> Result<Doc> {
    let id = key.get(skip..).unwrap_or_default();
    Ok(Doc {
        id: String::from_utf8(id.to_vec()).map_err(|_| StoreError::Corrupt {
            record: DOCS,
            detail: "document id is not UTF-8".into(),
        })?,
        revision: revision_of(value)?,
        value: value.get(8..).unwrap_or_default().to_vec(),
    })
}

impl SledEngine {
    /// Applies a batch (see [`Engine::apply_docs`](crate::Engine::apply_docs)).
    pub(crate) fn apply_docs(&self, writes: &[DocWrite]) -> Result<(Vec<u64>, CommitTicket)> {
        check_batch(writes)?;
        self.commits.check()?;
        let revisions = self.docs.transaction(|tx| {
            let mut out = Vec::with_capacity(writes.len());
            for w in writes {
                let key = doc_key(&w.collection, &w.id);
                let current = tx.get(&key)?.map(|v| revision_of(&v)).transpose()?;
                if !w.expect.holds(current) {
                    return Err(ConflictableTransactionError::Abort(w.conflict()));
                }
                let after = match &w.op {
                    DocOp::Put(value) => {
                        let next = current.unwrap_or(0).saturating_add(1);
                        tx.insert(key, stored(next, value))?;
                        next
                    }
                    DocOp::Delete => {
                        tx.remove(key)?;
                        0
                    }
                    DocOp::Check => current.unwrap_or(0),
                };
                out.push(after);
            }
            Ok(out)
        })?;
        let changed = writes.iter().any(|w| w.op != DocOp::Check);
        Ok((
            revisions,
            if changed {
                self.commits.ticket()
            } else {
                CommitTicket::ready()
            },
        ))
    }

    /// One document.
    pub(crate) fn doc(&self, collection: &str, id: &str) -> Result<Option<Doc>> {
        check_name(collection, id)?;
        let skip = collection.len() + 1;
        let key = doc_key(collection, id);
        self.docs.get(&key)?.map(|v| doc_of(skip, &key, &v)).transpose()
    }

    /// A page of a collection (see [`DocQuery`]): one range scan from the cursor.
    pub(crate) fn docs(&self, query: &DocQuery) -> Result<Vec<Doc>> {
        check_query(query)?;
        let skip = query.collection.len() + 1;
        let mut lower = doc_key(&query.collection, &query.prefix);
        let mut upper = prefix_end(&lower);
        if let Some(after) = &query.after {
            let cursor = doc_key(&query.collection, after);
            if query.reverse {
                upper = upper.min(cursor);
            } else {
                lower = lower.max(cursor);
            }
        }
        if lower >= upper {
            return Ok(Vec::new());
        }
        let range = self.docs.range(lower..upper);
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if query.reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let limit = query.page_size();
        let mut out = Vec::new();
        for kv in entries {
            let (k, v) = kv?;
            let doc = doc_of(skip, &k, &v)?;
            // The forward range starts at the cursor itself.
            if query.admits(&doc.id) {
                out.push(doc);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}
