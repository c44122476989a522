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

#[test]
fn memory_round_trips() {
    let backend = start(Storage::Memory);
    let addr = backend.addr();
    let mut rt = runtime().unwrap();
    rt.block_on(async move {
        let b = builder(addr);
        let mut conn = with_timeout(LIMIT, async { Ok(Conn::connect(addr).await?) })
            .await
            .unwrap();
        let len = 200_000;
        let expected = pattern::bytes(0, 0, len);
        for mode in [PayloadMode::Unsigned, PayloadMode::Signed, PayloadMode::ChunkedCrc32c] {
            let mut maker = BodyMaker::new(Arc::new(PayloadData::new(len, mode)), mode);
            let r = send(&mut conn, b.build("PUT", Some("dir/obj"), "", maker.body(len))).await;
            assert_eq!(r.status, 200, "{mode:?}");
            assert!(r.etag.is_some());
            let r = send(&mut conn, b.build("GET", Some("dir/obj"), "", unsigned())).await;
            assert_eq!((r.status, r.body_len), (200, len as u64));
            assert_eq!(r.body, expected, "{mode:?}: the stored bytes are the payload");
        }
        let r = send(
            &mut conn,
            with_header(b.build("GET", Some("dir/obj"), "", unsigned()), "Range: bytes=10-19"),
        )
        .await;
        assert_eq!((r.status, &r.body[..]), (206, &expected[10..20]));
        let r = send(
            &mut conn,
            with_header(b.build("GET", Some("dir/obj"), "", unsigned()), "Range: bytes=999999-"),
        )
        .await;
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
        let r = send(&mut conn, b.build("POST", Some("mp"), "uploads", unsigned())).await;
        let text = String::from_utf8(r.body).unwrap();
        let id = s3o_loadtest::backend::xml::element(&text, "UploadId")
            .unwrap()
            .to_string();
        let mut maker = BodyMaker::new(
            Arc::new(PayloadData::new(1000, PayloadMode::Unsigned)),
            PayloadMode::Unsigned,
        );
        for n in 1..=2 {
            let q = format!("partNumber={n}&uploadId={id}");
            let r = send(&mut conn, b.build("PUT", Some("mp"), &q, maker.body(1000))).await;
            assert_eq!(r.status, 200);
        }
        let xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>\
                   <Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
        let q = format!("uploadId={id}");
        let r = send(
            &mut conn,
            b.build("POST", Some("mp"), &q, RequestBody::signed_bytes(xml.into())),
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains("-2&quot;</ETag>"));
        let r = send(&mut conn, b.build("GET", Some("mp"), "", unsigned())).await;
        let part = pattern::bytes(0, 0, 1000);
        assert_eq!(r.body, [part.clone(), part].concat());
        let r = send(&mut conn, b.build("DELETE", Some("mp"), &q, unsigned())).await;
        assert_eq!(r.status, 404, "the upload is gone once completed");
    });
    backend.stop();
}

#[test]
fn blackhole_keeps_sizes_only() {
    let backend = start(Storage::Blackhole);
    let addr = backend.addr();
    let mut rt = runtime().unwrap();
    rt.block_on(async move {
        let b = builder(addr);
        let mut conn = with_timeout(LIMIT, async { Ok(Conn::connect(addr).await?) })
            .await
            .unwrap();
        let len = 3 << 20;
        let mode = PayloadMode::ChunkedCrc32c;
        let mut maker = BodyMaker::new(Arc::new(PayloadData::new(len, mode)), mode);
        let r = send(&mut conn, b.build("PUT", Some("z"), "", maker.body(len))).await;
        assert_eq!(r.status, 200);
        let r = send(&mut conn, b.build("GET", Some("z"), "", unsigned())).await;
        assert_eq!((r.status, r.body_len), (200, len as u64));
        assert!(r.body.iter().all(|&b| b == 0));
        let r = send(
            &mut conn,
            with_header(b.build("GET", Some("z"), "", unsigned()), "Range: bytes=-5"),
        )
        .await;
        assert_eq!((r.status, r.body_len), (206, 5));
    });
    backend.stop();
}

#[test]
fn pattern_checks_bodies_and_regenerates_them() {
    let backend = start(Storage::Pattern);
    let addr = backend.addr();
    let mut rt = runtime().unwrap();
    rt.block_on(async move {
        let b = builder(addr);
        let mut conn = with_timeout(LIMIT, async { Ok(Conn::connect(addr).await?) })
            .await
            .unwrap();
        // A multipart upload of unique parts (stream n), aws-chunked, read back by ranges.
        let part = 200_000usize;
        let mode = PayloadMode::ChunkedCrc32c;
        let maker = BodyMaker::new(Arc::new(PayloadData::new(0, mode)), mode);
        let r = send(&mut conn, b.build("POST", Some("mp"), "uploads", unsigned())).await;
        let text = String::from_utf8(r.body).unwrap();
        let id = s3o_loadtest::backend::xml::element(&text, "UploadId")
            .unwrap()
            .to_string();
        let lens = [part, part, 1234, 5];
        for (i, len) in lens.iter().enumerate() {
            let n = i as u64 + 1;
            let q = format!("partNumber={n}&uploadId={id}");
            let body = maker.body_of(pattern::bytes(n, 0, *len).into());
            let r = send(&mut conn, b.build("PUT", Some("mp"), &q, body)).await;
            assert_eq!(r.status, 200, "part {n}");
        }
        let xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber>\
                   </Part><Part><PartNumber>3</PartNumber></Part><Part><PartNumber>4</PartNumber></Part>\
                   </CompleteMultipartUpload>";
        let q = format!("uploadId={id}");
        let r = send(
            &mut conn,
            b.build("POST", Some("mp"), &q, RequestBody::signed_bytes(xml.into())),
        )
        .await;
        assert_eq!(r.status, 200);
        let whole: Vec<u8> = lens
            .iter()
            .enumerate()
            .flat_map(|(i, len)| pattern::bytes(i as u64 + 1, 0, *len))
            .collect();
        let r = send(&mut conn, b.build("GET", Some("mp"), "", unsigned())).await;
        assert_eq!((r.status, r.body_len), (200, whole.len() as u64));
        assert_eq!(r.body, whole);
        let r = send(
            &mut conn,
            with_header(b.build("GET", Some("mp"), "", unsigned()), "Range: bytes=199990-200100"),
        )
        .await;
        assert_eq!((r.status, &r.body[..]), (206, &whole[199_990..200_101]));
        let layout = pattern::Layout {
            part_size: part as u64,
            unique: true,
        };
        assert_eq!(layout.mismatch(0, &whole[..2 * part + 1234]), None);

        // A body that is not generated data is refused, and the connection stays usable.
        let maker = BodyMaker::new(
            Arc::new(PayloadData::new(100_000, PayloadMode::Unsigned)),
            PayloadMode::Unsigned,
        );
        let mut bad = pattern::bytes(0, 0, 100_000);
        bad[77_777] ^= 1;
        let r = send(&mut conn, b.build("PUT", Some("x"), "", maker.body_of(bad.into()))).await;
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("at byte 77777"));
        let mut m = BodyMaker::new(
            Arc::new(PayloadData::new(100_000, PayloadMode::Unsigned)),
            PayloadMode::Unsigned,
        );
        let r = send(&mut conn, b.build("PUT", Some("x"), "", m.body(100_000))).await;
        assert_eq!(r.status, 200);
        let r = send(&mut conn, b.build("GET", Some("x"), "", unsigned())).await;
        assert_eq!(r.body, pattern::bytes(0, 0, 100_000));
    });
    backend.stop();
}
