//! The bucket settings of the data API (`.../versioning`, `cors`, `policy`, `lifecycle`):
//! read from and written to the settings the bucket keeps in the store — the very settings the
//! S3 port's Get/Put/DeleteBucket{Versioning,Cors,Policy,Lifecycle} read and write, so both
//! APIs see one truth. Quotas and size tracking are [`super::quota`]'s.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use s3o_store::cors::CorsRule;
use s3o_store::BucketChange;

use super::handlers::{body, lifecycle_json, no_content, policy_of, versioning_of};
use super::{Bkt, DataApi, Setting, Verb};
use crate::api::api_error;
use crate::http::{Request, Response};

/// A CORS rule as the seed shows it.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Rule {
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    allowed_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age_seconds: Option<i64>,
}

/// What a setting route answered, and the audit action (with detail) of a change.
type Outcome = (Response, Option<&'static str>, Value);

/// Answers one setting route.
pub(super) async fn handle(
    req: &Request,
    data: &dyn DataApi,
    b: &Bkt,
    s: Setting,
    verb: Verb,
    who: &str,
) -> Result<Outcome, Response> {
    let fail = |e: super::DataError| e.response();
    let change = |c: BucketChange| async { data.change(b, c).await.map_err(fail) };
    Ok(match (s, verb) {
        (Setting::Versioning, Verb::Get) => {
            let on = data.settings(b).await.map_err(fail)?.versioning == s3o_store::Versioning::Enabled;
            (Response::json(200, &json!({ "enabled": on })), None, Value::Null)
        }
        (Setting::Versioning, _) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                enabled: bool,
            }
            let v: Body = body(req, 1024)?;
            change(versioning_of(v.enabled)).await?;
            let detail = json!({ "enabled": v.enabled });
            (Response::json(200, &detail), Some("bucket.versioning.set"), detail)
        }
        (Setting::Cors, Verb::Get) => {
            let rules: Vec<Rule> = data
                .settings(b)
                .await
                .map_err(fail)?
                .cors
                .unwrap_or_default()
                .into_iter()
                .map(|r| Rule {
                    allowed_origins: r.allowed_origins,
                    allowed_methods: r.allowed_methods,
                    allowed_headers: r.allowed_headers,
                    expose_headers: r.expose_headers,
                    max_age_seconds: r.max_age_secs.map(i64::from),
                })
                .collect();
            (Response::json(200, &json!({ "rules": rules })), None, Value::Null)
        }
        (Setting::Cors, _) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                rules: Vec<Rule>,
            }
            let c: Body = body(req, 64 * 1024)?;
            let count = c.rules.len();
            let mut rules = Vec::with_capacity(count);
            for (i, r) in c.rules.into_iter().enumerate() {
                rules.push(cors_rule(i, r)?);
            }
            if rules.len() > s3o_store::cors::MAX_RULES {
                return Err(api_error(400, "invalid_cors", "at most 100 rules"));
            }
            // An empty list removes the rules.
            change(BucketChange::Cors(Some(rules).filter(|r| !r.is_empty()))).await?;
            (no_content(), Some("bucket.cors.set"), json!({ "rules": count }))
        }
        (Setting::Policy, Verb::Get) => {
            let settings = data.settings(b).await.map_err(fail)?;
            let text = settings.policy.as_ref().map_or("", |p| p.text()).to_owned();
            (Response::json(200, &json!({ "policy": text })), None, Value::Null)
        }
        (Setting::Policy, Verb::Put) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                policy: String,
            }
            let p: Body = body(req, 256 * 1024)?;
            let policy = policy_of(&p.policy, &b.bucket)?;
            let blocked = data
                .settings(b)
                .await
                .map_err(fail)?
                .public_access_block
                .is_some_and(|p| p.block_public_policy);
            if blocked && policy.is_public() {
                return Err(api_error(
                    403,
                    "forbidden",
                    "the bucket's public access block refuses public policies",
                ));
            }
            change(BucketChange::Policy(Some(policy))).await?;
            (no_content(), Some("bucket.policy.set"), Value::Null)
        }
        (Setting::Policy, Verb::Delete) => {
            change(BucketChange::Policy(None)).await?;
            (no_content(), Some("bucket.policy.delete"), Value::Null)
        }
        (Setting::Lifecycle, Verb::Get) => {
            let rules: Vec<_> = data
                .settings(b)
                .await
                .map_err(fail)?
                .lifecycle
                .unwrap_or_default()
                .iter()
                .map(lifecycle_json::of)
                .collect();
            (Response::json(200, &json!({ "rules": rules })), None, Value::Null)
        }
        (Setting::Lifecycle, _) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                rules: Vec<lifecycle_json::Rule>,
            }
            let l: Body = body(req, 64 * 1024)?;
            let count = l.rules.len();
            let stored = data.settings(b).await.map_err(fail)?.lifecycle.unwrap_or_default();
            let mut rules = Vec::with_capacity(count);
            for (i, r) in l.rules.into_iter().enumerate() {
                let was = stored.iter().find(|w| !r.id.is_empty() && w.id == r.id);
                rules.push(lifecycle_json::to_rule(i, r, was)?);
            }
            if let Err(e) = s3o_store::lifecycle::validate(&rules) {
                let m = match e {
                    s3o_store::lifecycle::RuleError::InvalidArgument(m)
                    | s3o_store::lifecycle::RuleError::InvalidRequest(m) => m,
                };
                return Err(api_error(400, "invalid_lifecycle", m));
            }
            change(BucketChange::Lifecycle(Some(rules).filter(|r| !r.is_empty()))).await?;
            (no_content(), Some("bucket.lifecycle.set"), json!({ "rules": count }))
        }
        (Setting::Quota | Setting::SizeTracking, _) => {
            return super::quota::setting(req, data, b, s, verb, who).await;
        }
    })
}

/// A seed CORS rule checked (`i`: its index, in the messages) and as stored.
fn cors_rule(i: usize, r: Rule) -> Result<CorsRule, Response> {
    let invalid = |m: String| api_error(400, "invalid_cors", &m);
    if r.allowed_origins.is_empty() {
        return Err(invalid(format!("rule {i}: allowed_origins is required")));
    }
    if r.allowed_methods.is_empty() {
        return Err(invalid(format!("rule {i}: allowed_methods is required")));
    }
    if let Some(m) = r
        .allowed_methods
        .iter()
        .find(|m| !s3o_store::cors::METHODS.contains(&m.as_str()))
    {
        return Err(invalid(format!("rule {i}: method {m} is not allowed by S3")));
    }
    let max_age = match r.max_age_seconds {
        Some(n) if n < 0 => return Err(invalid(format!("rule {i}: max_age_seconds must be non-negative"))),
        Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        None => None,
    };
    let rule = CorsRule {
        id: None,
        allowed_methods: r.allowed_methods,
        allowed_origins: r.allowed_origins,
        allowed_headers: r.allowed_headers,
        expose_headers: r.expose_headers,
        max_age_secs: max_age,
    };
    match rule.problem() {
        Some(why) => Err(invalid(format!("rule {i}: {why}"))),
        None => Ok(rule),
    }
}
