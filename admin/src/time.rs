//! RFC 3339 timestamps without a date library: [`Timestamp`] is milliseconds since the Unix epoch
//! and serializes as `2026-03-02T14:30:00Z` (whole seconds) or `2026-03-02T14:30:00.250Z`;
//! [`parse_rfc3339`] reads any RFC 3339 date-time (fraction and offset included) back into
//! milliseconds. The day arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    Timestamp::now().as_millis()
}

/// A point in time in milliseconds since the Unix epoch, serialized as an RFC 3339 UTC string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// A timestamp from whole seconds since the epoch.
    pub fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch as a float (the Prometheus timestamp convention).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// The RFC 3339 UTC form: seconds precision when the milliseconds are zero, else `.mmm`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / 1000;
        let ms = self.0 % 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
        if ms == 0 {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
        }
    }

    /// The `YYYY-MM` month this instant falls in (UTC), the usage period's format.
    pub fn year_month(self) -> String {
        let (y, m, _) = civil_from_days((self.0 / 86_400_000) as i64);
        format!("{y:04}-{m:02}")
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// [`parse_rfc3339`] for instants at or after the epoch, as unsigned milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    parse_rfc3339(s).and_then(|ms| u64::try_from(ms).ok())
}

/// Parses an RFC 3339 date-time (`2026-03-02T14:30:00Z`, `…00.5+01:00`) into milliseconds since
/// the epoch (negative before 1970). Returns `None` for anything else, including out-of-range
/// fields. Digits past milliseconds are truncated.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        for (n, c) in b[start..i].iter().take(3).enumerate() {
            ms += i64::from(c - b'0') * [100, 10, 1][n];
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec.min(59));
    Some((secs - offset_secs) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_secs(1_772_461_800).to_rfc3339(), "2026-03-02T14:30:00Z");
        assert_eq!(Timestamp(1_772_461_800_250).to_rfc3339(), "2026-03-02T14:30:00.250Z");
        assert_eq!(Timestamp::from_secs(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp::from_secs(1_772_461_800).year_month(), "2026-03");
        let json = serde_json::to_string(&Timestamp::from_secs(86_399)).unwrap_or_default();
        assert_eq!(json, "\"1970-01-01T23:59:59Z\"");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ms in [
            0,
            1_772_461_800_000,
            1_772_461_800_250,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            let s = Timestamp(ms).to_rfc3339();
            assert_eq!(parse_rfc3339(&s), Some(ms as i64), "{s}");
        }
        assert_eq!(parse_rfc3339("2026-03-02T15:30:00+01:00"), Some(1_772_461_800_000));
        assert_eq!(parse_rfc3339("2026-03-02t14:30:00.123456789z"), Some(1_772_461_800_123));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-03-02",
            "2026-03-02T14:30:00",
            "2026-13-02T14:30:00Z",
            "2026-02-30T14:30:00Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T14:30:00.Z",
            "2026-03-02T14:30:00+0100",
            "2026-03-02T14:30:00Zjunk",
            "2026-0a-02T14:30:00Z",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
