"""serve heals by itself after a kill -9, end to end with the real Label Studio.

2,000 tasks with raw `oss://` references are imported into a project whose TASKS_CREATED
webhook reaches `ls-presign serve`; while it is writing them back it is killed with SIGKILL
(its in-memory queue is lost). Restarted with the same settings and no operator action, its
reconcile loop finds the tasks still raw (Data Manager filter) and rewrites every one within
one interval; nothing else in Label Studio changes. Run by tests/e2e/run.
"""

import json
import os
import secrets
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from harness import ARTIFACTS, Demo, check, free_port, run_checks, start_serve  # noqa: E402

TASKS = 2000
INTERVAL = 300  # LS_PRESIGN_RECONCILE_INTERVAL: the default


def all_tasks(ls, project):
    """Every task of the project: id -> task (one page)."""
    body = ls.request("GET", "/api/tasks/", params={"project": project, "page_size": TASKS + 100,
                                                    "fields": "all"}).json()
    return {t["id"]: t for t in body["tasks"]}


def raw_count(ls, project):
    """How many tasks of the project still hold `oss://` (one cheap Data Manager count: the
    tests must not load Label Studio, which does the write-back's work)."""
    query = json.dumps({"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:data", "operator": "contains", "type": "String", "value": "oss://"}]}})
    body = ls.request("GET", "/api/tasks/", params={"project": project, "page_size": 1, "include": "id",
                                                    "query": query}).json()
    return body["total"]


def is_link(task, base):
    return task["data"]["image"].startswith(base + "/r/")


def checks(ls):
    demo = Demo(log_name="ls-presign-reconcile-demo.log")  # the emulator, and the env for it
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = Path(os.environ["E2E_TMP"]) / "reconcile-state"
    env = {**demo.cli_env, "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": os.environ["E2E_LS_TOKEN"],
           "LS_PRESIGN_PUBLIC_URL": base, "LS_PRESIGN_STATE_DIR": str(state),
           "LS_PRESIGN_RECONCILE_INTERVAL": str(INTERVAL)}
    serve = start_serve(env, port, "ls-presign-reconcile-1.log")
    try:
        project = ls.create_project("ls-presign e2e: reconcile after kill -9")["id"]
        other = ls.create_project("ls-presign e2e: reconcile, untouched")["id"]
        ls.import_tasks(other, [{"image": "oss://demo/untouched.jpg"}])
        ls.create_webhook(project, f"{base}/webhook", actions=["TASKS_CREATED"],
                          headers={"Authorization": f"Bearer {demo.token}"})
        tasks = [{"image": f"oss://demo/kill-9/{i:04d} {secrets.token_hex(2)}.jpg", "n": i, "note": "keep me"}
                 for i in range(TASKS)]
        ls.import_tasks(project, tasks)

        # Let the write-back get going, then kill it mid-way.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and raw_count(ls, project) > TASKS - 100:
            time.sleep(0.5)
        serve.kill()
        serve.wait()
        time.sleep(1)  # a PATCH that reached Label Studio before the kill finishes there
        before = all_tasks(ls, project)
        raw = [t for t in before.values() if not is_link(t, base)]
        check("serve killed with SIGKILL mid-way through writing back the import",
              len(before) == TASKS and 0 < len(raw) < TASKS,
              f"{TASKS - len(raw)} written back, {len(raw)} still raw when killed")

        t0 = time.monotonic()
        serve = start_serve(env, port, "ls-presign-reconcile-2.log")
        while time.monotonic() - t0 < INTERVAL and raw_count(ls, project) > 0:
            time.sleep(2)
        healed = time.monotonic() - t0
        after = all_tasks(ls, project)
        left = [t["id"] for t in after.values() if not is_link(t, base)]
        check(f"restarted, every task is rewritten within one interval ({INTERVAL} s), with no operator action",
              len(after) == TASKS and not left, f"{healed:.1f} s after the restart; still raw: {left[:5]}")

        changed = []
        for tid, old in before.items():
            new = after.get(tid, {})
            data_same = {k: v for k, v in old["data"].items() if k != "image"} == \
                        {k: v for k, v in new.get("data", {}).items() if k != "image"}
            meta = dict(new.get("meta") or {})
            original = (meta.pop("ls_presign", None) or {}).get("original_uris")
            image_ok = (new.get("data", {}).get("image") == old["data"]["image"] if is_link(old, base)
                        else original == [old["data"]["image"]])
            untouched = (new.get("total_annotations"), new.get("total_predictions")) == (0, 0)
            if not (data_same and image_ok and untouched and meta == {k: v for k, v in (old.get("meta") or {}).items()
                                                                  if k != "ls_presign"}):
                changed.append(tid)
        others = all_tasks(ls, other)
        check("nothing else changed: other fields, annotations, links already written, other projects",
              not changed and [t["data"]["image"] for t in others.values()] == ["oss://demo/untouched.jpg"],
              f"{len(changed)} tasks differ otherwise: {changed[:5]}")

        line = ""
        for _ in range(50):  # the run logs once its last page is done
            log = (ARTIFACTS / "ls-presign-reconcile-2.log").read_text()
            line = next((ln for ln in log.splitlines() if "still held raw references" in ln), "")
            if line:
                break
            time.sleep(0.2)
        check("the restarted service logs the missed webhook it healed",
              f"reconcile: project {project}: {len(raw)} tasks still held raw references" in line, line[-300:])
        metrics = requests.get(f"{base}/metrics", timeout=10).text
        found = f'lspresign_reconcile_tasks_total{{project="{project}",outcome="rewritten"}} {len(raw)}'
        check("and counts it in /metrics", found in metrics,
              [ln for ln in metrics.splitlines() if ln.startswith("lspresign_reconcile_tasks_total")])
    finally:
        serve.terminate()
        demo.stop()


if __name__ == "__main__":
    sys.exit(run_checks(checks))
