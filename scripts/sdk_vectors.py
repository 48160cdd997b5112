#!/usr/bin/env python3
"""Produce signature test vectors with the official SDKs and a pinned clock.

Run with the venv that has alibabacloud-oss-v2, oss2 and boto3 (the versions pinned in
tests/conformance/requirements.txt):
    python3 scripts/sdk_vectors.py   # in a venv with alibabacloud-oss-v2, oss2, boto3
Writes tests/fixtures/sdk_vectors.json, the one record of what the SDKs sign. The emulator's test
feeds each vector to `oss_emulator::verify`
(crates/oss-emulator/src/tests.rs) with the recorded `now`. Each vector also records what the
SDK was given (`signed_at`, `expires_in`, `endpoint`, `virtual_hosted`, `bucket`, `credential`,
`key`): src/sign/sdk_vectors.rs signs every query-form vector without response overrides again
from those and expects the SDK's URL. The output is the same on every run and machine: the clocks
are pinned and the unsigned headers that name the machine or a random id are left out.
"""
import datetime
import json
import os
import types
from dataclasses import dataclass
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
VERIFY_AFTER = 60  # verification happens a minute after signing
EXPIRES = 3600
REGION = "cn-hangzhou"
BUCKET = "ls-presign-test"
OSS_HOST = f"oss-{REGION}.aliyuncs.com"
IP_HOST = "127.0.0.1:9000"
OSS_ENDPOINT = f"https://{OSS_HOST}"
IP_ENDPOINT = f"http://{IP_HOST}"
# Unsigned headers that differ between machines and runs.
UNSTABLE_HEADERS = {"user-agent", "amz-sdk-invocation-id"}

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


@dataclass(frozen=True)
class Case:
    """What one vector signs: an object, a credential, a time, and the endpoint (`scheme://host`,
    without the bucket) the request goes to, virtual-hosted or path-style."""
    key: str
    cred: dict
    virtual: bool
    endpoint: str
    at: datetime.datetime = SIGN_TIME
    bucket: str = BUCKET
    region: str = REGION

    @property
    def unix(self):
        return int(self.at.timestamp())

    @property
    def host(self):
        """The request's host: the endpoint's, with the bucket in front when virtual-hosted."""
        host = self.endpoint.split("://", 1)[1]
        return f"{self.bucket}.{host}" if self.virtual else host

    @property
    def path(self):
        return f"/{quote(self.key)}" if self.virtual else f"/{self.bucket}/{quote(self.key)}"

    @property
    def url(self):
        return f"{self.endpoint.split('://', 1)[0]}://{self.host}{self.path}"


def v4_presign(case, extra_query=None):
    url = case.url
    if extra_query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in extra_query.items())
    req = HttpRequest(method="GET", url=url)
    ctx = v4_context(case, req)
    ctx.auth_method_query = True
    ctx.expiration_time = case.at + datetime.timedelta(seconds=EXPIRES)
    SignerV4().sign(ctx)
    return {"method": "GET", "url": req.url, "headers": {"host": case.host}, "expires_at": case.unix + EXPIRES}


def v4_context(case, req):
    """The SDK's signing context for `req` on the case's object, at the case's time."""
    cred = case.cred
    return SigningContext(
        product="oss", region=case.region, bucket=case.bucket, key=case.key, request=req,
        credentials=oss.credentials.StaticCredentialsProvider(
            cred["access_key_id"], cred["access_key_secret"], cred["security_token"]
        ).get_credentials(),
        signing_time=case.at,
    )


def v4_header(case):
    req = HttpRequest(method="GET", url=case.url, headers={"Host": case.host})
    ctx = v4_context(case, req)
    SignerV4().sign(ctx)
    return {"method": "GET", "url": req.url, "headers": {k.lower(): v for k, v in req.headers.items()}, "expires_at": None}


def oss2_auth(cred):
    if cred["security_token"]:
        return oss2.StsAuth(cred["access_key_id"], cred["access_key_secret"], cred["security_token"])
    return oss2.Auth(cred["access_key_id"], cred["access_key_secret"])


def v1_presign(case, params=None):
    # oss2 reads the clock as `time.time()` in oss2.auth: give that module its own pinned `time`.
    oss2.auth.time = types.SimpleNamespace(time=lambda: case.unix)
    # oss2 chooses the addressing itself: path-style for an IP endpoint, virtual-hosted otherwise.
    bucket = oss2.Bucket(oss2_auth(case.cred), case.endpoint, case.bucket)
    url = bucket.sign_url("GET", case.key, EXPIRES, params=params)
    host = url.split("://", 1)[1].split("/", 1)[0]
    return {"method": "GET", "url": url, "headers": {"host": host}, "expires_at": case.unix + EXPIRES}


def v1_header(case):
    oss2.utils.http_date = lambda timeval=None: oss2.utils.formatdate(case.unix, usegmt=True)
    oss2.auth.utils.http_date = oss2.utils.http_date
    req = oss2.http.Request("GET", case.url, headers={"Host": case.host})
    oss2_auth(case.cred)._sign_request(req, case.bucket, case.key)
    return {"method": "GET", "url": case.url, "headers": stable(req.headers), "expires_at": None}


def stable(headers):
    """`headers` with lower-case names, without the unsigned ones that name the machine or a random id."""
    return {k.lower(): v for k, v in headers.items() if v is not None and k.lower() not in UNSTABLE_HEADERS}


def s3_client(case):
    cred = case.cred
    return boto3.client(
        "s3",
        region_name=case.region,
        endpoint_url=case.endpoint,
        aws_access_key_id=cred["access_key_id"],
        aws_secret_access_key=cred["access_key_secret"],
        aws_session_token=cred["security_token"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual" if case.virtual else "path"}),
    )


def pin_botocore(case):
    pinned = case.at.replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda remove_tzinfo=True: pinned


def s3_presign(case):
    pin_botocore(case)
    client = s3_client(case)
    url = client.generate_presigned_url("get_object", Params={"Bucket": case.bucket, "Key": case.key}, ExpiresIn=EXPIRES)
    host = url.split("://", 1)[1].split("/", 1)[0]
    return {"method": "GET", "url": url, "headers": {"host": host}, "expires_at": case.unix + EXPIRES}


def s3_header(case):
    pin_botocore(case)
    client = s3_client(case)
    captured = {}

    def grab(request, **_kwargs):
        captured["url"] = request.url
        captured["headers"] = stable({k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()})
        raise StopIteration  # stop before anything is sent

    client.meta.events.register("before-send.s3.GetObject", grab)
    try:
        client.get_object(Bucket=case.bucket, Key=case.key)
    except StopIteration:
        pass
    host = captured["url"].split("://", 1)[1].split("/", 1)[0]
    headers = captured["headers"]
    headers["host"] = host
    return {"method": "GET", "url": captured["url"], "headers": headers, "expires_at": None}


def main():
    vectors = []

    def add(kind, sdk, case, fn, *args):
        v = fn(case, *args)
        v.update({
            "kind": kind, "sdk": sdk, "key": case.key, "virtual_hosted": case.virtual,
            "now": case.unix + VERIFY_AFTER, "credential": dict(case.cred),
            "bucket": {"name": case.bucket, "region": case.region},
            # What else the SDK was given, so that another signer can sign the same request.
            "signed_at": case.unix, "expires_in": EXPIRES if v["expires_at"] is not None else None,
            "endpoint": case.endpoint,
        })
        vectors.append(v)

    def on(virtual):
        """Path-style requests go to an IP endpoint, where oss2 and botocore cannot go virtual."""
        return OSS_ENDPOINT if virtual else IP_ENDPOINT

    for i, key in enumerate(KEYS):
        cred = STS if i % 3 == 0 else PLAIN
        virtual = i % 2 == 0
        add("oss4-query", "alibabacloud-oss-v2", Case(key, cred, virtual, OSS_ENDPOINT), v4_presign)
        add("oss4-query", "alibabacloud-oss-v2", Case(key, cred, not virtual, OSS_ENDPOINT), v4_presign)
        add("oss4-header", "alibabacloud-oss-v2", Case(key, cred, virtual, OSS_ENDPOINT), v4_header)
        if key.strip():  # oss2 refuses blank keys
            add("oss1-query", "oss2", Case(key, cred, virtual, on(virtual)), v1_presign)
            # V1 does not sign the scheme: these requests are made out as https on either host.
            add("oss1-header", "oss2", Case(key, cred, not virtual, f"https://{IP_HOST if virtual else OSS_HOST}"), v1_header)
        if "../" not in key and "./" not in key:  # botocore would need a dot-segment-safe path
            add("s3-query", "boto3", Case(key, cred, virtual, on(virtual)), s3_presign)
            add("s3-header", "boto3", Case(key, cred, not virtual, on(not virtual)), s3_header)

    # Response header overrides are part of what is signed.
    disposition = {"response-content-disposition": 'attachment; filename="a b.txt"', "response-content-type": "text/plain"}
    add("oss4-query", "alibabacloud-oss-v2", Case("with space.png", PLAIN, True, OSS_ENDPOINT), v4_presign, disposition)
    add("oss4-query", "alibabacloud-oss-v2", Case("中文/图片 1.jpg", STS, False, OSS_ENDPOINT), v4_presign, disposition)
    add("oss1-query", "oss2", Case("with space.png", PLAIN, True, OSS_ENDPOINT), v1_presign, dict(disposition))
    add("oss1-query", "oss2", Case("中文/图片 1.jpg", STS, False, IP_ENDPOINT), v1_presign, dict(disposition))

    # One awkward key (spaces at both ends, `+`, `%`, `//`, a non-ASCII letter, `#`, `?`) on another
    # day, at times that are not noon (one not on the hour), in another region and on an AWS endpoint.
    awkward = " a b+c%/d//é#?x "
    day = datetime.datetime(2026, 11, 27, tzinfo=datetime.timezone.utc)
    for cred in (
        {"access_key_id": "AKID", "access_key_secret": "SECRET", "security_token": None},
        {"access_key_id": "AKID", "access_key_secret": "SECRET", "security_token": "sts/token+="},
    ):
        at = day.replace(hour=10)
        add("oss4-query", "alibabacloud-oss-v2", Case(awkward, cred, True, OSS_ENDPOINT, at, "bkt"), v4_presign)
        at = day.replace(hour=9)
        add("oss1-query", "oss2", Case(awkward, cred, True, OSS_ENDPOINT, at, "bkt"), v1_presign)
        at = day.replace(hour=12, minute=18, second=11)
        for virtual, endpoint in ((True, "https://s3.us-west-1.amazonaws.com"), (False, IP_ENDPOINT)):
            add("s3-query", "boto3", Case(awkward, cred, virtual, endpoint, at, "bkt", "us-west-1"), s3_presign)

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "sdk_vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(vectors)} vectors to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
