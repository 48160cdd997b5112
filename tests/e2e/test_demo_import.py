"""The `ls-presign demo` import, end to end through a real Label Studio.

Starts `ls-presign demo`, imports the tasks it prints (stable links) into a new LS project,
reads them back through the LS API, follows each link like a browser would (303 -> presigned
GET -> the very bytes of assets/demo/), then opens tasks in LS's labeling UI in headless
Chromium (browser_check.mjs). Run by tests/e2e/run, which starts LS and sets E2E_LS_*.
Prints one line per check and `e2e: N passed, M failed`; exits 1 on any failure.
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from ls import LabelStudio  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "e2e"
ARTIFACTS = ROOT / "target" / "e2e"
BIN = os.environ.get("LS_PRESIGN_BIN", str(ROOT / "target" / "debug" / "ls-presign"))
# The objects the demo seeds, by key, and the files they were seeded from.
ASSET_OF_KEY = {
    "images/cat.png": "cat.png",
    "images/dog.jpg": "dog.jpg",
    "images/鸟 bird (1).png": "bird.png",
}
UNICODE_KEY = "images/鸟 bird (1).png"

results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remember_pid(pid):
    """tests/e2e/run kills these on exit, even if this script is killed first."""
    if os.environ.get("E2E_TMP"):
        with open(Path(os.environ["E2E_TMP"]) / "pids", "a") as f:
            f.write(f"{pid}\n")


def start_demo():
    """Start `ls-presign demo` on a free port; return (process, base URL, printed import JSON)."""
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), LS_PRESIGN_PUBLIC_URL=f"http://127.0.0.1:{port}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "ls-presign-demo.log", "w")
    proc = subprocess.Popen([BIN, "demo"], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    remember_pid(proc.pid)
    timer = threading.Timer(30, proc.kill)  # a demo that never gets ready must not hang us
    timer.start()
    out = []
    for line in proc.stdout:
        out.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    timer.cancel()
    # Keep draining stdout so the demo never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    text = "".join(out)
    start = text.index("[", text.index("Label Studio import JSON"))
    tasks, _ = json.JSONDecoder().raw_decode(text, start)
    return proc, f"http://127.0.0.1:{port}", tasks


def key_of(task):
    """The demo captions each task with the oss:// URI its link stands for."""
    m = re.search(r"oss://demo/([^<]+)</code>", task["data"].get("caption", ""))
    return m.group(1) if m else None


def follow_link(link):
    """Like a browser: the link must answer 303 (CORS-readable), the presigned URL 200."""
    r = requests.get(link, allow_redirects=False, timeout=10)
    if r.status_code != 303:
        return None, f"link answered {r.status_code}: {r.text[:200]}"
    if r.headers.get("Access-Control-Allow-Origin") != "*":
        return None, f"303 without Access-Control-Allow-Origin: * ({dict(r.headers)})"
    obj = requests.get(r.headers["Location"], timeout=10)
    if obj.status_code != 200:
        return None, f"presigned GET answered {obj.status_code}: {obj.text[:200]}"
    return obj, ""


def browser_check(ls_url, project_id, task, link, timeout=60):
    shot = ARTIFACTS / f"browser-task-{task['id']}.png"
    cmd = ["node", str(E2E / "browser_check.mjs"), "--ls", ls_url,
           "--user", os.environ["E2E_LS_USER"], "--password", os.environ["E2E_LS_PASSWORD"],
           "--project", str(project_id), "--task", str(task["id"]), "--link", link,
           "--screenshot", str(shot), "--timeout", str(timeout)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    (ARTIFACTS / f"browser-task-{task['id']}.json").write_text(p.stdout + p.stderr)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "errors": [f"no JSON from browser_check (exit {p.returncode})",
                                        p.stdout[-500:], p.stderr[-1500:]]}


def main():
    ls = LabelStudio.from_env()
    demo = None
    try:
        demo, base, tasks = start_demo()
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
            expected = (ROOT / "assets" / "demo" / asset).read_bytes() if asset else None
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
            key = key_of(task)
            r = browser_check(ls.url, project["id"], task, task["data"]["image"])
            size = (ROOT / "assets" / "demo" / ASSET_OF_KEY[key]).stat().st_size
            obj = r.get("object") or {}
            ok = (r.get("ok") and obj.get("bytes") == size
                  and (obj.get("contentType") or "").startswith("image/"))
            detail = (f"link {(r.get('link') or {}).get('status')}, object {obj.get('status')} "
                      f"{obj.get('bytes')} B {obj.get('contentType')}, "
                      f"img {(r.get('editor') or {}).get('img')}, canvas {(r.get('editor') or {}).get('canvas')}, "
                      f"{r.get('elapsedMs')} ms")
            if not ok:
                detail += f"; expected {size} B; {json.dumps(r)[:3000]}"
            check(f"task {task['id']} ({key}): painted in the LS labeling UI (Chromium)", ok, detail)

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
    except Exception:
        traceback.print_exc()
        check("no unexpected exception", False)
    finally:
        if demo:
            demo.terminate()
            try:
                demo.wait(10)
            except subprocess.TimeoutExpired:
                demo.kill()
    print(f"e2e: {results['passed']} passed, {results['failed']} failed", flush=True)
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
