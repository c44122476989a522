//! Helpers shared by the sigv4 integration tests: fixture loading and a credential provider.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use base64::Engine;
use s3o_sigv4::CredentialProvider;
use serde::Deserialize;

#[derive(Debug, Deserialize, Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body_base64: String,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Expected {
    pub canonical_request: Option<String>,
    pub string_to_sign: Option<String>,
    pub signature: String,
    pub decoded_body_base64: String,
    pub chunk_signatures: Vec<String>,
    pub trailer_signature: Option<String>,
    pub trailer: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Fixture {
    pub name: String,
    pub credentials: Creds,
    pub region: String,
    pub now: String,
    pub auth: String,
    pub request: Req,
    pub expected: Expected,
}

impl Fixture {
    pub fn body(&self) -> Vec<u8> {
        b64(&self.request.body_base64)
    }
    pub fn decoded(&self) -> Vec<u8> {
        b64(&self.expected.decoded_body_base64)
    }
    /// The value of request header `name` (case-insensitive); panics if absent.
    pub fn header(&self, name: &str) -> &str {
        &self
            .request
            .headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(name))
            .unwrap()
            .1
    }
    pub fn now(&self) -> i64 {
        s3o_sigv4::AmzDate::parse(&self.now).unwrap().unix()
    }
    pub fn provider(&self) -> OneKey {
        OneKey(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.clone(),
        )
    }
}

pub fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

pub fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/s3");
    let mut v: Vec<Fixture> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(v.len() >= 20, "fixtures missing in {dir:?}");
    v
}

/// A provider that knows one access key; the identity is the access key.
pub struct OneKey(pub String, pub String);

impl CredentialProvider for OneKey {
    type Identity = String;
    fn lookup(&self, access_key: &str) -> Option<(&str, String)> {
        (access_key == self.0).then(|| (self.1.as_str(), self.0.clone()))
    }
}
