"""Import benchmark, Label Studio side: N objects in the OSS emulator (S3-compatible, path style),
imported into a fresh Label Studio by Label Studio's own S3 source-storage sync.

    bash scripts/bench/import.sh --only ls --objects 10000
    bash scripts/bench/import.sh --only ls --objects 100000 --max-sync-seconds 1500

What it does, and tears down again on exit (its processes and its temporary directory):

1. starts the emulator (`target/debug/examples/serve`, built by
   `cargo build -p oss-emulator --example serve`) with one bucket and a random credential, and
   seeds it with N small objects `images/000000.jpg` ... through boto3 (SigV4, path style);
2. starts a fresh Label Studio (`target/ls-venv`, its own data dir), creates a project with an
   `<Image name="image" value="$image"/>` config and an S3 source storage on the prefix
   (`s3_endpoint` = the emulator, `use_blob_urls`, `recursive_scan`);
3. POSTs `/api/storages/s3/<id>/sync` and measures the wall time until all N tasks exist, the CPU
   time of the Label Studio process group over the sync (utime+stime from /proc/<pid>/stat), the
   requests Label Studio sent to the storage and the log lines it wrote; prints a table row.

Label Studio without Redis (how `label-studio start` runs) syncs *inside* the POST request (no rq
worker), so the POST returns when the import is done; a side thread polls the storage's
`last_sync_count` (saved every STORAGE_IN_PROGRESS_TIMER = 5 s) for progress and for
--max-sync-seconds: past it the row gives the rate so far and an extrapolation, labelled as such.

Label Studio lists through boto3's resource collection `bucket.objects.filter()`, i.e.
ListObjects **V1** (`GET /bucket?prefix=...&marker=...`); the emulator answers only ListObjectsV2.
So Label Studio talks to the emulator through a small counting proxy in this process: every
request goes through verbatim (same Host header, so the emulator still verifies Label Studio's
SigV4 signature), except a V1 listing, which the proxy answers from a signed ListObjectsV2 of its
own when the storage refuses V1 (probed at start; "v1_shim" in the row). If the emulator learns
ListObjects V1, the shim switches itself off.

The `ls-presign import` side is `run_ls_presign_import` below: a stub, not called yet.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

import boto3
import requests
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LS_VENV = os.path.join(ROOT, "target", "ls-venv")
EMULATOR_BIN = os.path.join(ROOT, "target", "debug", "examples", "serve")
BUCKET = "bench"
REGION = "us-east-1"
PREFIX = "images"
LABEL_CONFIG = '<View><Image name="image" value="$image"/></View>'
BODY = b"\xff\xd8\xff\xe0" + b"bench-object" + b"\xff\xd9"  # tiny, JPEG-ish
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(msg: str) -> None:
    print(f"bench[{time.strftime('%H:%M:%S')}]: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_cpu_seconds(pgid: int) -> float:
    """utime+stime (+ reaped children's) of every live process in the process group `pgid`."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on
        if int(fields[2]) != pgid:  # field 5: pgrp
            continue
        total += sum(int(x) for x in fields[11:15])  # fields 14-17: utime stime cutime cstime
    return total / CLK_TCK


# ---- processes we start ------------------------------------------------------------------------

class Stack:
    """Everything started, stopped in reverse order exactly once (also on SIGTERM/SIGINT)."""

    def __init__(self) -> None:
        self.undo: list = []

    def push(self, fn) -> None:
        self.undo.append(fn)

    def close(self) -> None:
        while self.undo:
            fn = self.undo.pop()
            try:
                fn()
            except Exception as e:  # best effort: go on with the rest
                say(f"cleanup: {e!r}")


def stop_group(proc: subprocess.Popen, name: str) -> None:
    """SIGTERM the process group we created (start_new_session), SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass
    say(f"stopped {name}")


def emulator_binary(explicit: str | None) -> str:
    path = explicit or EMULATOR_BIN
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.exit(f"bench: no emulator binary at {path}; build it first: "
                 "cargo build -p oss-emulator --example serve")
    return path


def start_emulator(stack: Stack, binary: str, ak: str, sk: str) -> tuple[str, subprocess.Popen]:
    config = {"buckets": [{"name": BUCKET, "region": REGION, "allow_v1": False}],
              "credentials": [{"access_key_id": ak, "access_key_secret": sk, "security_token": None}]}
    proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    stack.push(lambda: (proc.stdin.close(), stop_group(proc, "emulator")))  # closed stdin = stop
    proc.stdin.write(json.dumps(config) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        sys.exit(f"bench: the emulator exited without serving (status {proc.wait()})")
    return json.loads(line)["endpoint"], proc


def start_moto(stack: Stack, python: str) -> tuple[str, subprocess.Popen]:
    """Stand-in storage (moto's S3 server) for when the emulator binary is not built."""
    port = free_port()
    proc = subprocess.Popen([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stack.push(lambda: stop_group(proc, "moto"))
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(endpoint, timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    return endpoint, proc


def start_label_studio(stack: Stack, tmp: str, user: str, password: str, token: str) -> tuple[str, subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = os.path.join(tmp, "ls-data")
    log_path = os.path.join(tmp, "ls.log")
    env = dict(os.environ,
               LABEL_STUDIO_BASE_DATA_DIR=data,
               LABEL_STUDIO_USERNAME=user, LABEL_STUDIO_PASSWORD=password,
               LABEL_STUDIO_USER_TOKEN=token, LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
               LABEL_STUDIO_SSRF_PROTECTION_ENABLED="false", LABEL_STUDIO_ML_BLOCK_LOCAL_IP="false",
               LABEL_STUDIO_COLLECT_ANALYTICS="false", LABEL_STUDIO_LATEST_VERSION_CHECK="false",
               LABEL_STUDIO_SENTRY_DSN="", LABEL_STUDIO_FRONTEND_SENTRY_DSN="",
               LABEL_STUDIO_HOST=url)
    log = open(log_path, "wb")
    proc = subprocess.Popen([os.path.join(LS_VENV, "bin", "label-studio"), "start", "--no-browser",
                             "--internal-host", "127.0.0.1", "--port", str(port), "--data-dir", data],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    stack.push(lambda: (stop_group(proc, "Label Studio"), log.close()))
    deadline = time.monotonic() + 300  # the first start runs the migrations (~1 min)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: Label Studio exited ({proc.returncode}); log:\n{tail(log_path)}")
        try:
            if requests.get(f"{url}/health/", timeout=2).ok:
                return url, proc, log_path
        except requests.RequestException:
            pass
        time.sleep(1)
    sys.exit(f"bench: Label Studio not healthy after 300 s; log:\n{tail(log_path)}")


def tail(path: str, n: int = 40) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


# ---- the storage side: seeding, and the counting / ListObjects-V1 proxy ------------------------

def s3_client(endpoint: str, ak: str, sk: str, pool: int = 32):
    cfg = BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                     request_checksum_calculation="when_required", response_checksum_validation="when_required",
                     max_pool_connections=pool, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ak,
                        aws_secret_access_key=sk, config=cfg)


def key_of(i: int) -> str:
    return f"{PREFIX}/{i:06d}.jpg"


def seed(client, n: int, threads: int) -> float:
    t0 = time.monotonic()

    def put(lo: int) -> None:
        for i in range(lo, min(lo + 500, n)):
            client.put_object(Bucket=BUCKET, Key=key_of(i), Body=BODY, ContentType="image/jpeg")

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        for f in concurrent.futures.as_completed([ex.submit(put, lo) for lo in range(0, n, 500)]):
            f.result()
    return time.monotonic() - t0


def count_keys(client) -> int:
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/"):
        n += page.get("KeyCount", 0)
    return n


def storage_refuses_v1(client) -> bool:
    try:
        client.list_objects(Bucket=BUCKET, Prefix=PREFIX + "/", MaxKeys=1)
        return False
    except ClientError as e:
        if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 501:
            return True
        raise


def v1_listing(client, query: dict[str, str]) -> bytes:
    """A ListObjects (V1) answer built from one signed ListObjectsV2 page (marker = start-after)."""
    prefix, marker = query.get("prefix", ""), query.get("marker", "")
    delimiter = query.get("delimiter", "")
    max_keys = min(int(query.get("max-keys", "1000")), 1000)
    url_encode = query.get("encoding-type") == "url"
    kw = {"Bucket": BUCKET, "Prefix": prefix, "MaxKeys": max_keys}
    if marker:
        kw["StartAfter"] = marker
    if delimiter:
        kw["Delimiter"] = delimiter
    page = client.list_objects_v2(**kw)  # botocore decodes the url-encoded keys
    enc = (lambda s: urllib.parse.quote(s, safe="/")) if url_encode else (lambda s: s)
    contents = page.get("Contents", [])
    prefixes = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    truncated = page.get("IsTruncated", False)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
           f"<Name>{BUCKET}</Name><Prefix>{escape(enc(prefix))}</Prefix><Marker>{escape(enc(marker))}</Marker>",
           f"<MaxKeys>{max_keys}</MaxKeys>"]
    if delimiter:
        out.append(f"<Delimiter>{escape(enc(delimiter))}</Delimiter>")
    if url_encode:
        out.append("<EncodingType>url</EncodingType>")
    out.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated:
        last = max([c["Key"] for c in contents] + prefixes)
        out.append(f"<NextMarker>{escape(enc(last))}</NextMarker>")
    for c in contents:
        out.append(f"<Contents><Key>{escape(enc(c['Key']))}</Key>"
                   f"<LastModified>{c['LastModified'].strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
                   f"<ETag>{escape(c.get('ETag', ''))}</ETag><Size>{c.get('Size', 0)}</Size>"
                   f"<StorageClass>STANDARD</StorageClass></Contents>")
    for p in prefixes:
        out.append(f"<CommonPrefixes><Prefix>{escape(enc(p))}</Prefix></CommonPrefixes>")
    out.append("</ListBucketResult>")
    return "".join(out).encode()


class Proxy:
    """Label Studio's s3_endpoint: counts each request by kind, forwards it verbatim to the storage
    (the Host header stays, so the storage verifies the client's own signature), except ListObjects
    V1 when the storage refuses it (`shim_v1`): answered from a V2 listing signed here."""

    HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}

    def __init__(self, backend: str, client, shim_v1: bool) -> None:
        self.backend = urllib.parse.urlsplit(backend)
        self.client, self.shim_v1 = client, shim_v1
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def handle_any(self) -> None:
                proxy.handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path, _, raw_query = h.path.partition("?")
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        bucket_level = path.strip("/") == BUCKET
        if h.command == "GET" and bucket_level and "list-type" not in query and "delete" not in query:
            kind = "ListObjects(V1)"
        elif h.command == "GET" and bucket_level:
            kind = "ListObjectsV2"
        else:
            kind = f"{h.command} {'bucket' if bucket_level else 'object'}"
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if kind == "ListObjects(V1)" and self.shim_v1:
            try:
                status, headers, data = 200, [("Content-Type", "application/xml")], v1_listing(self.client, query)
            except ClientError as e:
                status, headers, data = 502, [("Content-Type", "text/plain")], str(e).encode()
        else:
            conn = http.client.HTTPConnection(self.backend.hostname, self.backend.port, timeout=120)
            try:
                conn.request(h.command, h.path, body=body,
                             headers={k: v for k, v in h.headers.items() if k.lower() not in self.HOP})
                resp = conn.getresponse()
                status, data = resp.status, resp.read()
                headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in self.HOP | {"content-length"}]
            finally:
                conn.close()
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)


# ---- Label Studio API --------------------------------------------------------------------------

class LS:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Token {token}"
        self.calls = 0

    def req(self, method: str, path: str, timeout: float | None = 60, **kw) -> dict:
        self.calls += 1
        r = self.s.request(method, self.url + path, timeout=timeout, **kw)
        if not r.ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else {}


def sync_label_studio(args, ls: LS, proxy: Proxy, ls_proc: subprocess.Popen, log_path: str,
                      ak: str, sk: str) -> dict:
    project = ls.req("POST", "/api/projects", json={"title": f"bench-{args.objects}", "label_config": LABEL_CONFIG})
    storage = ls.req("POST", "/api/storages/s3", json={
        "project": project["id"], "title": "bench", "bucket": BUCKET, "prefix": PREFIX,
        "use_blob_urls": True, "presign": True, "recursive_scan": True, "regex_filter": "",
        "s3_endpoint": proxy.endpoint, "aws_access_key_id": ak, "aws_secret_access_key": sk,
        "region_name": REGION})
    sid = storage["id"]

    requests_before = proxy.snapshot()
    log_offset = os.path.getsize(log_path)
    cpu0 = group_cpu_seconds(ls_proc.pid)
    result: dict = {}

    def post_sync() -> None:  # without Redis the whole import runs inside this request
        try:
            sync_ls = LS(ls.url, ls.s.headers["Authorization"].split()[1])
            result["answer"] = sync_ls.req("POST", f"/api/storages/s3/{sid}/sync", timeout=None)
        except Exception as e:
            result["error"] = e
        result["t_end"] = time.monotonic()

    t0 = time.monotonic()
    worker = threading.Thread(target=post_sync, daemon=True)
    worker.start()
    polls, last, timed_out = 0, {}, False
    while worker.is_alive():
        worker.join(args.poll_seconds)
        if not worker.is_alive():
            break
        polls += 1
        last = ls.req("GET", f"/api/storages/s3/{sid}")
        elapsed = time.monotonic() - t0
        say(f"sync: {elapsed:6.0f} s  status={last.get('status')}  last_sync_count={last.get('last_sync_count')}")
        if args.max_sync_seconds and elapsed > args.max_sync_seconds:
            timed_out = True
            break
    wall = (result.get("t_end") or time.monotonic()) - t0
    cpu = group_cpu_seconds(ls_proc.pid) - cpu0
    if "error" in result:
        raise RuntimeError(f"sync failed: {result['error']}\n{tail(log_path)}")

    with open(log_path, "rb") as f:
        f.seek(log_offset)
        lines = f.read().decode(errors="replace").splitlines()
    requests_after = proxy.snapshot()
    s3_requests = {k: requests_after.get(k, 0) - requests_before.get(k, 0) for k in requests_after}
    s3_requests = {k: v for k, v in s3_requests.items() if v}

    info = ls.req("GET", f"/api/storages/s3/{sid}")
    tasks = ls.req("GET", f"/api/projects/{project['id']}").get("task_number")
    done = info.get("last_sync_count") or 0
    return {
        "objects": args.objects, "timed_out": timed_out, "wall_s": wall, "cpu_s": cpu,
        "status": info.get("status"), "last_sync_count": done, "tasks": tasks,
        "s3_requests": s3_requests, "log_lines": len(lines),
        "log_http_lines": sum(1 for ln in lines if "django.server" in ln),
        "status_polls": polls, "duration_ls": (info.get("meta") or {}).get("duration"),
    }


# ---- the ls-presign side -----------------------------------------------------------------------

def run_ls_presign_import(cmdline: list[str], env: dict[str, str]) -> dict:
    """STUB, not called yet: will run `ls-presign import` (`cmdline`, e.g.
    [<target/debug/ls-presign>, "import", ...]) against the same seeded emulator and a fresh Label
    Studio project, with `env` carrying OSS_* / Label Studio settings, and measure it like
    sync_label_studio (wall time, CPU of its process, requests to the storage through the proxy).
    """
    raise NotImplementedError("the ls-presign import side of the benchmark is not written yet")


# ---- main --------------------------------------------------------------------------------------

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--only", choices=["ls", "ls-presign"], help="run one side only (default: both)")
    p.add_argument("--max-sync-seconds", type=float, default=0,
                   help="stop waiting for Label Studio's sync after this long and extrapolate (0: wait)")
    p.add_argument("--poll-seconds", type=float, default=10, help="status poll interval during the sync")
    p.add_argument("--seed-threads", type=int, default=16)
    p.add_argument("--emulator", help="emulator binary (default: target/debug/examples/serve)")
    p.add_argument("--storage", choices=["emulator", "moto"], default="emulator",
                   help="moto: a stand-in S3 server (python -m moto.server), when the emulator is not built")
    p.add_argument("--moto-python", default=sys.executable, help="a Python that has moto[server]")
    p.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    args = p.parse_args()

    if args.only != "ls":
        # Not a fake result: the ls-presign side is not written yet (run_ls_presign_import).
        print("bench: the ls-presign import side is a stub (run_ls_presign_import); run with --only ls",
              file=sys.stderr)
        if args.only == "ls-presign":
            return 2
    if not os.access(os.path.join(LS_VENV, "bin", "label-studio"), os.X_OK):
        sys.exit(f"bench: no Label Studio venv at {LS_VENV} (bash tests/e2e/run --install-only makes it)")
    binary = emulator_binary(args.emulator) if args.storage == "emulator" else None

    stack = Stack()
    tmp = tempfile.mkdtemp(prefix="ls-presign-bench.")
    stack.push(lambda: shutil.rmtree(tmp, ignore_errors=True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        ak, sk = "AKIABENCH" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24)
        if binary:
            endpoint, storage_proc = start_emulator(stack, binary, ak, sk)
        else:
            endpoint, storage_proc = start_moto(stack, args.moto_python)
        client = s3_client(endpoint, ak, sk, pool=args.seed_threads * 2)
        if args.storage == "moto":
            client.create_bucket(Bucket=BUCKET)
        say(f"storage ({args.storage}) at {endpoint}; seeding {args.objects} objects")
        seed_s = seed(client, args.objects, args.seed_threads)
        listed = count_keys(client)
        say(f"seeded in {seed_s:.1f} s ({args.objects / seed_s:.0f} PUT/s); listed {listed}")
        if listed != args.objects:
            raise RuntimeError(f"the storage lists {listed} keys, not {args.objects}")
        shim = storage_refuses_v1(client)
        proxy = Proxy(endpoint, client, shim)
        proxy.start()
        stack.push(proxy.stop)

        user, password, token = "bench@example.com", secrets.token_urlsafe(12), secrets.token_hex(20)
        say("starting Label Studio (migrations take about a minute)")
        ls_url, ls_proc, log_path = start_label_studio(stack, tmp, user, password, token)
        say(f"Label Studio at {ls_url}; syncing (ListObjects V1 shim: {'on' if shim else 'off'})")
        r = sync_label_studio(args, LS(ls_url, token), proxy, ls_proc, log_path, ak, sk)
        r.update(storage=args.storage, v1_shim=shim, seed_s=seed_s,
                 storage_cpu_s=group_cpu_seconds(storage_proc.pid))
        print_row(r)
        if args.json:
            print(json.dumps(r, default=str))
        if not r["timed_out"] and r["tasks"] != args.objects:
            say(f"only {r['tasks']} of {args.objects} tasks exist after the sync")
            return 1
        return 0
    finally:
        stack.close()


def print_row(r: dict) -> None:
    n, done = r["objects"], r["last_sync_count"]
    s3_total = sum(r["s3_requests"].values())
    if r["timed_out"]:
        rate = done / r["wall_s"] if r["wall_s"] else 0
        wall = (f"STOPPED at {r['wall_s']:.0f} s with {done} tasks ({rate:.1f}/s); "
                f"EXTRAPOLATED {n / rate:.0f} s" if rate else f"STOPPED at {r['wall_s']:.0f} s, 0 tasks")
        cpu = f"{r['cpu_s']:.1f} s so far"
    else:
        wall, cpu = f"{r['wall_s']:.1f} s ({n / r['wall_s']:.0f} tasks/s)", f"{r['cpu_s']:.1f} s"
    per_task = f"{s3_total / done:.4f}" if done else "-"
    print("| side | storage | objects | tasks | status | wall | LS CPU | LS->S3 requests | per task | LS log lines |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| Label Studio S3 sync | {r['storage']}{' (V1 shim)' if r['v1_shim'] else ''} | {n} | {r['tasks']} "
          f"| {r['status']} | {wall} | {cpu} | {s3_total} {r['s3_requests']} | {per_task} "
          f"| {r['log_lines']} ({r['log_http_lines']} HTTP) |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
