//! The results of a run: one [`Report`] built from the merged stats, printed as a compact table
//! for people and written as JSON (the same numbers plus the environment: CPU, cores, kernel,
//! monoio driver, build profile, command line and label) for scripts comparing runs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stats::{OpKind, OpStats, Stats};
use crate::backend::driver_name;
use crate::cli::{RunConfig, Workload};
use crate::client::payload::PayloadMode;
use crate::size::format_size;

/// The error rate above which a run fails (exit code 1).
pub const MAX_ERROR_RATE: f64 = 0.01;

/// Where the numbers were measured.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Cores available to the process.
    pub cores: usize,
    /// `uname -r`.
    pub kernel: String,
    /// The monoio driver: `io_uring` or `epoll`.
    pub driver: &'static str,
    /// `release` or `debug`.
    pub profile: &'static str,
}

impl Environment {
    /// Reads the environment of this process.
    pub fn detect() -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map_or_else(|| "unknown".to_string(), |(_, v)| v.trim().to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string());
        Environment {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            driver: driver_name(),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" },
        }
    }

    /// The one-line form printed under the table.
    pub fn line(&self) -> String {
        format!(
            "machine: {} | {} cores | kernel {} | {} | {} build",
            self.cpu_model, self.cores, self.kernel, self.driver, self.profile
        )
    }
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Millis {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// The numbers of one operation type.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// `GET`, `PUT`, ..., or `TOTAL`.
    pub op: String,
    /// Successful operations.
    pub count: u64,
    /// Failed operations.
    pub errors: u64,
    /// Failed operations by status code (`"0"`: network error or timeout).
    pub errors_by_status: BTreeMap<String, u64>,
    /// Payload bytes moved by successful operations.
    pub bytes: u64,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Decimal megabytes (10^6) per second.
    pub mb_per_sec: f64,
    /// Mebibytes (2^20) per second.
    pub mib_per_sec: f64,
    /// Request start to last response byte.
    pub latency_ms: Millis,
    /// Request start to first response byte.
    pub ttfb_ms: Millis,
}

/// What the run was.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Endpoint address.
    pub endpoint: String,
    /// Workload.
    pub workload: Workload,
    /// Object size or range.
    pub size: String,
    /// Multipart part size.
    pub part_size: String,
    /// Workers.
    pub concurrency: usize,
    /// Threads.
    pub threads: usize,
    /// Payload mode.
    pub payload: PayloadMode,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Measuring time limit, seconds.
    pub duration_s: f64,
    /// Operation budget, if any.
    pub ops_limit: Option<u64>,
    /// Objects used by reads.
    pub objects: usize,
}

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The `--label`.
    pub label: Option<String>,
    /// The command line (secret redacted).
    pub command_line: String,
    /// The machine.
    pub environment: Environment,
    /// The run's settings.
    pub run: RunSummary,
    /// Setup time (connections and prepared objects), seconds.
    pub setup_s: f64,
    /// Measured time, seconds.
    pub elapsed_s: f64,
    /// Per operation type (only types that occurred).
    pub operations: Vec<OpReport>,
    /// All top-level operations together (multipart steps left out).
    pub total: OpReport,
    /// Failed / all operations.
    pub error_rate: f64,
    /// The first error, described.
    pub first_error: Option<String>,
    /// Whether the run passed: something completed and errors stayed under 1%.
    pub ok: bool,
}

/// The command-line spelling of an enum value.
fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

/// Latency figures of a histogram of nanoseconds.
pub fn millis(h: &crate::histogram::Histogram) -> Millis {
    let ms = |ns: u64| (ns as f64 / 1e6 * 1000.0).round() / 1000.0;
    Millis {
        mean: (h.mean() / 1e3).round() / 1e3,
        p50: ms(h.quantile(0.5)),
        p90: ms(h.quantile(0.9)),
        p99: ms(h.quantile(0.99)),
        p999: ms(h.quantile(0.999)),
        max: ms(h.max()),
    }
}

fn op_report(name: &str, s: &OpStats, secs: f64) -> OpReport {
    let per_sec = |v: f64| if secs > 0.0 { v / secs } else { 0.0 };
    OpReport {
        op: name.to_string(),
        count: s.count,
        errors: s.error_count(),
        errors_by_status: s.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        bytes: s.bytes,
        ops_per_sec: per_sec(s.count as f64),
        mb_per_sec: per_sec(s.bytes as f64 / 1e6),
        mib_per_sec: per_sec(s.bytes as f64 / 1_048_576.0),
        latency_ms: millis(&s.latency),
        ttfb_ms: millis(&s.ttfb),
    }
}

impl Report {
    /// Builds the report of a finished run.
    pub fn new(cfg: &RunConfig, stats: &Stats, setup_s: f64) -> Report {
        let secs = stats.elapsed().as_secs_f64();
        let operations: Vec<OpReport> = OpKind::ALL
            .iter()
            .map(|k| (k, stats.op(*k)))
            .filter(|(_, s)| s.count + s.error_count() > 0)
            .map(|(k, s)| op_report(k.name(), s, secs))
            .collect();
        let total = op_report("TOTAL", &stats.total(), secs);
        let all = total.count + total.errors;
        let error_rate = if all == 0 {
            0.0
        } else {
            total.errors as f64 / all as f64
        };
        Report {
            label: cfg.label.clone(),
            command_line: cfg.command_line.clone(),
            environment: Environment::detect(),
            run: RunSummary {
                endpoint: cfg.addr.to_string(),
                workload: cfg.workload,
                size: cfg.size.to_string(),
                part_size: format_size(cfg.part_size),
                concurrency: cfg.concurrency,
                threads: cfg.threads,
                payload: cfg.payload,
                warmup_s: cfg.warmup.as_secs_f64(),
                duration_s: cfg.duration.as_secs_f64(),
                ops_limit: cfg.ops,
                objects: cfg.objects,
            },
            setup_s,
            elapsed_s: secs,
            ok: total.count > 0 && error_rate <= MAX_ERROR_RATE,
            operations,
            total,
            error_rate,
            first_error: stats.first_error.clone(),
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let r = &self.run;
        let mut out = format!(
            "s3o-loadtest {} {} size={} conc={} threads={} payload={} measured={:.2}s{}\n",
            value_name(&r.workload),
            r.endpoint,
            r.size,
            r.concurrency,
            r.threads,
            value_name(&r.payload),
            self.elapsed_s,
            self.label.as_ref().map(|l| format!(" label={l}")).unwrap_or_default()
        );
        out.push_str(&format!(
            "{:<13}{:>9}{:>10}{:>9}{:>9}{:>6} |{:>8}{:>8} |{:>8}{:>8}{:>8}{:>8}{:>8}\n",
            "op", "count", "ops/s", "MB/s", "MiB/s", "err", "ttfb50", "ttfb99", "p50", "p90", "p99", "p99.9", "max"
        ));
        let rows = self.operations.iter().chain(std::iter::once(&self.total));
        for o in rows {
            out.push_str(&format!(
                "{:<13}{:>9}{:>10.1}{:>9.2}{:>9.2}{:>6} |{:>8.3}{:>8.3} |{:>8.3}{:>8.3}{:>8.3}{:>8.3}{:>8.3}\n",
                o.op,
                o.count,
                o.ops_per_sec,
                o.mb_per_sec,
                o.mib_per_sec,
                o.errors,
                o.ttfb_ms.p50,
                o.ttfb_ms.p99,
                o.latency_ms.p50,
                o.latency_ms.p90,
                o.latency_ms.p99,
                o.latency_ms.p999,
                o.latency_ms.max
            ));
        }
        out.push_str("(latencies in ms; ttfb = request start to first response byte)\n");
        if self.total.errors > 0 {
            let by: Vec<String> = self
                .operations
                .iter()
                .flat_map(|o| {
                    o.errors_by_status
                        .iter()
                        .map(move |(s, n)| format!("{} {s}: {n}", o.op))
                })
                .collect();
            out.push_str(&format!(
                "errors: {} ({:.2}%) [{}]; first: {}\n",
                self.total.errors,
                self.error_rate * 100.0,
                by.join(", "),
                self.first_error.as_deref().unwrap_or("-")
            ));
        }
        out.push_str(&self.environment.line());
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::time::{Duration, Instant};

    #[test]
    fn report_numbers_and_shapes() {
        let cli = Cli::try_parse_from([
            "x",
            "run",
            "--endpoint",
            "http://127.0.0.1:1",
            "--access-key",
            "a",
            "--secret-key",
            "s",
            "--bucket",
            "b",
            "--workload",
            "mixed",
            "--label",
            "t",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else { panic!() };
        let cfg = args.validate("x run".into()).unwrap();
        let t0 = Instant::now();
        let mut st = Stats::new();
        st.window_start = Some(t0);
        for i in 0..99u64 {
            let end = t0 + Duration::from_millis(10 * (i + 1));
            st.success(
                OpKind::Get,
                1_000_000,
                end - Duration::from_millis(2),
                end - Duration::from_millis(1),
                end,
            );
        }
        st.failure(OpKind::Put, 503, || "503 SlowDown".into(), t0 + Duration::from_secs(1));
        let r = Report::new(&cfg, &st, 0.5);
        assert!((r.elapsed_s - 1.0).abs() < 1e-9);
        assert_eq!(r.operations.len(), 2);
        let get = &r.operations[0];
        assert_eq!((get.op.as_str(), get.count), ("GET", 99));
        assert!((get.ops_per_sec - 99.0).abs() < 1e-6);
        assert!((get.mb_per_sec - 99.0).abs() < 1e-6);
        assert!((get.latency_ms.p50 - 2.0).abs() < 0.02 && (get.ttfb_ms.p50 - 1.0).abs() < 0.01);
        assert_eq!(r.operations[1].errors_by_status.get("503"), Some(&1));
        assert!((r.error_rate - 0.01).abs() < 1e-9 && r.ok);
        let table = r.table();
        assert!(table.contains("GET") && table.contains("TOTAL") && table.contains("machine:"));
        assert!(table.contains("errors: 1 (1.00%) [PUT 503: 1]; first: PUT: 503 SlowDown"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["total"]["count"], 99);
        assert_eq!(json["run"]["workload"], "mixed");
        assert_eq!(json["run"]["payload"], "unsigned");
        assert_eq!(json["label"], "t");
        assert!(json["environment"]["driver"].is_string());
    }
}
