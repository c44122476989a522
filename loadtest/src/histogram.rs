//! A log-linear latency histogram in the style of HdrHistogram: values (nanoseconds) below 128
//! are counted exactly, and every power of two above is split into 128 equal sub-buckets, so a
//! recorded value is known to within 1/128 (< 0.8 %) of itself. Fixed size (about 36 KiB), no
//! allocation after creation, and two histograms merge by adding their counts, which is how the
//! per-thread histograms of a run are combined.

/// Sub-buckets per power of two, as a power of two: 2^7 = 128, a relative precision of 1/128.
const SUB_BITS: u32 = 7;
/// Sub-buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// The largest exponent kept: values from 2^41 ns (about 37 minutes) up are counted in the last
/// bucket, as no single request of a bounded run lasts that long.
const MAX_EXP: u32 = 40;
/// The number of buckets: the exact ones below `SUB` and `SUB` per octave up to `MAX_EXP`.
const BUCKETS: usize = (SUB + (MAX_EXP + 1 - SUB_BITS) as u64 * SUB) as usize;

/// Counts of values by log-linear bucket, plus the exact count, sum, min and max.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

/// The bucket of `v`.
fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = (63 - v.leading_zeros()).min(MAX_EXP);
    if exp == MAX_EXP && v >= 1 << (MAX_EXP + 1) {
        return BUCKETS - 1;
    }
    let mantissa = (v >> (exp - SUB_BITS)) & (SUB - 1);
    (SUB + u64::from(exp - SUB_BITS) * SUB + mantissa) as usize
}

/// The smallest value and the width of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let exp = (i - SUB) / SUB + u64::from(SUB_BITS);
    let mantissa = (i - SUB) % SUB;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    ((1u64 << exp) + mantissa * width, width)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exact smallest value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// The exact largest value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The exact mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` (0.5 for the median, 0.999 for p99.9): the value of rank
    /// `ceil(q * count)` in sorted order, to within its bucket's width (the middle of the bucket
    /// is returned, clamped to the exact min and max). 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, width) = bounds(i);
                return (lo + (width - 1) / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rank-`ceil(q*n)` value of a sorted vector: the oracle.
    fn oracle(sorted: &[u64], q: f64) -> u64 {
        let n = sorted.len() as u64;
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        sorted[(rank - 1) as usize]
    }

    fn close(got: u64, want: u64) -> bool {
        got.abs_diff(want) <= want / SUB + 1
    }

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut next = 0u64;
        for i in 0..BUCKETS - 1 {
            let (lo, w) = bounds(i);
            assert_eq!(lo, next, "bucket {i}");
            assert_eq!(index(lo), i);
            assert_eq!(index(lo + w - 1), i);
            assert!(w <= lo / SUB + 1);
            next = lo + w;
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_match_a_sorted_vector() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for case in 0..20 {
            let mut h = Histogram::new();
            let mut all = Vec::new();
            let n = 1 + case * 397;
            for _ in 0..n {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // Spread over 1 ns .. ~1 s, log-ish, as latencies are.
                let v = (rng % 1_000_000_000) >> (rng % 30);
                h.record(v);
                all.push(v);
            }
            all.sort_unstable();
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let (got, want) = (h.quantile(q), oracle(&all, q));
                assert!(close(got, want), "case {case} q {q}: got {got}, want {want}");
            }
            assert_eq!(h.min(), all[0]);
            assert_eq!(h.max(), all[all.len() - 1]);
            assert_eq!(h.count(), n);
        }
    }

    #[test]
    fn merging_equals_recording_everything() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..10_000u64 {
            let x = v * v;
            if v % 3 == 0 {
                a.record(x);
            } else {
                b.record(x);
            }
            all.record(x);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert!((a.mean() - all.mean()).abs() < 1e-9);
    }

    #[test]
    fn empty_and_exact_small_values() {
        let h = Histogram::new();
        assert_eq!((h.quantile(0.5), h.min(), h.max(), h.mean()), (0, 0, 0, 0.0));
        let mut h = Histogram::new();
        for v in [3, 1, 2] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 2);
        assert_eq!(h.quantile(1.0), 3);
        let mut h = Histogram::new();
        h.record(u64::MAX);
        assert_eq!(h.quantile(0.5), u64::MAX);
    }
}
