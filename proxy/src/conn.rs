//! One client connection: read a request head, hand the request to the S3 layer, write its
//! error if it failed before answering, and loop while keep-alive allows. One task per
//! connection, on the core that accepted it.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Buf;
use tracing::{debug, info_span, Instrument};

use crate::client::{ClientIo, MinRate};
use crate::error::ProxyError;
use crate::http::{BodyKind, HeadDecoder, RequestHead};
use crate::s3::reply::write_error;
use crate::state::Core;
use crate::stream::ClientStream;

/// How long, at most, a closing connection keeps reading an unwanted request body.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How many bytes of an unwanted request body a closing connection reads, at most.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// Receive buffers above this size are given back between requests (a connection keeps a
/// large buffer only while it streams a body).
const IDLE_BUF_MAX: usize = 64 * 1024;

/// How often an idle connection checks for shutdown.
const SHUTDOWN_POLL: Duration = Duration::from_millis(250);

/// How long a connection refused at accept (over a connection cap) may take to receive its
/// 503 SlowDown: it holds a descriptor meanwhile, so much less than [`LINGER_TIME`].
const REFUSE_TIME: Duration = Duration::from_millis(500);
/// How many bytes of a refused connection's request are read (and dropped) so that closing it
/// does not reset the connection before the client has read the 503.
const REFUSE_BYTES: usize = 64 * 1024;

/// Serves requests on `stream` (plain or TLS) until the client closes, an error makes the framing unreliable,
/// keep-alive ends, or shutdown begins.
pub async fn serve_connection(core: Rc<Core>, stream: ClientStream) {
    let limits = &core.shared.cfg.limits;
    let mut io = ClientIo::new(stream, Duration::from_secs(limits.body_timeout_secs)).with_min_rate(MinRate {
        bytes_per_sec: limits.body_min_bytes_per_sec,
        grace: Duration::from_secs(limits.body_min_rate_grace_secs),
    });
    serve_requests(&core, &mut io).await;
    if io.stream.is_tls() {
        // A TLS client tells a clean close from a cut connection by the close_notify.
        io.stream.shutdown().await;
    }
}

/// The request loop of [`serve_connection`]; returns when the connection is to close.
async fn serve_requests(core: &Rc<Core>, io: &mut ClientIo) {
    let mut decoder = HeadDecoder::new();
    loop {
        if io.buf.is_empty() && io.buf.capacity() > IDLE_BUF_MAX {
            io.buf = bytes::BytesMut::with_capacity(crate::client::HEAD_BUF);
        }
        let head = match read_head(core, io, &mut decoder).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                let rid = core.shared.request_id();
                // No request to speak of: none of the previous one's CORS headers.
                io.cors.clear();
                let _ = write_error(io, &e, "", &rid, false, false).await;
                return;
            }
        };
        let rid = core.shared.request_id();
        let span = info_span!("request", id = %rid, method = %head.method, path = %head.path);
        core.shared.inflight.fetch_add(1, Ordering::SeqCst);
        io.response_started = false;
        io.pace.reset();
        io.announce_keep_alive = head.version == http::Version::HTTP_10 && head.keep_alive();
        io.status = 0;
        io.operation = crate::client::UNROUTED;
        io.audit = None;
        io.cors.clear();
        let started = Instant::now();
        let result = crate::s3::handle(core, io, &head, &rid).instrument(span).await;
        core.shared.inflight.fetch_sub(1, Ordering::SeqCst);
        let mut audited = io.audit.take();
        let keep = match result {
            Ok(body_consumed) => {
                core.record_request(io.operation, recorded_status(io.status), started.elapsed());
                body_consumed
            }
            Err(e) => {
                debug!(request = %rid, code = e.code(), error = %e, "request failed");
                if io.response_started {
                    // Headers already went out: the only honest signal left is to cut the connection.
                    core.record_request(io.operation, recorded_status(io.status), started.elapsed());
                    if let Some(note) = audited.take() {
                        crate::access::audit_s3(core, io, note, &head, &rid);
                    }
                    return;
                }
                // After an error the body may be unread: only reuse the connection if it had none.
                let keep = e.status() < 500
                    && !matches!(e, ProxyError::Http(_))
                    && matches!(BodyKind::from_head(&head), Ok(BodyKind::Empty))
                    // An early final answer to `Expect: 100-continue` leaves botocore's connection
                    // state garbled for the next request: close instead.
                    && !head.expect_continue()
                    && head.keep_alive();
                let is_head = head.method == http::Method::HEAD;
                let written = write_error(io, &e, &head.path, &rid, keep, is_head).await;
                core.record_request(io.operation, recorded_status(io.status), started.elapsed());
                if let Some(note) = audited.take() {
                    crate::access::audit_s3(core, io, note, &head, &rid);
                }
                if written.is_err() {
                    return;
                }
                if !keep {
                    linger(io).await;
                }
                keep
            }
        };
        if let Some(note) = audited {
            crate::access::audit_s3(core, io, note, &head, &rid);
        }
        if !keep || !head.keep_alive() || core.shared.stopping() {
            return;
        }
    }
}

/// The status a request is counted under: its response's, or 499 (as nginx logs it) when the
/// client went away before any response.
fn recorded_status(written: u16) -> u16 {
    if written == 0 {
        499
    } else {
        written
    }
}

/// Reads the next request head; `Ok(None)` when the client closed (or went idle past the limit,
/// or shutdown began) between requests. Once the first byte of a head has arrived the whole head
/// must arrive within the head timeout (a deadline, not a per-read timeout, so a client dribbling
/// a byte at a time cannot hold the connection).
async fn read_head(
    core: &Core,
    io: &mut ClientIo,
    decoder: &mut HeadDecoder,
) -> Result<Option<RequestHead>, ProxyError> {
    let limits = &core.shared.cfg.limits;
    let head_timeout = Duration::from_secs(limits.head_timeout_secs);
    let idle_timeout = Duration::from_secs(limits.idle_timeout_secs);
    let mut idle = Duration::ZERO;
    let mut deadline: Option<Instant> = None;
    decoder.reset();
    loop {
        if io.buf.is_empty() {
            // Between requests: wait for the first byte in short steps so shutdown is noticed.
            if core.shared.stopping() || idle >= idle_timeout {
                return Ok(None);
            }
            match io.fill(SHUTDOWN_POLL).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(ProxyError::RequestTimeout) => idle += SHUTDOWN_POLL,
                Err(_) => return Ok(None),
            }
            continue;
        }
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + head_timeout);
        if let Some((head, n)) = decoder.decode(&io.buf)? {
            io.buf.advance(n);
            return Ok(Some(head));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxyError::RequestTimeout);
        }
        match io.fill(left).await {
            Ok(0) => return Ok(None),
            Ok(_) | Err(ProxyError::RequestTimeout) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Answers a connection over a connection cap with 503 SlowDown (which SDKs take as a signal to
/// back off and retry) and closes it: at most [`REFUSE_TIME`] to write the answer, and as long
/// again to let the client read it.
pub async fn refuse(core: Rc<Core>, stream: ClientStream) {
    let mut io = ClientIo::new(stream, REFUSE_TIME);
    let rid = core.shared.request_id();
    if write_error(&mut io, &ProxyError::SlowDown, "", &rid, false, false)
        .await
        .is_ok()
    {
        linger_for(&mut io, REFUSE_TIME, REFUSE_BYTES).await;
    }
}

/// After an error answered with `Connection: close` while the client may still be sending a
/// body: stop writing, then read and discard for a bounded time and amount, so closing does not
/// reset the connection and destroy the error response before the client has read it.
async fn linger(io: &mut ClientIo) {
    linger_for(io, LINGER_TIME, LINGER_BYTES).await;
}

/// [`linger`] for at most `time` and `bytes`.
async fn linger_for(io: &mut ClientIo, time: Duration, bytes: usize) {
    io.stream.shutdown().await;
    let deadline = Instant::now() + time;
    let mut discarded = 0;
    while discarded < bytes {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        io.buf.clear();
        match io.fill(left).await {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
}
