//! The audit log: events go through a bounded queue ([`AuditQueue::record`] never waits; a full
//! queue drops the event and counts it) to one writer thread that stores them in batches in the
//! `audit` collection. An event's id is its time in ms × 1024 plus a per-process counter, so ids
//! sort by time, stay below 2^53 (exact in JSON numbers) and rarely collide across proxies; a
//! collision is retried under the next id. Queries scan newest first from the `to` bound and stop
//! at `from`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};
use s3o_store::{block_on, DocQuery, DocWrite, Store, StoreError};

use super::records::{decode, encode, store_err, AuditEvent, AUDIT};
use crate::error::Error;

/// Events waiting for the writer before new ones are dropped.
pub const AUDIT_QUEUE_CAPACITY: usize = 4096;
/// Events stored per batch (the store's batch limit).
const WRITE_BATCH: usize = s3o_store::docs::MAX_DOC_BATCH;
/// Ids per millisecond.
const IDS_PER_MS: u64 = 1024;

/// The document id of event `id`: 16 digits, so ids sort as numbers.
pub fn doc_id(id: u64) -> String {
    format!("{id:016}")
}

/// The sending side of the audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditQueue {
    tx: Option<Sender<AuditEvent>>,
    counters: Arc<Counters>,
}

/// What the queue counts (for `/metrics`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Events dropped because the queue was full or the store refused them.
    pub dropped: AtomicU64,
    /// Events stored.
    pub written: AtomicU64,
    next: AtomicU64,
}

impl Counters {
    /// A fresh id for an event at `ts_ms`.
    fn id(&self, ts_ms: u64) -> u64 {
        ts_ms.saturating_mul(IDS_PER_MS) + self.next.fetch_add(1, Ordering::Relaxed) % IDS_PER_MS
    }
}

impl AuditQueue {
    /// A queue whose writer thread stores events in `store`; the thread ends once every clone
    /// of the queue is gone and the queue is empty.
    pub fn start(store: Store) -> Result<(AuditQueue, JoinHandle<()>), Error> {
        let (tx, rx) = bounded(AUDIT_QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let seed: [u8; 8] = super::seal::random_bytes()?;
        counters
            .next
            .store(u64::from_le_bytes(seed) % IDS_PER_MS, Ordering::Relaxed);
        let c = counters.clone();
        let handle = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(&store, &rx, &c))
            .map_err(|e| Error::internal(format!("cannot start the audit writer: {e}")))?;
        Ok((AuditQueue { tx: Some(tx), counters }, handle))
    }

    /// A queue that stores nothing and counts every event as dropped.
    pub fn disabled() -> AuditQueue {
        AuditQueue {
            tx: None,
            counters: Arc::default(),
        }
    }

    /// Queues `event` (its id and time filled in when 0); never waits.
    pub fn record(&self, mut event: AuditEvent) {
        if event.ts_ms == 0 {
            event.ts_ms = crate::time::now_ms();
        }
        if event.status.is_empty() {
            event.status = "ok".into();
        }
        event.id = self.counters.id(event.ts_ms);
        let sent = match &self.tx {
            Some(tx) => match tx.try_send(event) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// The writer: waits for an event, takes what else is queued (up to a batch), stores it.
fn write_loop(store: &Store, rx: &Receiver<AuditEvent>, counters: &Counters) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        match write_batch(store, batch, counters) {
            Ok(()) => counters.written.fetch_add(n, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, events = n, "audit events could not be stored");
                counters.dropped.fetch_add(n, Ordering::Relaxed)
            }
        };
    }
}

/// Stores a batch; on an id collision, stores its events one by one under fresh ids. A store
/// that cannot commit is retried a few times (it recovers by itself).
fn write_batch(store: &Store, batch: Vec<AuditEvent>, counters: &Counters) -> Result<(), Error> {
    let writes = |events: &[AuditEvent]| -> Result<Vec<DocWrite>, Error> {
        events
            .iter()
            .map(|e| Ok(DocWrite::create(AUDIT, &doc_id(e.id), encode(e)?)))
            .collect()
    };
    for attempt in 0..5u32 {
        match block_on(store.apply_docs(writes(&batch)?)) {
            Ok(_) => return Ok(()),
            Err(StoreError::DocConflict { .. }) => break,
            Err(e) if e.is_unavailable() && attempt < 4 => std::thread::sleep(Duration::from_millis(200 << attempt)),
            Err(e) => return Err(store_err(e)),
        }
    }
    for mut e in batch {
        loop {
            match block_on(store.apply_docs(writes(std::slice::from_ref(&e))?)) {
                Ok(_) => break,
                Err(StoreError::DocConflict { .. }) => e.id = counters.id(e.ts_ms),
                Err(err) => return Err(store_err(err)),
            }
        }
    }
    Ok(())
}

/// Which events a query wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this user id.
    pub user: Option<String>,
    /// Actions starting with this.
    pub action: Option<String>,
    /// Exactly this backend.
    pub backend: Option<String>,
    /// Exactly this bucket.
    pub bucket: Option<String>,
    /// Exactly this status.
    pub status: Option<String>,
    /// At or after, ms.
    pub from_ms: Option<u64>,
    /// At or before, ms.
    pub to_ms: Option<u64>,
}

impl AuditFilter {
    /// Whether `e` passes.
    pub fn admits(&self, e: &AuditEvent) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.user, &e.user_id)
            && self.action.as_deref().is_none_or(|a| e.action.starts_with(a))
            && eq(&self.backend, &e.backend)
            && eq(&self.bucket, &e.bucket)
            && eq(&self.status, &e.status)
            && self.from_ms.is_none_or(|f| e.ts_ms >= f)
            && self.to_ms.is_none_or(|t| e.ts_ms <= t)
    }
}

/// One page of the events `filter` admits, newest first, from after the cursor `after` (a
/// document id; `None`: from the `to` bound): the events, and the cursor of the next page when
/// there may be one. Reads one store page, so memory stays bounded whatever the log's size.
pub async fn page(
    store: &Store,
    filter: &AuditFilter,
    after: Option<String>,
) -> Result<(Vec<AuditEvent>, Option<String>), Error> {
    let query = DocQuery {
        collection: AUDIT.into(),
        reverse: true,
        after: after.or_else(|| {
            filter
                .to_ms
                .map(|t| doc_id(t.saturating_add(1).saturating_mul(IDS_PER_MS)))
        }),
        ..DocQuery::default()
    };
    let docs = store.docs(&query).await.map_err(store_err)?;
    let full = docs.len() >= query.page_size();
    let mut out = Vec::new();
    for doc in &docs {
        let e: AuditEvent = decode(doc)?;
        if filter.from_ms.is_some_and(|f| e.ts_ms < f) {
            return Ok((out, None));
        }
        if filter.admits(&e) {
            out.push(e);
        }
    }
    let next = docs.last().filter(|_| full).map(|d| d.id.clone());
    Ok((out, next))
}

/// Visits the events `filter` admits, newest first, until `visit` returns false (page by page).
pub async fn scan(store: &Store, filter: &AuditFilter, mut visit: impl FnMut(AuditEvent) -> bool) -> Result<(), Error> {
    let mut after = None;
    loop {
        let (events, next) = page(store, filter, after).await?;
        for e in events {
            if !visit(e) {
                return Ok(());
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}

/// Removes the events older than `before_ms`, oldest first, at most `max`; how many.
pub async fn trim(store: &Store, before_ms: u64, max: usize) -> Result<usize, Error> {
    let mut removed = 0;
    while removed < max {
        let query = DocQuery {
            collection: AUDIT.into(),
            limit: WRITE_BATCH.min(max - removed),
            ..DocQuery::default()
        };
        let bound = doc_id(before_ms.saturating_mul(IDS_PER_MS));
        let old: Vec<DocWrite> = store
            .docs(&query)
            .await
            .map_err(store_err)?
            .into_iter()
            .filter(|d| d.id < bound)
            .map(|d| DocWrite::delete(AUDIT, &d.id, s3o_store::Expect::Any))
            .collect();
        if old.is_empty() {
            break;
        }
        removed += old.len();
        store.apply_docs(old).await.map_err(store_err)?;
    }
    Ok(removed)
}
