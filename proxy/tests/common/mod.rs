//! In-process test harness: a proxy on `127.0.0.1:0` over `fs` backends in a temporary
//! directory, and a hand-signing HTTP/1.1 client that can send what SDKs never would.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod admin;
pub mod data_api;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use s3o_proxy::config::Config;
use s3o_proxy::server::Running;
use s3o_proxy::state::Shared;
use s3o_sigv4::string_to_sign::sha256_hex;
use s3o_sigv4::{AmzDate, ChecksumAlgorithm, Checksummer, ChunkedEncoder, Signer, StreamingMode};

pub const AK: &str = "AKIATESTADMIN0000001";
pub const SK: &str = "test-admin-secret-key-000000000000000000";
pub const RO_AK: &str = "AKIATESTREADONLY0001";
pub const RO_SK: &str = "test-readonly-secret-key-00000000000000";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary directory (removed on drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("s3o-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The default test config: two fs backends (a: 1 MiB quota, b: unlimited), bucket `data` on
/// both with pack placement, an admin and a read-only key. `extra` is appended.
pub fn config_text(dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
threads = 2
data_dir = "{dir}/meta"
shutdown_grace_secs = 5

[limits]
head_timeout_secs = 2
idle_timeout_secs = 5
body_timeout_secs = 2

[[backends]]
name = "a"
kind = "fs"
path = "{dir}/a"
quota_bytes = 1048576

[[backends]]
name = "b"
kind = "fs"
path = "{dir}/b"

[[buckets]]
name = "data"
backends = ["a", "b"]
placement = "pack"

[defaults]
backends = ["a", "b"]
placement = "spread"

[[credentials]]
access_key = "{AK}"
secret_key = "{SK}"
create_buckets = true

[[credentials]]
access_key = "{RO_AK}"
secret_key = "{RO_SK}"
buckets = ["data"]
access = "read-only"
{extra}
"#,
        dir = dir.display()
    )
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: TempDir,
    pub shared: Arc<Shared>,
    running: Option<Running>,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with("")
    }

    pub fn start_with(extra: &str) -> TestServer {
        let dir = TempDir::new("srv");
        let text = config_text(&dir.0, extra);
        Self::start_config(dir, &text)
    }

    pub fn start_config(dir: TempDir, text: &str) -> TestServer {
        let cfg = Config::parse(text).unwrap();
        // A store just dropped by a restarted server may hold its file lock a moment longer
        // (sled releases it from its own threads): retry that, and only that, for a while.
        let t0 = std::time::Instant::now();
        let store = loop {
            match s3o_store::Store::open(&cfg.server.data_dir) {
                Err(e)
                    if e.to_string().contains("could not acquire lock") && t0.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(50))
                }
                opened => break opened.unwrap(),
            }
        };
        let addr = cfg.server.listen;
        let threads = cfg.threads();
        let shared = Arc::new(Shared::new(cfg, store).unwrap());
        let running = Running::start(shared.clone(), addr, threads).unwrap();
        TestServer {
            addr: running.addr,
            dir,
            shared,
            running: Some(running),
        }
    }

    /// The admin port's address (the config must have an `[admin]` section).
    pub fn admin_addr(&self) -> SocketAddr {
        self.running
            .as_ref()
            .and_then(|r| r.admin.as_ref())
            .map(|a| a.addr)
            .expect("admin port configured")
    }

    /// The HTTPS S3 address (`tls_listen`), when configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.tls_addr)
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr, AK, SK)
    }

    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(5));
        }
    }

    /// Data files under a backend's object directory (not the metadata records beside them).
    pub fn backend_files(&self, backend: &str) -> Vec<PathBuf> {
        let root = self.dir.0.join(backend).join("objects");
        files_under(root.clone())
            .into_iter()
            .filter(|p| !is_record(&root, p))
            .collect()
    }

    /// The metadata records (`*.meta`, `.s3o/…`) under a backend's object directory.
    pub fn record_files(&self, backend: &str) -> Vec<PathBuf> {
        let root = self.dir.0.join(backend).join("objects");
        files_under(root.clone())
            .into_iter()
            .filter(|p| is_record(&root, p))
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `<Code>` of an XML error body.
    pub fn code(&self) -> String {
        let t = self.text();
        t.split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .unwrap_or("")
            .to_string()
    }
}

/// A hand-signing client on one keep-alive connection.
pub struct Client {
    pub addr: SocketAddr,
    pub signer: Signer,
    pub stream: Option<Conn>,
    pub host: String,
    /// TLS: the client configuration and the server name checked against the certificate.
    pub tls: Option<(Arc<rustls::ClientConfig>, String)>,
}

impl Client {
    pub fn new(addr: SocketAddr, ak: &str, sk: &str) -> Client {
        Client {
            addr,
            signer: Signer::new(ak, sk, "us-east-1", "s3"),
            stream: None,
            host: addr.to_string(),
            tls: None,
        }
    }

    /// A client that speaks TLS to `addr`, trusting the CA in `ca_pem` and checking the
    /// certificate names `server_name`.
    pub fn new_tls(addr: SocketAddr, ak: &str, sk: &str, ca_pem: &std::path::Path, server_name: &str) -> Client {
        let mut c = Client::new(addr, ak, sk);
        c.tls = Some((tls_client_config(ca_pem), server_name.to_owned()));
        c
    }

    pub fn conn(&mut self) -> &mut Conn {
        if self.stream.is_none() {
            self.stream = Some(connect(self.addr, self.tls.as_ref()));
        }
        self.stream.as_mut().unwrap()
    }

    /// Signed headers for a request (the payload hash given explicitly).
    pub fn signed_headers(
        &self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        payload_hash: &str,
    ) -> Vec<(String, String)> {
        let date = now_amz_date();
        let mut h: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-amz-date", date.as_str()),
            ("x-amz-content-sha256", payload_hash),
        ];
        h.extend_from_slice(extra);
        let sig = self.signer.sign_headers(method, path, query, &h, payload_hash, &date);
        let mut out: Vec<(String, String)> = h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        out.push(("authorization".into(), sig.authorization));
        out
    }

    /// A signed request with a whole body (signed SHA-256 payload).
    pub fn send(&mut self, method: &str, path: &str, query: &str, extra: &[(&str, &str)], body: &[u8]) -> Response {
        let hash = sha256_hex(body);
        let mut headers = self.signed_headers(method, path, query, extra, &hash);
        if !body.is_empty() || method == "PUT" || method == "POST" {
            headers.push(("content-length".into(), body.len().to_string()));
        }
        self.raw(method, path, query, &headers, body)
    }

    /// An aws-chunked PUT of `payload` in `chunk`-byte chunks with a CRC32C trailer (where the
    /// mode has trailers); `tamper` may change the encoded body before it is sent.
    pub fn chunked_put(
        &mut self,
        path: &str,
        payload: &[u8],
        mode: StreamingMode,
        chunk: usize,
        tamper: impl FnOnce(&mut Vec<u8>),
    ) -> Response {
        self.chunked_request("PUT", path, "", &[], payload, mode, chunk, tamper)
    }

    /// An aws-chunked request of `payload` (like [`Client::chunked_put`]) to any method, path and
    /// query, with `extra` headers signed too (e.g. an UploadPart).
    #[allow(clippy::too_many_arguments)]
    pub fn chunked_send(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        payload: &[u8],
        mode: StreamingMode,
        chunk: usize,
    ) -> Response {
        self.chunked_request(method, path, query, extra, payload, mode, chunk, |_| {})
    }

    /// The one aws-chunked request builder: signs the seed request (with `extra` headers after
    /// the chunked ones), encodes `payload` in `chunk`-byte chunks with a CRC32C trailer where the
    /// mode has trailers, lets `tamper` change the encoded body, and sends it.
    #[allow(clippy::too_many_arguments)]
    fn chunked_request(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        payload: &[u8],
        mode: StreamingMode,
        chunk: usize,
        tamper: impl FnOnce(&mut Vec<u8>),
    ) -> Response {
        let sha = match mode {
            StreamingMode::Signed => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            StreamingMode::SignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            StreamingMode::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        };
        let len = payload.len().to_string();
        let date = now_amz_date();
        let host = self.host.clone();
        let mut h: Vec<(&str, &str)> = vec![
            ("host", &host),
            ("x-amz-date", date.as_str()),
            ("x-amz-content-sha256", sha),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", len.as_str()),
        ];
        if mode.has_trailer() {
            h.push(("x-amz-trailer", "x-amz-checksum-crc32c"));
        }
        h.extend_from_slice(extra);
        let sig = self.signer.sign_headers(method, path, query, &h, sha, &date);
        let chain = self.signer.chain(&date, sig.signature);
        let mut body = ChunkedEncoder::new(mode, Some(chain), Some(Checksummer::new(ChecksumAlgorithm::Crc32c)))
            .encode_all(payload, chunk);
        tamper(&mut body);
        let mut headers: Vec<(String, String)> = h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        headers.push(("authorization".into(), sig.authorization));
        headers.push(("content-length".into(), body.len().to_string()));
        self.raw(method, path, query, &headers, &body)
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, "", &[], b"")
    }

    pub fn put(&mut self, path: &str, body: &[u8]) -> Response {
        self.send("PUT", path, "", &[], body)
    }

    /// Sends exactly these headers and body.
    pub fn raw(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Response {
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut req = format!("{method} {target} HTTP/1.1\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send_bytes(&bytes, method == "HEAD")
    }

    /// Writes raw bytes and reads one response.
    pub fn send_bytes(&mut self, bytes: &[u8], head_request: bool) -> Response {
        let s = self.conn();
        s.write_all(bytes).unwrap();
        self.read_response(head_request)
    }

    /// Reads one response from the connection.
    pub fn read_response(&mut self, head_request: bool) -> Response {
        let s = self.conn();
        let mut buf = Vec::new();
        let mut tmp = [0u8; 65536];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = r.parse(&buf) {
                let status = r.code.unwrap();
                let hs: Vec<(String, String)> = r
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect();
                let len: usize = hs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let len = if head_request || status == 100 || status == 304 {
                    0
                } else {
                    len
                };
                let mut body = buf[n..].to_vec();
                while body.len() < len {
                    let k = read_retry(s, &mut tmp);
                    assert!(k > 0, "connection closed mid-body");
                    body.extend_from_slice(&tmp[..k]);
                }
                let close = hs
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
                if close {
                    self.stream = None;
                }
                return Response {
                    status,
                    headers: hs,
                    body,
                };
            }
            let k = read_retry(s, &mut tmp);
            if k == 0 {
                self.stream = None;
                return Response {
                    status: 0,
                    headers: vec![],
                    body: buf,
                };
            }
            buf.extend_from_slice(&tmp[..k]);
        }
    }
}

/// An `x-amz-date` for now.
fn now_amz_date() -> AmzDate {
    AmzDate::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
}

/// Whether `path` under a backend's object directory `root` is a metadata record (see
/// `s3o_proxy::records`) rather than an object's bytes.
pub fn is_record(root: &std::path::Path, path: &std::path::Path) -> bool {
    let key = path.strip_prefix(root).ok().and_then(|p| p.to_str()).unwrap_or("");
    key.starts_with(".s3o/") || s3o_proxy::records::physical_of_record_key(key).is_some()
}

/// Every file below `root` (none when it does not exist).
pub fn files_under(root: PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// `read`, retried on EINTR; a reset connection reads as end of stream.
fn read_retry(s: &mut impl Read, buf: &mut [u8]) -> usize {
    loop {
        match s.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return 0,
            // A TLS server that closed without close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return 0,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Deterministic pseudo-random bytes.
pub fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub mod fake_s3;
pub mod session;
pub mod tls;

pub use tls::{connect, tls_client_config, Conn};

// --- Helpers for the multipart, copy and tagging tests (proxy/tests/{multipart,copy_tagging}.rs).

impl TestServer {
    /// Every file under a backend's `uploads/` directory (multipart parts of the `fs` backend).
    pub fn upload_files(&self, backend: &str) -> Vec<PathBuf> {
        files_under(self.dir.0.join(backend).join("uploads"))
    }

    /// Stops this server, waits until nothing of it holds the metadata store any more, and starts
    /// a new one on the same directory with the config `text`.
    pub fn restart(mut self, text: &str) -> TestServer {
        self.stop();
        let t0 = std::time::Instant::now();
        // The cleanup worker notices the shutdown within its poll interval and drops its handle.
        while Arc::strong_count(&self.shared) > 1 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the old server still holds its state"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let dir = std::mem::replace(&mut self.dir, TempDir::new("restart-placeholder"));
        drop(self);
        TestServer::start_config(dir, text)
    }

    /// Runs `work` on a runtime of its own with its own clients of the backends, as a worker
    /// would, and returns what it returns.
    pub fn on_worker<T, F: std::future::Future<Output = T>>(
        &self,
        work: impl FnOnce(Arc<Shared>, s3o_proxy::live::BackendSet) -> F,
    ) -> T {
        let shared = self.shared.clone();
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let backends = s3o_proxy::live::BackendSet::new(
            &shared.live.snapshot(),
            &shared.cfg.limits,
            &shared.metrics,
            &shared.breakers,
        )
        .unwrap();
        rt.block_on(work(shared, backends))
    }

    /// Runs the cleanup queue (and nothing else) as if it were `now_ms`, until nothing is due.
    pub fn run_cleanup_at(&self, now_ms: u64) {
        self.on_worker(|shared, backends| async move {
            for _ in 0..100 {
                if s3o_proxy::cleanup::run_once_at(&shared, &backends, now_ms).await == 0 {
                    break;
                }
            }
        });
    }

    /// Runs one orphan sweep now; how many orphans it queued.
    pub fn run_orphan_sweep(&self) -> u64 {
        self.on_worker(|shared, backends| async move {
            s3o_proxy::orchestrator::sweep::sweep(&shared, &backends).await.unwrap()
        })
    }
}

/// The background workers every test server runs, in the order `/admin/api/workers` lists them.
pub const WORKERS: &[&str] = &[
    "cleanup_queue",
    "multipart_reaper",
    "usage_flush",
    "orphan_requeue",
    "health_probe",
    "replicator",
    "drain",
    "rebalancer",
    "orphan_sweep",
    "over_replication_cleanup",
    "scrubber",
    "lifecycle",
    "config_watch",
];

/// The text of every `<tag>...</tag>` element of an XML document, in order.
pub fn xml_all(text: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(rest[..j].to_string());
        rest = &rest[j + close.len()..];
    }
    out
}

/// The text of the first `<tag>...</tag>` element, if any.
pub fn xml_one(text: &str, tag: &str) -> Option<String> {
    xml_all(text, tag).into_iter().next()
}

/// Lowercase hex MD5.
pub fn md5_hex(b: &[u8]) -> String {
    use md5::Digest;
    s3o_sigv4::encode::hex(&md5::Md5::digest(b))
}

/// Base64 MD5 (a `Content-MD5` value).
pub fn md5_b64(b: &[u8]) -> String {
    use md5::Digest;
    s3o_sigv4::checksum::base64_encode(&md5::Md5::digest(b))
}

/// The ETag S3 gives a multipart object made of these parts: the MD5 of the parts' binary MD5s,
/// then `-N`, quoted.
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    use md5::Digest;
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(&md5::Md5::digest(p));
    }
    format!(
        "\"{}-{}\"",
        s3o_sigv4::encode::hex(&md5::Md5::digest(&all)),
        parts.len()
    )
}

/// A CompleteMultipartUpload body for (part number, ETag) pairs.
pub fn complete_body(parts: &[(u32, &str)]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        s.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

impl Client {
    /// CreateMultipartUpload; returns the upload id (asserting success).
    pub fn create_upload(&mut self, path: &str, extra: &[(&str, &str)]) -> String {
        let r = self.send("POST", path, "uploads", extra, b"");
        assert_eq!(r.status, 200, "create {path}: {}", r.text());
        xml_one(&r.text(), "UploadId").expect("UploadId")
    }

    /// UploadPart.
    pub fn upload_part(&mut self, path: &str, upload_id: &str, n: u32, body: &[u8]) -> Response {
        self.send("PUT", path, &format!("partNumber={n}&uploadId={upload_id}"), &[], body)
    }

    /// CompleteMultipartUpload of these (part number, ETag) pairs.
    pub fn complete_upload(
        &mut self,
        path: &str,
        upload_id: &str,
        parts: &[(u32, &str)],
        extra: &[(&str, &str)],
    ) -> Response {
        let body = complete_body(parts);
        self.send("POST", path, &format!("uploadId={upload_id}"), extra, body.as_bytes())
    }
}

/// A GET read to the end of the connection: status, announced length, body bytes received.
pub fn get_to_eof(c: &mut Client, addr: std::net::SocketAddr, path: &str) -> (u16, usize, usize) {
    let h = c.signed_headers("GET", path, "", &[], &s3o_sigv4::string_to_sign::sha256_hex(b""));
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    for (n, v) in &h {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("connection: close\r\n\r\n");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut hs);
    let httparse::Status::Complete(n) = r.parse(&all).unwrap() else {
        panic!("no response head")
    };
    let len = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
        .unwrap();
    (r.code.unwrap(), len, all.len() - n)
}
