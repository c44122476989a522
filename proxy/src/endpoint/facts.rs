//! What each [`Endpoint`] is, beside its parameters: its S3 operation name, the bucket, key and
//! version it addresses, the copy source it reads, the [`Access`] it needs and whether it takes
//! a body. One `match` per question, so a new variant is answered everywhere or does not compile.

use super::{Access, CopySource, Endpoint};

impl Endpoint {
    /// The S3 operation name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::ListBuckets => "ListBuckets",
            Endpoint::CreateBucket { .. } => "CreateBucket",
            Endpoint::DeleteBucket { .. } => "DeleteBucket",
            Endpoint::HeadBucket { .. } => "HeadBucket",
            Endpoint::GetBucketLocation { .. } => "GetBucketLocation",
            Endpoint::ListObjects { .. } => "ListObjects",
            Endpoint::ListObjectsV2 { .. } => "ListObjectsV2",
            Endpoint::ListMultipartUploads { .. } => "ListMultipartUploads",
            Endpoint::PutObject { .. } => "PutObject",
            Endpoint::CopyObject { .. } => "CopyObject",
            Endpoint::GetObject { .. } => "GetObject",
            Endpoint::HeadObject { .. } => "HeadObject",
            Endpoint::GetObjectAttributes { .. } => "GetObjectAttributes",
            Endpoint::DeleteObject { .. } => "DeleteObject",
            Endpoint::DeleteObjects { .. } => "DeleteObjects",
            Endpoint::PostObject { .. } => "PostObject",
            Endpoint::GetObjectTagging { .. } => "GetObjectTagging",
            Endpoint::PutObjectTagging { .. } => "PutObjectTagging",
            Endpoint::DeleteObjectTagging { .. } => "DeleteObjectTagging",
            Endpoint::CreateMultipartUpload { .. } => "CreateMultipartUpload",
            Endpoint::UploadPart { .. } => "UploadPart",
            Endpoint::UploadPartCopy { .. } => "UploadPartCopy",
            Endpoint::CompleteMultipartUpload { .. } => "CompleteMultipartUpload",
            Endpoint::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            Endpoint::ListParts { .. } => "ListParts",
            Endpoint::GetBucketVersioning { .. } => "GetBucketVersioning",
            Endpoint::PutBucketVersioning { .. } => "PutBucketVersioning",
            Endpoint::ListObjectVersions { .. } => "ListObjectVersions",
            Endpoint::GetObjectLockConfiguration { .. } => "GetObjectLockConfiguration",
            Endpoint::PutObjectLockConfiguration { .. } => "PutObjectLockConfiguration",
            Endpoint::GetObjectRetention { .. } => "GetObjectRetention",
            Endpoint::PutObjectRetention { .. } => "PutObjectRetention",
            Endpoint::GetObjectLegalHold { .. } => "GetObjectLegalHold",
            Endpoint::PutObjectLegalHold { .. } => "PutObjectLegalHold",
            Endpoint::GetBucketAcl { .. } => "GetBucketAcl",
            Endpoint::PutBucketAcl { .. } => "PutBucketAcl",
            Endpoint::GetObjectAcl { .. } => "GetObjectAcl",
            Endpoint::PutObjectAcl { .. } => "PutObjectAcl",
            Endpoint::GetBucketOwnershipControls { .. } => "GetBucketOwnershipControls",
            Endpoint::PutBucketOwnershipControls { .. } => "PutBucketOwnershipControls",
            Endpoint::DeleteBucketOwnershipControls { .. } => "DeleteBucketOwnershipControls",
            Endpoint::GetPublicAccessBlock { .. } => "GetPublicAccessBlock",
            Endpoint::PutPublicAccessBlock { .. } => "PutPublicAccessBlock",
            Endpoint::DeletePublicAccessBlock { .. } => "DeletePublicAccessBlock",
            Endpoint::GetBucketCors { .. } => "GetBucketCors",
            Endpoint::PutBucketCors { .. } => "PutBucketCors",
            Endpoint::DeleteBucketCors { .. } => "DeleteBucketCors",
            Endpoint::GetBucketLifecycleConfiguration { .. } => "GetBucketLifecycleConfiguration",
            Endpoint::PutBucketLifecycleConfiguration { .. } => "PutBucketLifecycleConfiguration",
            Endpoint::DeleteBucketLifecycle { .. } => "DeleteBucketLifecycle",
            Endpoint::GetBucketTagging { .. } => "GetBucketTagging",
            Endpoint::PutBucketTagging { .. } => "PutBucketTagging",
            Endpoint::DeleteBucketTagging { .. } => "DeleteBucketTagging",
            Endpoint::GetBucketPolicy { .. } => "GetBucketPolicy",
            Endpoint::PutBucketPolicy { .. } => "PutBucketPolicy",
            Endpoint::DeleteBucketPolicy { .. } => "DeleteBucketPolicy",
            Endpoint::GetBucketPolicyStatus { .. } => "GetBucketPolicyStatus",
            Endpoint::PreflightRequest { .. } => "PreflightRequest",
            Endpoint::NotImplemented { operation } => operation,
        }
    }

    /// The bucket the operation addresses, if any.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            Endpoint::ListBuckets | Endpoint::NotImplemented { .. } => None,
            Endpoint::CreateBucket { bucket }
            | Endpoint::DeleteBucket { bucket }
            | Endpoint::HeadBucket { bucket }
            | Endpoint::GetBucketLocation { bucket }
            | Endpoint::ListObjects { bucket }
            | Endpoint::ListObjectsV2 { bucket }
            | Endpoint::ListMultipartUploads { bucket }
            | Endpoint::DeleteObjects { bucket }
            | Endpoint::PostObject { bucket }
            | Endpoint::PutObject { bucket, .. }
            | Endpoint::CopyObject { bucket, .. }
            | Endpoint::GetObject { bucket, .. }
            | Endpoint::HeadObject { bucket, .. }
            | Endpoint::GetObjectAttributes { bucket, .. }
            | Endpoint::DeleteObject { bucket, .. }
            | Endpoint::GetObjectTagging { bucket, .. }
            | Endpoint::PutObjectTagging { bucket, .. }
            | Endpoint::DeleteObjectTagging { bucket, .. }
            | Endpoint::CreateMultipartUpload { bucket, .. }
            | Endpoint::UploadPart { bucket, .. }
            | Endpoint::UploadPartCopy { bucket, .. }
            | Endpoint::CompleteMultipartUpload { bucket, .. }
            | Endpoint::AbortMultipartUpload { bucket, .. }
            | Endpoint::ListParts { bucket, .. }
            | Endpoint::GetBucketVersioning { bucket }
            | Endpoint::PutBucketVersioning { bucket }
            | Endpoint::ListObjectVersions { bucket }
            | Endpoint::GetObjectLockConfiguration { bucket }
            | Endpoint::PutObjectLockConfiguration { bucket }
            | Endpoint::GetObjectRetention { bucket, .. }
            | Endpoint::PutObjectRetention { bucket, .. }
            | Endpoint::GetObjectLegalHold { bucket, .. }
            | Endpoint::PutObjectLegalHold { bucket, .. }
            | Endpoint::GetBucketAcl { bucket }
            | Endpoint::PutBucketAcl { bucket }
            | Endpoint::GetObjectAcl { bucket, .. }
            | Endpoint::PutObjectAcl { bucket, .. }
            | Endpoint::GetBucketOwnershipControls { bucket }
            | Endpoint::PutBucketOwnershipControls { bucket }
            | Endpoint::DeleteBucketOwnershipControls { bucket }
            | Endpoint::GetPublicAccessBlock { bucket }
            | Endpoint::PutPublicAccessBlock { bucket }
            | Endpoint::DeletePublicAccessBlock { bucket }
            | Endpoint::GetBucketCors { bucket }
            | Endpoint::PutBucketCors { bucket }
            | Endpoint::DeleteBucketCors { bucket }
            | Endpoint::GetBucketLifecycleConfiguration { bucket }
            | Endpoint::PutBucketLifecycleConfiguration { bucket }
            | Endpoint::DeleteBucketLifecycle { bucket }
            | Endpoint::GetBucketTagging { bucket }
            | Endpoint::PutBucketTagging { bucket }
            | Endpoint::DeleteBucketTagging { bucket }
            | Endpoint::GetBucketPolicy { bucket }
            | Endpoint::PutBucketPolicy { bucket }
            | Endpoint::DeleteBucketPolicy { bucket }
            | Endpoint::GetBucketPolicyStatus { bucket }
            | Endpoint::PreflightRequest { bucket, .. } => Some(bucket),
        }
    }

    /// The `versionId` the operation names, if any.
    pub fn version(&self) -> Option<&str> {
        match self {
            Endpoint::GetObject { version, .. }
            | Endpoint::HeadObject { version, .. }
            | Endpoint::GetObjectAttributes { version, .. }
            | Endpoint::DeleteObject { version, .. }
            | Endpoint::GetObjectTagging { version, .. }
            | Endpoint::PutObjectTagging { version, .. }
            | Endpoint::DeleteObjectTagging { version, .. }
            | Endpoint::GetObjectRetention { version, .. }
            | Endpoint::PutObjectRetention { version, .. }
            | Endpoint::GetObjectLegalHold { version, .. }
            | Endpoint::PutObjectLegalHold { version, .. }
            | Endpoint::GetObjectAcl { version, .. }
            | Endpoint::PutObjectAcl { version, .. } => version.as_deref(),
            _ => None,
        }
    }

    /// The decoded object key the operation addresses, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Endpoint::PutObject { key, .. }
            | Endpoint::CopyObject { key, .. }
            | Endpoint::GetObject { key, .. }
            | Endpoint::HeadObject { key, .. }
            | Endpoint::GetObjectAttributes { key, .. }
            | Endpoint::DeleteObject { key, .. }
            | Endpoint::GetObjectTagging { key, .. }
            | Endpoint::PutObjectTagging { key, .. }
            | Endpoint::DeleteObjectTagging { key, .. }
            | Endpoint::CreateMultipartUpload { key, .. }
            | Endpoint::UploadPart { key, .. }
            | Endpoint::UploadPartCopy { key, .. }
            | Endpoint::CompleteMultipartUpload { key, .. }
            | Endpoint::AbortMultipartUpload { key, .. }
            | Endpoint::ListParts { key, .. }
            | Endpoint::GetObjectRetention { key, .. }
            | Endpoint::PutObjectRetention { key, .. }
            | Endpoint::GetObjectLegalHold { key, .. }
            | Endpoint::PutObjectLegalHold { key, .. }
            | Endpoint::GetObjectAcl { key, .. }
            | Endpoint::PutObjectAcl { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The copy source of CopyObject and UploadPartCopy (the caller must be able to read it).
    pub fn copy_source(&self) -> Option<&CopySource> {
        match self {
            Endpoint::CopyObject { source, .. } | Endpoint::UploadPartCopy { source, .. } => Some(source),
            _ => None,
        }
    }

    /// What the caller must be allowed to do on [`Endpoint::bucket`].
    pub fn access(&self) -> Access {
        match self {
            Endpoint::ListBuckets | Endpoint::NotImplemented { .. } | Endpoint::PreflightRequest { .. } => Access::Any,
            Endpoint::CreateBucket { .. }
            | Endpoint::DeleteBucket { .. }
            | Endpoint::PutBucketVersioning { .. }
            | Endpoint::PutObjectLockConfiguration { .. }
            | Endpoint::PutBucketAcl { .. }
            | Endpoint::PutBucketOwnershipControls { .. }
            | Endpoint::DeleteBucketOwnershipControls { .. }
            | Endpoint::PutPublicAccessBlock { .. }
            | Endpoint::DeletePublicAccessBlock { .. }
            | Endpoint::PutBucketCors { .. }
            | Endpoint::DeleteBucketCors { .. }
            | Endpoint::PutBucketPolicy { .. }
            | Endpoint::DeleteBucketPolicy { .. }
            | Endpoint::PutBucketLifecycleConfiguration { .. }
            | Endpoint::DeleteBucketLifecycle { .. }
            | Endpoint::PutBucketTagging { .. }
            | Endpoint::DeleteBucketTagging { .. } => Access::Manage,
            Endpoint::HeadBucket { .. }
            | Endpoint::GetBucketLocation { .. }
            | Endpoint::ListObjects { .. }
            | Endpoint::ListObjectsV2 { .. }
            | Endpoint::ListMultipartUploads { .. }
            | Endpoint::GetObject { .. }
            | Endpoint::HeadObject { .. }
            | Endpoint::GetObjectAttributes { .. }
            | Endpoint::GetObjectTagging { .. }
            | Endpoint::ListParts { .. }
            | Endpoint::GetBucketVersioning { .. }
            | Endpoint::ListObjectVersions { .. }
            | Endpoint::GetObjectLockConfiguration { .. }
            | Endpoint::GetObjectRetention { .. }
            | Endpoint::GetObjectLegalHold { .. }
            | Endpoint::GetBucketAcl { .. }
            | Endpoint::GetObjectAcl { .. }
            | Endpoint::GetBucketOwnershipControls { .. }
            | Endpoint::GetPublicAccessBlock { .. }
            | Endpoint::GetBucketCors { .. }
            | Endpoint::GetBucketPolicy { .. }
            | Endpoint::GetBucketPolicyStatus { .. }
            | Endpoint::GetBucketLifecycleConfiguration { .. }
            | Endpoint::GetBucketTagging { .. } => Access::Read,
            Endpoint::PutObject { .. }
            | Endpoint::CopyObject { .. }
            | Endpoint::DeleteObject { .. }
            | Endpoint::DeleteObjects { .. }
            | Endpoint::PostObject { .. }
            | Endpoint::PutObjectTagging { .. }
            | Endpoint::DeleteObjectTagging { .. }
            | Endpoint::CreateMultipartUpload { .. }
            | Endpoint::UploadPart { .. }
            | Endpoint::UploadPartCopy { .. }
            | Endpoint::CompleteMultipartUpload { .. }
            | Endpoint::AbortMultipartUpload { .. }
            | Endpoint::PutObjectRetention { .. }
            | Endpoint::PutObjectLegalHold { .. }
            | Endpoint::PutObjectAcl { .. } => Access::Write,
        }
    }

    /// Whether the operation reads a request body (others read and ignore a small one).
    pub fn takes_body(&self) -> bool {
        matches!(
            self,
            Endpoint::PutObject { .. }
                | Endpoint::CreateBucket { .. }
                | Endpoint::DeleteObjects { .. }
                | Endpoint::PostObject { .. }
                | Endpoint::PutObjectTagging { .. }
                | Endpoint::UploadPart { .. }
                | Endpoint::CompleteMultipartUpload { .. }
                | Endpoint::PutBucketVersioning { .. }
                | Endpoint::PutObjectLockConfiguration { .. }
                | Endpoint::PutObjectRetention { .. }
                | Endpoint::PutObjectLegalHold { .. }
                | Endpoint::PutBucketAcl { .. }
                | Endpoint::PutObjectAcl { .. }
                | Endpoint::PutBucketOwnershipControls { .. }
                | Endpoint::PutPublicAccessBlock { .. }
                | Endpoint::PutBucketCors { .. }
                | Endpoint::PutBucketLifecycleConfiguration { .. }
                | Endpoint::PutBucketTagging { .. }
                | Endpoint::PutBucketPolicy { .. }
        )
    }
}
