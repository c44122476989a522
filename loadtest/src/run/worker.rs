//! One concurrent worker: a keep-alive connection and a loop that picks the next operation of
//! the workload, sends it, and records the outcome in its thread's [`Stats`] (only operations
//! that start after the warm-up count). Prepared objects are shared by all workers; each worker
//! also owns a few keys of its own that it PUTs, DELETEs and uploads to, so deletes never
//! remove an object another worker reads and the memory a run leaves behind stays bounded.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::xml::element;
use crate::cli::{RunConfig, Workload};
use crate::client::conn::{with_timeout, ClientError, Conn, Response};
use crate::client::payload::{BodyMaker, RequestBody};
use crate::client::request::{push_param, Outgoing, RequestBuilder};
use crate::run::stats::{OpKind, Stats};

/// Keys each worker owns for PUT, DELETE and multipart uploads (overwritten in turn).
pub const OWN_KEYS: u64 = 8;
/// Pause after a network error, so an unreachable endpoint is not spun on.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Keys per ListObjectsV2 page.
const LIST_PAGE: &str = "1000";

/// A small, fast, deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The key of prepared object `i`.
pub fn prepared_key(cfg: &RunConfig, i: u64) -> String {
    format!("{}obj/{i:08}", cfg.prefix)
}

/// The key of worker `w`'s own slot `slot`.
pub fn own_key(cfg: &RunConfig, w: usize, slot: u64) -> String {
    format!("{}w{w:05}/{slot:03}", cfg.prefix)
}

/// What the workers of one thread share.
#[derive(Debug)]
pub struct ThreadCtx {
    /// The run.
    pub cfg: Arc<RunConfig>,
    /// Signs requests.
    pub builder: RequestBuilder,
    /// Makes bodies.
    pub bodies: RefCell<BodyMaker>,
    /// The thread's measurements.
    pub stats: RefCell<Stats>,
    /// Warm-up end: operations starting from then on are recorded (`None`: not yet measuring).
    pub measure_from: Cell<Option<Instant>>,
    /// No operation starts after this.
    pub deadline: Cell<Instant>,
}

impl ThreadCtx {
    fn measuring(&self, started: Instant) -> bool {
        self.measure_from.get().is_some_and(|t| started >= t)
    }
}

/// A failed request: the status (0 for network errors) and a description.
#[derive(Debug)]
struct Failure {
    status: u16,
    what: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure {
            status: 0,
            what: e.to_string(),
        }
    }
}

fn describe(resp: &Response) -> String {
    let text = String::from_utf8_lossy(&resp.body);
    match element(&text, "Code") {
        Some(code) => format!("{} {code}", resp.status),
        None => format!("HTTP {}", resp.status),
    }
}

/// One worker.
#[derive(Debug)]
pub struct Worker {
    /// The global worker number.
    pub id: usize,
    conn: Option<Conn>,
    rng: Rng,
    /// Bit `s` set: own slot `s` holds an object.
    live: u64,
    next_slot: u64,
    /// Measured operations still to do (`--ops`).
    pub ops_left: Option<u64>,
}

impl Worker {
    /// Worker `id`, which will do `ops` measured operations (unbounded: `None`).
    pub fn new(id: usize, ops: Option<u64>) -> Worker {
        Worker {
            id,
            conn: None,
            rng: Rng::new(id as u64 + 1),
            live: 0,
            next_slot: 0,
            ops_left: ops,
        }
    }

    /// Sends one request on the worker's connection (connecting first if needed).
    async fn send(&mut self, ctx: &ThreadCtx, out: Outgoing, keep_body: bool) -> Result<Response, ClientError> {
        let limit = ctx.cfg.op_timeout;
        if self.conn.is_none() {
            let addr = ctx.cfg.addr;
            self.conn = Some(with_timeout(limit, async move { Ok(Conn::connect(addr).await?) }).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(ClientError::Eof);
        };
        let res = with_timeout(limit, conn.exchange(out, keep_body)).await;
        if !matches!(&res, Ok(r) if !r.close) {
            self.conn = None;
        }
        res
    }

    /// Opens the connection now (so it is not part of the first measured operation).
    pub async fn connect(&mut self, ctx: &ThreadCtx) -> Result<(), String> {
        if self.conn.is_none() {
            let addr = ctx.cfg.addr;
            let conn = with_timeout(ctx.cfg.op_timeout, async move { Ok(Conn::connect(addr).await?) }).await;
            self.conn = Some(conn.map_err(|e| format!("connect to {addr}: {e}"))?);
        }
        Ok(())
    }

    /// Sends a request and checks for a 2xx status.
    async fn call(&mut self, ctx: &ThreadCtx, out: Outgoing, keep_body: bool) -> Result<Response, Failure> {
        let resp = self.send(ctx, out, keep_body).await?;
        if (200..300).contains(&resp.status) {
            Ok(resp)
        } else {
            Err(Failure {
                status: resp.status,
                what: describe(&resp),
            })
        }
    }

    /// Records the outcome of an operation that started at `started`, if measuring.
    fn record(&self, ctx: &ThreadCtx, kind: OpKind, started: Instant, outcome: &Result<(u64, Instant), Failure>) {
        if !ctx.measuring(started) {
            return;
        }
        let done = Instant::now();
        let mut stats = ctx.stats.borrow_mut();
        match outcome {
            Ok((bytes, first)) => stats.success(kind, *bytes, started, *first, done),
            Err(f) => stats.failure(kind, f.status, || f.what.clone(), done),
        }
    }

    /// One timed request of `kind`; the bytes it moved are `sent` for uploads, the response
    /// body for everything else (`sent = None`).
    async fn timed(&mut self, ctx: &ThreadCtx, kind: OpKind, out: Outgoing, sent: Option<u64>) -> Result<Response, ()> {
        let started = Instant::now();
        let keep = matches!(kind, OpKind::MpuCreate | OpKind::MpuComplete);
        let res = self.call(ctx, out, keep).await;
        let outcome = match &res {
            Ok(r) => Ok((sent.unwrap_or(r.body_len), r.first_byte)),
            Err(f) => Err(Failure {
                status: f.status,
                what: f.what.clone(),
            }),
        };
        self.record(ctx, kind, started, &outcome);
        if let Err(f) = &res {
            if f.status == 0 {
                monoio::time::sleep(ERROR_BACKOFF).await;
            }
        }
        res.map_err(|_| ())
    }

    fn body(ctx: &ThreadCtx, len: u64) -> RequestBody {
        ctx.bodies.borrow_mut().body(usize::try_from(len).unwrap_or(usize::MAX))
    }

    fn empty(ctx: &ThreadCtx) -> RequestBody {
        RequestBody::empty(ctx.bodies.borrow().unsigned())
    }

    /// PUTs prepared object `i` (not measured). Its size depends only on `i`.
    pub async fn prepare_one(&mut self, ctx: &ThreadCtx, i: u64) -> Result<(), String> {
        let size = ctx.cfg.size.pick(Rng::new(i ^ 0xabcd).unit());
        let key = prepared_key(&ctx.cfg, i);
        let out = ctx.builder.build("PUT", Some(&key), "", Self::body(ctx, size));
        self.call(ctx, out, false)
            .await
            .map(|_| ())
            .map_err(|f| format!("prepare PUT {key}: {}", f.what))
    }

    /// Runs operations until the deadline or the operation budget is reached.
    pub async fn run(mut self, ctx: std::rc::Rc<ThreadCtx>) -> Worker {
        loop {
            let now = Instant::now();
            if now >= ctx.deadline.get() || self.ops_left == Some(0) {
                return self;
            }
            let measured = ctx.measuring(now);
            self.step(&ctx).await;
            if let (true, Some(n)) = (measured, self.ops_left.as_mut()) {
                *n -= 1;
            }
        }
    }

    async fn step(&mut self, ctx: &ThreadCtx) {
        let cfg = &ctx.cfg;
        match cfg.workload {
            Workload::Get => self.get(ctx).await,
            Workload::Put => self.put(ctx).await,
            Workload::List => self.list(ctx).await,
            Workload::Multipart => self.multipart(ctx).await,
            Workload::Mixed => match self.rng.below(100) {
                0..45 => self.get(ctx).await,
                45..75 => self.head(ctx).await,
                75..90 => self.put(ctx).await,
                _ if self.live == 0 => self.put(ctx).await,
                _ => self.delete(ctx).await,
            },
        }
    }

    async fn get(&mut self, ctx: &ThreadCtx) {
        let key = prepared_key(&ctx.cfg, self.rng.below(ctx.cfg.objects as u64));
        let out = ctx.builder.build("GET", Some(&key), "", Self::empty(ctx));
        let _ = self.timed(ctx, OpKind::Get, out, None).await;
    }

    async fn head(&mut self, ctx: &ThreadCtx) {
        let key = prepared_key(&ctx.cfg, self.rng.below(ctx.cfg.objects as u64));
        let out = ctx.builder.build("HEAD", Some(&key), "", Self::empty(ctx));
        let _ = self.timed(ctx, OpKind::Head, out, None).await;
    }

    async fn put(&mut self, ctx: &ThreadCtx) {
        let slot = self.next_slot % OWN_KEYS;
        self.next_slot += 1;
        let size = ctx.cfg.size.pick(self.rng.unit());
        let key = own_key(&ctx.cfg, self.id, slot);
        let out = ctx.builder.build("PUT", Some(&key), "", Self::body(ctx, size));
        if self.timed(ctx, OpKind::Put, out, Some(size)).await.is_ok() {
            self.live |= 1 << slot;
        }
    }

    async fn delete(&mut self, ctx: &ThreadCtx) {
        let slot = u64::from(self.live.trailing_zeros());
        let key = own_key(&ctx.cfg, self.id, slot);
        let out = ctx.builder.build("DELETE", Some(&key), "", Self::empty(ctx));
        if self.timed(ctx, OpKind::Delete, out, None).await.is_ok() {
            self.live &= !(1 << slot);
        }
    }

    async fn list(&mut self, ctx: &ThreadCtx) {
        let mut query = String::with_capacity(64);
        push_param(&mut query, "list-type", "2");
        push_param(&mut query, "max-keys", LIST_PAGE);
        push_param(&mut query, "prefix", &format!("{}obj/", ctx.cfg.prefix));
        let out = ctx.builder.build("GET", None, &query, Self::empty(ctx));
        let _ = self.timed(ctx, OpKind::List, out, None).await;
    }

    /// One whole multipart upload, timed as a whole and step by step.
    async fn multipart(&mut self, ctx: &ThreadCtx) {
        let started = Instant::now();
        let size = ctx.cfg.size.pick(self.rng.unit());
        let slot = self.next_slot % OWN_KEYS;
        self.next_slot += 1;
        let key = own_key(&ctx.cfg, self.id, slot);
        let outcome = self.multipart_steps(ctx, &key, size).await;
        let outcome = outcome.map(|first| (size, first));
        self.record(ctx, OpKind::Multipart, started, &outcome);
    }

    async fn multipart_steps(&mut self, ctx: &ThreadCtx, key: &str, size: u64) -> Result<Instant, Failure> {
        let failed = |what: &str| Failure {
            status: 0,
            what: what.to_string(),
        };
        let out = ctx.builder.build("POST", Some(key), "uploads", Self::empty(ctx));
        let created = self
            .timed(ctx, OpKind::MpuCreate, out, Some(0))
            .await
            .map_err(|_| failed("CreateMultipartUpload failed"))?;
        let first_byte = created.first_byte;
        let text = String::from_utf8_lossy(&created.body);
        let upload_id = element(&text, "UploadId")
            .ok_or_else(|| failed("no UploadId in the CreateMultipartUpload response"))?
            .to_string();
        let part_size = ctx.cfg.part_size;
        let parts = size.div_ceil(part_size).max(1);
        let mut xml = String::from("<CompleteMultipartUpload>");
        for n in 1..=parts {
            let len = part_size.min(size - (n - 1) * part_size);
            let mut query = String::with_capacity(64);
            push_param(&mut query, "partNumber", &n.to_string());
            push_param(&mut query, "uploadId", &upload_id);
            let out = ctx.builder.build("PUT", Some(key), &query, Self::body(ctx, len));
            let Ok(resp) = self.timed(ctx, OpKind::MpuPart, out, Some(len)).await else {
                self.abort(ctx, key, &upload_id).await;
                return Err(failed("UploadPart failed"));
            };
            let etag = resp.etag.unwrap_or_default();
            xml.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let mut query = String::new();
        push_param(&mut query, "uploadId", &upload_id);
        let out = ctx
            .builder
            .build("POST", Some(key), &query, RequestBody::signed_bytes(xml.into_bytes()));
        match self.timed(ctx, OpKind::MpuComplete, out, Some(0)).await {
            Ok(resp) if !String::from_utf8_lossy(&resp.body).contains("<Error>") => Ok(first_byte),
            _ => Err(failed("CompleteMultipartUpload failed")),
        }
    }

    async fn abort(&mut self, ctx: &ThreadCtx, key: &str, upload_id: &str) {
        let mut query = String::new();
        push_param(&mut query, "uploadId", upload_id);
        let out = ctx.builder.build("DELETE", Some(key), &query, Self::empty(ctx));
        let _ = self.send(ctx, out, false).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(1);
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            buckets[(u * 10.0) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| (9_000..11_000).contains(&b)), "{buckets:?}");
        assert!((0..1000).all(|_| r.below(7) < 7));
    }
}
