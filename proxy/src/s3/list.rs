//! ListObjects (v1) and ListObjectsV2, answered from the metadata store alone: prefix,
//! delimiter with CommonPrefixes, max-keys (0 included), marker / start-after /
//! continuation-token, encoding-type=url and fetch-owner.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use base64::Engine;
use s3o_store::ListQuery;

use crate::client::ClientIo;
use crate::endpoint::parse_query;
use crate::error::ProxyError;
use crate::s3::reply::send_xml;
use crate::s3::{require_bucket, Ctx};
use crate::xml::{ListBucketResult, ListBucketResultV2, Owner};

/// The most keys one page returns (S3's limit; larger max-keys values are clamped).
pub const MAX_KEYS: usize = 1000;

/// Parses `max-keys`: a non-negative integer, clamped to [`MAX_KEYS`].
pub fn parse_max_keys(v: Option<&str>) -> Result<usize, ProxyError> {
    match v {
        None => Ok(MAX_KEYS),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS)),
            _ => Err(ProxyError::InvalidArgument(
                "Provided max-keys not an integer or within integer range".into(),
            )),
        },
    }
}

/// The opaque continuation token of a key.
pub fn encode_token(key: &str) -> String {
    TOKEN.encode(key.as_bytes())
}

/// The key a continuation token stands for.
pub fn decode_token(token: &str) -> Result<String, ProxyError> {
    TOKEN
        .decode(token.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ProxyError::InvalidArgument("The continuation token provided is incorrect".into()))
}

/// Whether `encoding-type` asks for URL encoding (`url`, the only value S3 knows).
pub fn parse_encoding_url(v: Option<&str>) -> Result<bool, ProxyError> {
    match v {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(ProxyError::InvalidArgument(
            "Invalid Encoding Method specified in Request".into(),
        )),
    }
}

/// ListObjects (`v2 == false`) or ListObjectsV2.
pub async fn list_objects(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str, v2: bool) -> Result<(), ProxyError> {
    let q = parse_query(&ctx.head.query);
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let url = parse_encoding_url(get("encoding-type"))?;
    let max_keys = parse_max_keys(get("max-keys"))?;
    let prefix = get("prefix").unwrap_or("");
    let delimiter = get("delimiter").filter(|d| !d.is_empty());
    let token = if v2 { get("continuation-token") } else { None };
    let start_after = if v2 { get("start-after") } else { get("marker") };
    let from = match token {
        Some(t) => Some(decode_token(t)?),
        None => start_after.filter(|s| !s.is_empty()).map(str::to_string),
    };
    let bucket_owner = require_bucket(ctx, bucket).await?.owner;
    let query = ListQuery {
        prefix: prefix.to_string(),
        delimiter: delimiter.map(str::to_string),
        start_after: from,
        max_keys,
    };
    let mut page = ctx.core.shared.store.list_objects(bucket, &query).await?;
    if max_keys == 0 {
        // S3: `max-keys=0` lists nothing and is not truncated.
        page = s3o_store::ListPage::default();
    }
    let owner = Owner {
        id: &bucket_owner,
        display_name: &bucket_owner,
    };
    if v2 {
        let fetch_owner = get("fetch-owner").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let next = page
            .is_truncated
            .then(|| page.next_marker.as_deref().map(encode_token))
            .flatten();
        let doc = ListBucketResultV2 {
            name: bucket,
            prefix,
            start_after,
            continuation_token: token,
            next_continuation_token: next.as_deref(),
            max_keys,
            delimiter,
            encoding_type_url: url,
            is_truncated: page.is_truncated,
            owner: fetch_owner.then_some(owner),
            contents: &page.objects,
            common_prefixes: &page.common_prefixes,
        };
        send_xml(ctx, io, &doc).await
    } else {
        let doc = ListBucketResult {
            name: bucket,
            prefix,
            marker: start_after.unwrap_or(""),
            max_keys,
            delimiter,
            is_truncated: page.is_truncated,
            next_marker: page.next_marker.as_deref(),
            encoding_type_url: url,
            owner: Some(owner),
            contents: &page.objects,
            common_prefixes: &page.common_prefixes,
        };
        send_xml(ctx, io, &doc).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_keys_rules() {
        assert_eq!(parse_max_keys(None).unwrap(), 1000);
        assert_eq!(parse_max_keys(Some("0")).unwrap(), 0);
        assert_eq!(parse_max_keys(Some("5000")).unwrap(), 1000);
        assert!(parse_max_keys(Some("-1")).is_err());
        assert!(parse_max_keys(Some("ten")).is_err());
    }

    #[test]
    fn tokens_round_trip() {
        for k in ["", "a/b/c", "ü key+%"] {
            assert_eq!(decode_token(&encode_token(k)).unwrap(), k);
        }
        assert!(decode_token("!!").is_err());
    }
}
