//! Tests of token, session and login authentication, and helpers other test modules share.

use std::net::IpAddr;

use argon2::{Algorithm, Argon2, Params, Version};
use bytes::Bytes;

use super::*;

pub(crate) const TOKEN: &str = "s3cr3t-token";
pub(crate) const USER: &str = "admin";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// An argon2id hash with tiny cost, so debug-build tests stay fast.
pub(crate) fn cheap_hash(plain: &str) -> String {
    let params = Params::new(8, 1, 1, None).unwrap();
    hash_password_with(plain, &Argon2::new(Algorithm::Argon2id, Version::V0x13, params)).unwrap()
}

pub(crate) fn test_auth() -> Auth {
    Auth::new(&AuthConfig {
        admin_token: Some(TOKEN.into()),
        admin_key: Some(USER.into()),
        admin_secret: Some(cheap_hash(PASSWORD)),
        ..AuthConfig::default()
    })
    .unwrap()
}

pub(crate) fn peer(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, n])
}

pub(crate) fn login_req(key: &str, secret: &str, n: u8) -> Request {
    let mut r = Request::new("POST", "/ui/login", peer(n));
    r.headers
        .push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    let body = format!("admin_key={}&admin_secret={}", enc(key), enc(secret));
    r.body = Bytes::from(body);
    r
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The cookie value a login response sets.
pub(crate) fn session_from(resp: &Response) -> String {
    let sc = resp.header("set-cookie").unwrap();
    let v = sc.strip_prefix("s3o_session=").unwrap();
    v.split(';').next().unwrap().to_owned()
}

/// A request carrying the session cookie `value`.
pub(crate) fn with_session(mut r: Request, value: &str) -> Request {
    r.headers
        .push(("cookie".into(), format!("theme=dark; s3o_session={value}")));
    r
}

/// A request carrying the admin token.
pub(crate) fn with_token(mut r: Request) -> Request {
    r.headers.push(("x-admin-token".into(), TOKEN.into()));
    r
}

#[test]
fn admin_token() {
    let a = test_auth();
    let r = Request::new("GET", "/admin/api/status", peer(1));
    assert_eq!(a.authenticate(&r, Route::AdminStatus).unwrap_err().status, 401);
    assert_eq!(
        a.authenticate(&with_token(r.clone()), Route::AdminStatus),
        Ok(Principal::AdminToken)
    );
    for bad in ["", "s3cr3t-toke", "s3cr3t-tokenX", "S3CR3T-TOKEN"] {
        let mut b = r.clone();
        b.headers.push(("x-admin-token".into(), bad.into()));
        let resp = a.authenticate(&b, Route::AdminStatus).unwrap_err();
        assert_eq!(resp.status, 401);
        assert_eq!(&resp.body[..], br#"{"error":"invalid admin token"}"#);
    }
    // A session cookie does not open the admin API, nor the token the UI API.
    let login = a.login(&login_req(USER, PASSWORD, 1));
    let s = with_session(r.clone(), &session_from(&login));
    assert_eq!(a.authenticate(&s, Route::AdminStatus).unwrap_err().status, 401);
    let t = with_token(Request::new("GET", "/ui/api/dashboard", peer(1)));
    assert_eq!(a.authenticate(&t, Route::UiDashboard).unwrap_err().status, 401);
}

#[test]
fn token_falls_back_to_admin_key_and_unset_disables() {
    let a = Auth::new(&AuthConfig {
        admin_key: Some("k".into()),
        ..AuthConfig::default()
    })
    .unwrap();
    let mut r = Request::new("GET", "/admin/api/status", peer(1));
    r.headers.push(("x-admin-token".into(), "k".into()));
    assert!(a.authenticate(&r, Route::AdminStatus).is_ok());
    let none = Auth::new(&AuthConfig::default()).unwrap();
    let empty = Auth::new(&AuthConfig {
        admin_token: Some(String::new()),
        ..AuthConfig::default()
    })
    .unwrap();
    for a in [none, empty] {
        let mut r = Request::new("GET", "/admin/api/status", peer(1));
        r.headers.push(("x-admin-token".into(), String::new()));
        assert_eq!(a.authenticate(&r, Route::AdminStatus).unwrap_err().status, 401);
        assert_eq!(a.login(&login_req("", "", 1)).status, 401);
    }
}

#[test]
fn public_routes_need_nothing() {
    let a = test_auth();
    for route in [
        Route::Health,
        Route::HealthReady,
        Route::Metrics,
        Route::UiLogin,
        Route::UiLogout,
    ] {
        let r = Request::new("GET", "/", peer(1));
        assert_eq!(a.authenticate(&r, route), Ok(Principal::Anonymous));
    }
}

#[test]
fn login_sets_a_session_that_authenticates() {
    let a = test_auth();
    let resp = a.login(&login_req(USER, PASSWORD, 1));
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], br#"{"ok":true}"#);
    let sc = resp.header("set-cookie").unwrap();
    assert!(
        sc.ends_with("; Max-Age=86400; Path=/ui; HttpOnly; SameSite=Strict"),
        "{sc}"
    );
    let s = with_session(Request::new("GET", "/ui/api/tree", peer(9)), &session_from(&resp));
    assert_eq!(a.authenticate(&s, Route::UiTree), Ok(Principal::Session(USER.into())));
}

#[test]
fn login_over_tls_from_a_browser() {
    let a = Auth::new(&AuthConfig {
        ui_path: "/console/".into(),
        admin_key: Some(USER.into()),
        admin_secret: Some(cheap_hash(PASSWORD)),
        ..AuthConfig::default()
    })
    .unwrap();
    let mut r = login_req(USER, PASSWORD, 1);
    r.tls = true;
    r.headers.push(("accept".into(), "text/html,*/*;q=0.8".into()));
    let resp = a.login(&r);
    assert_eq!(resp.status, 303);
    assert_eq!(resp.header("location"), Some("/console/"));
    let sc = resp.header("set-cookie").unwrap();
    assert!(sc.ends_with("Path=/console; HttpOnly; SameSite=Strict; Secure"), "{sc}");
}

#[test]
fn bad_logins() {
    let a = test_auth();
    for (k, s) in [(USER, "wrong"), ("root", PASSWORD), ("", "")] {
        let resp = a.login(&login_req(k, s, 2));
        assert_eq!(resp.status, 401, "{k}:{s}");
        assert_eq!(&resp.body[..], br#"{"error":"invalid credentials"}"#);
        assert!(resp.header("set-cookie").is_none());
    }
    let mut r = login_req(USER, PASSWORD, 3);
    r.body = Bytes::from_static(b"admin_key=admin");
    assert_eq!(a.login(&r).status, 400);
    r.body = Bytes::from_static(b"admin_key=%zz&admin_secret=x");
    assert_eq!(a.login(&r).status, 400);
    r.headers[0].1 = "application/json".into();
    r.body = Bytes::from(format!(r#"{{"admin_key":"{USER}","admin_secret":"{PASSWORD}"}}"#));
    assert_eq!(a.login(&r).status, 400);
    r.headers.clear();
    r.body = Bytes::from(vec![b'a'; MAX_JSON_BODY + 1]);
    assert_eq!(a.login(&r).status, 413);
}

#[test]
fn lockout_after_five_failures_and_success_resets() {
    let a = test_auth();
    let t0 = 1_772_461_800_000;
    for i in 0..4 {
        assert_eq!(a.login_at(&login_req(USER, "nope", 4), t0 + i).status, 401);
    }
    assert_eq!(
        a.login_at(&login_req(USER, PASSWORD, 4), t0 + 5).status,
        200,
        "success resets"
    );
    for i in 0..5 {
        assert_eq!(a.login_at(&login_req(USER, "nope", 4), t0 + 10 + i).status, 401);
    }
    let locked = a.login_at(&login_req(USER, PASSWORD, 4), t0 + 1000);
    assert_eq!(locked.status, 429);
    assert_eq!(
        &locked.body[..],
        br#"{"error":"too many failed logins, try again later"}"#
    );
    assert_eq!(locked.header("retry-after"), Some("900"));
    assert_eq!(
        a.login_at(&login_req(USER, PASSWORD, 5), t0 + 1000).status,
        200,
        "other peer"
    );
    let later = t0 + 14 + 15 * 60_000;
    assert_eq!(
        a.login_at(&login_req(USER, PASSWORD, 4), later).status,
        200,
        "lock over"
    );
}

#[test]
fn forged_expired_truncated_and_resigned_sessions() {
    let a = test_auth();
    let good = session_from(&a.login(&login_req(USER, PASSWORD, 1)));
    let now = now_ms() / 1000;
    let other = Auth::new(&AuthConfig {
        admin_key: Some(USER.into()),
        admin_secret: Some(cheap_hash(PASSWORD)),
        ..AuthConfig::default()
    })
    .unwrap();
    let (payload, _) = good.rsplit_once('.').unwrap();
    let bad = [
        a.issue_session(USER, now - 1),                                   // expired
        a.issue_session("someone-else", now + 60),                        // not the configured user
        other.issue_session(USER, now + 60),                              // signed by another process
        good[..good.len() - 3].to_owned(),                                // truncated
        format!("{payload}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), // forged tag
        format!("{}{}", &good[..1], &good[2..]),                          // mangled
        String::new(),
    ];
    for value in bad {
        let r = with_session(Request::new("GET", "/ui/api/dashboard", peer(1)), &value);
        let resp = a.authenticate(&r, Route::UiDashboard).unwrap_err();
        assert_eq!(resp.status, 401, "{value}");
    }
    let r = with_session(Request::new("GET", "/ui/api/dashboard", peer(1)), &good);
    assert!(a.authenticate(&r, Route::UiDashboard).is_ok());
    assert_eq!(
        a.authenticate_at(&r, Route::UiDashboard, now + SESSION_TTL_SECS + 1)
            .unwrap_err()
            .status,
        401
    );
}

#[test]
fn logout_clears_the_cookie() {
    let a = test_auth();
    let resp = a.logout(&Request::new("POST", "/ui/logout", peer(1)));
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("set-cookie"),
        Some("s3o_session=; Max-Age=0; Path=/ui; HttpOnly; SameSite=Strict")
    );
}

#[test]
fn password_hashing() {
    let h = cheap_hash("pw");
    assert!(h.starts_with("$argon2id$v=19$"), "{h}");
    assert_ne!(cheap_hash("pw"), h, "fresh salt each time");
    let parsed = PasswordHash::new(&h).unwrap();
    assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
    assert!(Argon2::default().verify_password(b"pW", &parsed).is_err());
    let real = hash_password("pw").unwrap();
    assert!(real.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{real}");
    for bad in [
        "plaintext",
        "$2b$12$abcdefghijklmnopqrstuu",
        "$pbkdf2-sha256$i=1$c2FsdA$aGFzaA",
    ] {
        let cfg = AuthConfig {
            admin_secret: Some(bad.into()),
            ..AuthConfig::default()
        };
        assert!(matches!(Auth::new(&cfg), Err(Error::PasswordHash(_))), "{bad}");
    }
}

#[test]
fn debug_output_hides_secrets() {
    let cfg = AuthConfig {
        admin_token: Some(TOKEN.into()),
        admin_key: Some(USER.into()),
        admin_secret: Some(cheap_hash(PASSWORD)),
        session_key: Some(b"session-secret".to_vec()),
        ..AuthConfig::default()
    };
    let a = Auth::new(&cfg).unwrap();
    for text in [format!("{cfg:?}"), format!("{a:?}")] {
        assert!(
            !text.contains(TOKEN) && !text.contains("argon2") && !text.contains("115, 101"),
            "{text}"
        );
        assert!(text.contains(USER));
    }
}
