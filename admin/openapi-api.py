#!/usr/bin/env python3
"""Generates admin/openapi-api.json: the OpenAPI 3.1 document of the seed-003 API (access layer
`admin/src/api/route.rs` + data API `admin/src/data/route.rs`, plus /readyz, /metrics and
/api/openapi.json). Run from the repository root after changing a route or a shape:
python3 admin/openapi-api.py (the admin crate's tests check the document against the routers)."""

import json
import sys
from collections import OrderedDict

OUT = sys.argv[1] if len(sys.argv) > 1 else "admin/openapi-api.json"

J = "application/json"


def ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def sref(name):
    return ref("schemas", name)


def obj(props, required=(), extra=True, desc=None):
    o = {"type": "object", "properties": props}
    if required:
        o["required"] = list(required)
    if not extra:
        o["additionalProperties"] = False
    if desc:
        o["description"] = desc
    return o


S = {"type": "string"}
I = {"type": "integer"}
NN = {"type": "integer", "minimum": 0}
B = {"type": "boolean"}
TS = {"type": "string", "description": "RFC 3339 UTC time, whole seconds."}


def arr(items):
    return {"type": "array", "items": items}


def smap():
    return {"type": "object", "additionalProperties": {"type": "string"}}


schemas = OrderedDict()

# ---------------------------------------------------------------- shared shapes
schemas["Error"] = obj(
    {"error": obj({"code": S, "message": S,
                   "detail": {"description": "Always `\"\"` in practice (the seed's omitempty detail)."}},
                  ["code", "message"])},
    ["error"], desc="The error shape of every refusal of this API.")
schemas["FramingError"] = obj(
    {"error": S}, ["error"],
    desc="What the admin port's HTTP layer answers to a request head it cannot parse (before the "
         "path is known): the other API's shape, a plain string.")
schemas["Status"] = obj({"status": S}, ["status"])
schemas["NotReady"] = obj({"status": S, "reasons": arr(S)}, ["status"])
schemas["LoginResult"] = obj({"must_change_pw": B, "source": S, "status": S}, ["source", "status"])
schemas["AuthConfig"] = obj({"allow_self_registration": B, "modes": arr({"type": "string", "enum": ["local", "oidc"]})},
                            ["allow_self_registration", "modes"])
schemas["Role"] = {"type": "string", "enum": ["admin", "user", "readonly"]}
schemas["Me"] = obj({"email": S, "id": S, "identity_source": S, "must_change_pw": B, "role": sref("Role"),
                     "username": S}, ["id", "identity_source", "must_change_pw", "role", "username"])
schemas["User"] = obj({
    "id": S, "username": S, "email": S, "role": sref("Role"), "identity_source": S, "enabled": B,
    "must_change_pw": B, "failed_attempts": NN, "locked_until": TS, "created_at": TS, "last_login_at": TS},
    ["id", "username", "role", "identity_source", "enabled", "must_change_pw", "failed_attempts", "created_at"])
schemas["UserList"] = obj({"users": arr(sref("User"))}, ["users"])
schemas["Permission"] = {"type": "string", "enum": ["read-write", "read-only"]}
schemas["Credential"] = obj({
    "access_key": S, "secret_key": {"type": "string", "description": "Only in the 201 of a create."},
    "backend_id": S, "buckets": arr(S), "permission": sref("Permission"), "user_id": S, "description": S,
    "enabled": B, "expires_at": TS, "created_at": TS, "created_by": S, "updated_at": TS, "updated_by": S,
    "source": S},
    ["access_key", "backend_id", "buckets", "permission", "enabled", "created_at", "updated_at"])
schemas["CredentialList"] = obj({"credentials": arr(sref("Credential"))}, ["credentials"])
schemas["ProxyCredential"] = obj({
    "access_key": S, "backend_id": S, "buckets": arr(S), "permission": sref("Permission"), "user_id": S,
    "description": S, "enabled": B, "expires_at": TS, "created_at": TS, "created_by": S, "updated_at": TS,
    "updated_by": S, "source": {"type": "string", "enum": ["config", "store"]}},
    ["access_key", "backend_id", "buckets", "enabled", "source"],
    desc="A credential of the merged read-only view: the configuration file's, then the store's.")
schemas["ProxyCredentialList"] = obj({"credentials": arr(sref("ProxyCredential"))}, ["credentials"])
schemas["Binding"] = obj({"backend_id": S, "bucket": S, "mode": S, "per_source_ip_rps": NN, "created_at": TS,
                          "created_by": S, "source": S},
                         ["backend_id", "bucket", "mode", "per_source_ip_rps", "created_at"])
schemas["BindingList"] = obj({"bindings": arr(sref("Binding"))}, ["bindings"])
schemas["AuditEvent"] = obj({
    "id": NN, "timestamp": TS, "user_id": S, "action": S, "backend": S, "bucket": S, "key": S,
    "request_id": S, "ip": S, "user_agent": S, "status": S,
    "detail": {"type": "string", "description": "A JSON object, as text."}},
    ["id", "timestamp", "action", "status"])
schemas["AuditPage"] = obj({"events": arr(sref("AuditEvent")), "total": NN}, ["events", "total"])

# ---------------------------------------------------------------- data API shapes
schemas["Capabilities"] = obj({
    "versioning": B, "object_lock": B, "lifecycle": B, "bucket_policy": B, "cors": B, "tagging": B,
    "server_side_encrypt": B, "admin_api": S, "max_multipart_parts": NN, "max_part_size_bytes": NN},
    ["versioning", "object_lock", "lifecycle", "bucket_policy", "cors", "tagging", "server_side_encrypt",
     "admin_api", "max_multipart_parts", "max_part_size_bytes"])
schemas["Backend"] = obj({"id": S, "name": S, "capabilities": sref("Capabilities"), "healthy": B,
                          "last_probe_at": TS, "last_error": S},
                         ["id", "name", "capabilities", "healthy"])
schemas["BackendList"] = obj({"backends": arr(sref("Backend"))}, ["backends"])
schemas["Probe"] = obj({"healthy": B, "last_probe_at": TS, "last_error": S},
                       ["healthy", "last_probe_at", "last_error"])
schemas["Bucket"] = obj({"name": S, "created_at": TS, "size_tracked": B, "size_bytes": NN, "object_count": NN,
                         "computed_at": TS}, ["name", "size_tracked"])
schemas["BucketList"] = obj({"buckets": arr(sref("Bucket"))}, ["buckets"])
schemas["BucketName"] = obj({"name": S}, ["name"])
schemas["Enabled"] = obj({"enabled": B}, ["enabled"])
schemas["SizeTracking"] = obj({"enabled": B, "updated_at": TS, "updated_by": S}, ["enabled"])
schemas["CorsRule"] = obj({"allowed_origins": arr(S), "allowed_methods": arr(S), "allowed_headers": arr(S),
                           "expose_headers": arr(S), "max_age_seconds": I})
schemas["CorsRules"] = obj({"rules": arr(sref("CorsRule"))}, ["rules"])
schemas["Policy"] = obj({"policy": {"type": "string", "description": "The policy JSON as text; `\"\"` when none."}},
                        ["policy"])
schemas["LifecycleRule"] = obj({"id": S, "prefix": S, "enabled": B, "expiration_days": I,
                                "noncurrent_expire_days": I, "abort_incomplete_days": I, "transition_days": I,
                                "transition_storage_class": S})
schemas["LifecycleRules"] = obj({"rules": arr(sref("LifecycleRule"))}, ["rules"])
schemas["Quota"] = obj({"configured": B, "soft_bytes": NN, "hard_bytes": NN, "updated_at": TS, "updated_by": S,
                        "usage_bytes": NN, "object_count": NN, "computed_at": TS, "has_usage": B},
                       ["configured", "has_usage"])
schemas["PrefixSize"] = obj({"bytes": NN, "count": NN, "prefix": S, "computed_at": TS},
                            ["bytes", "count", "prefix", "computed_at"])
schemas["Object"] = obj({"key": S, "size": NN, "etag": S, "content_type": S, "storage_class": S, "version_id": S,
                         "last_modified": TS, "metadata": smap()}, ["key", "size"])
schemas["ObjectPage"] = obj({"prefix": S, "delimiter": S, "common_prefixes": arr(S), "is_truncated": B,
                             "next_continuation_token": S, "objects": arr(sref("Object"))},
                            ["prefix", "delimiter", "common_prefixes", "is_truncated", "next_continuation_token",
                             "objects"])
schemas["BulkDeleteResult"] = obj({
    "deleted": {"type": ["array", "null"], "items": obj({"key": S, "version_id": S}, ["key"])},
    "errors": {"type": ["array", "null"], "items": obj({"key": S, "code": S, "message": S}, ["key"])}},
    ["deleted", "errors"], desc="Either list is `null` when empty (the seed's map without omitempty).")
schemas["CopyResult"] = obj({"backend": S, "bucket": S, "object": sref("Object"), "key": S}, ["bucket"])
schemas["Tags"] = obj({"tags": smap()}, ["tags"])
schemas["Version"] = obj({"key": S, "version_id": S, "is_latest": B, "is_delete_marker": B, "size": NN, "etag": S,
                          "storage_class": S, "last_modified": TS}, ["key", "version_id", "is_latest", "size"])
schemas["VersionList"] = obj({"versions": arr(sref("Version"))}, ["versions"])
schemas["UploadList"] = obj({"uploads": arr(obj({"key": S, "upload_id": S, "initiated": TS},
                                                 ["key", "upload_id"]))}, ["uploads"])
schemas["Initiated"] = obj({"bucket": S, "key": S, "upload_id": S}, ["bucket", "key", "upload_id"])
schemas["PartResult"] = obj({"part_number": {"type": "integer", "minimum": 1, "maximum": 10000}, "etag": S,
                             "size": NN}, ["part_number", "etag", "size"])
schemas["DeletePrefixEvent"] = obj({"event": {"type": "string", "enum": ["start", "object", "error", "done"]},
                                    "prefix": S, "key": S, "code": S, "message": S, "deleted": NN, "failed": NN,
                                    "cancelled": B}, ["event"],
                                   desc="One line of the NDJSON stream (keys in alphabetical order).")
schemas["CopyPrefixEvent"] = obj({"event": {"type": "string", "enum": ["start", "object", "error", "done"]},
                                  "src_prefix": S, "dst_prefix": S, "src": S, "dst": S, "size": NN, "code": S,
                                  "message": S, "bytes": NN, "copied": NN, "failed": NN, "cancelled": B},
                                 ["event"], desc="One line of the NDJSON stream (keys in alphabetical order).")
schemas["Share"] = obj({
    "id": S, "code": S, "url": S, "backend_id": S, "bucket": S, "key": S, "created_by": S, "created_at": TS,
    "expires_at": TS, "has_password": B, "max_downloads": NN, "download_count": NN, "revoked": B,
    "revoked_at": TS, "last_accessed_at": TS, "disposition": {"type": "string", "enum": ["attachment", "inline"]}},
    ["id", "code", "url", "backend_id", "bucket", "key", "created_by", "created_at", "has_password",
     "download_count", "revoked", "disposition"])
schemas["ShareList"] = obj({"shares": arr(sref("Share"))}, ["shares"])
schemas["ShareInfo"] = obj({
    "code": S, "name": S, "size": NN, "content_type": S, "etag": S, "last_modified": TS, "expires_at": TS,
    "has_password": B, "max_downloads": NN, "download_count": NN, "downloads_left": NN,
    "disposition": {"type": "string", "enum": ["attachment", "inline"]},
    "preview_kind": {"type": "string", "enum": ["image", "video", "audio", "pdf", "text", "none"]},
    "raw_url": S},
    ["code", "name", "size", "has_password", "download_count", "disposition", "preview_kind", "raw_url"])
schemas["Pin"] = obj({"backend_id": S, "bucket": S, "created_at": TS}, ["backend_id", "bucket", "created_at"])
schemas["PinList"] = obj({"pins": arr(sref("Pin"))}, ["pins"])
schemas["SearchResult"] = obj({
    "query": S, "buckets": arr(obj({"backend_id": S, "bucket": S}, ["backend_id", "bucket"])),
    "objects": arr(obj({"backend_id": S, "bucket": S, "key": S, "size": NN, "last_modified": TS},
                       ["backend_id", "bucket", "key", "size"])),
    "truncated": B}, ["query", "buckets", "objects", "truncated"])
schemas["Dashboard"] = obj({
    "requests": obj({
        "total_24h": NN, "errors_24h": NN,
        "hourly": arr(obj({"unix_hour": NN, "requests": NN, "errors": NN}, ["unix_hour", "requests", "errors"])),
        "by_backend": {"type": "object", "additionalProperties": NN},
        "recent_errors": arr(obj({"when": S, "path": S, "method": S, "status": I, "user_id": S, "backend": S},
                                 ["when", "path", "method", "status"]))},
        ["total_24h", "errors_24h", "hourly", "by_backend", "recent_errors"]),
    "storage": obj({
        "by_backend": arr(obj({"backend_id": S, "bytes": NN, "objects": NN, "buckets": NN},
                              ["backend_id", "bytes", "objects", "buckets"])),
        "top_buckets": arr(obj({"backend_id": S, "bucket": S, "bytes": NN, "objects": NN},
                               ["backend_id", "bucket", "bytes", "objects"])),
        "cache_note": S}, ["by_backend", "top_buckets"])},
    ["requests", "storage"])
schemas["BackendHealthList"] = obj({"backends": arr(obj({
    "id": S, "name": S, "healthy": B, "last_probe_at": TS, "last_error": S, "latency_ms": NN,
    "history": arr(obj({"at": TS, "healthy": B, "latency_ms": NN, "error": S}, ["at", "healthy", "latency_ms"]))},
    ["id", "name", "healthy", "latency_ms", "history"]))}, ["backends"])
schemas["AdminBackend"] = obj({
    "id": S, "name": S, "type": S, "endpoint": S, "region": S, "path_style": B, "access_key": S, "secret_set": B,
    "enabled": B, "source": {"type": "string", "description": "`config` (the configuration file) or `db` (made "
                                                              "through this API)."},
    "healthy": B, "last_error": S, "last_probe_at": TS, "created_at": TS, "updated_at": TS},
    ["id", "name", "type", "endpoint", "region", "path_style", "secret_set", "enabled", "source", "healthy"],
    desc="An endpoint as the admin sees it (the secret never; `secret_set` only).")
schemas["AdminBackendList"] = obj({"backends": arr(sref("AdminBackend"))}, ["backends"])
schemas["BackendTestResult"] = obj({"error": S, "healthy": B, "latency_ms": NN}, ["healthy", "latency_ms"])

# ---------------------------------------------------------------- request bodies
bodies = OrderedDict()
bodies["Login"] = obj({"username": S, "password": S}, ["username", "password"])
bodies["PasswordChange"] = obj({"current_password": S, "new_password": S}, ["current_password", "new_password"])
bodies["NewCredential"] = obj({"backend_id": {"type": "string", "example": "orchestrator"},
                               "buckets": arr(S), "permission": sref("Permission"), "description": S,
                               "expires_at": {"type": "string", "description": "RFC 3339 (or `\"\"`)."}},
                              ["backend_id", "buckets"])
bodies["NewCredentialAdmin"] = obj({**bodies["NewCredential"]["properties"],
                                    "user_id": {"type": "string", "description": "The owner (not checked)."}},
                                   ["backend_id", "buckets"])
bodies["CredentialPatch"] = obj({"buckets": arr(S), "permission": sref("Permission"), "description": S,
                                 "enabled": B, "expires_at": {"type": "string",
                                                              "description": "RFC 3339, `\"\"` clears."}})
bodies["NewUser"] = obj({"username": S, "email": S, "password": S, "role": sref("Role"), "must_change_pw": B},
                        ["username", "password", "role"])
bodies["UserPatch"] = obj({"role": S, "enabled": B, "email": {"type": "string", "description": "`\"\"` clears."}})
bodies["PasswordReset"] = obj({"new_password": S}, ["new_password"])
bodies["BindingUpsert"] = obj({"backend_id": {"type": "string", "example": "orchestrator"}, "bucket": S,
                               "mode": {"type": "string", "description": "Only `ReadOnly`."},
                               "per_source_ip_rps": I}, ["backend_id", "bucket"])
bodies["NewBucket"] = obj({"name": S, "region": S}, ["name"])
bodies["Enabled"] = obj({"enabled": B})
bodies["CorsRules"] = obj({"rules": arr(sref("CorsRule"))})
bodies["Policy"] = obj({"policy": S})
bodies["LifecycleRules"] = obj({"rules": arr(sref("LifecycleRule"))})
bodies["QuotaSet"] = obj({"soft_bytes": I, "hard_bytes": I})
bodies["BulkDelete"] = obj({"keys": arr(obj({"key": S, "version_id": S}, ["key"]))}, ["keys"])
bodies["PrefixBody"] = obj({"prefix": S}, ["prefix"])
bodies["Folder"] = obj({"key": S}, ["key"])
bodies["CopyPrefix"] = obj({"src_prefix": S, "dst_prefix": S, "dst_bucket": S, "dst_backend": S,
                            "metadata": smap()}, ["src_prefix", "dst_prefix"])
bodies["CopyObject"] = obj({"src_key": S, "dst_key": S, "dst_bucket": S, "dst_backend": S, "version_id": S,
                            "metadata": smap()}, ["src_key", "dst_key"])
bodies["TagsBody"] = obj({"tags": {"type": ["object", "null"], "additionalProperties": {"type": "string"}}})
bodies["MetadataBody"] = obj({"metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}}})
bodies["Initiate"] = obj({"content_type": S, "metadata": smap()})
bodies["Complete"] = obj({"parts": arr(obj({"PartNumber": I, "ETag": S},
                                           desc="Field names as the seed's Go struct (matched "
                                                "case-insensitively: `partNumber`, `etag`… work)."))},
                         ["parts"])
bodies["NewShare"] = obj({"backend_id": S, "bucket": S, "key": S,
                          "expires_at": {"type": "string", "description": "RFC 3339, in the future."},
                          "password": S, "max_downloads": I,
                          "disposition": {"type": "string", "enum": ["attachment", "inline"]}},
                         ["backend_id", "bucket", "key"])
bodies["NewPin"] = obj({"backend_id": S, "bucket": S}, ["backend_id", "bucket"])
bodies["Unlock"] = obj({"password": S})
bodies["NewEndpoint"] = obj({"id": S, "name": S, "type": {"type": "string", "description": "Only `s3v4`."},
                             "endpoint": S, "region": S, "path_style": B, "access_key": S, "secret_key": S,
                             "enabled": B}, ["id", "endpoint", "access_key", "secret_key"])
bodies["EndpointTest"] = obj({"type": S, "endpoint": S, "region": S, "path_style": B, "access_key": S,
                              "secret_key": S}, ["endpoint", "access_key", "secret_key"])
bodies["EndpointPatch"] = obj({"name": S, "endpoint": S, "region": S, "path_style": B, "access_key": S,
                               "secret_key": S, "enabled": B})
for name, b in bodies.items():
    schemas[name + "Request"] = b

# ---------------------------------------------------------------- responses
ERR_DESC = {
    400: "Bad request (the code says which: `bad_request`, `invalid_key`, `invalid_prefix`, ...).",
    401: "No live session (`unauthorized`), or the route's own credential check.",
    403: "`csrf_invalid` (mutations without the session's `X-CSRF-Token`), `password_change_required`, or "
         "`forbidden` (the role; on a real backend, the bucket holding the orchestrator's objects).",
    404: "`not_found`: the backend, the resource or the record.",
    408: "`timeout`: the upload body stalled.",
    409: "Conflict (`conflict`, `last_admin`, `username_taken`, `bucket_not_empty`, `object_locked`, ...).",
    410: "`revoked`, `expired` or `exhausted`.",
    411: "`length_required`.",
    412: "`object_exists` (`If-None-Match: *`).",
    413: "Too large: `too_large` (a body past the port's 1 MiB limit for JSON, a file past 5 GiB) or "
         "`too_many_keys`.",
    416: "`bad_range` (with `Content-Range: bytes */size`).",
    429: "`rate_limited` (with `Retry-After` for the per-session limit) or `account_locked`.",
    500: "`internal`.",
    501: "`not_supported`: the backend cannot do it (a filesystem backend's buckets; on a real backend's "
         "bucket: its settings, versions, quotas and sizes — a missing capability).",
    502: "`backend_error`.",
    503: "`store_unavailable` (the metadata store) or `secret_key_unset`.",
    507: "`quota_exceeded` (the bucket's hard quota) or `insufficient_storage` (no backend has room).",
}
responses = OrderedDict()
for code, desc in ERR_DESC.items():
    schema = sref("Error")
    # A request head too malformed to route is answered before its path is known.
    if code == 400:
        schema = {"anyOf": [sref("Error"), sref("FramingError")]}
    responses[f"E{code}"] = {"description": desc, "content": {J: {"schema": schema}}}


def jresp(desc, schema_name=None, headers=None, schema=None):
    r = {"description": desc}
    if schema_name or schema:
        r["content"] = {J: {"schema": schema or sref(schema_name)}}
    if headers:
        r["headers"] = headers
    return r


NO_CONTENT = {"description": "Done; no body."}
SET_COOKIE = {"Set-Cookie": {"description": "`stowage_session` (HttpOnly) and `stowage_csrf`.",
                             "schema": {"type": "string"}}}

# ---------------------------------------------------------------- parameters
params = OrderedDict()


def pparam(name, desc, example=None, schema=None):
    s = dict(schema or {"type": "string", "minLength": 1})
    p = {"name": name, "in": "path", "required": True, "description": desc, "schema": s}
    if example is not None:
        p["example"] = example
    return p


def qparam(name, desc, schema=None, required=False, example=None, explode=None):
    p = {"name": name, "in": "query", "required": required, "description": desc,
         "schema": schema or {"type": "string"}}
    if example is not None:
        p["example"] = example
    if explode is not None:
        p["explode"] = explode
    return p


params["bid"] = pparam("bid", "A backend id (`orchestrator` is the orchestrated store; the other ids are the "
                              "configured backends).", "orchestrator")
params["bucket"] = pparam("bucket", "A bucket name.", "schema-fuzz")
params["akid"] = pparam("akid", "An access key id.", "AKIAAAAAAAAAAAAAAAAA")
params["userId"] = pparam("id", "A user id.", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
params["shareId"] = pparam("id", "A share id.", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
params["code"] = pparam("code", "A share's code.", "AAAAAAAAAAAAAA")
params["part"] = pparam("part", "The part number, 1 to 10000.", 1,
                        {"type": "integer", "minimum": 1, "maximum": 10000})
params["keyRequired"] = qparam("key", "The object key.", {"type": "string", "minLength": 1}, True, "fuzz/a.txt")
params["versionId"] = qparam("version_id", "A version (the latest without).")
params["uploadId"] = qparam("upload_id", "The upload id.", {"type": "string", "minLength": 1}, True)
params["prefix"] = qparam("prefix", "Keys starting with this.")
for p in ("bid", "bucket", "akid", "userId", "shareId", "code", "part", "keyRequired", "versionId", "uploadId",
          "prefix"):
    pass

paths = OrderedDict()
op_count = 0

SESSION = [{"session": []}]
MUTATION = [{"session": [], "csrf": []}]
PUBLIC = []


def add(method, path, op_id, summary, security, ok, errors, parameters=(), body=None, description=None,
        tags=None):
    global op_count
    item = paths.setdefault(path, OrderedDict())
    assert method not in item, (method, path)
    o = OrderedDict()
    o["operationId"] = op_id
    o["summary"] = summary
    if description:
        o["description"] = description
    o["tags"] = tags or [tag_of(path)]
    o["security"] = security
    if parameters:
        o["parameters"] = [ref("parameters", p) if isinstance(p, str) else p for p in parameters]
    if body is not None:
        o["requestBody"] = body
    rs = OrderedDict()
    for code, r in ok.items():
        rs[str(code)] = r
    errs = set(errors)
    if security:
        errs |= {401, 403, 429, 500, 503}
    for code in sorted(errs):
        rs[str(code)] = ref("responses", f"E{code}")
    o["responses"] = rs
    item[method] = o
    op_count += 1


def tag_of(path):
    if path.startswith("/s/"):
        return "shares"
    if path.startswith("/auth/") or path in ("/api/auth/config", "/api/me", "/api/me/password"):
        return "auth"
    if path.startswith("/api/admin/backends") or path == "/api/admin/dashboard":
        return "admin"
    if path.startswith("/api/admin/") or path.startswith("/api/me/s3-credentials"):
        return "access"
    if path.startswith("/api/backends/") and "/buckets/" in path:
        return "objects" if ("/object" in path or "/multipart" in path) else "buckets"
    if path.startswith("/api/backends"):
        return "buckets"
    if path.startswith("/api/shares"):
        return "shares"
    if path.startswith("/api/me/pins") or path == "/api/search":
        return "buckets"
    return "health"


def jbody(name, required=True, desc=None):
    b = {"required": required, "content": {J: {"schema": sref(name + "Request")}}}
    if desc:
        b["description"] = desc
    return b


BODY_ERR = {400, 413}

# ---------------------------------------------------------------- health, docs
add("get", "/healthz", "healthz", "Liveness.", PUBLIC, {200: jresp("Alive: `{\"status\":\"ok\"}`.", "Status")}, [])
add("get", "/readyz", "readyz", "Readiness: the store takes writes and a backend answers.", PUBLIC,
    {200: jresp("Ready: `{\"status\":\"ready\"}`.", "Status"),
     503: jresp("Not ready, with the failed checks.", "NotReady")}, [])
add("get", "/metrics", "metrics", "Prometheus text exposition (unauthenticated).", PUBLIC,
    {200: {"description": "The metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}}, [])
add("get", "/api/openapi.json", "getApiOpenApi", "This document.", PUBLIC,
    {200: jresp("The OpenAPI 3.1 document.", schema={"type": "object"})}, [])

# ---------------------------------------------------------------- auth
add("post", "/auth/login/local", "loginLocal", "Signs in with a password; sets the session and CSRF cookies.",
    PUBLIC, {200: jresp("Signed in.", "LoginResult", SET_COOKIE)}, [400, 401, 413, 429, 500, 503],
    body=jbody("Login"),
    description="Rate-limited per client address (429 `rate_limited`); a locked account answers 429 "
                "`account_locked`; wrong credentials 401 `invalid_credentials`; local login off 400 "
                "`mode_disabled`. Not CSRF-checked.")
add("post", "/auth/logout", "logout", "Ends the session (if any) and clears the cookies.", PUBLIC,
    {200: jresp("Always `{\"status\":\"ok\"}`.", "Status", SET_COOKIE)}, [500, 503])
add("get", "/auth/login/oidc", "loginOidc", "Starts an OpenID Connect sign-in.", PUBLIC,
    {302: {"description": "To the identity provider's authorization URL (state, PKCE and nonce cookies set).",
           "headers": {"Location": {"schema": {"type": "string"}}}}},
    [400, 429, 500, 502])
add("get", "/auth/callback", "oidcCallback", "The OpenID Connect redirect back.", PUBLIC,
    {302: {"description": "Signed in: to `/` with the session cookies.",
           "headers": {"Location": {"schema": {"type": "string"}}}}},
    [400, 401, 429, 500, 503],
    parameters=[qparam("code", "The authorization code."), qparam("state", "The state."),
                qparam("error", "The provider's error.")])
add("get", "/api/auth/config", "authConfig", "The enabled sign-in modes.", PUBLIC,
    {200: jresp("The modes.", "AuthConfig")}, [])
add("get", "/api/me", "getMe", "The caller (allowed while a password change is due).", SESSION,
    {200: jresp("The caller.", "Me")}, [])
add("post", "/api/me/password", "changeMyPassword", "Changes the caller's password (local accounts).", MUTATION,
    {200: jresp("Changed; the caller's other sessions ended.", "Status")}, BODY_ERR | {409},
    body=jbody("PasswordChange"),
    description="400 `not_local`, `weak_password`; 401 `invalid_credentials` when the current password is wrong.")

# ---------------------------------------------------------------- self-service credentials
add("get", "/api/me/s3-credentials", "listMyCredentials", "The caller's S3 credentials (no secrets).", SESSION,
    {200: jresp("The credentials.", "CredentialList")}, [])
add("post", "/api/me/s3-credentials", "createMyCredential",
    "Mints an S3 credential for the caller (the secret shown once).", MUTATION,
    {201: jresp("The credential with its `secret_key`.", "Credential")}, BODY_ERR | {409},
    body=jbody("NewCredential"), description="400 `invalid_request`; 503 `secret_key_unset` without a sealing key.")
add("patch", "/api/me/s3-credentials/{akid}", "patchMyCredential", "Changes one of the caller's credentials.",
    MUTATION, {200: jresp("The credential.", "Credential")}, BODY_ERR | {404, 409},
    parameters=["akid"], body=jbody("CredentialPatch"),
    description="404 for a credential that is missing or someone else's; 409 `yaml_managed` for one of the "
                "configuration file.")
add("delete", "/api/me/s3-credentials/{akid}", "deleteMyCredential", "Revokes one of the caller's credentials.",
    MUTATION, {204: NO_CONTENT}, [404, 409], parameters=["akid"])

# ---------------------------------------------------------------- users
add("get", "/api/admin/users", "listUsers", "Users, by username (admin).", SESSION,
    {200: jresp("A page of users.", "UserList")}, [400],
    parameters=[qparam("query", "Substring of the username or email."), qparam("role", "Exact role."),
                qparam("source", "Exact identity source."), qparam("enabled", "`true` or anything else."),
                qparam("limit", "1..500 (default 100).", {"type": "integer"}),
                qparam("offset", "Skip this many.", {"type": "integer", "minimum": 0})])
add("post", "/api/admin/users", "createUser", "Creates a local user (admin).", MUTATION,
    {201: jresp("The user.", "User")}, BODY_ERR | {409}, body=jbody("NewUser"),
    description="400 `bad_request` / `weak_password`; 409 `username_taken` / `email_taken`.")
add("get", "/api/admin/users/{id}", "getUser", "One user (admin).", SESSION,
    {200: jresp("The user.", "User")}, [404], parameters=["userId"])
add("patch", "/api/admin/users/{id}", "patchUser", "Changes a user's role, enabled flag or email (admin).",
    MUTATION, {200: jresp("The user.", "User")}, BODY_ERR | {404, 409}, parameters=["userId"],
    body=jbody("UserPatch"),
    description="409 `last_admin`, `email_taken`, `conflict`; 403 `self_role_change`.")
add("delete", "/api/admin/users/{id}", "deleteUser", "Deletes a user and their sessions (admin).", MUTATION,
    {204: NO_CONTENT}, [400, 404, 409], parameters=["userId"],
    description="400 `self_delete`; 409 `last_admin`.")
add("post", "/api/admin/users/{id}/reset-password", "resetUserPassword", "Sets a user's password (admin).",
    MUTATION, {200: jresp("`{\"status\":\"ok\"}`.", "Status")}, BODY_ERR | {404, 409},
    parameters=["userId"], body=jbody("PasswordReset"))
add("post", "/api/admin/users/{id}/unlock", "unlockUser", "Clears a user's lockout (admin).", MUTATION,
    {200: jresp("`{\"status\":\"ok\"}`.", "Status")}, [404, 409], parameters=["userId"])

# ---------------------------------------------------------------- admin credentials, anonymous, s3-proxy
add("get", "/api/admin/s3-credentials", "listCredentials", "Every stored S3 credential (admin).", SESSION,
    {200: jresp("The credentials.", "CredentialList")}, [])
add("post", "/api/admin/s3-credentials", "createCredential", "Mints an S3 credential (admin).", MUTATION,
    {201: jresp("The credential with its `secret_key`.", "Credential")}, BODY_ERR | {409},
    body=jbody("NewCredentialAdmin"))
add("patch", "/api/admin/s3-credentials/{akid}", "patchCredential", "Changes a credential (admin).", MUTATION,
    {200: jresp("The credential.", "Credential")}, BODY_ERR | {404, 409}, parameters=["akid"],
    body=jbody("CredentialPatch"))
add("delete", "/api/admin/s3-credentials/{akid}", "deleteCredential", "Revokes a credential (admin).", MUTATION,
    {204: NO_CONTENT}, [404, 409], parameters=["akid"])
add("get", "/api/admin/s3-anonymous", "listAnonymous", "Anonymous read bindings (admin).", SESSION,
    {200: jresp("The bindings.", "BindingList")}, [])
add("post", "/api/admin/s3-anonymous", "upsertAnonymous", "Creates or changes an anonymous binding (admin).",
    MUTATION, {200: jresp("The binding.", "Binding")}, BODY_ERR | {409}, body=jbody("BindingUpsert"),
    description="400 `invalid_request`; 409 `public_access_blocked`.")
add("delete", "/api/admin/s3-anonymous/{bid}/{bucket}", "deleteAnonymous", "Removes an anonymous binding (admin).",
    MUTATION, {204: NO_CONTENT}, [404], parameters=["bid", "bucket"])
add("get", "/api/admin/s3-proxy/credentials", "proxyCredentials",
    "Every credential the S3 port honours: the configuration's, then the store's (admin).", SESSION,
    {200: jresp("The credentials.", "ProxyCredentialList")}, [])
add("get", "/api/admin/s3-proxy/anonymous", "proxyAnonymous", "Every anonymous binding the S3 port honours (admin).",
    SESSION, {200: jresp("The bindings.", "BindingList")}, [])

AUDIT_PARAMS = [qparam("user", "Exact user id."), qparam("action", "Action prefix."),
                qparam("backend", "Exact backend."), qparam("bucket", "Exact bucket."),
                qparam("status", "Exact status."), qparam("from", "RFC 3339, inclusive."),
                qparam("to", "RFC 3339, inclusive."), qparam("limit", "1..1000.", {"type": "integer"}),
                qparam("offset", "Skip this many.", {"type": "integer", "minimum": 0})]
add("get", "/api/admin/audit", "queryAudit", "Audit events, newest first (admin).", SESSION,
    {200: jresp("A page and the total matching.", "AuditPage")}, [400], parameters=AUDIT_PARAMS)
add("get", "/api/admin/audit.csv", "exportAudit", "Audit events as CSV, streamed (admin).", SESSION,
    {200: {"description": "CSV with a header row (`Content-Disposition: attachment`).",
           "content": {"text/csv": {"schema": {"type": "string"}}}}}, [400], parameters=AUDIT_PARAMS)

# ---------------------------------------------------------------- backends and buckets
BK = ["bid"]
BB = ["bid", "bucket"]
# Every route on a bucket: the backend (404), what a real backend's bucket does not serve (501),
# the bucket holding the orchestrator's objects (403), the store (503).
BKT_ERR = {400, 404, 501}
add("get", "/api/backends", "listBackends", "Every backend: the orchestrated store, then each configured one.",
    SESSION, {200: jresp("The backends.", "BackendList")}, [])
add("get", "/api/backends/{bid}", "getBackend", "One backend.", SESSION,
    {200: jresp("The backend.", "Backend")}, [404], parameters=BK)
add("get", "/api/backends/{bid}/health", "probeBackend", "Probes a backend now.", SESSION,
    {200: jresp("The probe's outcome.", "Probe")}, [404], parameters=BK)
add("get", "/api/backends/{bid}/buckets", "listBuckets", "A backend's buckets.", SESSION,
    {200: jresp("The buckets.", "BucketList")}, [404, 501, 502], parameters=BK)
add("post", "/api/backends/{bid}/buckets", "createBucket", "Creates a bucket (admin).", MUTATION,
    {201: jresp("`{\"name\": ...}`.", "BucketName")}, BODY_ERR | {404, 409, 501, 502}, parameters=BK,
    body=jbody("NewBucket"), description="400 `invalid_bucket_name`; 409 `bucket_exists`.")
add("delete", "/api/backends/{bid}/buckets/{bucket}", "deleteBucket", "Deletes an empty bucket (admin).",
    MUTATION, {204: NO_CONTENT}, BKT_ERR | {409, 502}, parameters=BB, description="409 `bucket_not_empty`.")


def setting(name, op, get_schema, put_body, put_ok, extra_put=(), delete=False, any_get=False, desc=None):
    base = f"/api/backends/{{bid}}/buckets/{{bucket}}/{name}"
    add("get", base, f"get{op}", f"The bucket's {name} ({'any role' if any_get else 'admin'}).", SESSION,
        {200: jresp("The setting.", get_schema)}, BKT_ERR | {502}, parameters=BB,
        description=f"501 `not_supported` when the backend lacks the capability or is a real backend.")
    add("put", base, f"set{op}", f"Sets the bucket's {name} (admin).", MUTATION, put_ok,
        BKT_ERR | BODY_ERR | {409, 502} | set(extra_put), parameters=BB, body=jbody(put_body), description=desc)
    if delete:
        add("delete", base, f"delete{op}", f"Removes the bucket's {name} (admin).", MUTATION,
            {204: NO_CONTENT}, BKT_ERR | {409, 502}, parameters=BB)


setting("versioning", "Versioning", "Enabled", "Enabled", {200: jresp("The new state.", "Enabled")})
setting("cors", "Cors", "CorsRules", "CorsRules", {204: NO_CONTENT},
        desc="400 `invalid_cors`; an empty list removes the rules.")
setting("policy", "Policy", "Policy", "Policy", {204: NO_CONTENT}, extra_put={403}, delete=True,
        desc="400 `bad_request` (empty) / `invalid_policy`; 403 `forbidden` when the bucket's public access "
             "block refuses a public policy.")
setting("lifecycle", "Lifecycle", "LifecycleRules", "LifecycleRules", {204: NO_CONTENT},
        desc="400 `invalid_lifecycle`.")
setting("quota", "Quota", "Quota", "QuotaSet", {200: jresp("The quota with the bucket's usage.", "Quota")},
        delete=True, desc="400 `invalid_quota`. Only the hard quota is enforced (507 on writes).")
setting("size-tracking", "SizeTracking", "SizeTracking", "Enabled",
        {200: jresp("The new state.", "SizeTracking")}, any_get=True)
add("post", "/api/backends/{bid}/buckets/{bucket}/quota/recompute", "recomputeQuota",
    "The bucket's usage now (admin).", MUTATION, {200: jresp("The quota with fresh usage.", "Quota")},
    BKT_ERR | {502}, parameters=BB)
add("get", "/api/backends/{bid}/buckets/{bucket}/prefix-size", "prefixSize", "Bytes and keys under a prefix.",
    SESSION, {200: jresp("The size.", "PrefixSize")}, BKT_ERR | {409, 502}, parameters=BB + ["prefix"],
    description="400 `invalid_prefix`; 409 `size_tracking_disabled`.")

# ---------------------------------------------------------------- objects
OB = "/api/backends/{bid}/buckets/{bucket}"
add("get", OB + "/objects", "listObjects", "One page of a bucket's keys.", SESSION,
    {200: jresp("The page.", "ObjectPage")}, BKT_ERR | {502},
    parameters=BB + ["prefix",
                     qparam("delimiter", "Roll keys up at this (absent: `/`; empty: a flat listing)."),
                     qparam("token", "The previous page's `next_continuation_token`."),
                     qparam("max_keys", "Most keys (default 1000).", {"type": "integer"})])
add("post", OB + "/objects/delete", "deleteObjects", "Deletes up to 1000 keys.", MUTATION,
    {200: jresp("What was deleted and what was not.", "BulkDeleteResult")}, BKT_ERR | BODY_ERR | {409, 502},
    parameters=BB, body=jbody("BulkDelete"), description="400 `bad_request`, `too_many_keys`.")
add("post", OB + "/objects/delete-prefix", "deletePrefix", "Deletes every key under a prefix, as NDJSON progress.",
    MUTATION,
    {200: {"description": "`application/x-ndjson`: one event per line (`start`, `object`, `error`, `done`); "
                          "the connection closes at the end.",
           "content": {"application/x-ndjson": {"schema": sref("DeletePrefixEvent")}}}},
    BKT_ERR | BODY_ERR | {409, 502}, parameters=BB, body=jbody("PrefixBody"),
    description="400 `invalid_prefix` (empty, or not ending in `/`).")
add("post", OB + "/objects/folder", "createFolder", "Writes a folder's placeholder (`key/`).", MUTATION,
    {201: jresp("The placeholder.", "Object")}, BKT_ERR | BODY_ERR | {409, 502, 507}, parameters=BB,
    body=jbody("Folder"))
add("post", OB + "/objects/copy-prefix", "copyPrefix", "Copies every key under a prefix, as NDJSON progress.",
    MUTATION,
    {200: {"description": "`application/x-ndjson`: one event per line; the connection closes at the end.",
           "content": {"application/x-ndjson": {"schema": sref("CopyPrefixEvent")}}}},
    BKT_ERR | BODY_ERR | {409, 502}, parameters=BB, body=jbody("CopyPrefix"),
    description="400 `invalid_prefix`, `invalid_bucket`, `invalid_metadata`, `bad_request`.")
add("get", OB + "/objects/zip", "zipObjects", "A ZIP of keys (a key ending in `/` stands for everything under it).",
    SESSION,
    {200: {"description": "The archive, streamed (`Content-Disposition: attachment`).",
           "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
    BKT_ERR | {413, 502},
    parameters=BB + [qparam("key", "A key or folder; repeated (at most 1000).",
                            {"type": "array", "items": {"type": "string"}, "minItems": 1}, True, ["fuzz/"],
                            explode=True)],
    description="400 `bad_request` / `invalid_key`; 413 `too_many_keys`.")
DOWNLOAD_OK = {"description": "The object's bytes with its own content type (`Content-Disposition` with the "
                              "sanitised file name; a sandboxing CSP).",
               "content": {"*/*": {}}}
add("get", OB + "/object", "downloadObject", "Downloads an object (one byte range at most).", SESSION,
    {200: DOWNLOAD_OK, 206: {"description": "The range asked for (`Content-Range`).", "content": {"*/*": {}}}},
    BKT_ERR | {416, 502},
    parameters=BB + ["keyRequired", "versionId",
                     qparam("disposition", "`inline` or `attachment` (default); active content is always an "
                                           "attachment."),
                     {"name": "Range", "in": "header", "required": False,
                      "description": "`bytes=a-b` or `bytes=a-`.", "schema": {"type": "string"}}])
add("head", OB + "/object", "headObject", "An object's details (as GET .../object/info, without the body).",
    SESSION, {200: jresp("The object (ETag header set).", "Object")}, BKT_ERR | {502},
    parameters=BB + ["keyRequired", "versionId"])
add("post", OB + "/object", "uploadObject", "Uploads one object from a `multipart/form-data` form, streamed.",
    MUTATION, {201: jresp("The object written.", "Object")},
    BKT_ERR | {408, 409, 411, 412, 413, 502, 507}, parameters=BB + [
        {"name": "If-None-Match", "in": "header", "required": False,
         "description": "`*`: refuse (412) when the key exists.", "schema": {"type": "string"}}],
    body={"required": True, "content": {"multipart/form-data": {
        "schema": obj({"key": {"type": "string", "description": "The key (default: the file's name)."},
                       "content_type": {"type": "string", "description": "Overrides the part's Content-Type."},
                       "file": {"type": "string", "format": "binary"}}, ["file"]),
        "encoding": {"file": {"contentType": "application/octet-stream"}}}}},
    description="400 `bad_request` (not a form, no `file`, no key), `invalid_key`; 411 without a "
                "Content-Length; 413 over 5 GiB.")
add("delete", OB + "/object", "deleteObject", "Deletes a key (or one version of it, for good).", MUTATION,
    {204: NO_CONTENT}, BKT_ERR | {409, 502}, parameters=BB + ["keyRequired", "versionId"])
add("get", OB + "/object/info", "objectInfo", "An object's details.", SESSION,
    {200: jresp("The object (ETag header set).", "Object")}, BKT_ERR | {502},
    parameters=BB + ["keyRequired", "versionId"])
add("post", OB + "/object/copy", "copyObject", "Copies an object to another key, bucket or backend.", MUTATION,
    {200: jresp("The copy.", "CopyResult")}, BKT_ERR | BODY_ERR | {409, 502, 507}, parameters=BB,
    body=jbody("CopyObject"), description="400 `bad_request`, `invalid_key`, `invalid_bucket`, `invalid_metadata`.")
add("get", OB + "/object/tags", "getObjectTags", "An object's tags.", SESSION,
    {200: jresp("The tags.", "Tags")}, BKT_ERR | {502}, parameters=BB + [
        qparam("key", "The object key.", {"type": "string"}, True, "fuzz/a.txt"), "versionId"],
    description="400 `invalid_key`.")
add("put", OB + "/object/tags", "setObjectTags", "Replaces an object's tags (at most 10).", MUTATION,
    {204: NO_CONTENT}, BKT_ERR | BODY_ERR | {409, 502}, parameters=BB + [
        qparam("key", "The object key.", {"type": "string"}, True, "fuzz/a.txt"), "versionId"],
    body=jbody("TagsBody"), description="400 `invalid_key`, `too_many_tags`, `invalid_tag`.")
add("put", OB + "/object/metadata", "setObjectMetadata", "Replaces an object's user metadata.", MUTATION,
    {200: jresp("The object.", "Object")}, BKT_ERR | BODY_ERR | {409, 502}, parameters=BB + [
        qparam("key", "The object key.", {"type": "string"}, True, "fuzz/a.txt")],
    body=jbody("MetadataBody"), description="400 `invalid_key`, `invalid_metadata`; 409 `object_locked`.")
add("get", OB + "/object/versions", "objectVersions", "Every version of a key, newest first.", SESSION,
    {200: jresp("The versions.", "VersionList")}, BKT_ERR | {502}, parameters=BB + [
        qparam("key", "The object key.", {"type": "string"}, True, "fuzz/a.txt")])

# ---------------------------------------------------------------- multipart
add("get", OB + "/multipart", "listUploads", "Multipart uploads in progress (the first 1000).", SESSION,
    {200: jresp("The uploads.", "UploadList")}, BKT_ERR | {502}, parameters=BB + ["prefix"],
    description="Also routed with a trailing slash (`.../multipart/`).")
add("post", OB + "/multipart", "initiateUpload", "Starts a multipart upload.", MUTATION,
    {201: jresp("The upload.", "Initiated")}, BKT_ERR | BODY_ERR | {409, 412, 502, 507},
    parameters=BB + ["keyRequired", {"name": "If-None-Match", "in": "header", "required": False,
                                     "schema": {"type": "string"}}],
    body=jbody("Initiate", required=False), description="400 `bad_request`, `invalid_key`, `invalid_metadata`.")
add("delete", OB + "/multipart", "abortUpload", "Abandons a multipart upload.", MUTATION,
    {204: NO_CONTENT}, BKT_ERR | {409, 502}, parameters=BB + ["keyRequired", "uploadId"])
add("post", OB + "/multipart/complete", "completeUpload", "Completes a multipart upload.", MUTATION,
    {200: jresp("The object.", "Object")}, BKT_ERR | BODY_ERR | {409, 502, 507},
    parameters=BB + ["keyRequired", "uploadId"], body=jbody("Complete"))
add("put", OB + "/multipart/parts/{part}", "uploadPart", "Uploads one part (the raw body, streamed).", MUTATION,
    {200: jresp("The part.", "PartResult")}, BKT_ERR | {409, 411, 413, 502, 507},
    parameters=BB + ["part", "keyRequired", "uploadId"],
    body={"required": True, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}},
    description="411 `length_required` without a Content-Length; 413 `too_large` over 5 GiB.")

# ---------------------------------------------------------------- shares, pins, search
add("get", "/api/shares", "listShares", "The caller's shares (`scope=all`: everyone's, admin).", SESSION,
    {200: jresp("The shares.", "ShareList")}, [],
    parameters=[qparam("scope", "`all` for every share (admin only).")],
    description="Also routed with a trailing slash (`/api/shares/`).")
add("post", "/api/shares", "createShare", "Shares an object by link.", MUTATION,
    {201: jresp("The share.", "Share")}, BODY_ERR | {502}, body=jbody("NewShare"),
    description="400 `invalid_key` / `bad_request` \"invalid share parameters: ...\"; 502 `backend_error` for "
                "an unknown backend.")
add("delete", "/api/shares/{id}", "revokeShare", "Revokes a share (its creator or an admin).", MUTATION,
    {204: NO_CONTENT}, [404], parameters=["shareId"])
add("get", "/api/me/pins", "listPins", "The caller's pinned buckets, newest first.", SESSION,
    {200: jresp("The pins.", "PinList")}, [])
add("post", "/api/me/pins", "pinBucket", "Pins a bucket.", MUTATION, {201: jresp("The pin.", "Pin")}, BODY_ERR,
    body=jbody("NewPin"))
add("delete", "/api/me/pins/{bid}/{bucket}", "unpinBucket", "Unpins a bucket.", MUTATION, {204: NO_CONTENT}, [],
    parameters=BB)
add("get", "/api/search", "search", "Buckets whose name contains `q`, keys that start with it.", SESSION,
    {200: jresp("The hits.", "SearchResult")}, [400],
    parameters=[qparam("q", "At least 2 bytes (else nothing is searched)."),
                qparam("limit", "Most hits of each kind (default 50, at most 200).", {"type": "integer"})])

# ---------------------------------------------------------------- admin
add("get", "/api/admin/dashboard", "dashboard", "The API's traffic and what the backends store (admin).", SESSION,
    {200: jresp("The dashboard.", "Dashboard")}, [])
add("get", "/api/admin/backends/health", "backendsHealth", "Every backend with its recent probes (admin).",
    SESSION, {200: jresp("The backends.", "BackendHealthList")}, [])
add("get", "/api/admin/backends", "listEndpoints", "Every backend: the registry in id order (configured ones "
    "read-only), then the disabled endpoints made here (admin).", SESSION,
    {200: jresp("The endpoints.", "AdminBackendList")}, [])
add("post", "/api/admin/backends", "createEndpoint", "Adds an S3 endpoint, served at once when enabled (admin).",
    MUTATION, {201: jresp("The endpoint, from its record.", "AdminBackend")}, BODY_ERR | {409},
    body=jbody("NewEndpoint"),
    description="400 `bad_request`; 409 `yaml_managed`, `id_taken`; 503 `secret_key_unset`.")
add("post", "/api/admin/backends/test", "testEndpoint", "Probes an endpoint without saving it (admin).", MUTATION,
    {200: jresp("The probe.", "BackendTestResult")}, BODY_ERR, body=jbody("EndpointTest"))
add("get", "/api/admin/backends/{bid}", "getEndpoint", "One endpoint (admin).", SESSION,
    {200: jresp("The endpoint.", "AdminBackend")}, [404], parameters=BK)
add("patch", "/api/admin/backends/{bid}", "patchEndpoint", "Changes an endpoint made here (admin).", MUTATION,
    {200: jresp("The endpoint, from its record.", "AdminBackend")}, BODY_ERR | {404, 409}, parameters=BK,
    body=jbody("EndpointPatch"), description="409 `yaml_managed`, `conflict`; 503 `secret_key_unset`.")
add("delete", "/api/admin/backends/{bid}", "deleteEndpoint", "Removes an endpoint made here (admin).", MUTATION,
    {204: NO_CONTENT}, [404, 409], parameters=BK, description="409 `yaml_managed`.")

# ---------------------------------------------------------------- public share pages
SHARE_ERR = [401, 404, 410, 429, 500, 502, 503]
add("get", "/s/{code}/info", "shareInfo", "A share's details (public).", PUBLIC,
    {200: jresp("The share's file (`Cache-Control: no-store`).", "ShareInfo")}, SHARE_ERR, parameters=["code"],
    description="401 `password_required` without a live unlock cookie; 410 `revoked`/`expired`/`exhausted`; "
                "429 per client address.")
add("post", "/s/{code}/unlock", "shareUnlock", "Unlocks a password-protected share for 30 minutes (public).",
    PUBLIC, {200: jresp("The share's file; the unlock cookie set.", "ShareInfo",
                        {"Set-Cookie": {"schema": {"type": "string"}}})},
    SHARE_ERR + [400, 413], parameters=["code"], body=jbody("Unlock"),
    description="401 `password_mismatch`.")
add("get", "/s/{code}/raw", "shareRaw", "Downloads a shared file (public; each request counts).", PUBLIC,
    {200: DOWNLOAD_OK, 206: {"description": "The range asked for.", "content": {"*/*": {}}}},
    SHARE_ERR + [416], parameters=["code", qparam("inline", "`1`: inline (never for active content)."),
                                   {"name": "Range", "in": "header", "required": False,
                                    "schema": {"type": "string"}}])

doc = OrderedDict()
doc["openapi"] = "3.1.0"
doc["info"] = {
    "title": "s3-orchestrator multi-user API",
    "version": "0.1.0",
    "description": (
        "The second API of the admin port (seed 003): `/api/*`, `/auth/*`, `/s/*`, `/healthz`, `/readyz`, "
        "`/metrics`. Sign in with POST /auth/login/local: the `stowage_session` cookie authenticates every "
        "`/api/*` route but GET /api/auth/config and GET /api/openapi.json; mutations (anything but GET/HEAD) "
        "also need the session's CSRF token (the `stowage_csrf` cookie's value) in `X-CSRF-Token`. The gate "
        "runs in this order: 401 `unauthorized`, 403 `csrf_invalid`, 403 `password_change_required`, 429 "
        "`rate_limited`, 403 `forbidden`. Every error is `{\"error\":{\"code\",\"message\",\"detail\"}}`. "
        "Unknown paths under these prefixes answer 404 `not_found`, known paths with another method 405 "
        "`method_not_allowed` (with `Allow`). The orchestrated store is the backend `orchestrator` (configurable); "
        "the configured backends are listed too, but operations on their buckets answer 501 `not_supported`.")}
doc["tags"] = [{"name": t} for t in ("health", "auth", "access", "buckets", "objects", "shares", "admin")]
doc["paths"] = paths
doc["components"] = {
    "securitySchemes": {
        "session": {"type": "apiKey", "in": "cookie", "name": "stowage_session",
                    "description": "The session from POST /auth/login/local (or the OIDC callback)."},
        "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                 "description": "The session's CSRF token (the `stowage_csrf` cookie), on every mutation."},
    },
    "parameters": params,
    "schemas": schemas,
    "responses": responses,
}

with open(OUT, "w") as f:
    json.dump(doc, f, indent=2, ensure_ascii=False)
    f.write("\n")
print(f"{OUT}: {op_count} operations, {len(paths)} paths", file=sys.stderr)
