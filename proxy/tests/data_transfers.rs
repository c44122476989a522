//! The data API's streamed routes and shares in process: uploads (a multipart form streamed
//! into an object) and downloads (ranges, 416, disposition) of the orchestrated store's
//! objects, and shares (password, download cap, ranges, the per-address limit, revocation).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::data_api::{assert_audited, code, ok, server, sessions, BOSS_PW, WEB};
use common::TestServer;
use serde_json::json;

/// A `multipart/form-data` body: fields, then the file part.
fn form(fields: &[(&str, &str)], filename: &str, file: &[u8]) -> (String, Vec<u8>) {
    let b = "XyZBoundary42";
    let mut out = Vec::new();
    for (n, v) in fields {
        out.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    out.extend_from_slice(
        format!("--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), out)
}

#[test]
fn uploads_and_downloads_stream() {
    let s = server();
    let (admin, others) = sessions(&s, &["readonly"]);
    let readonly = &others[0];
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (ct, body) = form(
        &[("key", "docs/big.bin"), ("content_type", "application/x-test")],
        "ignored.bin",
        &data,
    );
    let up = admin.raw("POST", &format!("{WEB}/object"), &[("content-type", &ct)], &body);
    let v = ok(&up, 201);
    assert_eq!(
        (v["key"].as_str(), v["size"].as_u64(), v["content_type"].as_str()),
        (Some("docs/big.bin"), Some(300_000), Some("application/x-test"))
    );
    assert_eq!(c.get("/web/docs/big.bin").body, data, "read back through the S3 port");
    // The key defaults to the file's name; If-None-Match: * refuses an existing key.
    let (ct, body) = form(&[], "note.txt", b"hello");
    ok(
        &admin.raw("POST", &format!("{WEB}/object"), &[("content-type", &ct)], &body),
        201,
    );
    assert_eq!(c.get("/web/note.txt").text(), "hello");
    let again = admin.raw(
        "POST",
        &format!("{WEB}/object"),
        &[("content-type", &ct), ("if-none-match", "*")],
        &body,
    );
    assert_eq!(code(&again), (412, "object_exists".into()));
    assert_eq!(
        code(&readonly.raw("POST", &format!("{WEB}/object"), &[("content-type", &ct)], &body)),
        (403, "forbidden".into())
    );
    let (ct, body) = form(&[("key", "../x")], "f", b"x");
    assert_eq!(
        code(&admin.raw("POST", &format!("{WEB}/object"), &[("content-type", &ct)], &body)),
        (400, "invalid_key".into())
    );
    let (ct, body) = form(&[("key", "x")], "f", b"x");
    assert_eq!(
        code(&admin.raw(
            "POST",
            "/api/backends/a/buckets/x/object",
            &[("content-type", &ct)],
            &body
        )),
        (501, "not_supported".into())
    );

    // Downloads: whole, one range, a range past the end; any role.
    let all = readonly.raw("GET", &format!("{WEB}/object?key=docs/big.bin"), &[], b"");
    assert_eq!((all.status, all.body.len()), (200, 300_000));
    assert_eq!(all.body, data);
    let header = |r: &common::admin::Reply, n: &str| r.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        header(&all, "content-disposition").as_deref(),
        Some("attachment; filename=\"big.bin\"")
    );
    assert_eq!(header(&all, "content-type").as_deref(), Some("application/x-test"));
    let part = readonly.raw(
        "GET",
        &format!("{WEB}/object?key=docs/big.bin&disposition=inline"),
        &[("range", "bytes=1000-1999")],
        b"",
    );
    assert_eq!((part.status, part.body.as_slice()), (206, &data[1000..2000]));
    assert_eq!(
        header(&part, "content-range").as_deref(),
        Some("bytes 1000-1999/300000")
    );
    assert!(header(&part, "content-disposition").unwrap().starts_with("inline;"));
    let past = readonly.raw(
        "GET",
        &format!("{WEB}/object?key=docs/big.bin"),
        &[("range", "bytes=400000-")],
        b"",
    );
    assert_eq!(code(&past), (416, "bad_range".into()));
    assert_eq!(header(&past, "content-range").as_deref(), Some("bytes */300000"));
    assert_eq!(
        code(&readonly.raw("GET", &format!("{WEB}/object?key=nope"), &[], b"")),
        (404, "not_found".into())
    );
    // What a browser would run is never shown inline on the API's origin.
    let (ct, body) = form(
        &[("key", "page.html"), ("content_type", "text/html")],
        "p",
        b"<script>alert(1)</script>",
    );
    ok(
        &admin.raw("POST", &format!("{WEB}/object"), &[("content-type", &ct)], &body),
        201,
    );
    let page = readonly.raw(
        "GET",
        &format!("{WEB}/object?key=page.html&disposition=inline"),
        &[],
        b"",
    );
    assert_eq!(
        header(&page, "content-disposition").as_deref(),
        Some("attachment; filename=\"page.html\"")
    );
    assert!(header(&page, "content-security-policy").unwrap().starts_with("sandbox"));
    // A bucket's default retention holds for uploads through the API too.
    let locked = [("x-amz-bucket-object-lock-enabled", "true")];
    assert_eq!(c.send("PUT", "/worm", "", &locked, b"").status, 200);
    let rule = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>\
                <Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    assert_eq!(c.send("PUT", "/worm", "object-lock", &[], rule.as_bytes()).status, 200);
    let (ct, body) = form(&[("key", "kept.txt")], "k", b"keep me");
    ok(
        &admin.raw(
            "POST",
            "/api/backends/orchestrator/buckets/worm/object",
            &[("content-type", &ct)],
            &body,
        ),
        201,
    );
    let retention = c.send("GET", "/worm/kept.txt", "retention", &[], b"").text();
    assert!(retention.contains("<Mode>GOVERNANCE</Mode>"), "{retention}");
    assert_eq!(
        code(&readonly.raw("GET", &format!("{WEB}/object"), &[], b"")),
        (400, "bad_request".into())
    );
    assert_audited(&admin, &["object.upload"]);
}

#[test]
fn shares_serve_with_password_cap_and_limit() {
    let extra = format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[access]\nsecret_key = \"{}\"\nshare_per_minute = 9\n\n[access.bootstrap_admin]\nusername = \"boss\"\npassword = \"{BOSS_PW}\"\n",
        "cd".repeat(32)
    );
    let s = TestServer::start_with(&extra);
    let (admin, others) = sessions(&s, &["user", "readonly"]);
    let (user, readonly) = (&others[0], &others[1]);
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(c.put("/web/report.pdf", &data).status, 200);
    let want = json!({"backend_id": "orchestrator", "bucket": "web", "key": "report.pdf",
                      "password": "open sesame", "max_downloads": 2, "disposition": "inline"});
    assert_eq!(
        code(&readonly.call("POST", "/api/shares", Some(want.clone()))),
        (403, "forbidden".into())
    );
    let missing = json!({"backend_id": "orchestrator", "bucket": "web", "key": "nope"});
    assert_eq!(
        code(&user.call("POST", "/api/shares", Some(missing))),
        (400, "bad_request".into())
    );
    let share = ok(&user.call("POST", "/api/shares", Some(want)), 201);
    let code_ = share["code"].as_str().unwrap().to_owned();
    assert_eq!(share["url"], format!("/s/{code_}"));
    assert_eq!(
        (
            share["has_password"].as_bool(),
            share["max_downloads"].as_u64(),
            share["download_count"].as_u64()
        ),
        (Some(true), Some(2), Some(0))
    );
    assert!(share.get("password_hash").is_none() && share.get("expires_at").is_none());
    assert_eq!(
        ok(&user.call("GET", "/api/shares", None), 200)["shares"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        ok(&readonly.call("GET", "/api/shares", None), 200),
        json!({"shares": []})
    );
    assert_eq!(
        code(&user.call("GET", "/api/shares?scope=all", None)),
        (403, "forbidden".into())
    );
    assert_eq!(
        ok(&admin.call("GET", "/api/shares?scope=all", None), 200)["shares"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The public pages (9 requests a minute from this address).
    let anon = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        common::admin::send(s.admin_addr(), method, path, headers, body)
    };
    let info = format!("/s/{code_}/info");
    assert_eq!(code(&anon("GET", &info, &[], b"")), (401, "password_required".into())); // 1
    let wrong = json!({"password": "guess"}).to_string();
    assert_eq!(
        code(&anon("POST", &format!("/s/{code_}/unlock"), &[], wrong.as_bytes())),
        (401, "password_mismatch".into())
    ); // 2
    let right = json!({"password": "open sesame"}).to_string();
    let unlocked = anon("POST", &format!("/s/{code_}/unlock"), &[], right.as_bytes()); // 3
    let v = ok(&unlocked, 200);
    assert_eq!(
        (
            v["name"].as_str(),
            v["size"].as_u64(),
            v["preview_kind"].as_str(),
            v["downloads_left"].as_u64()
        ),
        (Some("report.pdf"), Some(10_000), Some("pdf"), Some(2))
    );
    let cookie = common::session::cookie_value(&unlocked, &format!("stowage_unlock_{code_}"));
    let cookie = format!("stowage_unlock_{code_}={cookie}");
    // The cookies' key is kept sealed under the access key.
    let key = s3o_store::block_on(s.shared.store.doc("access", "share-unlock-key"))
        .unwrap()
        .unwrap();
    assert!(key.value.starts_with(b"v1."), "{:?}", key.value);
    let raw = format!("/s/{code_}/raw");
    assert_eq!(code(&anon("GET", &raw, &[], b"")), (401, "password_required".into())); // 4
    let past = anon("GET", &raw, &[("cookie", &cookie), ("range", "bytes=20000-")], b""); // 5: not counted
    assert_eq!(code(&past), (416, "bad_range".into()));
    let first = anon("GET", &raw, &[("cookie", &cookie), ("range", "bytes=0-99")], b""); // 6
    assert_eq!((first.status, first.body.as_slice()), (206, &data[..100]));
    let header = |r: &common::admin::Reply, n: &str| r.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        header(&first, "content-disposition").as_deref(),
        Some("inline; filename=\"report.pdf\"")
    );
    assert_eq!(header(&first, "cache-control").as_deref(), Some("no-store"));
    assert!(header(&first, "content-security-policy")
        .unwrap()
        .starts_with("sandbox"));
    let second = anon("GET", &raw, &[("cookie", &cookie)], b""); // 7
    assert_eq!((second.status, second.body.len()), (200, 10_000));
    assert_eq!(
        code(&anon("GET", &raw, &[("cookie", &cookie)], b"")),
        (410, "exhausted".into())
    ); // 8
    assert_eq!(
        code(&anon("GET", "/s/no-such-code/info", &[], b"")),
        (404, "not_found".into())
    ); // 9
    assert_eq!(
        code(&anon("GET", &info, &[("cookie", &cookie)], b"")),
        (429, "rate_limited".into())
    ); // 10

    // Revoked by its creator (or an admin); others do not learn it exists.
    let id = share["id"].as_str().unwrap();
    assert_eq!(
        code(&readonly.call("DELETE", &format!("/api/shares/{id}"), None)),
        (403, "forbidden".into())
    );
    assert_eq!(
        code(&admin.call("DELETE", "/api/shares/unknown", None)),
        (404, "not_found".into())
    );
    ok(&user.call("DELETE", &format!("/api/shares/{id}"), None), 204);
    let listed = ok(&user.call("GET", "/api/shares", None), 200);
    assert_eq!(
        (
            listed["shares"][0]["revoked"].as_bool(),
            listed["shares"][0]["download_count"].as_u64()
        ),
        (Some(true), Some(2))
    );
    assert_audited(&admin, &["share.create", "share.access", "share.revoke"]);
}

#[test]
fn objects_copy_within_the_store() {
    let s = server();
    let (admin, others) = sessions(&s, &["user", "readonly"]);
    let (user, readonly) = (&others[0], &others[1]);
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    assert_eq!(c.put("/web2", b"").status, 200);
    let meta = [("x-amz-meta-team", "web"), ("content-type", "text/plain")];
    assert_eq!(c.send("PUT", "/web/a.txt", "", &meta, b"copy me").status, 200);
    let copy = |who: &common::session::Session, body: serde_json::Value| {
        who.call("POST", &format!("{WEB}/object/copy"), Some(body))
    };
    assert_eq!(
        code(&copy(readonly, json!({"src_key": "a.txt", "dst_key": "b.txt"}))),
        (403, "forbidden".into())
    );
    let same = ok(&copy(user, json!({"src_key": "a.txt", "dst_key": "b.txt"})), 200);
    assert_eq!(
        (same["bucket"].as_str(), same["object"]["key"].as_str()),
        (Some("web"), Some("b.txt"))
    );
    assert_eq!(same["object"]["metadata"], json!({"team": "web"}));
    assert_eq!(c.get("/web/b.txt").text(), "copy me");
    assert_eq!(
        c.send("HEAD", "/web/b.txt", "", &[], b"").header("content-type"),
        Some("text/plain")
    );
    let other = ok(
        &copy(
            user,
            json!({"src_key": "a.txt", "dst_key": "x/a.txt", "dst_bucket": "web2", "metadata": {"team": "ops"}}),
        ),
        200,
    );
    assert_eq!(other["object"]["metadata"], json!({"team": "ops"}));
    assert_eq!(
        c.send("HEAD", "/web2/x/a.txt", "", &[], b"").header("x-amz-meta-team"),
        Some("ops")
    );
    for (body, want) in [
        (json!({"src_key": "a.txt", "dst_key": "a.txt"}), (400, "bad_request")),
        (json!({"src_key": "a.txt"}), (400, "bad_request")),
        (json!({"src_key": "a.txt", "dst_key": "../x"}), (400, "invalid_key")),
        (
            json!({"src_key": "a.txt", "dst_key": "y", "dst_bucket": "Bad_Name"}),
            (400, "invalid_bucket"),
        ),
        (json!({"src_key": "nope", "dst_key": "y"}), (404, "not_found")),
        (
            json!({"src_key": "a.txt", "dst_key": "y", "dst_bucket": "absent"}),
            (404, "not_found"),
        ),
        (
            json!({"src_key": "a.txt", "dst_key": "y", "dst_backend": "a"}),
            (501, "not_supported"),
        ),
        (
            json!({"src_key": "a.txt", "dst_key": "y", "dst_backend": "zz"}),
            (404, "not_found"),
        ),
    ] {
        assert_eq!(code(&copy(user, body.clone())), (want.0, want.1.to_string()), "{body}");
    }
    assert_audited(&admin, &["object.copy"]);
}

/// The JSON lines of an NDJSON reply.
fn ndjson(r: &common::admin::Reply) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&r.body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn prefixes_are_copied_and_deleted_with_progress() {
    let s = server();
    let (admin, others) = sessions(&s, &["user", "readonly"]);
    let (user, readonly) = (&others[0], &others[1]);
    let mut c = s.client();
    for b in ["/web", "/web2"] {
        assert_eq!(c.put(b, b"").status, 200);
    }
    for i in 0..30 {
        assert_eq!(
            c.put(&format!("/web/src/{i:02}.txt"), format!("n{i}").as_bytes())
                .status,
            200
        );
    }
    assert_eq!(c.put("/web/srcx", b"outside").status, 200);
    let walk = |who: &common::session::Session, what: &str, body: serde_json::Value| {
        who.call("POST", &format!("{WEB}/objects/{what}"), Some(body))
    };
    assert_eq!(
        code(&walk(readonly, "delete-prefix", json!({"prefix": "src/"}))),
        (403, "forbidden".into())
    );
    assert_eq!(
        code(&walk(user, "delete-prefix", json!({"prefix": ""}))),
        (400, "invalid_prefix".into())
    );
    assert_eq!(
        code(&walk(
            user,
            "copy-prefix",
            json!({"src_prefix": "src/", "dst_prefix": "src/in/"})
        )),
        (400, "bad_request".into())
    );
    assert_eq!(
        code(&walk(
            user,
            "copy-prefix",
            json!({"src_prefix": "src/", "dst_prefix": "d/", "dst_bucket": "absent"})
        )),
        (404, "not_found".into())
    );

    let r = walk(
        user,
        "copy-prefix",
        json!({"src_prefix": "src/", "dst_prefix": "dst/", "dst_bucket": "web2"}),
    );
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "application/x-ndjson"));
    let lines = ndjson(&r);
    assert_eq!(
        lines[0],
        json!({"dst_prefix": "dst/", "event": "start", "src_prefix": "src/"})
    );
    assert_eq!(
        lines[1],
        json!({"dst": "dst/00.txt", "event": "object", "size": 2, "src": "src/00.txt"})
    );
    assert_eq!(
        lines.last().unwrap(),
        &json!({"bytes": 80, "copied": 30, "event": "done", "failed": 0})
    );
    assert_eq!(lines.len(), 32);
    assert_eq!(c.get("/web2/dst/29.txt").text(), "n29");

    let r = walk(user, "delete-prefix", json!({"prefix": "src/"}));
    let lines = ndjson(&r);
    assert_eq!(lines[0], json!({"event": "start", "prefix": "src/"}));
    assert_eq!(
        lines.last().unwrap(),
        &json!({"deleted": 30, "event": "done", "failed": 0})
    );
    assert_eq!(c.get("/web/src/00.txt").status, 404);
    assert_eq!(c.get("/web/srcx").text(), "outside", "only the prefix's keys");
    assert_audited(&admin, &["object.copy_prefix", "object.delete_prefix"]);
}

#[test]
fn zips_stream_and_open_with_python() {
    let s = server();
    let (_admin, others) = sessions(&s, &["readonly"]);
    let readonly = &others[0];
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    let mut want = std::collections::BTreeMap::new();
    for i in 0..20u32 {
        let body: Vec<u8> = (0..(i * 997 + 3)).map(|j| (j * 7 + i) as u8).collect();
        let key = format!("pics/{i:02}.bin");
        assert_eq!(c.put(&format!("/web/{key}"), &body).status, 200);
        want.insert(key, body);
    }
    assert_eq!(c.put("/web/notes.txt", b"hello zip").status, 200);
    want.insert("notes.txt".into(), b"hello zip".to_vec());
    let r = readonly.raw("GET", &format!("{WEB}/objects/zip?key=pics/&key=notes.txt"), &[], b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let disposition = r
        .headers
        .iter()
        .find(|(n, _)| n == "content-disposition")
        .unwrap()
        .1
        .clone();
    assert!(
        disposition.starts_with("attachment; filename=\"web-") && disposition.ends_with(".zip\""),
        "{disposition}"
    );
    let dir = std::env::temp_dir().join(format!("s3o-zip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.zip");
    std::fs::write(&path, &r.body).unwrap();
    let script = "import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                  print(json.dumps({i.filename: z.read(i).hex() for i in z.infolist()}))";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: std::collections::BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let want: std::collections::BTreeMap<String, String> = want
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(|b| format!("{b:02x}")).collect()))
        .collect();
    assert_eq!(got, want, "every byte of every entry");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        code(&readonly.raw("GET", &format!("{WEB}/objects/zip"), &[], b"")),
        (400, "bad_request".into())
    );
    assert_eq!(
        code(&readonly.raw("GET", &format!("{WEB}/objects/zip?key=../x"), &[], b"")),
        (400, "invalid_key".into())
    );
    let many = "key=a&".repeat(1001);
    assert_eq!(
        code(&readonly.raw("GET", &format!("{WEB}/objects/zip?{many}"), &[], b"")),
        (413, "too_many_keys".into())
    );
}

#[test]
fn multipart_uploads_through_the_api() {
    let s = server();
    let (admin, others) = sessions(&s, &["readonly"]);
    let readonly = &others[0];
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    let mp = format!("{WEB}/multipart");
    assert_eq!(
        code(&readonly.call("POST", &format!("{mp}?key=big.bin"), None)),
        (403, "forbidden".into())
    );
    assert_eq!(code(&admin.call("POST", &mp, None)), (400, "bad_request".into()));
    let body = json!({"content_type": "application/x-test", "metadata": {"team": "data"}});
    let started = ok(&admin.call("POST", &format!("{mp}?key=big.bin"), Some(body)), 201);
    assert_eq!(
        (started["bucket"].as_str(), started["key"].as_str()),
        (Some("web"), Some("big.bin"))
    );
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let q = |id: &str| {
        let mut e = String::new();
        for b in id.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => e.push(b as char),
                _ => e.push_str(&format!("%{b:02X}")),
            }
        }
        format!("key=big.bin&upload_id={e}")
    };
    let listed = ok(&readonly.call("GET", &mp, None), 200);
    assert_eq!(listed["uploads"][0]["upload_id"], id.as_str());
    let one: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    let two = b"the last part".to_vec();
    let put = |n: u32, data: &[u8]| admin.raw("PUT", &format!("{mp}/parts/{n}?{}", q(&id)), &[], data);
    let p1 = ok(&put(1, &one), 200);
    let p2 = ok(&put(2, &two), 200);
    assert_eq!(
        (p1["part_number"].as_u64(), p1["size"].as_u64()),
        (Some(1), Some(one.len() as u64))
    );
    assert_eq!(code(&put(0, b"x")), (400, "bad_request".into()));
    assert_eq!(
        code(&readonly.raw("PUT", &format!("{mp}/parts/3?{}", q(&id)), &[], b"x")),
        (403, "forbidden".into())
    );
    let wrong = json!({"parts": [{"PartNumber": 1, "ETag": "\"00\""}, {"PartNumber": 2, "ETag": p2["etag"]}]});
    assert_eq!(
        code(&admin.call("POST", &format!("{mp}/complete?{}", q(&id)), Some(wrong))),
        (400, "bad_request".into())
    );
    let parts = json!({"parts": [{"PartNumber": 1, "ETag": p1["etag"]}, {"partnumber": 2, "etag": p2["etag"]}]});
    let done = ok(
        &admin.call("POST", &format!("{mp}/complete?{}", q(&id)), Some(parts)),
        200,
    );
    assert_eq!(
        (done["key"].as_str(), done["size"].as_u64()),
        (Some("big.bin"), Some((one.len() + two.len()) as u64))
    );
    assert!(done["etag"].as_str().unwrap().ends_with("-2\""));
    let mut all = one.clone();
    all.extend_from_slice(&two);
    assert_eq!(c.get("/web/big.bin").body, all);
    assert_eq!(
        c.send("HEAD", "/web/big.bin", "", &[], b"").header("x-amz-meta-team"),
        Some("data")
    );
    // Abandoned.
    let other = ok(&admin.call("POST", &format!("{mp}?key=big.bin"), None), 201)["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&admin.call("DELETE", &format!("{mp}?{}", q(&other)), None), 204);
    assert_eq!(
        code(&admin.call("DELETE", &format!("{mp}?{}", q(&other)), None)),
        (404, "not_found".into())
    );
    assert_eq!(ok(&readonly.call("GET", &mp, None), 200), json!({"uploads": []}));
    assert_audited(&admin, &["object.multipart.complete", "object.multipart.abort"]);
}
