//! Document collections in the PostgreSQL engine: table `s3o_docs` (migration 5). A batch is one
//! transaction: each entry locks its row (`FOR UPDATE`), checks its expectation and writes; a
//! concurrent creation of the same new document ends in a unique violation, which the engine
//! retries, and the retry then sees the document.

use tokio_postgres::types::ToSql;

use super::error::PgErr;
use super::pool::Conn;
use super::{attempt, big, unbig, Db};
use crate::docs::{check_batch, check_name, check_query, Doc, DocOp, DocQuery, DocWrite};
use crate::error::Result;

const LOCK: &str = "SELECT revision FROM s3o_docs WHERE collection = $1 AND id = $2 FOR UPDATE";
const INSERT: &str = "INSERT INTO s3o_docs (collection, id, revision, value) VALUES ($1, $2, 1, $3)";
const UPDATE: &str = "UPDATE s3o_docs SET revision = $3, value = $4 WHERE collection = $1 AND id = $2";
const DELETE: &str = "DELETE FROM s3o_docs WHERE collection = $1 AND id = $2";
const GET: &str = "SELECT id, revision, value FROM s3o_docs WHERE collection = $1 AND id = $2";
/// A page: ids in [$2, $3) (the prefix's range, narrowed by the cursor), $4 at most.
const PAGE_UP: &str = "SELECT id, revision, value FROM s3o_docs
    WHERE collection = $1 AND id >= $2 AND ($3::text IS NULL OR id < $3) AND ($5::text IS NULL OR id > $5)
    ORDER BY id LIMIT $4";
const PAGE_DOWN: &str = "SELECT id, revision, value FROM s3o_docs
    WHERE collection = $1 AND id >= $2 AND ($3::text IS NULL OR id < $3) AND ($5::text IS NULL OR id < $5)
    ORDER BY id DESC LIMIT $4";

/// Applies a batch (see [`Engine::apply_docs`](crate::Engine::apply_docs)).
pub(crate) async fn apply(db: &Db, writes: Vec<DocWrite>) -> Result<Vec<u64>> {
    check_batch(&writes)?;
    attempt!(db, |conn| apply_tx(&mut conn, &writes))
}

/// One attempt at [`apply`].
async fn apply_tx(conn: &mut Conn<'_>, writes: &[DocWrite]) -> std::result::Result<Vec<u64>, PgErr> {
    let lock = conn.st(LOCK).await?;
    let insert = conn.st(INSERT).await?;
    let update = conn.st(UPDATE).await?;
    let delete = conn.st(DELETE).await?;
    let c = conn.client();
    c.batch_execute("BEGIN").await?;
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        let key: [&(dyn ToSql + Sync); 2] = [&w.collection, &w.id];
        let current = c
            .query_opt(&lock, &key)
            .await?
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?;
        let current = current.map(unbig);
        if !w.expect.holds(current) {
            return Err(w.conflict().into());
        }
        let after = match (&w.op, current) {
            (DocOp::Put(value), None) => {
                c.execute(&insert, &[&w.collection, &w.id, value]).await?;
                1
            }
            (DocOp::Put(value), Some(r)) => {
                let next = r.saturating_add(1);
                c.execute(&update, &[&w.collection, &w.id, &big(next), value]).await?;
                next
            }
            (DocOp::Delete, Some(_)) => {
                c.execute(&delete, &key).await?;
                0
            }
            (DocOp::Delete, None) => 0,
            (DocOp::Check, r) => r.unwrap_or(0),
        };
        out.push(after);
    }
    c.batch_execute("COMMIT").await?;
    Ok(out)
}

/// A row as a [`Doc`].
fn doc_of(row: &tokio_postgres::Row) -> std::result::Result<Doc, PgErr> {
    Ok(Doc {
        id: row.try_get(0)?,
        revision: unbig(row.try_get(1)?),
        value: row.try_get(2)?,
    })
}

/// One document.
pub(crate) async fn get(db: &Db, collection: String, id: String) -> Result<Option<Doc>> {
    check_name(&collection, &id)?;
    super::row_if_any(db, GET, &[&collection, &id], doc_of).await
}

/// A page of a collection (see [`DocQuery`]).
pub(crate) async fn page(db: &Db, query: DocQuery) -> Result<Vec<Doc>> {
    check_query(&query)?;
    let upper = prefix_end(&query.prefix);
    let limit = i64::try_from(query.page_size()).unwrap_or(i64::MAX);
    let sql = if query.reverse { PAGE_DOWN } else { PAGE_UP };
    attempt!(db, |conn| async {
        let st = conn.st(sql).await?;
        let params: [&(dyn ToSql + Sync); 5] = [&query.collection, &query.prefix, &upper, &limit, &query.after];
        let rows = conn.client().query(&st, &params).await?;
        rows.iter().map(doc_of).collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// The first string after every string starting with `prefix` (`None`: no bound, for the empty
/// prefix or one of only U+10FFFF). Ids compare bytewise (`COLLATE "C"`), as UTF-8 does by
/// code point.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }
}
