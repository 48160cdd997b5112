"""Capture tests/fixtures/ls-1.23.2/api_export_JSON.json: a real Label Studio JSON export of one
task whose meta, annotation (a text answer) and prediction quote its oss:// URI.

    python3 scripts/capture_ls_export.py <venv with label-studio==1.23.2> <free port> <output file>

Starts Label Studio on 127.0.0.1 with a throwaway data directory, and stops it afterwards.
"""
import json
import sys

from ls_scratch import scratch_label_studio

venv, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with scratch_label_studio(venv, port) as call:
    config = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
              '<Choice value="cat"/><Choice value="dog"/></Choices>'
              '<TextArea name="note" toName="image"/></View>')
    _, p = call("POST", "/api/projects/", {"title": "export capture", "label_config": config})
    pid = json.loads(p)["id"]
    tasks = [{"data": {"image": "oss://my-bucket/cats/1.jpg", "caption": "<img src=\"oss://my-bucket/cats/1.jpg\">"},
              "meta": {"source": "oss://my-bucket/cats/1.jpg"},
              "predictions": [{"model_version": "v1", "score": 0.5, "result": [
                  {"from_name": "note", "to_name": "image", "type": "textarea",
                   "value": {"text": ["predicted from oss://my-bucket/cats/1.jpg"]}}]}]}]
    call("POST", f"/api/projects/{pid}/import", tasks)
    _, t = call("GET", f"/api/tasks/?project={pid}&fields=all")
    tid = json.loads(t)["tasks"][0]["id"]
    call("POST", f"/api/tasks/{tid}/annotations/", {"result": [
        {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["cat"]}},
        {"from_name": "note", "to_name": "image", "type": "textarea",
         "value": {"text": ["the file oss://my-bucket/cats/1.jpg is blurry"]}}]})
    status, body = call("GET", f"/api/projects/{pid}/export?exportType=JSON")
    exported = json.loads(body)
    with open(out, "w") as f:
        json.dump({"triggered_by": f"GET /api/projects/{{id}}/export?exportType=JSON (status {status})",
                   "label_config": config, "response": exported}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("captured", out)
