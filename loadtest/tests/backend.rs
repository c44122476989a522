//! The backend in-process on 127.0.0.1:0, driven by the load generator's own signed client:
//! object round trips in every payload mode, ranges, HEAD, DELETE, listing, multipart, the
//! blackhole mode's zeros, and the pattern mode's checked bodies and regenerated reads. Every request has a timeout; the backend is stopped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use s3o_loadtest::backend::{runtime, Backend, BackendConfig, Storage};
use s3o_loadtest::client::conn::{with_timeout, Conn, Response};
use s3o_loadtest::client::payload::{BodyMaker, PayloadData, PayloadMode, RequestBody};
use s3o_loadtest::client::request::{Outgoing, RequestBuilder};
use s3o_loadtest::pattern;
use s3o_sigv4::Signer;

const LIMIT: Duration = Duration::from_secs(10);

fn start(storage: Storage) -> Backend {
    let cfg = BackendConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 2,
        storage,
    };
    Backend::start(&cfg).unwrap()
}

fn builder(addr: SocketAddr) -> RequestBuilder {
    RequestBuilder::new(Signer::new("AK", "SK", "us-east-1", "s3"), &addr.to_string(), "bkt")
}

/// Starts a backend with `storage`, runs `test` with a request builder and a connection to it on
/// the load generator's runtime, and stops the backend.
fn with_backend<F, Fut>(storage: Storage, test: F)
where
    F: FnOnce(RequestBuilder, Conn) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let backend = start(storage);
    let addr = backend.addr();
    let mut rt = runtime().unwrap();
    rt.block_on(async move {
        let conn = with_timeout(LIMIT, async { Ok(Conn::connect(addr).await?) })
            .await
            .unwrap();
        test(builder(addr), conn).await;
    });
    backend.stop();
}

/// A body maker for `len`-byte payloads in `mode`.
fn maker(len: usize, mode: PayloadMode) -> BodyMaker {
    BodyMaker::new(Arc::new(PayloadData::new(len, mode)), mode)
}

async fn send(conn: &mut Conn, out: Outgoing) -> Response {
    with_timeout(LIMIT, conn.exchange(out, true)).await.unwrap()
}

fn unsigned() -> RequestBody {
    RequestBody::empty(&std::rc::Rc::from("UNSIGNED-PAYLOAD"))
}

/// With a request head added by hand (for Range).
fn with_header(mut out: Outgoing, line: &str) -> Outgoing {
    let end = out.head.len() - 2;
    out.head.splice(end..end, line.bytes().chain(*b"\r\n"));
    out
}

/// A GET of `key` with this `Range` header value.
async fn get_range(conn: &mut Conn, b: &RequestBuilder, key: &str, range: &str) -> Response {
    let out = b.build("GET", Some(key), "", unsigned());
    send(conn, with_header(out, &format!("Range: {range}"))).await
}

/// CreateMultipartUpload of `key`; returns the upload id.
async fn create_upload(conn: &mut Conn, b: &RequestBuilder, key: &str) -> String {
    let r = send(conn, b.build("POST", Some(key), "uploads", unsigned())).await;
    let text = String::from_utf8(r.body).unwrap();
    s3o_loadtest::backend::xml::element(&text, "UploadId")
        .unwrap()
        .to_string()
}

/// CompleteMultipartUpload of `key`'s upload `id` with parts 1..=`parts`.
async fn complete_upload(conn: &mut Conn, b: &RequestBuilder, key: &str, id: &str, parts: u32) -> Response {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for n in 1..=parts {
        xml.push_str(&format!("<Part><PartNumber>{n}</PartNumber></Part>"));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let q = format!("uploadId={id}");
    send(
        conn,
        b.build("POST", Some(key), &q, RequestBody::signed_bytes(xml.into())),
    )
    .await
}

#[test]
fn memory_round_trips() {
    with_backend(Storage::Memory, |b, mut conn| async move {
        let len = 200_000;
        let expected = pattern::bytes(0, 0, len);
        for mode in [PayloadMode::Unsigned, PayloadMode::Signed, PayloadMode::ChunkedCrc32c] {
            let r = send(
                &mut conn,
                b.build("PUT", Some("dir/obj"), "", maker(len, mode).body(len)),
            )
            .await;
            assert_eq!(r.status, 200, "{mode:?}");
            assert!(r.etag.is_some());
            let r = send(&mut conn, b.build("GET", Some("dir/obj"), "", unsigned())).await;
            assert_eq!((r.status, r.body_len), (200, len as u64));
            assert_eq!(r.body, expected, "{mode:?}: the stored bytes are the payload");
        }
        let r = get_range(&mut conn, &b, "dir/obj", "bytes=10-19").await;
        assert_eq!((r.status, &r.body[..]), (206, &expected[10..20]));
        let r = get_range(&mut conn, &b, "dir/obj", "bytes=999999-").await;
        assert_eq!(r.status, 416);
        let r = send(&mut conn, b.build("HEAD", Some("dir/obj"), "", unsigned())).await;
        assert_eq!((r.status, r.body_len), (200, 0));
        let r = send(&mut conn, b.build("GET", None, "list-type=2&prefix=dir%2F", unsigned())).await;
        let text = String::from_utf8(r.body).unwrap();
        assert!(
            text.contains("<Key>dir/obj</Key>") && text.contains("<Size>200000</Size>"),
            "{text}"
        );
        let r = send(&mut conn, b.build("DELETE", Some("dir/obj"), "", unsigned())).await;
        assert_eq!(r.status, 204);
        let r = send(&mut conn, b.build("GET", Some("dir/obj"), "", unsigned())).await;
        assert_eq!(r.status, 404);
        assert!(String::from_utf8_lossy(&r.body).contains("NoSuchKey"));

        // Multipart: two parts, completed in order, read back whole.
        let id = create_upload(&mut conn, &b, "mp").await;
        let mut parts = maker(1000, PayloadMode::Unsigned);
        for n in 1..=2 {
            let q = format!("partNumber={n}&uploadId={id}");
            let r = send(&mut conn, b.build("PUT", Some("mp"), &q, parts.body(1000))).await;
            assert_eq!(r.status, 200);
        }
        let r = complete_upload(&mut conn, &b, "mp", &id, 2).await;
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains("-2&quot;</ETag>"));
        let r = send(&mut conn, b.build("GET", Some("mp"), "", unsigned())).await;
        let part = pattern::bytes(0, 0, 1000);
        assert_eq!(r.body, [part.clone(), part].concat());
        let q = format!("uploadId={id}");
        let r = send(&mut conn, b.build("DELETE", Some("mp"), &q, unsigned())).await;
        assert_eq!(r.status, 404, "the upload is gone once completed");
    });
}

#[test]
fn blackhole_keeps_sizes_only() {
    with_backend(Storage::Blackhole, |b, mut conn| async move {
        let len = 3 << 20;
        let mode = PayloadMode::ChunkedCrc32c;
        let r = send(&mut conn, b.build("PUT", Some("z"), "", maker(len, mode).body(len))).await;
        assert_eq!(r.status, 200);
        let r = send(&mut conn, b.build("GET", Some("z"), "", unsigned())).await;
        assert_eq!((r.status, r.body_len), (200, len as u64));
        assert!(r.body.iter().all(|&b| b == 0));
        let r = get_range(&mut conn, &b, "z", "bytes=-5").await;
        assert_eq!((r.status, r.body_len), (206, 5));
    });
}

#[test]
fn pattern_checks_bodies_and_regenerates_them() {
    with_backend(Storage::Pattern, |b, mut conn| async move {
        // A multipart upload of unique parts (stream n), aws-chunked, read back by ranges.
        let part = 200_000usize;
        let mode = PayloadMode::ChunkedCrc32c;
        let chunked = maker(0, mode);
        let id = create_upload(&mut conn, &b, "mp").await;
        let lens = [part, part, 1234, 5];
        for (i, len) in lens.iter().enumerate() {
            let n = i as u64 + 1;
            let q = format!("partNumber={n}&uploadId={id}");
            let body = chunked.body_of(pattern::bytes(n, 0, *len).into());
            let r = send(&mut conn, b.build("PUT", Some("mp"), &q, body)).await;
            assert_eq!(r.status, 200, "part {n}");
        }
        let r = complete_upload(&mut conn, &b, "mp", &id, 4).await;
        assert_eq!(r.status, 200);
        let whole: Vec<u8> = lens
            .iter()
            .enumerate()
            .flat_map(|(i, len)| pattern::bytes(i as u64 + 1, 0, *len))
            .collect();
        let r = send(&mut conn, b.build("GET", Some("mp"), "", unsigned())).await;
        assert_eq!((r.status, r.body_len), (200, whole.len() as u64));
        assert_eq!(r.body, whole);
        let r = get_range(&mut conn, &b, "mp", "bytes=199990-200100").await;
        assert_eq!((r.status, &r.body[..]), (206, &whole[199_990..200_101]));
        let layout = pattern::Layout {
            part_size: part as u64,
            unique: true,
        };
        assert_eq!(layout.mismatch(0, &whole[..2 * part + 1234]), None);

        // A body that is not generated data is refused, and the connection stays usable.
        let plain = maker(100_000, PayloadMode::Unsigned);
        let mut bad = pattern::bytes(0, 0, 100_000);
        bad[77_777] ^= 1;
        let r = send(&mut conn, b.build("PUT", Some("x"), "", plain.body_of(bad.into()))).await;
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("at byte 77777"));
        let r = send(
            &mut conn,
            b.build(
                "PUT",
                Some("x"),
                "",
                maker(100_000, PayloadMode::Unsigned).body(100_000),
            ),
        )
        .await;
        assert_eq!(r.status, 200);
        let r = send(&mut conn, b.build("GET", Some("x"), "", unsigned())).await;
        assert_eq!(r.body, pattern::bytes(0, 0, 100_000));
    });
}
