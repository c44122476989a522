//! `/metrics`: the proxy's counters in the Prometheus text format, `s3o_` prefix. Everything is
//! merged from per-core and per-client counters at scrape time ([`crate::metrics`]); the worker
//! families are appended by the admin crate's handler.

use s3o_admin::{Histogram, MetricsWriter};

use crate::metrics::{BackendTotals, LATENCY_BUCKETS};
use crate::state::Core;
use crate::usage::{period_of, UsageLedger};

/// A per-backend metric family: name, help, and the field it reads.
type Family = (&'static str, &'static str, fn(&BackendTotals) -> u64);

/// Writes every proxy metric family into `out`.
pub async fn write(core: &Core, usage: &UsageLedger, out: &mut MetricsWriter) {
    let shared = &core.shared;
    let m = &shared.metrics;
    let ops = m.operations();
    out.counter(
        "s3o_requests_total",
        "S3 requests answered, by operation and HTTP status.",
    );
    for (op, stats) in &ops {
        for (status, n) in &stats.by_status {
            let status = status.map_or_else(|| "other".to_owned(), |s| s.to_string());
            out.sample("s3o_requests_total", &[("operation", op), ("status", &status)], *n);
        }
    }
    out.histogram(
        "s3o_request_duration_seconds",
        "S3 request latency from head to last byte, by operation.",
    );
    for (op, stats) in &ops {
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(stats.buckets.iter())
            .map(|(le, n)| {
                cumulative += n;
                (*le, cumulative)
            })
            .collect();
        let h = Histogram {
            buckets,
            sum: stats.sum_secs,
            count: stats.count(),
        };
        out.histogram_sample("s3o_request_duration_seconds", &[("operation", op)], &h);
    }
    out.gauge("s3o_open_connections", "Client connections open on the S3 port.");
    out.sample("s3o_open_connections", &[], m.open_connections());
    out.counter(
        "s3o_access_denied_total",
        "S3 requests refused by the access rules, by reason.",
    );
    for (reason, n) in shared.denials.totals() {
        out.sample("s3o_access_denied_total", &[("reason", reason)], n);
    }
    if let Some(access) = shared.access.get() {
        let c = access.audit.counters();
        out.counter("s3o_audit_events_written_total", "Audit events stored.");
        out.sample(
            "s3o_audit_events_written_total",
            &[],
            c.written.load(std::sync::atomic::Ordering::Relaxed),
        );
        out.counter(
            "s3o_audit_events_dropped_total",
            "Audit events dropped (queue full or store refused).",
        );
        out.sample(
            "s3o_audit_events_dropped_total",
            &[],
            c.dropped.load(std::sync::atomic::Ordering::Relaxed),
        );
        out.gauge("s3o_access_credentials", "Store-managed S3 credentials in force.");
        out.sample(
            "s3o_access_credentials",
            &[],
            shared.live.snapshot().access.creds.len() as u64,
        );
    }

    let totals = m.backend_totals();
    let families: [Family; 4] = [
        ("s3o_backend_requests_total", "Requests sent to each backend.", |t| {
            t.api_requests
        }),
        ("s3o_backend_egress_bytes_total", "Bytes read from each backend.", |t| {
            t.egress_bytes
        }),
        (
            "s3o_backend_ingress_bytes_total",
            "Bytes written to each backend.",
            |t| t.ingress_bytes,
        ),
        ("s3o_backend_errors_total", "Failed requests to each backend.", |t| {
            t.errors
        }),
    ];
    for (name, help, get) in families {
        out.counter(name, help);
        for (backend, t) in &totals {
            out.sample(name, &[("backend", backend)], get(t));
        }
    }

    let snap = core.snapshot();
    let store = &shared.store;
    out.gauge(
        "s3o_backend_quota_used_bytes",
        "Bytes stored on each backend, as its quota counts them.",
    );
    for b in &snap.backends {
        if let Ok(used) = store.usage(&b.name).await {
            out.sample("s3o_backend_quota_used_bytes", &[("backend", &b.name)], used);
        }
    }
    out.gauge(
        "s3o_backend_quota_limit_bytes",
        "Each backend's quota (backends without one are absent).",
    );
    for b in &snap.backends {
        if let Some(q) = b.quota_bytes {
            out.sample("s3o_backend_quota_limit_bytes", &[("backend", &b.name)], q);
        }
    }
    let period = period_of(crate::clock::unix_ms());
    if let Ok(month) = usage.period_totals(store, m, &period).await {
        let families: [Family; 3] = [
            (
                "s3o_usage_api_requests",
                "API requests sent to each backend this month (UTC).",
                |t| t.api_requests,
            ),
            (
                "s3o_usage_egress_bytes",
                "Bytes read from each backend this month (UTC).",
                |t| t.egress_bytes,
            ),
            (
                "s3o_usage_ingress_bytes",
                "Bytes written to each backend this month (UTC).",
                |t| t.ingress_bytes,
            ),
        ];
        for (name, help, get) in families {
            out.gauge(name, help);
            for (backend, t) in &month {
                out.sample(name, &[("backend", backend), ("period", &period)], get(t));
            }
        }
    }
    if let Ok(depth) = store.cleanup_len().await {
        out.gauge(
            "s3o_cleanup_queue_depth",
            "Physical objects waiting to be deleted from backends.",
        );
        out.sample("s3o_cleanup_queue_depth", &[], depth);
    }
    if let Ok(depth) = store.replication_depth().await {
        out.gauge(
            "s3o_replication_queue_depth",
            "Versions waiting for the replicator to make more copies of them.",
        );
        out.sample("s3o_replication_queue_depth", &[], depth);
    }
    let now = crate::clock::unix_ms();
    out.gauge(
        "s3o_backend_circuit_open",
        "1 while a backend's circuit breaker keeps requests away from it.",
    );
    for b in &snap.backends {
        let open = !shared.breakers.get(&b.name).allows(now);
        out.sample("s3o_backend_circuit_open", &[("backend", &b.name)], u64::from(open));
    }
    out.gauge("s3o_backend_draining", "1 while a backend is being drained.");
    let draining = shared.draining.read().clone();
    for b in &snap.backends {
        out.sample(
            "s3o_backend_draining",
            &[("backend", &b.name)],
            u64::from(draining.contains(&b.name)),
        );
    }
    for (name, help, get) in [
        (
            "s3o_backend_api_request_limit",
            "Each backend's monthly API request limit (absent: none).",
            (|l: &crate::orchestrator::limits::MonthlyLimits| l.api_requests) as fn(&_) -> Option<u64>,
        ),
        (
            "s3o_backend_egress_byte_limit",
            "Each backend's monthly egress limit in bytes (absent: none).",
            |l| l.egress_bytes,
        ),
        (
            "s3o_backend_ingress_byte_limit",
            "Each backend's monthly ingress limit in bytes (absent: none).",
            |l| l.ingress_bytes,
        ),
    ] {
        out.gauge(name, help);
        for b in &snap.backends {
            if let Some(v) = get(&b.limits) {
                out.sample(name, &[("backend", &b.name)], v);
            }
        }
    }
    out.gauge(
        "s3o_store_writable",
        "1 when the metadata store takes writes, 0 when it cannot commit.",
    );
    let problem = store.health().problem;
    out.sample("s3o_store_writable", &[], u64::from(problem.is_none()));
    if let Some(cause) = &problem {
        out.gauge(
            "s3o_store_problem",
            "1 while the metadata store cannot commit; the label says why (it recovers by itself).",
        );
        out.sample("s3o_store_problem", &[("cause", cause)], 1u64);
    }
    out.gauge(
        "s3o_orphans_pending",
        "Bodies of failed writes waiting in memory for the metadata store to queue their deletion.",
    );
    out.sample("s3o_orphans_pending", &[], shared.pending_orphans.len() as u64);
    out.gauge(
        "s3o_live_generation",
        "Generation of the live configuration (grows with each reload).",
    );
    out.sample("s3o_live_generation", &[], shared.live.generation());
    for (name, help, value) in shared.metrics.integrity.snapshot() {
        out.counter(name, help);
        out.sample(name, &[], value);
    }
    out.gauge(
        "s3o_scrub_suspects",
        "Copies a read found bad, waiting for the scrubber.",
    );
    out.sample("s3o_scrub_suspects", &[], shared.suspects.len() as u64);
}
