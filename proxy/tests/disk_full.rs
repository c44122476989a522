//! The metadata store's disk fills, in process: a file-size limit (`RLIMIT_FSIZE`, SIGXFSZ
//! ignored) on this test process makes every write past a few bytes into a regular file fail with
//! EFBIG, so the store's log cannot grow while the `fs` backends still take tiny objects (their
//! metadata lives in xattrs). Shown: writes answer 503 `ServiceUnavailable` (retryable) while the
//! store cannot commit and reads still answer; `/health/ready` answers 503 with the cause and
//! `/metrics` says `s3o_store_writable 0`; once the limit is lifted the store reopens itself and
//! takes writes again within seconds, without a restart; every object acknowledged before is
//! intact; and once the cleanup queue has run, no backend file is left that no committed object
//! points to (the body whose commit failed was kept in memory, then queued).
//!
//! Its own test binary: the limit is process-wide, so no other test may run beside it.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{data, files_under, TestServer};
use s3o_store::{block_on, ListQuery};

/// Bytes a regular file may reach while the disk is "full": more than the test's objects, less
/// than anything the store's log writes (sled starts writing past its first segment header).
const LIMIT: u64 = 64;
/// The longest the whole test may take before the watchdog ends the process.
const WATCHDOG: Duration = Duration::from_secs(240);

/// The file-size limit while it lasts: lifted when dropped (also when an assertion fails).
struct FileSizeLimit {
    previous: libc::rlimit,
}

impl FileSizeLimit {
    fn set(bytes: u64) -> FileSizeLimit {
        let mut previous = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` into the local we own and pass by pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut previous) }, 0);
        let limited = libc::rlimit {
            rlim_cur: bytes.min(previous.rlim_max),
            rlim_max: previous.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` from the local we own; lowering the soft limit
        // only (the hard one is kept) lets `Drop` raise it back without privileges.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limited) }, 0);
        FileSizeLimit { previous }
    }
}

impl Drop for FileSizeLimit {
    fn drop(&mut self) {
        // SAFETY: setrlimit reads the `rlimit` saved by `set`, within the unchanged hard limit.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &self.previous) };
        assert_eq!(r, 0, "could not lift the file-size limit");
    }
}

/// Writes past the limit must fail with EFBIG, not kill the process with SIGXFSZ.
fn ignore_sigxfsz() {
    // SAFETY: setting SIGXFSZ's disposition to SIG_IGN installs no handler code.
    let previous = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR);
}

/// Ends the process if the test hangs.
fn start_watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("disk_full: still running after {WATCHDOG:?}; giving up");
        std::process::exit(101);
    });
}

/// One admin-port request on a fresh connection: status and body.
fn admin_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // One write: the admin port answers a request line split across reads with 400.
    let request = format!("GET {target} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_owned())
}

/// Waits (bounded) until `done` holds, polling every 100 ms.
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let since = Instant::now();
    while !done() {
        assert!(since.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    since.elapsed()
}

/// The physical keys of every backend file, as `backend/key`.
fn backend_files(srv: &TestServer) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for backend in ["a", "b"] {
        let root = srv.dir.0.join(backend).join("objects");
        for f in files_under(root.clone()) {
            if common::is_record(&root, &f) {
                continue;
            }
            let key = f.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
            out.insert(format!("{backend}/{key}"));
        }
    }
    out
}

/// The locations of every committed object of bucket `data`, as `backend/key`.
fn committed_locations(srv: &TestServer) -> BTreeSet<String> {
    let store = &srv.shared.store;
    let page = block_on(store.list_objects("data", &ListQuery::default())).unwrap();
    assert!(!page.is_truncated);
    let mut out = BTreeSet::new();
    for (key, _) in &page.objects {
        let meta = block_on(store.get_object("data", key)).unwrap().unwrap();
        out.extend(
            meta.locations
                .iter()
                .map(|l| format!("{}/{}", l.backend, l.physical_key)),
        );
    }
    out
}

#[test]
fn a_full_metadata_disk_answers_503_reports_not_ready_and_recovers_without_a_restart() {
    start_watchdog();
    ignore_sigxfsz();
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
    // No usage flushes during the test: the first write after the disk fills is a PUT's.
    let srv = TestServer::start_with("\n[admin]\nlisten = \"127.0.0.1:0\"\nusage_flush_secs = 3600\n");
    let admin = srv.admin_addr();
    let mut c = srv.client();
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let (path, body) = (format!("/data/before-{i}"), data(16 + i, i as u32));
        let r = c.put(&path, &body);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        acknowledged.push((path, body));
    }
    assert_eq!(admin_get(admin, "/health/ready").0, 200);

    // The disk fills: the next commit cannot reach it.
    let limit = FileSizeLimit::set(LIMIT);
    let r = c.put("/data/lost", &data(20, 99));
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        srv.shared.pending_orphans.len(),
        1,
        "the body whose commit failed waits in memory"
    );
    assert_eq!(
        backend_files(&srv).len(),
        acknowledged.len() + 1,
        "its body reached a backend"
    );
    for i in 0..3 {
        let r = c.put(&format!("/data/during-{i}"), &data(20, 100 + i));
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "ServiceUnavailable"),
            "{}",
            r.text()
        );
    }
    // Reads still answer.
    for (path, body) in &acknowledged {
        let g = c.get(path);
        assert_eq!(g.status, 200, "{path} while the disk is full");
        assert!(&g.body == body);
    }
    let (status, ready) = admin_get(admin, "/health/ready");
    assert_eq!(status, 503, "{ready}");
    eprintln!("while the disk is full, /health/ready: {ready}");
    assert!(
        ready.contains("store not writable") && ready.contains("File too large"),
        "{ready}"
    );
    let (status, metrics) = admin_get(admin, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.lines().any(|l| l == "s3o_store_writable 0"), "{metrics}");
    assert!(metrics.contains("s3o_store_problem{cause="), "{metrics}");
    assert!(metrics.lines().any(|l| l == "s3o_orphans_pending 1"), "{metrics}");
    // It stays so while the disk is full: the store does not reopen onto a full disk.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(srv.shared.store.health().problem.is_some());
    assert_eq!(c.put("/data/still", &data(20, 7)).status, 503);
    assert_eq!(
        backend_files(&srv).len(),
        acknowledged.len() + 1,
        "no body moves while the store cannot commit"
    );

    // Space returns: writes succeed again within seconds, without a restart.
    drop(limit);
    let took = wait_until("a PUT succeeds again", Duration::from_secs(30), || {
        c.put("/data/after", &data(24, 42)).status == 200
    });
    eprintln!("writes succeeded again {took:?} after the limit was lifted");
    acknowledged.push(("/data/after".to_owned(), data(24, 42)));
    wait_until("ready again", Duration::from_secs(15), || {
        admin_get(admin, "/health/ready").0 == 200
    });
    let (_, metrics) = admin_get(admin, "/metrics");
    assert!(metrics.lines().any(|l| l == "s3o_store_writable 1"), "{metrics}");
    assert!(!metrics.contains("s3o_store_problem"), "{metrics}");
    for (path, body) in &acknowledged {
        let g = c.get(path);
        assert_eq!(g.status, 200, "{path} after recovery");
        assert!(&g.body == body, "{path} intact");
    }
    for path in ["/data/lost", "/data/during-0", "/data/still"] {
        assert_eq!(c.get(path).status, 404, "{path} was never acknowledged");
    }

    // No body is left that no committed object points to.
    wait_until("orphans queued", Duration::from_secs(15), || {
        srv.shared.pending_orphans.is_empty()
    });
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms());
    let files = backend_files(&srv);
    let committed = committed_locations(&srv);
    assert_eq!(files, committed, "backend files against committed locations");
    assert_eq!(committed.len(), acknowledged.len());
}
