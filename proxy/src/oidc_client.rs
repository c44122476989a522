//! The HTTP side of OpenID Connect for the admin port: `[access.oidc]`, and an
//! [`OidcTransport`] that makes each request (discovery, keys, token exchange) with a small
//! blocking HTTP/1.1 client on a thread of its own, so the admin thread's runtime never waits on
//! the provider. HTTPS trusts the web PKI roots plus `ca_file`; bodies are capped at
//! [`MAX_RESPONSE`] and every request at [`TIMEOUT`].

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine;
use parking_lot::Mutex;
use serde::Deserialize;

use s3o_admin::access::oidc::{OidcConfig, OidcTransport};
use s3o_admin::access::records::Role;
use s3o_admin::BoxFuture;

/// Longest a request to the provider may take (connect, send, answer).
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read from the provider (discovery, keys and tokens are small).
const MAX_RESPONSE: u64 = 1 << 20;

/// `[access.oidc]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// The issuer URL.
    pub issuer: String,
    /// Our client id.
    pub client_id: String,
    /// Our client secret (HTTP Basic at the token endpoint); absent for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `{this admin port's public URL}/auth/callback`, as registered at the provider.
    pub redirect_url: String,
    /// Scopes besides `openid` (default `profile`, `email`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim whose values map to roles (a dotted path; default `groups`).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Values of that claim that make an admin.
    #[serde(default)]
    pub admin_values: Vec<String>,
    /// ... a user.
    #[serde(default)]
    pub user_values: Vec<String>,
    /// ... a read-only user.
    #[serde(default)]
    pub readonly_values: Vec<String>,
    /// The role when none matches (default `user`).
    #[serde(default)]
    pub default_role: Option<String>,
    /// Extra PEM certificates to trust for the provider's HTTPS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}

fn default_role_claim() -> String {
    "groups".into()
}

impl OidcSection {
    /// The relying party's settings; a bad role or URL is an error naming it.
    pub fn settings(&self) -> Result<OidcConfig, String> {
        let default_role = match self.default_role.as_deref() {
            None => Role::User,
            Some(r) => {
                Role::parse(r).ok_or_else(|| format!("[access.oidc] default_role {r:?}: admin, user or readonly"))?
            }
        };
        for (what, url) in [("issuer", &self.issuer), ("redirect_url", &self.redirect_url)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("[access.oidc] {what} must be an http(s) URL"));
            }
        }
        Ok(OidcConfig {
            issuer: self.issuer.trim_end_matches('/').to_owned(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone().filter(|s| !s.is_empty()),
            redirect_url: self.redirect_url.clone(),
            scopes: self.scopes.clone(),
            role_claim: self.role_claim.clone(),
            admin_values: self.admin_values.clone(),
            user_values: self.user_values.clone(),
            readonly_values: self.readonly_values.clone(),
            default_role,
        })
    }

    /// The transport, trusting `ca_file` besides the web roots.
    pub fn transport(&self) -> Result<BlockingTransport, String> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &self.ca_file {
            for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("[access.oidc] ca_file {}: {e}", path.display()))?
            {
                let cert = cert.map_err(|e| format!("[access.oidc] ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("[access.oidc] ca_file {}: {e}", path.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(BlockingTransport { tls: Arc::new(tls) })
    }
}

/// Requests made with std sockets on a thread each.
pub struct BlockingTransport {
    tls: Arc<rustls::ClientConfig>,
}

impl OidcTransport for BlockingTransport {
    fn get(&self, url: &str) -> BoxFuture<'static, Result<(u16, Vec<u8>), String>> {
        let (url, tls) = (url.to_owned(), self.tls.clone());
        Box::pin(off_thread(move || request(&tls, "GET", &url, None, None)))
    }

    fn post_form(
        &self,
        url: &str,
        form: Vec<(String, String)>,
        basic: Option<(String, String)>,
    ) -> BoxFuture<'static, Result<(u16, Vec<u8>), String>> {
        let (url, tls) = (url.to_owned(), self.tls.clone());
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    s3o_admin::access::oidc::form_encode(k),
                    s3o_admin::access::oidc::form_encode(v)
                )
            })
            .collect();
        let body = body.join("&").into_bytes();
        Box::pin(off_thread(move || request(&tls, "POST", &url, Some(body), basic)))
    }
}

/// Where a thread leaves its result, and the waker of the task waiting for it.
type Slot<T> = Arc<Mutex<(Option<Result<T, String>>, Option<Waker>)>>;

/// Runs `f` on a new thread; the future resolves with its result.
fn off_thread<T: Send + 'static>(f: impl FnOnce() -> Result<T, String> + Send + 'static) -> OffThread<T> {
    let slot: Slot<T> = Arc::default();
    let s = slot.clone();
    let spawned = std::thread::Builder::new().name("s3o-oidc".into()).spawn(move || {
        let out = f();
        let mut g = s.lock();
        g.0 = Some(out);
        if let Some(w) = g.1.take() {
            w.wake();
        }
    });
    if let Err(e) = spawned {
        slot.lock().0 = Some(Err(format!("cannot start a thread: {e}")));
    }
    OffThread { slot }
}

/// The future of [`off_thread`].
struct OffThread<T> {
    slot: Slot<T>,
}

impl<T> Future for OffThread<T> {
    type Output = Result<T, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut g = self.slot.lock();
        match g.0.take() {
            Some(out) => Poll::Ready(out),
            None => {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// One HTTP/1.1 exchange (`Connection: close`): the status and the (de-chunked) body.
fn request(
    tls: &Arc<rustls::ClientConfig>,
    method: &str,
    url: &str,
    body: Option<Vec<u8>>,
    basic: Option<(String, String)>,
) -> Result<(u16, Vec<u8>), String> {
    let (https, rest) = match url.split_once("://") {
        Some(("https", r)) => (true, r),
        Some(("http", r)) => (false, r),
        _ => return Err(format!("{url}: not an http(s) URL")),
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let host = authority
        .rsplit_once(':')
        .filter(|(_, p)| p.parse::<u16>().is_ok())
        .map_or(authority, |(h, _)| h);
    let addr_text = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let addr = addr_text
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{url}: {e}"))?;
    tcp.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: s3-orchestrator\r\n");
    if let Some((user, pass)) = basic {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        head.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    if method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut raw = Vec::new();
    if https {
        let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| format!("{url}: {e}"))?;
        let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(|e| format!("{url}: {e}"))?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(&body))
            .map_err(|e| format!("{url}: {e}"))?;
        read_all(&mut s, &mut raw).map_err(|e| format!("{url}: {e}"))?;
    } else {
        let mut s = tcp;
        s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(&body))
            .map_err(|e| format!("{url}: {e}"))?;
        read_all(&mut s, &mut raw).map_err(|e| format!("{url}: {e}"))?;
    }
    parse_response(&raw).ok_or_else(|| format!("{url}: malformed HTTP response"))
}

/// Reads until EOF (a close without TLS close_notify still ends a complete response), capped.
fn read_all(s: &mut impl Read, out: &mut Vec<u8>) -> std::io::Result<()> {
    match s.take(MAX_RESPONSE).read_to_end(out) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(e),
    }
}

/// The status and body of a whole HTTP/1.1 response read to the end (`Content-Length` or
/// chunked); also the admin CLI's.
pub(crate) fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let mut body = &raw[end + 4..];
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        loop {
            let line_end = body.windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            body = &body[line_end + 2..];
            if size == 0 {
                return Some((status, out));
            }
            out.extend_from_slice(body.get(..size)?);
            body = body.get(size + 2..)?;
        }
    }
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body = body.get(..len)?;
    }
    Some((status, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn responses_with_length_or_chunks() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_response(plain), Some((200, b"{}".to_vec())));
        let chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((201, b"abcde".to_vec())));
        assert_eq!(parse_response(b"garbage"), None);
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            None
        );
    }
}
