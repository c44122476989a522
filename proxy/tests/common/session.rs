//! A browser-like session on the admin port's multi-user API: the session and CSRF cookies
//! from a local login, and calls that send them with the `X-CSRF-Token` header.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::admin::{send, Reply};

/// The value of the cookie `name` a reply sets.
pub fn cookie_value(r: &Reply, name: &str) -> String {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

/// Cookies and the CSRF token of one signed-in user.
pub struct Session {
    pub addr: SocketAddr,
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// Signs `user` in; the session and the login's JSON answer.
    pub fn login(addr: SocketAddr, user: &str, pw: &str) -> (Session, Value) {
        let body = json!({"username": user, "password": pw}).to_string();
        let r = send(
            addr,
            "POST",
            "/auth/login/local",
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let (token, csrf) = (cookie_value(&r, "stowage_session"), cookie_value(&r, "stowage_csrf"));
        let s = Session {
            addr,
            cookie: format!("stowage_session={token}; stowage_csrf={csrf}"),
            csrf,
        };
        (s, r.json())
    }

    /// A bootstrap admin signed in, its password changed as the first login demands.
    pub fn first_admin(addr: SocketAddr, user: &str, pw: &str, new_pw: &str) -> Session {
        let (s, first) = Session::login(addr, user, pw);
        assert_eq!(first["must_change_pw"], true);
        assert_eq!(
            s.call("GET", "/api/admin/users", None).status,
            403,
            "password change first"
        );
        let change = json!({"current_password": pw, "new_password": new_pw});
        assert_eq!(s.call("POST", "/api/me/password", Some(change)).status, 200);
        assert_eq!(s.call("GET", "/api/admin/users", None).status, 200);
        s
    }

    /// A call with the session's cookies and CSRF token, and these headers and body.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut all = vec![("cookie", self.cookie.as_str()), ("x-csrf-token", self.csrf.as_str())];
        all.extend_from_slice(headers);
        send(self.addr, method, path, &all, body)
    }

    /// A JSON call with the session's cookies and CSRF token.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers = [
            ("cookie", self.cookie.as_str()),
            ("x-csrf-token", self.csrf.as_str()),
            ("content-type", "application/json"),
        ];
        send(self.addr, method, path, &headers, body.as_bytes())
    }
}
