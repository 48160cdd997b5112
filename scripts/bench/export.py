"""Export benchmark: annotations back to the bucket, both ways, against one fresh Label Studio
1.23.2 and the OSS emulator.

- bulk: a project of N tasks with one annotation each (imported with their annotations), then
  `ls-presign export --project <id> oss://bench/annotations/` (release build), and the same
  command again with nothing changed;
- live: `ls-presign serve` with that folder as the project's export target, sent a burst of B
  `ANNOTATION_CREATED` webhooks (the captured 1.23.2 shape), C at a time, as Label Studio would;
  then every object is looked for in the bucket (none may be missing);
- reads: how long Label Studio takes to give those N annotated tasks, two ways, alternated over
  two rounds: the Data Manager's task list with `fields=all` in pages of 100 (what `export` did
  first), and pages of 100 task ids followed by Label Studio's JSON export of those ids (what it
  does now).

    bash scripts/bench/export.sh --annotations 10000 --burst 1000

Reports wall time, objects per second, Label Studio requests, and for the burst how long the
webhooks took to be answered and the objects to be in the bucket. Reuses import.py's helpers
(the emulator, Label Studio, cleanup); stops everything it started.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import importlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import boto3
import requests
from botocore.config import Config as BotoConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
common = importlib.import_module("import")  # scripts/bench/import.py: its helpers

ROOT = common.ROOT
BUCKET, REGION = common.BUCKET, common.REGION
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="c" toName="image">'
          '<Choice value="a"/><Choice value="b"/></Choices></View>')
RESULT = [{"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": ["a"]}}]
WEBHOOK = os.path.join(ROOT, "tests", "fixtures", "ls-1.23.2", "webhook_ANNOTATION_CREATED.json")


def count_objects(endpoint: str, ak: str, sk: str, prefix: str) -> int:
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ak,
                          aws_secret_access_key=sk, config=BotoConfig(s3={"addressing_style": "path"}))
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sum(len(p.get("Contents", [])) for p in pages)


def dm_query(after: int) -> str:
    items = [{"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0},
             {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": after}]
    return json.dumps({"filters": {"conjunction": "and", "items": items}, "ordering": ["tasks:id"]})


def read_full_pages(ls, project: int, size: int = 100) -> tuple[int, int]:
    """The annotated tasks from the Data Manager with every field: (tasks, requests)."""
    after, n, requests_ = 0, 0, 0
    while True:
        tasks = ls.req("GET", "/api/tasks/", params={"project": project, "page": 1, "page_size": size,
                                                     "fields": "all", "query": dm_query(after)})["tasks"]
        n, requests_ = n + len(tasks), requests_ + 1
        if len(tasks) < size:
            return n, requests_
        after = tasks[-1]["id"]


def read_ids_then_export(ls, project: int, size: int = 100) -> tuple[int, int]:
    """Their ids from the Data Manager, then those tasks from the export: (tasks, requests)."""
    after, n, requests_ = 0, 0, 0
    while True:
        ids = [t["id"] for t in ls.req("GET", "/api/tasks/", params={
            "project": project, "page": 1, "page_size": size, "include": "id", "query": dm_query(after)})["tasks"]]
        tasks = ls.req("GET", f"/api/projects/{project}/export", params=[
            ("exportType", "JSON"), ("download_all_tasks", "true")] + [("ids[]", i) for i in ids]) if ids else []
        n, requests_ = n + len(tasks), requests_ + 1 + bool(ids)
        if len(ids) < size:
            return n, requests_
        after = ids[-1]


def reads(ls, project: int, n: int) -> list[dict]:
    rows = []
    for rnd in (1, 2):
        for side, read in (("Data Manager, fields=all, pages of 100", read_full_pages),
                           ("ids (pages of 100), then the export of those ids", read_ids_then_export)):
            t0 = time.monotonic()
            got, requests_ = read(ls, project)
            rows.append({"side": side, "round": rnd, "tasks": got, "wall_s": time.monotonic() - t0,
                         "requests": requests_})
            if got != n:
                raise RuntimeError(f"{side}: {got} tasks, not {n}")
    return rows


def bulk(ls, binary: str, env: dict, n: int) -> tuple[int, list[dict]]:
    project = ls.req("POST", "/api/projects", json={"title": f"export bench {n}", "label_config": CONFIG})["id"]
    t0 = time.monotonic()
    for lo in range(0, n, 1000):
        ls.req("POST", f"/api/projects/{project}/import", json=[
            {"data": {"image": f"oss://{BUCKET}/images/{i:06d}.jpg"}, "annotations": [{"result": RESULT}]}
            for i in range(lo, min(lo + 1000, n))])
    common.say(f"{n} annotated tasks made in {time.monotonic() - t0:.1f} s")
    rows = []
    for side in ("ls-presign export", "ls-presign export, again (nothing changed)"):
        t0 = time.monotonic()
        p = subprocess.run([binary, "export", "--project", str(project), f"oss://{BUCKET}/annotations/"],
                           env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"export failed ({p.returncode}): {p.stdout}\n{p.stderr[-2000:]}")
        line = p.stdout.strip().splitlines()[-1]
        written = int(re.search(r"(\d+) written", line).group(1))
        rows.append({"side": side, "annotations": n, "wall_s": wall, "written": written,
                     "objects_per_s": n / wall, "ls_requests": int(re.search(r"(\d+) Label Studio requests", line).group(1)),
                     "summary": line})
    return project, rows


def burst(binary: str, env: dict, endpoint: str, ak: str, sk: str, b: int, concurrency: int, tmp: str) -> dict:
    port = common.free_port()
    secret = env["LS_PRESIGN_SECRET"]
    serve_env = dict(env, HOST="127.0.0.1", PORT=str(port), LS_PRESIGN_EXPORT_PROJECT="1",
                     LS_PRESIGN_EXPORT_URI=f"oss://{BUCKET}/burst/", LS_PRESIGN_RECONCILE_INTERVAL="0")
    log = open(os.path.join(tmp, "serve.log"), "w")
    proc = subprocess.Popen([binary, "serve"], env=serve_env, stdout=log, stderr=log, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        token = subprocess.run([binary, "token", "--scope", "webhook", "--ttl", "1h"], env=dict(env, LS_PRESIGN_SECRET=secret),
                               capture_output=True, text=True, check=True).stdout.strip()
        template = json.load(open(WEBHOOK))["received"]["body"]
        events = []
        for i in range(b):
            e = copy.deepcopy(template)
            e["annotation"]["id"] = 100000 + i
            e["annotation"]["task"] = e["task"]["id"] = 200000 + i
            e["task"]["data"] = {"image": f"oss://{BUCKET}/images/{i:06d}.jpg"}
            events.append(e)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"

        def send(e):
            r = session.post(base + "/webhook", json=e, timeout=30)
            return r.status_code, time.monotonic()

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
            answers = list(ex.map(send, events))
        answered = max(t for _, t in answers) - t0
        statuses = {s for s, _ in answers}
        written = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            written = count_objects(endpoint, ak, sk, "burst/")
            if written >= b:
                break
            time.sleep(0.2)
        stored = time.monotonic() - t0
        metrics = requests.get(base + "/metrics", timeout=10).text
        failed = re.search(r'lspresign_export_objects_total\{outcome="failed"\} (\d+)', metrics).group(1)
        return {"side": f"live: {b} ANNOTATION_CREATED webhooks, {concurrency} at a time", "annotations": b,
                "answered_s": answered, "wall_s": stored, "written": written, "objects_per_s": written / stored,
                "statuses": sorted(statuses), "failed": int(failed), "lost": b - written}
    finally:
        common.stop_group(proc)
        log.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--annotations", type=int, default=10000)
    p.add_argument("--burst", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=16, help="webhooks in flight at once in the burst")
    p.add_argument("--ls-presign", required=True)
    p.add_argument("--emulator", required=True)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="ls-presign-export-bench.")
    stack = common.Stack()
    try:
        ak, sk = "AKIDBENCH" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24)
        endpoint = common.start_emulator(stack, args.emulator, ak, sk)
        token = secrets.token_hex(20)
        ls_url, _ = common.start_label_studio(stack, tempfile.mkdtemp(dir=tmp), token)
        ls = common.LS(ls_url, token)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "S3_", "LS_PRESIGN_", "LABEL_STUDIO_"))}
        env.update(OSS_BUCKET=BUCKET, OSS_REGION=REGION, OSS_ENDPOINT=endpoint, OSS_ADDRESSING_STYLE="path",
                   OSS_ACCESS_KEY_ID=ak, OSS_ACCESS_KEY_SECRET=sk, LS_PRESIGN_SECRET=secrets.token_hex(20),
                   LABEL_STUDIO_URL=ls_url, LABEL_STUDIO_API_KEY=token, RUST_LOG="warn",
                   LS_PRESIGN_STATE_DIR=tempfile.mkdtemp(dir=tmp))
        project, rows = bulk(ls, args.ls_presign, env, args.annotations)
        common.say(f"burst of {args.burst} webhooks")
        rows.append(burst(args.ls_presign, env, endpoint, ak, sk, args.burst, args.concurrency, tmp))
        common.say("reading the annotated tasks from Label Studio, two ways")
        read_rows = reads(ls, project, args.annotations)
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("| side | annotations | wall | objects/s | written | Label Studio requests / webhooks answered |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        extra = (f"{r['ls_requests']} requests" if "ls_requests" in r else
                 f"all answered in {r['answered_s']:.2f} s ({r['statuses']}); {r['failed']} failed, {r['lost']} lost")
        print(f"| {r['side']} | {r['annotations']:,} | {r['wall_s']:.1f} s | {r['objects_per_s']:,.0f} | {r['written']:,} | {extra} |")
    for r in rows:
        if "summary" in r:
            print(r["summary"])
    print()
    print(f"| Label Studio gives the {args.annotations:,} annotated tasks | round | wall | tasks/s | requests |")
    print("|---|---|---|---|---|")
    for r in read_rows:
        print(f"| {r['side']} | {r['round']} | {r['wall_s']:.1f} s | {r['tasks'] / r['wall_s']:,.0f} | {r['requests']} |")
    return 0 if rows[-1]["lost"] == 0 and rows[0]["written"] == args.annotations and rows[1]["written"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
