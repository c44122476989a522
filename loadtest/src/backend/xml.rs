//! The few XML documents the backend writes and reads, by hand (no XML library: the shapes are
//! fixed and small). Each writer has a test of its exact output.

use std::fmt::Write;

use super::store::Object;
use crate::http::iso_date;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// `s` with the five XML special characters escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// Appends `s` to `out` with the five XML special characters escaped.
pub fn escape_into(out: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// An `<Error>` document.
pub fn error(code: &str, message: &str) -> String {
    format!(
        "{DECL}<Error><Code>{code}</Code><Message>{}</Message></Error>",
        escape(message)
    )
}

/// `InitiateMultipartUploadResult`.
pub fn initiate(bucket: &str, key: &str, upload_id: &str) -> String {
    format!(
        "{DECL}<InitiateMultipartUploadResult xmlns=\"{NS}\"><Bucket>{}</Bucket><Key>{}</Key>\
         <UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>",
        escape(bucket),
        escape(key)
    )
}

/// `CompleteMultipartUploadResult`.
pub fn complete(bucket: &str, key: &str, etag: &str) -> String {
    format!(
        "{DECL}<CompleteMultipartUploadResult xmlns=\"{NS}\"><Location>/{b}/{k}</Location>\
         <Bucket>{b}</Bucket><Key>{k}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
        escape(etag),
        b = escape(bucket),
        k = escape(key)
    )
}

/// `ListAllMyBucketsResult`.
pub fn buckets(names: &[String]) -> String {
    let mut s = format!("{DECL}<ListAllMyBucketsResult xmlns=\"{NS}\"><Owner><ID>loadtest</ID></Owner><Buckets>");
    for n in names {
        s.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
            escape(n),
            iso_date(0)
        ));
    }
    s.push_str("</Buckets></ListAllMyBucketsResult>");
    s
}

/// A ListObjectsV2 `ListBucketResult` page; the continuation token is the last key.
pub fn list_v2(bucket: &str, prefix: &str, max_keys: usize, page: &[(String, Object)], truncated: bool) -> String {
    let mut s = format!(
        "{DECL}<ListBucketResult xmlns=\"{NS}\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount>\
         <MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        escape(bucket),
        escape(prefix),
        page.len()
    );
    if let (true, Some((last, _))) = (truncated, page.last()) {
        s.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            escape(last)
        ));
    }
    s.reserve(page.len() * 256);
    let mut date: Option<(i64, String)> = None;
    for (key, o) in page {
        s.push_str("<Contents><Key>");
        escape_into(&mut s, key);
        s.push_str("</Key><LastModified>");
        match &date {
            Some((t, d)) if *t == o.modified => s.push_str(d),
            _ => {
                let d = iso_date(o.modified);
                s.push_str(&d);
                date = Some((o.modified, d));
            }
        }
        s.push_str("</LastModified><ETag>");
        escape_into(&mut s, &o.etag);
        let _ = write!(
            s,
            "</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            o.content.len()
        );
    }
    s.push_str("</ListBucketResult>");
    s
}

/// The part numbers listed in a `CompleteMultipartUpload` body, in order.
pub fn part_numbers(body: &[u8]) -> Vec<u32> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(i) = rest.find("<PartNumber>") {
        rest = &rest[i + "<PartNumber>".len()..];
        let end = rest.find('<').unwrap_or(rest.len());
        if let Ok(n) = rest[..end].trim().parse() {
            out.push(n);
        }
        rest = &rest[end..];
    }
    out
}

/// The text of the first `<tag>` element in `xml` (for the client: `UploadId`).
pub fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find('<')? + start;
    Some(&xml[start..end])
}

#[cfg(test)]
mod tests {
    use super::super::store::{Content, Object};
    use super::*;

    #[test]
    fn documents() {
        assert_eq!(
            error("NoSuchKey", "no <such> key"),
            format!("{DECL}<Error><Code>NoSuchKey</Code><Message>no &lt;such&gt; key</Message></Error>")
        );
        assert_eq!(
            initiate("b", "k&1", "U1"),
            format!(
                "{DECL}<InitiateMultipartUploadResult xmlns=\"{NS}\"><Bucket>b</Bucket><Key>k&amp;1</Key>\
                 <UploadId>U1</UploadId></InitiateMultipartUploadResult>"
            )
        );
        assert_eq!(
            complete("b", "k", "\"e-2\""),
            format!(
                "{DECL}<CompleteMultipartUploadResult xmlns=\"{NS}\"><Location>/b/k</Location><Bucket>b</Bucket>\
                 <Key>k</Key><ETag>&quot;e-2&quot;</ETag></CompleteMultipartUploadResult>"
            )
        );
        let o = Object {
            content: Content::Zeros(5),
            etag: "\"x\"".into(),
            modified: 0,
            last_modified: "Thu, 01 Jan 1970 00:00:00 GMT".into(),
        };
        assert_eq!(
            list_v2("b", "p/", 1, &[("p/1".into(), o)], true),
            format!(
                "{DECL}<ListBucketResult xmlns=\"{NS}\"><Name>b</Name><Prefix>p/</Prefix><KeyCount>1</KeyCount>\
                 <MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>p/1</NextContinuationToken>\
                 <Contents><Key>p/1</Key><LastModified>1970-01-01T00:00:00.000Z</LastModified>\
                 <ETag>&quot;x&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>\
                 </ListBucketResult>"
            )
        );
        assert!(buckets(&["a".into()]).contains("<Bucket><Name>a</Name>"));
    }

    #[test]
    fn reads_parts_and_elements() {
        let body = b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>\"a\"</ETag></Part>\
            <Part><ETag>\"b\"</ETag><PartNumber> 1 </PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(part_numbers(body), vec![2, 1]);
        assert_eq!(part_numbers(b""), Vec::<u32>::new());
        let xml = initiate("b", "k", "U9");
        assert_eq!(element(&xml, "UploadId"), Some("U9"));
        assert_eq!(element(&xml, "Nope"), None);
    }
}
