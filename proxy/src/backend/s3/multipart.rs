//! Native multipart uploads and server-side copies on an S3 backend: CreateMultipartUpload,
//! UploadPart (streamed like a PUT), CompleteMultipartUpload, AbortMultipartUpload, CopyObject
//! and UploadPartCopy within the backend's bucket. Responses are small XML documents; the values
//! read from them (UploadId, ETag, an error's Code) are taken by element name.

use s3o_sigv4::encode::uri_encode;

use super::{BackendCheck, S3Backend};
use crate::backend::{BodySource, ByteRange, PhysicalMeta};
use crate::error::{BackendError, ProxyError};

/// The text of the first `<name>` element of a small XML document, entity-decoded.
fn element(doc: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(doc).ok()?;
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(unescape(&text[start..end]))
}

/// Decodes the five predefined XML entities (all a backend puts in an ETag or id).
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A body held in memory (the few-KiB XML of CompleteMultipartUpload).
struct SmallBody(Option<bytes::Bytes>);

impl BodySource for SmallBody {
    async fn next_piece(&mut self) -> Result<Option<bytes::Bytes>, ProxyError> {
        Ok(self.0.take())
    }
}

impl S3Backend {
    /// The query of one part of a backend upload.
    fn part_query(upload_id: &str, part_number: u32) -> String {
        format!(
            "partNumber={part_number}&uploadId={}",
            uri_encode(upload_id.as_bytes(), true)
        )
    }

    /// The query naming a backend upload.
    fn upload_query(upload_id: &str) -> String {
        format!("uploadId={}", uri_encode(upload_id.as_bytes(), true))
    }

    /// A 200 answer whose body is an `<Error>` document (S3 may answer a long Complete or Copy
    /// that way) is an error too.
    fn check_ok(&self, status: u16, body: &[u8]) -> Result<(), BackendError> {
        let error_doc = std::str::from_utf8(body).is_ok_and(|t| t.contains("<Error>"));
        if status == 200 && !error_doc {
            Ok(())
        } else {
            Err(self.status_error(if status == 200 { 500 } else { status }, body))
        }
    }

    /// Starts a native multipart upload of `key`; returns the backend's upload id.
    pub async fn create_upload(&self, key: &str, meta: &PhysicalMeta) -> Result<String, ProxyError> {
        let (mut lkey, mut version) = (String::new(), String::new());
        let extra = Self::label_headers(meta, &mut lkey, &mut version);
        self.create_upload_with(key, &extra).await
    }

    /// Starts a native multipart upload of `key` with these headers (type, metadata).
    pub async fn create_upload_with(&self, key: &str, headers: &[(&str, &str)]) -> Result<String, ProxyError> {
        let mut extra = headers.to_vec();
        extra.push(("content-length", "0"));
        let (conn, resp) = self.simple("POST", key, "uploads", &extra).await?;
        let body = self.finish(conn, &resp).await?;
        self.check_ok(resp.status, &body)?;
        element(&body, "UploadId").filter(|id| !id.is_empty()).ok_or_else(|| {
            self.err_protocol("CreateMultipartUpload answer without UploadId")
                .into()
        })
    }

    /// Streams part `part_number` (exactly `len` bytes) of a backend upload; returns its ETag.
    pub async fn upload_part<B: BodySource>(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        len: u64,
        integrity: &[(String, String)],
        body: &mut B,
    ) -> Result<Option<String>, ProxyError> {
        let query = Self::part_query(upload_id, part_number);
        let extra: Vec<(&str, &str)> = integrity.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let (resp, rbody) = self
            .send_body("PUT", key, &query, len, &extra, body, BackendCheck::None)
            .await?;
        self.check_ok(resp.status, &rbody)?;
        Ok(resp.etag)
    }

    /// Completes a backend upload from `parts` as (part number, backend ETag); returns the
    /// backend's ETag of the object.
    pub async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, &str)],
    ) -> Result<Option<String>, ProxyError> {
        let mut doc = String::with_capacity(64 + parts.len() * 80);
        doc.push_str("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            doc.push_str("<Part><PartNumber>");
            doc.push_str(&n.to_string());
            doc.push_str("</PartNumber><ETag>");
            let mut escaped = Vec::new();
            crate::xml::escape_into(&mut escaped, etag);
            doc.push_str(&String::from_utf8_lossy(&escaped));
            doc.push_str("</ETag></Part>");
        }
        doc.push_str("</CompleteMultipartUpload>");
        let len = doc.len() as u64;
        let query = Self::upload_query(upload_id);
        let mut body = SmallBody(Some(bytes::Bytes::from(doc)));
        let extra = [("content-type", "application/xml")];
        let (resp, rbody) = self
            .send_body("POST", key, &query, len, &extra, &mut body, BackendCheck::None)
            .await?;
        self.check_ok(resp.status, &rbody)?;
        Ok(element(&rbody, "ETag"))
    }

    /// Aborts a backend upload; an upload the backend no longer knows is success.
    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), BackendError> {
        let (conn, resp) = self.simple("DELETE", key, &Self::upload_query(upload_id), &[]).await?;
        let body = self.finish(conn, &resp).await?;
        match resp.status {
            200 | 204 | 404 => Ok(()),
            s => Err(self.status_error(s, &body)),
        }
    }

    /// The `x-amz-copy-source` of a key in this backend's bucket.
    fn copy_source(&self, key: &str) -> String {
        format!(
            "/{}/{}",
            uri_encode(self.bucket.as_bytes(), false),
            uri_encode(key.as_bytes(), false)
        )
    }

    /// Copies `src` to `dst` inside the backend (no byte passes through us); returns the new
    /// object's ETag.
    pub async fn copy_object(&self, src: &str, dst: &str, meta: &PhysicalMeta) -> Result<Option<String>, ProxyError> {
        let (mut lkey, mut version) = (String::new(), String::new());
        let extra = Self::label_headers(meta, &mut lkey, &mut version);
        self.copy_object_with(src, dst, &extra).await
    }

    /// Copies `src` to `dst` inside the backend with these headers in place of the source's
    /// (a copy onto itself changes an object's metadata); returns the new object's ETag.
    pub async fn copy_object_with(
        &self,
        src: &str,
        dst: &str,
        headers: &[(&str, &str)],
    ) -> Result<Option<String>, ProxyError> {
        let mut extra = headers.to_vec();
        let source = self.copy_source(src);
        extra.push(("x-amz-copy-source", &source));
        extra.push(("x-amz-metadata-directive", "REPLACE"));
        extra.push(("content-length", "0"));
        let (conn, resp) = self.simple("PUT", dst, "", &extra).await?;
        let body = self.finish(conn, &resp).await?;
        self.check_ok(resp.status, &body)?;
        Ok(element(&body, "ETag"))
    }

    /// Copies `range` of `src` into part `part_number` of a backend upload of `dst`, inside the
    /// backend; returns the part's ETag.
    pub async fn copy_part(
        &self,
        src: &str,
        dst: &str,
        upload_id: &str,
        part_number: u32,
        range: ByteRange,
    ) -> Result<Option<String>, ProxyError> {
        let source = self.copy_source(src);
        let range = format!("bytes={}-{}", range.start, range.end);
        let extra = [
            ("content-length", "0"),
            ("x-amz-copy-source", source.as_str()),
            ("x-amz-copy-source-range", &range),
        ];
        let query = Self::part_query(upload_id, part_number);
        let (conn, resp) = self.simple("PUT", dst, &query, &extra).await?;
        let body = self.finish(conn, &resp).await?;
        self.check_ok(resp.status, &body)?;
        Ok(element(&body, "ETag"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_found_by_name_and_unescaped() {
        let doc = b"<?xml version=\"1.0\"?><CompleteMultipartUploadResult><Location>l</Location>\
                    <ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag></CompleteMultipartUploadResult>";
        assert_eq!(
            element(doc, "ETag").as_deref(),
            Some("\"3858f62230ac3c915f300c664312c11f-9\"")
        );
        assert_eq!(element(doc, "UploadId"), None);
        assert_eq!(
            element(b"<UploadId>a&amp;b</UploadId>", "UploadId").as_deref(),
            Some("a&b")
        );
        assert_eq!(element(b"\xff\xfe", "ETag"), None);
    }
}
