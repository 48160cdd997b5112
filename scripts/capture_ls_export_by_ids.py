"""Capture tests/fixtures/ls-1.23.2/api_export_by_ids.json: the requests a bulk export of
annotations makes on a real Label Studio 1.23.2 — the ids of the tasks with annotations (Data
Manager filters, `include=id`: cheap; `total_annotations` counts only annotations that were not
skipped, so tasks with skipped ones are asked for apart, by `cancelled_annotations`; the filters
of one query are joined by one conjunction, and the id and `updated_at` filters need `and`), then
those tasks with all their annotations, skipped ones included, from Label Studio's export API
(`/api/projects/<id>/export?exportType=JSON&download_all_tasks=true&ids[]=..`, a little faster
per task than the Data Manager's `fields=all`: docs/PERFORMANCE.md §7) — and, for comparison,
every task as `fields=all` gives them. Annotations: a plain one, a skipped one (`was_cancelled`), two on one task (one ground
truth); a task without any.

    python3 scripts/capture_ls_export_by_ids.py <venv with label-studio==1.23.2> <free port> <output file>

Starts Label Studio on 127.0.0.1 with a throwaway data directory, and stops it afterwards.
"""
import json
import sys
import urllib.parse

from ls_scratch import recorder, scratch_label_studio

venv, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = []


def dm_query(pid, params, counted=None):
    items = [{"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": 0}]
    if counted:
        items.insert(0, {"filter": f"filter:tasks:{counted}", "operator": "greater", "type": "Number", "value": 0})
    query = json.dumps({"filters": {"conjunction": "and", "items": items}, "ordering": ["tasks:id"]})
    return f"/api/tasks/?project={pid}&page=1&page_size=100&{params}&query={urllib.parse.quote(query)}"


def scrub(answer):
    """`created_ago` is the clock's ("3 minutes"); everything else is kept as Label Studio sent it."""
    def walk(v):
        if isinstance(v, dict):
            return {k: ("VOLATILE" if k == "created_ago" else walk(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v
    return walk(answer)


with scratch_label_studio(venv, port) as call:
    record = recorder(call, calls, scrub)
    config = ('<View><Image name="image" value="$image"/><Choices name="c" toName="image">'
              '<Choice value="a"/><Choice value="b"/></Choices></View>')
    choice = lambda c: [{"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": [c]}}]
    pid = record("POST", "/api/projects/", {"title": "export by ids capture", "label_config": config})["id"]
    t1, t2, t3, t4 = record("POST", f"/api/projects/{pid}/import?return_task_ids=true", [
        {"data": {"image": f"oss://photos/{n}.jpg"}, "meta": {"n": n}} for n in range(1, 5)
    ], what="four tasks")["task_ids"]
    record("POST", f"/api/tasks/{t1}/annotations/", {"result": choice("a"), "lead_time": 2.5}, what="annotated")
    record("POST", f"/api/tasks/{t2}/annotations/", {"result": [], "was_cancelled": True}, what="skipped")
    record("POST", f"/api/tasks/{t3}/annotations/", {"result": choice("a")}, what="first of two")
    record("POST", f"/api/tasks/{t3}/annotations/", {"result": choice("b"), "ground_truth": True},
           what="second of two, ground truth")
    for counted in ("total_annotations", "cancelled_annotations"):
        ids = [t["id"] for t in record("GET", dm_query(pid, "include=id", counted),
                                       what=f"the ids of tasks with {counted} > 0")["tasks"]]
        record("GET", f"/api/projects/{pid}/export?exportType=JSON&download_all_tasks=true&"
               + "&".join(f"ids[]={i}" for i in ids), what="those tasks from the export API")
    record("GET", dm_query(pid, "fields=all"), what="every task as the Data Manager gives them with fields=all")
    with open(out, "w") as f:
        json.dump({"captured_with": "scripts/capture_ls_export_by_ids.py", "label_config": config, "calls": calls},
                  f, indent=2, ensure_ascii=False)
