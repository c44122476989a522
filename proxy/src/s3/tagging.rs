//! Object tags (GetObjectTagging, PutObjectTagging, DeleteObjectTagging, and `x-amz-tagging` on
//! writes, with S3's limits) and GetObjectAttributes, all answered from metadata.

use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::s3::reply::{base_head, send_xml_with};
use crate::s3::versioning::{change_version, resolve, version_header, version_id_header};
use crate::s3::{read_small_body, Ctx};
use crate::xml;
use s3o_store::VersionChange;

/// Most tags an object may carry (S3's limit).
pub const MAX_TAGS: usize = 10;
/// Longest tag key, in characters (S3's limit).
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value, in characters (S3's limit).
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Checks tags against S3's rules.
pub fn validate_tags(tags: &[(String, String)]) -> Result<(), ProxyError> {
    if tags.len() > MAX_TAGS {
        return Err(ProxyError::InvalidTag("Object tags cannot be greater than 10".into()));
    }
    validate_tag_set(tags)
}

/// Most tags on a bucket.
pub const MAX_BUCKET_TAGS: usize = 50;

/// The rules every tag set follows, whatever it tags: keys of 1 to 128 characters not starting
/// with `aws:`, values of at most 256, no key twice.
pub fn validate_tag_set(tags: &[(String, String)]) -> Result<(), ProxyError> {
    let bad = |m: &str| Err(ProxyError::InvalidTag(m.to_string()));
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY_CHARS {
            return bad("The TagKey you have provided is invalid");
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return bad("The TagValue you have provided is invalid");
        }
        if k.starts_with("aws:") {
            return bad("Your TagKey cannot be prefixed with aws:");
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return bad("Cannot provide multiple Tags with the same key");
        }
    }
    Ok(())
}

/// The tags of `x-amz-tagging` on a write (none without the header), validated.
pub fn header_tags(ctx: &Ctx<'_>) -> Result<Vec<(String, String)>, ProxyError> {
    let Some(h) = ctx.head.header("x-amz-tagging") else {
        return Ok(Vec::new());
    };
    let mut tags = xml::parse_tagging_query(h)
        .map_err(|_| ProxyError::InvalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.".into()))?;
    validate_tags(&tags)?;
    // S3 keeps a tag set ordered by key.
    tags.sort();
    Ok(tags)
}

/// GetObjectTagging.
pub async fn get_tagging(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let meta = resolve(ctx, bucket, key, version).await?;
    let named: Vec<(&str, String)> = version_id_header(&meta, version.is_some()).into_iter().collect();
    send_xml_with(ctx, io, &xml::Tagging { tags: &meta.tags }, &named).await
}

/// PutObjectTagging: replaces the tag set.
pub async fn put_tagging(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let doc = read_small_body(io, body, xml::MAX_TAGGING_BODY_BYTES).await?;
    let mut tags = xml::parse_tagging(&doc).map_err(|_| ProxyError::MalformedXml)?;
    validate_tags(&tags)?;
    tags.sort();
    // A bucket policy judges the tags set (`s3:RequestObjectTag/...`) with the object.
    ctx.permit.set_request_tags(&tags);
    let checked = resolve(ctx, bucket, key, version).await?;
    change_version(
        ctx,
        io,
        (bucket, key, version),
        &checked,
        VersionChange::Tags(tags),
        200,
    )
    .await
}

/// DeleteObjectTagging.
pub async fn delete_tagging(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let checked = resolve(ctx, bucket, key, version).await?;
    let change = VersionChange::Tags(Vec::new());
    change_version(ctx, io, (bucket, key, version), &checked, change, 204).await
}

/// GetObjectAttributes: the attributes named in `x-amz-object-attributes`.
pub async fn get_attributes(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let meta = resolve(ctx, bucket, key, version).await?;
    let wanted = ctx.head.header("x-amz-object-attributes").unwrap_or("");
    let mut names = Vec::new();
    for name in wanted.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "ETag" | "Checksum" | "ObjectParts" | "StorageClass" | "ObjectSize" => names.push(name),
            _ => {
                return Err(ProxyError::InvalidArgument(format!(
                    "Invalid attribute name specified: {name}"
                )))
            }
        }
    }
    if names.is_empty() {
        return Err(ProxyError::InvalidArgument(
            "x-amz-object-attributes header specifying attributes to be retrieved is either missing or empty".into(),
        ));
    }
    let has = |n: &str| names.contains(&n);
    let number = |name: &str| -> Result<Option<u32>, ProxyError> {
        match ctx.head.header(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| ProxyError::InvalidArgument(format!("Invalid {name}"))),
        }
    };
    let max_parts = number("x-amz-max-parts")?.unwrap_or(1000).min(1000);
    let marker = number("x-amz-part-number-marker")?.unwrap_or(0);
    let total = u32::try_from(meta.parts.len()).unwrap_or(u32::MAX);
    // The part checksums, one (algorithm, value) list per part, for the page's entries.
    let alg = meta.checksums.first().map(|(a, _)| a.clone()).unwrap_or_default();
    let part_sums: Vec<Vec<(String, String)>> = meta
        .part_checksums
        .iter()
        .map(|v| vec![(alg.clone(), v.clone())])
        .collect();
    let start = usize::try_from(marker).unwrap_or(usize::MAX).min(meta.parts.len());
    let end = start.saturating_add(max_parts as usize).min(meta.parts.len());
    let page: Vec<xml::AttributePart<'_>> = (start..end)
        .map(|i| xml::AttributePart {
            part_number: u32::try_from(i + 1).unwrap_or(u32::MAX),
            size: meta.parts[i],
            checksums: part_sums.get(i).map_or(&[][..], Vec::as_slice),
        })
        .collect();
    let is_truncated = end < meta.parts.len();
    let doc = xml::GetObjectAttributesResponse {
        etag: has("ETag").then_some(meta.etag.as_str()),
        checksum: (has("Checksum") && !meta.checksums.is_empty()).then_some(meta.checksums.as_slice()),
        checksum_type: meta.checksum_type.as_deref(),
        object_parts: (has("ObjectParts") && total > 0).then_some(xml::ObjectParts {
            total_parts_count: total,
            part_number_marker: marker,
            next_part_number_marker: is_truncated.then(|| page.last().map_or(marker, |p| p.part_number)),
            max_parts,
            is_truncated,
            parts: &page,
        }),
        storage_class: has("StorageClass").then_some(xml::STORAGE_CLASS),
        object_size: has("ObjectSize").then_some(meta.size),
    };
    let body = xml::XmlBody::to_vec(&doc);
    let mut head = base_head(200, ctx.rid)
        .header("content-type", "application/xml")
        .header(
            "last-modified",
            crate::http::http_date((meta.last_modified_ms / 1000) as i64),
        )
        .content_length(body.len() as u64);
    version_header(&mut head, &meta, version.is_some());
    io.respond(&head, &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn s3_tag_limits() {
        assert!(validate_tags(&tags(&[("a", ""), ("b", "x")])).is_ok());
        let ten: Vec<(String, String)> = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(validate_tags(&ten).is_ok());
        let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        let long_key = "k".repeat(MAX_TAG_KEY_CHARS + 1);
        let long_value = "é".repeat(MAX_TAG_VALUE_CHARS + 1);
        for bad in [
            eleven,
            tags(&[(&long_key, "v")]),
            tags(&[("k", &long_value)]),
            tags(&[("a", "1"), ("a", "2")]),
            tags(&[("", "v")]),
            tags(&[("aws:x", "v")]),
        ] {
            assert!(matches!(validate_tags(&bad), Err(ProxyError::InvalidTag(_))), "{bad:?}");
        }
        assert!(validate_tags(&tags(&[(&"k".repeat(128), &"é".repeat(256))])).is_ok());
    }
}
