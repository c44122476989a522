//! Request rate limits: a token bucket per key (a client address for logins, anonymous S3 reads
//! and public shares; a session for `/api/*`). A bucket holds up to `burst` requests and refills
//! `requests` per `window_ms`; an empty one answers how long until the next token. Memory is bounded: at
//! [`RateLimiter::capacity`] keys, buckets that have refilled completely (and so carry no state
//! worth keeping) are dropped first, then the least recently used one. Thread-safe behind one
//! mutex: every user of it is already off the fast path (logins, API calls, anonymous reads).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use parking_lot::Mutex;

/// How many requests a key may make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained rate: this many requests (0 disables the limit)…
    pub requests: u32,
    /// …per this many milliseconds.
    pub window_ms: u64,
    /// Requests allowed at once before the rate applies.
    pub burst: u32,
}

impl RateLimit {
    /// `n` requests a minute, all of them at once if need be.
    pub fn per_minute(n: u32) -> RateLimit {
        RateLimit {
            requests: n,
            window_ms: 60_000,
            burst: n,
        }
    }

    /// `n` requests a second with a burst of twice that plus one (an anonymous reader's page
    /// load).
    pub fn per_second(n: u32) -> RateLimit {
        RateLimit {
            requests: n,
            window_ms: 1000,
            burst: n.saturating_mul(2).saturating_add(1),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

/// Token buckets per key.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: RateLimit,
    capacity: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

/// Most keys tracked by one limiter (about 48 bytes each).
pub const DEFAULT_CAPACITY: usize = 16_384;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter applying `limit` to each key, tracking at most [`DEFAULT_CAPACITY`] keys.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_capacity(limit, DEFAULT_CAPACITY)
    }

    /// A limiter tracking at most `capacity` keys.
    pub fn with_capacity(limit: RateLimit, capacity: usize) -> Self {
        RateLimiter {
            limit,
            capacity: capacity.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The limit applied.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one token for `key` at `now_ms`: `Ok` if the request may go on, else `Err` with the
    /// seconds until it may (at least 1).
    pub fn check(&self, key: &K, now_ms: u64) -> Result<(), u64> {
        if self.limit.requests == 0 || self.limit.window_ms == 0 {
            return Ok(());
        }
        let burst = f64::from(self.limit.burst.max(1));
        let per_ms = f64::from(self.limit.requests) / self.limit.window_ms as f64;
        let mut buckets = self.buckets.lock();
        if !buckets.contains_key(key) && buckets.len() >= self.capacity {
            Self::make_room(&mut buckets, burst, per_ms, now_ms);
        }
        let b = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            updated_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.updated_ms) as f64;
        b.tokens = (b.tokens + elapsed * per_ms).min(burst);
        b.updated_ms = b.updated_ms.max(now_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - b.tokens) / per_ms;
            Err(((wait_ms / 1000.0).ceil() as u64).max(1))
        }
    }

    /// Drops the buckets that are full again, or else the least recently used one.
    fn make_room(buckets: &mut HashMap<K, Bucket>, burst: f64, per_ms: f64, now_ms: u64) {
        let before = buckets.len();
        buckets.retain(|_, b| b.tokens + now_ms.saturating_sub(b.updated_ms) as f64 * per_ms < burst);
        if buckets.len() == before {
            if let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.updated_ms).map(|(k, _)| k.clone()) {
                buckets.remove(&oldest);
            }
        }
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().len()
    }
}

/// The key of a client address: itself for IPv4, its /64 for IPv6 (one host usually owns the
/// whole prefix).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let l = RateLimiter::new(RateLimit {
            requests: 60,
            window_ms: 60_000,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(l.check(&"a", 0), Ok(()));
        }
        assert_eq!(l.check(&"a", 0), Err(1));
        assert_eq!(l.check(&"b", 0), Ok(()), "keys are separate");
        assert_eq!(l.check(&"a", 999), Err(1));
        assert_eq!(l.check(&"a", 1000), Ok(()), "one token a second");
        assert_eq!(l.check(&"a", 1000), Err(1));
        let slow = RateLimiter::new(RateLimit::per_minute(1));
        assert_eq!(slow.check(&1, 0), Ok(()));
        assert_eq!(slow.check(&1, 0), Err(60));
        let off = RateLimiter::new(RateLimit::per_minute(0));
        assert!((0..1000).all(|_| off.check(&1, 0).is_ok()));
    }

    #[test]
    fn memory_is_bounded() {
        let l = RateLimiter::with_capacity(RateLimit::per_second(1), 4);
        for k in 0..100u32 {
            let _ = l.check(&k, u64::from(k));
        }
        assert!(l.tracked() <= 4);
        // A fresh key always gets its burst even when the table is full.
        assert_eq!(l.check(&1000, 100), Ok(()));
    }

    #[test]
    fn ipv6_by_prefix() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        let v4: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_key(v4), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
