//! The S3 operations the backend answers, one enum variant each, and the pure mapping of a
//! request (method, path-style path, query) onto them. Virtual-host-style requests are not
//! supported: the load generator and the proxy both address backends by path.

use s3o_sigv4::encode::percent_decode;

/// The query parameters of a ListObjectsV2 request that the backend honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `prefix`.
    pub prefix: String,
    /// `continuation-token` (the last key of the previous page) or `start-after`.
    pub after: String,
    /// `max-keys`, at most 1000.
    pub max_keys: usize,
}

/// One S3 operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /`.
    ListBuckets,
    /// `PUT /bucket`.
    CreateBucket {
        /// The bucket.
        bucket: String,
    },
    /// `HEAD /bucket`.
    HeadBucket {
        /// The bucket.
        bucket: String,
    },
    /// `DELETE /bucket`.
    DeleteBucket {
        /// The bucket.
        bucket: String,
    },
    /// `GET /bucket?list-type=2` (and, answered the same way, a V1 `GET /bucket`).
    ListObjects {
        /// The bucket.
        bucket: String,
        /// The listing parameters.
        params: ListParams,
    },
    /// `PUT /bucket/key`.
    PutObject {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
    },
    /// `GET /bucket/key`.
    GetObject {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
    },
    /// `HEAD /bucket/key`.
    HeadObject {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
    },
    /// `DELETE /bucket/key`.
    DeleteObject {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
    },
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
    },
    /// `PUT /bucket/key?partNumber=N&uploadId=ID`.
    UploadPart {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
        /// The upload.
        upload_id: String,
        /// The part number.
        part: u32,
    },
    /// `POST /bucket/key?uploadId=ID`.
    CompleteMultipartUpload {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
        /// The upload.
        upload_id: String,
    },
    /// `DELETE /bucket/key?uploadId=ID`.
    AbortMultipartUpload {
        /// The bucket.
        bucket: String,
        /// The key, decoded.
        key: String,
        /// The upload.
        upload_id: String,
    },
    /// Anything else (answered 501 NotImplemented).
    Unsupported,
}

/// The decoded value of query parameter `name` (`Some("")` for a bare `name`).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| String::from_utf8_lossy(&percent_decode(v.as_bytes())).into_owned())
    })
}

/// The parameters of a listing; a bucket GET with anything else (`?acl`, `?location`, ...) is
/// a sub-resource request this backend does not serve.
const LISTING_PARAMS: [&str; 8] = [
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "marker",
    "continuation-token",
    "start-after",
    "encoding-type",
];

fn is_listing(query: &str) -> bool {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .all(|p| LISTING_PARAMS.contains(&p.split_once('=').map_or(p, |(k, _)| k)))
}

impl Endpoint {
    /// Maps a request onto its operation.
    pub fn from_request(method: &str, path: &str, query: &str) -> Endpoint {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let (bucket, key) = match trimmed.split_once('/') {
            Some((b, k)) => (b, Some(k).filter(|k| !k.is_empty())),
            None => (trimmed, None),
        };
        let bucket = String::from_utf8_lossy(&percent_decode(bucket.as_bytes())).into_owned();
        let Some(raw_key) = key else {
            return Self::bucket_level(method, bucket, query);
        };
        let key = String::from_utf8_lossy(&percent_decode(raw_key.as_bytes())).into_owned();
        let upload_id = query_param(query, "uploadId");
        match (method, upload_id) {
            ("PUT", Some(upload_id)) => match query_param(query, "partNumber").and_then(|p| p.parse().ok()) {
                Some(part) => Endpoint::UploadPart {
                    bucket,
                    key,
                    upload_id,
                    part,
                },
                None => Endpoint::Unsupported,
            },
            ("PUT", None) => Endpoint::PutObject { bucket, key },
            ("GET", _) => Endpoint::GetObject { bucket, key },
            ("HEAD", _) => Endpoint::HeadObject { bucket, key },
            ("DELETE", Some(upload_id)) => Endpoint::AbortMultipartUpload { bucket, key, upload_id },
            ("DELETE", None) => Endpoint::DeleteObject { bucket, key },
            ("POST", Some(upload_id)) => Endpoint::CompleteMultipartUpload { bucket, key, upload_id },
            ("POST", None) if query_param(query, "uploads").is_some() => {
                Endpoint::CreateMultipartUpload { bucket, key }
            }
            _ => Endpoint::Unsupported,
        }
    }

    fn bucket_level(method: &str, bucket: String, query: &str) -> Endpoint {
        if bucket.is_empty() {
            return match method {
                "GET" => Endpoint::ListBuckets,
                _ => Endpoint::Unsupported,
            };
        }
        match method {
            "PUT" if query.is_empty() => Endpoint::CreateBucket { bucket },
            "HEAD" => Endpoint::HeadBucket { bucket },
            "DELETE" if query.is_empty() => Endpoint::DeleteBucket { bucket },
            "GET" if is_listing(query) => {
                let max_keys = query_param(query, "max-keys")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(1000usize)
                    .min(1000);
                let after = query_param(query, "continuation-token")
                    .or_else(|| query_param(query, "start-after"))
                    .or_else(|| query_param(query, "marker"))
                    .unwrap_or_default();
                let params = ListParams {
                    prefix: query_param(query, "prefix").unwrap_or_default(),
                    after,
                    max_keys,
                };
                Endpoint::ListObjects { bucket, params }
            }
            _ => Endpoint::Unsupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(b: &str, k: &str) -> (String, String) {
        (b.into(), k.into())
    }

    #[test]
    fn routes_the_aws_doc_request_lines() {
        let (bucket, key) = obj("b", "my key");
        assert_eq!(
            Endpoint::from_request("PUT", "/b/my%20key", ""),
            Endpoint::PutObject {
                bucket: bucket.clone(),
                key: key.clone()
            }
        );
        assert_eq!(
            Endpoint::from_request("GET", "/b/my%20key", "versionId=x"),
            Endpoint::GetObject {
                bucket: bucket.clone(),
                key: key.clone()
            }
        );
        assert_eq!(
            Endpoint::from_request("PUT", "/b/my%20key", "partNumber=3&uploadId=U1"),
            Endpoint::UploadPart {
                bucket: bucket.clone(),
                key: key.clone(),
                upload_id: "U1".into(),
                part: 3
            }
        );
        assert_eq!(
            Endpoint::from_request("POST", "/b/my%20key", "uploads"),
            Endpoint::CreateMultipartUpload {
                bucket: bucket.clone(),
                key: key.clone()
            }
        );
        assert_eq!(
            Endpoint::from_request("POST", "/b/my%20key", "uploadId=U1"),
            Endpoint::CompleteMultipartUpload {
                bucket: bucket.clone(),
                key: key.clone(),
                upload_id: "U1".into()
            }
        );
        assert_eq!(
            Endpoint::from_request("DELETE", "/b/my%20key", "uploadId=U1"),
            Endpoint::AbortMultipartUpload {
                bucket: bucket.clone(),
                key: key.clone(),
                upload_id: "U1".into()
            }
        );
        assert_eq!(
            Endpoint::from_request("DELETE", "/b/my%20key", ""),
            Endpoint::DeleteObject { bucket, key }
        );
        assert_eq!(
            Endpoint::from_request("PUT", "/b/k", "uploadId=U1"),
            Endpoint::Unsupported
        );
    }

    #[test]
    fn bucket_level() {
        assert_eq!(Endpoint::from_request("GET", "/", ""), Endpoint::ListBuckets);
        assert_eq!(
            Endpoint::from_request("PUT", "/b", ""),
            Endpoint::CreateBucket { bucket: "b".into() }
        );
        assert_eq!(
            Endpoint::from_request("HEAD", "/b/", ""),
            Endpoint::HeadBucket { bucket: "b".into() }
        );
        assert_eq!(
            Endpoint::from_request(
                "GET",
                "/b",
                "list-type=2&prefix=a%2Fb&max-keys=5000&continuation-token=k1"
            ),
            Endpoint::ListObjects {
                bucket: "b".into(),
                params: ListParams {
                    prefix: "a/b".into(),
                    after: "k1".into(),
                    max_keys: 1000
                }
            }
        );
        assert_eq!(Endpoint::from_request("GET", "/b", "acl"), Endpoint::Unsupported);
        assert_eq!(Endpoint::from_request("POST", "/", ""), Endpoint::Unsupported);
    }
}
