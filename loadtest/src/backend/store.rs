//! The backend's object store, shared by all its threads: objects in 64 mutex-guarded hash-map
//! shards (keyed `bucket/key`, so threads rarely contend), multipart uploads in one map, and the
//! set of buckets. In blackhole mode only sizes are kept and reads return zeros; in pattern mode
//! only the generated segments (stream numbers and lengths) that reads regenerate.
//!
//! ETags are cheap, not MD5s: 32 hex digits of two FNV-1a-64 hashes of the key and size (plus
//! `-N` for a multipart object of N parts). They change when the size changes, which is all a
//! load test needs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::pattern::Segment;

/// Shards of the object map (a power of two).
const SHARDS: usize = 64;

/// An object's content.
#[derive(Debug, Clone)]
pub enum Content {
    /// The bytes, shared (a GET writes them without copying).
    Stored(Bytes),
    /// Blackhole mode: only the size was kept; reads return this many zero bytes.
    Zeros(u64),
    /// Pattern mode: generated data, regenerated for reads (one segment per PUT or part).
    Generated(Arc<[Segment]>),
}

impl Content {
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Stored(b) => b.len() as u64,
            Content::Zeros(n) => *n,
            Content::Generated(segs) => segs.iter().map(Segment::len).sum(),
        }
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stored object.
#[derive(Debug, Clone)]
pub struct Object {
    /// The content.
    pub content: Content,
    /// The quoted ETag.
    pub etag: Arc<str>,
    /// Unix seconds of the write.
    pub modified: i64,
    /// The same instant as an HTTP date, for `Last-Modified` (formatted once).
    pub last_modified: Arc<str>,
}

/// An upload in progress: its key and parts by number.
#[derive(Debug)]
struct Upload {
    bucket: String,
    key: String,
    parts: BTreeMap<u32, Content>,
}

/// Why a multipart operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    /// No such upload ID (for this key).
    NoSuchUpload,
    /// A listed part was never uploaded.
    InvalidPart,
}

/// Objects, uploads and buckets.
#[derive(Debug)]
pub struct Store {
    shards: Vec<Mutex<HashMap<String, Object>>>,
    uploads: Mutex<HashMap<String, Upload>>,
    buckets: Mutex<BTreeSet<String>>,
    next_upload: AtomicU64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

fn fnv(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h = seed;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The cheap ETag of an object (see the module docs), quoted.
pub fn etag(full_key: &str, size: u64, parts: Option<usize>) -> String {
    let sz = size.to_le_bytes();
    let a = fnv(0xcbf2_9ce4_8422_2325, &[full_key.as_bytes(), &sz]);
    let b = fnv(0x84222325_cbf29ce4, &[&sz, full_key.as_bytes()]);
    match parts {
        Some(n) => format!("\"{a:016x}{b:016x}-{n}\""),
        None => format!("\"{a:016x}{b:016x}\""),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            uploads: Mutex::new(HashMap::new()),
            buckets: Mutex::new(BTreeSet::new()),
            next_upload: AtomicU64::new(1),
        }
    }

    fn shard(&self, full_key: &str) -> &Mutex<HashMap<String, Object>> {
        let h = fnv(0xcbf2_9ce4_8422_2325, &[full_key.as_bytes()]);
        &self.shards[(h as usize) & (SHARDS - 1)]
    }

    /// Records a bucket (creating it again is fine).
    pub fn create_bucket(&self, bucket: &str) {
        self.buckets.lock().insert(bucket.to_string());
    }

    /// Forgets a bucket (its objects stay reachable; this is a load-test backend).
    pub fn delete_bucket(&self, bucket: &str) {
        self.buckets.lock().remove(bucket);
    }

    /// The buckets, sorted.
    pub fn buckets(&self) -> Vec<String> {
        self.buckets.lock().iter().cloned().collect()
    }

    /// Stores an object (creating its bucket if needed) and returns its ETag.
    pub fn put(&self, bucket: &str, key: &str, content: Content, parts: Option<usize>) -> Arc<str> {
        let full = format!("{bucket}/{key}");
        let tag: Arc<str> = etag(&full, content.len(), parts).into();
        let modified = now();
        let obj = Object {
            content,
            etag: tag.clone(),
            modified,
            last_modified: crate::http::http_date(modified).into(),
        };
        self.shard(&full).lock().insert(full, obj);
        if !self.buckets.lock().contains(bucket) {
            self.create_bucket(bucket);
        }
        tag
    }

    /// The object, if any (a cheap clone: the bytes are shared).
    pub fn get(&self, bucket: &str, key: &str) -> Option<Object> {
        let full = format!("{bucket}/{key}");
        self.shard(&full).lock().get(&full).cloned()
    }

    /// Removes an object (absent is fine).
    pub fn delete(&self, bucket: &str, key: &str) {
        let full = format!("{bucket}/{key}");
        self.shard(&full).lock().remove(&full);
    }

    /// Up to `max` objects of `bucket` whose keys start with `prefix` and sort after `after`,
    /// in key order, and whether more remain.
    pub fn list(&self, bucket: &str, prefix: &str, after: &str, max: usize) -> (Vec<(String, Object)>, bool) {
        let lead = format!("{bucket}/{prefix}");
        let skip = bucket.len() + 1;
        let mut found: Vec<(String, Object)> = Vec::new();
        for shard in &self.shards {
            let map = shard.lock();
            for (k, o) in map.iter() {
                if k.starts_with(&lead) && k[skip..] > *after {
                    found.push((k[skip..].to_string(), o.clone()));
                }
            }
        }
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let more = found.len() > max;
        found.truncate(max);
        (found, more)
    }

    /// Starts a multipart upload and returns its ID.
    pub fn create_upload(&self, bucket: &str, key: &str) -> String {
        let id = format!(
            "{:016x}",
            self.next_upload.fetch_add(1, Ordering::Relaxed) ^ 0x5a5a_0000_0000
        );
        let up = Upload {
            bucket: bucket.into(),
            key: key.into(),
            parts: BTreeMap::new(),
        };
        self.uploads.lock().insert(id.clone(), up);
        id
    }

    /// Stores part `n` of an upload and returns its ETag.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        n: u32,
        content: Content,
    ) -> Result<String, MultipartError> {
        let mut ups = self.uploads.lock();
        let up = ups
            .get_mut(id)
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or(MultipartError::NoSuchUpload)?;
        let tag = etag(&format!("{id}/{n}"), content.len(), None);
        up.parts.insert(n, content);
        Ok(tag)
    }

    /// Completes an upload from the listed part numbers (all parts in order when the list is
    /// empty) and returns the object's ETag.
    pub fn complete(&self, bucket: &str, key: &str, id: &str, listed: &[u32]) -> Result<Arc<str>, MultipartError> {
        let up = {
            let mut ups = self.uploads.lock();
            match ups.get(id) {
                Some(u) if u.bucket == bucket && u.key == key => {}
                _ => return Err(MultipartError::NoSuchUpload),
            }
            if listed
                .iter()
                .any(|n| !ups.get(id).is_some_and(|u| u.parts.contains_key(n)))
            {
                return Err(MultipartError::InvalidPart);
            }
            ups.remove(id).ok_or(MultipartError::NoSuchUpload)?
        };
        let chosen: Vec<&Content> = if listed.is_empty() {
            up.parts.values().collect()
        } else {
            listed.iter().filter_map(|n| up.parts.get(n)).collect()
        };
        let count = chosen.len();
        let content = if chosen.iter().all(|c| matches!(c, Content::Stored(_))) {
            let total: u64 = chosen.iter().map(|c| c.len()).sum();
            let mut all = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
            for c in &chosen {
                if let Content::Stored(b) = c {
                    all.extend_from_slice(b);
                }
            }
            Content::Stored(all.freeze())
        } else if chosen.iter().all(|c| matches!(c, Content::Generated(_))) {
            let segs: Vec<Segment> = chosen
                .iter()
                .flat_map(|c| match c {
                    Content::Generated(s) => s.to_vec(),
                    _ => Vec::new(),
                })
                .collect();
            Content::Generated(segs.into())
        } else {
            Content::Zeros(chosen.iter().map(|c| c.len()).sum())
        };
        Ok(self.put(bucket, key, content, Some(count)))
    }

    /// Drops an upload and its parts.
    pub fn abort(&self, id: &str) -> Result<(), MultipartError> {
        self.uploads
            .lock()
            .remove(id)
            .map(|_| ())
            .ok_or(MultipartError::NoSuchUpload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_listing() {
        let s = Store::new();
        for i in 0..10 {
            s.put("b", &format!("p/{i}"), Content::Zeros(i), None);
        }
        s.put("b", "q/x", Content::Stored(Bytes::from_static(b"hi")), None);
        s.put("c", "p/0", Content::Zeros(1), None);
        let (page, more) = s.list("b", "p/", "", 4);
        let keys: Vec<&str> = page.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!((keys, more), (vec!["p/0", "p/1", "p/2", "p/3"], true));
        let (page, more) = s.list("b", "p/", "p/7", 4);
        assert_eq!((page.len(), more), (2, false));
        assert_eq!(s.get("b", "q/x").map(|o| o.content.len()), Some(2));
        s.delete("b", "q/x");
        assert!(s.get("b", "q/x").is_none());
        assert_eq!(s.buckets(), vec!["b", "c"]);
        assert_eq!(etag("b/k", 1, None).len(), 34);
        assert_ne!(etag("b/k", 1, None), etag("b/k", 2, None));
    }

    #[test]
    fn multipart() {
        let s = Store::new();
        let id = s.create_upload("b", "k");
        assert!(s.put_part("b", "other", &id, 1, Content::Zeros(1)).is_err());
        s.put_part("b", "k", &id, 2, Content::Stored(Bytes::from_static(b"world")))
            .unwrap();
        s.put_part("b", "k", &id, 1, Content::Stored(Bytes::from_static(b"hello ")))
            .unwrap();
        assert_eq!(s.complete("b", "k", &id, &[1, 3]), Err(MultipartError::InvalidPart));
        let tag = s.complete("b", "k", &id, &[1, 2]).unwrap();
        assert!(tag.ends_with("-2\""));
        match s.get("b", "k").map(|o| o.content) {
            Some(Content::Stored(b)) => assert_eq!(&b[..], b"hello world"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.complete("b", "k", &id, &[]), Err(MultipartError::NoSuchUpload));
        let id = s.create_upload("b", "z");
        s.put_part("b", "z", &id, 1, Content::Zeros(7)).unwrap();
        assert!(s.abort(&id).is_ok());
        assert_eq!(s.abort(&id), Err(MultipartError::NoSuchUpload));
    }
}
