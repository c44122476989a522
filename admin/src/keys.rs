//! Object keys and prefixes as the UI and admin API write them: one string
//! `bucket/rest/of/key` whose first segment is the virtual bucket. Parsing splits at the first
//! `/` and refuses an empty bucket or key (400); whether the bucket exists is the `Control`'s call.

use serde::Serialize;

use crate::error::Error;

/// A virtual bucket and a key in it, from `bucket/rest/of/key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ObjectKey {
    /// The virtual bucket (first segment).
    pub bucket: String,
    /// The key within the bucket (everything after the first `/`), never empty.
    pub key: String,
}

impl ObjectKey {
    /// Parses `bucket/key`: both parts must be non-empty.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (bucket, key) = s
            .split_once('/')
            .ok_or_else(|| Error::bad_request("key must be bucket/key"))?;
        if bucket.is_empty() {
            return Err(Error::bad_request("key has an empty bucket name"));
        }
        if key.is_empty() {
            return Err(Error::bad_request("key has an empty object key"));
        }
        Ok(ObjectKey {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.bucket, self.key)
    }
}

/// A virtual bucket and a key prefix in it, from `bucket/` or `bucket/some/prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ObjectPrefix {
    /// The virtual bucket, never empty.
    pub bucket: String,
    /// The key prefix within the bucket; empty means every object of the bucket.
    pub prefix: String,
}

impl ObjectPrefix {
    /// Parses `bucket/prefix`: the bucket must be non-empty and followed by `/`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (bucket, prefix) = s
            .split_once('/')
            .ok_or_else(|| Error::bad_request("prefix must be bucket/ or bucket/prefix"))?;
        if bucket.is_empty() {
            return Err(Error::bad_request("prefix has an empty bucket name"));
        }
        Ok(ObjectPrefix {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl std::fmt::Display for ObjectPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = ObjectKey::parse("my-bucket/path/to/file.txt").unwrap();
        assert_eq!((k.bucket.as_str(), k.key.as_str()), ("my-bucket", "path/to/file.txt"));
        assert_eq!(k.to_string(), "my-bucket/path/to/file.txt");
        assert_eq!(ObjectKey::parse("b//x").unwrap().key, "/x");
        for bad in ["", "bucket", "bucket/", "/key", "/"] {
            assert!(matches!(ObjectKey::parse(bad), Err(Error::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        let p = ObjectPrefix::parse("my-bucket/photos/vacation/").unwrap();
        assert_eq!(
            (p.bucket.as_str(), p.prefix.as_str()),
            ("my-bucket", "photos/vacation/")
        );
        assert_eq!(ObjectPrefix::parse("b/").unwrap().prefix, "");
        for bad in ["", "bucket", "/photos/", "/"] {
            assert!(matches!(ObjectPrefix::parse(bad), Err(Error::BadRequest(_))), "{bad}");
        }
    }
}
