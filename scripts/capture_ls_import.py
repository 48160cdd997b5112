"""Capture tests/fixtures/ls-1.23.2/api_import_flow.json: what `ls-presign import` asks of Label
Studio, answered by a real Label Studio 1.23.2 — the project, an import of wrapped tasks whose
`meta` is kept and whose new ids come back in the order sent (`return_task_ids`), the tasks
above an id (a Data Manager filter, only id/meta/total_annotations), the
404 past the last page, and the Data Manager's delete_tasks action.

    python3 scripts/capture_ls_import.py <venv with label-studio==1.23.2> <free port> <output file>

Starts Label Studio on 127.0.0.1 with a throwaway data directory, and stops it afterwards.
"""
import json
import sys
import urllib.parse

from ls_scratch import scratch_label_studio

venv, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = []


def recorded(call):
    """`call`, each request and its answer kept in `calls` (volatile values replaced)."""
    def record(method, path, body=None):
        status, text = call(method, path, body)
        answer = json.loads(text) if text else None
        if isinstance(answer, dict):
            for volatile in ("duration", "created_at", "updated_at"):
                if volatile in answer:
                    answer[volatile] = "VOLATILE"
            if isinstance(answer.get("id"), str):
                answer["id"] = "VOLATILE"
        calls.append({"request": {"method": method, "path": urllib.parse.unquote(path), "json": body},
                      "status": status, "response": answer})
        return status, answer
    return record


with scratch_label_studio(venv, port) as raw_call:
    call = recorded(raw_call)
    config = '<View><Header value="$title"/><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/></Choices></View>'
    _, p = call("POST", "/api/projects/", {"title": "import capture", "label_config": config})
    pid = p["id"]
    call("GET", f"/api/projects/{pid}/")
    tasks = [{"data": {"image": f"http://127.0.0.1:8000/r/link-{i}"},
              "meta": {"ls_presign": {"original_uris": [f"oss://photos/{i}.jpg"], "source": f"oss://photos/{i}.jpg"}}}
             for i in range(3)]
    call("POST", f"/api/projects/{pid}/import?return_task_ids=true", tasks)
    query = json.dumps({"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": 1}]}, "ordering": ["tasks:id"]})
    q = urllib.parse.quote(query)
    call("GET", f"/api/tasks/?project={pid}&page=1&page_size=1000&include=id,meta,total_annotations&query={q}")
    call("GET", f"/api/tasks/?project={pid}&page=2&page_size=1000&include=id,meta,total_annotations&query={q}")
    # Ids in the order sent, for a batch written in another order than ids would sort.
    shuffled = [{"data": {"image": f"http://127.0.0.1:8000/r/link-{i}"},
                 "meta": {"ls_presign": {"original_uris": [f"oss://photos/{i}.jpg"], "source": f"oss://photos/{i}.jpg"}}}
                for i in (9, 4, 7, 5)]
    _, made = call("POST", f"/api/projects/{pid}/import?return_task_ids=true", shuffled)
    for task_id, sent in zip(made["task_ids"], shuffled):
        _, got = raw_call("GET", f"/api/tasks/{task_id}/")
        assert json.loads(got)["meta"]["ls_presign"]["source"] == sent["meta"]["ls_presign"]["source"], (task_id, sent)
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
