"""Capture tests/fixtures/ls-1.23.2/api_import_flow.json: what `ls-presign import` asks of Label
Studio, answered by a real Label Studio 1.23.2 — the project, an import of wrapped tasks whose
`meta` is kept, the tasks above an id (a Data Manager filter, only id/meta/total_annotations), the
404 past the last page, and the Data Manager's delete_tasks action.

    python3 scripts/capture_ls_import.py <venv with label-studio==1.23.2> <free port> <output file>

Starts Label Studio on 127.0.0.1 with a throwaway data directory, and stops it afterwards.
"""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.error, urllib.parse, urllib.request

venv, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data_dir = tempfile.mkdtemp(prefix="ls-import-")
token = "importcapturetoken0123"
env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=data_dir, LABEL_STUDIO_USERNAME="admin@example.com",
           LABEL_STUDIO_PASSWORD="capture-password-1", LABEL_STUDIO_USER_TOKEN=token,
           LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true", LABEL_STUDIO_COLLECT_ANALYTICS="false",
           LABEL_STUDIO_LATEST_VERSION_CHECK="false", LABEL_STUDIO_SENTRY_DSN="", LABEL_STUDIO_FRONTEND_SENTRY_DSN="",
           LABEL_STUDIO_HOST=f"http://127.0.0.1:{port}")
ls = subprocess.Popen([f"{venv}/bin/label-studio", "start", "--no-browser", "--internal-host", "127.0.0.1",
                       "--port", str(port), "--data-dir", data_dir], env=env, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
calls = []


def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    answer = json.loads(text) if text else None
    if isinstance(answer, dict):
        for volatile in ("id", "duration", "created_at", "updated_at"):
            if volatile in answer and volatile != "id" or (volatile == "id" and isinstance(answer.get("id"), str)):
                answer[volatile] = "VOLATILE"
    calls.append({"request": {"method": method, "path": urllib.parse.unquote(path), "json": body},
                  "status": status, "response": answer})
    return status, answer


try:
    for _ in range(240):
        try:
            if urllib.request.urlopen(base + "/health/", timeout=2).status == 200:
                break
        except Exception:
            time.sleep(1)
    config = '<View><Header value="$title"/><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/></Choices></View>'
    _, p = call("POST", "/api/projects/", {"title": "import capture", "label_config": config})
    pid = p["id"]
    call("GET", f"/api/projects/{pid}/")
    tasks = [{"data": {"image": f"http://127.0.0.1:8000/r/link-{i}"},
              "meta": {"ls_presign": {"original_uris": [f"oss://photos/{i}.jpg"], "source": f"oss://photos/{i}.jpg"}}}
             for i in range(3)]
    call("POST", f"/api/projects/{pid}/import", tasks)
    query = json.dumps({"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": 1}]}, "ordering": ["tasks:id"]})
    q = urllib.parse.quote(query)
    call("GET", f"/api/tasks/?project={pid}&page=1&page_size=1000&include=id,meta,total_annotations&query={q}")
    call("GET", f"/api/tasks/?project={pid}&page=2&page_size=1000&include=id,meta,total_annotations&query={q}")
    call("POST", "/api/tasks/2/annotations/", {"result": [
        {"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": ["a"]}}]})
    call("GET", "/api/tasks/2/")
    call("POST", f"/api/dm/actions?id=delete_tasks&project={pid}", {"selectedItems": {"all": False, "included": [3]}})
    call("GET", f"/api/projects/{pid}/")
    call("GET", f"/api/tasks/?project=999&page=1&page_size=1000&include=id,meta,total_annotations&query={q}")
    with open(out, "w") as f:
        json.dump({"captured_with": "scripts/capture_ls_import.py", "label_config": config, "calls": calls},
                  f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("captured", out)
finally:
    ls.terminate()
    ls.wait(timeout=30)
    shutil.rmtree(data_dir, ignore_errors=True)
