#!/usr/bin/env python3
"""Signature conformance: ls-presign's presigned URLs against the official SDKs, byte for byte.

Run through `tests/conformance/run` (it builds the binary and the SDK venv). Directly:

    target/conformance-venv/bin/python tests/conformance/conformance.py [--bin PATH] [-k FILTER] [-v]

Every case is presigned twice, with a pinned signing time and lifetime:

* by ls-presign, reached only through its public CLI: the case's environment variables (and
  nothing else from the caller's environment) plus
  `ls-presign sign '<uri>' --at <time> --ttl <s> --method <m> --json`;
* by the official SDK of its algorithm:
  - OSS V4 (`oss-v4`): alibabacloud-oss-v2. `Client.presign` (endpoint, addressing style and key
    encoding are the SDK's) with a `SignerV4` subclass that pins `SigningContext.signing_time` and
    records the canonical request and string to sign; then, as a cross-check of the harness, the
    same request signed again by a plain `SignerV4().sign(SigningContext(..., signing_time,
    expiration_time, auth_method_query=True, product="oss"))` must give the same URL.
  - OSS V1 (`oss-v1`): oss2. `Bucket.sign_url(..., slash_safe=True)` with `oss2.auth.time`
    pinned; the resource and the string to sign are recorded from oss2's own
    `ProviderAuth` methods and checked against an independent reproduction
    (`<method>\\n\\n\\n<expires>\\n/<bucket>/<key>[?security-token=<token>]`).
  - S3 SigV4 (`s3-v4`): boto3. `generate_presigned_url` with `botocore.auth.get_current_datetime`
    pinned (botocore >= 1.3x reads the clock through that name, which `botocore.auth` imports from
    `botocore.compat`; patching `botocore.auth.datetime` has no effect) and
    `S3SigV4QueryAuth.canonical_request`/`string_to_sign` wrapped to record their results. boto3
    has no custom-domain addressing, so `cname` cases drive the same `S3SigV4QueryAuth` class on an
    `AWSRequest` for `https://<domain>/<key>`.

Compared exactly: canonical request, string to sign, signature, expiry, and the URL up to `?`.
The query is compared as the multiset of its raw (still percent-encoded) `name=value` pairs, and
the full URL exactly unless the SDK merely orders the parameters differently (oss2 puts
`security-token` first; ls-presign appends it last): that is reported as a note, not a failure.

Not in the corpus, because the SDKs choose a different *URL shape* there (the signing itself is
not in question): botocore switches S3 buckets with dots to path style even when told `virtual`
(ls-presign keeps virtual-hosted); both OSS SDKs force path style on IP endpoints; the SDKs keep an
explicit default port (`https://host:443`) in the URL, ls-presign drops it; oss2 turns a bare host
into `http://`, ls-presign into `https://` (alibabacloud-oss-v2 agrees with ls-presign). Keys
with `.`/`..` segments are left out too (docs/CONFIGURATION.md: no presigned URL can address them).

Then, the other way round, the SDKs are the clients and the OSS emulator (`--emulator`, the
`oss-emulator` crate's `serve` example) the server: `round_trip.py` puts tricky keys, lists them
in pages (delimiter, prefix, start-after, encoded names), deletes them one by one and in batches,
and sees a wrong secret refused, each SDK signing as it does by default (alibabacloud-oss-v2 OSS
V4, oss2 OSS V1, boto3 SigV4). That part runs first, while the SDKs read the real clock.

Output: a unified diff per differing piece of each failing case, per-algorithm counts, the round
trip's count, then one line `conformance: N passed, M failed` counting both. Exit status 1 when
anything failed.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import dataclasses
import datetime as dt
import difflib
import hashlib
import json
import os
import subprocess
import sys
import time
import types
from urllib.parse import unquote

# The SDKs read their own environment (AWS_ENDPOINT_URL, AWS_PROFILE, ~/.aws/config,
# OSS_* ...). None of it may leak into the expected values: drop it before they are imported.
for _name in list(os.environ):
    if _name.startswith(("AWS_", "OSS_", "ALIBABA_CLOUD_", "ALICLOUD_", "S3_", "BOTO_")):
        del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import alibabacloud_oss_v2 as oss  # noqa: E402
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider  # noqa: E402
from alibabacloud_oss_v2.signer.v4 import SignerV4  # noqa: E402
from alibabacloud_oss_v2.types import Credentials as OssCredentials  # noqa: E402
from alibabacloud_oss_v2.types import HttpRequest, SigningContext  # noqa: E402

import oss2  # noqa: E402
import oss2.auth  # noqa: E402

import boto3  # noqa: E402
import botocore  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402
import botocore.utils  # noqa: E402
from botocore.config import Config as BotoConfig  # noqa: E402

import round_trip  # noqa: E402  (beside this file; drives the OSS emulator with the same SDKs)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UTC = dt.timezone.utc
ALGOS = ("oss-v4", "oss-v1", "s3-v4")
SDK_OF = {"oss-v4": "alibabacloud-oss-v2", "oss-v1": "oss2", "s3-v4": "boto3"}


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------

def _long_token(seed: str, n: int) -> str:
    """A deterministic STS-token-like string of n characters with `+`, `/` and `=`."""
    raw = b""
    block = seed.encode()
    while len(raw) * 4 // 3 < n + 4:
        block = hashlib.sha256(block).digest()
        raw += block
    return ("CAIS" + base64.b64encode(raw).decode())[: n - 2] + "=="


@dataclasses.dataclass(frozen=True)
class Cred:
    name: str
    ak: str
    sk: str
    token: str | None = None


CREDS = [
    Cred("plain", "LTAI5tConformanceKey01", "s3cr3t/Plain+Key="),
    Cred("sts", "STS.NUconformanceSts", "stsSecret/xyz", "CAIS+token/with=chars&more"),
    Cred("aws-example", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    Cred("sts-long", "STS.LongTokenKeyId9", "long/Secret+Value=42", _long_token("sts-long", 600)),
    Cred("sts-odd", "ASIAODDTOKENEXAMPLE", "odd~secret!", "tok en%2F~!*'()?#[]@$,;:"),
]

# Signing times: (value passed to --at, the instant it means). All three --at spellings appear.
TIMES = [
    ("2026-11-27T10:00:00Z", dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)),
    ("1735689600", dt.datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)),
    ("20240229T235959Z", dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
    ("2030-12-31T23:59:59Z", dt.datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("2026-03-08T18:30:00+08:00", dt.datetime(2026, 3, 8, 10, 30, 0, tzinfo=UTC)),
    ("1700000000", dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ("2038-01-19T03:14:08Z", dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC)),
    ("1999-12-31T23:59:59Z", dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("20250630T000000Z", dt.datetime(2025, 6, 30, 0, 0, 0, tzinfo=UTC)),
]
TTLS = [1, 60, 900, 3600, 86400, 604799, 604800]
OSS_REGIONS = ["cn-hangzhou", "cn-beijing", "ap-southeast-1", "us-west-1"]
S3_REGIONS = ["us-west-1", "ap-southeast-1", "cn-hangzhou", "cn-beijing"]
BUCKETS = ["ls-presign-test", "bkt", "photos-01", "x9z-media"]

SPECIALS = "+%#?&=;:@!*'()~"


def _bytes_exact(ch: str, n: int, prefix: str = "") -> str:
    """prefix + ch repeated, padded with 'a' to exactly n UTF-8 bytes."""
    s = prefix
    while len((s + ch).encode()) <= n:
        s += ch
    return s + "a" * (n - len(s.encode()))


KEYS = [
    "simple.jpg",
    "dir/sub/file.png",
    "with space.png",
    " leading-space.jpg",
    "trailing-space.jpg ",
    "  both  ",
    " ",
    *[f"special{c}char.txt" for c in SPECIALS],
    "all" + SPECIALS + "together",
    "%20already%2Fencoded%3F",
    "a+b c+d.txt",
    "double//slash.txt",
    "/leading-slash.txt",
    "//two-leading",
    "trailing/slash/",
    "中文/图片 1.jpg",
    "日本語ファイル.png",
    "한국어/파일.txt",
    "emoji😀🎉/👨‍👩‍👧.gif",
    "combining-e\u0301-a\u0308.txt",
    "nfc-\u00e9-vs-nfd-e\u0301",
    "mixed #?&=+%~ 中.txt",
    "a" * 1023,
    _bytes_exact("é", 1023, "dir/"),
    _bytes_exact("中", 1023),
    _bytes_exact("😀", 1023, "e/"),
    "brackets[1]{2}<3>.txt",
    "comma,dollar$caret^pipe|.txt",
    "back\\slash.txt",
    "quote\"dq`bt.txt",
    "tab\there.txt",
    "0",
    "-dash-start",
    "?leading-question",
    "#leading-hash",
    "UPPER/lower/MiXeD.TXT",
    "x/y/z/" * 20 + "deep.txt",
    "dots...in.name..txt",
    "unicode-space\u00a0nbsp\u3000ideographic",
]
MATRIX_KEY = "matrix/dir/file name+1 #中.jpg"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """How a storage is configured for ls-presign (env) and what the SDK is given."""

    name: str
    env: tuple  # ((var, value), ...) without the prefix: ("ENDPOINT", ...), ("ADDRESSING_STYLE", ...)
    sdk_endpoint: str | None  # None: the SDK's default for the region
    style: str  # virtual | path | cname
    region_env: str | None = None  # OSS_REGION/S3_REGION as written, when not the bare region
    fixed_region: str | None = None


def _oss_endpoints():
    return [
        Endpoint("default endpoint", (), "https://oss-{r}.aliyuncs.com", "virtual"),
        Endpoint("explicit https endpoint", (("ENDPOINT", "https://oss-{r}.aliyuncs.com"),),
                 "https://oss-{r}.aliyuncs.com", "virtual"),
        Endpoint("bare-host endpoint (https implied)", (("ENDPOINT", "oss-{r}.aliyuncs.com"),),
                 "https://oss-{r}.aliyuncs.com", "virtual"),
        Endpoint("internal endpoint + public presign endpoint",
                 (("ENDPOINT", "https://oss-{r}-internal.aliyuncs.com"),
                  ("PRESIGN_ENDPOINT", "https://oss-{r}.aliyuncs.com")),
                 "https://oss-{r}.aliyuncs.com", "virtual"),
        Endpoint("internal endpoint only (URLs name it)",
                 (("ENDPOINT", "https://oss-{r}-internal.aliyuncs.com"),),
                 "https://oss-{r}-internal.aliyuncs.com", "virtual"),
        Endpoint("internal endpoint + accelerate presign endpoint",
                 (("ENDPOINT", "http://oss-{r}-internal.aliyuncs.com"),
                  ("PRESIGN_ENDPOINT", "https://oss-accelerate.aliyuncs.com")),
                 "https://oss-accelerate.aliyuncs.com", "virtual"),
        Endpoint("path style", (("ENDPOINT", "https://oss-{r}.aliyuncs.com"), ("ADDRESSING_STYLE", "path")),
                 "https://oss-{r}.aliyuncs.com", "path"),
        Endpoint("path style on an IP with port", (("ENDPOINT", "http://127.0.0.1:9000"), ("ADDRESSING_STYLE", "path")),
                 "http://127.0.0.1:9000", "path"),
        Endpoint("path style, internal + custom-port presign endpoint",
                 (("ENDPOINT", "https://oss-{r}-internal.aliyuncs.com"),
                  ("PRESIGN_ENDPOINT", "https://oss.example.com:8443"), ("ADDRESSING_STYLE", "path")),
                 "https://oss.example.com:8443", "path"),
        Endpoint("custom domain (cname)", (("ENDPOINT", "https://img.example.com"), ("ADDRESSING_STYLE", "cname")),
                 "https://img.example.com", "cname"),
        Endpoint("cname presign endpoint, internal endpoint",
                 (("ENDPOINT", "https://oss-{r}-internal.aliyuncs.com"),
                  ("PRESIGN_ENDPOINT", "http://cdn.example.cn"), ("ADDRESSING_STYLE", "cname")),
                 "http://cdn.example.cn", "cname"),
        Endpoint("plain http endpoint", (("ENDPOINT", "http://oss-{r}.aliyuncs.com"),),
                 "http://oss-{r}.aliyuncs.com", "virtual"),
        Endpoint("region written oss-<region>", (), "https://oss-{r}.aliyuncs.com", "virtual",
                 region_env="oss-{r}"),
    ]


def _s3_endpoints():
    return [
        Endpoint("AWS default endpoint, virtual", (), None, "virtual", fixed_region="us-west-1"),
        Endpoint("AWS default endpoint, path style", (("ADDRESSING_STYLE", "path"),), None, "path",
                 fixed_region="ap-southeast-1"),
        Endpoint("explicit AWS endpoint, virtual", (("ENDPOINT", "https://s3.{r}.amazonaws.com"),),
                 "https://s3.{r}.amazonaws.com", "virtual"),
        Endpoint("MinIO on IP:port, path style", (("ENDPOINT", "http://127.0.0.1:9000"), ("ADDRESSING_STYLE", "path")),
                 "http://127.0.0.1:9000", "path"),
        Endpoint("internal endpoint + public presign endpoint, path style",
                 (("ENDPOINT", "http://minio:9000"), ("PRESIGN_ENDPOINT", "https://minio.example.com"),
                  ("ADDRESSING_STYLE", "path")),
                 "https://minio.example.com", "path"),
        Endpoint("internal endpoint + public presign endpoint, virtual",
                 (("ENDPOINT", "http://s3-internal.example.com:9000"),
                  ("PRESIGN_ENDPOINT", "https://s3.example.com")),
                 "https://s3.example.com", "virtual"),
        Endpoint("custom endpoint with port, virtual", (("ENDPOINT", "https://s3.example.com:8443"),),
                 "https://s3.example.com:8443", "virtual"),
        Endpoint("OSS S3-compatible endpoint, virtual", (("ENDPOINT", "https://oss-{r}.aliyuncs.com"),),
                 "https://oss-{r}.aliyuncs.com", "virtual"),
        Endpoint("custom domain (cname)", (("ENDPOINT", "https://cdn.example.com"), ("ADDRESSING_STYLE", "cname")),
                 "https://cdn.example.com", "cname"),
        Endpoint("plain http custom endpoint, virtual", (("ENDPOINT", "http://s3.local.example"),),
                 "http://s3.local.example", "virtual"),
    ]


@dataclasses.dataclass
class Case:
    id: str
    algo: str
    desc: str
    bucket: str
    key: str
    method: str
    at: str
    when: dt.datetime
    ttl: int
    region: str
    endpoint: Endpoint
    cred: Cred

    def env(self) -> dict:
        """The environment ls-presign gets: PATH and this storage, nothing else."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        region_env = (self.endpoint.region_env or "{r}").format(r=self.region)
        if self.algo.startswith("oss"):
            env.update({
                "OSS_BUCKET": self.bucket,
                "OSS_REGION": region_env,
                "OSS_ACCESS_KEY_ID": self.cred.ak,
                "OSS_ACCESS_KEY_SECRET": self.cred.sk,
                "OSS_SIGNATURE_VERSION": "v4" if self.algo == "oss-v4" else "v1",
            })
            if self.cred.token:
                env["OSS_SESSION_TOKEN"] = self.cred.token
            prefix = "OSS_"
        else:
            env.update({
                "S3_BUCKET": self.bucket,
                "S3_REGION": region_env,
                "AWS_ACCESS_KEY_ID": self.cred.ak,
                "AWS_SECRET_ACCESS_KEY": self.cred.sk,
            })
            if self.cred.token:
                env["AWS_SESSION_TOKEN"] = self.cred.token
            prefix = "S3_"
        for var, value in self.endpoint.env:
            env[prefix + var] = value.format(r=self.region)
        return env

    def uri(self) -> str:
        return f"{'oss' if self.algo.startswith('oss') else 's3'}://{self.bucket}/{self.key}"

    def sdk_endpoint(self) -> str | None:
        e = self.endpoint.sdk_endpoint
        return None if e is None else e.format(r=self.region)

    def title(self) -> str:
        key = self.key if len(self.key) <= 60 else f"{self.key[:40]}…({len(self.key.encode())} bytes)"
        return (f"[{self.id}] {self.algo} vs {SDK_OF[self.algo]}: {self.desc}; {self.method} "
                f"{self.bucket}/{json.dumps(key, ensure_ascii=False)}; {self.endpoint.name}; "
                f"region {self.region}; creds {self.cred.name}; at {self.at}; ttl {self.ttl}")


def build_corpus() -> list[Case]:
    cases: list[Case] = []
    counters = {a: 0 for a in ALGOS}

    def add(algo, desc, key, i, *, endpoint=None, cred=None, time_i=None, ttl=None, method=None,
            region=None, bucket=None):
        eps = _oss_endpoints() if algo.startswith("oss") else _s3_endpoints()
        regions = OSS_REGIONS if algo.startswith("oss") else S3_REGIONS
        ep = endpoint if endpoint is not None else eps[i % len(eps)]
        region = ep.fixed_region or region or regions[(i // 3) % len(regions)]
        at, when = TIMES[time_i if time_i is not None else (i * 5 + 1) % len(TIMES)]
        counters[algo] += 1
        cases.append(Case(
            id=f"{algo}-{counters[algo]:03d}",
            algo=algo,
            desc=desc,
            bucket=bucket or BUCKETS[(i // 2) % len(BUCKETS)],
            key=key,
            method=method or ("HEAD" if i % 7 == 6 else "GET"),
            at=at,
            when=when,
            ttl=ttl if ttl is not None else TTLS[(i * 3 + 2) % len(TTLS)],
            region=region,
            endpoint=ep,
            cred=cred if cred is not None else CREDS[(i * 2 + ALGOS.index(algo)) % len(CREDS)],
        ))

    for algo in ALGOS:
        # Every key, with endpoints, credentials, times, TTLs and regions rotating.
        for i, key in enumerate(KEYS):
            add(algo, "key corpus", key, i)
        # Every endpoint shape, with and without an STS token.
        eps = _oss_endpoints() if algo.startswith("oss") else _s3_endpoints()
        for j, ep in enumerate(eps):
            for cred in (CREDS[0], CREDS[1]):
                add(algo, "endpoint matrix", MATRIX_KEY, j, endpoint=ep, cred=cred, method="GET")
        # Lifetimes from 1 s to 7 days.
        for j, ttl in enumerate(TTLS):
            add(algo, f"ttl {ttl}", "ttl/probe.bin", j, endpoint=eps[0], ttl=ttl, time_i=j % len(TIMES),
                method="GET")
        # Signing times, in every --at spelling.
        for j in range(len(TIMES)):
            add(algo, "signing time", "time/probe.bin", j + 1, time_i=j, ttl=3600, method="GET")
        # Each region with each credential set.
        regions = OSS_REGIONS if algo.startswith("oss") else S3_REGIONS
        for j, region in enumerate(regions):
            add(algo, f"region {region}", "region/probe 1.jpg", j, endpoint=eps[2], region=region,
                cred=CREDS[j % len(CREDS)], method="GET")
    return cases


# --------------------------------------------------------------------------------------------
# The SDK side
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Signed:
    url: str
    canonical_request: str
    string_to_sign: str
    signature: str
    expires_at: int
    notes: list = dataclasses.field(default_factory=list)


class HarnessError(Exception):
    """The SDK side could not produce a trustworthy expected value."""


class RecordingSignerV4(SignerV4):
    """alibabacloud-oss-v2's SignerV4, recording what it signs; optionally pinning the time."""

    def __init__(self, pin: dt.datetime | None = None):
        self.pin = pin
        self.canonical_request = None
        self.string_to_sign = None

    def sign(self, signing_ctx):
        if self.pin is not None:
            signing_ctx.signing_time = self.pin
        return super().sign(signing_ctx)

    def _calc_canonical_request(self, signing_ctx, additional_headers=None):
        self.canonical_request = super()._calc_canonical_request(signing_ctx, additional_headers)
        return self.canonical_request

    def _calc_string_to_sign(self, datetime_, scope, canonical_request):
        self.string_to_sign = super()._calc_string_to_sign(datetime_, scope, canonical_request)
        return self.string_to_sign


def _query_param(url: str, name: str) -> str:
    for pair in url.split("?", 1)[1].split("&"):
        k, _, v = pair.partition("=")
        if k == name:
            return v
    raise HarnessError(f"{name} missing from SDK URL {url}")


_OSS_PRESIGNER_NOW: list = [None]


def _install_oss_v2_clock():
    class PinnedDatetime(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return _OSS_PRESIGNER_NOW[0].astimezone(tz)

    presigner = sys.modules["alibabacloud_oss_v2.presigner"]
    presigner.datetime = types.SimpleNamespace(
        datetime=PinnedDatetime, timezone=dt.timezone, timedelta=dt.timedelta)


def sdk_oss_v4(case: Case) -> Signed:
    cred = case.cred
    cfg = oss.config.load_default()
    cfg.credentials_provider = StaticCredentialsProvider(cred.ak, cred.sk, cred.token)
    cfg.region = case.region
    cfg.endpoint = case.sdk_endpoint()
    cfg.use_cname = case.endpoint.style == "cname"
    cfg.use_path_style = case.endpoint.style == "path"
    signer = RecordingSignerV4(pin=case.when)
    client = oss.Client(cfg, signer=signer)
    # After signing, Client.presign refuses an expiration more than 7 days after the *wall clock*;
    # measure that from the pinned time instead, or future signing times could not be checked.
    _OSS_PRESIGNER_NOW[0] = case.when
    model = oss.GetObjectRequest if case.method == "GET" else oss.HeadObjectRequest
    expiration = case.when + dt.timedelta(seconds=case.ttl)
    result = client.presign(model(bucket=case.bucket, key=case.key), expiration=expiration)

    # Cross-check: the bare signer on a SigningContext, as the SDK documents it.
    direct = RecordingSignerV4()
    ctx = SigningContext(
        product="oss", region=case.region, bucket=case.bucket, key=case.key,
        request=HttpRequest(method=case.method, url=result.url.split("?", 1)[0]),
        credentials=OssCredentials(cred.ak, cred.sk, cred.token),
        signing_time=case.when,
    )
    ctx.auth_method_query = True
    ctx.expiration_time = expiration
    direct.sign(ctx)
    if (ctx.request.url, direct.canonical_request) != (result.url, signer.canonical_request):
        raise HarnessError(
            f"alibabacloud-oss-v2 disagrees with itself:\n Client.presign: {result.url}\n"
            f" SignerV4.sign:  {ctx.request.url}")
    return Signed(result.url, signer.canonical_request, signer.string_to_sign,
                  _query_param(result.url, "x-oss-signature"), int(expiration.timestamp()))


_OSS2_RECORD: dict = {}


def _install_oss2_recorders():
    cls = oss2.auth.ProviderAuth
    get_bytes = cls._ProviderAuth__get_bytes_to_sign
    get_resource = cls._ProviderAuth__get_resource_string

    def bytes_to_sign(self, req, bucket_name, key):
        b = get_bytes(self, req, bucket_name, key)
        _OSS2_RECORD["string_to_sign"] = b.decode("utf-8")
        return b

    def resource_string(self, req, bucket_name, key):
        s = get_resource(self, req, bucket_name, key)
        _OSS2_RECORD["resource"] = s
        return s

    cls._ProviderAuth__get_bytes_to_sign = bytes_to_sign
    cls._ProviderAuth__get_resource_string = resource_string


def sdk_oss_v1(case: Case) -> Signed:
    cred = case.cred
    now = int(case.when.timestamp())
    # oss2 reads the clock as `time.time()` in oss2.auth: give that module its own pinned `time`.
    oss2.auth.time = types.SimpleNamespace(time=lambda: now)
    _OSS2_RECORD.clear()
    auth = oss2.StsAuth(cred.ak, cred.sk, cred.token) if cred.token else oss2.Auth(cred.ak, cred.sk)
    bucket = oss2.Bucket(auth, case.sdk_endpoint(), case.bucket,
                         is_cname=case.endpoint.style == "cname",
                         is_path_style=case.endpoint.style == "path",
                         is_verify_object_strict=False)
    notes = []
    if case.key.strip():
        url = bucket.sign_url(case.method, case.key, case.ttl, slash_safe=True)
    else:
        # sign_url refuses blank keys before signing; the signing step itself is the same call.
        req = oss2.http.Request(case.method, bucket._make_url(case.bucket, case.key, True))
        url = bucket.auth._sign_url(req, case.bucket, case.key, case.ttl)
        notes.append("oss2's Bucket.sign_url refuses blank keys; signed with the auth's _sign_url it calls")
    expires = now + case.ttl
    reproduced = f"/{case.bucket}/{case.key}" + (f"?security-token={cred.token}" if cred.token else "")
    if _OSS2_RECORD.get("resource") != reproduced:
        raise HarnessError(f"oss2 resource {_OSS2_RECORD.get('resource')!r} != reproduction {reproduced!r}")
    if _OSS2_RECORD.get("string_to_sign") != f"{case.method}\n\n\n{expires}\n{reproduced}":
        raise HarnessError(f"oss2 string to sign {_OSS2_RECORD.get('string_to_sign')!r} != reproduction")
    if _query_param(url, "Expires") != str(expires):
        raise HarnessError(f"oss2 clock not pinned: {url}")
    return Signed(url, _OSS2_RECORD["resource"], _OSS2_RECORD["string_to_sign"],
                  unquote(_query_param(url, "Signature")), expires, notes)


_BOTO_RECORD: dict = {}
_BOTO_NOW: list = [None]
_BOTO_CLIENTS: dict = {}
_BOTO_SESSION = None


def _install_botocore_recorders():
    # botocore.auth does `from botocore.compat import get_current_datetime` and calls it from
    # SigV4Auth.add_auth, so the module attribute is what has to be pinned (a patched
    # `botocore.auth.datetime` is never consulted for the signing time).
    def pinned(remove_tzinfo=True):
        now = _BOTO_NOW[0]
        return now.replace(tzinfo=None) if remove_tzinfo else now

    botocore.auth.get_current_datetime = pinned

    cls = botocore.auth.S3SigV4QueryAuth
    canonical_request = cls.canonical_request
    string_to_sign = cls.string_to_sign

    def record_canonical(self, request):
        _BOTO_RECORD["canonical_request"] = canonical_request(self, request)
        return _BOTO_RECORD["canonical_request"]

    def record_sts(self, request, canonical):
        _BOTO_RECORD["string_to_sign"] = string_to_sign(self, request, canonical)
        return _BOTO_RECORD["string_to_sign"]

    cls.canonical_request = record_canonical
    cls.string_to_sign = record_sts


def _boto_client(case: Case):
    global _BOTO_SESSION
    cred = case.cred
    k = (case.region, case.sdk_endpoint(), case.endpoint.style, cred)
    if k not in _BOTO_CLIENTS:
        if _BOTO_SESSION is None:
            _BOTO_SESSION = boto3.session.Session()
        _BOTO_CLIENTS[k] = _BOTO_SESSION.client(
            "s3", region_name=case.region, endpoint_url=case.sdk_endpoint(),
            aws_access_key_id=cred.ak, aws_secret_access_key=cred.sk, aws_session_token=cred.token,
            config=BotoConfig(signature_version="s3v4", s3={"addressing_style": case.endpoint.style}),
        )
    return _BOTO_CLIENTS[k]


def sdk_s3_v4(case: Case) -> Signed:
    cred = case.cred
    _BOTO_NOW[0] = case.when
    _BOTO_RECORD.clear()
    notes = []
    if case.endpoint.style == "cname":
        creds = botocore.credentials.Credentials(cred.ak, cred.sk, cred.token)
        signer = botocore.auth.S3SigV4QueryAuth(creds, "s3", case.region, expires=case.ttl)
        url = f"{case.sdk_endpoint()}/{botocore.utils.percent_encode(case.key, safe='/~')}"
        req = botocore.awsrequest.AWSRequest(method=case.method, url=url)
        signer.add_auth(req)
        url = req.url
        notes.append("boto3 has no custom-domain addressing: botocore's S3SigV4QueryAuth signed "
                     "https://<domain>/<key> directly")
    else:
        op = "get_object" if case.method == "GET" else "head_object"
        url = _boto_client(case).generate_presigned_url(
            op, Params={"Bucket": case.bucket, "Key": case.key}, ExpiresIn=case.ttl)
    if _query_param(url, "X-Amz-Date") != case.when.strftime("%Y%m%dT%H%M%SZ"):
        raise HarnessError(f"botocore clock not pinned: {url}")
    return Signed(url, _BOTO_RECORD["canonical_request"], _BOTO_RECORD["string_to_sign"],
                  _query_param(url, "X-Amz-Signature"), int(case.when.timestamp()) + case.ttl, notes)


SDK = {"oss-v4": sdk_oss_v4, "oss-v1": sdk_oss_v1, "s3-v4": sdk_s3_v4}


# --------------------------------------------------------------------------------------------
# The ls-presign side
# --------------------------------------------------------------------------------------------

def run_ls_presign(binary: str, case: Case) -> dict:
    argv = [binary, "sign", case.uri(), "--at", case.at, "--ttl", str(case.ttl),
            "--method", case.method, "--json"]
    p = subprocess.run(argv, env=case.env(), capture_output=True, timeout=60)
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr.decode(errors='replace').strip()}"}
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        return {"error": f"not JSON ({e}): {p.stdout[:500]!r}"}


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------

def _show(line: str) -> str:
    """A line with its ends and control characters made visible."""
    return json.dumps(line, ensure_ascii=False)


def _diff(name: str, expected: list[str], actual: list[str]) -> str:
    lines = difflib.unified_diff([_show(x) for x in expected], [_show(x) for x in actual],
                                 fromfile=f"{name} (SDK)", tofile=f"{name} (ls-presign)", lineterm="", n=3)
    return "\n".join("    " + x for x in lines)


def _query_pairs(url: str) -> list[str]:
    return url.split("?", 1)[1].split("&") if "?" in url else []


def compare(case: Case, want: Signed, got: dict) -> tuple[list[str], list[str]]:
    """(diffs, notes) for one case; no diffs means it passed."""
    diffs, notes = [], list(want.notes)
    if "error" in got:
        return [f"    ls-presign failed: {got['error']}"], notes

    def exact(name, expected, actual, split="\n"):
        if expected != actual:
            diffs.append(_diff(name, str(expected).split(split), str(actual).split(split)))

    exact("canonical request", want.canonical_request, got.get("canonical_request"))
    exact("string to sign", want.string_to_sign, got.get("string_to_sign"))
    exact("signature", want.signature, got.get("signature"))
    exact("expires_at", want.expires_at, got.get("expires_at"))
    url = got.get("url", "")
    exact("URL without query", want.url.split("?", 1)[0], url.split("?", 1)[0])
    w_pairs, g_pairs = _query_pairs(want.url), _query_pairs(url)
    if sorted(w_pairs) != sorted(g_pairs):
        diffs.append(_diff("query parameters, sorted", sorted(w_pairs), sorted(g_pairs)))
    elif w_pairs != g_pairs:
        notes.append(f"{SDK_OF[case.algo]} orders the query parameters differently "
                     f"({'&'.join(p.split('=')[0] for p in w_pairs)} vs "
                     f"{'&'.join(p.split('=')[0] for p in g_pairs)}); compared as a set")
    elif want.url != url:  # only reachable if the split above hides a difference
        exact("URL", want.url, url, split="&")
    return diffs, notes


# --------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "ls-presign"))
    ap.add_argument("--emulator", default=os.path.join(ROOT, "target", "debug", "examples", "serve"),
                    help="the OSS emulator's example binary, for the round trip")
    ap.add_argument("-k", "--filter", help="only cases whose id or description contains this")
    ap.add_argument("-j", "--jobs", type=int, default=max(4, 2 * (os.cpu_count() or 2)))
    ap.add_argument("-v", "--verbose", action="store_true", help="list every case")
    ap.add_argument("--list", action="store_true", help="list the corpus and exit")
    args = ap.parse_args()

    started = time.monotonic()
    cases = build_corpus()
    keep = (lambda title: args.filter in title) if args.filter else (lambda _: True)
    cases = [c for c in cases if keep(c.title())]
    trip_titles = [t for t in round_trip.titles() if keep(t)]
    if args.list:
        for title in [c.title() for c in cases] + trip_titles:
            print(title)
        print(f"{len(cases) + len(trip_titles)} cases")
        return 0
    for binary, build in [(args.bin, "--bin ls-presign"), (args.emulator, "-p oss-emulator --example serve")]:
        if not os.access(binary, os.X_OK):
            print(f"conformance: {binary} is not an executable; build it first "
                  f"(cargo build --locked {build})", file=sys.stderr)
            return 2

    print(f"conformance: {len(cases) + len(trip_titles)} cases; SDKs alibabacloud-oss-v2 {oss.__version__ if hasattr(oss, '__version__') else '?'}, "
          f"oss2 {oss2.__version__}, boto3 {boto3.__version__} (botocore {botocore.__version__})")

    # First, while the SDKs still read the real clock (the presign cases pin it).
    trip = round_trip.run(args.emulator, keep) if trip_titles else []
    trip_failed = [(title, why) for title, why in trip if why is not None]
    for title, why in trip:
        if why is not None:
            print(f"\nFAIL {title}\n    {why}")
        elif args.verbose:
            print(f"ok   {title}")

    _install_oss_v2_clock()
    _install_oss2_recorders()
    _install_botocore_recorders()

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # ls-presign runs in the pool while the SDKs (which need their clocks pinned one case at a
        # time) run here.
        futures = [pool.submit(run_ls_presign, args.bin, c) for c in cases]
        expected = []
        for c in cases:
            try:
                expected.append(SDK[c.algo](c))
            except Exception as e:  # noqa: BLE001 - any SDK failure is a failed case, reported
                expected.append(e)
        results = [f.result() for f in futures]

    counts = {a: [0, 0] for a in ALGOS}
    all_notes: dict[str, int] = {}
    failed_titles = []
    for c, want, got in zip(cases, expected, results):
        if isinstance(want, Exception):
            diffs, notes = [f"    SDK side failed: {type(want).__name__}: {want}"], []
        else:
            diffs, notes = compare(c, want, got)
        for n in notes:
            all_notes[f"{c.algo}: {n}"] = all_notes.get(f"{c.algo}: {n}", 0) + 1
        counts[c.algo][1 if diffs else 0] += 1
        if diffs:
            failed_titles.append(c.id)
            print(f"\nFAIL {c.title()}")
            print(f"    uri: {_show(c.uri())}")
            print("\n".join(diffs))
        elif args.verbose:
            print(f"ok   {c.title()}")

    if all_notes:
        print("\nnotes (not failures):")
        for n, k in sorted(all_notes.items()):
            print(f"  {k:3d} x {n}")
    failed_titles += [title.split("]")[0][1:] for title, _ in trip_failed]
    if failed_titles:
        shown = ", ".join(failed_titles[:20]) + (" ..." if len(failed_titles) > 20 else "")
        print(f"\nfailed cases: {shown}")
    passed = sum(p for p, _ in counts.values()) + len(trip) - len(trip_failed)
    failed = sum(f for _, f in counts.values()) + len(trip_failed)
    print(f"\nruntime {time.monotonic() - started:.1f}s")
    print("per algorithm: " + "; ".join(
        f"{a} vs {SDK_OF[a]} {p} passed, {f} failed" for a, (p, f) in counts.items()))
    print(f"object round trip against the emulator: {len(trip) - len(trip_failed)} passed, "
          f"{len(trip_failed)} failed")
    print(f"conformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
