"""Capture tests/fixtures/ls-1.23.2/api_annotations.json: where a real Label Studio 1.23.2 gives
a project's annotations to a bulk exporter, and in which shape — the task list with every field
(annotations embedded), one annotation, a task's annotations, and the project's JSON export — to
compare with the annotation of the ANNOTATION_CREATED webhook (webhook_ANNOTATION_CREATED.json),
so `ls-presign export` can write the same bytes as the live export.

    python3 scripts/capture_ls_annotations.py <venv with label-studio==1.23.2> <free port> <output file>

Starts Label Studio on 127.0.0.1 with a throwaway data directory, and stops it afterwards.
"""
import json
import sys

from ls_scratch import recorder, scratch_label_studio

venv, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = []
VOLATILE = ("created_at", "updated_at", "draft_created_at", "unique_id", "last_activity", "date_joined", "avatar")


def scrub(v):
    """Timestamps and random ids replaced, so a re-capture differs only where LS changed."""
    if isinstance(v, dict):
        return {k: "VOLATILE" if k in VOLATILE and v[k] is not None else scrub(x) for k, x in v.items()}
    if isinstance(v, list):
        return [scrub(x) for x in v]
    return v


with scratch_label_studio(venv, port) as call:
    record = recorder(call, calls, scrub)

    config = '<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/><Choice value="b"/></Choices></View>'
    pid = record("POST", "/api/projects/", {"title": "annotations capture", "label_config": config})["id"]
    record("POST", f"/api/projects/{pid}/import", [
        {"data": {"image": "http://127.0.0.1:9090/r/TOKEN"},
         "meta": {"ls_presign": {"original_uris": ["oss://photos/a.jpg"]}}},
        {"data": {"image": "oss://photos/b.jpg"}},
    ])
    result = [{"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": ["a"]}}]
    first = record("POST", "/api/tasks/1/annotations/", {"result": result}, "an annotation made through the API")
    record("POST", "/api/tasks/2/annotations/", {"result": result})
    record("GET", f"/api/tasks/?project={pid}&page=1&page_size=100&fields=all",
           what="the task list with every field: annotations embedded?")
    record("GET", f"/api/annotations/{first['id']}/", what="one annotation")
    record("GET", "/api/tasks/1/annotations/", what="a task's annotations")
    record("GET", f"/api/projects/{pid}/export?exportType=JSON", what="the project's JSON export")
    with open(out, "w") as f:
        json.dump({"captured_with": "scripts/capture_ls_annotations.py", "label_config": config, "calls": calls},
                  f, indent=2, ensure_ascii=False)
