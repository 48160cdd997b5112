"""Minimal Label Studio 1.23.2 REST client for the end-to-end tests (legacy `Token` auth).

The legacy token works only because tests/e2e/run starts LS with
LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true; new organizations refuse it otherwise (401).
"""

import os

import requests

IMAGE_CONFIG = (
    '<View><Image name="image" value="$image"/>'
    '<Choices name="c" toName="image"><Choice value="a"/></Choices></View>'
)


class LabelStudio:
    def __init__(self, url, token, timeout=30):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    @classmethod
    def from_env(cls):
        """The instance tests/e2e/run started (or the one named by E2E_LS_URL)."""
        return cls(os.environ["E2E_LS_URL"], os.environ["E2E_LS_TOKEN"])

    def request(self, method, path, **kw):
        """The raw response, whatever its status."""
        return self.http.request(method, self.url + path, timeout=self.timeout, **kw)

    def _call(self, method, path, **kw):
        r = self.request(method, path, **kw)
        if not r.ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    def create_project(self, title, label_config=IMAGE_CONFIG):
        return self._call("POST", "/api/projects/", json={"title": title, "label_config": label_config})

    def import_tasks(self, project_id, tasks):
        """Tasks as LS imports them: `{"data": {...}}` objects or bare data dicts.
        Answers e.g. {"task_count": 3, ...}."""
        return self._call("POST", f"/api/projects/{project_id}/import", json=tasks)

    def list_tasks(self, project_id, page_size=100):
        """All tasks of a project, oldest first (one page is enough for the tests)."""
        body = self._call("GET", "/api/tasks/", params={"project": project_id, "page_size": page_size})
        return sorted(body["tasks"], key=lambda t: t["id"])

    def get_task(self, task_id):
        """One task; `data` comes back as stored (LS resolves only s3/gs/azure with a storage)."""
        return self._call("GET", f"/api/tasks/{task_id}")

    def annotate(self, task_id, result):
        """A new annotation of the task (LS sends ANNOTATION_CREATED)."""
        return self._call("POST", f"/api/tasks/{task_id}/annotations/", json={"result": result})

    def update_annotation(self, annotation_id, result):
        return self._call("PATCH", f"/api/annotations/{annotation_id}/", json={"result": result})

    def delete_annotation(self, annotation_id):
        return self._call("DELETE", f"/api/annotations/{annotation_id}/")

    def create_webhook(self, project_id, url, actions=(), headers=None, send_payload=True):
        """A project webhook. No `actions` = all actions. LS delivers synchronously, once,
        1 s timeout; a loopback `url` needs LABEL_STUDIO_SSRF_PROTECTION_ENABLED=false."""
        body = {
            "project": project_id,
            "url": url,
            "send_payload": send_payload,
            "send_for_all_actions": not actions,
            "actions": list(actions),
            "headers": headers or {},
        }
        return self._call("POST", "/api/webhooks/", json=body)

    def create_ml_backend(self, project_id, url, title):
        """Connects an ML backend; LS calls its /health and /setup first. Answers the raw
        response (201 with `state` "CO" / `readable_state` "Connected" when LS accepted it).
        A loopback `url` needs LABEL_STUDIO_ML_BLOCK_LOCAL_IP=false."""
        return self.request("POST", "/api/ml/", json={"project": project_id, "url": url, "title": title})
