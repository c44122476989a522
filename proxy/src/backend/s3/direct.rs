//! Requests to an S3 endpoint's own buckets and objects, as they are (no physical key layout, no
//! labels): ListBuckets, Create/DeleteBucket, ListObjectsV2 with a delimiter, HeadObject,
//! PutObject with the caller's content type and metadata, and object tagging. The data API uses
//! them on a real backend's buckets other than the one holding the orchestrator's objects; a
//! client is an [`S3Backend`] built for the bucket in question (`BackendConfig` with that
//! bucket), or for none (`path_style`, empty bucket) for the service-level ListBuckets.

use serde::Deserialize;

use super::{BackendCheck, Response, S3Backend};
use crate::backend::{BodySource, SourceIntegrity};
use crate::clock::parse_iso8601_ms;
use crate::config::{BackendConfig, BackendKind, Limits};
use crate::error::{BackendError, ProxyError};
use crate::http::response::decimal;

/// Largest listing or tagging body read.
const MAX_DOC_BODY: usize = 4 << 20;
/// Most keys asked for per listing page.
pub const MAX_DIRECT_PAGE: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AllBuckets {
    #[serde(default)]
    buckets: BucketList,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct BucketList {
    #[serde(default)]
    bucket: Vec<BucketEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BucketEntry {
    name: String,
    #[serde(default)]
    creation_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    contents: Vec<Entry>,
    #[serde(default)]
    common_prefixes: Vec<Prefix>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(default, rename = "ETag")]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    storage_class: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Prefix {
    prefix: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Uploads {
    #[serde(default)]
    upload: Vec<UploadEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
    #[serde(default)]
    initiated: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tagging {
    #[serde(default)]
    tag_set: TagSet,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct TagSet {
    #[serde(default)]
    tag: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    #[serde(default)]
    value: String,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectObject {
    /// The key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, quoted.
    pub etag: Option<String>,
    /// When it was last written.
    pub last_modified_ms: Option<u64>,
    /// Its storage class, when the listing names one.
    pub storage_class: Option<String>,
}

/// One page of ListObjectsV2.
#[derive(Debug, Default)]
pub struct DirectPage {
    /// The objects, in key order.
    pub objects: Vec<DirectObject>,
    /// The prefixes the delimiter rolled up.
    pub common_prefixes: Vec<String>,
    /// The continuation token of the next page, when truncated.
    pub next: Option<String>,
}

/// What HeadObject says of an object.
#[derive(Debug, Clone, Default)]
pub struct DirectHead {
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, quoted.
    pub etag: Option<String>,
    /// Its content type.
    pub content_type: Option<String>,
    /// When it was last written.
    pub last_modified_ms: Option<u64>,
    /// Its other content headers (encoding, disposition, language, cache control, expiry),
    /// names lowercased.
    pub standard: Vec<(String, String)>,
    /// `x-amz-meta-*` without the prefix.
    pub metadata: Vec<(String, String)>,
}

/// How long a probe of an endpoint may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Probes the service `cfg` names (ListBuckets within 5 s): the error if it failed, and how
/// long it took, ms.
pub async fn probe_service(cfg: &BackendConfig, limits: &Limits) -> (Option<String>, u64) {
    let started = std::time::Instant::now();
    let outcome = match S3Backend::for_bucket(cfg, None, limits) {
        Ok(client) => match monoio::time::timeout(PROBE_TIMEOUT, client.list_buckets()).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        },
        Err(e) => Some(e.to_string()),
    };
    (
        outcome,
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    )
}

impl S3Backend {
    /// A client of `bucket` on the S3 service `cfg` names, with the connection limits (`None`:
    /// the service itself, path-style, for ListBuckets).
    pub fn for_bucket(cfg: &BackendConfig, bucket: Option<&str>, limits: &Limits) -> Result<S3Backend, ProxyError> {
        let mut cfg = cfg.clone();
        if let BackendKind::S3 {
            bucket: b, path_style, ..
        } = &mut cfg.kind
        {
            match bucket {
                Some(name) => *b = name.to_owned(),
                None => {
                    b.clear();
                    *path_style = true;
                }
            }
        }
        S3Backend::new(
            &cfg,
            std::time::Duration::from_secs(limits.backend_connect_timeout_secs),
            std::time::Duration::from_secs(limits.body_timeout_secs),
        )
    }

    /// The buckets of the endpoint, with their creation time when it gives one (ListBuckets; a
    /// client built path-style without a bucket).
    pub async fn list_buckets(&self) -> Result<Vec<(String, Option<u64>)>, BackendError> {
        let (conn, resp) = self.simple_at("GET", "/", "", &[]).await?;
        let body = self.finish_within(conn, &resp, MAX_DOC_BODY).await?;
        if resp.status != 200 {
            return Err(self.status_error(resp.status, &body));
        }
        let doc: AllBuckets = quick_xml::de::from_reader(body.as_slice())
            .map_err(|e| self.err_protocol(format!("bad bucket list: {e}")))?;
        Ok(doc
            .buckets
            .bucket
            .into_iter()
            .map(|b| (b.name, b.creation_date.as_deref().and_then(parse_iso8601_ms)))
            .collect())
    }

    /// Creates this client's bucket (`region` as its LocationConstraint unless empty or
    /// `us-east-1`).
    pub async fn create_bucket(&self, region: &str) -> Result<(), BackendError> {
        let body = if region.is_empty() || region == "us-east-1" {
            Vec::new()
        } else {
            format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                quick_xml::escape::escape(region)
            )
            .into_bytes()
        };
        let (resp, rbody) = self.send_small("PUT", &self.bucket_path(), "", &[], body).await?;
        match resp.status {
            200 => Ok(()),
            s => Err(self.status_error(s, &rbody)),
        }
    }

    /// Deletes this client's bucket (S3 refuses a bucket that is not empty).
    pub async fn delete_bucket(&self) -> Result<(), BackendError> {
        let (conn, resp) = self.simple_at("DELETE", &self.bucket_path(), "", &[]).await?;
        let body = self.finish(conn, &resp).await?;
        match resp.status {
            200 | 204 => Ok(()),
            s => Err(self.status_error(s, &body)),
        }
    }

    /// One page of ListObjectsV2 of this client's bucket.
    pub async fn list_objects(
        &self,
        prefix: &str,
        delimiter: &str,
        token: Option<&str>,
        max_keys: usize,
    ) -> Result<DirectPage, BackendError> {
        use s3o_sigv4::encode::uri_encode;
        // Sorted by name, as the canonical query wants them (the signer sorts too).
        let mut query = String::new();
        if let Some(t) = token {
            query.push_str(&format!("continuation-token={}&", uri_encode(t.as_bytes(), true)));
        }
        if !delimiter.is_empty() {
            query.push_str(&format!("delimiter={}&", uri_encode(delimiter.as_bytes(), true)));
        }
        query.push_str(&format!("list-type=2&max-keys={}", max_keys.clamp(1, MAX_DIRECT_PAGE)));
        if !prefix.is_empty() {
            query.push_str(&format!("&prefix={}", uri_encode(prefix.as_bytes(), true)));
        }
        let (conn, resp) = self.simple_at("GET", &self.bucket_path(), &query, &[]).await?;
        let body = self.finish_within(conn, &resp, MAX_DOC_BODY).await?;
        if resp.status != 200 {
            return Err(self.status_error(resp.status, &body));
        }
        let doc: ListResult =
            quick_xml::de::from_reader(body.as_slice()).map_err(|e| self.err_protocol(format!("bad listing: {e}")))?;
        let next = match (doc.is_truncated, doc.next_continuation_token) {
            (true, Some(t)) => Some(t),
            (true, None) => return Err(self.err_protocol("truncated listing without a continuation token")),
            (false, _) => None,
        };
        Ok(DirectPage {
            objects: doc
                .contents
                .into_iter()
                .map(|c| DirectObject {
                    last_modified_ms: c.last_modified.as_deref().and_then(parse_iso8601_ms),
                    key: c.key,
                    size: c.size,
                    etag: c.etag.map(|e| e.trim().to_owned()),
                    storage_class: c.storage_class,
                })
                .collect(),
            common_prefixes: doc.common_prefixes.into_iter().map(|p| p.prefix).collect(),
            next,
        })
    }

    /// HeadObject; `None` when there is no such object.
    pub async fn head_object(&self, key: &str) -> Result<Option<DirectHead>, BackendError> {
        let Some((bodiless, size)) = self.head_key(key).await? else {
            return Ok(None);
        };
        let size = size.ok_or_else(|| self.err_protocol("HEAD response without Content-Length"))?;
        let mut head = DirectHead {
            size,
            etag: bodiless.etag,
            ..DirectHead::default()
        };
        for (name, value) in bodiless.labels {
            match name.as_str() {
                "content-type" => head.content_type = Some(value),
                "last-modified" => {
                    head.last_modified_ms = crate::http::response::parse_http_date(&value)
                        .and_then(|s| u64::try_from(s).ok())
                        .map(|s| s * 1000);
                }
                _ => match name.strip_prefix("x-amz-meta-") {
                    Some(n) => head.metadata.push((n.to_owned(), value)),
                    None => head.standard.push((name, value)),
                },
            }
        }
        Ok(Some(head))
    }

    /// Streams `len` bytes of `body` as object `key` with these headers (content type,
    /// `x-amz-meta-*`); returns the ETag the backend gave.
    pub async fn put_object<B: BodySource>(
        &self,
        key: &str,
        len: u64,
        headers: &[(&str, &str)],
        body: &mut B,
    ) -> Result<Option<String>, ProxyError> {
        let check = match body.integrity() {
            _ if !self.checksum_trailer => BackendCheck::None,
            SourceIntegrity::Sha256(h) => BackendCheck::Sha256(s3o_sigv4::encode::hex(&h)),
            SourceIntegrity::Trailer(alg) => BackendCheck::Trailer(Some(alg)),
            SourceIntegrity::None => BackendCheck::Trailer(None),
        };
        let (resp, rbody) = self.send_body("PUT", key, "", len, headers, body, check).await?;
        if resp.status != 200 {
            return Err(self.status_error(resp.status, &rbody).into());
        }
        Ok(resp.etag)
    }

    /// The multipart uploads in progress under `prefix` (at most 1000): key, upload id, and when
    /// it began.
    pub async fn list_uploads(&self, prefix: &str) -> Result<Vec<(String, String, Option<u64>)>, BackendError> {
        let mut query = String::from("max-uploads=1000");
        if !prefix.is_empty() {
            query.push_str(&format!(
                "&prefix={}",
                s3o_sigv4::encode::uri_encode(prefix.as_bytes(), true)
            ));
        }
        query.push_str("&uploads=");
        let (conn, resp) = self.simple_at("GET", &self.bucket_path(), &query, &[]).await?;
        let body = self.finish_within(conn, &resp, MAX_DOC_BODY).await?;
        if resp.status != 200 {
            return Err(self.status_error(resp.status, &body));
        }
        let doc: Uploads = quick_xml::de::from_reader(body.as_slice())
            .map_err(|e| self.err_protocol(format!("bad upload list: {e}")))?;
        Ok(doc
            .upload
            .into_iter()
            .map(|u| (u.key, u.upload_id, u.initiated.as_deref().and_then(parse_iso8601_ms)))
            .collect())
    }

    /// The tags of object `key`; `None` when there is no such object.
    pub async fn object_tags(&self, key: &str) -> Result<Option<Vec<(String, String)>>, BackendError> {
        let (conn, resp) = self.simple("GET", key, "tagging=", &[]).await?;
        let body = self.finish_within(conn, &resp, MAX_DOC_BODY).await?;
        match resp.status {
            200 => {}
            404 => return Ok(None),
            s => return Err(self.status_error(s, &body)),
        }
        let doc: Tagging =
            quick_xml::de::from_reader(body.as_slice()).map_err(|e| self.err_protocol(format!("bad tagging: {e}")))?;
        Ok(Some(doc.tag_set.tag.into_iter().map(|t| (t.key, t.value)).collect()))
    }

    /// Replaces the tags of object `key`; `false` when there is no such object.
    pub async fn set_object_tags(&self, key: &str, tags: &[(String, String)]) -> Result<bool, BackendError> {
        use quick_xml::escape::escape;
        let mut xml = String::from("<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>");
        for (k, v) in tags {
            xml.push_str(&format!(
                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                escape(k),
                escape(v)
            ));
        }
        xml.push_str("</TagSet></Tagging>");
        let (resp, body) = self
            .send_small("PUT", &self.path(key), "tagging=", &[], xml.into_bytes())
            .await?;
        match resp.status {
            200 | 204 => Ok(true),
            404 => Ok(false),
            s => Err(self.status_error(s, &body)),
        }
    }

    /// A request with a small body held whole (signed by its SHA-256), retried once on a stale
    /// pooled connection; returns the response with its (small) body.
    async fn send_small(
        &self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(Response, Vec<u8>), BackendError> {
        let payload = s3o_sigv4::string_to_sign::sha256_hex(&body);
        let len = decimal(body.len() as u64);
        let mut headers: Vec<(&str, &str)> = vec![("content-length", &len)];
        headers.extend_from_slice(extra);
        let mut msg = self.head_with(method, path, query, &headers, &payload);
        msg.extend_from_slice(&body);
        let (conn, resp) = self.exchange(msg).await?;
        let rbody = self.finish_within(conn, &resp, MAX_DOC_BODY).await?;
        Ok((resp, rbody))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_decode() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult><Owner><ID>x</ID></Owner><Buckets><Bucket><Name>a</Name><CreationDate>2026-03-02T14:30:00.000Z</CreationDate></Bucket><Bucket><Name>b</Name></Bucket></Buckets></ListAllMyBucketsResult>"#;
        let doc: AllBuckets = quick_xml::de::from_reader(&xml[..]).unwrap();
        assert_eq!(doc.buckets.bucket.len(), 2);
        assert_eq!(doc.buckets.bucket[0].name, "a");
        let empty: AllBuckets =
            quick_xml::de::from_reader(&b"<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>"[..])
                .unwrap();
        assert!(empty.buckets.bucket.is_empty());
        let xml = br#"<ListBucketResult><Name>b</Name><Contents><Key>d/a</Key><Size>3</Size><ETag>"e"</ETag><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>d/x/</Prefix></CommonPrefixes><IsTruncated>true</IsTruncated><NextContinuationToken>t1</NextContinuationToken></ListBucketResult>"#;
        let doc: ListResult = quick_xml::de::from_reader(&xml[..]).unwrap();
        assert_eq!((doc.contents[0].key.as_str(), doc.contents[0].size), ("d/a", 3));
        assert_eq!(doc.common_prefixes[0].prefix, "d/x/");
        assert_eq!(doc.next_continuation_token.as_deref(), Some("t1"));
        let xml = br#"<Tagging><TagSet><Tag><Key>k</Key><Value>v &amp; w</Value></Tag></TagSet></Tagging>"#;
        let doc: Tagging = quick_xml::de::from_reader(&xml[..]).unwrap();
        assert_eq!(
            (doc.tag_set.tag[0].key.as_str(), doc.tag_set.tag[0].value.as_str()),
            ("k", "v & w")
        );
    }
}
