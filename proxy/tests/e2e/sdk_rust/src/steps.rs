//! The S3 steps both clients run, each checking the values that come back (see the `//!` doc
//! of `src/main.rs` for the list): a small object's round trip, a multipart upload, downloads
//! (whole, by part, by range), a listing, an aborted upload and deletes.

use anyhow::{anyhow, bail, ensure, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;

use crate::*;

/// Part size of the multipart upload (S3's minimum for all but the last part is 5 MiB).
pub const PART_SIZE: usize = 6 * MIB;

/// `data` cut into parts of [`PART_SIZE`] (the last one shorter).
pub fn split_parts(data: &Bytes) -> Vec<Bytes> {
    (0..data.len())
        .step_by(PART_SIZE)
        .map(|start| data.slice(start..(start + PART_SIZE).min(data.len())))
        .collect()
}

/// A client, its wire log and where its objects go.
pub struct Run {
    pub s3: Client,
    pub wire: Wire,
    pub bucket: String,
    pub prefix: String,
}

impl Run {
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// 1. PutObject and GetObject of a small object. Returns its key and bytes.
    pub async fn small_round_trip(&self) -> Result<(String, Bytes)> {
        let key = self.key("small.txt");
        let body = Bytes::from(format!("hello from aws-sdk-s3 for Rust, {}\n", self.prefix).repeat(31));
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/plain")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .op("PutObject (small)")?;
        self.wire.expect("PutObject (small)", 200)?;
        check_eq("PutObject ETag", put.e_tag(), Some(quoted_md5(&body).as_str()))?;
        check_eq(
            "PutObject x-amz-checksum-crc32 (the SDK's default checksum)",
            put.checksum_crc32(),
            Some(crc32_b64(&body).as_str()),
        )?;
        ok(format!(
            "PutObject {key}: {} bytes, ETag {}, CRC32 {}",
            body.len(),
            quoted_md5(&body),
            crc32_b64(&body)
        ));

        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .op("GetObject (small)")?;
        check_eq(
            "GetObject Content-Length",
            got.content_length(),
            Some(body.len() as i64),
        )?;
        check_eq("GetObject ETag", got.e_tag(), Some(quoted_md5(&body).as_str()))?;
        check_eq("GetObject Content-Type", got.content_type(), Some("text/plain"))?;
        check_eq(
            "GetObject x-amz-checksum-crc32",
            got.checksum_crc32(),
            Some(crc32_b64(&body).as_str()),
        )?;
        // S3 documents FULL_OBJECT as the type of every PutObject checksum.
        let kind = got.checksum_type();
        ensure!(
            matches!(kind, Some(ChecksumType::FullObject)),
            "GetObject x-amz-checksum-type: got {kind:?}, want FULL_OBJECT"
        );
        let bytes = got.body.collect().await.op("GetObject (small) body")?.into_bytes();
        self.wire.expect("GetObject (small)", 200)?;
        ensure!(
            bytes == body,
            "GetObject (small): {} bytes came back, not the {} put",
            bytes.len(),
            body.len()
        );
        ok(format!(
            "GetObject {key}: the same {} bytes, ETag and CRC32",
            bytes.len()
        ));
        Ok((key, body))
    }

    /// 2. CreateMultipartUpload, UploadPart per part, CompleteMultipartUpload.
    pub async fn multipart_upload(&self, key: &str, parts: &[Bytes]) -> Result<()> {
        let created = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .op("CreateMultipartUpload")?;
        self.wire.expect("CreateMultipartUpload", 200)?;
        let upload_id = created
            .upload_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| anyhow!("CreateMultipartUpload: no UploadId in {created:?}"))?;
        check_eq("CreateMultipartUpload Key", created.key(), Some(key))?;
        check_eq(
            "CreateMultipartUpload x-amz-checksum-algorithm",
            created.checksum_algorithm(),
            Some(&ChecksumAlgorithm::Crc32),
        )?;
        ok(format!("CreateMultipartUpload {key}: UploadId {upload_id}"));

        let mut completed = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let op = format!("UploadPart {n}");
            // No checksum argument: the SDK adds its default (CRC32) by itself.
            let up = self
                .s3
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(n)
                .body(ByteStream::from(part.clone()))
                .send()
                .await
                .op(&op)?;
            self.wire.expect(&op, 200)?;
            check_eq(&format!("{op} ETag"), up.e_tag(), Some(quoted_md5(part).as_str()))?;
            check_eq(
                &format!("{op} x-amz-checksum-crc32"),
                up.checksum_crc32(),
                Some(crc32_b64(part).as_str()),
            )?;
            ok(format!(
                "{op}: {} bytes, ETag {}, CRC32 {}",
                part.len(),
                quoted_md5(part),
                crc32_b64(part)
            ));
            completed.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(up.e_tag().map(str::to_string))
                    .set_checksum_crc32(up.checksum_crc32().map(str::to_string))
                    .build(),
            );
        }

        let done = self
            .s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await
            .op("CompleteMultipartUpload")?;
        self.wire.expect("CompleteMultipartUpload", 200)?;
        let etag = multipart_etag(parts);
        check_eq("CompleteMultipartUpload ETag", done.e_tag(), Some(etag.as_str()))?;
        ensure!(
            etag.ends_with(&format!("-{}\"", parts.len())),
            "multipart ETag {etag} has no -N"
        );
        check_eq("CompleteMultipartUpload Key", done.key(), Some(key))?;
        check_eq(
            "CompleteMultipartUpload Bucket",
            done.bucket(),
            Some(self.bucket.as_str()),
        )?;
        check_eq(
            "CompleteMultipartUpload ChecksumCRC32",
            done.checksum_crc32(),
            Some(composite_crc32(parts).as_str()),
        )?;
        ok(format!(
            "CompleteMultipartUpload {key}: {} parts, ETag {etag}, CRC32 {}",
            parts.len(),
            composite_crc32(parts)
        ));
        Ok(())
    }

    /// 3 and 4. HeadObject with checksum mode, whole GetObject, partNumber=1, a range.
    pub async fn downloads(&self, key: &str, data: &Bytes, parts: &[Bytes]) -> Result<()> {
        let size = data.len() as i64;
        let etag = multipart_etag(parts);
        let composite = composite_crc32(parts);

        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .op("HeadObject")?;
        self.wire.expect("HeadObject", 200)?;
        check_eq("HeadObject Content-Length", head.content_length(), Some(size))?;
        check_eq("HeadObject ETag", head.e_tag(), Some(etag.as_str()))?;
        check_eq(
            "HeadObject x-amz-checksum-crc32 (checksum mode)",
            head.checksum_crc32(),
            Some(composite.as_str()),
        )?;
        check_eq(
            "HeadObject x-amz-checksum-type",
            head.checksum_type(),
            Some(&ChecksumType::Composite),
        )?;
        ok(format!(
            "HeadObject {key} (checksum mode): {size} bytes, ETag {etag}, CRC32 {composite} COMPOSITE"
        ));

        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .op("GetObject")?;
        check_eq("GetObject Content-Length", got.content_length(), Some(size))?;
        check_eq("GetObject ETag", got.e_tag(), Some(etag.as_str()))?;
        check_eq("GetObject Content-Range", got.content_range(), None)?;
        check_eq(
            "GetObject x-amz-checksum-crc32",
            got.checksum_crc32(),
            Some(composite.as_str()),
        )?;
        let (n, sha) = drain("GetObject body", got.body).await?;
        self.wire.expect("GetObject", 200)?;
        check_eq("GetObject body size", n, data.len())?;
        check_eq("GetObject body SHA-256", sha.as_str(), sha256_hex(data).as_str())?;
        ok(format!("GetObject {key}: {n} bytes streamed, SHA-256 {sha}"));

        let first = &parts[0];
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .part_number(1)
            .send()
            .await
            .op("GetObject partNumber=1")?;
        check_eq(
            "GetObject partNumber=1 Content-Length",
            got.content_length(),
            Some(first.len() as i64),
        )?;
        check_eq(
            "GetObject partNumber=1 x-amz-mp-parts-count",
            got.parts_count(),
            Some(parts.len() as i32),
        )?;
        let range = format!("bytes 0-{}/{size}", first.len() - 1);
        check_eq(
            "GetObject partNumber=1 Content-Range",
            got.content_range(),
            Some(range.as_str()),
        )?;
        check_eq("GetObject partNumber=1 ETag", got.e_tag(), Some(etag.as_str()))?;
        check_eq(
            "GetObject partNumber=1 x-amz-checksum-crc32 (the part's)",
            got.checksum_crc32(),
            Some(crc32_b64(first).as_str()),
        )?;
        let (n, sha) = drain("GetObject partNumber=1 body", got.body).await?;
        self.wire.expect("GetObject partNumber=1", 206)?;
        check_eq("GetObject partNumber=1 body size", n, first.len())?;
        check_eq(
            "GetObject partNumber=1 body SHA-256",
            sha.as_str(),
            sha256_hex(first).as_str(),
        )?;
        ok(format!(
            "GetObject {key} partNumber=1: 206, {range}, {} parts, part CRC32 {}",
            parts.len(),
            crc32_b64(first)
        ));

        // 3000 bytes across the boundary of parts 1 and 2.
        let (start, end) = (PART_SIZE - 1000, PART_SIZE + 1999);
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .op("GetObject range")?;
        let range = format!("bytes {start}-{end}/{size}");
        check_eq(
            "GetObject range Content-Range",
            got.content_range(),
            Some(range.as_str()),
        )?;
        check_eq(
            "GetObject range Content-Length",
            got.content_length(),
            Some((end - start + 1) as i64),
        )?;
        check_eq("GetObject range ETag", got.e_tag(), Some(etag.as_str()))?;
        check_eq(
            "GetObject range x-amz-checksum-crc32 (none for a range, as S3)",
            got.checksum_crc32(),
            None,
        )?;
        let bytes = got.body.collect().await.op("GetObject range body")?.into_bytes();
        self.wire.expect("GetObject range", 206)?;
        ensure!(
            bytes == data.slice(start..=end),
            "GetObject range: {} bytes, not bytes {start}-{end} of the object",
            bytes.len()
        );
        ok(format!(
            "GetObject {key} Range bytes={start}-{end}: 206, {range}, the right {} bytes",
            bytes.len()
        ));
        Ok(())
    }

    /// 5. ListObjectsV2 on the prefix: exactly `want` (key, size, ETag).
    pub async fn list(&self, want: &[(&str, usize, String)]) -> Result<()> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
            .op("ListObjectsV2")?;
        self.wire.expect("ListObjectsV2", 200)?;
        let got: Vec<(String, i64, String)> = out
            .contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap_or("").to_string(),
                    o.size().unwrap_or(-1),
                    o.e_tag().unwrap_or("").to_string(),
                )
            })
            .collect();
        let mut want: Vec<(String, i64, String)> = want
            .iter()
            .map(|(k, s, e)| (k.to_string(), *s as i64, e.clone()))
            .collect();
        want.sort();
        check_eq("ListObjectsV2 (key, size, ETag)", &got, &want)?;
        check_eq("ListObjectsV2 KeyCount", out.key_count(), Some(want.len() as i32))?;
        check_eq("ListObjectsV2 IsTruncated", out.is_truncated(), Some(false))?;
        ok(format!("ListObjectsV2 prefix {}: {got:?}", self.prefix));
        Ok(())
    }

    /// 6. A second upload: listed, aborted, no longer listed, its parts gone.
    pub async fn aborted_upload(&self) -> Result<()> {
        let key = self.key("aborted.bin");
        let created = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .op("CreateMultipartUpload (to abort)")?;
        self.wire.expect("CreateMultipartUpload (to abort)", 200)?;
        let upload_id = created
            .upload_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| anyhow!("CreateMultipartUpload (to abort): no UploadId in {created:?}"))?;
        let part = random_bytes(MIB + 3);
        let up = self
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .part_number(1)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .op("UploadPart (to abort)")?;
        self.wire.expect("UploadPart (to abort)", 200)?;
        check_eq(
            "UploadPart (to abort) ETag",
            up.e_tag(),
            Some(quoted_md5(&part).as_str()),
        )?;

        let listed = self
            .s3
            .list_parts()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .send()
            .await
            .op("ListParts")?;
        self.wire.expect("ListParts", 200)?;
        let got: Vec<(Option<i32>, Option<i64>, Option<&str>)> = listed
            .parts()
            .iter()
            .map(|p| (p.part_number(), p.size(), p.e_tag()))
            .collect();
        check_eq(
            "ListParts",
            got,
            vec![(Some(1), Some(part.len() as i64), Some(quoted_md5(&part).as_str()))],
        )?;

        let uploads = self.list_uploads().await?;
        ensure!(
            uploads.contains(&(key.clone(), upload_id.to_string())),
            "ListMultipartUploads before the abort: {key} {upload_id} not in {uploads:?}"
        );
        ok(format!(
            "upload {upload_id} of {key}: ListParts shows its part, ListMultipartUploads lists it"
        ));

        self.s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .send()
            .await
            .op("AbortMultipartUpload")?;
        self.wire.expect("AbortMultipartUpload", 204)?;
        let uploads = self.list_uploads().await?;
        ensure!(
            uploads.iter().all(|(_, id)| id != upload_id),
            "ListMultipartUploads after the abort still lists {upload_id}: {uploads:?}"
        );
        match self
            .s3
            .list_parts()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(out) => bail!("ListParts after the abort: want NoSuchUpload, got {out:?}"),
            Err(e) => check_eq(
                "ListParts after the abort",
                error_of(&e),
                (Some("NoSuchUpload".to_string()), Some(404)),
            )?,
        }
        self.wire.lock().clear();
        ok(format!(
            "AbortMultipartUpload {upload_id}: 204, no longer listed, ListParts 404 NoSuchUpload"
        ));
        Ok(())
    }

    /// The (key, upload id) of every upload in progress under the prefix.
    pub async fn list_uploads(&self) -> Result<Vec<(String, String)>> {
        let out = self
            .s3
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
            .op("ListMultipartUploads")?;
        self.wire.expect("ListMultipartUploads", 200)?;
        check_eq("ListMultipartUploads IsTruncated", out.is_truncated(), Some(false))?;
        Ok(out
            .uploads()
            .iter()
            .map(|u| {
                (
                    u.key().unwrap_or("").to_string(),
                    u.upload_id().unwrap_or("").to_string(),
                )
            })
            .collect())
    }

    /// 7. DeleteObject, then HeadObject answers 404.
    pub async fn delete(&self, keys: &[&str]) -> Result<()> {
        for key in keys {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(*key)
                .send()
                .await
                .op("DeleteObject")?;
            self.wire.expect("DeleteObject", 204)?;
            match self.s3.head_object().bucket(&self.bucket).key(*key).send().await {
                Ok(out) => bail!("HeadObject {key} after DeleteObject: want 404, got {out:?}"),
                Err(e) => check_eq(
                    &format!("HeadObject {key} after DeleteObject (status)"),
                    error_of(&e).1,
                    Some(404),
                )?,
            }
            self.wire.lock().clear();
            ok(format!("DeleteObject {key}: 204, then HeadObject 404"));
        }
        Ok(())
    }
}
