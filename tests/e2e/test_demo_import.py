"""The `ls-presign demo` import, end to end through a real Label Studio.

Starts `ls-presign demo`, imports the tasks it prints (stable links) into a new LS project,
reads them back through the LS API, follows each link like a browser would (303 -> presigned
GET -> the very bytes of assets/demo/), then opens tasks in LS's labeling UI in headless
Chromium (browser_check.mjs). Run by tests/e2e/run, which starts LS and sets E2E_LS_*.
Prints one line per check; exits 1 on any failure.
"""

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import (ASSET_OF_KEY, UNICODE_KEY, Demo, asset_bytes, browser_check,  # noqa: E402
                     check, check_painted, follow_link, run_checks)


def key_of(task):
    """The demo captions each task with the oss:// URI its link stands for."""
    m = re.search(r"oss://demo/([^<]+)</code>", task["data"].get("caption", ""))
    return m.group(1) if m else None


def checks(ls):
    demo = Demo()
    base, tasks = demo.base, demo.tasks
    links = [t["data"]["image"] for t in tasks]
    check("demo prints 3 tasks with stable links",
          len(tasks) == 3 and all(link.startswith(base + "/r/") for link in links), json.dumps(links)[:300])

    project = ls.create_project("ls-presign e2e: demo import")
    imported = ls.import_tasks(project["id"], tasks)
    check("LS imports the demo tasks", imported.get("task_count") == 3, json.dumps(imported)[:200])

    ls_tasks = ls.list_tasks(project["id"])
    by_key = {}
    for listed in ls_tasks:
        task = ls.get_task(listed["id"])
        key = key_of(task)
        by_key[key] = task
        link = task["data"]["image"]
        name = f"task {task['id']} ({key})"
        # LS resolves only s3/gs/azure URIs; an http(s) link must come back untouched.
        check(f"{name}: LS returns the stable link unchanged", link in links, link)
        obj, why = follow_link(link)
        asset = ASSET_OF_KEY.get(key)
        expected = asset_bytes(key) if asset else None
        check(f"{name}: link -> 303 -> 200 with the bytes of assets/demo/{asset}",
              obj is not None and obj.content == expected,
              why or f"{len(obj.content)} bytes, {obj.headers.get('Content-Type')}")
    check("LS lists every demo key", set(by_key) == set(ASSET_OF_KEY), str(sorted(by_key, key=str)))

    # Chromium is the slow part (~7 s each): the first task, and the one with a key that
    # needs percent-encoding (CJK, space, parentheses) all the way to the emulator.
    for task in dict.fromkeys([ls_tasks[0]["id"], by_key.get(UNICODE_KEY, {}).get("id")]):
        if task is None:
            continue
        task = ls.get_task(task)
        check_painted(ls.url, project["id"], task, task["data"]["image"], key_of(task))

    # Negative control: a link with an altered signature (403 invalid_link) must be reported
    # as not painted, so a green run above means something.
    forged = links[0][:-2] + ("AA" if not links[0].endswith("AA") else "BB")
    bad_project = ls.create_project("ls-presign e2e: forged link")
    ls.import_tasks(bad_project["id"], [{"data": {"image": forged}}])
    bad_task = ls.list_tasks(bad_project["id"])[0]
    r = browser_check(ls.url, bad_project["id"], bad_task, forged, timeout=20)
    editor = r.get("editor") or {}
    check(f"task {bad_task['id']} (forged link): the check fails, LS shows its load error",
          not r.get("ok") and editor.get("loadError") is True and (r.get("link") or {}).get("status") == 403,
          f"link {(r.get('link') or {}).get('status')}, errors {r.get('errors')}")


if __name__ == "__main__":
    sys.exit(run_checks(checks))
