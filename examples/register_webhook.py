#!/usr/bin/env python3
"""Register ls-presign's webhook in a Label Studio project, through the Label Studio API.

    pip install -r examples/requirements.txt
    export LABEL_STUDIO_URL=http://label-studio:8080 LABEL_STUDIO_API_KEY=<LS token>
    export LS_PRESIGN_WEBHOOK_TOKEN=$(ls-presign token --scope webhook --ttl 365d --sub label-studio)
    python examples/register_webhook.py --project 3 --url https://presign.example.com/webhook

What it creates is what docs/LABEL_STUDIO.md describes: `POST /api/webhooks/` with the URL,
"Send payload" on, the header `Authorization: Bearer <webhook token>` and the one event ls-presign
acts on, `TASKS_CREATED`. Running it again is safe: a webhook of the project with the same URL
and the same settings is reused (nothing is created); one with the same URL but other settings
(say, a rotated token) is updated in place. Exit code 0 on success, 1 on any error.

`LABEL_STUDIO_API_KEY` may be a legacy token (sent as `Authorization: Token ...`) or a Personal
Access Token (a JWT, exchanged at `/api/token/refresh/` for an access token), as in ls-presign.
"""

import argparse
import os
import sys

import requests

ACTIONS = ["TASKS_CREATED"]


class LabelStudio:
    def __init__(self, url, api_key, timeout=30):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        if api_key.count(".") == 2:  # a JWT: a Personal Access Token (refresh token)
            r = self.http.post(f"{self.url}/api/token/refresh/", json={"refresh": api_key}, timeout=timeout)
            if not r.ok:
                raise SystemExit(f"Label Studio refused the Personal Access Token: {r.status_code} {r.text[:300]}")
            self.http.headers["Authorization"] = f"Bearer {r.json()['access']}"
        else:
            self.http.headers["Authorization"] = f"Token {api_key}"

    def call(self, method, path, **kw):
        r = self.http.request(method, self.url + path, timeout=self.timeout, **kw)
        if not r.ok:
            hint = ""
            if "reserved network address" in r.text:
                hint = (" (Label Studio's SSRF protection refuses this URL: start Label Studio with "
                        "LABEL_STUDIO_SSRF_PROTECTION_ENABLED=false, see docs/LABEL_STUDIO.md)")
            raise SystemExit(f"{method} {path}: {r.status_code} {r.text[:500]}{hint}")
        return r.json() if r.content else None

    def webhooks(self, project):
        body = self.call("GET", "/api/webhooks/", params={"project": project})
        # Not paginated in LS 1.23; accept a paginated answer too.
        return body.get("results", []) if isinstance(body, dict) else body


def wanted(project, url, token):
    return {
        "project": project,
        "url": url,
        "send_payload": True,
        "send_for_all_actions": False,
        "headers": {"Authorization": f"Bearer {token}"},
        "actions": ACTIONS,
        "is_active": True,
    }


def same(hook, want):
    """Whether an existing webhook already does exactly what `want` describes."""
    return all(
        sorted(hook.get(k) or []) == sorted(v) if k == "actions" else hook.get(k) == v
        for k, v in want.items()
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--project", type=int, required=True, help="Label Studio project id")
    p.add_argument("--url", required=True,
                   help="ls-presign's webhook URL as Label Studio reaches it, e.g. http://ls-presign:9090/webhook")
    p.add_argument("--token", default=os.environ.get("LS_PRESIGN_WEBHOOK_TOKEN"),
                   help="webhook-scope token from `ls-presign token --scope webhook` "
                        "(default $LS_PRESIGN_WEBHOOK_TOKEN)")
    p.add_argument("--ls-url", default=os.environ.get("LABEL_STUDIO_URL"),
                   help="Label Studio base URL (default $LABEL_STUDIO_URL)")
    p.add_argument("--ls-token", default=os.environ.get("LABEL_STUDIO_API_KEY"),
                   help="Label Studio legacy token or Personal Access Token (default $LABEL_STUDIO_API_KEY)")
    args = p.parse_args(argv)
    for name, value in [("--token", args.token), ("--ls-url", args.ls_url), ("--ls-token", args.ls_token)]:
        if not value:
            p.error(f"{name} is required (or its environment variable)")
    if not args.url.rstrip("/").endswith("/webhook"):
        print(f"warning: {args.url} does not end in /webhook", file=sys.stderr)

    ls = LabelStudio(args.ls_url, args.ls_token)
    want = wanted(args.project, args.url, args.token)
    hooks = [h for h in ls.webhooks(args.project) if h.get("project") == args.project and h.get("url") == args.url]
    for hook in hooks:
        if same(hook, want):
            print(f"project {args.project}: webhook {hook['id']} -> {args.url} already registered (TASKS_CREATED)")
            return 0
    if hooks:
        # Same URL, other settings: bring the first one in line. The full body is sent (LS
        # clears the actions of a PATCH that leaves them out); `project` cannot be changed.
        hook = hooks[0]
        body = {k: v for k, v in want.items() if k != "project"}
        ls.call("PATCH", f"/api/webhooks/{hook['id']}/", json=body)
        print(f"project {args.project}: webhook {hook['id']} -> {args.url} updated (TASKS_CREATED)")
        return 0
    hook = ls.call("POST", "/api/webhooks/", json=want)
    print(f"project {args.project}: webhook {hook['id']} -> {args.url} created (TASKS_CREATED)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
