"""Capture tests/fixtures/ls-1.23.2/api_reconcile_filters.json: the Data Manager filters serve's
reconcile loop asks a real Label Studio 1.23.2 — tasks whose data still contains `oss://` or
`s3://` (a whole URI, a URI inside HTML, one already rewritten whose meta still names it), and the
same filter with `updated_at` later than a moment, so a project with nothing left costs one page.

    python3 scripts/capture_ls_reconcile.py <venv with label-studio==1.23.2> <free port> <output file>

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


def tasks_query(pid, scheme, after=None):
    items = [{"filter": "filter:tasks:data", "operator": "contains", "type": "String", "value": f"{scheme}://"}]
    if after:
        items.append({"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime", "value": after})
    query = json.dumps({"filters": {"conjunction": "and", "items": items}, "ordering": ["tasks:id"]})
    return (f"/api/tasks/?project={pid}&page=1&page_size=100&fields=all&include=id,data,meta,updated_at"
            f"&query={urllib.parse.quote(query)}")


with scratch_label_studio(venv, port) as call:
    record = recorder(call, calls)

    config = '<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/></Choices></View>'
    pid = record("POST", "/api/projects/", {"title": "reconcile capture", "label_config": config})["id"]
    record("POST", f"/api/projects/{pid}/import", [
        {"data": {"image": "oss://photos/raw 1.jpg"}},
        {"data": {"image": "s3://media/raw2.jpg"}},
        {"data": {"image": "http://127.0.0.1:9090/r/AAAA"},
         "meta": {"ls_presign": {"original_uris": ["oss://photos/done.jpg"]}}},
        {"data": {"image": "http://x/y.jpg", "html": "<img src=\"OSS://photos/in-html.jpg\">"}},
        {"data": {"image": "https://cdn.example.com/plain.jpg"}},
    ], what="five tasks: raw oss, raw s3, rewritten (meta names oss://), oss:// upper case in HTML, plain")
    record("GET", tasks_query(pid, "oss"), what="data contains oss://")
    record("GET", tasks_query(pid, "s3"), what="data contains s3://")
    time.sleep(1.5)
    # The one format LS 1.23.2 parses for a Datetime filter ('%Y-%m-%dT%H:%M:%S.%fZ'; an offset is a 500).
    moment = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(1.5)
    record("GET", tasks_query(pid, "oss", moment), what="oss:// and updated after a moment past the import: none")
    first = record("GET", tasks_query(pid, "oss"))["tasks"][0]["id"]
    record("PATCH", f"/api/tasks/{first}/", {"data": {"image": "oss://photos/raw 1.jpg", "note": "touched"}},
           what="a raw task touched after the moment")
    record("GET", tasks_query(pid, "oss", moment), what="oss:// and updated after the moment: the touched task")
    for c in calls:
        for t in (c["response"] or {}).get("tasks", []) if isinstance(c["response"], dict) else []:
            for volatile in ("created_at", "updated_at"):
                if volatile in t:
                    t[volatile] = "VOLATILE"
        if isinstance(c["response"], dict) and c["request"]["method"] == "PATCH":
            for volatile in ("created_at", "updated_at"):
                c["response"].pop(volatile, None)
        c["request"]["path"] = c["request"]["path"].replace(moment, "<moment>")
    with open(out, "w") as f:
        json.dump({"captured_with": "scripts/capture_ls_reconcile.py", "label_config": config, "calls": calls},
                  f, indent=2, ensure_ascii=False)
