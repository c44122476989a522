//! A fake [`Control`] for the handler tests: canned answers shaped like seed 000's examples, and
//! a record of the calls that change something.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::control::*;
use crate::error::{Error, Result};
use crate::keys::{ObjectKey, ObjectPrefix};
use crate::level::LogLevel;
use crate::logbuf::LogBuffer;
use crate::metrics::MetricsWriter;
use crate::time::{parse_rfc3339, Timestamp};

pub(super) fn ts(s: &str) -> Timestamp {
    Timestamp(parse_rfc3339(s).unwrap() as u64)
}

pub(super) struct Fake {
    pub workers: Option<Vec<WorkerHealth>>,
    pub level: RefCell<LogLevel>,
    pub calls: RefCell<Vec<String>>,
    pub logs: LogBuffer,
    pub fail: Option<fn() -> Error>,
    pub delete_outcome: DeleteOutcome,
    pub readiness: Readiness,
    pub queue_len: usize,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            workers: Some(vec![
                WorkerHealth {
                    name: "cleanup_queue".into(),
                    last_success: Some(ts("2026-05-12T18:42:01Z")),
                    last_failure: None,
                    last_error: None,
                    consecutive_failures: 0,
                    ticks: 10,
                    lease: None,
                },
                WorkerHealth {
                    name: "replicator".into(),
                    last_success: Some(ts("2026-05-12T18:30:14Z")),
                    last_failure: Some(ts("2026-05-12T18:45:14Z")),
                    last_error: Some("connection refused".into()),
                    consecutive_failures: 3,
                    ticks: 7,
                    lease: None,
                },
            ]),
            level: RefCell::new(LogLevel::Info),
            calls: RefCell::new(Vec::new()),
            logs: LogBuffer::new(100),
            fail: None,
            delete_outcome: DeleteOutcome { deleted: 42, failed: 0 },
            readiness: Readiness {
                store: Ok(()),
                backends: vec![("oci".into(), Ok(())), ("r2".into(), Err("timeout".into()))],
            },
            queue_len: 1,
        }
    }
}

impl Fake {
    fn check(&self, call: String) -> Result<()> {
        self.calls.borrow_mut().push(call);
        match self.fail {
            Some(f) => Err(f()),
            None => Ok(()),
        }
    }
}

fn usage(api: u64, egress: u64, ingress: u64) -> UsageStat {
    UsageStat {
        api_requests: api,
        egress_bytes: egress,
        ingress_bytes: ingress,
    }
}

impl Control for Fake {
    fn status(&self) -> BoxFuture<'_, Result<Status>> {
        Box::pin(async move {
            self.check("status".into())?;
            Ok(Status {
                db_healthy: true,
                backends: vec![BackendStatus {
                    name: "oci".into(),
                    bytes_used: 5_242_880,
                    bytes_limit: 10_737_418_240,
                    orphan_bytes: 0,
                    object_count: 42,
                    api_requests: 1234,
                    egress_bytes: 5_242_880,
                    ingress_bytes: 10_485_760,
                    api_request_limit: 50_000,
                    egress_byte_limit: 10_737_418_240,
                    ingress_byte_limit: 0,
                    healthy: true,
                    circuit: "closed".into(),
                    draining: false,
                }],
                usage_period: "2026-03".into(),
            })
        })
    }

    fn workers(&self) -> BoxFuture<'_, Option<Vec<WorkerHealth>>> {
        Box::pin(async move { self.workers.clone() })
    }

    fn object_locations<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Vec<ObjectLocation>>> {
        Box::pin(async move {
            self.check(format!("locations {key}"))?;
            Ok(["oci", "r2"]
                .iter()
                .zip(["2026-01-15T10:30:00Z", "2026-01-15T10:35:00Z"])
                .map(|(b, t)| ObjectLocation {
                    object_key: key.to_string(),
                    backend_name: (*b).into(),
                    size_bytes: 51200,
                    created_at: ts(t),
                })
                .collect())
        })
    }

    fn cleanup_queue(&self, limit: usize) -> BoxFuture<'_, Result<CleanupQueue>> {
        Box::pin(async move {
            self.check(format!("cleanup-queue {limit}"))?;
            let items = (1..=self.queue_len as u64)
                .map(|id| CleanupItem {
                    id,
                    backend_name: "oci".into(),
                    object_key: "my-bucket/old-file.txt".into(),
                    reason: "delete_failed".into(),
                    attempts: 2,
                    size_bytes: 51200,
                })
                .collect();
            Ok(CleanupQueue {
                depth: 3.max(self.queue_len as u64),
                items,
            })
        })
    }

    fn flush_usage(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.check("flush".into()) })
    }

    fn log_level(&self) -> BoxFuture<'_, LogLevel> {
        Box::pin(async move { *self.level.borrow() })
    }

    fn set_log_level(&self, level: LogLevel) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.check(format!("set-level {}", level.as_str()))?;
            *self.level.borrow_mut() = level;
            Ok(())
        })
    }

    fn dashboard(&self) -> BoxFuture<'_, Result<Dashboard>> {
        Box::pin(async move {
            self.check("dashboard".into())?;
            let quota = |name: &str, used| QuotaStat {
                backend_name: name.into(),
                bytes_used: used,
                bytes_limit: 10_737_418_240,
                updated_at: ts("2026-03-02T14:30:00Z"),
            };
            Ok(Dashboard {
                backend_order: vec!["oci".into(), "r2".into()],
                quota_stats: BTreeMap::from([
                    ("oci".into(), quota("oci", 5_242_880)),
                    ("r2".into(), quota("r2", 1_048_576)),
                ]),
                object_counts: BTreeMap::from([("oci".into(), 42), ("r2".into(), 15)]),
                active_multipart_counts: BTreeMap::from([("oci".into(), 0), ("r2".into(), 0)]),
                usage_stats: BTreeMap::from([("oci".into(), usage(1234, 5_242_880, 10_485_760))]),
                usage_limits: BTreeMap::from([(
                    "oci".into(),
                    UsageLimit {
                        api_request_limit: 50000,
                        egress_byte_limit: 10_737_418_240,
                        ingress_byte_limit: 0,
                    },
                )]),
                usage_period: "2026-03".into(),
            })
        })
    }

    fn tree<'a>(&'a self, q: &'a TreeQuery) -> BoxFuture<'a, Result<TreePage>> {
        Box::pin(async move {
            self.check(format!("tree {:?} {:?} {}", q.prefix, q.start_after, q.max_keys))?;
            if q.prefix.is_empty() {
                return Ok(TreePage {
                    entries: vec![TreeEntry {
                        name: "my-bucket/".into(),
                        is_dir: true,
                        size: 6_291_456,
                        count: 57,
                    }],
                    has_more: false,
                    next_cursor: String::new(),
                });
            }
            Ok(TreePage {
                entries: vec![
                    TreeEntry {
                        name: "my-bucket/photos/2024/".into(),
                        is_dir: true,
                        size: 1_048_576,
                        count: 10,
                    },
                    TreeEntry {
                        name: "my-bucket/photos/avatar.jpg".into(),
                        is_dir: false,
                        size: 51200,
                        count: 0,
                    },
                ],
                has_more: true,
                next_cursor: "my-bucket/photos/avatar.jpg".into(),
            })
        })
    }

    fn logs(&self) -> &LogBuffer {
        &self.logs
    }

    fn delete_object<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.check(format!("delete {key}")) })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a ObjectPrefix) -> BoxFuture<'a, Result<DeleteOutcome>> {
        Box::pin(async move {
            self.check(format!("delete-prefix {prefix}"))?;
            Ok(self.delete_outcome)
        })
    }

    fn sync<'a>(
        &'a self,
        backend: &'a str,
        bucket: &'a str,
        prefix: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, Result<SyncOutcome>> {
        Box::pin(async move {
            let extra = if prefix.is_empty() && !dry_run {
                String::new()
            } else {
                format!(" prefix={prefix} dry_run={dry_run}")
            };
            self.check(format!("sync {backend} {bucket}{extra}"))?;
            Ok(SyncOutcome {
                imported: 150,
                skipped: 42,
            })
        })
    }

    fn readiness(&self) -> BoxFuture<'_, Readiness> {
        Box::pin(async move { self.readiness.clone() })
    }

    fn orchestrate<'a>(&'a self, op: &'a Orchestration) -> BoxFuture<'a, Result<(u16, serde_json::Value)>> {
        Box::pin(async move {
            self.check(format!("{op:?}"))?;
            Ok((202, serde_json::json!({"status": "started"})))
        })
    }

    fn write_metrics<'a>(&'a self, out: &'a mut MetricsWriter) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            out.counter("s3o_requests_total", "Requests served.").sample(
                "s3o_requests_total",
                &[("op", "GetObject")],
                5u64,
            );
        })
    }
}
