#!/usr/bin/env python3
"""Download the images of a Label Studio project straight from object storage, through ls-presign.

    pip install -r examples/requirements.txt
    export LS_PRESIGN_TOKEN=$(ls-presign token --scope resolve --ttl 30d --sub annotation-script)
    python examples/annotate.py http://127.0.0.1:9090 3 --out images/

Pages through `GET /v1/projects/{id}/tasks?page=N&page_size=M` of ls-presign (docs/API.md), which
reads the tasks from Label Studio and replaces every storage reference in them — raw
`oss://`/`s3://` URIs and ls-presign's own stable links alike — by a direct presigned URL. Each
task's image (the data field `--field`, default `image`) is then downloaded from the store,
without ls-presign or Label Studio in the path, into `--out` as `<task id>-<object name>`. This
is where an annotation or training script would do its work on the bytes.

Prints one line per task and a summary; exit code 0 when every task with an image was
downloaded, 1 otherwise. The token needs scope `resolve` (or `admin`); it is sent to ls-presign
only, never to the store (the presigned URL is the credential there).
"""

import argparse
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests


def pages(base, token, project, page_size, timeout):
    """Yields (page number, body) for each page of the project's tasks, until all `total` are seen."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    page, seen = 1, 0
    while True:
        r = http.get(f"{base}/v1/projects/{project}/tasks", params={"page": page, "page_size": page_size},
                     timeout=timeout)
        if not r.ok:
            try:
                err = r.json()["error"]
                detail = f"{err['code']}: {err['message']}"
            except (ValueError, KeyError, TypeError):
                detail = r.text[:300]
            raise SystemExit(f"ls-presign answered {r.status_code} for page {page}: {detail}")
        body = r.json()
        if r.headers.get("LS-Presign-Errors"):
            print(f"warning: page {page}: references not resolved: {r.headers['LS-Presign-Errors']}",
                  file=sys.stderr)
        tasks = body.get("tasks") or []
        if not tasks:
            return
        yield page, body
        seen += len(tasks)
        if seen >= body.get("total", 0):
            return
        page += 1


def file_name(task_id, url):
    """`<task id>-<last path segment of the object key>`, safe as a file name."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "object"
    name = re.sub(r'[\x00-\x1f/\\:*?"<>|]', "_", name).strip(" .") or "object"
    return f"{task_id}-{name}"


def download(url, dest, timeout):
    """Streams `url` to `dest`; returns the byte count. No Authorization header goes to the store."""
    with requests.get(url, stream=True, timeout=timeout) as r:
        if r.status_code != 200:
            raise RuntimeError(f"the store answered {r.status_code}: {r.text[:200]}")
        tmp = dest.with_name(dest.name + ".part")
        n = 0
        with open(tmp, "wb") as f:
            for chunk in r.iter_content(1 << 16):
                f.write(chunk)
                n += len(chunk)
        tmp.replace(dest)
        return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", help="ls-presign base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("project", type=int, help="Label Studio project id")
    p.add_argument("--token", default=os.environ.get("LS_PRESIGN_TOKEN"),
                   help="resolve-scope token from `ls-presign token --scope resolve` (default $LS_PRESIGN_TOKEN)")
    p.add_argument("--out", default="downloads", help="directory for the files (created; default ./downloads)")
    p.add_argument("--field", default="image", help="task data field holding the image (default image)")
    p.add_argument("--page-size", type=int, default=100, help="tasks per page, 1-1000 (default 100)")
    p.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4)")
    p.add_argument("--timeout", type=float, default=60, help="per-request timeout, seconds (default 60)")
    args = p.parse_args(argv)
    if not args.token:
        p.error("--token is required (or $LS_PRESIGN_TOKEN)")
    base = args.base.rstrip("/")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tasks = downloaded = skipped = failed = total_bytes = 0
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for page, body in pages(base, args.token, args.project, args.page_size, args.timeout):
            jobs = []
            for task in body["tasks"]:
                tasks += 1
                url = (task.get("data") or {}).get(args.field)
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    # No such field, or a reference ls-presign does not serve (another bucket).
                    skipped += 1
                    print(f"task {task.get('id')}: skipped, {args.field!r} is {str(url)[:80]!r}")
                    continue
                dest = out / file_name(task["id"], url)
                jobs.append((task["id"], dest, pool.submit(download, url, dest, args.timeout)))
            # Download a page before fetching the next: its URLs are as fresh as can be.
            for task_id, dest, job in jobs:
                try:
                    n = job.result()
                except Exception as e:  # noqa: BLE001 - reported per task, the rest go on
                    failed += 1
                    print(f"task {task_id}: FAILED: {e}")
                    continue
                downloaded += 1
                total_bytes += n
                print(f"task {task_id}: {dest} ({n} bytes)")
    print(f"project {args.project}: {tasks} tasks, {downloaded} downloaded ({total_bytes} bytes) "
          f"to {out}, {skipped} skipped, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
