//! The rules every engine applies the same way: which names it accepts, how a version's bytes are
//! named on a backend (the *physical key*), how long replaced bytes wait before cleanup and how
//! failed cleanups back off. The conformance suite checks engines against these.

use crate::error::{Result, StoreError};

/// Most parts an upload may have (S3's limit); part numbers run from 1 to this.
pub const MAX_PARTS: u32 = 10_000;

/// Delay before the bytes of a replaced or deleted version may be deleted: a GET that read the old
/// metadata just before the commit still finds its bytes.
pub const CLEANUP_GRACE_MS: u64 = 60_000;

/// Delay before the first retry: transient backend errors usually clear within seconds.
pub const CLEANUP_BACKOFF_BASE_MS: u64 = 1_000;

/// Longest delay between retries: a backend that is down for days is still retried hourly.
pub const CLEANUP_BACKOFF_CAP_MS: u64 = 3_600_000;

/// Hex digits of the key hash in a physical key: 64 bits spread keys over a backend's
/// namespace; uniqueness comes from the version, not from the hash.
const PHYSICAL_HASH_HEX: usize = 16;

/// The delay before the attempt that follows `attempts` failures of a cleanup task: the base
/// doubled per failure after the first, capped.
pub fn backoff_ms(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(63);
    CLEANUP_BACKOFF_BASE_MS
        .saturating_mul(1u64 << doublings)
        .min(CLEANUP_BACKOFF_CAP_MS)
}

/// Checks that a bucket name is one every engine can hold (non-empty, no NUL). Full S3 naming
/// rules are the proxy's business.
pub(crate) fn check_bucket_name(bucket: &str) -> Result<()> {
    if bucket.is_empty() || bucket.as_bytes().contains(&0) {
        return Err(StoreError::InvalidBucketName(bucket.to_owned()));
    }
    Ok(())
}

/// Checks that a usage period is `YYYY-MM` (month 01 to 12).
pub(crate) fn check_period(period: &str) -> Result<()> {
    let b = period.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let month = period.get(5..).and_then(|m| m.parse::<u8>().ok());
    if b.len() == 7 && digits(0..4) && b[4] == b'-' && digits(5..7) && month.is_some_and(|m| (1..=12).contains(&m)) {
        Ok(())
    } else {
        Err(StoreError::InvalidPeriod(period.to_owned()))
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 if the clock is before 1970).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None` when
/// no such string exists (the prefix is empty or all `0xff`).
pub(crate) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < u8::MAX {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// If `key` (which starts with `prefix`) rolls up under `delimiter`, the length of its common
/// prefix: up to and including the first delimiter after the prefix.
pub(crate) fn rollup_end(key: &str, prefix: &str, delimiter: &str) -> Option<usize> {
    let rest = key.strip_prefix(prefix)?;
    rest.find(delimiter).map(|pos| prefix.len() + pos + delimiter.len())
}

/// 64-bit FNV-1a: a stable, dependency-free hash to spread physical keys.
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

/// A fresh physical key for version `version` of `bucket`/`key`:
/// `{bucket}/{h[0..2]}/{h}-{version:016x}` where `h` is the 16-hex-digit FNV-1a hash of
/// `bucket 0x00 key`.
///
/// The key is unique per version because versions are unique per store (see
/// [`Engine::next_version`](crate::Engine::next_version)), so cleaning up an old version can never
/// touch a newer one of the same name. It is at most 63 + 37 bytes whatever the object key, uses
/// only `[a-z0-9.-/]` (safe on every S3 backend), and the two-digit directory spreads objects for
/// backends that shard by prefix. The logical bucket and key are not recoverable from it: the proxy
/// stores them as metadata on the backend object so a lost index can be rebuilt.
pub fn physical_key_for(bucket: &str, key: &str, version: u64) -> String {
    let h = fnv1a64(&[bucket.as_bytes(), &[0], key.as_bytes()]);
    let hex = format!("{h:0width$x}", width = PHYSICAL_HASH_HEX);
    let dir = hex.get(..2).unwrap_or("00");
    format!("{bucket}/{dir}/{hex}-{version:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(0), CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(1), CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(2), 2 * CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(5), 16 * CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(30), CLEANUP_BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(u32::MAX), CLEANUP_BACKOFF_CAP_MS);
    }

    #[test]
    fn bucket_names_with_nul_or_empty_are_refused() {
        assert!(check_bucket_name("ok-bucket").is_ok());
        assert!(matches!(check_bucket_name(""), Err(StoreError::InvalidBucketName(_))));
        assert!(matches!(
            check_bucket_name("a\0b"),
            Err(StoreError::InvalidBucketName(_))
        ));
    }

    #[test]
    fn periods_are_year_dash_month() {
        for ok in ["2024-01", "2024-12", "0000-09"] {
            assert!(check_period(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2024-00",
            "2024-13",
            "2024-1",
            "24-01",
            "2024/01",
            "2024-01-01",
            "",
            "２０２４-01",
            "2024-+1",
        ] {
            assert!(matches!(check_period(bad), Err(StoreError::InvalidPeriod(_))), "{bad}");
        }
    }

    #[test]
    fn physical_keys_are_unique_per_version_bounded_and_stable() {
        let a = physical_key_for("bkt", "photos/cat.jpg", 1);
        let b = physical_key_for("bkt", "photos/cat.jpg", 2);
        assert_ne!(a, b);
        assert_eq!(a, physical_key_for("bkt", "photos/cat.jpg", 1));
        assert_ne!(a, physical_key_for("bkt", "photos/dog.jpg", 1));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(physical_key_for("ab", "c", 1), physical_key_for("a", "bc", 1));
        let long = "k/".repeat(600);
        let p = physical_key_for("bkt", &long, u64::MAX);
        assert_eq!(p.len(), "bkt/".len() + 2 + 1 + 16 + 1 + 16);
        assert!(p.ends_with("-ffffffffffffffff"));
        let parts: Vec<&str> = p.split('/').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[2].starts_with(parts[1]));
        // Pinned so a change to the naming is a deliberate one.
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            physical_key_for("bkt", "photos/cat.jpg", 1),
            format!("bkt/{}/{}-0000000000000001", &a[4..6], &a[7..23])
        );
    }
}
