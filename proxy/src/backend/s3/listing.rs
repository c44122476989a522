//! Bucket-level requests to an S3 backend: a reachability probe (HeadBucket) and one page of
//! ListObjectsV2 over the whole real bucket, for importing objects that were there before the
//! proxy (`{ui}/api/sync`).

use crate::clock::parse_iso8601_ms;
use serde::Deserialize;

use super::S3Backend;
use crate::backend::{Listed, ListedPage};
use crate::error::BackendError;

/// Keys asked for per ListObjectsV2 page.
const LIST_PAGE: usize = 1000;
/// Largest ListObjectsV2 response body read (1000 keys of 1 KiB each, with room for the XML).
const MAX_LIST_BODY: usize = 4 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(default, rename = "ETag")]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
}

impl S3Backend {
    /// The request path of the bucket itself.
    pub(super) fn bucket_path(&self) -> String {
        if self.path_style {
            format!("/{}", s3o_sigv4::encode::uri_encode(self.bucket.as_bytes(), false))
        } else {
            "/".to_owned()
        }
    }

    /// Checks the backend answers and its bucket is accessible (HeadBucket).
    pub async fn probe(&self) -> Result<(), BackendError> {
        let (conn, resp) = self.simple_at("HEAD", &self.bucket_path(), "", &[]).await?;
        // A HEAD response has no body whatever its Content-Length says.
        let bodiless = super::Response {
            content_length: Some(0),
            leftover: Vec::new(),
            etag: None,
            crc: None,
            ..resp
        };
        self.finish(conn, &bodiless).await?;
        match bodiless.status {
            200 => Ok(()),
            s => Err(self.status_error(s, b"")),
        }
    }

    /// The labels of object `key` (HEAD: `x-amz-meta-s3o-bucket|key|version` and its content
    /// type), if it carries them; `None` for an object without them or gone.
    pub async fn labels(&self, key: &str) -> Result<Option<crate::backend::Labels>, BackendError> {
        use base64::Engine;
        let Some((bodiless, _)) = self.head_key(key).await? else {
            return Ok(None);
        };
        let get = |name: &str| bodiless.labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let (Some(bucket), Some(lkey), Some(version)) = (
            get("x-amz-meta-s3o-bucket"),
            get("x-amz-meta-s3o-key"),
            get("x-amz-meta-s3o-version"),
        ) else {
            return Ok(None);
        };
        let lkey = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(lkey)
            .ok()
            .and_then(|k| String::from_utf8(k).ok());
        let (Some(lkey), Ok(version)) = (lkey, version.parse::<u64>()) else {
            return Ok(None);
        };
        Ok(Some(crate::backend::Labels {
            bucket: bucket.to_owned(),
            key: lkey,
            version,
            content_type: get("content-type").map(str::to_owned),
            sealed: get("x-amz-meta-s3o-sealed").is_some(),
        }))
    }

    /// HEAD of `key`: its response (its body, none, read) and the length it announced; `None`
    /// when there is no such object.
    pub(super) async fn head_key(&self, key: &str) -> Result<Option<(super::Response, Option<u64>)>, BackendError> {
        let (conn, resp) = self.simple("HEAD", key, "", &[]).await?;
        // A HEAD response has no body whatever its Content-Length says.
        let length = resp.content_length;
        let bodiless = super::Response {
            content_length: Some(0),
            leftover: Vec::new(),
            ..resp
        };
        self.finish(conn, &bodiless).await?;
        match bodiless.status {
            200 => Ok(Some((bodiless, length))),
            404 => Ok(None),
            s => Err(self.status_error(s, b"")),
        }
    }

    /// One page of every key in the real bucket, after the continuation token `after`.
    pub async fn list_page(&self, after: Option<&str>) -> Result<ListedPage, BackendError> {
        let mut query = String::new();
        if let Some(token) = after {
            query.push_str("continuation-token=");
            query.push_str(&s3o_sigv4::encode::uri_encode(token.as_bytes(), true));
            query.push('&');
        }
        query.push_str(&format!("list-type=2&max-keys={LIST_PAGE}"));
        let (conn, resp) = self.simple_at("GET", &self.bucket_path(), &query, &[]).await?;
        let body = self.finish_within(conn, &resp, MAX_LIST_BODY).await?;
        if resp.status != 200 {
            return Err(self.status_error(resp.status, &body));
        }
        let doc: ListBucketResult =
            quick_xml::de::from_reader(body.as_slice()).map_err(|e| self.err_protocol(format!("bad listing: {e}")))?;
        let objects = doc
            .contents
            .into_iter()
            .map(|c| Listed {
                last_modified_ms: c.last_modified.as_deref().and_then(parse_iso8601_ms).unwrap_or(0),
                key: c.key,
                size: c.size,
                etag: c.etag.map(|e| e.trim().to_owned()),
            })
            .collect();
        let next = if doc.is_truncated {
            Some(
                doc.next_continuation_token
                    .ok_or_else(|| self.err_protocol("truncated listing without a continuation token"))?,
            )
        } else {
            None
        };
        Ok(ListedPage { objects, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_decode() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated>
<Contents><Key>a/b.txt</Key><LastModified>2026-03-02T14:30:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>5</Size></Contents>
<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let doc: ListBucketResult = quick_xml::de::from_str(xml).unwrap();
        assert!(doc.is_truncated);
        assert_eq!(doc.next_continuation_token.as_deref(), Some("tok"));
        assert_eq!(doc.contents.len(), 1);
        assert_eq!((doc.contents[0].key.as_str(), doc.contents[0].size), ("a/b.txt", 5));
        assert_eq!(doc.contents[0].etag.as_deref(), Some("\"abc\""));
    }
}
