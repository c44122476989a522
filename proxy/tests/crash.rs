//! Crash safety of the real binary: `kill -9` in the middle of a stream of uploads, then a
//! restart on the same data directory. Every upload that was answered 200 must be there with
//! exactly its bytes (an upload is acknowledged only once its metadata commit is durable); an
//! upload that was in flight may be there or not, but never partial, and an acknowledged
//! CreateMultipartUpload / UploadPart survives as an open upload with its parts. A graceful stop
//! flushes the store, so only a kill can show an acknowledgement sent before its commit was
//! durable: the writer that receives an acknowledgement kills the proxy at once, while the other
//! writers' uploads are in flight, and this is repeated over several crashes of the same data.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{complete_body, config_text, xml_all, xml_one, Client, TempDir, AK, SK};
use s3o_sigv4::string_to_sign::sha256_hex;

const BIN: &str = env!("CARGO_BIN_EXE_s3-orchestrator");
const BUCKET: &str = "data";

/// Writer threads in all: the first [`MULTIPART_WRITERS`] do multipart uploads, the next
/// [`SMALL_WRITERS`] PUT small bodies (many commits a second keep the group commit busy, so an
/// acknowledgement sent before its flush would have a wide window), the rest PUT bodies of
/// [`PUT_SIZES`].
const WRITERS: usize = 8;
const MULTIPART_WRITERS: usize = 2;
const SMALL_WRITERS: usize = 3;
/// Upper bounds per writer (the kill comes long before a writer gets there).
const MAX_PUTS_PER_WRITER: usize = 2_000;
const MAX_MULTIPARTS_PER_WRITER: usize = 8;
/// Open uploads found after the last restart that are completed (the others stay open).
const FINISH_UPLOADS: usize = 2;
/// PUT sizes, in turn: empty, tiny, and bodies that take many reads to stream.
const PUT_SIZES: [usize; 8] = [0, 1, 100, 1_000, 8_192, 65_537, 300_000, 1_000_003];
const SMALL_PUT_SIZES: [usize; 4] = [0, 1, 100, 1_000];
/// Multipart: two parts of the minimum size, then a small last part.
const PART_SIZES: [usize; 3] = [5 * 1024 * 1024, 5 * 1024 * 1024, 70_001];

/// The kill comes once writes have run this long and the acknowledgements below have arrived.
const MIN_WRITE_TIME: Duration = Duration::from_millis(1000);
const MIN_PUT_ACKS: usize = 20;
const MIN_MULTIPART_ACKS: usize = 1;
/// ... and at the latest after this (the test then fails: the proxy was too slow to judge).
const MAX_WRITE_TIME: Duration = Duration::from_secs(90);
const START_TIMEOUT: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One upload a writer began, and how far its acknowledgements got.
#[derive(Debug, Clone)]
struct Attempt {
    key: String,
    seed: u64,
    /// One size for a PUT, one per part for a multipart upload.
    sizes: Vec<usize>,
    multipart: bool,
    /// CreateMultipartUpload answered with this id.
    upload_id: Option<String>,
    /// UploadPart answered 200 for these (part number, ETag).
    parts: Vec<(u32, String)>,
    /// The upload was acknowledged (PUT 200, or a complete CompleteMultipartUploadResult) with
    /// this ETag, or was found whole after a restart (or completed after one).
    etag: Option<String>,
    /// Checked after a restart: there with its content (later restarts check its ETag and size),
    /// or absent (it must stay so until an open upload is completed).
    checked: bool,
}

impl Attempt {
    fn piece(&self, i: usize) -> Vec<u8> {
        content(self.seed * 8 + i as u64, self.sizes[i])
    }

    fn content(&self) -> Vec<u8> {
        (0..self.sizes.len()).flat_map(|i| self.piece(i)).collect()
    }

    fn len(&self) -> usize {
        self.sizes.iter().sum()
    }
}

/// Deterministic pseudo-random bytes (splitmix64, eight bytes a step: quick even unoptimised).
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

// --- The proxy process.

/// A running proxy process, killed (SIGKILL) if still running when dropped.
struct Proxy {
    child: Mutex<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Proxy {
    /// Starts the binary on a fresh port over the data and backends in `dir`. With `nice`, at the
    /// lowest CPU priority: a writer woken by an acknowledgement then gets the CPU before the
    /// proxy's other threads, so its kill lands before a flush the acknowledgement did not wait
    /// for could complete.
    fn start(dir: &Path, run: usize, nice: bool) -> Proxy {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let text = config_text(dir, "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
        let cfg = dir.join(format!("config-{run}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let log = dir.join(format!("proxy-{run}.log"));
        let mut cmd = if nice {
            let mut c = Command::new("nice");
            c.args(["-n", "19", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        let child = cmd
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let p = Proxy {
            child: Mutex::new(child),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            log,
        };
        let t0 = Instant::now();
        while TcpStream::connect(p.addr).is_err() {
            if let Some(st) = p.child.lock().unwrap().try_wait().unwrap() {
                panic!("the proxy exited at start ({st}):\n{}", p.log_tail());
            }
            assert!(
                t0.elapsed() < START_TIMEOUT,
                "the proxy did not start:\n{}",
                p.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGKILL, at once: no shutdown, no flush (the process is reaped by [`Proxy::reap`]).
    fn kill_9(&self) {
        self.child.lock().unwrap().kill().unwrap();
    }

    /// Waits for a killed process; it must not have exited on its own before.
    fn reap(&self) {
        let st = self.child.lock().unwrap().wait().unwrap();
        assert!(
            !st.success(),
            "the proxy exited before it was killed: {st}\n{}",
            self.log_tail()
        );
    }

    /// SIGTERM, and a clean exit.
    fn stop(&self) {
        let mut child = self.child.lock().unwrap();
        let st = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let t0 = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                assert!(st.success(), "exit after SIGTERM: {st}\n{}", self.log_tail());
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// --- A writer's HTTP: every failure is an error value (the server is killed under it).

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Conn {
    addr: SocketAddr,
    signer: Client,
    stream: Option<TcpStream>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            signer: Client::new(addr, AK, SK),
            stream: None,
        }
    }

    /// A signed request (signed SHA-256 payload) and its whole response.
    fn send(&mut self, method: &str, path: &str, query: &str, body: &[u8]) -> std::io::Result<Reply> {
        let mut headers = self.signer.signed_headers(method, path, query, &[], &sha256_hex(body));
        headers.push(("content-length".into(), body.len().to_string()));
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut req = format!("{method} {target} HTTP/1.1\r\n");
        for (n, v) in &headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let s = self.stream.as_mut().unwrap();
        let result = s
            .write_all(req.as_bytes())
            .and_then(|()| s.write_all(body))
            .and_then(|()| read_reply(s));
        match &result {
            Ok(r) if !r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) => {}
            _ => self.stream = None,
        }
        result
    }
}

fn read_reply(s: &mut TcpStream) -> std::io::Result<Reply> {
    let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        let parsed = r
            .parse(&buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if let httparse::Status::Complete(n) = parsed {
            let status = r.code.unwrap_or(0);
            let headers: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = buf[n..].to_vec();
            while body.len() < len {
                let k = s.read(&mut tmp)?;
                if k == 0 {
                    return Err(eof());
                }
                body.extend_from_slice(&tmp[..k]);
            }
            body.truncate(len);
            return Ok(Reply { status, headers, body });
        }
        let k = s.read(&mut tmp)?;
        if k == 0 {
            return Err(eof());
        }
        buf.extend_from_slice(&tmp[..k]);
    }
}

// --- Writers.

/// Why an upload stopped short: a connection failure (expected once the proxy is killed) or an
/// answer other than success (never expected).
fn expect_200(r: std::io::Result<Reply>, what: &str) -> Result<Reply, String> {
    match r {
        Ok(r) if r.status == 200 => Ok(r),
        Ok(r) => Err(format!("{what}: {} {}", r.status, String::from_utf8_lossy(&r.body))),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&amp;", "&")
}

fn put(conn: &mut Conn, a: &mut Attempt) -> Result<(), String> {
    let path = format!("/{BUCKET}/{}", a.key);
    let r = expect_200(conn.send("PUT", &path, "", &a.piece(0)), &format!("PUT {path}"))?;
    let etag = r.header("etag").ok_or(format!("PUT {path}: no ETag"))?;
    a.etag = Some(etag.to_string());
    Ok(())
}

fn multipart(conn: &mut Conn, a: &mut Attempt) -> Result<(), String> {
    let path = format!("/{BUCKET}/{}", a.key);
    let r = expect_200(conn.send("POST", &path, "uploads", b""), &format!("create {path}"))?;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    let id = xml_one(&text, "UploadId").ok_or(format!("create {path}: {text}"))?;
    a.upload_id = Some(id.clone());
    for (i, n) in (1u32..).enumerate().take(a.sizes.len()) {
        let q = format!("partNumber={n}&uploadId={id}");
        let r = expect_200(conn.send("PUT", &path, &q, &a.piece(i)), &format!("part {n} of {path}"))?;
        let etag = r.header("etag").ok_or(format!("part {n} of {path}: no ETag"))?;
        a.parts.push((n, etag.to_string()));
    }
    let parts: Vec<(u32, &str)> = a.parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
    let body = complete_body(&parts);
    let q = format!("uploadId={id}");
    let r = expect_200(
        conn.send("POST", &path, &q, body.as_bytes()),
        &format!("complete {path}"),
    )?;
    // A CompleteMultipartUpload answer counts only with its result document (S3 may answer 200
    // and put an error in the body).
    let text = String::from_utf8_lossy(&r.body).into_owned();
    if !text.contains("<CompleteMultipartUploadResult") {
        return Err(format!("complete {path}: {text}"));
    }
    let etag = xml_one(&text, "ETag").ok_or(format!("complete {path}: {text}"))?;
    a.etag = Some(unescape(&etag));
    Ok(())
}

/// Which acknowledgement, once armed, pulls the trigger.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Trigger {
    Put,
    Multipart,
}

/// What the writers share: acknowledgement counts and the kill switch.
struct Progress {
    proxy: Arc<Proxy>,
    trigger: Trigger,
    /// Once set, the writer that next receives an acknowledgement of the `trigger` kind kills the
    /// proxy itself, at once: a 200 sent before its commit was durable would be lost.
    armed: AtomicBool,
    killed: AtomicBool,
    /// The kill came from a writer, right after an acknowledgement.
    killed_after_ack: AtomicBool,
    put_acks: AtomicUsize,
    multipart_acks: AtomicUsize,
    /// Which crash this is (keys are named after it).
    round: usize,
}

impl Progress {
    /// Counts an acknowledgement; pulls the trigger if armed.
    fn acknowledged(&self, multipart: bool) {
        let n = if multipart {
            &self.multipart_acks
        } else {
            &self.put_acks
        };
        n.fetch_add(1, Ordering::SeqCst);
        if self.armed.load(Ordering::SeqCst)
            && (self.trigger == Trigger::Put) != multipart
            && !self.killed.swap(true, Ordering::SeqCst)
        {
            self.proxy.kill_9();
            self.killed_after_ack.store(true, Ordering::SeqCst);
        }
    }

    /// Kills the proxy unless a writer has already.
    fn kill(&self) {
        if !self.killed.swap(true, Ordering::SeqCst) {
            self.proxy.kill_9();
        }
    }
}

/// Uploads distinct keys until the proxy is killed; returns every upload it began. An upload
/// that fails before the kill fails the test.
fn writer(w: usize, progress: &Progress) -> Result<Vec<Attempt>, String> {
    let mut conn = Conn::new(progress.proxy.addr);
    let mut log: Vec<Attempt> = Vec::new();
    let is_multipart = w < MULTIPART_WRITERS;
    let count = if is_multipart {
        MAX_MULTIPARTS_PER_WRITER
    } else {
        MAX_PUTS_PER_WRITER
    };
    for j in 0..count {
        if progress.killed.load(Ordering::SeqCst) {
            break;
        }
        let mut a = Attempt {
            key: format!("r{}/w{w}/{j:04}", progress.round),
            seed: ((progress.round * 100 + w) * 10_000 + j) as u64,
            sizes: if is_multipart {
                PART_SIZES.to_vec()
            } else {
                let sizes: &[usize] = if w < MULTIPART_WRITERS + SMALL_WRITERS {
                    &SMALL_PUT_SIZES
                } else {
                    &PUT_SIZES
                };
                vec![sizes[(j + w) % sizes.len()]]
            },
            multipart: is_multipart,
            upload_id: None,
            parts: Vec::new(),
            etag: None,
            checked: false,
        };
        let result = if is_multipart {
            multipart(&mut conn, &mut a)
        } else {
            put(&mut conn, &mut a)
        };
        log.push(a);
        match result {
            Ok(()) => progress.acknowledged(is_multipart),
            Err(_) if progress.killed.load(Ordering::SeqCst) => break,
            Err(e) => return Err(format!("writer {w}, before the kill: {e}")),
        }
    }
    Ok(log)
}

// --- One crash.

/// Starts the proxy on `dir` and runs the writers (keys `r{round}/...`); once enough is
/// acknowledged, the writer that receives the next acknowledgement of `trigger`'s kind kills the
/// proxy with uploads in flight. Returns every upload begun.
fn write_until_killed(dir: &Path, round: usize, trigger: Trigger) -> Vec<Attempt> {
    let progress = Arc::new(Progress {
        proxy: Arc::new(Proxy::start(dir, round, true)),
        trigger,
        armed: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        killed_after_ack: AtomicBool::new(false),
        put_acks: AtomicUsize::new(0),
        multipart_acks: AtomicUsize::new(0),
        round,
    });
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let progress = progress.clone();
            std::thread::spawn(move || writer(w, &progress))
        })
        .collect();
    let t0 = Instant::now();
    let give_up = |handles: &[std::thread::JoinHandle<_>]| {
        t0.elapsed() >= MAX_WRITE_TIME || handles.iter().any(|h| h.is_finished())
    };
    while !give_up(&handles) {
        if t0.elapsed() >= MIN_WRITE_TIME
            && progress.put_acks.load(Ordering::SeqCst) >= MIN_PUT_ACKS
            && (trigger == Trigger::Put || progress.multipart_acks.load(Ordering::SeqCst) >= MIN_MULTIPART_ACKS)
        {
            progress.armed.store(true, Ordering::SeqCst);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    while progress.armed.load(Ordering::SeqCst) && !progress.killed.load(Ordering::SeqCst) && !give_up(&handles) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let write_time = t0.elapsed();
    progress.kill();
    progress.proxy.reap();
    let mut attempts = Vec::new();
    for h in handles {
        match h.join().unwrap() {
            Ok(log) => attempts.extend(log),
            Err(e) => panic!("{e}\n{}", progress.proxy.log_tail()),
        }
    }
    let put_acks = attempts.iter().filter(|a| !a.multipart && a.etag.is_some()).count();
    let mp_acks = attempts.iter().filter(|a| a.multipart && a.etag.is_some()).count();
    assert!(
        progress.killed_after_ack.load(Ordering::SeqCst),
        "too slow to judge: no {trigger:?} acknowledgement to kill after; {put_acks} PUTs and {mp_acks} multipart \
         uploads acknowledged in {write_time:?}"
    );
    let in_flight = attempts.iter().filter(|a| a.etag.is_none()).count();
    assert!(in_flight > 0, "the kill came with no upload in flight");
    eprintln!(
        "{trigger:?} crash {round} after {write_time:?} of writes: {put_acks} PUTs and {mp_acks} multipart uploads \
         acknowledged, {in_flight} in flight"
    );
    attempts
}

// --- After a restart.

/// Every key of the bucket with its size (ListObjectsV2, paged with start-after).
fn list_all(c: &mut Client) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut after = String::new();
    loop {
        let q = if after.is_empty() {
            "list-type=2".to_string()
        } else {
            format!("list-type=2&start-after={}", after.replace('/', "%2F"))
        };
        let r = c.send("GET", &format!("/{BUCKET}"), &q, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        for entry in xml_all(&text, "Contents") {
            let key = xml_one(&entry, "Key").unwrap();
            let size = xml_one(&entry, "Size").unwrap().parse().unwrap();
            assert!(out.insert(key.clone(), size).is_none(), "{key} listed twice");
            after = key;
        }
        if !text.contains("<IsTruncated>true</IsTruncated>") {
            return out;
        }
    }
}

/// (part number, ETag, size) of the parts ListParts reports; `None` for NoSuchUpload.
fn list_parts(c: &mut Client, key: &str, upload_id: &str) -> Option<Vec<(u32, String, usize)>> {
    let r = c.send(
        "GET",
        &format!("/{BUCKET}/{key}"),
        &format!("uploadId={upload_id}"),
        &[],
        b"",
    );
    if r.status == 404 && r.code() == "NoSuchUpload" {
        return None;
    }
    assert_eq!(r.status, 200, "ListParts {key}: {}", r.text());
    Some(
        xml_all(&r.text(), "Part")
            .iter()
            .map(|p| {
                (
                    xml_one(p, "PartNumber").unwrap().parse().unwrap(),
                    unescape(&xml_one(p, "ETag").unwrap()),
                    xml_one(p, "Size").unwrap().parse().unwrap(),
                )
            })
            .collect(),
    )
}

/// Checks every upload ever begun against the restarted proxy: acknowledged ones are there with
/// their bytes and ETag; the others are absent or whole (and stay as first found). An
/// acknowledged CreateMultipartUpload whose object is absent is still open with every
/// acknowledged part; with `finish`, the [`FINISH_UPLOADS`] latest of these are completed (the
/// rest stay open). Returns (found whole though in flight, uploads open, uploads finished).
fn verify(c: &mut Client, attempts: &mut [Attempt], finish: bool) -> (usize, usize, usize) {
    let listed = list_all(c);
    let known: HashMap<&str, usize> = attempts.iter().map(|a| (a.key.as_str(), a.len())).collect();
    for (key, size) in &listed {
        let want = known
            .get(key.as_str())
            .unwrap_or_else(|| panic!("listed {key}, which was never written"));
        assert_eq!(size, want, "{key}: listed size");
    }
    let mut whole = 0;
    let mut open = Vec::new();
    for (i, a) in attempts.iter_mut().enumerate() {
        let path = format!("/{BUCKET}/{}", a.key);
        if a.checked {
            // Checked after an earlier restart: still the same version, or still absent.
            let h = c.send("HEAD", &path, "", &[], b"");
            let want = match &a.etag {
                Some(etag) => (200, Some(etag.as_str()), Some(a.len().to_string())),
                None => (404, None, None),
            };
            let size = (h.status == 200).then(|| h.header("content-length").unwrap_or("").to_string());
            assert_eq!(
                (h.status, h.header("etag"), size),
                want,
                "{path}: changed by a later crash"
            );
        } else {
            a.checked = true;
            let g = c.get(&path);
            match (&a.etag, g.status) {
                (Some(etag), 200) => {
                    assert!(g.body == a.content(), "{path}: acknowledged, but its content differs");
                    assert_eq!(g.header("etag"), Some(etag.as_str()), "{path}");
                    assert!(listed.contains_key(&a.key), "{path}: acknowledged, but not listed");
                }
                (Some(_), status) => panic!(
                    "{path}: acknowledged ({} bytes, {}), but {status} {} after the crash",
                    a.len(),
                    if a.multipart { "multipart" } else { "PUT" },
                    g.text()
                ),
                (None, 200) => {
                    // Never acknowledged, yet committed: then whole, and from now on it must stay.
                    assert_eq!(g.body.len(), a.len(), "{path}: in flight at the kill, stored partially");
                    assert!(g.body == a.content(), "{path}: in flight at the kill, stored wrong");
                    assert!(listed.contains_key(&a.key), "{path}: readable, but not listed");
                    a.etag = Some(g.header("etag").unwrap().to_string());
                    whole += 1;
                }
                (None, 404) => {
                    assert_eq!(g.code(), "NoSuchKey", "{path}");
                    assert!(!listed.contains_key(&a.key), "{path}: listed, but not readable");
                }
                (None, status) => panic!("{path}: {status} {}", g.text()),
            }
        }
        if a.etag.is_none() && a.upload_id.is_some() {
            open.push((i, open_upload_parts(c, a)));
        }
    }
    let n_open = open.len();
    let mut finished = 0;
    if finish {
        for (i, recorded) in open.into_iter().rev().take(FINISH_UPLOADS) {
            finish_upload(c, &mut attempts[i], &recorded);
            finished += 1;
        }
    }
    (whole, n_open - finished, finished)
}

/// The recorded parts of an upload whose CreateMultipartUpload was acknowledged and whose object
/// is absent: it must still be open, with every acknowledged part.
fn open_upload_parts(c: &mut Client, a: &Attempt) -> Vec<(u32, String, usize)> {
    let path = format!("/{BUCKET}/{}", a.key);
    let id = a.upload_id.as_deref().unwrap();
    let recorded = list_parts(c, &a.key, id)
        .unwrap_or_else(|| panic!("{path}: upload {id} was acknowledged, and is gone with no object"));
    for (n, etag) in &a.parts {
        let i = *n as usize - 1;
        assert!(
            recorded.contains(&(*n, etag.clone(), a.sizes[i])),
            "{path}: acknowledged part {n} {etag} missing after the crash: {recorded:?}"
        );
    }
    for (n, _, size) in &recorded {
        assert_eq!(*size, a.sizes[*n as usize - 1], "{path}: part {n} recorded partially");
    }
    recorded
}

/// Completes an open upload, sending the parts it has not recorded; the object must be whole.
fn finish_upload(c: &mut Client, a: &mut Attempt, recorded: &[(u32, String, usize)]) {
    let path = format!("/{BUCKET}/{}", a.key);
    let id = a.upload_id.clone().unwrap();
    let mut parts = Vec::new();
    for i in 0..a.sizes.len() {
        let n = i as u32 + 1;
        match recorded.iter().find(|p| p.0 == n) {
            Some((_, etag, _)) => parts.push((n, etag.clone())),
            None => {
                let r = c.upload_part(&path, &id, n, &a.piece(i));
                assert_eq!(r.status, 200, "{path} part {n}: {}", r.text());
                parts.push((n, r.header("etag").unwrap().to_string()));
            }
        }
    }
    let list: Vec<(u32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
    let r = c.complete_upload(&path, &id, &list, &[]);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let g = c.get(&path);
    assert!(
        g.body == a.content(),
        "{path}: finished after the crash, content differs"
    );
    a.etag = Some(g.header("etag").unwrap().to_string());
}

/// With no proxy running: each backend's usage is the bytes of the current objects on it plus
/// the recorded parts of the uploads still open there (no crash cut a commit in half).
fn check_usage(dir: &Path, keys: &[&str]) {
    let store = s3o_store::Store::open(dir.join("meta")).unwrap();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for key in keys {
        if let Some(meta) = s3o_store::block_on(store.get_object(BUCKET, key)).unwrap() {
            for l in &meta.locations {
                *want.entry(l.backend.clone()).or_default() += meta.size;
            }
        }
    }
    for u in s3o_store::block_on(store.uploads_initiated_before(u64::MAX, 10_000)).unwrap() {
        let bytes: u64 = s3o_store::block_on(store.parts(&u.upload_id, 0, 10_000))
            .unwrap()
            .iter()
            .map(|p| p.size)
            .sum();
        *want.entry(u.backend.clone()).or_default() += bytes;
    }
    for backend in ["a", "b"] {
        assert_eq!(
            s3o_store::block_on(store.usage(backend)).unwrap(),
            want.get(backend).copied().unwrap_or(0),
            "usage of backend {backend}"
        );
    }
}

// --- The tests.

#[test]
fn kill_9_right_after_a_put_is_acknowledged() {
    crash_and_restart(Trigger::Put, 4);
}

#[test]
fn kill_9_right_after_a_multipart_upload_is_acknowledged() {
    crash_and_restart(Trigger::Multipart, 3);
}

/// `crashes` rounds of: start the proxy on the same directories, check everything written so far,
/// write until killed. Then a last start, check, a new write, a clean stop, and the usage.
fn crash_and_restart(trigger: Trigger, crashes: usize) {
    let dir = TempDir::new("crash");
    let t0 = Instant::now();
    let mut attempts: Vec<Attempt> = Vec::new();
    for round in 1..=crashes + 1 {
        if round > 1 {
            let proxy = Proxy::start(&dir.0, 100 + round, false);
            let mut c = Client::new(proxy.addr, AK, SK);
            let (whole, open, finished) = verify(&mut c, &mut attempts, round > crashes);
            eprintln!(
                "{trigger:?} restart {round} at {:?}: {} uploads checked, {whole} in flight at the kill found \
                 whole, {open} open uploads intact, {finished} finished",
                t0.elapsed(),
                attempts.len()
            );
            if round > crashes {
                // The restarted proxy takes new writes, and stops cleanly.
                let fresh = content(u64::MAX, 300_000);
                assert_eq!(c.put(&format!("/{BUCKET}/after-restart"), &fresh).status, 200);
                assert!(c.get(&format!("/{BUCKET}/after-restart")).body == fresh);
                proxy.stop();
                break;
            }
            drop(c);
            proxy.stop();
        }
        attempts.extend(write_until_killed(&dir.0, round, trigger));
    }
    let keys: Vec<&str> = attempts
        .iter()
        .map(|a| a.key.as_str())
        .chain(["after-restart"])
        .collect();
    check_usage(&dir.0, &keys);
}
