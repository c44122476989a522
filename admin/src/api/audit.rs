//! The audit endpoints: `GET /api/admin/audit` (filters `user`, `action` (a prefix), `backend`,
//! `bucket`, `status`, `from`, `to` (RFC 3339), `limit` (1..=1000, default 200), `offset`;
//! answers `{"events": [...], "total": n}` newest first) and `GET /api/admin/audit.csv` (the
//! same filters, every matching event unless `limit` is given, as CSV with formula-looking
//! cells defused, streamed a store page at a time by the proxy: [`export`]). Also [`event`],
//! the event every handler fills for its request.

use serde::Serialize;
use serde_json::json;

use super::{api_error, from_error};
use crate::access::audit::{scan, AuditFilter};
use crate::access::records::AuditEvent;
use crate::access::Access;
use crate::http::{Request, Response};
use crate::time::{parse_rfc3339_ms as parse_rfc3339, Timestamp};

/// Most events one query returns.
pub const MAX_AUDIT_PAGE: usize = 1000;
/// Events a query returns by default.
const DEFAULT_AUDIT_PAGE: usize = 200;

/// An event of `action` by `user_id` for `req` (address, user agent, request id filled in).
pub fn event(req: &Request, access: &Access, user_id: &str, action: &str) -> AuditEvent {
    AuditEvent {
        user_id: user_id.to_owned(),
        action: action.to_owned(),
        ip: access.cfg.trusted_proxies.client_ip(req).to_string(),
        user_agent: req.header("user-agent").unwrap_or_default().chars().take(256).collect(),
        request_id: req
            .header("x-request-id")
            .unwrap_or_default()
            .chars()
            .take(128)
            .collect(),
        status: "ok".into(),
        ..AuditEvent::default()
    }
}

/// An event as the API shows it.
#[derive(Serialize)]
struct EventView<'a> {
    id: u64,
    timestamp: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    user_id: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    backend: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    bucket: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    key: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    request_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    ip: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    user_agent: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
}

fn view(e: &AuditEvent) -> EventView<'_> {
    EventView {
        id: e.id,
        timestamp: Timestamp(e.ts_ms - e.ts_ms % 1000).to_rfc3339(),
        user_id: &e.user_id,
        action: &e.action,
        backend: &e.backend,
        bucket: &e.bucket,
        key: &e.key,
        request_id: &e.request_id,
        ip: &e.ip,
        user_agent: &e.user_agent,
        status: &e.status,
        detail: &e.detail,
    }
}

/// The filter, limit and offset of a query string; unparsable values are ignored (the seed's
/// rule), a limit outside 1..=1000 is `default`.
fn params(req: &Request, default: usize) -> Result<(AuditFilter, usize, usize), Response> {
    let params = req
        .query_params()
        .map_err(|_| api_error(400, "bad_request", "invalid query string"))?;
    let mut f = AuditFilter::default();
    let (mut limit, mut offset) = (default, 0);
    for (k, v) in params {
        let text = (!v.is_empty()).then(|| v.clone());
        match k.as_str() {
            "user" => f.user = text,
            "action" => f.action = text,
            "backend" => f.backend = text,
            "bucket" => f.bucket = text,
            "status" => f.status = text,
            "from" => f.from_ms = parse_rfc3339(&v),
            "to" => f.to_ms = parse_rfc3339(&v),
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_AUDIT_PAGE).contains(n))
                    .unwrap_or(default)
            }
            "offset" => offset = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    Ok((f, limit, offset))
}

/// `GET /api/admin/audit`.
pub async fn query(req: &Request, access: &Access) -> Response {
    let (filter, limit, offset) = match params(req, DEFAULT_AUDIT_PAGE) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut events = Vec::new();
    let mut total = 0usize;
    let scanned = scan(&access.store, &filter, |e| {
        if total >= offset && events.len() < limit {
            events.push(e);
        }
        total += 1;
        true
    })
    .await;
    if let Err(e) = scanned {
        return from_error(&e);
    }
    let views: Vec<EventView<'_>> = events.iter().map(view).collect();
    Response::json(200, &json!({ "events": views, "total": total }))
}

/// The CSV header row.
const CSV_HEADER: &str = "id,timestamp,user_id,action,backend,bucket,key,request_id,ip,user_agent,status,detail\n";

/// One CSV cell: a cell a spreadsheet would read as a formula gets a leading `'`; cells with a
/// comma, quote, line break or leading space are quoted.
fn cell(out: &mut String, text: &str) {
    let defused;
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{text}");
        defused.as_str()
    } else {
        text
    };
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// One event as a CSV line.
pub fn csv_line(out: &mut String, e: &AuditEvent) {
    out.push_str(&e.id.to_string());
    out.push(',');
    out.push_str(&Timestamp(e.ts_ms - e.ts_ms % 1000).to_rfc3339());
    for text in [
        &e.user_id,
        &e.action,
        &e.backend,
        &e.bucket,
        &e.key,
        &e.request_id,
        &e.ip,
        &e.user_agent,
        &e.status,
        &e.detail,
    ] {
        out.push(',');
        cell(out, text);
    }
    out.push('\n');
}

/// An `audit.csv` export in progress: the header row, then one chunk of rows per store page, so
/// the proxy streams it (chunked) however long the log is.
pub struct CsvExport {
    store: s3o_store::Store,
    filter: AuditFilter,
    after: Option<String>,
    skip: usize,
    left: Option<usize>,
    started: bool,
    done: bool,
}

impl CsvExport {
    /// The next piece of the CSV text, `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<String>, crate::error::Error> {
        if !self.started {
            self.started = true;
            return Ok(Some(CSV_HEADER.to_owned()));
        }
        while !self.done {
            let (events, next) = crate::access::audit::page(&self.store, &self.filter, self.after.take()).await?;
            self.after = next;
            self.done = self.after.is_none();
            let mut out = String::new();
            for e in events {
                if self.left == Some(0) {
                    self.done = true;
                    break;
                }
                if self.skip > 0 {
                    self.skip -= 1;
                    continue;
                }
                csv_line(&mut out, &e);
                self.left = self.left.map(|n| n - 1);
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

/// The headers of an `audit.csv` response.
pub fn csv_headers() -> Vec<(String, String)> {
    let now = Timestamp::now().to_rfc3339().replace(['-', ':'], "").replace('T', "-");
    let name = format!("audit-{}.csv", now.get(..15).unwrap_or("export"));
    vec![
        ("content-type".into(), "text/csv; charset=utf-8".into()),
        ("content-disposition".into(), format!("attachment; filename=\"{name}\"")),
        ("cache-control".into(), "no-store".into()),
    ]
}

/// Starts an export for `GET /api/admin/audit.csv` (same filters as the JSON query; without
/// `limit`, every matching event).
pub fn export(req: &Request, access: &Access) -> Result<CsvExport, Response> {
    let limited = req.query_param("limit").ok().flatten().is_some();
    let (filter, limit, skip) = params(req, MAX_AUDIT_PAGE)?;
    Ok(CsvExport {
        store: access.store.clone(),
        filter,
        after: None,
        skip,
        left: limited.then_some(limit),
        started: false,
        done: false,
    })
}

/// `GET /api/admin/audit.csv` answered whole (the proxy streams it instead; see [`export`]).
pub async fn csv(req: &Request, access: &Access) -> Response {
    let mut export = match export(req, access) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut out = String::new();
    loop {
        match export.next_chunk().await {
            Ok(Some(chunk)) => out.push_str(&chunk),
            Ok(None) => break,
            Err(e) => return from_error(&e),
        }
    }
    let mut r = Response::text(200, "text/csv; charset=utf-8", out);
    r.headers = csv_headers();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        let e = AuditEvent {
            id: 7,
            ts_ms: 1_700_000_000_500,
            user_id: "u".into(),
            action: "auth.login".into(),
            user_agent: "=HYPERLINK(\"x\")".into(),
            status: "ok".into(),
            detail: "{\"a\":1,\"b\":2}".into(),
            ..AuditEvent::default()
        };
        let mut out = String::new();
        csv_line(&mut out, &e);
        assert_eq!(
            out,
            "7,2023-11-14T22:13:20Z,u,auth.login,,,,,,\"'=HYPERLINK(\"\"x\"\")\",ok,\"{\"\"a\"\":1,\"\"b\"\":2}\"\n"
        );
    }
}
