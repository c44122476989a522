//! The in-memory log ring buffer behind `GET {ui}/api/logs`: a `tracing_subscriber` [`LogLayer`]
//! that keeps the last [`LOG_BUFFER_CAPACITY`] events as [`LogEntry`]s (RFC 3339 UTC time, level,
//! message, and the event's fields as a JSON `attrs` object carrying a `component`: an explicit
//! `component` field, else the last segment of the event's target). Each event costs its field
//! formatting plus one short mutex-guarded push; nothing runs while nothing logs. [`LogQuery`]
//! filters by minimum level, time, component and count.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::error::Error;
use crate::time::{parse_rfc3339, Timestamp};

/// Events the buffer keeps (seed 000: "last 5,000 entries"): about 2 MB of typical lines.
pub const LOG_BUFFER_CAPACITY: usize = 5000;

/// One buffered log event, serialized as seed 000's `{time, level, message, attrs}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// When it was logged.
    pub time: Timestamp,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    #[serde(serialize_with = "ser_level")]
    pub level: Level,
    /// The event's message.
    pub message: String,
    /// The event's other fields, plus `component`.
    pub attrs: Map<String, Value>,
}

fn ser_level<S: serde::Serializer>(l: &Level, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(l.as_str())
}

/// A shared handle on the ring buffer; clones see the same entries.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    inner: Arc<Mutex<VecDeque<Arc<LogEntry>>>>,
    capacity: usize,
}

impl LogBuffer {
    /// An empty buffer keeping the last `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        LogBuffer {
            inner: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(LOG_BUFFER_CAPACITY)))),
            capacity: capacity.max(1),
        }
    }

    /// Appends an entry, dropping the oldest when full.
    pub fn push(&self, entry: LogEntry) {
        let entry = Arc::new(entry);
        let mut q = self.inner.lock();
        if q.len() >= self.capacity {
            q.pop_front();
        }
        q.push_back(entry);
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether the buffer holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries matching `q`, oldest first; with a limit, the most recent `limit` of them.
    pub fn query(&self, q: &LogQuery) -> Vec<Arc<LogEntry>> {
        let mut out: Vec<Arc<LogEntry>> = {
            let entries = self.inner.lock();
            entries
                .iter()
                .rev()
                .filter(|e| q.matches(e))
                .take(q.limit.unwrap_or(usize::MAX))
                .cloned()
                .collect()
        };
        out.reverse();
        out
    }
}

/// Filters for [`LogBuffer::query`], parsed from `{ui}/api/logs`'s query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only entries at least this severe.
    pub min_level: Option<Level>,
    /// Only entries strictly after this instant (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only entries whose `component` attr equals this.
    pub component: Option<String>,
    /// Only the most recent this many.
    pub limit: Option<usize>,
}

impl LogQuery {
    /// Reads `level` (DEBUG/INFO/WARN/ERROR, any case), `since` (RFC 3339), `component` and
    /// `limit` (a positive integer); an invalid value is a 400, empty values are ignored.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, Error> {
        let mut q = LogQuery::default();
        for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
            match k.as_str() {
                "level" => {
                    q.min_level = Some(match v.to_ascii_uppercase().as_str() {
                        "DEBUG" => Level::DEBUG,
                        "INFO" => Level::INFO,
                        "WARN" => Level::WARN,
                        "ERROR" => Level::ERROR,
                        _ => {
                            return Err(Error::bad_request(format!(
                                "invalid level {v:?}: expected DEBUG, INFO, WARN or ERROR"
                            )))
                        }
                    })
                }
                "since" => {
                    q.since_ms = Some(
                        parse_rfc3339(v)
                            .ok_or_else(|| Error::bad_request(format!("invalid since {v:?}: expected RFC 3339")))?,
                    )
                }
                "component" => q.component = Some(v.clone()),
                "limit" => {
                    q.limit = Some(v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::bad_request(format!("invalid limit {v:?}: expected a positive integer"))
                    })?)
                }
                _ => {}
            }
        }
        Ok(q)
    }

    fn matches(&self, e: &LogEntry) -> bool {
        // tracing orders levels by verbosity: TRACE > DEBUG > … > ERROR.
        self.min_level.is_none_or(|min| e.level <= min)
            && self
                .since_ms
                .is_none_or(|s| i64::try_from(e.time.as_millis()).is_ok_and(|t| t > s))
            && self
                .component
                .as_deref()
                .is_none_or(|c| e.attrs.get("component").and_then(Value::as_str) == Some(c))
    }
}

/// The `tracing_subscriber` layer that records every event it sees into a [`LogBuffer`].
#[derive(Debug, Clone)]
pub struct LogLayer {
    buffer: LogBuffer,
}

impl LogLayer {
    /// A layer writing into `buffer`.
    pub fn new(buffer: LogBuffer) -> Self {
        LogLayer { buffer }
    }
}

/// Collects an event's fields: `message` apart, `log.*` (from `tracing-log`) dropped except the
/// original target.
#[derive(Default)]
struct Fields {
    message: String,
    attrs: Map<String, Value>,
    log_target: Option<String>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.message = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            "log.target" => self.log_target = value.as_str().map(str::to_owned),
            n if n.starts_with("log.") => {}
            n => {
                self.attrs.insert(n.to_owned(), value);
            }
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

/// The last `::` segment of a target (`s3o_proxy::workers::cleanup` → `cleanup`).
fn component_of(target: &str) -> &str {
    target.rsplit("::").next().unwrap_or(target)
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut f = Fields::default();
        event.record(&mut f);
        if !f.attrs.contains_key("component") {
            let target = f.log_target.as_deref().unwrap_or(meta.target());
            f.attrs
                .insert("component".into(), Value::String(component_of(target).to_owned()));
        }
        self.buffer.push(LogEntry {
            time: Timestamp::now(),
            level: *meta.level(),
            message: f.message,
            attrs: f.attrs,
        });
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn entry(ms: u64, level: Level, msg: &str, component: &str) -> LogEntry {
        let mut attrs = Map::new();
        attrs.insert("component".into(), Value::String(component.into()));
        LogEntry {
            time: Timestamp(ms),
            level,
            message: msg.into(),
            attrs,
        }
    }

    fn params(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn records_fields_and_component() {
        let buf = LogBuffer::new(10);
        let sub = tracing_subscriber::registry().with(LogLayer::new(buf.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                host = "db.example.com",
                port = 5432,
                ok = true,
                "Connected to {}",
                "PostgreSQL"
            );
            tracing::warn!(target: "s3o_proxy::workers::cleanup", ratio = 0.5, err = ?"boom", "tick failed");
            tracing::error!(component = "main", "explicit component");
        });
        let all = buf.query(&LogQuery::default());
        assert_eq!(all.len(), 3);
        let json = serde_json::to_value(&*all[0]).unwrap();
        assert_eq!(json["level"], "INFO");
        assert_eq!(json["message"], "Connected to PostgreSQL");
        assert_eq!(
            json["attrs"],
            serde_json::json!({"host": "db.example.com", "port": 5432, "ok": true, "component": "tests"})
        );
        assert!(json["time"].as_str().unwrap().ends_with('Z'));
        assert!(parse_rfc3339(json["time"].as_str().unwrap()).is_some());
        assert_eq!(all[1].attrs["component"], "cleanup");
        assert_eq!(all[1].attrs["ratio"], 0.5);
        assert_eq!(all[1].attrs["err"], "\"boom\"");
        assert_eq!(all[2].attrs["component"], "main");
    }

    #[test]
    fn keeps_only_the_last_entries() {
        let buf = LogBuffer::new(3);
        for i in 0..5 {
            buf.push(entry(i, Level::INFO, &i.to_string(), "c"));
        }
        assert_eq!(buf.len(), 3);
        let msgs: Vec<_> = buf
            .query(&LogQuery::default())
            .iter()
            .map(|e| e.message.clone())
            .collect();
        assert_eq!(msgs, ["2", "3", "4"]);
        assert_eq!(LogBuffer::new(LOG_BUFFER_CAPACITY).capacity, 5000);
    }

    #[test]
    fn filters() {
        let buf = LogBuffer::new(100);
        buf.push(entry(1_000, Level::TRACE, "t", "a"));
        buf.push(entry(2_000, Level::DEBUG, "d", "a"));
        buf.push(entry(3_000, Level::INFO, "i", "b"));
        buf.push(entry(4_000, Level::WARN, "w", "a"));
        buf.push(entry(5_000, Level::ERROR, "e", "b"));
        let run = |p: &[(&str, &str)]| -> String {
            let q = LogQuery::from_params(&params(p)).unwrap();
            buf.query(&q).iter().map(|e| e.message.as_str()).collect()
        };
        assert_eq!(run(&[]), "tdiwe");
        assert_eq!(run(&[("level", "debug")]), "diwe");
        assert_eq!(run(&[("level", "WARN")]), "we");
        assert_eq!(run(&[("level", "Error")]), "e");
        assert_eq!(run(&[("since", "1970-01-01T00:00:03Z")]), "we", "strictly after");
        assert_eq!(run(&[("since", "1970-01-01T01:00:02.5+01:00")]), "iwe");
        assert_eq!(run(&[("component", "a")]), "tdw");
        assert_eq!(run(&[("limit", "2")]), "we", "the most recent");
        assert_eq!(run(&[("limit", "2"), ("component", "a")]), "dw");
        assert_eq!(run(&[("limit", "99")]), "tdiwe");
        assert_eq!(run(&[("level", ""), ("limit", "")]), "tdiwe", "empty means unset");
    }

    #[test]
    fn invalid_params_are_400() {
        for p in [
            [("level", "TRACE")],
            [("level", "verbose")],
            [("since", "yesterday")],
            [("since", "2026-03-02")],
            [("limit", "0")],
            [("limit", "-1")],
            [("limit", "ten")],
        ] {
            assert!(
                matches!(LogQuery::from_params(&params(&p)), Err(Error::BadRequest(_))),
                "{p:?}"
            );
        }
    }
}
