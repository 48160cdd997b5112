#!/usr/bin/env python3
"""Produce signature test vectors with the official SDKs and a pinned clock.

Run with the venv that has alibabacloud-oss-v2, oss2 and boto3:
    python3 scripts/sdk_vectors.py   # in a venv with alibabacloud-oss-v2, oss2, boto3
Writes tests/fixtures/sdk_vectors.json. The Rust test feeds each vector to
`oss_emulator::verify` (crates/oss-emulator/src/tests.rs) with the recorded `now`.
"""
import datetime
import json
import os
from urllib.parse import quote

import alibabacloud_oss_v2 as oss
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

import oss2
import oss2.auth
import oss2.utils

import boto3
import botocore.auth
from botocore.config import Config

SIGN_TIME = datetime.datetime(2025, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
SIGN_UNIX = int(SIGN_TIME.timestamp())
NOW = SIGN_UNIX + 60  # verification happens a minute after signing
EXPIRES = 3600
REGION = "cn-hangzhou"
BUCKET = "ls-presign-test"
OSS_HOST = f"oss-{REGION}.aliyuncs.com"
IP_HOST = "127.0.0.1:9000"

PLAIN = {"access_key_id": "LTAI5tEmulatorPlain", "access_key_secret": "s3cr3t/Plain+Key=", "security_token": None}
STS = {"access_key_id": "STS.NUemulatorSts", "access_key_secret": "stsSecret/xyz", "security_token": "CAIS+token/with=chars&more"}

KEYS = [
    "simple.txt",
    "dir/sub/file.jpg",
    "with space.png",
    " leading-space",
    "trailing-space ",
    "plus+sign.txt",
    "percent%25and%.txt",
    "hash#frag.txt",
    "question?mark.txt",
    "amp&eq=semi;colon:at@.txt",
    "bang!star*quote'paren(x).txt",
    "tilde~name.txt",
    "double//slash.txt",
    "trailing/slash/",
    "中文/图片 1.jpg",
    "日本語ファイル.png",
    "emoji😀🎉.gif",
    "combining-e\u0301-a\u0308.txt",
    "mixed #?&=+%~ 中.txt",
    "a" * 1023,
    "dir/" + "é" * 500 + ".bin",
    "brackets[1]{2}<3>.txt",
    "comma,dollar$caret^pipe|.txt",
    "back\\slash.txt",
    "quote\"dq`bt.txt",
    "dots/../x/./y.txt",
    "tab\there.txt",
    "0",
    "UPPER/lower/MiXeD.TXT",
    "x/y/z/" * 20 + "deep.txt",
]


def cred_dict(c):
    return dict(c)


def v4_presign(key, cred, virtual, extra_query=None):
    host = f"{BUCKET}.{OSS_HOST}" if virtual else OSS_HOST
    path = f"/{quote(key)}" if virtual else f"/{BUCKET}/{quote(key)}"
    url = f"https://{host}{path}"
    if extra_query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in extra_query.items())
    req = HttpRequest(method="GET", url=url)
    ctx = v4_context(key, cred, req)
    ctx.auth_method_query = True
    ctx.expiration_time = SIGN_TIME + datetime.timedelta(seconds=EXPIRES)
    SignerV4().sign(ctx)
    return {"method": "GET", "url": req.url, "headers": {"host": host}, "expires_at": SIGN_UNIX + EXPIRES}


def v4_context(key, cred, req):
    """The SDK's signing context for `req` on `key`, at the pinned time."""
    return SigningContext(
        product="oss", region=REGION, bucket=BUCKET, key=key, request=req,
        credentials=oss.credentials.StaticCredentialsProvider(
            cred["access_key_id"], cred["access_key_secret"], cred["security_token"]
        ).get_credentials(),
        signing_time=SIGN_TIME,
    )


def v4_header(key, cred, virtual):
    host = f"{BUCKET}.{OSS_HOST}" if virtual else OSS_HOST
    path = f"/{quote(key)}" if virtual else f"/{BUCKET}/{quote(key)}"
    url = f"https://{host}{path}"
    req = HttpRequest(method="GET", url=url, headers={"Host": host})
    ctx = v4_context(key, cred, req)
    SignerV4().sign(ctx)
    return {"method": "GET", "url": req.url, "headers": {k.lower(): v for k, v in req.headers.items()}, "expires_at": None}


def v1_presign(key, cred, virtual, params=None):
    oss2.auth.time.time = lambda: SIGN_UNIX
    if cred["security_token"]:
        auth = oss2.StsAuth(cred["access_key_id"], cred["access_key_secret"], cred["security_token"])
    else:
        auth = oss2.Auth(cred["access_key_id"], cred["access_key_secret"])
    endpoint = f"https://{OSS_HOST}" if virtual else f"http://{IP_HOST}"
    bucket = oss2.Bucket(auth, endpoint, BUCKET)
    url = bucket.sign_url("GET", key, EXPIRES, params=params)
    host = url.split("://", 1)[1].split("/", 1)[0]
    return {"method": "GET", "url": url, "headers": {"host": host}, "expires_at": SIGN_UNIX + EXPIRES}


def v1_header(key, cred, virtual):
    oss2.utils.http_date = lambda timeval=None: oss2.utils.formatdate(SIGN_UNIX, usegmt=True)
    oss2.auth.utils.http_date = oss2.utils.http_date
    if cred["security_token"]:
        auth = oss2.StsAuth(cred["access_key_id"], cred["access_key_secret"], cred["security_token"])
    else:
        auth = oss2.Auth(cred["access_key_id"], cred["access_key_secret"])
    host = f"{BUCKET}.{OSS_HOST}" if virtual else IP_HOST
    path = f"/{quote(key)}" if virtual else f"/{BUCKET}/{quote(key)}"
    url = f"https://{host}{path}"
    req = oss2.http.Request("GET", url, headers={"Host": host})
    auth._sign_request(req, BUCKET, key)
    return {"method": "GET", "url": url, "headers": {k.lower(): v for k, v in req.headers.items() if v is not None}, "expires_at": None}


def s3_client(cred, virtual, endpoint):
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=cred["access_key_id"],
        aws_secret_access_key=cred["access_key_secret"],
        aws_session_token=cred["security_token"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual" if virtual else "path"}),
    )


def pin_botocore():
    pinned = SIGN_TIME.replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda remove_tzinfo=True: pinned


def s3_presign(key, cred, virtual):
    pin_botocore()
    endpoint = f"https://{OSS_HOST}" if virtual else f"http://{IP_HOST}"
    client = s3_client(cred, virtual, endpoint)
    url = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=EXPIRES)
    host = url.split("://", 1)[1].split("/", 1)[0]
    return {"method": "GET", "url": url, "headers": {"host": host}, "expires_at": SIGN_UNIX + EXPIRES}


def s3_header(key, cred, virtual):
    pin_botocore()
    endpoint = f"https://{OSS_HOST}" if virtual else f"http://{IP_HOST}"
    client = s3_client(cred, virtual, endpoint)
    captured = {}

    def grab(request, **_kwargs):
        captured["url"] = request.url
        captured["headers"] = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        raise StopIteration  # stop before anything is sent

    client.meta.events.register("before-send.s3.GetObject", grab)
    try:
        client.get_object(Bucket=BUCKET, Key=key)
    except StopIteration:
        pass
    host = captured["url"].split("://", 1)[1].split("/", 1)[0]
    headers = captured["headers"]
    headers["host"] = host
    return {"method": "GET", "url": captured["url"], "headers": headers, "expires_at": None}


def main():
    vectors = []

    def add(kind, sdk, key, cred, virtual, fn, *args):
        v = fn(key, cred, virtual, *args)
        v.update({
            "kind": kind, "sdk": sdk, "key": key, "virtual_hosted": virtual,
            "now": NOW, "credential": cred_dict(cred),
            "bucket": {"name": BUCKET, "region": REGION},
        })
        vectors.append(v)

    for i, key in enumerate(KEYS):
        cred = STS if i % 3 == 0 else PLAIN
        virtual = i % 2 == 0
        add("oss4-query", "alibabacloud-oss-v2", key, cred, virtual, v4_presign)
        add("oss4-query", "alibabacloud-oss-v2", key, cred, not virtual, v4_presign)
        add("oss4-header", "alibabacloud-oss-v2", key, cred, virtual, v4_header)
        if key.strip():  # oss2 refuses blank keys
            add("oss1-query", "oss2", key, cred, virtual, v1_presign)
            add("oss1-header", "oss2", key, cred, not virtual, v1_header)
        if "../" not in key and "./" not in key:  # botocore would need a dot-segment-safe path
            add("s3-query", "boto3", key, cred, virtual, s3_presign)
            add("s3-header", "boto3", key, cred, not virtual, s3_header)

    # Response header overrides are part of what is signed.
    disposition = {"response-content-disposition": 'attachment; filename="a b.txt"', "response-content-type": "text/plain"}
    add("oss4-query", "alibabacloud-oss-v2", "with space.png", PLAIN, True, v4_presign, disposition)
    add("oss4-query", "alibabacloud-oss-v2", "中文/图片 1.jpg", STS, False, v4_presign, disposition)
    add("oss1-query", "oss2", "with space.png", PLAIN, True, v1_presign, dict(disposition))
    add("oss1-query", "oss2", "中文/图片 1.jpg", STS, False, v1_presign, dict(disposition))

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "sdk_vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(vectors)} vectors to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
