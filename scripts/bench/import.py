"""Import benchmark: N objects in the OSS emulator, made Label Studio tasks two ways, side by side
in one run against one fresh Label Studio 1.23.2 (its own data directory):

- Label Studio's own S3 source storage (`s3_endpoint` = the emulator, path style, blob URLs,
  recursive), synced with `POST /api/storages/s3/<id>/sync`;
- `ls-presign import --project <id> oss://bench/images/` (release build), then the same command
  again with nothing new;
- the floor of any importer that goes through Label Studio's API: the same tasks, made
  beforehand, posted from Python to `POST /api/projects/<id>/import` in the same batches.

    bash scripts/bench/import.sh --objects 10000 --objects 100000

Reports, for each: wall time, the Label Studio process group's CPU time, the requests sent to
Label Studio's API, and for ls-presign where its time went (listing, making tasks, waiting for
Label Studio: from its summary line) and its own CPU time. Starts the emulator and Label Studio
itself and stops both on exit (also on Ctrl-C), removing its temporary directory.

Label Studio without Redis (how `label-studio start` runs) syncs inside the POST request, so the
request returns when the import is done. It lists with boto3's `bucket.objects` (ListObjects V1,
markers), which the emulator answers like ListObjectsV2.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import boto3
import requests
from botocore.config import Config as BotoConfig

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LS_VENV = os.path.join(ROOT, "target", "ls-venv")
BUCKET, REGION, PREFIX = "bench", "cn-hangzhou", "images"
LABEL_CONFIG = '<View><Image name="image" value="$image"/></View>'
BODY = b"\xff\xd8\xff\xe0" + b"bench-object" + b"\xff\xd9"  # tiny, JPEG-ish: nothing reads it
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


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
        fields = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on
        if int(fields[2]) == pgid:  # field 5: pgrp
            total += sum(int(x) for x in fields[11:15])  # fields 14-17: utime stime cutime cstime
    return total / CLK_TCK


class Stack:
    """What was started, undone in reverse order exactly once."""

    def __init__(self) -> None:
        self.undo: list = []

    def push(self, fn) -> None:
        self.undo.append(fn)

    def close(self) -> None:
        while self.undo:
            try:
                self.undo.pop()()
            except Exception as e:  # noqa: BLE001 - best effort, go on with the rest
                say(f"cleanup: {e!r}")


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group started with start_new_session; SIGKILL after 15 s."""
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


def start_emulator(stack: Stack, binary: str, ak: str, sk: str) -> str:
    config = {"buckets": [{"name": BUCKET, "region": REGION, "allow_v1": False}],
              "credentials": [{"access_key_id": ak, "access_key_secret": sk, "security_token": None}]}
    proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    stack.push(lambda: (proc.stdin.close(), stop_group(proc)))  # a closed stdin stops it
    proc.stdin.write(json.dumps(config) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        sys.exit(f"bench: the emulator exited without serving (status {proc.wait()})")
    return json.loads(line)["endpoint"]


def start_label_studio(stack: Stack, tmp: str, token: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = os.path.join(tmp, "ls-data")
    log_path = os.path.join(tmp, "ls.log")
    env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=data, LABEL_STUDIO_USERNAME="bench@example.com",
               LABEL_STUDIO_PASSWORD=secrets.token_urlsafe(12), LABEL_STUDIO_USER_TOKEN=token,
               LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true", LABEL_STUDIO_SSRF_PROTECTION_ENABLED="false",
               LABEL_STUDIO_ML_BLOCK_LOCAL_IP="false", LABEL_STUDIO_COLLECT_ANALYTICS="false",
               LABEL_STUDIO_LATEST_VERSION_CHECK="false", LABEL_STUDIO_SENTRY_DSN="",
               LABEL_STUDIO_FRONTEND_SENTRY_DSN="", LABEL_STUDIO_HOST=url)
    log = open(log_path, "wb")
    proc = subprocess.Popen([os.path.join(LS_VENV, "bin", "label-studio"), "start", "--no-browser",
                             "--internal-host", "127.0.0.1", "--port", str(port), "--data-dir", data],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    stack.push(lambda: (stop_group(proc), log.close()))
    deadline = time.monotonic() + 300  # the first start runs the migrations (~1 min)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: Label Studio exited ({proc.returncode}); see {log_path}")
        try:
            if requests.get(f"{url}/health/", timeout=2).ok:
                return url, proc
        except requests.RequestException:
            pass
        time.sleep(1)
    sys.exit("bench: Label Studio not healthy after 300 s")


def seed(endpoint: str, ak: str, sk: str, n: int, threads: int = 16) -> float:
    """PUTs objects images/000000.jpg ... through boto3 (SigV4, path style); answers seconds."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ak,
                          aws_secret_access_key=sk,
                          config=BotoConfig(s3={"addressing_style": "path"}, max_pool_connections=threads * 2,
                                            request_checksum_calculation="when_required",
                                            response_checksum_validation="when_required"))
    t0 = time.monotonic()

    def put(lo: int) -> None:
        for i in range(lo, min(lo + 500, n)):
            client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{i:06d}.jpg", Body=BODY, ContentType="image/jpeg")

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        for f in concurrent.futures.as_completed([ex.submit(put, lo) for lo in range(0, n, 500)]):
            f.result()
    return time.monotonic() - t0


class LS:
    """Label Studio's API, counting the requests sent."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.calls = url, 0
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Token {token}"

    def req(self, method: str, path: str, **kw) -> dict:
        self.calls += 1
        r = self.s.request(method, self.url + path, timeout=None, **kw)
        if not r.ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else {}

    def project(self, title: str) -> int:
        return self.req("POST", "/api/projects", json={"title": title, "label_config": LABEL_CONFIG})["id"]

    def task_count(self, project: int) -> int:
        return self.req("GET", f"/api/projects/{project}")["task_number"]


def label_studio_sync(ls: LS, ls_proc, endpoint: str, ak: str, sk: str, n: int) -> dict:
    """Label Studio's S3 storage: create it on the prefix and sync (inside the request)."""
    project = ls.project(f"bench {n}: Label Studio S3 sync")
    calls0, cpu0, t0 = ls.calls, group_cpu_seconds(ls_proc.pid), time.monotonic()
    storage = ls.req("POST", "/api/storages/s3", json={
        "project": project, "title": "bench", "bucket": BUCKET, "prefix": PREFIX, "use_blob_urls": True,
        "presign": True, "recursive_scan": True, "regex_filter": "", "s3_endpoint": endpoint,
        "aws_access_key_id": ak, "aws_secret_access_key": sk, "region_name": REGION})
    ls.req("POST", f"/api/storages/s3/{storage['id']}/sync")
    wall, cpu, calls = time.monotonic() - t0, group_cpu_seconds(ls_proc.pid) - cpu0, ls.calls - calls0
    return {"side": "Label Studio S3 storage sync", "wall_s": wall, "ls_cpu_s": cpu, "ls_requests": calls,
            "tasks": ls.task_count(project)}


def import_api_floor(ls: LS, ls_proc, n: int, batch: int) -> dict:
    """Label Studio's import API alone: tasks shaped as ls-presign makes them (a stable link of
    the same length, the original URI in meta), built beforehand, posted in batches."""
    project = ls.project(f"bench {n}: Label Studio import API alone")
    link = "http://127.0.0.1:9090/r/" + "A" * 200
    tasks = [{"data": {"image": f"{link}{i:06d}"},
              "meta": {"ls_presign": {"original_uris": [f"oss://{BUCKET}/{PREFIX}/{i:06d}.jpg"],
                                      "source": f"oss://{BUCKET}/{PREFIX}/{i:06d}.jpg"}}} for i in range(n)]
    calls0, cpu0, t0 = ls.calls, group_cpu_seconds(ls_proc.pid), time.monotonic()
    for lo in range(0, n, batch):
        ls.req("POST", f"/api/projects/{project}/import", json=tasks[lo:lo + batch])
    wall, cpu, calls = time.monotonic() - t0, group_cpu_seconds(ls_proc.pid) - cpu0, ls.calls - calls0
    return {"side": "floor: Label Studio import API alone", "wall_s": wall, "ls_cpu_s": cpu, "ls_requests": calls,
            "tasks": ls.task_count(project)}


def ls_presign_import(ls: LS, ls_proc, binary: str, env: dict, project: int | None, n: int, batch: int) -> dict:
    """`ls-presign import` of the prefix into `project` (a new one when None)."""
    project = project or ls.project(f"bench {n}: ls-presign import")
    cpu0, own0, t0 = group_cpu_seconds(ls_proc.pid), os.times(), time.monotonic()
    p = subprocess.run([binary, "import", "--project", str(project), "--batch", str(batch), f"oss://{BUCKET}/{PREFIX}/"],
                       env=env, capture_output=True, text=True)
    out, err = p.stdout, p.stderr
    # The child is reaped: its CPU time is in ours (the emulator and Label Studio are not yet).
    own1 = os.times()
    own = (own1.children_user - own0.children_user) + (own1.children_system - own0.children_system)
    wall, cpu = time.monotonic() - t0, group_cpu_seconds(ls_proc.pid) - cpu0
    if p.returncode != 0:
        raise RuntimeError(f"ls-presign import failed ({p.returncode}): {out}\n{err[-2000:]}")
    line = out.strip().splitlines()[0]
    nums = {k: float(v) for v, k in re.findall(r"([\d.]+) s (listing|making tasks|in Label Studio)", line)}
    return {"side": "ls-presign import", "project": project, "wall_s": wall, "ls_cpu_s": cpu,
            "ls_requests": int(re.search(r"(\d+) Label Studio requests", line).group(1)),
            "imported": int(re.search(r"(\d+) imported", line).group(1)),
            "listing_s": nums.get("listing"), "tasks_s": nums.get("making tasks"),
            "in_ls_s": nums.get("in Label Studio"), "own_cpu_s": own,
            "tasks": ls.task_count(project), "summary": line}


def bench(n: int, binaries: dict, tmp: str, batch: int) -> list[dict]:
    stack = Stack()
    try:
        ak, sk = "AKIDBENCH" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24)
        endpoint = start_emulator(stack, binaries["emulator"], ak, sk)
        say(f"{n} objects: seeding the emulator at {endpoint}")
        seeded = seed(endpoint, ak, sk, n)
        say(f"seeded in {seeded:.1f} s; starting Label Studio")
        token = secrets.token_hex(20)
        ls_url, ls_proc = start_label_studio(stack, tempfile.mkdtemp(dir=tmp), token)
        ls = LS(ls_url, token)
        say("Label Studio's own sync")
        rows = [label_studio_sync(ls, ls_proc, endpoint, ak, sk, n)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "S3_", "LS_PRESIGN_", "LABEL_STUDIO_"))}
        env.update(OSS_BUCKET=BUCKET, OSS_REGION=REGION, OSS_ENDPOINT=endpoint, OSS_ADDRESSING_STYLE="path",
                   OSS_ACCESS_KEY_ID=ak, OSS_ACCESS_KEY_SECRET=sk, LS_PRESIGN_SECRET=secrets.token_hex(20),
                   LS_PRESIGN_PUBLIC_URL="http://127.0.0.1:9090", LABEL_STUDIO_URL=ls_url,
                   LABEL_STUDIO_API_KEY=token, LS_PRESIGN_STATE_DIR=tempfile.mkdtemp(dir=tmp), RUST_LOG="warn")
        say("ls-presign import")
        first = ls_presign_import(ls, ls_proc, binaries["ls-presign"], env, None, n, batch)
        say("ls-presign import again, nothing new")
        again = ls_presign_import(ls, ls_proc, binaries["ls-presign"], env, first["project"], n, batch)
        again["side"] = "ls-presign import, re-run (nothing new)"
        say("the floor: Label Studio's import API alone")
        rows += [first, again, import_api_floor(ls, ls_proc, n, batch)]
        for r in rows:
            r.update(objects=n, seeded_s=seeded, batch=batch)
        return rows
    finally:
        stack.close()


def print_table(rows: list[dict]) -> None:
    print(f"Tasks per import request: {rows[0]['batch'] if rows else '-'}")
    print("| objects | side | wall | tasks | Label Studio CPU | LS API requests | listing / making tasks / in LS | ls-presign CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        split = "—" if r.get("listing_s") is None else f"{r['listing_s']:.1f} / {r['tasks_s']:.1f} / {r['in_ls_s']:.1f} s"
        own = "—" if r.get("own_cpu_s") is None else f"{r['own_cpu_s']:.2f} s"
        print(f"| {r['objects']:,} | {r['side']} | {r['wall_s']:.1f} s | {r['tasks']:,} | {r['ls_cpu_s']:.1f} s "
              f"| {r['ls_requests']} | {split} | {own} |", flush=True)
    for r in rows:
        if r["side"] == "ls-presign import":
            sync = next(x for x in rows if x["objects"] == r["objects"] and x["side"].startswith("Label Studio"))
            floor = next(x for x in rows if x["objects"] == r["objects"] and x["side"].startswith("floor"))
            print(f"{r['objects']:,} objects: ls-presign import is {sync['wall_s'] / r['wall_s']:.1f}x faster "
                  f"than Label Studio's sync; {r['in_ls_s'] / r['wall_s'] * 100:.0f}% of its time waits for Label Studio; "
                  f"Label Studio's import API alone takes {floor['wall_s']:.1f} s, so no importer through it can be more "
                  f"than {sync['wall_s'] / floor['wall_s']:.1f}x faster than the sync")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, action="append", help="objects to import (repeat for several runs)")
    p.add_argument("--ls-presign", required=True, help="the ls-presign binary (a release build)")
    p.add_argument("--emulator", required=True, help="the emulator's `serve` example binary")
    p.add_argument("--batch", type=int, default=1000, help="tasks per import request (default 1000)")
    p.add_argument("--json", action="store_true", help="also print every row as a JSON line")
    args = p.parse_args()
    if not os.access(os.path.join(LS_VENV, "bin", "label-studio"), os.X_OK):
        sys.exit(f"bench: no Label Studio venv at {LS_VENV} (bash tests/e2e/run --install-only makes it)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="ls-presign-bench.")
    rows = []
    try:
        for n in args.objects or [10_000]:
            rows += bench(n, {"ls-presign": args.ls_presign, "emulator": args.emulator}, tmp, args.batch)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows)
    if args.json:
        for r in rows:
            print(json.dumps(r))
    bad = [r for r in rows if r["side"] != "ls-presign import, re-run (nothing new)" and r["tasks"] != r["objects"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
