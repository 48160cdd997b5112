"""Annotations back to the bucket as they are made, end to end with the real Label Studio.

`ls-presign serve` on the demo's emulator, with project P's export target
`oss://demo/annotations/` (deletion on) and P's webhook sending every action. Two tasks with raw
`oss://` references are imported (write-back turns them into stable links), then annotated
through Label Studio's API: each annotation appears as `annotations/<id>.json` holding the
original URIs; updating one changes its object; deleting one removes its object. Objects are
read back with boto3 from the emulator. Then, with serve stopped (the webhook target down), more
annotations are made (one imported with its task: created in bulk, no annotation webhook at all):
`ls-presign export` writes them all, and a second run writes nothing; one more made (and one
deleted) while serve is down is written (removed) by serve's reconcile loop when it starts again.
Run by tests/e2e/run.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

sys.path.insert(0, str(Path(__file__).parent))
from harness import BIN, Demo, check, clean_env, free_port, run_checks, start_serve  # noqa: E402

CHOICES = '<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/><Choice value="b"/></Choices></View>'


def result(choice):
    return [{"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": [choice]}}]


def wait(fn, secs=30):
    """`fn()` once it is truthy, or its last value after `secs`."""
    deadline = time.monotonic() + secs
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(0.3)
        value = fn()
    return value


def checks(ls):
    demo = Demo(log_name="ls-presign-export-demo.log")
    env = demo.cli_env
    s3 = boto3.client("s3", endpoint_url=env["OSS_ENDPOINT"], region_name="cn-hangzhou",
                      aws_access_key_id=env["OSS_ACCESS_KEY_ID"], aws_secret_access_key=env["OSS_ACCESS_KEY_SECRET"],
                      config=BotoConfig(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                        response_checksum_validation="when_required"))

    def read(annotation_id):
        try:
            return s3.get_object(Bucket="demo", Key=f"annotations/{annotation_id}.json")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    project = ls.create_project("ls-presign e2e: export", label_config=CHOICES)["id"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {**env, "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": os.environ["E2E_LS_TOKEN"],
                "LS_PRESIGN_PUBLIC_URL": base}
    serve = start_serve({**settings, "LS_PRESIGN_EXPORT_PROJECT": str(project),
                         "LS_PRESIGN_EXPORT_URI": "oss://demo/annotations/", "LS_PRESIGN_EXPORT_DELETE": "true",
                         "LS_PRESIGN_RECONCILE_INTERVAL": "0"}, port, "ls-presign-export.log")
    try:
        ls.create_webhook(project, f"{base}/webhook", headers={"Authorization": f"Bearer {demo.token}"})
        uris = ["oss://demo/images/cat.png", "oss://demo/images/鸟 bird (1).png"]
        ls.import_tasks(project, [{"image": u} for u in uris])
        def linked():
            listed = ls.list_tasks(project)
            return listed if len(listed) == 2 and all(t["data"]["image"].startswith(base) for t in listed) else None
        tasks = wait(linked)
        check("the imported tasks hold stable links (write-back)", bool(tasks),
              json.dumps([t["data"] for t in ls.list_tasks(project)], ensure_ascii=False)[:300])

        made = [ls.annotate(t["id"], result("a")) for t in tasks or []]
        docs = [wait(lambda a=a: read(a["id"])) for a in made]
        parsed = [json.loads(d) if d else {} for d in docs]
        check("each annotation is an object annotations/<id>.json holding the original URIs",
              len(docs) == 2 and all(docs) and sorted(p["task"]["data"]["image"] for p in parsed) == sorted(uris)
              and all(p["annotation"]["result"] == result("a") for p in parsed),
              json.dumps([p.get("task", {}).get("data") for p in parsed], ensure_ascii=False))

        first = made[0]["id"]
        ls.update_annotation(first, result("b"))
        updated = wait(lambda: (lambda d: d if d and d != docs[0] else None)(read(first)))
        check("updating an annotation changes its object",
              bool(updated) and json.loads(updated)["annotation"]["result"] == result("b"),
              (updated or b"")[:200].decode(errors="replace"))

        second = made[1]["id"]
        ls.delete_annotation(second)
        gone = wait(lambda: read(second) is None)
        check("deleting an annotation removes its object (deletion on)", gone, f"annotations/{second}.json")

        # The webhook target goes down; annotations go on.
        serve.terminate()
        serve.wait()
        missed = [ls.annotate(t["id"], result("b"))["id"] for t in tasks or []]
        # Annotations created in bulk (imported with their task: no annotation webhook at all).
        ls.import_tasks(project, [{"data": {"image": uris[0]}, "annotations": [{"result": result("a")}]}])
        newest = max(t["id"] for t in ls.list_tasks(project))
        bulk = [a["id"] for a in ls.get_task(newest)["annotations"]]
        time.sleep(1)
        check("annotations made while serve is down are not in the bucket",
              len(bulk) == 1 and all(read(a) is None for a in missed + bulk), str(missed + bulk))

        def export():
            p = subprocess.run([BIN, "export", "--project", str(project), "oss://demo/annotations/"],
                               env=clean_env(**settings), capture_output=True, text=True, timeout=120)
            return p.returncode, p.stdout.strip()
        code, line = export()
        written = re.search(r"(\d+) written, (\d+) already the same", line)
        check("ls-presign export writes what was missed (and what changed) and nothing else",
              code == 0 and written and all(read(a) for a in missed + bulk)
              and json.loads(read(missed[0]))["task"]["data"]["image"] in uris
              and json.loads(read(bulk[0]))["task"]["data"]["image"] == uris[0], line)
        code, line = export()
        check("a second export writes nothing", code == 0 and " 0 written, " in line, line)

        # Missed again, and nobody runs export: serve's reconcile loop catches up when it starts.
        late = ls.annotate(tasks[0]["id"], result("a"))["id"] if tasks else 0
        ls.delete_annotation(missed[1])
        serve = start_serve({**settings, "LS_PRESIGN_EXPORT_PROJECT": str(project),
                             "LS_PRESIGN_EXPORT_URI": "oss://demo/annotations/", "LS_PRESIGN_EXPORT_DELETE": "true"},
                            port, "ls-presign-export-2.log")
        caught = wait(lambda: read(late), secs=60)
        check("serve's reconcile loop writes an annotation missed while it was down (no export run)",
              bool(caught) and json.loads(caught)["annotation"]["id"] == late, f"annotations/{late}.json")
        removed = wait(lambda: read(missed[1]) is None, secs=60)
        check("... and removes the object of an annotation deleted while it was down (deletion on)", removed,
              f"annotations/{missed[1]}.json")
    finally:
        serve.terminate()
        demo.stop()


if __name__ == "__main__":
    sys.exit(run_checks(checks))
