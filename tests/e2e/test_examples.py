"""The examples in examples/, run as a user would, against a real Label Studio and `ls-presign demo`.

1. examples/register_webhook.py registers the webhook in a new project (flags), then again
   (environment variables): the second run reuses it; the LS API shows exactly one webhook with
   the URL, "Send payload", the Authorization header and TASKS_CREATED.
2. Tasks with raw `oss://demo/...` references are imported; the demo (LABEL_STUDIO_URL and
   LABEL_STUDIO_API_KEY set) writes them back as stable links through that webhook.
3. examples/annotate.py pulls the project's tasks with direct presigned URLs (two per page, so
   it pages) with a `resolve` token minted by `ls-presign token`, and downloads every image: each
   file must equal its asset in assets/demo/. With a `webhook` token it must fail cleanly.
4. examples/resolve.rs (`cargo run --example resolve`), with a `resolve` token.
5. Files that need Docker or Kubernetes: examples/docker-compose.yml and docs/deploy/*.yaml parse
   and are wired as documented; examples/ls-presign.env.example lists every setting and loads.

Run by tests/e2e/run, which starts LS and sets E2E_LS_*. The Python examples run with the
harness's venv python, after installing examples/requirements.txt into it if its pin differs.
"""

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import BIN, ROOT, Demo, asset_bytes, check, clean_env, route_count, run_checks  # noqa: E402

EXAMPLES = ROOT / "examples"
PY = sys.executable  # the harness's venv python (tests/e2e/run runs this file with it)
SECRET = secrets.token_hex(24)
KEYS = ["images/cat.png", "images/dog.jpg", "images/鸟 bird (1).png"]
TASKS = [{"image": f"oss://demo/{k}", "caption": f"from oss://demo/{k}"} for k in KEYS]


def run(cmd, env=None, timeout=120):
    p = subprocess.run(cmd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    print(f"  $ {' '.join(str(c) for c in cmd[:3])} ... -> exit {p.returncode}", flush=True)
    for line in (p.stdout + p.stderr).strip().splitlines()[-12:]:
        print(f"    {line}", flush=True)
    return p


def mint(scope, sub="e2e-examples"):
    p = subprocess.run([BIN, "token", "--scope", scope, "--ttl", "1d", "--sub", sub],
                       env=clean_env(LS_PRESIGN_SECRET=SECRET), capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"ls-presign token --scope {scope}: {p.stderr}")
    return p.stdout.strip()


def pinned_requests():
    """The examples run with the requests that examples/requirements.txt pins (tests/e2e/run installs it)."""
    pin = re.search(r"^requests==(\S+)", (EXAMPLES / "requirements.txt").read_text(), re.M).group(1)
    out = subprocess.run([PY, "-c", "import requests; print(requests.__version__)"],
                         capture_output=True, text=True).stdout.strip()
    check(f"examples/requirements.txt: requests=={pin} is what the examples run with", out == pin, out)


def webhooks(ls, project):
    body = ls._call("GET", "/api/webhooks/", params={"project": project})
    body = body.get("results", []) if isinstance(body, dict) else body
    return [h for h in body if h.get("project") == project]


def personal_access_token(ls):
    """A new Personal Access Token of the LS user (None if it already has one: LS allows one)."""
    r = ls.request("POST", "/api/token/")
    return r.json().get("token") if r.status_code in (200, 201) else None


def check_register(ls, project, hook_url, webhook_token):
    script = str(EXAMPLES / "register_webhook.py")
    p = run([PY, script, "--project", str(project), "--url", hook_url, "--token", webhook_token,
             "--ls-url", ls.url, "--ls-token", os.environ["E2E_LS_TOKEN"]])
    check("register_webhook.py (flags): creates the webhook", p.returncode == 0 and "created" in p.stdout,
          p.stdout.strip() or p.stderr.strip()[-300:])
    # Second run, configured the documented way (environment variables): nothing new.
    p = run([PY, script, "--project", str(project), "--url", hook_url],
            env=clean_env(LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=os.environ["E2E_LS_TOKEN"],
                          LS_PRESIGN_WEBHOOK_TOKEN=webhook_token))
    check("register_webhook.py (environment), again: reuses the webhook",
          p.returncode == 0 and "already registered" in p.stdout, p.stdout.strip() or p.stderr.strip()[-300:])
    hooks = webhooks(ls, project)
    ok = (len(hooks) == 1 and hooks[0]["url"] == hook_url and hooks[0]["send_payload"] is True
          and hooks[0]["send_for_all_actions"] is False and hooks[0]["is_active"] is True
          and hooks[0]["headers"] == {"Authorization": f"Bearer {webhook_token}"}
          and hooks[0]["actions"] == ["TASKS_CREATED"])
    shown = [{k: h.get(k) for k in ("id", "url", "send_payload", "send_for_all_actions", "actions")} for h in hooks]
    check(f"project {project}: LS API shows exactly one webhook, as documented", ok, json.dumps(shown))

    # A rotated token: the same URL is updated in place, still one webhook, actions kept. This
    # run authenticates to LS with a Personal Access Token, when one can be created here.
    rotated = mint("webhook", sub="e2e-examples-rotated")  # differs from the first token
    key, how = personal_access_token(ls), "a Personal Access Token"
    if key is None:
        key, how = os.environ["E2E_LS_TOKEN"], "the legacy token"
        print("note: this LS user already has a Personal Access Token (a reused LS?): using the legacy token", flush=True)
    p = run([PY, script, "--project", str(project), "--url", hook_url, "--token", rotated],
            env=clean_env(LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=key))
    hooks = webhooks(ls, project)
    ok = (p.returncode == 0 and "updated" in p.stdout and len(hooks) == 1
          and hooks[0]["headers"] == {"Authorization": f"Bearer {rotated}"} and hooks[0]["actions"] == ["TASKS_CREATED"])
    check(f"register_webhook.py with a rotated token ({how}): updates the one webhook in place", ok,
          p.stdout.strip() + " " + json.dumps([{k: h.get(k) for k in ("id", "actions")} for h in hooks]))


def wait_written_back(ls, project, base, n):
    t0 = time.monotonic()
    while True:
        tasks = ls.list_tasks(project)
        done = [t for t in tasks if str(t["data"].get("image", "")).startswith(base + "/r/")]
        if len(done) == n or time.monotonic() - t0 > 30:
            break
        time.sleep(0.5)
    check(f"project {project}: the demo wrote every task back through the registered webhook",
          len(tasks) == n and len(done) == n, f"{len(done)}/{len(tasks)} in {time.monotonic() - t0:.1f} s")
    return tasks


def check_annotate(demo, project, tasks):
    script = str(EXAMPLES / "annotate.py")
    token = mint("resolve")
    with tempfile.TemporaryDirectory(prefix="ls-presign-annotate-") as out:
        before = route_count(demo.base, "/v1/projects/{id}/tasks")
        p = run([PY, script, demo.base, str(project), "--out", out, "--page-size", "2"],
                env=clean_env(LS_PRESIGN_TOKEN=token))
        pages = route_count(demo.base, "/v1/projects/{id}/tasks") - before
        check("annotate.py: pages through /v1/projects/{id}/tasks (3 tasks, 2 a page: 2 pages)", pages == 2,
              f"{pages} page requests")
        n = len(tasks)
        summary_line = f"project {project}: {n} tasks, {n} downloaded"
        check("annotate.py: exit 0 and its summary counts every task",
              p.returncode == 0 and summary_line in p.stdout and ", 0 skipped, 0 failed" in p.stdout,
              (p.stdout.strip().splitlines() or [p.stderr.strip()[-300:]])[-1])
        files = {f.name: f.read_bytes() for f in Path(out).iterdir()}
        for task, key in zip(tasks, KEYS):
            name = f"{task['id']}-{key.rsplit('/', 1)[-1]}"
            got = files.get(name)
            check(f"annotate.py: {name} equals assets/demo/ for {key}", got == asset_bytes(key),
                  "missing; have " + ", ".join(sorted(files)) if got is None else f"{len(got)} bytes")
        check("annotate.py: nothing else in the directory", len(files) == n, ", ".join(sorted(files)))

    # A token of the wrong scope is refused by ls-presign, and the script says so.
    with tempfile.TemporaryDirectory(prefix="ls-presign-annotate-") as out:
        p = run([PY, script, demo.base, str(project), "--out", out, "--token", mint("webhook")])
        check("annotate.py with a webhook token: exit 1, names insufficient_scope, downloads nothing",
              p.returncode != 0 and "insufficient_scope" in p.stderr and not any(Path(out).iterdir()),
              p.stderr.strip()[-300:])


def check_rust_example(demo):
    """examples/resolve.rs, sending a `resolve` token from $LS_PRESIGN_TOKEN (every /v1/* needs one)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(TASKS, f, ensure_ascii=False)
    try:
        p = run(["cargo", "run", "--quiet", "--locked", "--example", "resolve", "--", demo.base, f.name],
                env=clean_env(LS_PRESIGN_TOKEN=mint("resolve")), timeout=900)
    finally:
        os.unlink(f.name)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = None
    urls = [t.get("image", "") for t in out] if isinstance(out, list) else []
    ok = (p.returncode == 0 and len(urls) == len(KEYS)
          and all(u.startswith("http") and "x-oss-signature=" in u for u in urls)
          and "rewritten 3, skipped 0, failed 0" in p.stderr)
    check("examples/resolve.rs: every reference becomes a presigned URL", ok,
          (p.stderr.strip().splitlines() or ["no stderr"])[-1])
    import requests

    for url, key in zip(urls, KEYS):
        r = requests.get(url, timeout=10)
        check(f"examples/resolve.rs: the URL for {key} gives its bytes", r.status_code == 200
              and r.content == asset_bytes(key), f"{r.status_code}, {len(r.content)} bytes")


def check_deploy_files():
    """What can be checked here of files that need Docker or Kubernetes to run: they parse, are
    wired as documented, and the env template documents every setting and loads."""
    import yaml

    compose = yaml.safe_load((EXAMPLES / "docker-compose.yml").read_text())
    services = compose.get("services", {})
    ls_svc, lp = services.get("label-studio", {}), services.get("ls-presign", {})
    env = ls_svc.get("environment", {})
    ok = (ls_svc.get("image") == "heartexlabs/label-studio:1.23.2"
          and env.get("LABEL_STUDIO_SSRF_PROTECTION_ENABLED") == "false"
          and env.get("LABEL_STUDIO_ML_BLOCK_LOCAL_IP") == "false"
          and lp.get("build", {}).get("dockerfile") == "Dockerfile"
          and (EXAMPLES / lp.get("build", {}).get("context", "?") / "Dockerfile").resolve() == ROOT / "Dockerfile"
          and lp.get("env_file") == ["ls-presign.env"]
          and lp.get("environment", {}).get("LABEL_STUDIO_URL") == "http://label-studio:8080"
          and all("healthcheck" in svc and svc.get("networks") == ["labeling"] for svc in (ls_svc, lp)))
    check("examples/docker-compose.yml: LS 1.23.2 (SSRF off) + ls-presign (Dockerfile, env file), healthchecks, "
          "one network", ok, json.dumps({k: sorted(v) for k, v in services.items()}))

    template = (EXAMPLES / "ls-presign.env.example").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`", (ROOT / "docs" / "CONFIGURATION.md").read_text()))
    documented = {v for v in documented if v.startswith(("OSS_", "S3_", "AWS_", "LS_PRESIGN_", "LABEL_STUDIO_",
                                                         "BASIC_AUTH_")) or v in ("HOST", "PORT", "RUST_LOG")}
    missing = sorted(v for v in documented if not re.search(rf"^(# )?{v}=", template, re.M))
    check("examples/ls-presign.env.example: lists every variable of docs/CONFIGURATION.md", not missing,
          f"missing {missing}" if missing else f"{len(documented)} variables")
    # Filled in, with every commented setting switched on too (not the key files or TOML file,
    # which would have to exist): ls-presign must load it.
    fill = {"LS_ADMIN_PASSWORD": "pw", "LABEL_STUDIO_API_KEY": "0" * 40, "LS_PRESIGN_SECRET": "s" * 32,
            "OSS_ACCESS_KEY_ID": "LTAIexample", "OSS_ACCESS_KEY_SECRET": "example"}
    vars_ = {}
    for line in template.splitlines():
        m = re.match(r"^(?:# )?([A-Z][A-Z0-9_]+)=(\S*)$", line)
        if m and not m.group(1).endswith(("_FILE", "_FILES", "_ALGORITHM")) and m.group(1) != "LS_PRESIGN_CONFIG" \
                and not m.group(1).startswith(("S3_", "AWS_")) and (m.group(2) or m.group(1) in fill):
            vars_[m.group(1)] = m.group(2) or fill[m.group(1)]
    p = subprocess.run([BIN, "sign", "oss://my-bucket/cats/1.jpg"], env=clean_env(**vars_),
                       capture_output=True, text=True, timeout=30)
    check("examples/ls-presign.env.example, filled in: ls-presign loads it and signs",
          p.returncode == 0 and "x-oss-signature=" in p.stdout, (p.stdout + p.stderr).strip()[-300:])

    deploy = ROOT / "docs" / "deploy"
    kinds, problems = {}, []
    for f in sorted(deploy.glob("*.yaml")):
        try:
            for doc in yaml.safe_load_all(f.read_text()):
                if doc:
                    kinds[doc.get("kind")] = doc
        except yaml.YAMLError as e:
            problems.append(f"{f.name}: {e}")
    need = {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret", "Ingress", "ConfigMap"}
    check("docs/deploy/*.yaml: every document parses; Deployment, Service, HPA, Secret, Ingress present",
          not problems and need <= set(kinds), "; ".join(problems) or ", ".join(sorted(k for k in kinds if k)))
    pod = kinds.get("Deployment", {}).get("spec", {}).get("template", {}).get("spec", {})
    c = (pod.get("containers") or [{}])[0]
    ok = (c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health"
          and c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/ready"
          and {"requests", "limits"} <= set(c.get("resources", {}))
          and pod.get("securityContext", {}).get("runAsNonRoot") is True
          and c.get("securityContext", {}).get("allowPrivilegeEscalation") is False)
    check("docs/deploy/deployment.yaml: /health liveness, /ready readiness, resources, non-root", ok)
    secret = kinds.get("Secret", {}).get("stringData", {})
    check("docs/deploy/secret.yaml: placeholders only", all(v in ("", "REPLACE_ME") or v.startswith("REPLACE_ME")
                                                            for v in secret.values()), json.dumps(secret))


def checks(ls):
    check_deploy_files()
    pinned_requests()
    demo = Demo(env={"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": os.environ["E2E_LS_TOKEN"],
                     "LS_PRESIGN_SECRET": SECRET}, log_name="ls-presign-demo-examples.log")
    project = ls.create_project("ls-presign e2e: examples")["id"]
    check_register(ls, project, f"{demo.base}/webhook", mint("webhook"))
    imported = ls.import_tasks(project, [{"data": d} for d in TASKS])
    check(f"project {project}: LS imports {len(TASKS)} tasks with oss://demo/ references",
          imported.get("task_count") == len(TASKS), json.dumps(imported)[:200])
    tasks = wait_written_back(ls, project, demo.base, len(TASKS))
    check_annotate(demo, project, tasks)
    check_rust_example(demo)


if __name__ == "__main__":
    sys.exit(run_checks(checks))
