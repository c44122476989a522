//! Live configuration changes: SIGHUP reloads the config file of a running proxy (a credential
//! added, a backend's quota changed) without dropping a connection, and a reload that would lose
//! track of data is refused with the running state untouched.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{config_text, data, Client, TempDir, TestServer};
use s3o_proxy::config::Config;

const NEW_AK: &str = "AKIARELOADEDKEY00001";
const NEW_SK: &str = "reloaded-secret-key-0000000000000000000";

/// The extra credential the reloaded config adds.
fn new_credential() -> String {
    format!("\n[[credentials]]\naccess_key = \"{NEW_AK}\"\nsecret_key = \"{NEW_SK}\"\n")
}

/// Objects stored on backend `name` of a proxy whose data lives in `dir`.
fn objects_on(dir: &std::path::Path, name: &str) -> usize {
    let root = dir.join(name).join("objects");
    common::files_under(root.clone())
        .iter()
        .filter(|p| !common::is_record(&root, p))
        .count()
}

/// The local address of a client's open connection (to prove it was never reconnected).
fn local_addr(c: &mut Client) -> SocketAddr {
    c.conn().local_addr().unwrap()
}

#[test]
fn sighup_adds_a_credential_and_changes_a_quota_without_dropping_connections() {
    let dir = TempDir::new("sighup");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let text = config_text(&dir.0, "").replace("127.0.0.1:0", &listen);
    let cfg_path = dir.0.join("config.toml");
    std::fs::write(&cfg_path, &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-orchestrator"))
        .args(["serve", "--config"])
        .arg(&cfg_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = listen.parse().unwrap();
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut old = Client::new(addr, common::AK, common::SK);
    let mut new = Client::new(addr, NEW_AK, NEW_SK);
    // Backend a (1 MiB quota) takes the first 700 kB object, b the second (pack placement).
    let body = data(700_000, 3);
    assert_eq!(old.put("/data/one", &body).status, 200);
    assert_eq!(old.put("/data/two", &body).status, 200);
    assert_eq!((objects_on(&dir.0, "a"), objects_on(&dir.0, "b")), (1, 1));
    let conn_before = local_addr(&mut old);
    let r = new.get("/data/one");
    assert_eq!((r.status, r.code().as_str()), (403, "InvalidAccessKeyId"));
    let new_conn = local_addr(&mut new);

    // Quota of a raised to 4 MiB, a credential added; SIGHUP.
    let changed = text.replace("quota_bytes = 1048576", "quota_bytes = 4194304") + &new_credential();
    std::fs::write(&cfg_path, changed).unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = Instant::now();
    loop {
        let r = new.get("/data/one");
        if r.status == 200 {
            assert_eq!(r.body, body);
            break;
        }
        assert_eq!(r.code(), "InvalidAccessKeyId");
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the new credential never took effect"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The raised quota: the next object fits on a again.
    assert_eq!(old.put("/data/three", &body).status, 200);
    assert_eq!((objects_on(&dir.0, "a"), objects_on(&dir.0, "b")), (2, 1));
    // Neither connection was dropped.
    assert_eq!(local_addr(&mut old), conn_before);
    assert_eq!(local_addr(&mut new), new_conn);
    assert!(child.try_wait().unwrap().is_none(), "the proxy must still run");

    // A config that no longer parses is refused; the proxy keeps serving with what it had.
    std::fs::write(&cfg_path, "[server\n").unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(new.get("/data/three").status, 200);
    assert!(
        child.try_wait().unwrap().is_none(),
        "a bad config must not stop the proxy"
    );
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_reload_removing_a_backend_that_holds_objects_is_refused() {
    let srv = TestServer::start();
    let mut c = srv.client();
    assert_eq!(c.put("/data/kept", &data(10_000, 1)).status, 200);
    let generation = srv.shared.live.generation();
    // Backend a goes away (and with it the bucket's first backend).
    let text = config_text(&srv.dir.0, "");
    let start = text.find("[[backends]]\nname = \"a\"").unwrap();
    let end = text[start + 1..].find("[[backends]]").unwrap() + start + 1;
    let without_a = format!("{}{}", &text[..start], &text[end..]).replace("[\"a\", \"b\"]", "[\"b\"]");
    let cfg = Config::parse(&without_a).unwrap();
    let err = s3o_proxy::reload::reload(&srv.shared, &cfg).unwrap_err();
    assert!(err.contains("backend 'a' still holds"), "{err}");
    assert_eq!(srv.shared.live.generation(), generation);
    assert_eq!(c.get("/data/kept").status, 200);
}

#[test]
fn a_reload_without_live_changes_keeps_the_generation_and_names_restart_only_sections() {
    let srv = TestServer::start();
    let generation = srv.shared.live.generation();
    let text = config_text(&srv.dir.0, "").replace("idle_timeout_secs = 5", "idle_timeout_secs = 7");
    let out = s3o_proxy::reload::reload(&srv.shared, &Config::parse(&text).unwrap()).unwrap();
    assert!(!out.changed);
    assert_eq!(out.generation, generation);
    assert_eq!(out.needs_restart, vec!["[limits]"]);
    // A new bucket is live at once (and exists in the store).
    let text = config_text(&srv.dir.0, "\n[[buckets]]\nname = \"added\"\nbackends = [\"b\"]\n");
    let out = s3o_proxy::reload::reload(&srv.shared, &Config::parse(&text).unwrap()).unwrap();
    assert!(out.changed);
    assert_eq!(out.generation, generation + 1);
    let mut c = srv.client();
    assert_eq!(c.put("/added/x", b"hello").status, 200);
    assert_eq!(srv.backend_files("b").len(), 1);
}
