"""Write-back of raw `oss://` references into Label Studio, end to end.

1. Missed webhook, then `ls-presign sync`: project B is imported while its webhook points at a
   closed port (ls-presign down); `sync --dry-run`, `sync`, `sync` again fix it.
2. Webhook write-back: project A's TASKS_CREATED webhook reaches `ls-presign demo`, which
   PATCHes every task: references in plain, nested, list and HTML fields become stable links.
3. A written-back task is painted in LS's labeling UI (Chromium).
4. The service connects as A's ML backend, and opening a task (LS calls /predict) still works.

Every link is followed (303 -> emulator 200) and must give the bytes of its object's file in
assets/demo/. Run by tests/e2e/run, which starts LS and sets E2E_LS_*.
"""

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import (BIN, Demo, asset_bytes, check, check_painted, clean_env, follow_link,  # noqa: E402
                     free_port, route_count, run_checks)

BIRD = "oss://demo/images/鸟 bird (1).png"
# Imported while nobody listens: nothing rewrites them until `sync`.
B_TASKS = [
    {"image": "oss://demo/images/cat.png"},
    {"image": "oss://demo/images/dog.jpg", "caption": '<img src="oss://demo/images/cat.png">'},
    {"image": BIRD},
    {"image": "oss://other/x.jpg"},  # another bucket: nothing to do
]
# Imported with the webhook on: references in every shape ls-presign rewrites.
A_TASKS = [
    {"image": "oss://demo/images/cat.png", "caption": "a plain caption, no reference"},
    {"image": "oss://demo/images/dog.jpg", "source": {"camera": {"uri": BIRD, "id": 7}, "tags": ["x"]}},
    {"image": BIRD, "gallery": ["oss://demo/images/cat.png", "oss://demo/images/dog.jpg"]},
    {"image": "oss://demo/images/cat.png",
     "html": '<p>Dog: <img src="oss://demo/images/dog.jpg"> again: <img src="oss://demo/images/dog.jpg"></p>'},
    {"image": "oss://demo/images/dog.jpg", "other": "oss://other/x.jpg", "text": "just text"},
]
SECRET = secrets.token_hex(24)


def refs(s):
    """The references to the demo bucket in one string: the whole string, or quoted in HTML."""
    return [s] if s.startswith("oss://demo/") else re.findall(r'"(oss://demo/[^"]+)"', s)


def strings(orig, new, path="data"):
    """(path, original string, rewritten value) for each string of `orig`; the rest of `new`
    must be as in `orig` (same keys, lengths, numbers)."""
    if isinstance(orig, dict) and isinstance(new, dict) and orig.keys() == new.keys():
        for k in orig:
            yield from strings(orig[k], new[k], f"{path}.{k}")
    elif isinstance(orig, list) and isinstance(new, list) and len(orig) == len(new):
        for i, (o, n) in enumerate(zip(orig, new)):
            yield from strings(o, n, f"{path}[{i}]")
    elif isinstance(orig, str):
        yield path, orig, new
    elif orig != new:
        yield path, json.dumps(orig), new  # reported as changed below


def compare(orig, new, base):
    """Problems with `new` as the rewrite of `orig`: each demo reference must have become a link
    of `base` leading to its object's bytes, everything else unchanged. -> (problems, links)"""
    link_re = re.compile(re.escape(base) + r"/r/[A-Za-z0-9_.~-]+")
    problems, followed = [], 0
    for path, o, n in strings(orig, new):
        uris = refs(o)
        links = link_re.findall(n) if isinstance(n, str) else []
        back = iter(uris)
        if len(links) != len(uris) or link_re.sub(lambda _: next(back), n) != o:
            problems.append(f"{path}: {o!r} became {n!r}")
            continue
        for uri, link in zip(uris, links):
            obj, why = follow_link(link)
            if obj is None or obj.content != asset_bytes(uri.removeprefix("oss://demo/")):
                problems.append(f"{path}: {uri} -> {link}: {why or f'{len(obj.content)} wrong bytes'}")
            followed += 1
    return problems, followed


def all_refs(data):
    return {u for _, s, _ in strings(data, data) for u in refs(s)}


def check_written_back(name, orig, task, base):
    data, meta = task["data"], task.get("meta") or {}
    raw = "oss://demo/" in json.dumps(data, ensure_ascii=False)
    check(f"{name}: no raw oss://demo/ left in LS", not raw, "" if not raw else json.dumps(data)[:300])
    original = (meta.get("ls_presign") or {}).get("original_uris")
    check(f"{name}: meta.ls_presign.original_uris lists the originals",
          isinstance(original, list) and set(original) == all_refs(orig), json.dumps(original, ensure_ascii=False))
    problems, followed = compare(orig, data, base)
    check(f"{name}: each reference is a link -> 303 -> 200 with its file's bytes, the rest unchanged",
          not problems, "; ".join(problems)[:1500] or f"{followed} links followed")


def check_sync(ls, project, args, expected, demo):
    """Runs `ls-presign sync` as an operator would, configured by environment only, and checks
    its exit code and summary line."""
    env = clean_env(OSS_BUCKET="demo", OSS_REGION="cn-hangzhou", OSS_ACCESS_KEY_ID="unused",
                    OSS_ACCESS_KEY_SECRET="unused", LS_PRESIGN_SECRET=SECRET, LS_PRESIGN_PUBLIC_URL=demo.base,
                    LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=os.environ["E2E_LS_TOKEN"])
    p = subprocess.run([BIN, "sync", "--project", str(project), *args], env=env,
                       capture_output=True, text=True, timeout=120)
    lines = p.stdout.strip().splitlines()
    line = lines[-1] if lines else p.stderr.strip()[-500:]
    cmd = " ".join(["ls-presign sync --project", str(project), *args])
    check(f"`{cmd}` prints {expected!r}", p.returncode == 0 and line == expected, f"exit {p.returncode}: {line}")


def checks(ls):
    # -- 1. missed webhook: B is imported while ls-presign is down -------------------------
    b = ls.create_project("ls-presign e2e: missed webhook, then sync")["id"]
    port = free_port()  # closed again: nobody listens there
    ls.create_webhook(b, f"http://127.0.0.1:{port}/webhook", actions=["TASKS_CREATED"],
                      headers={"Authorization": "Bearer not-checked"})
    imported = ls.import_tasks(b, [{"data": d} for d in B_TASKS])
    check(f"project {b}: LS imports {len(B_TASKS)} tasks although its webhook is unreachable",
          imported.get("task_count") == len(B_TASKS), json.dumps(imported)[:200])
    datas = [t["data"] for t in ls.list_tasks(b)]
    check(f"project {b}: LS holds the raw oss:// references", datas == B_TASKS, json.dumps(datas)[:300])

    demo = Demo(env={"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": os.environ["E2E_LS_TOKEN"],
                     "LS_PRESIGN_SECRET": SECRET}, log_name="ls-presign-demo-writeback.log")
    n = len(B_TASKS)
    check_sync(ls, b, ["--dry-run"], f"project {b} (dry run): {n} scanned, {n - 1} to rewrite, "
               "1 already done, 0 gone, 0 failed", demo)
    datas = [t["data"] for t in ls.list_tasks(b)]
    check(f"project {b}: the dry run changed nothing", datas == B_TASKS, json.dumps(datas)[:300])
    check_sync(ls, b, [], f"project {b}: {n} scanned, {n - 1} rewritten, 1 already done, 0 gone, 0 failed", demo)
    synced = ls.list_tasks(b)
    check_sync(ls, b, [], f"project {b}: {n} scanned, 0 rewritten, {n} already done, 0 gone, 0 failed", demo)
    check(f"project {b}: the second sync changed nothing", ls.list_tasks(b) == synced)
    for orig, task in zip(B_TASKS, synced):
        if orig["image"].startswith("oss://demo/"):
            check_written_back(f"task {task['id']} (synced)", orig, task, demo.base)
        else:
            ok = task["data"] == orig and "ls_presign" not in (task.get("meta") or {})
            check(f"task {task['id']} (other bucket only): left as it was, no meta", ok,
                  "" if ok else json.dumps(task)[:500])

    # -- 2. webhook write-back into A ------------------------------------------------------
    a = ls.create_project("ls-presign e2e: webhook write-back")["id"]
    ls.create_webhook(a, f"{demo.base}/webhook", actions=["TASKS_CREATED"],
                      headers={"Authorization": f"Bearer {demo.token}"})
    imported = ls.import_tasks(a, [{"data": d} for d in A_TASKS])
    check(f"project {a}: LS imports {len(A_TASKS)} tasks with the webhook on",
          imported.get("task_count") == len(A_TASKS), json.dumps(imported)[:200])
    t0 = time.monotonic()
    while True:
        tasks = ls.list_tasks(a)
        pending = [t["id"] for t in tasks if "oss://demo/" in json.dumps(t["data"], ensure_ascii=False)]
        if not pending or time.monotonic() - t0 > 30:
            break
        time.sleep(0.5)
    check(f"project {a}: every task rewritten through the webhook", len(tasks) == len(A_TASKS) and not pending,
          f"in {time.monotonic() - t0:.1f} s" + (f"; still raw: {pending}" if pending else ""))
    for orig, task in zip(A_TASKS, tasks):
        check_written_back(f"task {task['id']} (webhook)", orig, ls.get_task(task["id"]), demo.base)
    other = ls.get_task(tasks[-1]["id"])["data"]
    check(f"task {tasks[-1]['id']}: the other bucket's reference and plain text are unchanged",
          other.get("other") == "oss://other/x.jpg" and other.get("text") == "just text", json.dumps(other))

    # -- 3. the written-back link in the labeling UI ---------------------------------------
    first = ls.get_task(tasks[0]["id"])
    check_painted(ls.url, a, first, first["data"]["image"], "images/cat.png")

    # -- 4. ML backend -----------------------------------------------------------------------
    r = ls.create_ml_backend(a, demo.base, "ls-presign")
    ml = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
    check(f"project {a}: LS connects ls-presign as its ML backend",
          r.status_code == 201 and (ml.get("state") == "CO" or ml.get("readable_state") == "Connected"),
          f"{r.status_code}: state {ml.get('state')}, readable_state {ml.get('readable_state')}"
          + ("" if r.ok else f", {r.text[:300]}"))
    before = route_count(demo.base, "/predict")
    r = ls.request("GET", f"/api/tasks/{tasks[1]['id']}/")
    called = route_count(demo.base, "/predict") - before
    check(f"task {tasks[1]['id']}: LS serves the task with the ML backend connected",
          r.status_code == 200 and r.json().get("data", {}).get("image", "").startswith(demo.base + "/r/"),
          f"{r.status_code}" + ("" if r.ok else f": {r.text[:300]}"))
    check(f"task {tasks[1]['id']}: serving it made LS call ls-presign's /predict (200)", called >= 1,
          f"{called} call(s) counted in /metrics")


if __name__ == "__main__":
    sys.exit(run_checks(checks))
