"""Object operations against the OSS emulator, driven by the official SDKs (part of conformance.py).

The emulator (`crates/oss-emulator/examples/serve.rs`) verifies every request's signature on its
own; here the SDKs are the oracle for what a client sends and expects back. Each SDK gets its own
bucket and signs as it does by default:

* alibabacloud-oss-v2: OSS V4 header auth, with an STS token;
* oss2: OSS V1 header auth (its `Auth`), so the bucket accepts V1;
* boto3: AWS SigV4 header auth, path style, with `request_checksum_calculation="when_required"`
  and a `Content-MD5` added to DeleteObjects: OSS requires that header, and botocore >= 1.36 sends
  only a CRC32 (what a boto3 user has to do against OSS too).

Each SDK puts the tricky keys, lists them in small pages (and with a delimiter, a prefix,
start-after; encoded names by default, raw ones too where the SDK allows), gets exactly those keys
back, deletes some one by one and the rest in batches, and sees the bucket empty. A client with a
wrong secret must be refused (SignatureDoesNotMatch), or a passing run would prove nothing.

XML 1.0 cannot carry a control character: oss2 and boto3 write one raw into a DeleteMultipleObjects
body (refused as malformed, as an XML parser refuses it), so they delete such keys one by one;
alibabacloud-oss-v2 writes a character reference and batch-deletes them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import subprocess
import traceback

import alibabacloud_oss_v2 as oss
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider

import oss2

import boto3
from botocore.config import Config as BotoConfig

REGION = "cn-hangzhou"

KEYS = [
    "plain.txt",
    " leading-space",
    "trailing-space ",
    "  both  ",
    "double//slash",
    "/leading-slash",
    "dir/sub/file.png",
    "dir/sub/",
    "dir/z.txt",
    "a+b c+d",
    "100%",
    "%20already%2Fencoded%3F",
    "hash#frag",
    "question?mark",
    "xml&<specials>\"'",
    "tab\there",
    "ctl/\x01control",
    "中文/图片 1.jpg",
    "emoji😀/👨‍👩‍👧.gif",
    "nfc-\u00e9-vs-nfd-e\u0301",
    "nbsp\u00a0ideographic\u3000space",
]
XML_SAFE = [k for k in KEYS if not any(ord(c) < 0x20 and c not in "\t\n\r" for c in k)]


def expected(prefix: str = "", delimiter: str = "", start_after: str = "") -> tuple[list, list]:
    """What ListObjectsV2 must give over KEYS: (keys, common prefixes), each in key order
    (code point order is the UTF-8 byte order OSS sorts by)."""
    keys, prefixes = [], []
    for k in sorted(KEYS):
        if not k.startswith(prefix) or k <= start_after:
            continue
        rest = k[len(prefix):]
        if delimiter and delimiter in rest:
            common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if common not in prefixes:
                prefixes.append(common)
        else:
            keys.append(k)
    return keys, prefixes


@dataclasses.dataclass(frozen=True)
class Account:
    bucket: str
    ak: str
    sk: str
    token: str | None = None
    allow_v1: bool = False


ACCOUNTS = {
    "alibabacloud-oss-v2": Account("rt-oss-v4", "STS.RoundTripV4", "rt/v4+secret=", "CAIS+rt/token=&"),
    "oss2": Account("rt-oss-v1", "LTAIRoundTripV1", "rt-v1-secret", allow_v1=True),
    "boto3": Account("rt-s3-v4", "AKIAROUNDTRIPS3", "rt/s3+secret"),
}


class Emulator:
    """The emulator example binary, fed its buckets and credentials on stdin; stops when closed."""

    def __init__(self, binary: str):
        config = {
            "buckets": [{"name": a.bucket, "region": REGION, "allow_v1": a.allow_v1} for a in ACCOUNTS.values()],
            "credentials": [{"access_key_id": a.ak, "access_key_secret": a.sk, "security_token": a.token}
                            for a in ACCOUNTS.values()],
        }
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{binary} exited without serving (status {self.proc.wait()})")
        self.endpoint = json.loads(line)["endpoint"]

    def close(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ---- one adapter per SDK: put, list (all pages), delete, batch delete ----

class OssV2:
    name = "alibabacloud-oss-v2"

    def __init__(self, endpoint: str, account: Account, secret: str | None = None):
        cfg = oss.config.load_default()
        cfg.credentials_provider = StaticCredentialsProvider(account.ak, secret or account.sk, account.token)
        cfg.region = REGION
        cfg.endpoint = endpoint
        cfg.use_path_style = True
        cfg.retry_max_attempts = 1
        self.client = oss.Client(cfg)
        self.bucket = account.bucket

    def put(self, key: str, data: bytes):
        self.client.put_object(oss.PutObjectRequest(bucket=self.bucket, key=key, body=data))

    def get(self, key: str) -> bytes:
        return self.client.get_object(oss.GetObjectRequest(bucket=self.bucket, key=key)).body.read()

    def list(self, page_size: int, encoded: bool = True, **kw) -> list[tuple[list, list]]:
        req = oss.ListObjectsV2Request(bucket=self.bucket, prefix=kw.get("prefix"),
                                       delimiter=kw.get("delimiter"), start_after=kw.get("start_after"),
                                       encoding_type=None if encoded else "")
        pages = []
        for page in self.client.list_objects_v2_paginator(limit=page_size).iter_page(req):
            pages.append(([o.key for o in page.contents or []],
                          [p.prefix for p in page.common_prefixes or []]))
        return pages

    def put_new(self, key: str, data: bytes):
        self.client.put_object(oss.PutObjectRequest(bucket=self.bucket, key=key, body=data,
                                                    forbid_overwrite=True))

    def delete(self, key: str):
        self.client.delete_object(oss.DeleteObjectRequest(bucket=self.bucket, key=key))

    def batch_delete(self, keys: list, quiet: bool) -> list | None:
        result = self.client.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
            bucket=self.bucket, objects=[oss.DeleteObject(key=k) for k in keys], quiet=quiet))
        return None if quiet else [d.key for d in result.deleted_objects or []]

    batch_keys = KEYS  # character references carry control characters


class Oss2:
    name = "oss2"

    def __init__(self, endpoint: str, account: Account, secret: str | None = None):
        auth = oss2.Auth(account.ak, secret or account.sk)
        self.bucket = oss2.Bucket(auth, endpoint, account.bucket, is_path_style=True,
                                  is_verify_object_strict=False)

    def put(self, key: str, data: bytes):
        self.bucket.put_object(key, data)

    def get(self, key: str) -> bytes:
        return self.bucket.get_object(key).read()

    def list(self, page_size: int, encoded: bool = True, **kw) -> list[tuple[list, list]]:
        pages, token = [], ""
        while True:
            r = self.bucket.list_objects_v2(prefix=kw.get("prefix", ""), delimiter=kw.get("delimiter", ""),
                                            start_after=kw.get("start_after", ""), continuation_token=token,
                                            max_keys=page_size, encoding_type="url" if encoded else "")
            pages.append(([o.key for o in r.object_list], list(r.prefix_list)))
            if not r.is_truncated:
                return pages
            token = r.next_continuation_token

    def iterate(self, **kw) -> list[str]:
        """oss2's own ObjectIteratorV2 (pages of 3): keys and prefixes, in order."""
        return [o.key for o in oss2.ObjectIteratorV2(self.bucket, max_keys=3, **kw)]

    def put_new(self, key: str, data: bytes):
        self.bucket.put_object(key, data, headers={"x-oss-forbid-overwrite": "true"})

    def delete(self, key: str):
        self.bucket.delete_object(key)

    def batch_delete(self, keys: list, quiet: bool) -> list | None:
        return self.bucket.batch_delete_objects(keys).deleted_keys  # oss2 asks verbose answers only

    batch_keys = XML_SAFE


class Boto3:
    name = "boto3"

    def __init__(self, endpoint: str, account: Account, secret: str | None = None):
        self.client = boto3.session.Session().client(
            "s3", region_name=REGION, endpoint_url=endpoint,
            aws_access_key_id=account.ak, aws_secret_access_key=secret or account.sk,
            aws_session_token=account.token,
            config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required",
                              retries={"max_attempts": 1}))
        self.client.meta.events.register("before-sign.s3.DeleteObjects", _add_content_md5)
        self.bucket = account.bucket

    def put(self, key: str, data: bytes):
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def list(self, page_size: int, encoded: bool = True, **kw) -> list[tuple[list, list]]:
        # botocore always asks for EncodingType=url (and decodes the answer).
        params = {"Bucket": self.bucket, "Prefix": kw.get("prefix", ""), "Delimiter": kw.get("delimiter", ""),
                  "StartAfter": kw.get("start_after", "")}
        pages = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
                **{k: v for k, v in params.items() if v}, PaginationConfig={"PageSize": page_size}):
            pages.append(([o["Key"] for o in page.get("Contents", [])],
                          [p["Prefix"] for p in page.get("CommonPrefixes", [])]))
        return pages

    def put_new(self, key: str, data: bytes):
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")

    def list_v1(self, page_size: int, **kw) -> list[tuple[list, list]]:
        """ListObjects (V1, markers): what boto3's `bucket.objects` uses, and Label Studio's S3
        storage with it."""
        params = {"Bucket": self.bucket, "Prefix": kw.get("prefix", ""), "Delimiter": kw.get("delimiter", "")}
        pages = []
        for page in self.client.get_paginator("list_objects").paginate(
                **{k: v for k, v in params.items() if v}, PaginationConfig={"PageSize": page_size}):
            pages.append(([o["Key"] for o in page.get("Contents", [])],
                          [p["Prefix"] for p in page.get("CommonPrefixes", [])]))
        return pages

    def delete(self, key: str):
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def batch_delete(self, keys: list, quiet: bool) -> list | None:
        r = self.client.delete_objects(Bucket=self.bucket,
                                       Delete={"Objects": [{"Key": k} for k in keys], "Quiet": quiet})
        return None if quiet else [d["Key"] for d in r.get("Deleted", [])]

    batch_keys = XML_SAFE


def _add_content_md5(request, **_):
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


ADAPTERS = [OssV2, Oss2, Boto3]


# ---- the cases ----

class Failed(Exception):
    pass


def _same(what: str, want, got):
    if want != got:
        raise Failed(f"{what}:\n      want {json.dumps(want, ensure_ascii=False)}\n"
                     f"      got  {json.dumps(got, ensure_ascii=False)}")


def _flat(pages) -> tuple[list, list]:
    return [k for keys, _ in pages for k in keys], [p for _, prefixes in pages for p in prefixes]


def _paged(pages, size: int):
    if len(pages) < 2 or any(len(k) + len(p) > size for k, p in pages):
        raise Failed(f"expected several pages of at most {size}, got sizes "
                     f"{[len(k) + len(p) for k, p in pages]}")


@dataclasses.dataclass
class State:
    """One SDK's run: its client (once the emulator serves) and the keys deleted so far."""

    endpoint: str = ""
    client: object = None
    deleted: set = dataclasses.field(default_factory=set)


def cases_for(adapter, state: State) -> list[tuple[str, object]]:
    """(description, check) pairs for one SDK, to run in order against its fresh bucket."""
    name = adapter.name

    def sdk():
        return state.client

    def put_and_get():
        for k in KEYS:
            sdk().put(k, k.encode())
        for k in KEYS:
            _same(f"body of {k!r}", k.encode(), sdk().get(k))

    def list_paged():
        pages = sdk().list(4)
        _paged(pages, 4)
        _same("keys, 4 a page", expected(), _flat(pages))

    def list_delimiter():
        pages = sdk().list(3, delimiter="/")
        _paged(pages, 3)
        _same("keys and common prefixes, delimiter /", expected(delimiter="/"), _flat(pages))

    def list_prefix_start_after():
        _same("prefix dir/, delimiter /", expected("dir/", "/"), _flat(sdk().list(2, prefix="dir/", delimiter="/")))
        _same("prefix dir/sub/", expected("dir/sub/"), _flat(sdk().list(1, prefix="dir/sub/")))
        for after in ["dir/", "hash#frag", "zzz", " "]:
            _same(f"start-after {after!r}", expected(start_after=after), _flat(sdk().list(5, start_after=after)))

    def list_v1():
        pages = sdk().list_v1(4)
        _paged(pages, 4)
        _same("keys, 4 a page (ListObjects V1)", expected(), _flat(pages))
        _same("prefix dir/, delimiter / (V1)", expected("dir/", "/"), _flat(sdk().list_v1(2, prefix="dir/", delimiter="/")))

    def list_raw():
        # Names unencoded: only where XML can carry them (no control characters under dir/).
        _same("prefix dir/, no encoding-type", expected("dir/"), _flat(sdk().list(2, encoded=False, prefix="dir/")))

    def iterator():
        keys, prefixes = expected(delimiter="/")
        _same("ObjectIteratorV2, delimiter /", sorted(keys + prefixes), sdk().iterate(delimiter="/"))
        _same("ObjectIteratorV2", expected()[0], sdk().iterate())

    def wrong_secret():
        bad = adapter(state.endpoint, ACCOUNTS[name], secret="not-the-secret")
        try:
            bad.list(10)
        except Exception as e:  # noqa: BLE001 - each SDK has its own error type
            if "SignatureDoesNotMatch" not in str(e):
                raise Failed(f"refused, but not for the signature: {e}") from e
            return
        raise Failed("a wrong secret listed the bucket")

    def create_only():
        # What the import lease relies on: the first create-only write wins, the second is
        # refused as the store refuses it (OSS 409 FileAlreadyExists, S3 412), bytes unchanged.
        key = "lease/00000000000000000001.json"
        sdk().put_new(key, b"first")
        try:
            sdk().put_new(key, b"second")
        except Exception as e:  # noqa: BLE001 - each SDK has its own error type
            want = "PreconditionFailed" if adapter is Boto3 else "FileAlreadyExists"
            if want not in str(e):
                raise Failed(f"refused, but not with {want}: {e}") from e
        else:
            raise Failed("a second create-only write replaced the object")
        _same("the object after the refused write", b"first", sdk().get(key))
        sdk().delete(key)

    def delete_one_by_one():
        singles = [k for k in KEYS if k not in adapter.batch_keys] + adapter.batch_keys[:3]
        for k in singles + ["never-existed"]:
            sdk().delete(k)
        state.deleted = set(singles)
        left = [k for k in sorted(KEYS) if k not in state.deleted]
        _same("keys after single deletes", left, _flat(sdk().list(100))[0])

    def delete_batch_verbose():
        left = [k for k in adapter.batch_keys if k not in state.deleted]
        batch = left[: len(left) // 2] + ["never-existed"]
        _same("deleted keys (verbose)", batch, sdk().batch_delete(batch, quiet=False))
        state.deleted |= set(batch)

    def delete_batch_quiet():
        left = [k for k in adapter.batch_keys if k not in state.deleted]
        got = sdk().batch_delete(left, quiet=True)
        if got is not None:  # oss2 has no quiet mode
            _same("deleted keys", left, got)
        _same("keys after deleting all", ([], []), _flat(sdk().list(100)))

    steps = [
        (f"put {len(KEYS)} tricky keys, get them back", put_and_get),
        ("list all, 4 a page", list_paged),
        ("list with delimiter /, 3 a page", list_delimiter),
        ("list with prefix and start-after", list_prefix_start_after),
    ]
    if adapter is not Boto3:
        steps.append(("list without encoding-type", list_raw))
    else:
        steps.append(("list with ListObjects (V1), 4 a page", list_v1))
    if adapter is Oss2:
        steps.append(("ObjectIteratorV2", iterator))
    steps += [
        ("a second create-only write is refused", create_only),
        ("a wrong secret is refused", wrong_secret),
        ("delete one by one (missing key too)", delete_one_by_one),
        ("batch delete, verbose", delete_batch_verbose),
        ("batch delete, quiet" if adapter is not Oss2 else "batch delete the rest", delete_batch_quiet),
    ]
    return [(f"round trip vs {name}: {desc}", check) for desc, check in steps]


def _titled(adapter, state: State) -> list[tuple[str, object]]:
    return [(f"[rt-{adapter.name}-{i + 1:02d}] {desc}", check)
            for i, (desc, check) in enumerate(cases_for(adapter, state))]


def titles() -> list[str]:
    return [title for a in ADAPTERS for title, _ in _titled(a, State())]


def run(binary: str, keep) -> list[tuple[str, str | None]]:
    """(title, None when passed, else why) for each case. The steps of one SDK build on each
    other, so an SDK runs all of them when `keep` accepts any of their titles."""
    results = []
    emulator = Emulator(binary)
    try:
        for adapter in ADAPTERS:
            state = State(endpoint=emulator.endpoint)
            cases = _titled(adapter, state)
            if not any(keep(title) for title, _ in cases):
                continue
            state.client = adapter(emulator.endpoint, ACCOUNTS[adapter.name])
            failed_before = False
            for title, check in cases:
                if failed_before:
                    results.append((title, "not run: an earlier step for this SDK failed"))
                    continue
                try:
                    check()
                    results.append((title, None))
                except Failed as e:
                    results.append((title, str(e)))
                    failed_before = True
                except Exception:  # noqa: BLE001 - an SDK error is a failed case, reported
                    results.append((title, traceback.format_exc(limit=3)))
                    failed_before = True
    finally:
        emulator.close()
    return results
