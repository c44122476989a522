//! What a run measures, per operation type: successful count, errors by status code (0 for a
//! network error or timeout), bytes moved, and latency and time-to-first-byte histograms. Each
//! thread fills its own [`Stats`]; they are merged when the threads finish.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::histogram::Histogram;

/// The operation types a run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// GetObject (whole body read).
    Get,
    /// PutObject.
    Put,
    /// HeadObject.
    Head,
    /// DeleteObject.
    Delete,
    /// ListObjectsV2, one page.
    List,
    /// A whole multipart upload: create, parts, complete.
    Multipart,
    /// CreateMultipartUpload (part of [`OpKind::Multipart`]).
    MpuCreate,
    /// UploadPart (part of [`OpKind::Multipart`]).
    MpuPart,
    /// CompleteMultipartUpload (part of [`OpKind::Multipart`]).
    MpuComplete,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 9] = [
        OpKind::Get,
        OpKind::Put,
        OpKind::Head,
        OpKind::Delete,
        OpKind::List,
        OpKind::Multipart,
        OpKind::MpuCreate,
        OpKind::MpuPart,
        OpKind::MpuComplete,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "GET",
            OpKind::Put => "PUT",
            OpKind::Head => "HEAD",
            OpKind::Delete => "DELETE",
            OpKind::List => "LIST",
            OpKind::Multipart => "MULTIPART",
            OpKind::MpuCreate => "MPU-CREATE",
            OpKind::MpuPart => "MPU-PART",
            OpKind::MpuComplete => "MPU-COMPLETE",
        }
    }

    /// Whether this is a step of a bigger operation (left out of the totals).
    pub fn is_step(self) -> bool {
        matches!(self, OpKind::MpuCreate | OpKind::MpuPart | OpKind::MpuComplete)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The numbers of one operation type.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Successful operations.
    pub count: u64,
    /// Failed operations by status code (0: network error or timeout).
    pub errors: BTreeMap<u16, u64>,
    /// Payload bytes of successful operations (body sent or received).
    pub bytes: u64,
    /// Request start to last response byte, nanoseconds.
    pub latency: Histogram,
    /// Request start to first response byte, nanoseconds.
    pub ttfb: Histogram,
}

impl OpStats {
    /// Failed operations.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds `other`.
    pub fn merge(&mut self, other: &OpStats) {
        self.count += other.count;
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_default() += v;
        }
        self.bytes += other.bytes;
        self.latency.merge(&other.latency);
        self.ttfb.merge(&other.ttfb);
    }
}

/// One thread's (or, merged, the whole run's) measurements.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    ops: Vec<OpStats>,
    /// The first error seen, described, for the report.
    pub first_error: Option<String>,
    /// When measuring started (end of warm-up).
    pub window_start: Option<Instant>,
    /// When the last measured operation finished.
    pub window_end: Option<Instant>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Stats {
    /// Empty stats.
    pub fn new() -> Stats {
        Stats {
            ops: vec![OpStats::default(); OpKind::ALL.len()],
            ..Stats::default()
        }
    }

    /// The numbers of `kind`.
    pub fn op(&self, kind: OpKind) -> &OpStats {
        &self.ops[kind.index()]
    }

    /// Records a success.
    pub fn success(&mut self, kind: OpKind, bytes: u64, started: Instant, first_byte: Instant, done: Instant) {
        let s = &mut self.ops[kind.index()];
        s.count += 1;
        s.bytes += bytes;
        s.latency.record(nanos(done.saturating_duration_since(started)));
        s.ttfb.record(nanos(first_byte.saturating_duration_since(started)));
        self.window_end = Some(self.window_end.map_or(done, |e| e.max(done)));
    }

    /// Records a failure with `status` (0: network) and a description.
    pub fn failure(&mut self, kind: OpKind, status: u16, what: impl FnOnce() -> String, done: Instant) {
        *self.ops[kind.index()].errors.entry(status).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {}", kind.name(), what()));
        }
        self.window_end = Some(self.window_end.map_or(done, |e| e.max(done)));
    }

    /// Adds `other`.
    pub fn merge(&mut self, other: &Stats) {
        if self.ops.is_empty() {
            self.ops = vec![OpStats::default(); OpKind::ALL.len()];
        }
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            a.merge(b);
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.window_start = match (self.window_start, other.window_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.window_end = match (self.window_end, other.window_end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// The measured time: warm-up end to the last operation's end.
    pub fn elapsed(&self) -> Duration {
        match (self.window_start, self.window_end) {
            (Some(s), Some(e)) => e.saturating_duration_since(s),
            _ => Duration::ZERO,
        }
    }

    /// The top-level operations merged (steps of multipart uploads left out).
    pub fn total(&self) -> OpStats {
        let mut t = OpStats::default();
        for k in OpKind::ALL.iter().filter(|k| !k.is_step()) {
            t.merge(self.op(*k));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut a = Stats::new();
        a.window_start = Some(t0);
        a.success(OpKind::Get, 100, t0, ms(1), ms(2));
        a.failure(OpKind::Get, 404, || "404 NoSuchKey".into(), ms(3));
        let mut b = Stats::new();
        b.window_start = Some(ms(1));
        b.success(OpKind::Put, 50, ms(1), ms(5), ms(10));
        b.success(OpKind::MpuPart, 50, ms(1), ms(5), ms(10));
        b.failure(OpKind::Put, 0, || "timed out".into(), ms(4));
        let mut all = Stats::default();
        all.merge(&a);
        all.merge(&b);
        assert_eq!(all.elapsed(), Duration::from_millis(10));
        assert_eq!(all.op(OpKind::Get).count, 1);
        assert_eq!(all.op(OpKind::Get).errors.get(&404), Some(&1));
        assert_eq!(all.first_error.as_deref(), Some("GET: 404 NoSuchKey"));
        let t = all.total();
        assert_eq!(
            (t.count, t.error_count(), t.bytes),
            (2, 2, 150),
            "steps are not in the total"
        );
        assert_eq!(all.op(OpKind::Put).latency.quantile(0.5), 9_000_000);
        assert_eq!(all.op(OpKind::Put).ttfb.quantile(0.5), 4_000_000);
    }
}
