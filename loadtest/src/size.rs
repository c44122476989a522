//! Parsing and printing of the quantities on the command line: byte sizes (`4KiB`, `1MiB`,
//! `64MiB`, `10KB`, `123`), size ranges (`1KiB-1MiB`) and durations (`10s`, `500ms`, `2m`).
//! Binary suffixes (`KiB`, `MiB`, `GiB`, also `K`, `M`, `G`) are powers of 1024, decimal ones
//! (`KB`, `MB`, `GB`) powers of 1000, as warp and the AWS tools read them.

use std::time::Duration;

use thiserror::Error;

/// A size or duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The text is not a number followed by a known unit.
    #[error("cannot read {0:?}: expected a number and a unit such as 4KiB, 1MiB, 10s")]
    Malformed(String),
    /// The number does not fit.
    #[error("{0:?} is too large")]
    Overflow(String),
    /// A range whose lower end is above its upper end, or that starts at zero.
    #[error("size range {0:?} must be MIN-MAX with 0 < MIN <= MAX")]
    BadRange(String),
}

/// The object sizes a run writes: one size, or sizes spread log-uniformly over a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    /// Every object has this many bytes.
    Fixed(u64),
    /// Sizes drawn log-uniformly from `min..=max` (as many small as large octaves, like warp).
    Range {
        /// Smallest size.
        min: u64,
        /// Largest size.
        max: u64,
    },
}

impl SizeSpec {
    /// The largest size this spec can produce.
    pub fn max(&self) -> u64 {
        match *self {
            SizeSpec::Fixed(s) => s,
            SizeSpec::Range { max, .. } => max,
        }
    }

    /// A size for the uniform random number `r` in `[0, 1)`.
    pub fn pick(&self, r: f64) -> u64 {
        match *self {
            SizeSpec::Fixed(s) => s,
            SizeSpec::Range { min, max } => {
                let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
                let v = (lo + (hi - lo) * r.clamp(0.0, 1.0)).exp().round() as u64;
                v.clamp(min, max)
            }
        }
    }
}

impl std::fmt::Display for SizeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SizeSpec::Fixed(s) => f.write_str(&format_size(s)),
            SizeSpec::Range { min, max } => write!(f, "{}-{}", format_size(min), format_size(max)),
        }
    }
}

/// Parses a byte size: a whole number with an optional unit (`B`, `KiB`, `MiB`, `GiB`, `TiB`,
/// `K`, `M`, `G`, `KB`, `MB`, `GB`, `TB`; case-insensitive).
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(ParseError::Malformed(text.into()));
    }
    let n: u64 = num.parse().map_err(|_| ParseError::Overflow(text.into()))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" => 1 << 10,
        "m" | "mi" | "mib" => 1 << 20,
        "g" | "gi" | "gib" => 1 << 30,
        "t" | "ti" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(ParseError::Malformed(text.into())),
    };
    n.checked_mul(mult).ok_or_else(|| ParseError::Overflow(text.into()))
}

/// Parses `MIN-MAX` (each a [`parse_size`]); `MIN` must be positive and not above `MAX`.
pub fn parse_size_range(text: &str) -> Result<SizeSpec, ParseError> {
    let (a, b) = text.split_once('-').ok_or_else(|| ParseError::Malformed(text.into()))?;
    let (min, max) = (parse_size(a)?, parse_size(b)?);
    if min == 0 || min > max {
        return Err(ParseError::BadRange(text.into()));
    }
    Ok(if min == max {
        SizeSpec::Fixed(min)
    } else {
        SizeSpec::Range { min, max }
    })
}

/// Parses a duration: a number (fractions allowed) with `ms`, `s`, `m` or `h`; a bare number is
/// seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| ParseError::Malformed(text.into()))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(ParseError::Malformed(text.into())),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(ParseError::Overflow(text.into()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A size in the largest binary unit that keeps it whole (`4KiB`, `1MiB`, `1500B`).
pub fn format_size(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (m, u) in UNITS {
        if n >= m && n % m == 0 {
            return format!("{}{u}", n / m);
        }
    }
    format!("{n}B")
}

/// A duration for humans (`850us`, `12.3ms`, `1.20s`).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000_000 {
        format!("{}us", ns / 1000)
    } else if ns < 100_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("10KB"), Ok(10_000));
        assert_eq!(parse_size("1500"), Ok(1500));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(" 7 B "), Ok(7));
        for bad in ["", "KiB", "4XB", "-1", "1.5MiB", "4 KiBs"] {
            assert!(matches!(parse_size(bad), Err(ParseError::Malformed(_))), "{bad}");
        }
        assert!(matches!(
            parse_size("99999999999999999999"),
            Err(ParseError::Overflow(_))
        ));
        assert!(matches!(parse_size("16777216TiB"), Err(ParseError::Overflow(_))));
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_size_range("1KiB-1MiB"),
            Ok(SizeSpec::Range {
                min: 1024,
                max: 1 << 20
            })
        );
        assert_eq!(parse_size_range("4KiB-4KiB"), Ok(SizeSpec::Fixed(4096)));
        assert!(matches!(parse_size_range("1MiB-1KiB"), Err(ParseError::BadRange(_))));
        assert!(matches!(parse_size_range("0-1KiB"), Err(ParseError::BadRange(_))));
        assert!(matches!(parse_size_range("1KiB"), Err(ParseError::Malformed(_))));
        assert!(parse_size_range("1KiB-x").is_err());
    }

    #[test]
    fn picks_stay_in_range_and_spread_by_octave() {
        let spec = SizeSpec::Range {
            min: 1024,
            max: 1 << 20,
        };
        assert_eq!(spec.pick(0.0), 1024);
        assert_eq!(spec.pick(1.0), 1 << 20);
        // Log-uniform: the middle of [0,1) lands on the geometric mean, 32 KiB.
        assert_eq!(spec.pick(0.5), 32 * 1024);
        assert_eq!(SizeSpec::Fixed(5).pick(0.3), 5);
        assert_eq!(spec.to_string(), "1KiB-1MiB");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "s", "10 parsecs", "1e99", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_size(4096), "4KiB");
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1500), "1500B");
        assert_eq!(format_duration(Duration::from_micros(850)), "850us");
        assert_eq!(format_duration(Duration::from_micros(12_345)), "12.35ms");
        assert_eq!(format_duration(Duration::from_millis(1200)), "1.20s");
    }
}
