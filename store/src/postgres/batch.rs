//! Pipelining: statements queued in a [`Batch`] go out to the server back to back, and the batch
//! waits for all their answers at once, so a transaction's writes and its `COMMIT` cost one
//! round trip. Statements run in the order queued; if one fails, the server skips the rest of
//! the transaction (a queued `COMMIT` then rolls back) and the batch fails with the first error.

use std::future::Future;
use std::pin::Pin;

use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::error::PgErr;

/// One queued statement's future: the rows it affected.
type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// Statements to send together on one connection.
pub(crate) struct Batch<'a> {
    client: &'a Client,
    queued: Vec<Pending<'a>>,
}

impl<'a> Batch<'a> {
    /// An empty batch on `client`.
    pub(crate) fn new(client: &'a Client) -> Self {
        Self {
            client,
            queued: Vec::new(),
        }
    }

    /// Queues `st` with `params`.
    pub(crate) fn exec(&mut self, st: &'a Statement, params: &'a [&'a (dyn ToSql + Sync)]) {
        self.queued.push(Box::pin(self.client.execute(st, params)));
    }

    /// Queues a statement without parameters by its text (`BEGIN`, `COMMIT`).
    pub(crate) fn simple(&mut self, sql: &'a str) {
        let client = self.client;
        self.queued
            .push(Box::pin(async move { client.batch_execute(sql).await.map(|()| 0) }));
    }

    /// Sends everything queued and waits for every answer: the rows each statement affected, in
    /// order.
    pub(crate) async fn run(self) -> Result<Vec<u64>, PgErr> {
        Ok(try_join_all(self.queued).await?)
    }
}
