"""Links behind the Label Studio login (LS_PRESIGN_LINK_POLICY=login), end to end.

tests/e2e/run puts the real Label Studio behind nginx, which also serves /ls-presign/ of the same
origin from E2E_PRESIGN_PORT, where this test starts `ls-presign demo` (docs/LABEL_STUDIO.md §8).
A signed-in annotator's labeling page (headless Chromium, logged in through that origin) paints
an image through its link; the same link without the cookie gets 401 login_required; after
signing out in the browser the page's request for the link gets 401. `ls-presign check` passes
this mount and fails a link address on another origin.
"""

import os
import subprocess
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from harness import BIN, Demo, browser_check, check, clean_env, run_checks  # noqa: E402


def policy_line(env):
    """The link policy line of `ls-presign check` with `env` (or all it printed)."""
    p = subprocess.run([BIN, "check"], env=clean_env(**env), capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    return next((line for line in out.splitlines() if " link policy login: " in line), out[-600:])


def checks(ls):
    if "E2E_PRESIGN_PORT" not in os.environ:
        raise RuntimeError("needs the nginx front of tests/e2e/run (E2E_PRESIGN_PORT), not a reused Label Studio")
    origin = os.environ["E2E_LS_URL"]  # nginx: Label Studio at /, the demo at /ls-presign/
    policy = {"LS_PRESIGN_LINK_POLICY": "login", "LABEL_STUDIO_URL": origin,
              "LABEL_STUDIO_API_KEY": os.environ["E2E_LS_TOKEN"], "LS_PRESIGN_CORS_ORIGIN": origin}
    demo = Demo(env={**policy, "LS_PRESIGN_PUBLIC_URL": origin + "/ls-presign"},
                port=int(os.environ["E2E_PRESIGN_PORT"]), log_name="ls-presign-login.log")
    try:
        links = [t["data"]["image"] for t in demo.tasks]
        check("the demo's links are on Label Studio's origin, under /ls-presign/",
              all(link.startswith(origin + "/ls-presign/r/") for link in links), links[0])

        line = policy_line({**demo.cli_env, **policy, "LS_PRESIGN_PUBLIC_URL": origin + "/ls-presign"})
        check("check passes the same-origin mount", line.startswith("PASS link policy login"), line)
        line = policy_line({**demo.cli_env, **policy, "LS_PRESIGN_PUBLIC_URL": demo.base})
        check("check fails links on another origin, saying why",
              line.startswith("FAIL link policy login: links are served at " + demo.base)
              and "session cookie to its own origin only" in line, line.replace("FAIL", "(fail)"))

        project = ls.create_project("ls-presign e2e: links behind the login")
        ls.import_tasks(project["id"], demo.tasks)
        task = ls.list_tasks(project["id"])[0]
        link = task["data"]["image"]

        anonymous = requests.get(link, allow_redirects=False, timeout=10)
        body = anonymous.json() if anonymous.headers.get("content-type", "").startswith("application/json") else {}
        check("the link without a Label Studio session: 401 login_required, no redirect",
              anonymous.status_code == 401 and (body.get("error") or {}).get("code") == "login_required"
              and "location" not in anonymous.headers, f"{anonymous.status_code} {anonymous.text[:200]}")

        r = browser_check(origin, project["id"], task, link, logout=True)
        obj = r.get("object") or {}
        check("signed in through the same origin, the labeling page paints the image through the link",
              bool(r.get("ok")) and (r.get("link") or {}).get("status") == 303 and obj.get("bytes", 0) > 0,
              f"link {(r.get('link') or {}).get('status')}, object {obj.get('status')} {obj.get('bytes')} B, "
              f"errors {r.get('errors')}, notes {r.get('notes', [])[:3]}")
        after = r.get("afterLogout") or {}
        check("after signing out in the browser, the page's request for the link gets 401",
              (after.get("link") or {}).get("status") == 401, str(after)[:400])
        check("after signing out, the task page sends the browser to the login",
              (after.get("taskPage") or "").startswith("/user/login"), str(after)[:200])

        metrics = requests.get(demo.base + "/metrics", timeout=10).text
        valid = [line for line in metrics.splitlines() if line.startswith('lspresign_session_lookups_total{answer="valid"}')]
        lookups = int(valid[0].split()[-1]) if valid else -1
        check("the signed-in page cost a handful of Label Studio lookups, not one per request",
              1 <= lookups <= 3, valid[0] if valid else metrics[-400:])
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(run_checks(checks))
