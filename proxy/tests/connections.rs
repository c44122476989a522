//! Connections under hostile or exhausted conditions: a body that drips, one client opening too
//! many connections, the process running out of descriptors, startup failures that must name
//! their cause, and which monoio driver actually runs (checked against `S3O_EXPECT_DRIVER`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{config_text, Client, TempDir, TestServer};
use s3o_sigv4::string_to_sign::sha256_hex;

const BIN: &str = env!("CARGO_BIN_EXE_s3-orchestrator");

/// The default test config with `limits` added to its `[limits]` section.
fn with_limits(dir: &std::path::Path, limits: &str) -> String {
    config_text(dir, "").replacen("[limits]\n", &format!("[limits]\n{limits}\n"), 1)
}

/// Starts an in-process proxy with extra `[limits]` keys.
fn server_with_limits(limits: &str) -> TestServer {
    let dir = TempDir::new("conn");
    let text = with_limits(&dir.0, limits);
    TestServer::start_config(dir, &text)
}

/// Sends a signed PUT head for a `len`-byte body whose SHA-256 is signed, on a raw socket.
fn signed_put_head(srv: &TestServer, path: &str, body: &[u8]) -> TcpStream {
    let client = srv.client();
    let mut headers = client.signed_headers("PUT", path, "", &[], &sha256_hex(body));
    headers.push(("content-length".into(), body.len().to_string()));
    let mut req = format!("PUT {path} HTTP/1.1\r\n");
    for (n, v) in &headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    s
}

/// Writes `body` in `piece`-byte pieces every `every` on another thread, until done, a write
/// fails (the server closed) or `stop` is set.
fn drip(
    s: &TcpStream,
    body: Vec<u8>,
    piece: usize,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let mut w = s.try_clone().unwrap();
    std::thread::spawn(move || {
        for chunk in body.chunks(piece) {
            if stop.load(Ordering::SeqCst) || w.write_all(chunk).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    })
}

/// Reads one response head and body (by Content-Length) within `timeout`; `None` if none came.
fn read_response(s: &mut TcpStream, timeout: Duration) -> Option<(u16, String, Vec<u8>)> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(n)) = r.parse(&buf) {
            let status = r.code.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
            let len: usize = r
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map_or(0, |h| std::str::from_utf8(h.value).unwrap().parse().unwrap());
            while buf.len() < n + len {
                let left = deadline.checked_duration_since(Instant::now())?;
                s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
                match s.read(&mut tmp) {
                    Ok(0) | Err(_) => return None,
                    Ok(k) => buf.extend_from_slice(&tmp[..k]),
                }
            }
            return Some((status, head, buf[n..n + len].to_vec()));
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
        }
    }
}

/// Whether the server closes `s` within `timeout` (reads end of stream or a reset).
fn closed_within(s: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut tmp = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

fn error_code(body: &[u8]) -> String {
    let t = String::from_utf8_lossy(body);
    t.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_body_dripping_below_the_minimum_rate_is_cut_with_request_timeout() {
    // 1000 B/s after a 1 s grace; the test config's body_timeout_secs is 2, so a byte every
    // 0.5 s always counts as progress: only the rate can stop it.
    let srv = server_with_limits("body_min_bytes_per_sec = 1000\nbody_min_rate_grace_secs = 1");
    let body = common::data(200, 7);
    let mut s = signed_put_head(&srv, "/data/drip", &body);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = drip(&s, body, 1, Duration::from_millis(500), stop.clone());
    let t0 = Instant::now();
    let got = read_response(&mut s, Duration::from_secs(20));
    stop.store(true, Ordering::SeqCst);
    let (status, head, err) = got.expect("the proxy kept waiting for a dripping body");
    // Cut one 5 s window after the grace (plus scheduling slack), long before the 100 s drip ends.
    assert!(t0.elapsed() < Duration::from_secs(12), "took {:?}", t0.elapsed());
    assert_eq!((status, error_code(&err).as_str()), (400, "RequestTimeout"));
    assert!(head.contains("connection: close"), "{head}");
    assert!(closed_within(&mut s, Duration::from_secs(5)), "connection left open");
    writer.join().unwrap();
    assert_eq!(
        srv.client().get("/data/drip").status,
        404,
        "a cut body must not be stored"
    );
}

#[test]
fn a_body_above_the_minimum_rate_is_stored() {
    // 1000 B/s minimum; this client sends 2500 B/s in 250-byte pieces for about 7 s.
    let srv = server_with_limits("body_min_bytes_per_sec = 1000\nbody_min_rate_grace_secs = 1");
    let body = common::data(17_500, 8);
    let mut s = signed_put_head(&srv, "/data/steady", &body);
    let writer = drip(
        &s,
        body.clone(),
        250,
        Duration::from_millis(100),
        Arc::new(AtomicBool::new(false)),
    );
    let (status, _, text) = read_response(&mut s, Duration::from_secs(30)).expect("no response");
    writer.join().unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&text));
    assert_eq!(srv.client().get("/data/steady").body, body);
}

#[test]
fn connections_over_the_per_client_cap_get_slow_down() {
    let srv = server_with_limits("max_connections_per_client = 2");
    let mut c1 = srv.client();
    let mut c2 = srv.client();
    assert_eq!(c1.get("/data/none").status, 404);
    assert_eq!(c2.get("/data/none").status, 404);
    // A third connection from the same address is refused while both stay open.
    let mut c3 = srv.client();
    let r = c3.get("/data/none");
    assert_eq!((r.status, r.code().as_str()), (503, "SlowDown"), "{}", r.text());
    // Once one closes, the address may connect again.
    drop(c1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = srv.client().get("/data/none");
        if r.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after a connection closed: {}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c2.get("/data/none").status, 404, "admitted connections keep working");
}

#[test]
fn the_expected_monoio_driver_runs() {
    let srv = TestServer::start();
    assert_eq!(srv.client().get("/data/none").status, 404);
    let driver = s3o_proxy::server::started_driver().expect("no core reported its driver");
    eprintln!("monoio driver in use: {driver}");
    if let Ok(want) = std::env::var("S3O_EXPECT_DRIVER") {
        assert_eq!(
            driver.as_str(),
            want,
            "S3O_EXPECT_DRIVER={want} but the proxy runs on {driver}"
        );
    }
}

/// The binary, started with `shell` (a `sh -c` prefix such as `ulimit -n 128 &&`) on `config`;
/// killed on drop.
struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn start(shell: &str, config: &std::path::Path) -> Proc {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{shell} exec \"$0\" serve --config \"$1\""))
            .arg(BIN)
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Proc { child, stderr }
    }

    /// Everything the process wrote to stderr so far, without terminal colour codes.
    fn log(&self) -> String {
        let raw = self.stderr.lock().unwrap().clone();
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw.as_str();
        while let Some(i) = rest.find('\x1b') {
            out.push_str(&rest[..i]);
            rest = rest[i..].find('m').map_or("", |j| &rest[i + j + 1..]);
        }
        out.push_str(rest);
        out
    }

    /// Waits for the listening line; the bound address.
    fn addr(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if let Some(a) = log.split("bound=").nth(1).and_then(|s| s.split_whitespace().next()) {
                return a.parse().unwrap();
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("proxy exited ({st}):\n{log}");
            }
            assert!(Instant::now() < deadline, "proxy did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit; its status and stderr.
    fn exit(mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100)); // let the reader drain the pipe
                return (st, self.log());
            }
            assert!(Instant::now() < deadline, "proxy did not exit:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config file for the binary in `dir`: the test config with `threads` and extra `[limits]`.
fn config_file(dir: &std::path::Path, threads: usize, limits: &str) -> std::path::PathBuf {
    let text = with_limits(dir, limits).replacen("threads = 2", &format!("threads = {threads}"), 1);
    let path = dir.join("s3-orchestrator.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_taken_port_is_named_with_the_os_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = TempDir::new("port");
    let cfg = config_file(&dir.0, 1, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("127.0.0.1:0", &addr.to_string());
    std::fs::write(&cfg, text).unwrap();
    let (status, log) = Proc::start("", &cfg).exit(Duration::from_secs(20));
    assert!(!status.success());
    let line = log
        .lines()
        .find(|l| l.starts_with("s3-orchestrator:"))
        .unwrap_or_else(|| panic!("no error line:\n{log}"));
    assert!(line.contains(&addr.to_string()), "{line}");
    assert!(line.contains("in use"), "{line}");
    assert!(!line.contains("internal error"), "{line}");
}

#[test]
fn other_startup_failures_are_named_too() {
    let dir = TempDir::new("startup");
    // Invalid config: one line naming the file.
    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = 12\n").unwrap();
    let (status, log) = Proc::start("", &bad).exit(Duration::from_secs(20));
    assert!(!status.success());
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains(&bad.display().to_string()), "{log}");
    // A second proxy on the same data directory: names the directory and the lock holder.
    let cfg = config_file(&dir.0, 1, "");
    let mut first = Proc::start("", &cfg);
    first.addr();
    let (status, log) = Proc::start("", &cfg).exit(Duration::from_secs(20));
    assert!(!status.success());
    let meta = dir.0.join("meta").display().to_string();
    assert!(log.contains(&meta) && log.contains("locked"), "{log}");
    drop(first);
    // An fs backend directory under a regular file.
    std::fs::write(dir.0.join("file"), b"x").unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("{}/b", dir.0.display()),
        &format!("{}/file/b", dir.0.display()),
    );
    std::fs::write(&cfg, text).unwrap();
    let (status, log) = Proc::start("", &cfg).exit(Duration::from_secs(20));
    assert!(!status.success());
    assert!(log.contains("backend 'b'") && log.contains("Not a directory"), "{log}");
}

/// The soft limit of open files of process `pid`.
fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn the_open_file_soft_limit_is_raised_to_the_hard_limit() {
    let dir = TempDir::new("nofile");
    let cfg = config_file(&dir.0, 1, "");
    let hard: u64 = {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
        line.split_whitespace().nth(4).unwrap().parse().unwrap()
    };
    let mut p = Proc::start("ulimit -Sn 256 &&", &cfg);
    p.addr();
    let want = hard.min(
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    );
    assert_eq!(soft_nofile(p.child.id()), want);
    let log = p.log();
    assert!(log.contains("open_files_at_start=256"), "{log}");
    assert!(log.contains("max_connections_per_thread="), "{log}");
}

#[test]
fn running_out_of_descriptors_backs_off_logs_rarely_and_recovers() {
    let dir = TempDir::new("emfile");
    // A per-thread limit far above what 128 descriptors allow, so accept runs into EMFILE.
    let cfg = config_file(
        &dir.0,
        1,
        "max_connections_per_thread = 1000\nmax_connections_per_client = 0",
    );
    let mut p = Proc::start("ulimit -n 128 &&", &cfg);
    let addr = p.addr();
    let conns: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_secs(3));
    let log = p.log();
    let failures = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!(failures >= 1, "descriptors never ran out:\n{log}");
    assert!(failures <= 5, "{failures} accept-failure lines in 3 s");
    assert!(log.contains("suppressed="), "{log}");
    // Once clients go away the proxy serves new ones promptly.
    drop(conns);
    let mut c = Client::new(addr, common::AK, common::SK);
    let t0 = Instant::now();
    let r = c.get("/data/none");
    assert_eq!(r.status, 404);
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
}

#[test]
fn version_prints_the_version() {
    let out = Command::new(BIN).arg("version").output().unwrap();
    assert!(out.status.success());
    let want = format!("s3-orchestrator {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}
