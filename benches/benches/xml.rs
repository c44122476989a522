//! criterion benches of the ListObjectsV2 response writer: a full, truncated 1000-key page of
//! realistic keys (`photos/2024/06/IMG_00001.jpg`, some with spaces and parentheses), quoted
//! ETags (some multipart) and varied sizes, built from the store's own page type
//! (`(String, ObjectMeta)`), written with and without `encoding-type=url` into a reused buffer as
//! the connection loop does, and once with [`XmlBody::to_vec`] (one sized allocation) for
//! comparison. Throughput is the bytes of XML written; time is per page.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use s3o_proxy::xml::{ListBucketResultV2, XmlBody};
use s3o_store::ObjectMeta;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

const KEYS: usize = 1000;

/// A page as `Store::list_objects` returns it: 1000 keys in order, each with its metadata.
fn page() -> Vec<(String, ObjectMeta)> {
    let mut objects: Vec<(String, ObjectMeta)> = (0..KEYS as u64)
        .map(|i| {
            let month = 1 + i / 100;
            // One key in eight is a camera-roll export with spaces and parentheses, which XML
            // leaves alone but encoding-type=url must percent-encode.
            let key = if i % 8 == 7 {
                format!("photos/2024/{month:02}/Beach day ({i})/IMG_{i:05} copy.jpg")
            } else {
                format!("photos/2024/{month:02}/IMG_{i:05}.jpg")
            };
            let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            // One in ten uploaded in parts, with S3's `-N` multipart ETag.
            let etag = if i % 10 == 3 {
                format!("\"{h:016x}{:016x}-{}\"", h.rotate_left(17), 2 + i % 9)
            } else {
                format!("\"{h:016x}{:016x}\"", h.rotate_left(17))
            };
            let meta = ObjectMeta {
                size: 40_000 + (h >> 40) % 8_000_000,
                etag,
                content_type: Some("image/jpeg".into()),
                last_modified_ms: 1_717_000_000_000 + i * 61_013,
                version: i + 1,
                ..ObjectMeta::default()
            };
            (key, meta)
        })
        .collect();
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    objects
}

fn doc(objects: &[(String, ObjectMeta)], url: bool) -> ListBucketResultV2<'_, (String, ObjectMeta), String> {
    ListBucketResultV2 {
        name: "photos",
        prefix: "photos/2024/",
        start_after: None,
        continuation_token: None,
        next_continuation_token: Some("cGhvdG9zLzIwMjQvMTAvSU1HXzAwOTk5LmpwZw=="),
        max_keys: 1000,
        delimiter: None,
        encoding_type_url: url,
        is_truncated: true,
        owner: None,
        contents: objects,
        common_prefixes: &[],
    }
}

/// The page must hold every key once, escaped or encoded as asked, and close its root.
fn check(xml: &[u8], objects: &[(String, ObjectMeta)], url: bool) {
    let text = std::str::from_utf8(xml).unwrap();
    assert_eq!(text.matches("<Key>").count(), KEYS);
    assert_eq!(text.matches("<Contents>").count(), KEYS);
    assert!(text.contains("<KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys>"));
    assert!(text.contains("<IsTruncated>true</IsTruncated>"));
    assert!(text.ends_with("</Contents></ListBucketResult>"));
    assert_eq!(text.contains("<EncodingType>url</EncodingType>"), url);
    let first = "<Key>photos/2024/01/Beach%20day%20%287%29/IMG_00007%20copy.jpg</Key>";
    assert_eq!(text.contains(first), url, "the url-encoded key");
    assert_eq!(
        text.contains("<Key>photos/2024/01/Beach day (7)/IMG_00007 copy.jpg</Key>"),
        !url
    );
    assert!(text.contains(&format!("<Key>{}</Key>", objects[KEYS - 1].0)));
    let etag = &objects[0].1.etag;
    assert!(text.contains(&format!("<ETag>&quot;{}&quot;</ETag>", &etag[1..etag.len() - 1])));
    assert!(text.contains("<LastModified>2024-05-29T16:26:40.000Z</LastModified>"));
}

fn list_v2(c: &mut Criterion) {
    let objects = page();
    let mut g = c.benchmark_group("list_objects_v2_xml_1000_keys");
    let mut out = Vec::new();
    for (name, url) in [("plain", false), ("encoding_type_url", true)] {
        let d = doc(&objects, url);
        out.clear();
        d.write_into(&mut out);
        check(&out, &objects, url);
        let hint = d.size_hint();
        eprintln!(
            "size    {name}: {} bytes of XML, size_hint {hint} ({:.2}x)",
            out.len(),
            hint as f64 / out.len() as f64
        );
        common::report_allocs(&format!("list_objects_v2_xml_1000_keys/reused_buffer/{name}"), || {
            out.clear();
            d.write_into(&mut out);
        });
        common::report_allocs(&format!("list_objects_v2_xml_1000_keys/to_vec/{name}"), || d.to_vec());
        g.throughput(Throughput::Bytes(out.len() as u64));
        g.bench_function(format!("reused_buffer/{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&d).write_into(&mut out);
                black_box(out.len())
            });
        });
        g.bench_function(format!("to_vec/{name}"), |b| b.iter(|| black_box(&d).to_vec()));
    }
    g.finish();
}

criterion_group!(benches, list_v2);
criterion_main!(benches);
