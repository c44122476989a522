"""Browser POST uploads: an HTML-form upload sent by curl (`curl -F`, fields in order, the file
last, as a browser sends it) with a policy made by botocore's `generate_presigned_post` (its
default, SigV2 `signature`, and SigV4 `x-amz-signature` with `signature_version="s3v4"`), then
the object read back with boto3; and forms the policy refuses (a condition broken, a file over
its content-length-range) leaving no object behind.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from harness import RW_ACCESS_KEY, RW_SECRET_KEY, make_client

BUCKET = "e2e"
MIB = 1024 * 1024
CURL_TIMEOUT_SECS = 60


def uid() -> str:
    return uuid.uuid4().hex[:12]


def curl_form(url: str, fields: dict, path, workdir) -> tuple[int, str, str]:
    """POSTs `fields` then `file=@path` with curl; (status, body, headers)."""
    out, hdr = workdir / f"out-{uid()}", workdir / f"hdr-{uid()}"
    cmd = ["curl", "-sS", "-o", str(out), "-D", str(hdr), "-w", "%{http_code}", "--max-time", str(CURL_TIMEOUT_SECS)]
    for k, v in fields.items():
        cmd += ["--form-string", f"{k}={v}"]
    cmd += ["-F", f"file=@{path}", url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=CURL_TIMEOUT_SECS + 10, check=True)
    return int(r.stdout), out.read_text(errors="replace"), hdr.read_text(errors="replace")


def presigned(s3, key: str, max_len: int, content_type: str = "text/plain"):
    return s3.generate_presigned_post(
        Bucket=BUCKET,
        Key=key,
        Fields={"Content-Type": content_type, "x-amz-meta-origin": "curl", "success_action_status": "201"},
        Conditions=[
            {"Content-Type": content_type},
            {"x-amz-meta-origin": "curl"},
            {"success_action_status": "201"},
            ["content-length-range", 1, max_len],
        ],
        ExpiresIn=600,
    )


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


@pytest.mark.parametrize("signature", ["default", "s3v4"])
@pytest.mark.parametrize("size", [20_000, 3 * MIB + 5], ids=["small", "streamed"])
def test_curl_form_upload_with_a_botocore_policy_reads_back(s3, proxy, workdir, size, signature):
    prefix = f"post-{uid()}/"
    signer = s3 if signature == "default" else make_client(
        proxy.endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, signature_version="s3v4")
    post = presigned(signer, prefix + "${filename}", 4 * MIB)
    assert ("x-amz-signature" in post["fields"]) == (signature == "s3v4"), post["fields"]
    data = os.urandom(size)
    path = workdir / "upload.bin"
    path.write_bytes(data)
    status, body, headers = curl_form(post["url"], post["fields"], path, workdir)
    assert status == 201, body
    assert f"<Key>{prefix}upload.bin</Key>" in body and f"<Bucket>{BUCKET}</Bucket>" in body, body
    assert "etag:" in headers.lower()
    got = s3.get_object(Bucket=BUCKET, Key=prefix + "upload.bin")
    assert got["Body"].read() == data
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"origin": "curl"}


def test_curl_forms_the_policy_refuses_leave_no_object(s3, proxy, workdir):
    key = f"post-{uid()}/refused.bin"
    path = workdir / "refused.bin"
    path.write_bytes(os.urandom(2 * MIB))
    # Over the content-length-range.
    post = presigned(s3, key, MIB)
    status, body, _ = curl_form(post["url"], post["fields"], path, workdir)
    assert status == 400 and "<Code>EntityTooLarge</Code>" in body, body
    # A field changed after signing breaks its condition.
    post = presigned(s3, key, 4 * MIB)
    fields = dict(post["fields"], **{"Content-Type": "text/html"})
    status, body, _ = curl_form(post["url"], fields, path, workdir)
    assert status == 403 and "<Code>AccessDenied</Code>" in body and "Policy Condition failed" in body, body
    # A tampered policy no longer matches its signature.
    fields = dict(post["fields"], policy=post["fields"]["policy"][:-4] + "AAA=")
    status, body, _ = curl_form(post["url"], fields, path, workdir)
    assert status in (400, 403), body
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=BUCKET, Key=key)
    assert e.value.response["Error"]["Code"] in ("404", "NoSuchKey")
