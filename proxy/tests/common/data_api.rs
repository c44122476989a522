//! Helpers of the data API tests: a server with the access layer and a bootstrap admin,
//! sessions of users with given roles, and reading replies.

use serde_json::{json, Value};

use super::admin::Reply;
use super::session::Session;
use super::TestServer;

pub const BOSS_PW: &str = "boss-password-123";

pub fn server() -> TestServer {
    let extra = format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[access]\nsecret_key = \"{}\"\n\n[access.bootstrap_admin]\nusername = \"boss\"\npassword = \"{BOSS_PW}\"\n",
        "cd".repeat(32)
    );
    TestServer::start_with(&extra)
}

/// The admin, and a session of a new user with `role`.
pub fn sessions(s: &TestServer, roles: &[&str]) -> (Session, Vec<Session>) {
    let addr = s.admin_addr();
    let admin = Session::first_admin(addr, "boss", BOSS_PW, "boss-password-456");
    let others = roles
        .iter()
        .map(|role| {
            let new = json!({"username": role, "password": format!("{role}-password-1"), "role": role, "must_change_pw": false});
            let r = admin.call("POST", "/api/admin/users", Some(new));
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            Session::login(addr, role, &format!("{role}-password-1")).0
        })
        .collect();
    (admin, others)
}

pub const WEB: &str = "/api/backends/orchestrator/buckets/web";

pub fn ok(r: &Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

pub fn code(r: &Reply) -> (u16, String) {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v["error"]["code"].as_str().unwrap_or_default().to_owned())
}

/// Waits (at most 5 s: the audit log is written behind a queue) until the admin's audit view
/// has an event of every one of `actions`.
pub fn assert_audited(admin: &Session, actions: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let audit = ok(&admin.call("GET", "/api/admin/audit?limit=100", None), 200).to_string();
        let missing: Vec<_> = actions.iter().filter(|a| !audit.contains(**a)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{missing:?} not audited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
