//! `s3-orchestrator admin <command>`: one command per operator endpoint (`/admin/api/*`),
//! talking to the admin port named in the config file with its token, printing a table (or the
//! endpoint's JSON with `--json`). HTTPS when the admin port has TLS; the configured certificate
//! itself is trusted, so a self-signed one works.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use s3o_admin::Orchestration;

use crate::config::Config;

/// How long the CLI waits for the admin port.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An operator command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// `GET /admin/api/status`.
    Status,
    /// `GET /admin/api/workers`.
    Workers,
    /// `GET /admin/api/object-locations?key=`.
    ObjectLocations(String),
    /// `GET /admin/api/cleanup-queue`.
    CleanupQueue,
    /// `POST /admin/api/usage-flush`.
    UsageFlush,
    /// `GET /admin/api/log-level`, or `PUT` with a level.
    LogLevel(Option<String>),
    /// An orchestration endpoint (replication, over-replication, drain, backend removal; and the
    /// UI API's rebalance and clean-excess jobs, logging in with `ui.admin_key` and the password
    /// in `S3O_UI_PASSWORD`).
    Orchestrate(Orchestration),
}

impl AdminCommand {
    /// Whether the command calls the UI API (a session) rather than the operator API (the token).
    fn needs_session(&self) -> bool {
        matches!(
            self,
            AdminCommand::Orchestrate(
                Orchestration::Rebalance
                    | Orchestration::RebalanceStatus
                    | Orchestration::CleanExcess
                    | Orchestration::CleanExcessStatus
            )
        )
    }

    /// Method, path and query (`{ui}` standing for the UI mount), and JSON body of the request.
    fn request(&self) -> (&'static str, String, Option<String>) {
        let backend = |n: &str| format!("/admin/api/backends/{}", percent_encode(n));
        match self {
            AdminCommand::Status => ("GET", "/admin/api/status".into(), None),
            AdminCommand::Workers => ("GET", "/admin/api/workers".into(), None),
            AdminCommand::ObjectLocations(k) => (
                "GET",
                format!("/admin/api/object-locations?key={}", percent_encode(k)),
                None,
            ),
            AdminCommand::CleanupQueue => ("GET", "/admin/api/cleanup-queue".into(), None),
            AdminCommand::UsageFlush => ("POST", "/admin/api/usage-flush".into(), None),
            AdminCommand::LogLevel(None) => ("GET", "/admin/api/log-level".into(), None),
            AdminCommand::LogLevel(Some(l)) => (
                "PUT",
                "/admin/api/log-level".into(),
                Some(serde_json::json!({ "level": l }).to_string()),
            ),
            AdminCommand::Orchestrate(op) => {
                let (m, path) = match op {
                    Orchestration::Replicate => ("POST", "/admin/api/replicate".into()),
                    Orchestration::Scrub(_) => ("POST", "/admin/api/scrub".into()),
                    Orchestration::HashExisting => ("POST", "/admin/api/hash-existing".into()),
                    Orchestration::EncryptExisting => ("POST", "/admin/api/encrypt-existing".into()),
                    Orchestration::DecryptExisting => ("POST", "/admin/api/decrypt-existing".into()),
                    Orchestration::RotateKey(_) => ("POST", "/admin/api/rotate-encryption-key".into()),
                    Orchestration::OverReplication => ("GET", "/admin/api/over-replication".into()),
                    Orchestration::CleanOverReplication(batch) => {
                        let q = batch.map_or(String::new(), |n| format!("?batch_size={n}"));
                        ("POST", format!("/admin/api/over-replication{q}"))
                    }
                    Orchestration::DrainStart(n) => ("POST", format!("{}/drain", backend(n))),
                    Orchestration::DrainStatus(n) => ("GET", format!("{}/drain", backend(n))),
                    Orchestration::DrainCancel(n) => ("DELETE", format!("{}/drain", backend(n))),
                    Orchestration::RemoveBackend { name, purge } => {
                        let q = if *purge { "?purge=true" } else { "" };
                        ("DELETE", format!("{}{q}", backend(name)))
                    }
                    Orchestration::Rebalance => ("POST", "{ui}/api/rebalance".into()),
                    Orchestration::RebalanceStatus => ("GET", "{ui}/api/rebalance/status".into()),
                    Orchestration::CleanExcess => ("POST", "{ui}/api/clean-excess".into()),
                    Orchestration::CleanExcessStatus => ("GET", "{ui}/api/clean-excess/status".into()),
                };
                let body = match op {
                    Orchestration::Scrub(Some(n)) => Some(serde_json::json!({ "batch_size": n }).to_string()),
                    Orchestration::RotateKey(id) => Some(serde_json::json!({ "old_key_id": id }).to_string()),
                    _ => None,
                };
                (m, path, body)
            }
        }
    }
}

/// Logs into the UI API as `ui.admin_key` with the password in `S3O_UI_PASSWORD`; the session
/// cookie (`name=value`).
fn ui_session(cfg: &Config, addr: SocketAddr, ui: &str, cert: Option<&std::path::Path>) -> Result<String, String> {
    let key = cfg
        .ui
        .admin_key
        .as_deref()
        .ok_or("the config sets no ui.admin_key to log into the UI API with")?;
    let password = std::env::var("S3O_UI_PASSWORD")
        .map_err(|_| "set S3O_UI_PASSWORD to the UI password (the config holds only its hash)".to_string())?;
    let form = format!(
        "admin_key={}&admin_secret={}",
        percent_encode(key),
        percent_encode(&password)
    );
    let request = format!(
        "POST {ui}/login HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{form}",
        form.len()
    );
    let raw = exchange(addr, cert, request.as_bytes()).map_err(|e| format!("admin port {addr}: {e}"))?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]);
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, v)| v.split(';').next())
        .map(|c| c.trim().to_string())
        .ok_or_else(|| {
            format!(
                "UI login as {key} failed: {}",
                head.lines().next().unwrap_or("no answer")
            )
        })
}

/// Runs `command` against the admin port of `cfg`; the text to print, or the error to report.
pub fn run(cfg: &Config, command: &AdminCommand, json: bool) -> Result<String, String> {
    let admin = cfg
        .admin
        .as_ref()
        .ok_or("the config has no [admin] section: the admin port is off")?;
    let token = cfg
        .ui
        .admin_token
        .as_deref()
        .or(cfg.ui.admin_key.as_deref())
        .filter(|t| !t.is_empty())
        .ok_or("the config sets neither ui.admin_token nor ui.admin_key")?;
    let addr = connect_addr(admin.listen);
    let (method, target, body) = command.request();
    let ui = s3o_admin::route::normalize_ui_path(cfg.ui.path.as_deref().unwrap_or(s3o_admin::DEFAULT_UI_PATH));
    let target = target.replace("{ui}", &ui);
    let body = body.unwrap_or_default();
    let credential = if command.needs_session() {
        format!(
            "cookie: {}",
            ui_session(cfg, addr, &ui, admin.tls_cert_file.as_deref())?
        )
    } else {
        format!("x-admin-token: {token}")
    };
    let request = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\n{credential}\r\naccept: application/json\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = exchange(addr, admin.tls_cert_file.as_deref(), request.as_bytes())
        .map_err(|e| format!("admin port {addr}: {e}"))?;
    let (status, body) =
        crate::oidc_client::parse_response(&raw).ok_or_else(|| format!("admin port {addr}: malformed response"))?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("admin port {addr}: answered {status} with a body that is not JSON: {e}"))?;
    if status >= 400 {
        let why = value.get("error").and_then(Value::as_str).unwrap_or("(no message)");
        return Err(format!("{method} {target}: {status}: {why}"));
    }
    if json {
        return serde_json::to_string_pretty(&value).map_err(|e| e.to_string());
    }
    Ok(render(command, &value))
}

/// Where to connect for a listen address (an unspecified address means this machine).
fn connect_addr(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port()),
        _ => listen,
    }
}

/// Sends `request` and reads the whole response (the server closes after it).
fn exchange(addr: SocketAddr, cert: Option<&std::path::Path>, request: &[u8]) -> Result<Vec<u8>, String> {
    let mut tcp = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match cert {
        None => {
            tcp.write_all(request).map_err(|e| e.to_string())?;
            tcp.read_to_end(&mut out).map_err(|e| e.to_string())?;
        }
        Some(cert) => {
            let mut tls = tls_client(cert, addr.ip(), tcp)?;
            tls.write_all(request).map_err(|e| e.to_string())?;
            // A server closing without close_notify still sent a complete response.
            match tls.read_to_end(&mut out) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    Ok(out)
}

/// A TLS client trusting the admin port's own certificate file.
fn tls_client(
    cert: &std::path::Path,
    ip: IpAddr,
    tcp: TcpStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).map_err(|e| format!("{}: {e}", cert.display()))? {
        roots
            .add(c.map_err(|e| format!("{}: {e}", cert.display()))?)
            .map_err(|e| format!("{}: {e}", cert.display()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::IpAddress(ip.into())).map_err(|e| e.to_string())?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// `%XX`-encodes everything but unreserved characters and `/`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A human-readable rendering of an endpoint's JSON.
fn render(command: &AdminCommand, v: &Value) -> String {
    let s = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let rows = |v: &Value, k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    match command {
        AdminCommand::Status => {
            let healthy = v.get("db_healthy").and_then(Value::as_bool).unwrap_or(false);
            let mut t = Table::new(&[
                "BACKEND", "USED", "LIMIT", "OBJECTS", "ORPHANED", "REQUESTS", "EGRESS", "INGRESS",
            ]);
            for b in rows(v, "backends") {
                let limit = n(&b, "bytes_limit");
                t.row(vec![
                    s(&b, "name"),
                    bytes(n(&b, "bytes_used")),
                    if limit == 0 { "unlimited".into() } else { bytes(limit) },
                    n(&b, "object_count").to_string(),
                    bytes(n(&b, "orphan_bytes")),
                    n(&b, "api_requests").to_string(),
                    bytes(n(&b, "egress_bytes")),
                    bytes(n(&b, "ingress_bytes")),
                ]);
            }
            format!(
                "metadata store: {}\nusage period:   {}\n\n{}",
                if healthy { "healthy" } else { "NOT HEALTHY" },
                s(v, "usage_period"),
                t.render()
            )
        }
        AdminCommand::Workers => {
            let mut t = Table::new(&["WORKER", "LAST SUCCESS", "LAST FAILURE", "FAILURES", "LAST ERROR"]);
            for w in rows(v, "workers") {
                t.row(vec![
                    s(&w, "name"),
                    s(&w, "last_success"),
                    s(&w, "last_failure"),
                    n(&w, "consecutive_failures").to_string(),
                    s(&w, "last_error"),
                ]);
            }
            t.render()
        }
        AdminCommand::ObjectLocations(_) => {
            let mut t = Table::new(&["BACKEND", "SIZE", "CREATED", "PHYSICAL KEY"]);
            for l in rows(v, "locations") {
                t.row(vec![
                    s(&l, "BackendName"),
                    bytes(n(&l, "SizeBytes")),
                    s(&l, "CreatedAt"),
                    s(&l, "ObjectKey"),
                ]);
            }
            format!("{}\n\n{}", s(v, "key"), t.render())
        }
        AdminCommand::CleanupQueue => {
            let mut t = Table::new(&["ID", "BACKEND", "ATTEMPTS", "SIZE", "REASON", "PHYSICAL KEY"]);
            for i in rows(v, "items") {
                t.row(vec![
                    n(&i, "ID").to_string(),
                    s(&i, "BackendName"),
                    n(&i, "Attempts").to_string(),
                    bytes(n(&i, "SizeBytes")),
                    s(&i, "Reason"),
                    s(&i, "ObjectKey"),
                ]);
            }
            format!("queue depth: {}\n\n{}", n(v, "depth"), t.render())
        }
        AdminCommand::UsageFlush => format!("usage counters {}", s(v, "status")),
        AdminCommand::LogLevel(_) => format!("log level: {}", s(v, "level")),
        AdminCommand::Orchestrate(op) => render_orchestration(op, v),
    }
}

/// A human-readable rendering of an orchestration endpoint's JSON.
fn render_orchestration(op: &Orchestration, v: &Value) -> String {
    let s = |k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let skipped = v.get("reason").map(|_| format!("skipped: {}", s("reason")));
    match op {
        Orchestration::Replicate => skipped.unwrap_or_else(|| format!("copies created: {}", n("copies_created"))),
        Orchestration::Scrub(_) => format!(
            "copies checked: {}\nmismatches: {}\nrepaired: {}\ndamaged: {}\nerrors: {}",
            n("checked"),
            n("mismatches"),
            n("repaired"),
            n("damaged"),
            n("errors")
        ),
        Orchestration::HashExisting => format!("hashed: {} of {} ({} failed)", n("hashed"), n("total"), n("failed")),
        Orchestration::RotateKey(_) => format!(
            "re-wrapped: {} of {} ({} failed)",
            n("rotated"),
            n("total"),
            n("failed")
        ),
        Orchestration::EncryptExisting => format!(
            "encrypted: {} of {} ({} failed)",
            n("encrypted"),
            n("total"),
            n("failed")
        ),
        Orchestration::DecryptExisting => format!(
            "decrypted: {} of {} ({} failed)",
            n("decrypted"),
            n("total"),
            n("failed")
        ),
        Orchestration::OverReplication => format!(
            "replication factor: {}\nover-replicated versions: {}",
            n("factor"),
            n("pending")
        ),
        Orchestration::CleanOverReplication(_) => {
            skipped.unwrap_or_else(|| format!("copies removed: {}", n("copies_removed")))
        }
        Orchestration::DrainStatus(name) => {
            let active = v.get("active").and_then(Value::as_bool).unwrap_or(false);
            let mut out = format!(
                "backend {name}: {}\nobjects moved:     {}\nobjects remaining: {}\nbytes remaining:   {}",
                if active { "draining" } else { "not draining" },
                n("objects_moved"),
                n("objects_remaining"),
                bytes(n("bytes_remaining"))
            );
            if v.get("error").is_some() {
                out.push_str(&format!("\nlast error:        {}", s("error")));
            }
            out
        }
        Orchestration::DrainStart(_) | Orchestration::DrainCancel(_) | Orchestration::RemoveBackend { .. } => {
            format!("{}: {}", s("backend"), s("status"))
        }
        Orchestration::Rebalance | Orchestration::CleanExcess => s("status"),
        Orchestration::RebalanceStatus | Orchestration::CleanExcessStatus => match s("status").as_str() {
            "done" if matches!(op, Orchestration::RebalanceStatus) => format!("done: {} moved", n("moved")),
            "done" => format!("done: {} removed", n("removed")),
            "error" => format!("error: {}", s("error")),
            other => other.to_string(),
        },
    }
}

/// Bytes in binary units (`1.5 GiB`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A plain text table with left-aligned columns.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let cols = self.rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for r in &self.rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        if self.rows.len() == 1 {
            out.push_str("(none)\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_renders_as_a_table() {
        let v = serde_json::json!({
            "db_healthy": true,
            "backends": [{"name": "oci", "bytes_used": 5242880, "bytes_limit": 10737418240u64, "orphan_bytes": 0,
                          "object_count": 42, "api_requests": 1234, "egress_bytes": 5242880, "ingress_bytes": 10485760}],
            "usage_period": "2026-03"
        });
        let out = render(&AdminCommand::Status, &v);
        assert!(
            out.starts_with("metadata store: healthy\nusage period:   2026-03\n"),
            "{out}"
        );
        assert!(out.contains("oci      5.0 MiB  10.0 GiB  42"), "{out}");
    }

    #[test]
    fn responses_and_requests_are_framed() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n{\"level\":\"info\"}\nextra";
        let (status, body) = crate::oidc_client::parse_response(raw).unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{\"level\":\"info\"}\n"[..]));
        let (m, path, body) = AdminCommand::ObjectLocations("b/a key".into()).request();
        assert_eq!(
            (m, path.as_str(), body),
            ("GET", "/admin/api/object-locations?key=b/a%20key", None)
        );
        assert_eq!(
            AdminCommand::LogLevel(Some("debug".into())).request().2.unwrap(),
            "{\"level\":\"debug\"}"
        );
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(
            connect_addr("0.0.0.0:9001".parse().unwrap()),
            "127.0.0.1:9001".parse::<SocketAddr>().unwrap()
        );
    }
}
