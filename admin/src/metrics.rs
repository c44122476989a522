//! A small writer of the Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
//! lines once per family, samples with escaped label values, and histograms as cumulative
//! `_bucket{le="…"}` lines ending in `+Inf`, then `_sum` and `_count`. Metric names carry the
//! `s3o_` prefix by convention. [`write_worker_metrics`] renders the background workers' health as
//! `s3o_worker_*` families so alerting need not scrape `/admin/api/workers`.

use std::fmt::Write;

use crate::control::WorkerHealth;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonically increasing count (`_total` by convention).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted into buckets.
    Histogram,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// A sample value: integers print exactly, floats in Prometheus's spelling (`+Inf`, `NaN`).
pub trait MetricValue {
    /// Appends the value's text to `out`.
    fn write_to(&self, out: &mut String);
}

impl MetricValue for u64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl MetricValue for i64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl MetricValue for f64 {
    fn write_to(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

/// One histogram's state: cumulative counts per upper bound (ascending, without `+Inf`), the sum
/// of observations and their count (the `+Inf` bucket).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(upper bound, observations ≤ bound)`, bounds ascending, counts cumulative.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// Accumulates one exposition document.
#[derive(Debug, Default)]
pub struct MetricsWriter {
    out: String,
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Whether `name` is a valid metric (`label == false`) or label name.
fn valid_name(name: &str, label: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (!label && c == ':'));
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (!label && c == ':'))
}

impl MetricsWriter {
    /// An empty document.
    pub fn new() -> Self {
        MetricsWriter::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. Call once per name, before its samples.
    pub fn family(&mut self, name: &str, help: &str, kind: MetricKind) -> &mut Self {
        debug_assert!(valid_name(name, false), "bad metric name {name}");
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(help, &mut self.out);
        let _ = writeln!(self.out, "\n# TYPE {name} {}", kind.as_str());
        self
    }

    /// Starts a counter family.
    pub fn counter(&mut self, name: &str, help: &str) -> &mut Self {
        self.family(name, help, MetricKind::Counter)
    }

    /// Starts a gauge family.
    pub fn gauge(&mut self, name: &str, help: &str) -> &mut Self {
        self.family(name, help, MetricKind::Gauge)
    }

    /// Starts a histogram family.
    pub fn histogram(&mut self, name: &str, help: &str) -> &mut Self {
        self.family(name, help, MetricKind::Histogram)
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<f64>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            debug_assert!(valid_name(k, true), "bad label name {k}");
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_label(v, &mut self.out);
            self.out.push('"');
        }
        if let Some(le) = le {
            if !labels.is_empty() {
                self.out.push(',');
            }
            self.out.push_str("le=\"");
            le.write_to(&mut self.out);
            self.out.push('"');
        }
        self.out.push('}');
    }

    /// One sample line of a counter or gauge family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl MetricValue) -> &mut Self {
        self.out.push_str(name);
        self.labels(labels, None);
        self.out.push(' ');
        value.write_to(&mut self.out);
        self.out.push('\n');
        self
    }

    /// One histogram's lines: `name_bucket` per bound plus `+Inf`, `name_sum`, `name_count`.
    pub fn histogram_sample(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) -> &mut Self {
        let bucket = format!("{name}_bucket");
        for &(le, n) in h.buckets.iter().chain(std::iter::once(&(f64::INFINITY, h.count))) {
            self.out.push_str(&bucket);
            self.labels(labels, Some(le));
            let _ = writeln!(self.out, " {n}");
        }
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count)
    }

    /// Appends text already in the exposition format (e.g. from another writer).
    pub fn raw(&mut self, text: &str) -> &mut Self {
        self.out.push_str(text);
        self
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Writes `s3o_worker_last_success_timestamp_seconds` (omitted for a worker that never
/// succeeded), `s3o_worker_consecutive_failures` and `s3o_worker_ticks_total`, labelled
/// `worker="<name>"`.
pub fn write_worker_metrics(w: &mut MetricsWriter, workers: &[WorkerHealth]) {
    w.gauge(
        "s3o_worker_last_success_timestamp_seconds",
        "Unix time of the worker's last successful tick.",
    );
    for h in workers {
        if let Some(t) = h.last_success {
            w.sample(
                "s3o_worker_last_success_timestamp_seconds",
                &[("worker", &h.name)],
                t.as_secs_f64(),
            );
        }
    }
    w.gauge(
        "s3o_worker_consecutive_failures",
        "Back-to-back failed ticks since the last success.",
    );
    for h in workers {
        w.sample(
            "s3o_worker_consecutive_failures",
            &[("worker", &h.name)],
            h.consecutive_failures,
        );
    }
    w.counter("s3o_worker_ticks_total", "Ticks the worker has run.");
    for h in workers {
        w.sample("s3o_worker_ticks_total", &[("worker", &h.name)], h.ticks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn counters_gauges_and_escaping() {
        let mut w = MetricsWriter::new();
        w.counter("s3o_requests_total", "Requests served.\nBy op \\ status.")
            .sample("s3o_requests_total", &[("op", "GetObject"), ("status", "200")], 1027u64)
            .sample("s3o_requests_total", &[("op", "weird \"op\"\\\n")], 3u64);
        w.gauge("s3o_up", "Whether we are up.").sample("s3o_up", &[], 1u64);
        w.gauge("s3o_ratio", "A float.")
            .sample("s3o_ratio", &[], 0.25)
            .sample("s3o_ratio", &[("k", "nan")], f64::NAN);
        w.gauge("s3o_temp", "Signed.").sample("s3o_temp", &[], -3i64).sample(
            "s3o_temp",
            &[("x", "y")],
            f64::NEG_INFINITY,
        );
        let want = "\
# HELP s3o_requests_total Requests served.\\nBy op \\\\ status.
# TYPE s3o_requests_total counter
s3o_requests_total{op=\"GetObject\",status=\"200\"} 1027
s3o_requests_total{op=\"weird \\\"op\\\"\\\\\\n\"} 3
# HELP s3o_up Whether we are up.
# TYPE s3o_up gauge
s3o_up 1
# HELP s3o_ratio A float.
# TYPE s3o_ratio gauge
s3o_ratio 0.25
s3o_ratio{k=\"nan\"} NaN
# HELP s3o_temp Signed.
# TYPE s3o_temp gauge
s3o_temp -3
s3o_temp{x=\"y\"} -Inf
";
        assert_eq!(w.finish(), want);
    }

    #[test]
    fn histograms() {
        let h = Histogram {
            buckets: vec![(0.005, 1), (0.1, 4), (1.0, 6)],
            sum: 2.5,
            count: 7,
        };
        let mut w = MetricsWriter::new();
        w.histogram("s3o_request_duration_seconds", "Request latency.")
            .histogram_sample("s3o_request_duration_seconds", &[("op", "PutObject")], &h)
            .histogram_sample(
                "s3o_request_duration_seconds",
                &[],
                &Histogram {
                    buckets: vec![],
                    sum: 0.0,
                    count: 0,
                },
            );
        let want = "\
# HELP s3o_request_duration_seconds Request latency.
# TYPE s3o_request_duration_seconds histogram
s3o_request_duration_seconds_bucket{op=\"PutObject\",le=\"0.005\"} 1
s3o_request_duration_seconds_bucket{op=\"PutObject\",le=\"0.1\"} 4
s3o_request_duration_seconds_bucket{op=\"PutObject\",le=\"1\"} 6
s3o_request_duration_seconds_bucket{op=\"PutObject\",le=\"+Inf\"} 7
s3o_request_duration_seconds_sum{op=\"PutObject\"} 2.5
s3o_request_duration_seconds_count{op=\"PutObject\"} 7
s3o_request_duration_seconds_bucket{le=\"+Inf\"} 0
s3o_request_duration_seconds_sum 0
s3o_request_duration_seconds_count 0
";
        assert_eq!(w.finish(), want);
    }

    #[test]
    fn worker_metrics() {
        let workers = vec![
            WorkerHealth {
                name: "cleanup_queue".into(),
                last_success: Some(Timestamp(1_778_611_321_500)),
                last_failure: None,
                last_error: None,
                consecutive_failures: 0,
                ticks: 42,
                lease: None,
            },
            WorkerHealth {
                name: "replicator".into(),
                last_success: None,
                last_failure: Some(Timestamp(1_778_612_714_000)),
                last_error: Some("connection refused".into()),
                consecutive_failures: 3,
                ticks: 3,
                lease: None,
            },
        ];
        let mut w = MetricsWriter::new();
        write_worker_metrics(&mut w, &workers);
        let want = "\
# HELP s3o_worker_last_success_timestamp_seconds Unix time of the worker's last successful tick.
# TYPE s3o_worker_last_success_timestamp_seconds gauge
s3o_worker_last_success_timestamp_seconds{worker=\"cleanup_queue\"} 1778611321.5
# HELP s3o_worker_consecutive_failures Back-to-back failed ticks since the last success.
# TYPE s3o_worker_consecutive_failures gauge
s3o_worker_consecutive_failures{worker=\"cleanup_queue\"} 0
s3o_worker_consecutive_failures{worker=\"replicator\"} 3
# HELP s3o_worker_ticks_total Ticks the worker has run.
# TYPE s3o_worker_ticks_total counter
s3o_worker_ticks_total{worker=\"cleanup_queue\"} 42
s3o_worker_ticks_total{worker=\"replicator\"} 3
";
        assert_eq!(w.finish(), want);
    }

    #[test]
    fn names() {
        assert!(valid_name("s3o_x:y_total", false));
        assert!(!valid_name("3s3o", false));
        assert!(!valid_name("a:b", true));
        assert!(!valid_name("", true));
    }
}
