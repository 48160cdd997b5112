"""Label Studio's own pages, the same image tasks served several ways (scripts/bench/ls_pages.sh).

One Label Studio 1.23.2 (fresh data directory, behind nginx), one OSS emulator answering every
request after --latency-ms (the store "30 ms away"), the same --tasks JPEG photos in it, and one
project per way of showing them:

- local-fuse:  Local Files storage on an rclone mount of the emulator's bucket (S3 API);
- local-plain: Local Files storage on a plain directory holding the same files (its lower bound);
- s3-proxy:    Label Studio's S3 storage, presign off: Label Studio streams every image;
- s3-presign:  Label Studio's S3 storage, presign on: Label Studio answers a redirect;
- link:        `ls-presign import` (stable links /r/<token>, 303 to a presigned URL);
- presign:     `ls-presign import --as presign` (presigned URLs written into the tasks);
- login:       stable links with LS_PRESIGN_LINK_POLICY=login, served under Label Studio's
               origin at /ls-presign/ (docs/LABEL_STUDIO.md §8).

For each way and each --annotators count it drives headless Chromium (scripts/bench/ls_pages.mjs)
through two pages: the Data Manager grid of every task (time until every thumbnail is decoded),
and the labeling page for --label-tasks tasks in a row (time from clicking the next task in the
Data Manager's list until its image is decoded in the editor; the list has no image column, so
nothing has loaded the image before). Each annotator is its own browser context (own session,
empty cache). The grid is then loaded once more in every context at once, with the images in the
browsers' caches: the browser's own floor for that page and that many annotators. Each page and
annotator count is measured for every way in turn; with --rounds N all of it N times, each round
starting one way further on, and a summary gives every way against s3-presign round by round.

Counted around each timed part: the CPU time of Label Studio's process group, of the ls-presign
service the page uses and of rclone (/proc), and the bytes nginx sent to browsers on behalf of
Label Studio and of ls-presign (its access log). Label Studio's bytes leave out its static app
files (/static/, /react-app/), which every way loads alike from an empty cache; its CPU cannot
be split so and includes serving them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import io
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time

import boto3
import numpy as np
import requests
from botocore.config import Config as BotoConfig
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
_import_bench = importlib.import_module("import")  # scripts/bench/import.py (`import` is a keyword)
LS, ROOT, LS_VENV, Stack = _import_bench.LS, _import_bench.ROOT, _import_bench.LS_VENV, _import_bench.Stack
free_port, group_cpu_seconds, say, stop_group = (_import_bench.free_port, _import_bench.group_cpu_seconds,
                                                 _import_bench.say, _import_bench.stop_group)

PREFIX = "images"
MODES = ["local-fuse", "local-plain", "s3-proxy", "s3-presign", "link", "presign", "login"]
PAGES = ["grid", "label"]
REFERENCE = "s3-presign"  # what --rounds compares every way against, round by round
# Label Studio's app itself (same for every way): kept out of its bytes per image.
ASSET_PATHS = ("/static/", "/react-app/")
# An image with a control tag: with the Image alone, Label Studio 1.23.2's editor shows no image.
LABEL_CONFIG = ('<View><Image name="image" value="$image"/>'
                '<Choices name="choice" toName="image"><Choice value="yes"/><Choice value="no"/></Choices></View>')


def photo(i: int, width: int = 1600, height: int = 1200) -> bytes:
    """A JPEG that compresses like a photograph: smooth colour gradients at three scales, plus
    grain that grows with i (232-742 KB at quality 90), different for every i."""
    rng = np.random.default_rng(i)

    def field(cols: int, rows: int) -> np.ndarray:  # random colours, smoothly interpolated
        small = (rng.random((rows, cols, 3)) * 255).astype(np.uint8)
        return np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), dtype=np.float32)

    img = field(4, 3) * 0.6 + field(24, 18) * 0.25 + field(160, 120) * 0.15
    grain = i % 10
    img += rng.normal(0, 0.5 + grain * 0.9, (height, width, 1)) + rng.normal(0, 0.5 + grain * 0.2, (height, width, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def threads_cpu_s(pid: int) -> float:
    """On-CPU time of a process's live threads (/proc/<pid>/task/*/schedstat, ns resolution): for
    the small per-image costs of ls-presign and rclone, whose threads live as long as they do.
    Label Studio starts a thread per request, whose time only /proc/<pid>/stat keeps."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return total / 1e9


def started(stack: Stack, pids_file: str, argv: list, **kw) -> subprocess.Popen:
    """Popen in a session of its own, stopped (the whole group) when the stack unwinds; its id is
    also written to pids_file for ls_pages.sh's EXIT trap, should this process die unclean."""
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    stack.push(lambda: stop_group(proc))
    with open(pids_file, "a") as f:
        f.write(f"{proc.pid}\n")
    return proc


def wait_until(what: str, proc: subprocess.Popen, check, log: str, timeout: float = 300) -> None:
    """Until check() is true; exits with the end of `log` (the run's directory goes on exit) if
    `proc` ends first or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.5)
    try:
        with open(log, errors="replace") as f:
            sys.stderr.write("".join(f.readlines()[-40:]))
    except OSError:
        pass
    state = f"exited ({proc.returncode})" if proc.poll() is not None else f"not ready after {timeout:.0f} s"
    sys.exit(f"bench: {what} {state}")


class Bench:
    def __init__(self, args) -> None:
        self.args, self.tmp = args, args.tmp
        self.pids = os.path.join(self.tmp, "pids")
        self.stack = Stack()
        self.rows: list[dict] = []

    # ---- the servers -------------------------------------------------------------------------

    def start_emulator(self) -> None:
        """scripts/bench/page_bench.rs with no images of its own: the emulator with --latency-ms
        on every request (the plain `serve` example has no latency setting), until stdin closes."""
        secret = secrets.token_hex(24)
        proc = started(self.stack, self.pids, [self.args.emulator, "--images", "0", "--latency-ms",
                                               str(self.args.latency_ms), "--secret", secret],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.stack.push(proc.stdin.close)
        line = proc.stdout.readline()
        if not line:
            sys.exit(f"bench: the emulator exited without serving (status {proc.wait()})")
        self.emu = json.loads(line)

    def seed(self) -> None:
        """The photos: PUT into the bucket under images/, and written to the plain directory."""
        e = self.emu
        client = boto3.client("s3", endpoint_url=e["endpoint"], region_name=e["region"],
                              aws_access_key_id=e["access_key_id"], aws_secret_access_key=e["access_key_secret"],
                              config=BotoConfig(s3={"addressing_style": "path"}, max_pool_connections=16,
                                                request_checksum_calculation="when_required",
                                                response_checksum_validation="when_required"))
        self.plain = os.path.join(self.tmp, "docroot", "plain", PREFIX)
        os.makedirs(self.plain)

        def one(i: int) -> int:
            body = photo(i)
            key = f"{i:04d}.jpg"
            with open(os.path.join(self.plain, key), "wb") as f:
                f.write(body)
            client.put_object(Bucket=e["bucket"], Key=f"{PREFIX}/{key}", Body=body, ContentType="image/jpeg")
            return len(body)

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            sizes = list(ex.map(one, range(self.args.tasks)))
        self.image_bytes = {"mean": statistics.mean(sizes), "min": min(sizes), "max": max(sizes)}
        say(f"{len(sizes)} photos, {self.image_bytes['min'] // 1000}-{self.image_bytes['max'] // 1000} KB, "
            f"mean {self.image_bytes['mean'] / 1000:.0f} KB")

    def mount(self) -> None:
        """rclone's FUSE mount of the bucket, read-only, with rclone's defaults otherwise (no VFS
        file cache: every read goes to the store)."""
        self.fuse = os.path.join(self.tmp, "docroot", "fuse")
        os.makedirs(self.fuse)
        e = self.emu
        # Debian's rclone 1.60 refuses to start with AWS_CA_BUNDLE set (unsupported transport),
        # and the emulator speaks plain HTTP anyway.
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        env.update(RCLONE_CONFIG_EMU_TYPE="s3", RCLONE_CONFIG_EMU_PROVIDER="Other",
                   RCLONE_CONFIG_EMU_ENDPOINT=e["endpoint"], RCLONE_CONFIG_EMU_REGION=e["region"],
                   RCLONE_CONFIG_EMU_ACCESS_KEY_ID=e["access_key_id"],
                   RCLONE_CONFIG_EMU_SECRET_ACCESS_KEY=e["access_key_secret"],
                   RCLONE_CONFIG_EMU_FORCE_PATH_STYLE="true")
        config = os.path.join(self.tmp, "rclone.conf")
        open(config, "w").close()
        log = os.path.join(self.tmp, "rclone.log")
        # Pushed before Label Studio starts, so unmounted after it has stopped (nothing open).
        self.stack.push(self.unmount)
        self.rclone = started(self.stack, self.pids, ["rclone", "--config", config, "mount", f"emu:{e['bucket']}",
                                                      self.fuse, "--read-only", "--log-file", log],
                              env=env, stdin=subprocess.DEVNULL)
        wait_until("rclone mount", self.rclone,
                   lambda: os.path.ismount(self.fuse) and len(os.listdir(os.path.join(self.fuse, PREFIX))) >= self.args.tasks,
                   log, timeout=60)

    def unmount(self) -> None:
        if os.path.ismount(self.fuse):
            if subprocess.run(["fusermount", "-u", self.fuse]).returncode != 0:
                subprocess.run(["umount", "-l", self.fuse])

    def start_ls_and_nginx(self) -> None:
        """Label Studio behind nginx, as tests/e2e/run runs it: nginx's front port is Label Studio's
        origin (LABEL_STUDIO_HOST), with the login-policy ls-presign at /ls-presign/; a second nginx
        port fronts the open-policy ls-presign. Every response nginx sends is logged with its size."""
        self.token = secrets.token_hex(20)
        self.user, self.password = "bench@example.com", secrets.token_urlsafe(12)
        ls_port, self.front_port, self.open_front = free_port(), free_port(), free_port()
        self.open_port, self.login_port = free_port(), free_port()
        self.front = f"http://127.0.0.1:{self.front_port}"
        self.ls_direct = f"http://127.0.0.1:{ls_port}"
        ng = os.path.join(self.tmp, "nginx")
        os.makedirs(ng)
        self.access_log = os.path.join(ng, "access.log")
        with open(os.path.join(ng, "nginx.conf"), "w") as f:
            f.write(f"""
worker_processes 1;
pid {ng}/nginx.pid;
error_log {ng}/error.log;
events {{ worker_connections 4096; }}
http {{
    log_format sizes '$upstream_addr $status $bytes_sent $uri';
    access_log {self.access_log} sizes;
    client_body_temp_path {ng}/body;
    proxy_temp_path {ng}/proxy;
    fastcgi_temp_path {ng}/fastcgi;
    uwsgi_temp_path {ng}/uwsgi;
    scgi_temp_path {ng}/scgi;
    # Answers stream through memory buffers: the workers may not write to the temporary dir.
    proxy_max_temp_file_size 0;
    proxy_read_timeout 600s;
    server {{
        listen 127.0.0.1:{self.front_port};
        client_max_body_size 200m;
        location /ls-presign/ {{ proxy_pass http://127.0.0.1:{self.login_port}/; proxy_set_header Host $http_host; }}
        location / {{ proxy_pass http://127.0.0.1:{ls_port}; proxy_set_header Host $http_host; }}
    }}
    server {{
        listen 127.0.0.1:{self.open_front};
        location / {{ proxy_pass http://127.0.0.1:{self.open_port}; proxy_set_header Host $http_host; }}
    }}
}}
""")
        nginx = started(self.stack, self.pids, ["nginx", "-c", f"{ng}/nginx.conf", "-p", ng, "-g", "daemon off;"],
                        stdin=subprocess.DEVNULL, stderr=open(os.path.join(ng, "stderr.log"), "wb"))
        self.upstreams = {f"127.0.0.1:{ls_port}": "ls", f"127.0.0.1:{self.open_port}": "ls_presign",
                          f"127.0.0.1:{self.login_port}": "ls_presign"}
        data = os.path.join(self.tmp, "ls-data")
        log = os.path.join(self.tmp, "ls.log")
        env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=data, LABEL_STUDIO_USERNAME=self.user,
                   LABEL_STUDIO_PASSWORD=self.password, LABEL_STUDIO_USER_TOKEN=self.token,
                   LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true", LABEL_STUDIO_SSRF_PROTECTION_ENABLED="false",
                   LABEL_STUDIO_ML_BLOCK_LOCAL_IP="false", LABEL_STUDIO_COLLECT_ANALYTICS="false",
                   LABEL_STUDIO_LATEST_VERSION_CHECK="false", LABEL_STUDIO_SENTRY_DSN="",
                   LABEL_STUDIO_FRONTEND_SENTRY_DSN="", LABEL_STUDIO_HOST=self.front,
                   LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
                   LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=os.path.join(self.tmp, "docroot"))
        self.ls_proc = started(self.stack, self.pids, [os.path.join(LS_VENV, "bin", "label-studio"), "start", "--no-browser",
                                                       "--internal-host", "127.0.0.1", "--port", str(ls_port), "--data-dir", data],
                               stdin=subprocess.DEVNULL, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
        say("starting Label Studio (the first start migrates its database, ~1 min)")

        def up() -> bool:  # through nginx: without it (a port taken, say) Label Studio never answers
            if nginx.poll() is not None:
                with open(os.path.join(ng, "stderr.log"), errors="replace") as f:
                    sys.stderr.write(f.read()[-2000:])
                sys.exit("bench: nginx exited")
            return requests.get(f"{self.front}/health/", timeout=2).ok

        wait_until("Label Studio", self.ls_proc, up, log)
        self.ls = LS(self.ls_direct, self.token)

    def presign_env(self, public_url: str, **extra) -> dict:
        e = self.emu
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "S3_", "LS_PRESIGN_", "LABEL_STUDIO_"))}
        env.update(OSS_BUCKET=e["bucket"], OSS_REGION=e["region"], OSS_ENDPOINT=e["endpoint"],
                   OSS_ADDRESSING_STYLE="path", OSS_ACCESS_KEY_ID=e["access_key_id"],
                   OSS_ACCESS_KEY_SECRET=e["access_key_secret"], LS_PRESIGN_SECRET=self.secret,
                   LS_PRESIGN_PUBLIC_URL=public_url, LS_PRESIGN_STATE_DIR=os.path.join(self.tmp, "state"),
                   RUST_LOG="warn", **extra)
        return env

    def start_presign(self) -> None:
        """Two `ls-presign serve`: links open to whoever has them, and links behind the Label Studio
        login. The login one asks Label Studio about sessions (LABEL_STUDIO_URL); its reconcile loop
        is off, so nothing but the pages costs Label Studio CPU."""
        self.secret = secrets.token_hex(32)
        self.open_env = self.presign_env(f"http://127.0.0.1:{self.open_front}", HOST="127.0.0.1", PORT=str(self.open_port))
        self.login_env = self.presign_env(
            f"{self.front}/ls-presign", HOST="127.0.0.1", PORT=str(self.login_port), LS_PRESIGN_LINK_POLICY="login",
            LABEL_STUDIO_URL=self.ls_direct, LABEL_STUDIO_API_KEY=self.token, LS_PRESIGN_CORS_ORIGIN=self.front,
            LS_PRESIGN_RECONCILE_INTERVAL="0")
        self.presign_procs = {}
        for name, env in (("open", self.open_env), ("login", self.login_env)):
            log = os.path.join(self.tmp, f"ls-presign-{name}.log")
            proc = started(self.stack, self.pids, [self.args.ls_presign, "serve"], env=env, stdin=subprocess.DEVNULL,
                           stdout=open(log, "wb"), stderr=subprocess.STDOUT)
            wait_until(f"ls-presign serve ({name})", proc,
                       lambda: requests.get(f"http://127.0.0.1:{env['PORT']}/health", timeout=2).ok, log, timeout=60)
            self.presign_procs[name] = proc

    # ---- the projects ------------------------------------------------------------------------

    def project(self, mode: str) -> dict:
        """A project holding the tasks `mode` shows, with two Data Manager views of them: the grid
        (ten columns) and the list the labeling page opens from."""
        ls = self.ls
        pid = ls.req("POST", "/api/projects", json={"title": f"bench {mode}", "label_config": LABEL_CONFIG})["id"]
        if mode.startswith("local-"):
            path = os.path.join(self.fuse, PREFIX) if mode == "local-fuse" else self.plain
            st = ls.req("POST", "/api/storages/localfiles", json={
                "project": pid, "title": mode, "path": path, "use_blob_urls": True, "regex_filter": ""})
            ls.req("POST", f"/api/storages/localfiles/{st['id']}/sync")
        elif mode.startswith("s3-"):
            e = self.emu
            st = ls.req("POST", "/api/storages/s3", json={
                "project": pid, "title": mode, "bucket": e["bucket"], "prefix": PREFIX, "use_blob_urls": True,
                "presign": mode == "s3-presign", "recursive_scan": True, "regex_filter": "", "s3_endpoint": e["endpoint"],
                "aws_access_key_id": e["access_key_id"], "aws_secret_access_key": e["access_key_secret"],
                "region_name": e["region"]})
            ls.req("POST", f"/api/storages/s3/{st['id']}/sync")
        else:
            env = dict(self.login_env if mode == "login" else self.open_env, LABEL_STUDIO_URL=self.ls_direct,
                       LABEL_STUDIO_API_KEY=self.token)
            p = subprocess.run([self.args.ls_presign, "import", "--project", str(pid), "--as",
                                "presign" if mode == "presign" else "link", f"oss://{self.emu['bucket']}/{PREFIX}/"],
                               env=env, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"ls-presign import ({mode}) failed: {p.stdout}\n{p.stderr[-2000:]}")
        tasks = ls.req("GET", f"/api/tasks?project={pid}&page_size={self.args.tasks + 10}&fields=all")["tasks"]
        if len(tasks) != self.args.tasks:
            raise RuntimeError(f"{mode}: {len(tasks)} tasks, expected {self.args.tasks}")
        grid = ls.req("POST", "/api/dm/views", json={"project": pid, "data": {
            "title": "grid", "type": "grid", "target": "tasks", "gridWidth": 10}})["id"]
        # The labeling page opens from a list without the image column: from the grid (or a list
        # with thumbnails) the Data Manager would load the images first, and the editor would
        # find them in the browser's cache.
        hidden = ["tasks:data.image"]
        listing = ls.req("POST", "/api/dm/views", json={"project": pid, "data": {
            "title": "list", "type": "list", "target": "tasks",
            "hiddenColumns": {"explore": hidden, "labeling": hidden}}})["id"]
        ids = sorted(t["id"] for t in tasks)
        say(f"{mode}: project {pid}, e.g. {tasks[0]['data']['image'][:110]}")
        return {"project": pid, "views": {"grid": grid, "label": listing}, "task_ids": ids}

    # ---- measuring ---------------------------------------------------------------------------

    def counters(self, mode: str) -> dict:
        presign = self.presign_procs["login" if mode == "login" else "open"]
        with open(self.access_log, "rb") as f:
            f.seek(0, 2)
            offset = f.tell()
        return {"ls": group_cpu_seconds(self.ls_proc.pid), "ls_presign": threads_cpu_s(presign.pid),
                "rclone": threads_cpu_s(self.rclone.pid), "log": offset, "t": time.monotonic()}

    def sent_between(self, start: int, end: int) -> tuple[dict, dict]:
        """Bytes nginx sent per server between two offsets of its access log, Label Studio's app
        files apart; and how many responses of each status ls-presign gave."""
        sent = {"ls": 0, "ls_assets": 0, "ls_presign": 0}
        statuses: dict = {}
        with open(self.access_log, "rb") as f:
            f.seek(start)
            for line in f.read(end - start).decode(errors="replace").splitlines():
                upstream, status, size, uri = (line.split(" ", 3) + ["", "", ""])[:4]
                server = self.upstreams.get(upstream)
                if server == "ls" and uri.startswith(ASSET_PATHS):
                    server = "ls_assets"
                if server == "ls_presign":
                    statuses[status] = statuses.get(status, 0) + 1
                if server:
                    sent[server] += int(size)
        return sent, statuses

    def measure(self, mode: str, proj: dict, page: str, annotators: int) -> dict:
        """One timed part, run by ls_pages.mjs: it sets up its browser contexts, says `ready`, is
        told `go` once the counters are read, and says `done` when every page has painted."""
        spec = {"ls": self.front, "user": self.user, "password": self.password, "page": page,
                "annotators": annotators, "project": proj["project"], "view": proj["views"][page],
                "tasks": self.args.tasks, "task_ids": proj["task_ids"][:self.args.label_tasks + 1],
                "warm": page == "grid", "timeout_s": self.args.page_timeout}
        node = started(self.stack, self.pids, ["node", os.path.join(ROOT, "scripts", "bench", "ls_pages.mjs"), json.dumps(spec)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        events: dict = {}

        def expect(event: str) -> dict:
            line = node.stdout.readline()
            if not line:
                raise RuntimeError(f"{mode} {page} x{annotators}: the browser driver ended before `{event}` ({node.wait()})")
            msg = json.loads(line)
            if msg.get("event") != event:
                raise RuntimeError(f"{mode} {page} x{annotators}: expected `{event}`, got {line.strip()[:500]}")
            return msg

        expect("ready")
        c0 = self.counters(mode)
        node.stdin.write("go\n")
        node.stdin.flush()
        events["done"] = expect("done")
        time.sleep(0.3)  # the last log lines, the last CPU ticks
        c1 = self.counters(mode)
        if spec["warm"]:
            node.stdin.write("go\n")
            node.stdin.flush()
            events["warm"] = expect("warm")
        node.stdin.close()
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stop_group(node)
        images = events["done"]["images_expected"]
        sent, statuses = self.sent_between(c0["log"], c1["log"])
        row = {"mode": mode, "page": page, "annotators": annotators, "images": images,
               "images_painted": events["done"]["images_painted"],
               "page_ms_median": events["done"]["median_ms"], "page_ms_all": events["done"]["ms"],
               "wall_s": c1["t"] - c0["t"] - 0.3,
               "ls_cpu_s": c1["ls"] - c0["ls"], "ls_cpu_ms_per_image": (c1["ls"] - c0["ls"]) * 1e3 / images,
               "ls_presign_cpu_ms_per_image": (c1["ls_presign"] - c0["ls_presign"]) * 1e3 / images,
               "rclone_cpu_ms_per_image": (c1["rclone"] - c0["rclone"]) * 1e3 / images,
               "browser_cpu_s": events["done"]["browser_cpu_s"],
               "ls_bytes_per_image": sent["ls"] / images, "ls_app_bytes": sent["ls_assets"],
               "ls_presign_bytes_per_image": sent["ls_presign"] / images, "ls_presign_statuses": statuses}
        if "warm" in events:
            row["warm_grid_ms"] = events["warm"]["median_ms"]
            row["warm_images_painted"] = events["warm"]["images_painted"]
        say(f"{mode} {page} x{annotators}: median {row['page_ms_median']} ms, "
            f"{row['images_painted']}/{images} painted, LS {row['ls_cpu_ms_per_image']:.2f} ms CPU/image"
            + (f", warm {row['warm_grid_ms']} ms" if "warm_grid_ms" in row else ""))
        return row

    def run(self) -> None:
        try:
            self.start_emulator()
            say(f"emulator at {self.emu['endpoint']}, {self.args.latency_ms} ms on every request")
            self.seed()
            self.mount()
            self.start_ls_and_nginx()
            self.start_presign()
            projects = {mode: self.project(mode) for mode in self.args.modes}
            # Each page and annotator count is measured for every way in turn, and each round
            # starts one way further on: a way is neither always first nor always after the same
            # other way, and a slow spell of the machine falls on several ways alike.
            for r in range(self.args.rounds):
                order = self.args.modes[r % len(self.args.modes):] + self.args.modes[:r % len(self.args.modes)]
                for annotators in self.args.annotators:
                    for page in self.args.pages:
                        for mode in order:
                            row = self.measure(mode, projects[mode], page, annotators)
                            self.rows.append(dict(row, round=r + 1))
        finally:
            self.stack.close()


def print_table(rows: list[dict]) -> None:
    print("| round | way | page | annotators | page time, median | painted | LS CPU / image | ls-presign CPU / image "
          "| rclone CPU / image | LS bytes / image | ls-presign bytes / image | browser CPU | grid, images cached |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        warm = f"{r['warm_grid_ms']} ms" if "warm_grid_ms" in r else ""
        page = "grid (all thumbnails)" if r["page"] == "grid" else "labeling (per task)"
        print(f"| {r['round']} | {r['mode']} | {page} | {r['annotators']} | {r['page_ms_median']} ms | {r['images_painted']}/{r['images']} "
              f"| {r['ls_cpu_ms_per_image']:.2f} ms | {r['ls_presign_cpu_ms_per_image']:.3f} ms "
              f"| {r['rclone_cpu_ms_per_image']:.2f} ms | {r['ls_bytes_per_image']:,.0f} B | {r['ls_presign_bytes_per_image']:,.0f} B "
              f"| {r['browser_cpu_s']:.1f} s | {warm} |", flush=True)


def summarize(rows: list[dict]) -> list[dict]:
    """Over the rounds, per page, annotator count and way: the median of the rounds' medians, their
    range, and against s3-presign (the best Label Studio does) measured in the same round: the
    ratio of the medians in each round and in how many rounds the way was faster."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["page"], r["annotators"], r["mode"]), []).append(r)
    out = []
    for (page, annotators, mode), measured in groups.items():
        by_round = {r["round"]: r["page_ms_median"] for r in measured}
        ref = {r["round"]: r["page_ms_median"] for r in groups.get((page, annotators, REFERENCE), [])}
        ratios = [by_round[n] / ref[n] for n in by_round if ref.get(n) and by_round[n] is not None]
        medians = [m for m in by_round.values() if m is not None]
        pooled = [x for r in measured for x in r["page_ms_all"] if x is not None]
        out.append({"page": page, "annotators": annotators, "mode": mode, "rounds": len(by_round),
                    "ms_median_of_rounds": statistics.median(medians) if medians else None,
                    "ms_rounds": [by_round[n] for n in sorted(by_round)],
                    "ms_median_all_rounds": statistics.median(pooled) if pooled else None,
                    f"ratio_to_{REFERENCE}": ratios, "faster_rounds": sum(x < 1 for x in ratios)})
    return out


def print_summary(summary: list[dict]) -> None:
    print(f"\n| page | annotators | way | rounds | median of the rounds' medians | each round | every time together, median "
          f"| against {REFERENCE}, each round | faster in |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in summary:
        ratios = s[f"ratio_to_{REFERENCE}"]
        against = " ".join(f"{x:.3f}" for x in ratios) if s["mode"] != REFERENCE else ""
        faster = f"{s['faster_rounds']} of {len(ratios)}" if s["mode"] != REFERENCE and ratios else ""
        print(f"| {s['page']} | {s['annotators']} | {s['mode']} | {s['rounds']} | {s['ms_median_of_rounds']} ms "
              f"| {' '.join(str(m) for m in s['ms_rounds'])} | {s['ms_median_all_rounds']} ms | {against} | {faster} |", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tmp", required=True, help="an empty directory for everything this run makes")
    p.add_argument("--ls-presign", required=True, help="the ls-presign binary (a release build)")
    p.add_argument("--emulator", required=True, help="the page_bench example binary (the emulator with latency)")
    p.add_argument("--out", help="write every row as JSON here")
    p.add_argument("--tasks", type=int, default=100, help="images, one task each (default 100)")
    p.add_argument("--label-tasks", type=int, default=20, help="tasks opened in a row on the labeling page (default 20)")
    p.add_argument("--annotators", default="1,8", help="annotators at once, comma-separated (default 1,8)")
    p.add_argument("--modes", default=",".join(MODES), help=f"ways to measure (default all: {','.join(MODES)})")
    p.add_argument("--pages", default=",".join(PAGES), help="pages to measure (default both: grid,label)")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure everything this many times, the ways alternated (default 1); "
                        f"with more than 1, a summary against {REFERENCE} follows the table")
    p.add_argument("--latency-ms", type=int, default=30, help="the store's latency on every request (default 30)")
    p.add_argument("--page-timeout", type=int, default=120, help="seconds a page may take before it counts as failed")
    args = p.parse_args()
    args.annotators = [int(x) for x in args.annotators.split(",")]
    wanted = args.modes.split(",")
    unknown = set(wanted) - set(MODES)
    if unknown:
        p.error(f"unknown modes {sorted(unknown)}; known: {MODES}")
    args.modes = [m for m in MODES if m in wanted]
    args.pages = args.pages.split(",")
    if set(args.pages) - set(PAGES) or not args.pages:
        p.error(f"--pages takes {','.join(PAGES)} or one of them")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.label_tasks + 1 > args.tasks:
        p.error("--label-tasks must be below --tasks (the first task opened is not timed)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    b = Bench(args)
    failed = None
    try:
        b.run()
    except (RuntimeError, requests.RequestException) as e:
        failed = e
    summary = summarize(b.rows) if args.rounds > 1 else None
    if b.rows:
        print_table(b.rows)
    if summary:
        print_summary(summary)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"tasks": args.tasks, "label_tasks": args.label_tasks, "latency_ms": args.latency_ms,
                       "rounds": args.rounds, "image_bytes": getattr(b, "image_bytes", None), "rows": b.rows,
                       "summary": summary, "error": str(failed) if failed else None}, f, indent=2)
    if failed:
        say(f"failed: {failed}")
        return 1
    incomplete = [r for r in b.rows if r["images_painted"] != r["images"]]
    for r in incomplete:
        say(f"{r['mode']} {r['page']} x{r['annotators']}: only {r['images_painted']} of {r['images']} images painted")
    return 1 if incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
