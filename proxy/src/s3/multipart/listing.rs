//! The multipart listings, answered from metadata: ListParts (one upload's parts, with a part
//! number marker) and ListMultipartUploads (a bucket's uploads in progress, with key and upload
//! id markers, prefix and delimiter).

use s3o_store::Upload;

use super::find_upload;
use crate::client::ClientIo;
use crate::error::ProxyError;
use crate::s3::reply::send_xml;
use crate::s3::{require_bucket, Ctx};
use crate::xml;

/// Parts and uploads per listing page when the client does not say (also the most it may ask).
const MAX_LISTING: u32 = 1000;
/// Uploads read from the store at a time by ListMultipartUploads: a full page plus the one that
/// tells whether more follow, so a listing without roll-ups takes one read.
const UPLOADS_BATCH: usize = MAX_LISTING as usize + 1;

/// A `max-parts` / `max-uploads` value: 0 to 1000 (larger is clamped), default 1000.
fn max_param(q: &[(String, String)], name: &str) -> Result<u32, ProxyError> {
    match q.iter().find(|(k, _)| k == name) {
        None => Ok(MAX_LISTING),
        Some((_, v)) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| u32::try_from(n.min(i64::from(MAX_LISTING))).unwrap_or(MAX_LISTING))
            .ok_or_else(|| {
                ProxyError::InvalidArgument(format!("Provided {name} not an integer or within integer range"))
            }),
    }
}

/// ListParts.
pub async fn list_parts(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), ProxyError> {
    let upload = find_upload(ctx, bucket, key, upload_id).await?;
    let q = crate::endpoint::parse_query(&ctx.head.query);
    let max_parts = max_param(&q, "max-parts")?;
    let marker = match q.iter().find(|(k, _)| k == "part-number-marker") {
        Some((_, v)) => v
            .parse::<u32>()
            .map_err(|_| ProxyError::InvalidArgument("Invalid part-number-marker".into()))?,
        None => 0,
    };
    let mut parts = ctx
        .core
        .shared
        .store
        .parts(upload_id, marker, max_parts as usize + 1)
        .await?;
    let is_truncated = parts.len() > max_parts as usize;
    parts.truncate(max_parts as usize);
    let entries: Vec<xml::PartEntry<'_>> = parts
        .iter()
        .map(|p| xml::PartEntry {
            part_number: p.number,
            last_modified_ms: p.last_modified_ms,
            etag: &p.etag,
            size: p.size,
            checksums: &p.checksums,
        })
        .collect();
    let alg_upper = upload.checksum_algorithm.as_deref().map(str::to_ascii_uppercase);
    send_xml(
        ctx,
        io,
        &xml::ListPartsResult {
            bucket,
            key,
            upload_id,
            part_number_marker: marker,
            next_part_number_marker: parts.last().map(|p| p.number).filter(|_| is_truncated),
            max_parts,
            is_truncated,
            parts: &entries,
            owner: xml::Owner {
                id: &upload.owner,
                display_name: &upload.owner,
            },
            storage_class: xml::STORAGE_CLASS,
            checksum_algorithm: alg_upper.as_deref(),
        },
    )
    .await
}

/// ListMultipartUploads, with prefix, delimiter, markers and `max-uploads`.
pub async fn list_uploads(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    require_bucket(ctx, bucket).await?;
    let q = crate::endpoint::parse_query(&ctx.head.query);
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let max = max_param(&q, "max-uploads")? as usize;
    let prefix = get("prefix").unwrap_or("");
    let delimiter = get("delimiter").filter(|d| !d.is_empty());
    let key_marker = get("key-marker").unwrap_or("");
    let upload_id_marker = if key_marker.is_empty() {
        ""
    } else {
        get("upload-id-marker").unwrap_or("")
    };
    let encoding_type_url = match get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(ProxyError::InvalidArgument(
                "Invalid Encoding Method specified in Request".into(),
            ))
        }
    };
    let mut uploads: Vec<Upload> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut is_truncated = false;
    // Whether the last entry of the page is a common prefix (then the next page starts after it).
    let mut last_is_prefix = false;
    // The store answers in batches; uploads rolled up under one prefix may fill many, so batches
    // are read until the page is full or the uploads run out.
    let (mut after_key, mut after_id) = (key_marker.to_string(), upload_id_marker.to_string());
    'batches: loop {
        let batch = ctx
            .core
            .shared
            .store
            .list_uploads(bucket, prefix, &after_key, &after_id, UPLOADS_BATCH)
            .await?;
        let exhausted = batch.len() < UPLOADS_BATCH;
        if let Some(last) = batch.last() {
            (after_key, after_id) = (last.key.clone(), last.upload_id.clone());
        }
        for u in batch {
            let rolled = delimiter.and_then(|d| {
                let rest = u.key.get(prefix.len()..)?;
                rest.find(d).map(|i| u.key[..prefix.len() + i + d.len()].to_string())
            });
            if let Some(p) = &rolled {
                if prefixes.last() == Some(p) || p.as_str() <= key_marker {
                    continue;
                }
            }
            if uploads.len() + prefixes.len() >= max {
                is_truncated = true;
                break 'batches;
            }
            last_is_prefix = rolled.is_some();
            match rolled {
                Some(p) => prefixes.push(p),
                None => uploads.push(u),
            }
        }
        if exhausted {
            break;
        }
    }
    let entries: Vec<xml::UploadEntry<'_>> = uploads
        .iter()
        .map(|u| xml::UploadEntry {
            key: &u.key,
            upload_id: &u.upload_id,
            initiated_ms: u.initiated_ms,
            owner: &u.owner,
        })
        .collect();
    let last = uploads.last().filter(|_| !last_is_prefix);
    let next_key_marker = if last_is_prefix {
        prefixes.last().map(String::as_str)
    } else {
        last.map(|u| u.key.as_str())
    };
    send_xml(
        ctx,
        io,
        &xml::ListMultipartUploadsResult {
            bucket,
            key_marker,
            upload_id_marker,
            next_key_marker: next_key_marker.filter(|_| is_truncated),
            next_upload_id_marker: last.map(|u| u.upload_id.as_str()).filter(|_| is_truncated),
            prefix,
            delimiter,
            max_uploads: u32::try_from(max).unwrap_or(MAX_LISTING),
            is_truncated,
            uploads: &entries,
            common_prefixes: &prefixes,
            encoding_type_url,
        },
    )
    .await
}
