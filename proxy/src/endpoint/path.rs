//! Paths: splitting a path-style request path into bucket and key (or a virtual-hosted-style
//! path into the key), percent-decoding, the bucket
//! naming rules, and the `x-amz-copy-source` header.

use super::{CopySource, EndpointError, MAX_KEY_BYTES};
use crate::http::query::percent_decode;

/// Splits a path-style path into the bucket and the key (both decoded); `None` for `/`.
pub(super) fn split_path(path: &str) -> Result<Option<(String, Option<String>)>, EndpointError> {
    let rest = match path.strip_prefix('/') {
        Some(rest) => rest,
        None if path.is_empty() => "",
        None => return Err(EndpointError::InvalidUri("the path must start with '/'")),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (rest, None),
    };
    let bucket = decode_path(bucket)?;
    if bucket.is_empty() || bucket.contains('/') {
        return Err(EndpointError::InvalidUri("bad bucket in path"));
    }
    let key = match key {
        Some(k) if !k.is_empty() => Some(decode_path(k)?),
        _ => None,
    };
    if key.as_ref().is_some_and(|k| k.len() > MAX_KEY_BYTES) {
        return Err(EndpointError::KeyTooLong);
    }
    Ok(Some((bucket, key)))
}

/// The bucket a virtual-hosted-style Host named and the key of `path` (decoded; `None` for `/`).
pub(super) fn split_virtual(bucket: String, path: &str) -> Result<(String, Option<String>), EndpointError> {
    let rest = match path.strip_prefix('/') {
        Some(rest) => rest,
        None if path.is_empty() => "",
        None => return Err(EndpointError::InvalidUri("the path must start with '/'")),
    };
    let key = match rest {
        "" => None,
        k => Some(decode_path(k)?),
    };
    if key.as_ref().is_some_and(|k| k.len() > MAX_KEY_BYTES) {
        return Err(EndpointError::KeyTooLong);
    }
    Ok((bucket, key))
}

fn decode_path(s: &str) -> Result<String, EndpointError> {
    let bytes = percent_decode(s, true).ok_or(EndpointError::InvalidUri("bad percent-encoding in path"))?;
    String::from_utf8(bytes.into_owned()).map_err(|_| EndpointError::InvalidUri("path is not UTF-8 once decoded"))
}

/// Whether `name` follows the S3 bucket naming rules for new buckets: 3–63 characters of
/// lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit, no `..`,
/// no `.` next to a `-` (each label must start and end with a letter or digit), not an IPv4
/// address, and none of the prefixes and suffixes AWS reserves.
pub fn valid_bucket_name(name: &str) -> bool {
    const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    let b = name.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    let ip_like = name.split('.').count() == 4
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !ip_like
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// S3's words for a copy source it cannot read.
const BAD_COPY_SOURCE: &str = "Copy Source must mention the source bucket and key: sourcebucket/sourcekey";

/// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=id]`, URL-encoded.
pub(super) fn parse_copy_source(value: &str) -> Result<CopySource, EndpointError> {
    let value = value.trim();
    let value = value.strip_prefix('/').unwrap_or(value);
    let (path, query) = value.split_once('?').unwrap_or((value, ""));
    let (bucket, key) = path
        .split_once('/')
        .ok_or(EndpointError::InvalidArgument(BAD_COPY_SOURCE))?;
    let bucket = decode_path(bucket).map_err(|_| EndpointError::InvalidArgument(BAD_COPY_SOURCE))?;
    let key = decode_path(key).map_err(|_| EndpointError::InvalidArgument(BAD_COPY_SOURCE))?;
    if bucket.is_empty() || key.is_empty() || bucket.contains('/') {
        return Err(EndpointError::InvalidArgument(BAD_COPY_SOURCE));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(EndpointError::KeyTooLong);
    }
    let version_id = crate::http::query::parse_query(query)
        .into_iter()
        .find(|(k, _)| k == "versionId")
        .map(|(_, v)| v);
    Ok(CopySource {
        bucket,
        key,
        version_id,
    })
}
