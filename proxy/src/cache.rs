//! The object cache: whole bodies of small objects kept in memory, shared by every core, so a hot
//! object is served without a backend round trip. Entries are keyed by bucket, key, version and
//! ETag, and a GET always resolves the version from the metadata first: an overwritten or
//! deleted object can never be served from the cache, on any core or instance. Entries are also
//! dropped at once when this instance overwrites or deletes the key or moves its bytes, expire
//! after `ttl_secs`, and are evicted oldest first when a shard is over its share of
//! `max_total_bytes`.
//!
//! The map is split into [`SHARDS`] shards, each behind its own read-write lock, chosen by a hash
//! of bucket and key: a hit takes one shard's read lock, never a global one.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::RwLock;
use serde::Deserialize;

/// Shards of the map: enough that cores rarely meet on one lock.
pub const SHARDS: usize = 64;

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Whether GETs of small objects are served from memory.
    pub enabled: bool,
    /// Largest object kept, in bytes.
    pub max_object_bytes: u64,
    /// Memory the cache may hold in all, in bytes.
    pub max_total_bytes: u64,
    /// Seconds an entry lives.
    pub ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            max_object_bytes: 256 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            ttl_secs: 300,
        }
    }
}

impl CacheConfig {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        // Each shard holds its share of the total: an object must fit one share.
        let share = self.max_total_bytes / SHARDS as u64;
        if self.enabled && (self.max_object_bytes == 0 || self.max_object_bytes > share) {
            return Some(format!(
                "[cache] max_object_bytes must be above 0 and at most max_total_bytes / {SHARDS} ({share})"
            ));
        }
        if self.enabled && self.ttl_secs == 0 {
            return Some("[cache] ttl_secs must be at least 1".into());
        }
        None
    }
}

/// What identifies a cached body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    bucket: String,
    key: String,
    version: u64,
    etag: String,
}

struct Entry {
    body: Bytes,
    at: Instant,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Entry>,
    bytes: u64,
}

/// The cache (empty and inert when disabled).
pub struct ObjectCache {
    cfg: CacheConfig,
    shards: Vec<RwLock<Shard>>,
    bytes: AtomicU64,
}

impl std::fmt::Debug for ObjectCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCache")
            .field("enabled", &self.cfg.enabled)
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .finish()
    }
}

fn shard_of(bucket: &str, key: &str) -> usize {
    let mut h = DefaultHasher::new();
    (bucket, key).hash(&mut h);
    (h.finish() % SHARDS as u64) as usize
}

impl ObjectCache {
    /// A cache with these settings.
    pub fn new(cfg: CacheConfig) -> ObjectCache {
        ObjectCache {
            cfg,
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            bytes: AtomicU64::new(0),
        }
    }

    /// Whether an object of `size` bytes is kept.
    pub fn wants(&self, size: u64) -> bool {
        self.cfg.enabled && size <= self.cfg.max_object_bytes
    }

    /// The body of `version` (with `etag`) of `bucket`/`key`, if cached and fresh.
    pub fn get(&self, bucket: &str, key: &str, version: u64, etag: &str) -> Option<Bytes> {
        if !self.cfg.enabled {
            return None;
        }
        let shard = self.shards[shard_of(bucket, key)].read();
        let k = Key {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version,
            etag: etag.to_string(),
        };
        let e = shard.map.get(&k)?;
        (e.at.elapsed() < Duration::from_secs(self.cfg.ttl_secs)).then(|| e.body.clone())
    }

    /// Keeps `body` as `version` (with `etag`) of `bucket`/`key`, evicting the shard's oldest
    /// entries as needed; replaces the key's other versions.
    pub fn put(&self, bucket: &str, key: &str, version: u64, etag: &str, body: Bytes) {
        if !self.wants(body.len() as u64) {
            return;
        }
        let budget = self.cfg.max_total_bytes / SHARDS as u64;
        let mut shard = self.shards[shard_of(bucket, key)].write();
        let mut freed = 0u64;
        shard.map.retain(|k, e| {
            let keep = !(k.bucket == bucket && k.key == key);
            if !keep {
                freed += e.body.len() as u64;
            }
            keep
        });
        let size = body.len() as u64;
        while shard.bytes - freed + size > budget {
            let Some(oldest) = shard.map.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some(e) = shard.map.remove(&oldest) {
                freed += e.body.len() as u64;
            }
        }
        shard.bytes = shard.bytes - freed + size;
        let k = Key {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version,
            etag: etag.to_string(),
        };
        shard.map.insert(
            k,
            Entry {
                body,
                at: Instant::now(),
            },
        );
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// Drops every cached version of `bucket`/`key` (it was overwritten, deleted, or its bytes
    /// moved).
    pub fn forget(&self, bucket: &str, key: &str) {
        if !self.cfg.enabled {
            return;
        }
        let mut shard = self.shards[shard_of(bucket, key)].write();
        let mut freed = 0u64;
        shard.map.retain(|k, e| {
            let keep = !(k.bucket == bucket && k.key == key);
            if !keep {
                freed += e.body.len() as u64;
            }
            keep
        });
        shard.bytes -= freed;
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(total: u64) -> ObjectCache {
        ObjectCache::new(CacheConfig {
            enabled: true,
            max_object_bytes: 10,
            max_total_bytes: total,
            ttl_secs: 60,
        })
    }

    #[test]
    fn entries_are_found_by_version_and_etag_only_and_forgotten_with_their_key() {
        let c = cache(1 << 20);
        c.put("b", "k", 1, "\"e1\"", Bytes::from_static(b"one"));
        assert_eq!(c.get("b", "k", 1, "\"e1\"").as_deref(), Some(&b"one"[..]));
        assert_eq!(c.get("b", "k", 2, "\"e1\""), None);
        assert_eq!(c.get("b", "k", 1, "\"e2\""), None);
        // A newer version replaces the older one.
        c.put("b", "k", 2, "\"e2\"", Bytes::from_static(b"two"));
        assert_eq!(c.get("b", "k", 1, "\"e1\""), None);
        assert_eq!(c.bytes(), 3);
        c.forget("b", "k");
        assert_eq!(c.get("b", "k", 2, "\"e2\""), None);
        assert_eq!(c.bytes(), 0);
        // Too large to keep.
        c.put("b", "big", 1, "e", Bytes::from(vec![0u8; 11]));
        assert_eq!(c.get("b", "big", 1, "e"), None);
    }

    #[test]
    fn a_full_shard_evicts_its_oldest_entries() {
        // 64 shards of 10 bytes: keys of one shard evict each other.
        let c = cache(640);
        let keys: Vec<String> = (0..1000)
            .map(|i| format!("k{i}"))
            .filter(|k| shard_of("b", k) == 0)
            .take(3)
            .collect();
        for (i, k) in keys.iter().enumerate() {
            c.put("b", k, 1, "e", Bytes::from(vec![i as u8; 6]));
        }
        assert_eq!(c.get("b", &keys[0], 1, "e"), None);
        assert_eq!(c.get("b", &keys[1], 1, "e"), None);
        assert!(c.get("b", &keys[2], 1, "e").is_some());
        assert!(c.bytes() <= 10);
    }
}
