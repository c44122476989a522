//! Multipart uploads through the data API (`.../multipart`): list, initiate, abort and
//! complete here; each part (`PUT .../multipart/parts/{part}`) streams through the proxy. The
//! `key` and `upload_id` are query parameters (upload ids hold `/`, `+` and `=`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::handlers::{body, key_ok, no_content, query};
use super::{Bkt, DataApi, DataRoute};
use crate::api::api_error;
use crate::http::{Request, Response};

/// What a multipart route answered, and the audit action (with key and detail) of a change.
pub(super) type Outcome = (Response, Option<(&'static str, String, Value)>);

/// The `key` and `upload_id` parameters, both required.
fn key_and_upload(req: &Request) -> Result<(String, String), Response> {
    let missing = || api_error(400, "bad_request", "key and upload_id query params are required");
    let key = query(req, "key")?.filter(|k| !k.is_empty()).ok_or_else(missing)?;
    let upload = query(req, "upload_id")?.filter(|u| !u.is_empty()).ok_or_else(missing)?;
    Ok((key, upload))
}

/// Answers a multipart route (not the parts).
pub(super) async fn handle(route: DataRoute, req: &Request, data: &dyn DataApi) -> Result<Outcome, Response> {
    let fail = |e: super::DataError| e.response();
    Ok(match route {
        DataRoute::Uploads(b) => {
            let prefix = query(req, "prefix")?.unwrap_or_default();
            let uploads = data.uploads(&b, &prefix).await.map_err(fail)?;
            (Response::json(200, &json!({ "uploads": uploads })), None)
        }
        DataRoute::Initiate(b) => initiate(req, data, &b).await?,
        DataRoute::Abort(b) => {
            let (key, upload) = key_and_upload(req)?;
            data.abort(&b, &key, &upload).await.map_err(fail)?;
            let detail = json!({ "upload_id": upload });
            (no_content(), Some(("object.multipart.abort", key, detail)))
        }
        DataRoute::Complete(b) => {
            let (key, upload) = key_and_upload(req)?;
            #[derive(Deserialize)]
            struct PartRef {
                #[serde(alias = "partNumber", alias = "partnumber", alias = "PARTNUMBER")]
                #[serde(rename = "PartNumber", default)]
                part_number: u32,
                #[serde(alias = "etag", alias = "Etag", alias = "ETAG")]
                #[serde(rename = "ETag", default)]
                etag: String,
            }
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                parts: Vec<PartRef>,
            }
            let c: Body = body(req, 1 << 20)?;
            if c.parts.is_empty() {
                return Err(api_error(400, "bad_request", "parts is required and must be non-empty"));
            }
            let parts = c.parts.into_iter().map(|p| (p.part_number, p.etag)).collect();
            let object = data.complete(&b, &key, &upload, parts).await.map_err(fail)?;
            let detail = json!({ "size": object.size, "upload_id": upload });
            (
                Response::json(200, &object),
                Some(("object.multipart.complete", key, detail)),
            )
        }
        _ => return Err(api_error(500, "internal", "route reached the multipart handler")),
    })
}

async fn initiate(req: &Request, data: &dyn DataApi, b: &Bkt) -> Result<Outcome, Response> {
    let key = query(req, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| api_error(400, "bad_request", "key query param is required"))?;
    if !key_ok(&key) {
        return Err(api_error(400, "invalid_key", "object key is invalid"));
    }
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        content_type: Option<String>,
        #[serde(default)]
        metadata: Option<BTreeMap<String, String>>,
    }
    let i: Body = if req.body.is_empty() {
        Body::default()
    } else {
        body(req, 64 * 1024)?
    };
    let metadata = super::handlers::metadata_of(i.metadata.unwrap_or_default())?;
    let if_absent = req.header("if-none-match").map(str::trim) == Some("*");
    let content_type = i.content_type.filter(|c| !c.is_empty());
    if content_type.as_deref().is_some_and(|c| c.chars().any(char::is_control)) {
        return Err(api_error(400, "bad_request", "content_type holds control characters"));
    }
    let upload = data
        .initiate(b, &key, content_type, metadata, if_absent)
        .await
        .map_err(|e| e.response())?;
    let detail = json!({ "upload_id": upload });
    let resp = Response::json(201, &json!({ "bucket": b.bucket, "key": key, "upload_id": upload }));
    Ok((resp, Some(("object.multipart.initiate", key, detail))))
}
