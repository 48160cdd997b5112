"""Capture tests/fixtures/ls-1.23.2/api_export_catch_up.json: what lets serve's reconcile loop
catch up annotation objects the live export missed by asking a real Label Studio 1.23.2 only for
tasks updated since its last clean run. Every way an annotation changes — created, updated,
created in bulk from predictions (a Data Manager action), deleted — moves its task's
`updated_at`; the Data Manager filter `total_annotations > 0` and `updated_at > <moment>` with
`fields=all` answers exactly the annotated tasks touched since, annotations embedded.

    python3 scripts/capture_ls_export_catch_up.py <venv with label-studio==1.23.2> <free port> <output file>

Starts Label Studio on 127.0.0.1 with a throwaway data directory, and stops it afterwards.
"""
import datetime
import json
import sys
import time
import urllib.parse

from ls_scratch import recorder, scratch_label_studio

venv, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = []
VOLATILE = ("created_at", "updated_at", "created_ago", "completed_at", "draft_created_at")


def now():
    # The one format LS 1.23.2 parses for a Datetime filter (api_reconcile_filters.json).
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def changed_query(pid, moment):
    items = [{"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0},
             {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": 0},
             {"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime", "value": moment}]
    query = json.dumps({"filters": {"conjunction": "and", "items": items}, "ordering": ["tasks:id"]})
    return f"/api/tasks/?project={pid}&page=1&page_size=100&fields=all&query={urllib.parse.quote(query)}"


with scratch_label_studio(venv, port) as call:
    record = recorder(call, calls)

    def moved(task, step):
        """Records whether `step` moved the task's updated_at (the value itself is the clock's)."""
        before = call("GET", f"/api/tasks/{task}/")[1]
        time.sleep(1.1)
        step()
        after = call("GET", f"/api/tasks/{task}/")[1]
        b, a = json.loads(before)["updated_at"], json.loads(after)["updated_at"]
        calls.append({"what": f"task {task}: updated_at moved", "moved": a > b})

    config = ('<View><Image name="image" value="$image"/><Choices name="c" toName="image">'
              '<Choice value="a"/><Choice value="b"/></Choices></View>')
    choice = lambda c: [{"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": [c]}}]
    pid = record("POST", "/api/projects/", {"title": "export catch-up capture", "label_config": config})["id"]
    t1, t2, t3, t4 = record("POST", f"/api/projects/{pid}/import?return_task_ids=true", [
        {"data": {"image": "oss://photos/1.jpg"}},
        {"data": {"image": "oss://photos/2.jpg"}, "predictions": [{"result": choice("b"), "model_version": "m1"}]},
        {"data": {"image": "oss://photos/3.jpg"}},
        {"data": {"image": "oss://photos/4.jpg"}},
    ], what="four tasks, the second with a prediction")["task_ids"]
    early = record("POST", f"/api/tasks/{t4}/annotations/", {"result": choice("a")},
                   what="task 4 annotated before the moment")
    time.sleep(1.5)
    moment = now()
    time.sleep(1.5)
    holder = {}
    moved(t1, lambda: holder.update(a=record("POST", f"/api/tasks/{t1}/annotations/", {"result": choice("a")},
                                             what="annotation created")))
    moved(t1, lambda: record("PATCH", f"/api/annotations/{holder['a']['id']}/", {"result": choice("b")},
                             what="annotation updated"))
    moved(t2, lambda: record("POST", f"/api/dm/actions?id=predictions_to_annotations&project={pid}",
                             {"selectedItems": {"all": False, "included": [t2]}, "model_version": "m1"},
                             what="annotations created in bulk from predictions (Data Manager action)"))
    moved(t3, lambda: holder.update(b=record("POST", f"/api/tasks/{t3}/annotations/", {"result": choice("a")},
                                             what="annotation created, to be deleted")))
    moved(t3, lambda: record("DELETE", f"/api/annotations/{holder['b']['id']}/", what="annotation deleted"))
    record("GET", changed_query(pid, moment),
           what="annotated tasks updated after the moment: tasks 1 and 2 (3 lost its annotation, 4 is older)")
    time.sleep(1.5)
    record("GET", changed_query(pid, now()), what="annotated tasks updated after now: none")
    for c in calls:
        response = c.get("response")
        for item in ([response] if isinstance(response, dict) else []) + \
                (response.get("tasks", []) if isinstance(response, dict) else []):
            for volatile in VOLATILE:
                if item.get(volatile):
                    item[volatile] = "VOLATILE"
            for a in item.get("annotations", []) if isinstance(item.get("annotations"), list) else []:
                for volatile in VOLATILE:
                    if a.get(volatile):
                        a[volatile] = "VOLATILE"
        if "request" in c:
            c["request"]["path"] = c["request"]["path"].replace(moment, "<moment>")
    with open(out, "w") as f:
        json.dump({"captured_with": "scripts/capture_ls_export_catch_up.py", "label_config": config, "calls": calls},
                  f, indent=2, ensure_ascii=False)
