//! Bucket policies (`PutBucketPolicy`): the JSON document a bucket's owner sets, kept as sent
//! (GetBucketPolicy returns it byte for byte) beside its parsed statements, and the question the
//! proxy asks of it for each request: does a statement explicitly deny this caller this action
//! on this resource, or allow it?
//!
//! Only what the proxy can enforce is accepted; anything else is refused when the policy is
//! set, never ignored: principals are `*` or canonical ids (`{"AWS": id}`,
//! `arn:aws:iam::<id>:root`, `{"CanonicalUser": id}`), actions are S3's, resources name this
//! bucket or keys in it (wildcards allowed), and conditions use the keys and operators of
//! [`condition`]. `NotPrincipal` is taken with `Deny` only, as AWS advises.

pub mod condition;

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use condition::{Condition, Found, Key};

/// The largest policy document S3 takes.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// The S3 actions a policy may name (matched case-insensitively, wildcards allowed).
pub const ACTIONS: [&str; 51] = [
    "s3:AbortMultipartUpload",
    "s3:BypassGovernanceRetention",
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLocation",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetLifecycleConfiguration",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionTagging",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:ListMultipartUploadParts",
    "s3:PutBucketAcl",
    "s3:PutBucketCORS",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketTagging",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectVersionTagging",
];

/// Why a policy document is refused (S3's `MalformedPolicy`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl PolicyError {
    pub(crate) fn new(why: impl Into<String>) -> Self {
        PolicyError(why.into())
    }
}

/// Who a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principals {
    /// Everyone, unsigned callers included.
    Any,
    /// Callers with these canonical ids.
    Ids(Vec<String>),
}

impl Principals {
    fn includes(&self, caller: Option<&str>) -> bool {
        match self {
            Principals::Any => true,
            Principals::Ids(ids) => caller.is_some_and(|c| ids.iter().any(|id| id == c)),
        }
    }
}

/// A list of patterns, or (`Not...`) everything but them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Patterns {
    items: Vec<String>,
    not: bool,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    deny: bool,
    principals: Principals,
    not_principal: bool,
    /// Lower-case action patterns.
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// A request as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller's canonical id; `None` when unsigned.
    pub caller: Option<&'a str>,
    /// The S3 action, as in [`ACTIONS`].
    pub action: &'a str,
    /// The bucket.
    pub bucket: &'a str,
    /// The object's key, for an object action.
    pub key: Option<&'a str>,
}

/// What a request carries for each condition key.
pub trait Facts {
    /// The request's values for `key`.
    fn found(&self, key: &Key) -> Found;
}

/// What a policy says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No statement applies: the ACL decides.
    Neutral,
    /// A statement allows it (and none denies it).
    Allow,
    /// A statement denies it.
    Deny,
}

/// A [`Verdict`] from the statements that could be judged, and whether some could not (they
/// need an existing object's tags): those are judged again once the object is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The verdict of the statements judged.
    pub verdict: Verdict,
    /// Whether a statement was left undecided.
    pub undecided: bool,
}

/// A bucket policy: the document as sent and its statements.
#[derive(Debug, Clone)]
pub struct BucketPolicy {
    text: Arc<str>,
    statements: Arc<[Statement]>,
}

impl PartialEq for BucketPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for BucketPolicy {}

impl Serialize for BucketPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for BucketPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(BucketPolicy::parse(&text).unwrap_or_else(|e| BucketPolicy::unreadable(&text, &e)))
    }
}

impl BucketPolicy {
    /// Parses and checks a policy document (any bucket's; see [`check_bucket`](Self::check_bucket)).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::new("Policies must be at most 20 KB"));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|_| PolicyError::new("Policies must be valid JSON and the first byte must be '{'"))?;
        let Value::Object(doc) = doc else {
            return Err(PolicyError::new(
                "Policies must be valid JSON and the first byte must be '{'",
            ));
        };
        for (field, value) in &doc {
            match field.as_str() {
                "Version" if value == "2012-10-17" || value == "2008-10-17" => {}
                "Version" => return Err(PolicyError::new("Document is invalid: Invalid Version")),
                "Id" | "Statement" => {}
                other => return Err(PolicyError::new(format!("Unknown field {other}"))),
            }
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().map(statement).collect::<Result<Vec<_>, _>>()?,
            Some(one @ Value::Object(_)) => vec![statement(one)?],
            Some(_) => return Err(PolicyError::new("Statement must be an object or a list")),
            None => return Err(PolicyError::new("Missing required field Statement")),
        };
        if statements.is_empty() {
            return Err(PolicyError::new("Could not parse the policy: Statement is empty!"));
        }
        Ok(BucketPolicy {
            text: text.into(),
            statements: statements.into(),
        })
    }

    /// A stored document this version cannot read (a later one's rules, or damage): kept as it
    /// is, and judged as denying everything to everyone, so that it fails closed; the bucket's
    /// owner can still read, replace or delete it.
    fn unreadable(text: &str, why: &PolicyError) -> Self {
        tracing::error!(error = %why, "a stored bucket policy cannot be read: it denies everything until replaced");
        let everything = |item: &str| Patterns {
            items: vec![item.to_owned()],
            not: false,
        };
        BucketPolicy {
            text: text.into(),
            statements: vec![Statement {
                deny: true,
                principals: Principals::Any,
                not_principal: false,
                actions: everything("*"),
                resources: everything("*"),
                conditions: Vec::new(),
            }]
            .into(),
        }
    }

    /// The document as it was sent.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Refuses a policy with a resource outside `bucket` (AWS's "Policy has invalid resource";
    /// a `NotResource` may name anything).
    pub fn check_bucket(&self, bucket: &str) -> Result<(), PolicyError> {
        for s in self.statements.iter().filter(|s| !s.resources.not) {
            for r in &s.resources.items {
                let bucket_part = r
                    .strip_prefix("arn:aws:s3:::")
                    .map(|p| p.split('/').next().unwrap_or(p));
                let ok = r == "*" || bucket_part.is_some_and(|b| glob(b, bucket, false));
                if !ok {
                    return Err(PolicyError::new("Policy has invalid resource"));
                }
            }
        }
        Ok(())
    }

    /// Whether the policy makes the bucket public: an Allow for everyone (`Principal: *`) that
    /// no condition narrows to fixed callers (GetBucketPolicyStatus, BlockPublicPolicy).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            !s.deny
                && !s.not_principal
                && s.principals == Principals::Any
                && !s.conditions.iter().any(Condition::fixes_caller)
        })
    }

    /// Judges `req`, with `facts` answering the conditions.
    pub fn evaluate(&self, req: &Request<'_>, facts: &dyn Facts) -> Outcome {
        let action = req.action.to_ascii_lowercase();
        let resource = match req.key {
            Some(key) => format!("arn:aws:s3:::{}/{key}", req.bucket),
            None => format!("arn:aws:s3:::{}", req.bucket),
        };
        let mut out = Outcome {
            verdict: Verdict::Neutral,
            undecided: false,
        };
        for s in self.statements.iter() {
            let applies = s.principals.includes(req.caller) != s.not_principal
                && matches_any(&s.actions, &action, true)
                && matches_any(&s.resources, &resource, false);
            if !applies {
                continue;
            }
            let mut judged = Some(true);
            for c in &s.conditions {
                match c.holds(&facts.found(&c.key)) {
                    Some(true) => {}
                    Some(false) => {
                        judged = Some(false);
                        break;
                    }
                    None => judged = None,
                }
            }
            match judged {
                Some(false) => {}
                None => out.undecided = true,
                Some(true) if s.deny => out.verdict = Verdict::Deny,
                Some(true) if out.verdict == Verdict::Neutral => out.verdict = Verdict::Allow,
                Some(true) => {}
            }
        }
        out
    }
}

fn matches_any(p: &Patterns, value: &str, ignore_case: bool) -> bool {
    p.items.iter().any(|pat| glob(pat, value, ignore_case)) != p.not
}

/// Parses one statement.
fn statement(v: &Value) -> Result<Statement, PolicyError> {
    let Value::Object(s) = v else {
        return Err(PolicyError::new("Each statement must be an object"));
    };
    for field in s.keys() {
        if ![
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ]
        .contains(&field.as_str())
        {
            return Err(PolicyError::new(format!("Unknown field {field}")));
        }
    }
    let deny = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => false,
        Some("Deny") => true,
        Some(_) => return Err(PolicyError::new("Invalid effect")),
        None => return Err(PolicyError::new("Missing required field Effect")),
    };
    let (principals, not_principal) = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(p), None) => (principals(p)?, false),
        (None, Some(_)) if !deny => {
            return Err(PolicyError::new("NotPrincipal is supported with Effect Deny only"));
        }
        (None, Some(p)) => (principals(p)?, true),
        (None, None) => return Err(PolicyError::new("Missing required field Principal")),
        (Some(_), Some(_)) => return Err(PolicyError::new("Principal and NotPrincipal cannot both be set")),
    };
    let actions = patterns(s, "Action", "NotAction")?;
    for a in &actions.items {
        let known = a == "*" || ACTIONS.iter().any(|k| glob(a, &k.to_ascii_lowercase(), true));
        if !known {
            return Err(PolicyError::new("Policy has invalid action"));
        }
    }
    let resources = patterns(s, "Resource", "NotResource")?;
    for r in &resources.items {
        if r != "*" && !r.starts_with("arn:aws:s3:::") || r.contains("${") {
            return Err(PolicyError::new("Policy has invalid resource"));
        }
    }
    let conditions = match s.get("Condition") {
        Some(c) => Condition::parse_block(c)?,
        None => Vec::new(),
    };
    Ok(Statement {
        deny,
        principals,
        not_principal,
        actions: Patterns {
            items: actions.items.iter().map(|a| a.to_ascii_lowercase()).collect(),
            not: actions.not,
        },
        resources,
        conditions,
    })
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: exactly one of the two, a string or a
/// non-empty list of strings.
fn patterns(s: &Map<String, Value>, yes: &str, no: &str) -> Result<Patterns, PolicyError> {
    let (value, not) = match (s.get(yes), s.get(no)) {
        (Some(v), None) => (v, false),
        (None, Some(v)) => (v, true),
        (None, None) => return Err(PolicyError::new(format!("Missing required field {yes}"))),
        (Some(_), Some(_)) => return Err(PolicyError::new(format!("{yes} and {no} cannot both be set"))),
    };
    let items =
        strings(value).ok_or_else(|| PolicyError::new(format!("{yes} must be a string or a list of strings")))?;
    Ok(Patterns { items, not })
}

/// A string or a non-empty list of strings.
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

/// A statement's principals: `*`, or `AWS` / `CanonicalUser` ids.
fn principals(v: &Value) -> Result<Principals, PolicyError> {
    let invalid = || PolicyError::new("Invalid principal in policy");
    let Value::Object(map) = v else {
        return match v.as_str() {
            Some("*") => Ok(Principals::Any),
            _ => Err(invalid()),
        };
    };
    let (mut ids, mut anyone) = (Vec::new(), false);
    for (kind, value) in map {
        let values = strings(value).ok_or_else(invalid)?;
        for p in values {
            match kind.as_str() {
                "AWS" if p == "*" => anyone = true,
                "AWS" => ids.push(account(&p).ok_or_else(invalid)?),
                "CanonicalUser" if !p.is_empty() && !p.contains(':') => ids.push(p),
                _ => return Err(invalid()),
            }
        }
    }
    match (anyone, ids.is_empty()) {
        (true, _) => Ok(Principals::Any),
        (false, true) => Err(invalid()),
        (false, false) => Ok(Principals::Ids(ids)),
    }
}

/// The canonical id an `AWS` principal names: an id, or `arn:aws:iam::<id>:root`.
fn account(p: &str) -> Option<String> {
    let id = match p.strip_prefix("arn:aws:iam::") {
        Some(rest) => rest.strip_suffix(":root")?,
        None => p,
    };
    (!id.is_empty() && !id.contains([':', '/', '*', '?'])).then(|| id.to_owned())
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters and `?` for
/// one. Only the last `*` is ever retried, so the cost is at most the product of the two
/// lengths (the pattern is the bucket owner's, at most a policy's 20 KB).
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests;
