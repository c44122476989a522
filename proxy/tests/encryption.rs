//! In-process tests of encryption at rest and content hashes over `fs` backends: sealed bodies
//! of every size round-trip with the plaintext's size, ETag and checksums and never reach a
//! backend in the clear; Range reads at chunk boundaries; multipart uploads and copies of sealed
//! objects; objects written before encryption was enabled stay readable; and bytes changed
//! behind our back (a flipped byte, swapped chunks, a truncated body, another object's bytes)
//! are never served whole.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{complete_body, data, md5_hex, xml_one, TempDir, TestServer};

/// 32 bytes of base64: the test master key.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const CHUNK: usize = 4096;

fn sealed_config(dir: &std::path::Path) -> String {
    let text = common::config_text(
        dir,
        &format!("[encryption]\nenabled = true\nchunk_size = {CHUNK}\nkey = \"{KEY}\"\n"),
    );
    text.replace("quota_bytes = 1048576", "quota_bytes = 1073741824")
}

fn start_sealed() -> TestServer {
    let dir = TempDir::new("seal");
    let text = sealed_config(&dir.0);
    TestServer::start_config(dir, &text)
}

fn stored_files(srv: &TestServer) -> Vec<Vec<u8>> {
    ["a", "b"]
        .iter()
        .flat_map(|b| srv.backend_files(b))
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// Whether any 16-byte run of `plain` appears in `stored`.
fn leaks(plain: &[u8], stored: &[u8]) -> bool {
    if plain.len() < 16 {
        return false;
    }
    let runs: std::collections::HashSet<&[u8]> = plain.windows(16).step_by(7).collect();
    stored.windows(16).any(|w| runs.contains(w))
}

fn meta_of(srv: &TestServer, key: &str) -> s3o_store::ObjectMeta {
    s3o_store::block_on(srv.shared.store.get_object("data", key))
        .unwrap()
        .unwrap()
}

#[test]
fn sealed_bodies_round_trip_as_plaintext_and_never_reach_a_backend_in_the_clear() {
    let srv = start_sealed();
    let mut c = srv.client();
    for (i, n) in [0, 1, 15, 4095, 4096, 4097, 3 * 4096, 200_000].into_iter().enumerate() {
        let body = data(n, i as u32 + 1);
        let key = format!("/data/obj{n}");
        let r = c.put(&key, &body);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("etag").unwrap(), format!("\"{}\"", md5_hex(&body)));
        let g = c.get(&key);
        assert_eq!(g.status, 200);
        assert!(g.body == body, "object of {n} bytes");
        let h = c.send("HEAD", &key, "", &[], b"");
        assert_eq!(h.header("content-length").unwrap(), n.to_string());
        let m = meta_of(&srv, &format!("obj{n}"));
        let sealed = m.sealed.as_ref().expect("sealed");
        assert_eq!(sealed.chunk as usize, CHUNK);
        assert_eq!(m.stored, Some(s3o_store::Sealed::sealed_len(CHUNK as u32, n as u64)));
        assert_eq!(m.hash.as_ref().map(|h| h.parts.len()), Some(1));
        for f in stored_files(&srv) {
            assert!(!leaks(&body, &f), "plaintext of a {n}-byte object found on a backend");
        }
    }
    // Usage counts what the backends hold.
    let used: u64 = ["a", "b"]
        .iter()
        .map(|b| s3o_store::block_on(srv.shared.store.usage(b)).unwrap())
        .sum();
    let on_disk: u64 = stored_files(&srv).iter().map(|f| f.len() as u64).sum();
    assert_eq!(used, on_disk);
}

#[test]
fn range_reads_open_only_the_chunks_they_need_at_every_boundary() {
    let srv = start_sealed();
    let mut c = srv.client();
    let n = 3 * CHUNK + 100;
    let body = data(n, 9);
    assert_eq!(c.put("/data/r", &body).status, 200);
    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-0".into(), 0, 0),
        (format!("bytes={}-{}", CHUNK - 1, CHUNK), CHUNK - 1, CHUNK),
        (format!("bytes={}-{}", CHUNK, 2 * CHUNK - 1), CHUNK, 2 * CHUNK - 1),
        (
            format!("bytes={}-{}", 2 * CHUNK - 1, 3 * CHUNK),
            2 * CHUNK - 1,
            3 * CHUNK,
        ),
        (format!("bytes={}-", 3 * CHUNK), 3 * CHUNK, n - 1),
        ("bytes=-10".into(), n - 10, n - 1),
        (format!("bytes=1-{}", n + 50), 1, n - 1),
    ];
    for (range, first, last) in cases {
        let r = c.send("GET", "/data/r", "", &[("range", &range)], b"");
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {first}-{last}/{n}"),
            "{range}"
        );
        assert!(r.body == body[first..=last], "{range}");
    }
}

#[test]
fn multipart_uploads_and_copies_of_sealed_objects() {
    let srv = start_sealed();
    let mut c = srv.client();
    let r = c.send("POST", "/data/mp", "uploads", &[], b"");
    let id = xml_one(&r.text(), "UploadId").unwrap();
    let p1 = data(5 * 1024 * 1024, 1);
    let p2 = data(10_000, 2);
    let q1 = format!("partNumber=1&uploadId={id}");
    let q2 = format!("partNumber=2&uploadId={id}");
    let e1 = c
        .send("PUT", "/data/mp", &q1, &[], &p1)
        .header("etag")
        .unwrap()
        .to_string();
    let e2 = c
        .send("PUT", "/data/mp", &q2, &[], &p2)
        .header("etag")
        .unwrap()
        .to_string();
    assert_eq!(e1, format!("\"{}\"", md5_hex(&p1)));
    let done = c.send(
        "POST",
        "/data/mp",
        &format!("uploadId={id}"),
        &[],
        complete_body(&[(1, &e1), (2, &e2)]).as_bytes(),
    );
    assert_eq!(done.status, 200, "{}", done.text());
    let whole: Vec<u8> = [p1.clone(), p2.clone()].concat();
    assert!(c.get("/data/mp").body == whole);
    let m = meta_of(&srv, "mp");
    assert_eq!(m.sealed.as_ref().unwrap().segments.len(), 2);
    assert_eq!(m.hash.as_ref().unwrap().parts.len(), 2);
    // A range across the parts, and part 2 alone.
    let (a, b) = (p1.len() - 5000, p1.len() + 5000);
    let r = c.send("GET", "/data/mp", "", &[("range", &format!("bytes={a}-{b}"))], b"");
    assert!(r.body == whole[a..=b]);
    let r = c.send("GET", "/data/mp", "partNumber=2", &[], b"");
    assert!(r.status == 206 && r.body == p2);
    for f in stored_files(&srv) {
        assert!(!leaks(&p2, &f));
    }
    // Copies are opened and sealed anew for their own key.
    let r = c.send("PUT", "/data/mp-copy", "", &[("x-amz-copy-source", "/data/mp")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get("/data/mp-copy").body == whole);
    let copy = meta_of(&srv, "mp-copy");
    assert_ne!(copy.sealed.as_ref().unwrap().dek, m.sealed.as_ref().unwrap().dek);
    let r = c.send(
        "PUT",
        "/data/mp",
        "",
        &[
            ("x-amz-copy-source", "/data/mp"),
            ("x-amz-metadata-directive", "REPLACE"),
            ("x-amz-meta-k", "v"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get("/data/mp").body == whole);
}

#[test]
fn objects_written_before_encryption_stay_readable_and_a_missing_key_is_named() {
    let dir = TempDir::new("seal-later");
    let plain_text = common::config_text(&dir.0, "").replace("quota_bytes = 1048576", "quota_bytes = 1073741824");
    let srv = TestServer::start_config(dir, &plain_text);
    let mut c = srv.client();
    let old = data(50_000, 3);
    assert_eq!(c.put("/data/old", &old).status, 200);
    assert!(meta_of(&srv, "old").sealed.is_none());
    let text = sealed_config(&srv.dir.0);
    let srv = srv.restart(&text);
    let mut c = srv.client();
    assert!(c.get("/data/old").body == old);
    let new = data(50_000, 4);
    assert_eq!(c.put("/data/new", &new).status, 200);
    assert!(meta_of(&srv, "new").sealed.is_some());
    // Restarted with another key only: the old plaintext reads, the sealed one is refused
    // (500), never served as garbage.
    let other = text.replace(KEY, OTHER_KEY);
    let srv = srv.restart(&other);
    let mut c = srv.client();
    assert!(c.get("/data/old").body == old);
    let r = c.get("/data/new");
    assert_eq!(r.status, 500, "{}", r.text());
    // With the old key among the previous ones, it reads again.
    let both = format!("{other}\n[[encryption.previous_keys]]\nkey = \"{KEY}\"\n");
    let srv = srv.restart(&both);
    assert!(srv.client().get("/data/new").body == new);
}

/// The one stored file of object `key` (backend `a` first).
fn file_of(srv: &TestServer, key: &str) -> std::path::PathBuf {
    let m = meta_of(srv, key);
    let loc = &m.locations[0];
    srv.dir.0.join(&loc.backend).join("objects").join(&loc.physical_key)
}

fn served_whole(srv: &TestServer, path: &str, n: usize) -> bool {
    let mut c = srv.client();
    let (status, len, got) = common::get_to_eof(&mut c, srv.addr, path);
    status == 200 && len == n && got == n
}

#[test]
fn changed_swapped_truncated_and_moved_bytes_are_never_served_whole() {
    let srv = start_sealed();
    let mut c = srv.client();
    let n = 300_000;
    for k in ["flip", "swap", "cut", "moved", "donor"] {
        assert_eq!(c.put(&format!("/data/{k}"), &data(n, 7)).status, 200);
    }
    assert!(served_whole(&srv, "/data/flip", n));
    let per = CHUNK + 16;
    let edit = |key: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let p = file_of(&srv, key);
        let mut b = std::fs::read(&p).unwrap();
        f(&mut b);
        std::fs::write(&p, b).unwrap();
    };
    edit("flip", &|b| b[n / 2] ^= 1);
    edit("swap", &|b| {
        let first: Vec<u8> = b[..per].to_vec();
        let second: Vec<u8> = b[per..2 * per].to_vec();
        b[..per].copy_from_slice(&second);
        b[per..2 * per].copy_from_slice(&first);
    });
    edit("cut", &|b| b.truncate(b.len() - per));
    // Another object's bytes (same plaintext, same size) copied over this one's.
    let donor = std::fs::read(file_of(&srv, "donor")).unwrap();
    edit("moved", &|b| b.copy_from_slice(&donor));
    for k in ["flip", "swap", "cut", "moved"] {
        assert!(!served_whole(&srv, &format!("/data/{k}"), n), "{k} served whole");
    }
    assert!(served_whole(&srv, "/data/donor", n));
    // The read's hash failure queued the changed copies for the scrubber.
    assert!(srv.shared.suspects.len() >= 3, "{}", srv.shared.suspects.len());
}

#[test]
fn unsealed_copies_are_checked_against_their_hash() {
    let dir = TempDir::new("hash");
    let text = common::config_text(&dir.0, "").replace("quota_bytes = 1048576", "quota_bytes = 1073741824");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let n = 2_000_000;
    let body = data(n, 5);
    assert_eq!(c.put("/data/h", &body).status, 200);
    let m = meta_of(&srv, "h");
    assert_eq!(
        m.hash.as_ref().unwrap().parts,
        vec![blake3::hash(&body).to_hex().to_string()]
    );
    assert!(served_whole(&srv, "/data/h", n));
    let p = file_of(&srv, "h");
    let mut b = std::fs::read(&p).unwrap();
    b[n - 10] ^= 0x80;
    std::fs::write(&p, b).unwrap();
    assert!(!served_whole(&srv, "/data/h", n));
    assert_eq!(srv.shared.suspects.len(), 1);
    // A range is not covered by the whole body's hash.
    let r = c.send("GET", "/data/h", "", &[("range", "bytes=0-99")], b"");
    assert!(r.status == 206 && r.body == body[..100]);
}
