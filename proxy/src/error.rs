//! The proxy's errors and — in this one file — their mapping onto S3 error codes and HTTP
//! statuses. Every error says who caused it (the client, a backend, or us) and whether the
//! operation may be retried or failed over to another backend.

use s3o_sigv4::SigError;
use s3o_store::StoreError;
use thiserror::Error;

use crate::endpoint::EndpointError;
use crate::http::HttpError;

/// Errors loading the configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {0}: {1}")]
    Read(String, std::io::Error),
    /// A `${NAME}` names an unset environment variable.
    #[error("config uses ${{{0}}} but that environment variable is not set")]
    MissingEnv(String),
    /// Syntax or a value is wrong.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// Who caused an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The client sent something wrong or is not allowed.
    Client,
    /// A backend failed or misbehaved.
    Backend,
    /// Our own failure.
    Internal,
}

/// Errors talking to a backend.
#[derive(Debug, Error)]
pub enum BackendError {
    /// Could not connect or the connection broke.
    #[error("backend {backend}: connection failed: {detail}")]
    Connect {
        /// Backend name.
        backend: String,
        /// What happened.
        detail: String,
    },
    /// The backend answered with an error status.
    #[error("backend {backend}: HTTP {status}: {detail}")]
    Status {
        /// Backend name.
        backend: String,
        /// HTTP status from the backend.
        status: u16,
        /// Its error code or message.
        detail: String,
    },
    /// The backend's response was not valid HTTP/S3.
    #[error("backend {backend}: bad response: {detail}")]
    Protocol {
        /// Backend name.
        backend: String,
        /// What was wrong.
        detail: String,
    },
    /// The object is not on the backend.
    #[error("backend {backend}: object not found")]
    NotFound {
        /// Backend name.
        backend: String,
    },
    /// Local file I/O failed (fs backends).
    #[error("backend {backend}: I/O error: {source}")]
    Io {
        /// Backend name.
        backend: String,
        /// The error.
        source: std::io::Error,
    },
    /// No progress within the timeout.
    #[error("backend {backend}: timed out")]
    Timeout {
        /// Backend name.
        backend: String,
    },
}

/// Everything a request can fail with.
#[derive(Debug, Error)]
pub enum ProxyError {
    /// Authentication or body verification failed.
    #[error(transparent)]
    Sig(#[from] SigError),
    /// The HTTP request is malformed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The request does not map onto an S3 operation.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The bucket does not exist.
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    /// The key does not exist.
    #[error("The specified key does not exist.")]
    NoSuchKey,
    /// The version asked for does not exist.
    #[error("The specified version does not exist.")]
    NoSuchVersion,
    /// The key's latest version is a delete marker (GET/HEAD without a version id: 404), or
    /// the version asked for is one (405); the answer names it.
    #[error("{}", if *.named { "The specified method is not allowed against this resource." } else { "The specified key does not exist." })]
    DeleteMarker {
        /// The delete marker's version id.
        version_id: String,
        /// Whether the request named the marker's version (405) or asked for the latest (404).
        named: bool,
    },
    /// The bucket's versioning or object lock state does not allow the request.
    #[error("{0}")]
    InvalidBucketState(String),
    /// Object lock forbids the change.
    #[error("Access Denied because object protected by object lock.")]
    ObjectLocked,
    /// A default retention period that is not positive.
    #[error("Default retention period must be a positive integer value.")]
    InvalidRetentionPeriod,
    /// GetObjectLockConfiguration on a bucket without it.
    #[error("Object Lock configuration does not exist for this bucket")]
    NoSuchObjectLockConfiguration,
    /// A write that would take a bucket past its hard quota.
    #[error("The bucket's hard quota would be exceeded: delete objects or raise the quota")]
    QuotaExceeded,
    /// GetBucketLifecycleConfiguration on a bucket without rules.
    #[error("The lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration,
    /// GetBucketTagging on a bucket without tags.
    #[error("The TagSet does not exist")]
    NoSuchTagSet,
    /// GetBucketPolicy on a bucket without a policy.
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy,
    /// A bucket policy that cannot be parsed or enforced.
    #[error("{0}")]
    MalformedPolicy(String),
    /// GetBucketCors on a bucket without rules.
    #[error("The CORS configuration does not exist")]
    NoSuchCorsConfiguration,
    /// A CORS preflight no rule of the bucket admits.
    #[error("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")]
    CorsForbidden,
    /// GetBucketOwnershipControls on a bucket without them.
    #[error("The bucket ownership controls were not found")]
    NoSuchOwnershipControls,
    /// GetPublicAccessBlock on a bucket without one.
    #[error("The public access block configuration was not found")]
    NoSuchPublicAccessBlock,
    /// An ACL on a bucket whose ownership controls disable ACLs.
    #[error("The bucket does not allow ACLs")]
    AccessControlListNotSupported,
    /// Ownership controls that disable ACLs on a bucket whose ACL grants to others.
    #[error(
        "Bucket ownership controls BucketOwnerEnforced cannot be set while the bucket ACL grants access to others"
    )]
    InvalidBucketAclWithObjectOwnership,
    /// A grant to an email address no user has.
    #[error("The e-mail address you provided does not match any account on record")]
    UnresolvableGrantByEmailAddress,
    /// DeleteBucket on a bucket with objects.
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    /// CreateBucket of a name someone else has.
    #[error("The requested bucket name is not available.")]
    BucketAlreadyExists,
    /// CreateBucket of a bucket the caller already has.
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    /// The range cannot be satisfied.
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    /// Not allowed.
    #[error("Access Denied")]
    AccessDenied,
    /// No backend has room.
    #[error("Insufficient storage: no backend of this bucket has room for the object.")]
    InsufficientStorage,
    /// A parameter is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// A request body is not the XML expected.
    #[error("The XML you provided was not well-formed or did not validate against our published schema.")]
    MalformedXml,
    /// The body is larger than a single PUT allows.
    #[error("Your proposed upload exceeds the maximum allowed object size.")]
    EntityTooLarge,
    /// The request is not valid for a reason S3 reports as InvalidRequest.
    #[error("{0}")]
    InvalidRequest(String),
    /// The key is longer than S3 allows.
    #[error("Your key is too long")]
    KeyTooLong,
    /// A PUT without a length.
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    /// A body without a stated length, longer than such a body may be (see `unsized_body`).
    #[error("A body sent without Content-Length may be at most {0} bytes here: send Content-Length (or x-amz-decoded-content-length), or use a multipart upload.")]
    UnsizedBodyTooLarge(u64),
    /// The operation is not built.
    #[error("{0} is not implemented by s3-orchestrator")]
    NotImplemented(&'static str),
    /// The multipart upload does not exist (never created, completed or aborted).
    #[error("The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")]
    NoSuchUpload,
    /// CompleteMultipartUpload names a part that was not uploaded or whose ETag differs.
    #[error("One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.")]
    InvalidPart,
    /// CompleteMultipartUpload lists parts out of ascending order.
    #[error("The list of parts was not in ascending order. The parts list must be specified in order by part number.")]
    InvalidPartOrder,
    /// A part other than the last is smaller than the minimum.
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall,
    /// Tags break S3's rules.
    #[error("{0}")]
    InvalidTag(String),
    /// A conditional write lost a race with another write of the same key.
    #[error("A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.")]
    ConditionalRequestConflict,
    /// A precondition (If-Match, ...) failed.
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// A backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Store(StoreError),
    /// The metadata store cannot commit for now (its disk is full, a flush failed) or is
    /// reopening; it recovers by itself, so the request may be retried.
    #[error("{0}")]
    StoreUnavailable(StoreError),
    /// A browser POST body is not well-formed `multipart/form-data`.
    #[error("The body of your POST request is not well-formed multipart/form-data: {0}")]
    MalformedPostRequest(&'static str),
    /// A browser POST form's fields before the file are larger than allowed.
    #[error("Your POST request fields preceding the upload file were too large.")]
    PostFieldsTooLarge,
    /// A browser POST policy document is malformed.
    #[error("{0}")]
    InvalidPolicyDocument(String),
    /// A browser POST form breaks its policy (expired, a condition failed, a field not covered).
    #[error("{0}")]
    PolicyDenied(String),
    /// A browser POST form has no file part.
    #[error("POST requires exactly one file upload per request.")]
    IncorrectNumberOfFiles,
    /// The client stopped sending within the timeout.
    #[error("Your socket connection to the server was not read from or written to within the timeout period.")]
    RequestTimeout,
    /// The client connection broke.
    #[error("client connection: {0}")]
    ClientIo(std::io::Error),
    /// We are shutting down.
    #[error("Please reduce your request rate.")]
    SlowDown,
    /// Anything else of ours.
    #[error("We encountered an internal error. Please try again.")]
    Internal(String),
}

impl From<StoreError> for ProxyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchBucket(_) => ProxyError::NoSuchBucket,
            StoreError::BucketNotEmpty(_) => ProxyError::BucketNotEmpty,
            StoreError::BucketAlreadyExists(_) => ProxyError::BucketAlreadyOwnedByYou,
            StoreError::QuotaExceeded { .. } => ProxyError::InsufficientStorage,
            StoreError::PreconditionFailed { .. } => ProxyError::PreconditionFailed,
            StoreError::NoSuchKey { .. } => ProxyError::NoSuchKey,
            StoreError::NoSuchUpload(_) => ProxyError::NoSuchUpload,
            StoreError::UploadChanged(_) => ProxyError::SlowDown,
            StoreError::VersionChanged { .. } => ProxyError::ConditionalRequestConflict,
            StoreError::NoSuchVersion { .. } => ProxyError::NoSuchVersion,
            StoreError::DeleteMarker { version, .. } => ProxyError::DeleteMarker {
                version_id: version,
                named: true,
            },
            StoreError::Locked { .. } => ProxyError::ObjectLocked,
            StoreError::InvalidBucketState { why, .. } => ProxyError::InvalidBucketState(why.to_owned()),
            StoreError::NoObjectLock(_) => {
                ProxyError::InvalidRequest("Bucket is missing Object Lock Configuration".into())
            }
            e if e.is_unavailable() => ProxyError::StoreUnavailable(e),
            other => ProxyError::Store(other),
        }
    }
}

impl ProxyError {
    /// The S3 error code.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::Sig(e) => e.s3_code(),
            ProxyError::Http(e) => match e.status() {
                414 => "RequestURITooLong",
                431 => "RequestHeaderSectionTooLarge",
                501 => "NotImplemented",
                408 => "RequestTimeout",
                _ => "BadRequest",
            },
            ProxyError::Endpoint(e) => e.code(),
            ProxyError::NoSuchBucket => "NoSuchBucket",
            ProxyError::NoSuchKey => "NoSuchKey",
            ProxyError::NoSuchVersion => "NoSuchVersion",
            ProxyError::DeleteMarker { named: true, .. } => "MethodNotAllowed",
            ProxyError::DeleteMarker { named: false, .. } => "NoSuchKey",
            ProxyError::InvalidBucketState(_) => "InvalidBucketState",
            ProxyError::ObjectLocked => "AccessDenied",
            ProxyError::InvalidRetentionPeriod => "InvalidRetentionPeriod",
            ProxyError::NoSuchObjectLockConfiguration => "ObjectLockConfigurationNotFoundError",
            ProxyError::NoSuchOwnershipControls => "OwnershipControlsNotFoundError",
            ProxyError::NoSuchCorsConfiguration => "NoSuchCORSConfiguration",
            ProxyError::NoSuchBucketPolicy => "NoSuchBucketPolicy",
            ProxyError::NoSuchLifecycleConfiguration => "NoSuchLifecycleConfiguration",
            ProxyError::NoSuchTagSet => "NoSuchTagSet",
            ProxyError::QuotaExceeded => "QuotaExceeded",
            ProxyError::MalformedPolicy(_) => "MalformedPolicy",
            ProxyError::CorsForbidden => "AccessForbidden",
            ProxyError::NoSuchPublicAccessBlock => "NoSuchPublicAccessBlockConfiguration",
            ProxyError::AccessControlListNotSupported => "AccessControlListNotSupported",
            ProxyError::InvalidBucketAclWithObjectOwnership => "InvalidBucketAclWithObjectOwnership",
            ProxyError::UnresolvableGrantByEmailAddress => "UnresolvableGrantByEmailAddress",
            ProxyError::BucketNotEmpty => "BucketNotEmpty",
            ProxyError::BucketAlreadyExists => "BucketAlreadyExists",
            ProxyError::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            ProxyError::InvalidRange => "InvalidRange",
            ProxyError::AccessDenied => "AccessDenied",
            ProxyError::InsufficientStorage => "InsufficientStorage",
            ProxyError::InvalidArgument(_) => "InvalidArgument",
            ProxyError::MalformedXml => "MalformedXML",
            ProxyError::EntityTooLarge => "EntityTooLarge",
            ProxyError::MissingContentLength | ProxyError::UnsizedBodyTooLarge(_) => "MissingContentLength",
            ProxyError::KeyTooLong => "KeyTooLongError",
            ProxyError::InvalidRequest(_) => "InvalidRequest",
            ProxyError::NotImplemented(_) => "NotImplemented",
            ProxyError::PreconditionFailed => "PreconditionFailed",
            ProxyError::NoSuchUpload => "NoSuchUpload",
            ProxyError::InvalidPart => "InvalidPart",
            ProxyError::InvalidPartOrder => "InvalidPartOrder",
            ProxyError::EntityTooSmall => "EntityTooSmall",
            ProxyError::InvalidTag(_) => "InvalidTag",
            ProxyError::ConditionalRequestConflict => "ConditionalRequestConflict",
            ProxyError::Backend(BackendError::Timeout { .. }) => "ServiceUnavailable",
            ProxyError::Backend(BackendError::NotFound { .. }) => "InternalError",
            ProxyError::Backend(_) | ProxyError::StoreUnavailable(_) => "ServiceUnavailable",
            ProxyError::Store(_) | ProxyError::Internal(_) => "InternalError",
            ProxyError::RequestTimeout => "RequestTimeout",
            ProxyError::MalformedPostRequest(_) => "MalformedPOSTRequest",
            ProxyError::PostFieldsTooLarge => "MaxPostPreDataLengthExceeded",
            ProxyError::InvalidPolicyDocument(_) => "InvalidPolicyDocument",
            ProxyError::PolicyDenied(_) => "AccessDenied",
            ProxyError::IncorrectNumberOfFiles => "IncorrectNumberOfFilesInPostRequest",
            ProxyError::ClientIo(_) => "IncompleteBody",
            ProxyError::SlowDown => "SlowDown",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Sig(e) => e.http_status(),
            ProxyError::Http(e) => e.status(),
            ProxyError::Endpoint(e) => e.status(),
            ProxyError::NoSuchBucket
            | ProxyError::NoSuchKey
            | ProxyError::NoSuchUpload
            | ProxyError::NoSuchVersion
            | ProxyError::NoSuchObjectLockConfiguration
            | ProxyError::NoSuchOwnershipControls
            | ProxyError::NoSuchCorsConfiguration
            | ProxyError::NoSuchBucketPolicy
            | ProxyError::NoSuchLifecycleConfiguration
            | ProxyError::NoSuchTagSet
            | ProxyError::NoSuchPublicAccessBlock
            | ProxyError::DeleteMarker { named: false, .. } => 404,
            ProxyError::AccessControlListNotSupported
            | ProxyError::InvalidBucketAclWithObjectOwnership
            | ProxyError::UnresolvableGrantByEmailAddress => 400,
            ProxyError::DeleteMarker { named: true, .. } => 405,
            ProxyError::InvalidBucketState(_) => 409,
            ProxyError::ObjectLocked => 403,
            ProxyError::InvalidRetentionPeriod => 400,
            ProxyError::InvalidPart
            | ProxyError::InvalidPartOrder
            | ProxyError::EntityTooSmall
            | ProxyError::InvalidTag(_) => 400,
            ProxyError::ConditionalRequestConflict => 409,
            ProxyError::BucketNotEmpty | ProxyError::BucketAlreadyExists | ProxyError::BucketAlreadyOwnedByYou => 409,
            ProxyError::InvalidRange => 416,
            ProxyError::AccessDenied | ProxyError::PolicyDenied(_) | ProxyError::CorsForbidden => 403,
            ProxyError::MalformedPostRequest(_)
            | ProxyError::PostFieldsTooLarge
            | ProxyError::InvalidPolicyDocument(_)
            | ProxyError::IncorrectNumberOfFiles => 400,
            ProxyError::InsufficientStorage | ProxyError::QuotaExceeded => 507,
            ProxyError::InvalidArgument(_)
            | ProxyError::MalformedPolicy(_)
            | ProxyError::MalformedXml
            | ProxyError::EntityTooLarge
            | ProxyError::KeyTooLong
            | ProxyError::InvalidRequest(_)
            | ProxyError::RequestTimeout
            | ProxyError::ClientIo(_) => 400,
            ProxyError::MissingContentLength | ProxyError::UnsizedBodyTooLarge(_) => 411,
            ProxyError::NotImplemented(_) => 501,
            ProxyError::PreconditionFailed => 412,
            ProxyError::Backend(_) | ProxyError::SlowDown | ProxyError::StoreUnavailable(_) => 503,
            ProxyError::Store(_) | ProxyError::Internal(_) => 500,
        }
    }

    /// Who caused it.
    pub fn source_kind(&self) -> Source {
        match self {
            ProxyError::Backend(_) => Source::Backend,
            ProxyError::Store(_) | ProxyError::StoreUnavailable(_) | ProxyError::Internal(_) | ProxyError::SlowDown => {
                Source::Internal
            }
            _ => Source::Client,
        }
    }

    /// Seconds after which a retry may succeed, for a `Retry-After` header: set for a store that
    /// cannot commit now (it checks every second whether it can recover).
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            ProxyError::StoreUnavailable(_) => Some(1),
            _ => None,
        }
    }

    /// Whether another backend (or a retry) may succeed where this failed.
    pub fn may_failover(&self) -> bool {
        matches!(
            self,
            ProxyError::Backend(
                BackendError::Connect { .. }
                    | BackendError::Timeout { .. }
                    | BackendError::Protocol { .. }
                    | BackendError::NotFound { .. }
                    | BackendError::Io { .. }
                    | BackendError::Status { status: 500..=599, .. }
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases: Vec<(ProxyError, &str, u16)> = vec![
            (ProxyError::NoSuchBucket, "NoSuchBucket", 404),
            (ProxyError::NoSuchKey, "NoSuchKey", 404),
            (ProxyError::BucketNotEmpty, "BucketNotEmpty", 409),
            (ProxyError::InvalidRange, "InvalidRange", 416),
            (ProxyError::InsufficientStorage, "InsufficientStorage", 507),
            (ProxyError::NotImplemented("CopyObject"), "NotImplemented", 501),
            (
                ProxyError::Sig(SigError::SignatureDoesNotMatch),
                "SignatureDoesNotMatch",
                403,
            ),
            (ProxyError::Sig(SigError::BadDigest), "BadDigest", 400),
            (ProxyError::MissingContentLength, "MissingContentLength", 411),
            (ProxyError::UnsizedBodyTooLarge(8), "MissingContentLength", 411),
        ];
        for (e, code, status) in cases {
            assert_eq!((e.code(), e.status()), (code, status), "{e:?}");
        }
        let b = ProxyError::Backend(BackendError::Connect {
            backend: "a".into(),
            detail: "refused".into(),
        });
        assert!(b.may_failover());
        assert_eq!(b.source_kind(), Source::Backend);
        assert!(!ProxyError::AccessDenied.may_failover());
    }

    #[test]
    fn a_store_that_cannot_commit_is_a_retryable_503_and_other_store_failures_are_500s() {
        for e in [
            StoreError::Flush("flush failed: File too large".into()),
            StoreError::Unavailable("reopening after: flush failed".into()),
        ] {
            let e = ProxyError::from(e);
            assert_eq!((e.code(), e.status()), ("ServiceUnavailable", 503), "{e:?}");
            assert_eq!(e.retry_after_secs(), Some(1));
            assert_eq!(e.source_kind(), Source::Internal);
            assert!(!e.may_failover(), "another backend would not help");
        }
        let e = ProxyError::from(StoreError::Engine("corrupt".into()));
        assert_eq!(
            (e.code(), e.status(), e.retry_after_secs()),
            ("InternalError", 500, None)
        );
    }
}
