//! `transfer`: one big object moved the way `aws s3 cp` moves it, timed from the first request
//! to the last response.
//!
//! - Upload: CreateMultipartUpload, then the parts (`--part-size`) with `--concurrency` in
//!   flight, each worker on its own keep-alive connection taking the next part number, then
//!   CompleteMultipartUpload with every part in order.
//! - Download: HeadObject for the size, then ranged GETs (`--range-size`) with `--concurrency`
//!   in flight; with `--verify` every byte received is compared with the generated data
//!   ([`crate::pattern::Layout`]), as it arrives, without keeping it.
//!
//! Workers are spread over `--threads` threads, each with its own monoio runtime (worker `w` on
//! thread `w % threads`). The first failed request stops the transfer (an upload is then
//! aborted): this is a benchmark, it does not retry.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use s3o_sigv4::Signer;
use serde::Serialize;

use crate::backend::runtime;
use crate::backend::xml::element;
use crate::cli::{DataMode, Phase, TransferConfig};
use crate::client::conn::{with_timeout, BodySink, ClientError, Conn, Response};
use crate::client::payload::{BodyMaker, PayloadData, PayloadMode, RequestBody, UNSIGNED};
use crate::client::request::{push_param, Outgoing, RequestBuilder};
use crate::histogram::Histogram;
use crate::pattern::{self, Layout};
use crate::run::report::{millis, Environment, Millis};
use crate::size::format_size;

/// The numbers of one half of a transfer.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// `upload` or `download`.
    pub op: &'static str,
    /// Object bytes moved.
    pub bytes: u64,
    /// First request to last response, seconds.
    pub seconds: f64,
    /// Decimal megabytes (10^6) per second.
    pub mb_per_sec: f64,
    /// Mebibytes (2^20) per second.
    pub mib_per_sec: f64,
    /// Parts (upload) or ranges (download).
    pub requests: u64,
    /// Part or range size.
    pub request_size: u64,
    /// Latency of one part or range.
    pub latency_ms: Millis,
    /// Bytes compared with the generated data (download with `--verify`; 0 otherwise).
    pub verified_bytes: u64,
}

/// Everything a transfer reports.
#[derive(Debug, Clone, Serialize)]
pub struct TransferReport {
    /// The `--label`.
    pub label: Option<String>,
    /// The command line (secret redacted).
    pub command_line: String,
    /// The machine.
    pub environment: Environment,
    /// Requests in flight.
    pub concurrency: usize,
    /// Threads.
    pub threads: usize,
    /// Part signing and framing.
    pub payload: PayloadMode,
    /// Part contents.
    pub data: DataMode,
    /// The upload, if done.
    pub upload: Option<PhaseReport>,
    /// The download, if done.
    pub download: Option<PhaseReport>,
}

impl TransferReport {
    /// The lines printed for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for (p, what) in [(&self.upload, "parts"), (&self.download, "ranges")] {
            let Some(p) = p else { continue };
            let checked = if p.verified_bytes > 0 {
                format!(", {} bytes checked", p.verified_bytes)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "{:<8} {} in {:.3} s: {:.1} MB/s ({:.1} MiB/s); {} {what} of {}, {} in flight; \
                 p50 {:.1} ms, p99 {:.1} ms{checked}\n",
                p.op,
                format_size(p.bytes),
                p.seconds,
                p.mb_per_sec,
                p.mib_per_sec,
                p.requests,
                format_size(p.request_size),
                self.concurrency,
                p.latency_ms.p50,
                p.latency_ms.p99,
            ));
        }
        out.push_str(&self.environment.line());
        out.push('\n');
        out
    }
}

/// What the workers of one phase share.
#[derive(Debug)]
struct Shared {
    cfg: Arc<TransferConfig>,
    /// The next part (from 0) or range to take.
    next: AtomicU64,
    /// Set when a request failed: the others stop taking work.
    stop: AtomicBool,
    /// The first failure.
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn new(cfg: &Arc<TransferConfig>) -> Arc<Shared> {
        Arc::new(Shared {
            cfg: cfg.clone(),
            next: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
        })
    }

    /// The next item below `count`, unless the phase is stopping.
    fn take(&self, count: u64) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < count).then_some(i)
    }

    fn fail(&self, what: String) {
        self.stop.store(true, Ordering::Relaxed);
        self.failure.lock().get_or_insert(what);
    }
}

/// What one worker did.
#[derive(Debug, Default)]
struct WorkerOut {
    latency: Histogram,
    bytes: u64,
    verified: u64,
    /// Upload: (part number, ETag).
    etags: Vec<(u64, String)>,
}

fn builder(cfg: &TransferConfig) -> RequestBuilder {
    let signer = Signer::new(&cfg.access_key, &cfg.secret_key, &cfg.region, "s3");
    RequestBuilder::new(signer, &cfg.host, &cfg.bucket)
}

fn describe(resp: &Response) -> String {
    let text = String::from_utf8_lossy(&resp.body);
    match element(&text, "Code") {
        Some(code) => format!("HTTP {} {code}", resp.status),
        None => format!("HTTP {}", resp.status),
    }
}

/// Sends `out` on `conn` (connecting first when there is none) and reads the response, handing
/// a 2xx body to `sink` when given, else keeping it when `keep`. The connection is dropped
/// after an error or a response that closes it.
async fn exchange(
    conn: &mut Option<Conn>,
    cfg: &TransferConfig,
    out: Outgoing,
    keep: bool,
    sink: Option<&mut BodySink<'_>>,
) -> Result<Response, ClientError> {
    let limit = cfg.op_timeout;
    if conn.is_none() {
        let addr = cfg.addr;
        *conn = Some(with_timeout(limit, async move { Ok(Conn::connect(addr).await?) }).await?);
    }
    let Some(c) = conn.as_mut() else {
        return Err(ClientError::Eof);
    };
    let res = with_timeout(limit, async move {
        match sink {
            Some(s) => c.exchange_into(out, s).await,
            None => c.exchange(out, keep).await,
        }
    })
    .await;
    if !matches!(&res, Ok(r) if !r.close) {
        *conn = None;
    }
    res
}

/// One request on a fresh connection from this thread (create, complete, head, abort).
fn single(cfg: &TransferConfig, out: Outgoing) -> Result<Response, String> {
    let mut rt = runtime().map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async move { exchange(&mut None, cfg, out, true, None).await })
        .map_err(|e| e.to_string())
}

fn empty() -> RequestBody {
    RequestBody::empty(&UNSIGNED.into())
}

/// Runs worker `f(w)` for every `w` in `0..concurrency`, spread over `threads` threads.
fn on_threads<F, Fut>(threads: usize, concurrency: usize, f: F) -> Result<Vec<WorkerOut>, String>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = WorkerOut> + 'static,
{
    let f = Arc::new(f);
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let f = f.clone();
        let h = std::thread::Builder::new()
            .name(format!("transfer-{t}"))
            .spawn(move || -> Result<Vec<WorkerOut>, String> {
                let mut rt = runtime().map_err(|e| format!("runtime: {e}"))?;
                Ok(rt.block_on(async move {
                    let hs: Vec<_> = (t..concurrency).step_by(threads).map(|w| monoio::spawn(f(w))).collect();
                    let mut out = Vec::with_capacity(hs.len());
                    for h in hs {
                        out.push(h.await);
                    }
                    out
                }))
            })
            .map_err(|e| format!("spawn: {e}"))?;
        handles.push(h);
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().map_err(|_| "a transfer thread panicked".to_string())??);
    }
    Ok(all)
}

fn phase_report(op: &'static str, outs: &[WorkerOut], secs: f64, requests: u64, request_size: u64) -> PhaseReport {
    let mut latency = Histogram::new();
    for o in outs {
        latency.merge(&o.latency);
    }
    let bytes: u64 = outs.iter().map(|o| o.bytes).sum();
    let per_sec = |v: f64| if secs > 0.0 { v / secs } else { 0.0 };
    PhaseReport {
        op,
        bytes,
        seconds: secs,
        mb_per_sec: per_sec(bytes as f64 / 1e6),
        mib_per_sec: per_sec(bytes as f64 / 1_048_576.0),
        requests,
        request_size,
        latency_ms: millis(&latency),
        verified_bytes: outs.iter().map(|o| o.verified).sum(),
    }
}

/// Does the transfer described by `cfg`.
pub fn transfer(cfg: TransferConfig) -> Result<TransferReport, String> {
    let cfg = Arc::new(cfg);
    let upload = match cfg.phase {
        Phase::Upload | Phase::Both => Some(upload(&cfg)?),
        Phase::Download => None,
    };
    let download = match cfg.phase {
        Phase::Download | Phase::Both => Some(download(&cfg)?),
        Phase::Upload => None,
    };
    Ok(TransferReport {
        label: cfg.label.clone(),
        command_line: cfg.command_line.clone(),
        environment: Environment::detect(),
        concurrency: cfg.concurrency,
        threads: cfg.threads,
        payload: cfg.payload,
        data: cfg.data,
        upload,
        download,
    })
}

fn upload(cfg: &Arc<TransferConfig>) -> Result<PhaseReport, String> {
    let parts = cfg.size.div_ceil(cfg.part_size);
    // Shared parts are slices of one buffer (framed once when aws-chunked); unique parts are
    // generated per part, so the buffer is only needed for shared ones.
    let buf_len = match cfg.data {
        DataMode::Shared => cfg.part_size.min(cfg.size),
        DataMode::Unique => 0,
    };
    let data = Arc::new(PayloadData::new(
        usize::try_from(buf_len).map_err(|_| "part too large")?,
        cfg.payload,
    ));
    let b = builder(cfg);
    let started = Instant::now();
    let created = single(cfg, b.build("POST", Some(&cfg.key), "uploads", empty()))
        .map_err(|e| format!("CreateMultipartUpload: {e}"))?;
    let text = String::from_utf8_lossy(&created.body);
    let upload_id: Arc<str> = match element(&text, "UploadId") {
        Some(id) if (200..300).contains(&created.status) => id.into(),
        _ => return Err(format!("CreateMultipartUpload: {}", describe(&created))),
    };
    let shared = Shared::new(cfg);
    let outs = {
        let (shared, upload_id) = (shared.clone(), upload_id.clone());
        on_threads(cfg.threads, cfg.concurrency, move |_| {
            upload_worker(shared.clone(), data.clone(), upload_id.clone(), parts)
        })?
    };
    let mut query = String::new();
    push_param(&mut query, "uploadId", &upload_id);
    if let Some(f) = shared.failure.lock().take() {
        let _ = single(cfg, b.build("DELETE", Some(&cfg.key), &query, empty()));
        return Err(format!("upload: {f} (upload aborted)"));
    }
    let mut etags: Vec<(u64, String)> = outs.iter().flat_map(|o| o.etags.iter().cloned()).collect();
    etags.sort_unstable();
    if etags.len() as u64 != parts {
        return Err(format!("upload: {} of {parts} parts uploaded", etags.len()));
    }
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, etag) in &etags {
        xml.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let out = b.build(
        "POST",
        Some(&cfg.key),
        &query,
        RequestBody::signed_bytes(xml.into_bytes()),
    );
    let done = single(cfg, out).map_err(|e| format!("CompleteMultipartUpload: {e}"))?;
    if !(200..300).contains(&done.status) || String::from_utf8_lossy(&done.body).contains("<Error>") {
        return Err(format!("CompleteMultipartUpload: {}", describe(&done)));
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(phase_report("upload", &outs, secs, parts, cfg.part_size))
}

async fn upload_worker(shared: Arc<Shared>, data: Arc<PayloadData>, upload_id: Arc<str>, parts: u64) -> WorkerOut {
    let cfg = shared.cfg.clone();
    let b = builder(&cfg);
    let mut maker = BodyMaker::new(data, cfg.payload);
    let mut conn = None;
    let mut out = WorkerOut::default();
    while let Some(i) = shared.take(parts) {
        let n = i + 1;
        let len = cfg.part_size.min(cfg.size - i * cfg.part_size);
        let Ok(ulen) = usize::try_from(len) else {
            shared.fail("part too large".into());
            break;
        };
        let body = match cfg.data {
            DataMode::Shared => maker.body(ulen),
            DataMode::Unique => maker.body_of(Bytes::from(pattern::bytes(n, 0, ulen))),
        };
        let mut query = String::with_capacity(64);
        push_param(&mut query, "partNumber", &n.to_string());
        push_param(&mut query, "uploadId", &upload_id);
        let req = b.build("PUT", Some(&cfg.key), &query, body);
        let started = Instant::now();
        match exchange(&mut conn, &cfg, req, false, None).await {
            Ok(r) if (200..300).contains(&r.status) => {
                out.latency.record(started.elapsed().as_nanos() as u64);
                out.bytes += len;
                out.etags.push((n, r.etag.unwrap_or_default()));
            }
            Ok(r) => {
                shared.fail(format!("part {n}: {}", describe(&r)));
                break;
            }
            Err(e) => {
                shared.fail(format!("part {n}: {e}"));
                break;
            }
        }
    }
    out
}

fn download(cfg: &Arc<TransferConfig>) -> Result<PhaseReport, String> {
    let b = builder(cfg);
    let started = Instant::now();
    let head = single(cfg, b.build("HEAD", Some(&cfg.key), "", empty())).map_err(|e| format!("HeadObject: {e}"))?;
    if !(200..300).contains(&head.status) {
        return Err(format!("HeadObject: HTTP {}", head.status));
    }
    let size = head
        .content_length
        .ok_or_else(|| "HeadObject: no Content-Length".to_string())?;
    let ranges = size.div_ceil(cfg.range_size).max(1);
    let shared = Shared::new(cfg);
    let outs = {
        let shared = shared.clone();
        on_threads(cfg.threads, cfg.concurrency, move |_| {
            download_worker(shared.clone(), size, ranges)
        })?
    };
    if let Some(f) = shared.failure.lock().take() {
        return Err(format!("download: {f}"));
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(phase_report("download", &outs, secs, ranges, cfg.range_size))
}

async fn download_worker(shared: Arc<Shared>, size: u64, ranges: u64) -> WorkerOut {
    let cfg = shared.cfg.clone();
    let b = builder(&cfg);
    let layout = Layout {
        part_size: cfg.part_size,
        unique: cfg.data == DataMode::Unique,
    };
    let mut conn = None;
    let mut out = WorkerOut::default();
    while let Some(i) = shared.take(ranges) {
        let start = i * cfg.range_size;
        let end = (start + cfg.range_size).min(size);
        let range = format!("bytes={start}-{}", end.saturating_sub(1));
        let req = b.build_with("GET", Some(&cfg.key), "", empty(), &[("range", &range)]);
        let began = Instant::now();
        let mut pos = start;
        let mut bad: Option<u64> = None;
        let mut check = |d: &[u8]| {
            if bad.is_none() {
                if let Some(k) = layout.mismatch(pos, d) {
                    bad = Some(pos + k as u64);
                }
            }
            pos += d.len() as u64;
        };
        let sink: Option<&mut BodySink<'_>> = if cfg.verify { Some(&mut check) } else { None };
        let res = exchange(&mut conn, &cfg, req, false, sink).await;
        let what = match res {
            Err(e) => Some(e.to_string()),
            Ok(r) if r.status != 206 && !(r.status == 200 && start == 0 && end == size) => Some(describe(&r)),
            Ok(r) if r.body_len != end - start => Some(format!("{} bytes, expected {}", r.body_len, end - start)),
            Ok(_) => bad.map(|at| format!("byte {at} differs from the generated data")),
        };
        if let Some(w) = what {
            shared.fail(format!("range {range}: {w}"));
            break;
        }
        out.latency.record(began.elapsed().as_nanos() as u64);
        out.bytes += end - start;
        if cfg.verify {
            out.verified += end - start;
        }
    }
    out
}
