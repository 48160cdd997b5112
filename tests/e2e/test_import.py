"""`ls-presign import`, end to end with a real Label Studio 1.23.2.

Objects with keys OpenDAL and URLs find tricky (blanks at the ends, `//`, `+ % # ?`, CJK and a
combining accent) are uploaded to the demo's emulator with boto3, as a user's tools would. Then:
1. `import` makes one task per image (the .txt is skipped), each with a stable link that gives
   the object's exact bytes and `meta.ls_presign.source` naming its exact key; Label Studio's
   TASKS_CREATED webhook to the demo costs no PATCH; Chromium paints the trickiest one.
2. A re-run adds nothing.
3. `serve` with an `[[import]]` table imports an object uploaded later within its interval.
4. A deleted object is reported, and with `--delete-missing` its unannotated task is removed
   while an annotated one is kept.
Run by tests/e2e/run, which starts LS and sets E2E_LS_*.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

sys.path.insert(0, str(Path(__file__).parent))
from harness import (BIN, Demo, browser_check, check, clean_env, follow_link, free_port,  # noqa: E402
                     remember_pid, run_checks, ROOT)

PNG = (ROOT / "assets" / "demo" / "cat.png").read_bytes()
JPG = (ROOT / "assets" / "demo" / "dog.jpg").read_bytes()
# Key -> bytes. Each image a little different, so a link that opened the wrong key shows.
OBJECTS = {
    "e2e/ leading blank.png": PNG,
    "e2e/trailing blank.png ": PNG + b"1",
    "e2e/a//double.png": PNG + b"2",
    "e2e/plus+percent%25hash#q?.png": PNG + b"3",
    "e2e/猫 e\u0301 (1).jpg": JPG,
    "e2e/sub/dir/deep.jpg": JPG + b"4",
    "e2e/notes.txt": b"not an image",
}
IMAGES = [k for k in OBJECTS if not k.endswith(".txt")]
TRICKY = "e2e/猫 e\u0301 (1).jpg"


def s3(env):
    """boto3 on the demo's emulator (its S3 API, path style), with the demo's credentials."""
    return boto3.client(
        "s3", endpoint_url=env["OSS_ENDPOINT"], region_name=env["OSS_REGION"],
        aws_access_key_id=env["OSS_ACCESS_KEY_ID"], aws_secret_access_key=env["OSS_ACCESS_KEY_SECRET"],
        config=BotoConfig(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))


def tasks_by_source(ls, project):
    out = {}
    for t in ls.list_tasks(project, page_size=1000):
        task = ls.get_task(t["id"])
        out.setdefault(task["meta"].get("ls_presign", {}).get("source"), []).append(task)
    return out


def checks(ls):
    demo = Demo(env={"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": os.environ["E2E_LS_TOKEN"]},
                log_name="ls-presign-import-demo.log")
    state_dir = tempfile.TemporaryDirectory(prefix="ls-presign-import-state-")  # removed at exit
    state = state_dir.name
    env = clean_env(**demo.cli_env, LABEL_STUDIO_API_KEY=os.environ["E2E_LS_TOKEN"], LS_PRESIGN_STATE_DIR=state)
    check("demo prints the command-line env, with LABEL_STUDIO_URL",
          env.get("LABEL_STUDIO_URL") == ls.url and env.get("OSS_ENDPOINT", "").startswith("http://127.0.0.1:"),
          str(sorted(demo.cli_env)))
    bucket = s3(env)
    for key, body in OBJECTS.items():
        bucket.put_object(Bucket="demo", Key=key, Body=body,
                          ContentType="text/plain" if key.endswith(".txt") else "image/png")

    project = ls.create_project("ls-presign e2e: connect a bucket")["id"]
    ls.create_webhook(project, f"{demo.base}/webhook", actions=["TASKS_CREATED"],
                      headers={"Authorization": f"Bearer {demo.token}"})

    def run_import(*args):
        p = subprocess.run([BIN, "import", "--project", str(project), *args], env=env,
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout.strip(), p.stderr[-2000:]

    rc, out, err = run_import("oss://demo/e2e/")
    n = len(IMAGES)
    check("import: one task per image, the .txt skipped",
          rc == 0 and f"{len(OBJECTS)} objects listed, {n} imported, 0 already there, 0 filtered out, 1 skipped, 0 failed" in out,
          f"exit {rc}: {out} {err}")
    by_source = tasks_by_source(ls, project)
    check("each image is exactly one task",
          sorted(by_source) == sorted(f"oss://demo/{k}" for k in IMAGES) and all(len(v) == 1 for v in by_source.values()),
          str(sorted(by_source)))
    for key in IMAGES:
        task = by_source.get(f"oss://demo/{key}", [None])[0]
        if task is None:
            continue
        link = task["data"].get("image", "")
        obj, why = follow_link(link)
        check(f"{key!r}: its link gives the exact object",
              obj is not None and obj.content == OBJECTS[key] and link.startswith(demo.base + "/r/"),
              why or f"{len(obj.content)} bytes")

    # LS sent TASKS_CREATED for the new tasks: they already hold links, so nothing is PATCHed.
    def writeback(outcome):
        text = __import__("requests").get(demo.base + "/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith(f'lspresign_writeback_tasks_total{{outcome="{outcome}"}}'):
                return int(line.split()[-1])
        return 0
    deadline = time.time() + 20
    while writeback("already_done") < n and time.time() < deadline:
        time.sleep(0.5)
    check("LS's TASKS_CREATED webhook for imported tasks costs no PATCH",
          writeback("already_done") >= n and writeback("rewritten") == 0,
          f"already_done {writeback('already_done')}, rewritten {writeback('rewritten')}")

    tricky = by_source.get(f"oss://demo/{TRICKY}", [None])[0]
    if tricky:
        r = browser_check(ls.url, project, tricky, tricky["data"]["image"])
        obj = r.get("object") or {}
        check(f"{TRICKY!r}: painted in the LS labeling UI (Chromium)",
              r.get("ok") and obj.get("bytes") == len(JPG),
              f"object {obj.get('status')} {obj.get('bytes')} B, {r.get('elapsedMs')} ms {str(r.get('errors'))[:500]}")

    rc, out, err = run_import("oss://demo/e2e/")
    check("a re-run adds nothing, in 2 Label Studio requests",
          rc == 0 and f"0 imported, {n} already there" in out and "; 2 Label Studio requests" in out,
          f"exit {rc}: {out} {err}")

    # serve with an [[import]] table: an object uploaded later appears within the interval.
    conf = Path(state) / "imports.toml"
    conf.write_text(f'[[import]]\nproject = {project}\nuri = "oss://demo/e2e/"\ninterval = "2s"\n')
    port = free_port()
    serve_env = dict(env, LS_PRESIGN_CONFIG=str(conf), PORT=str(port), HOST="127.0.0.1",
                     LS_PRESIGN_PUBLIC_URL=demo.base)
    with open(ROOT / "target" / "e2e" / "ls-presign-import-serve.log", "w") as log:
        serve = subprocess.Popen([BIN, "serve"], env=serve_env, stdout=log, stderr=log)
    remember_pid(serve.pid)
    try:
        time.sleep(3)
        bucket.put_object(Bucket="demo", Key="e2e/later.png", Body=PNG + b"later", ContentType="image/png")
        t0 = time.time()
        found = None
        while time.time() - t0 < 30 and not found:
            found = tasks_by_source(ls, project).get("oss://demo/e2e/later.png")
            time.sleep(0.5)
        check("serve's [[import]] imports an object uploaded later, within an interval",
              found is not None and len(found) == 1, f"after {time.time() - t0:.1f} s")
    finally:
        serve.terminate()
        serve.wait(15)
    check("serve stops on SIGTERM", serve.returncode == 0, f"exit {serve.returncode}")

    # Deleted objects: reported; removed with --delete-missing unless annotated.
    gone = ["e2e/sub/dir/deep.jpg", "e2e/a//double.png"]
    for key in gone:
        bucket.delete_object(Bucket="demo", Key=key)
    annotated = tasks_by_source(ls, project)[f"oss://demo/{gone[1]}"][0]["id"]
    ls._call("POST", f"/api/tasks/{annotated}/annotations/", json={"result": [
        {"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": ["a"]}}]})
    rc, out, err = run_import("oss://demo/e2e/")
    check("objects deleted from the bucket are reported", rc == 0 and "2 missing from the bucket" in out,
          f"exit {rc}: {out} {err}")
    rc, out, err = run_import("oss://demo/e2e/", "--delete-missing")
    left = tasks_by_source(ls, project)
    check("--delete-missing removes the unannotated task and keeps the annotated one",
          rc == 0 and "(1 tasks removed)" in out and f"oss://demo/{gone[0]}" not in left
          and f"oss://demo/{gone[1]}" in left and f"[{annotated}]" in out,
          f"exit {rc}: {out} {err}")
    demo.stop()


if __name__ == "__main__":
    sys.exit(run_checks(checks))
