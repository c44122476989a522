//! Login lockout: per client address, [`LockoutPolicy::max_failures`] failed logins within
//! [`LockoutPolicy::window_ms`] lock that address out for [`LockoutPolicy::lock_ms`]; a success
//! clears its record. IPv6 peers are keyed by their /64, since one host usually owns the whole
//! prefix. Memory is bounded: at [`LockoutPolicy::capacity`] addresses, records that no longer
//! matter are dropped first, then the least recently seen one (an attacker spraying addresses
//! can thus age out a lock, but never grow the table). The key is the TCP peer address; behind a
//! reverse proxy every client shares one record.

use std::collections::HashMap;
use std::net::IpAddr;

/// When repeated failed logins lock an address out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within the window that trigger a lock.
    pub max_failures: u32,
    /// The window failures are counted in, in milliseconds.
    pub window_ms: u64,
    /// How long a lock lasts, in milliseconds.
    pub lock_ms: u64,
    /// Most addresses tracked at once (bounds memory at roughly 64 bytes each).
    pub capacity: usize,
}

impl Default for LockoutPolicy {
    /// 5 failures in 15 minutes lock the address for 15 minutes; 4,096 addresses tracked.
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            window_ms: 15 * 60_000,
            lock_ms: 15 * 60_000,
            capacity: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: u64,
    locked_until: u64,
    last_seen: u64,
}

/// The table of recent login failures per address.
#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    records: HashMap<IpAddr, Record>,
}

/// The table key: the address itself for IPv4, its /64 for IPv6.
fn key(ip: IpAddr) -> IpAddr {
    crate::access::ratelimit::ip_key(ip)
}

impl Lockout {
    /// An empty table under `policy`.
    pub fn new(policy: LockoutPolicy) -> Self {
        Lockout {
            policy,
            records: HashMap::new(),
        }
    }

    /// Milliseconds until `ip` may try again, or `None` when it is not locked at `now` (ms).
    pub fn locked(&self, ip: IpAddr, now: u64) -> Option<u64> {
        self.records
            .get(&key(ip))
            .filter(|r| r.locked_until > now)
            .map(|r| r.locked_until - now)
    }

    /// Records a failed login; returns true when this failure locked the address.
    pub fn failure(&mut self, ip: IpAddr, now: u64) -> bool {
        let k = key(ip);
        if !self.records.contains_key(&k) && self.records.len() >= self.policy.capacity {
            self.make_room(now);
        }
        let p = self.policy;
        let r = self.records.entry(k).or_insert(Record {
            failures: 0,
            window_start: now,
            locked_until: 0,
            last_seen: now,
        });
        r.last_seen = now;
        if now.saturating_sub(r.window_start) >= p.window_ms {
            r.failures = 0;
            r.window_start = now;
        }
        r.failures += 1;
        if r.failures >= p.max_failures {
            r.failures = 0;
            r.window_start = now;
            r.locked_until = now + p.lock_ms;
            true
        } else {
            false
        }
    }

    /// Records a successful login: the address's record is forgotten.
    pub fn success(&mut self, ip: IpAddr) {
        self.records.remove(&key(ip));
    }

    /// Number of addresses tracked.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Frees at least one slot: drop records whose window and lock are over, else the least
    /// recently seen.
    fn make_room(&mut self, now: u64) {
        let window = self.policy.window_ms;
        self.records
            .retain(|_, r| r.locked_until > now || now.saturating_sub(r.window_start) < window);
        if self.records.len() >= self.policy.capacity {
            if let Some(oldest) = self.records.iter().min_by_key(|(_, r)| r.last_seen).map(|(k, _)| *k) {
                self.records.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn five_failures_lock_and_expire() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..4 {
            assert!(!l.failure(ip(1), i * MIN));
            assert_eq!(l.locked(ip(1), i * MIN), None);
        }
        assert!(l.failure(ip(1), 4 * MIN));
        assert_eq!(l.locked(ip(1), 4 * MIN), Some(15 * MIN));
        assert_eq!(l.locked(ip(1), 10 * MIN), Some(9 * MIN));
        assert_eq!(l.locked(ip(2), 10 * MIN), None, "other addresses are not locked");
        assert_eq!(l.locked(ip(1), 19 * MIN), None, "the lock ends");
        // After the lock, a fresh window: one failure does not relock.
        assert!(!l.failure(ip(1), 20 * MIN));
        assert_eq!(l.locked(ip(1), 20 * MIN), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..4 {
            l.failure(ip(1), i * MIN);
        }
        assert!(!l.failure(ip(1), 16 * MIN), "the window restarted");
        assert_eq!(l.locked(ip(1), 16 * MIN), None);
    }

    #[test]
    fn success_resets() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..4 {
            l.failure(ip(1), i);
        }
        l.success(ip(1));
        assert!(l.is_empty());
        for i in 0..4 {
            assert!(!l.failure(ip(1), 10 + i));
        }
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        for i in 0..5 {
            l.failure(if i % 2 == 0 { a } else { b }, i);
        }
        assert!(l.locked(a, 5).is_some());
        assert!(l.locked(b, 5).is_some());
        assert!(l.locked(c, 5).is_none());
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        l.failure(ip(1), 0);
        l.failure(mapped, 0);
        assert_eq!(l.len(), 2, "a v4-mapped v6 peer shares the v4 record");
    }

    #[test]
    fn memory_is_bounded() {
        let policy = LockoutPolicy {
            capacity: 8,
            ..LockoutPolicy::default()
        };
        let mut l = Lockout::new(policy);
        for n in 0..200u8 {
            l.failure(ip(n), u64::from(n));
            assert!(l.len() <= 8);
        }
        // Stale records go first: after the window, new addresses replace them all.
        for n in 0..8u8 {
            l.failure(IpAddr::from([192, 168, 0, n]), 16 * MIN + u64::from(n));
        }
        assert!((0..8u8).all(|n| l.records.contains_key(&IpAddr::from([192, 168, 0, n]))));
    }
}
