"""A throwaway Label Studio for the capture scripts (scripts/capture_ls_*.py): started on
127.0.0.1 with its own data directory and an admin token, stopped and removed afterwards.

    with scratch_label_studio(venv, port) as call:
        status, body = call("GET", "/api/projects/")
"""
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

TOKEN = "capturetoken0123456789"
USER = "admin@example.com"
PASSWORD = "capture-password-1"


@contextlib.contextmanager
def scratch_label_studio(venv, port):
    """Yields `call(method, path, body=None) -> (status, raw bytes)`, authenticated."""
    data_dir = tempfile.mkdtemp(prefix="ls-capture-")
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=data_dir, LABEL_STUDIO_USERNAME=USER,
               LABEL_STUDIO_PASSWORD=PASSWORD, LABEL_STUDIO_USER_TOKEN=TOKEN,
               LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true", LABEL_STUDIO_COLLECT_ANALYTICS="false",
               LABEL_STUDIO_LATEST_VERSION_CHECK="false", LABEL_STUDIO_SENTRY_DSN="",
               LABEL_STUDIO_FRONTEND_SENTRY_DSN="", LABEL_STUDIO_HOST=base)
    ls = subprocess.Popen([f"{venv}/bin/label-studio", "start", "--no-browser", "--internal-host", "127.0.0.1",
                           "--port", str(port), "--data-dir", data_dir], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(base + "/health/", timeout=2).status == 200:
                    break
            except Exception:
                time.sleep(1)
        yield call
    finally:
        ls.terminate()
        ls.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


def recorder(call, calls, scrub=lambda answer: answer):
    """`record(method, path, body=None, what="") -> answer`: `call`, with the request (its path
    unquoted), a note of what it shows, its status and its JSON answer (through `scrub`) appended
    to `calls`."""
    def record(method, path, body=None, what=""):
        status, text = call(method, path, body)
        answer = json.loads(text) if text else None
        calls.append({"what": what, "request": {"method": method, "path": urllib.parse.unquote(path), "json": body},
                      "status": status, "response": scrub(answer)})
        return answer
    return record
