"""What the end-to-end tests share: checks and their counts, `ls-presign demo`, following links,
the Chromium check. Run by tests/e2e/run, which starts Label Studio and sets E2E_LS_*.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time
import traceback
from pathlib import Path

import requests

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
# Every demo started, so `run` stops them whatever happens.
started = []


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def summary():
    """Ends a test script: its counts go to $E2E_COUNTS (tests/e2e/run prints the combined
    `e2e: N passed, M failed`), or are printed as that line when the script runs alone."""
    p, f = results["passed"], results["failed"]
    if os.environ.get("E2E_COUNTS"):
        with open(os.environ["E2E_COUNTS"], "a") as out:
            out.write(f"{p} {f}\n")
    else:
        print(f"e2e: {p} passed, {f} failed", flush=True)
    return 1 if f else 0


def run_checks(checks):
    """Runs a test script's `checks(ls)`: an exception counts as one failure, every demo started
    is stopped, and the counts are reported. Returns the exit code."""
    from ls import LabelStudio

    try:
        checks(LabelStudio.from_env())
    except Exception:
        traceback.print_exc()
        check("no unexpected exception", False)
    finally:
        for demo in started:
            demo.stop()
    return summary()


def clean_env(**extra):
    """The environment without any ls-presign or Label Studio setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "S3_", "LS_PRESIGN_", "LABEL_STUDIO_"))}
    env.update(extra)
    return env


def route_count(base, route):
    """How many requests to `route` the service at `base` answered 200 (its /metrics)."""
    text = requests.get(base + "/metrics", timeout=10).text
    m = re.search(r'lspresign_http_requests_total\{route="' + re.escape(route) + r'",status="200"\} (\d+)', text)
    return int(m.group(1)) if m else 0


def asset_bytes(key):
    """The bytes of the demo object `key` (e.g. "images/cat.png"), from assets/demo/."""
    return (ROOT / "assets" / "demo" / ASSET_OF_KEY[key]).read_bytes()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remember_pid(pid):
    """tests/e2e/run kills these on exit, even if this script is killed first."""
    if os.environ.get("E2E_TMP"):
        with open(Path(os.environ["E2E_TMP"]) / "pids", "a") as f:
            f.write(f"{pid}\n")


class Demo:
    """`ls-presign demo` on a free loopback port: `base` (its URL), `tasks` (the import JSON it
    prints), `token` (the admin API token it prints). `env` adds settings (LABEL_STUDIO_*, ...)."""

    def __init__(self, env=None, port=None, log_name="ls-presign-demo.log"):
        port = port or free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "LS_PRESIGN_PUBLIC_URL": self.base, **(env or {})}
        self.public_url = env["LS_PRESIGN_PUBLIC_URL"]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log = open(ARTIFACTS / log_name, "w")
        self.proc = subprocess.Popen([BIN, "demo"], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        remember_pid(self.proc.pid)
        started.append(self)
        timer = threading.Timer(30, self.proc.kill)  # a demo that never gets ready must not hang us
        timer.start()
        out = []
        for line in self.proc.stdout:
            out.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        timer.cancel()
        # Keep draining stdout so the demo never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        text = "".join(out)
        start = text.index("[", text.index("Label Studio import JSON"))
        self.tasks, _ = json.JSONDecoder().raw_decode(text, start)
        self.token = re.search(r"API token for this run[^\n]*\n\s*(\S+)", text).group(1)
        # The `export ...` line it prints for the command line: NAME='value' pairs.
        export = re.search(r"^\s*export (.*)$", text, re.M).group(1)
        self.cli_env = dict(re.findall(r"(\w+)='([^']*)'", export))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_serve(env, port, log_name):
    """`ls-presign serve` on `port`; waits until it answers."""
    log = open(ARTIFACTS / log_name, "w")
    proc = subprocess.Popen([BIN, "serve"], env=clean_env(**env, HOST="127.0.0.1", PORT=str(port), RUST_LOG="info"),
                            stdout=log, stderr=log)
    remember_pid(proc.pid)
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"serve did not start; see {ARTIFACTS / log_name}")


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


def browser_check(ls_url, project_id, task, link, timeout=60, logout=False):
    """Runs browser_check.mjs on one task (then signs out, with `logout`); returns its JSON result."""
    shot = ARTIFACTS / f"browser-task-{task['id']}.png"
    cmd = ["node", str(E2E / "browser_check.mjs"), "--ls", ls_url,
           "--user", os.environ["E2E_LS_USER"], "--password", os.environ["E2E_LS_PASSWORD"],
           "--project", str(project_id), "--task", str(task["id"]), "--link", link,
           "--screenshot", str(shot), "--timeout", str(timeout)] + (["--logout"] if logout else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    (ARTIFACTS / f"browser-task-{task['id']}.json").write_text(p.stdout + p.stderr)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "errors": [f"no JSON from browser_check (exit {p.returncode})",
                                        p.stdout[-500:], p.stderr[-1500:]]}


def check_painted(ls_url, project_id, task, link, key):
    """The check that `task`'s image (`link`, standing for demo object `key`) is painted in
    LS's labeling UI, its bytes fetched by the editor through the 303 from the emulator."""
    r = browser_check(ls_url, project_id, task, link)
    size = len(asset_bytes(key))
    obj = r.get("object") or {}
    editor = r.get("editor") or {}
    ok = r.get("ok") and obj.get("bytes") == size and (obj.get("contentType") or "").startswith("image/")
    detail = (f"link {(r.get('link') or {}).get('status')}, object {obj.get('status')} "
              f"{obj.get('bytes')} B {obj.get('contentType')}, img {editor.get('img')}, "
              f"canvas {editor.get('canvas')}, {r.get('elapsedMs')} ms")
    if not ok:
        detail += f"; expected {size} B; {json.dumps(r)[:3000]}"
    return check(f"task {task['id']} ({key}): painted in the LS labeling UI (Chromium)", ok, detail)
