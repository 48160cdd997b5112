#!/usr/bin/env bash
# Load benchmark: GET /r/{token} (warm cache), the same with LS_PRESIGN_LINK_POLICY=login (a
# signed-in browser's cookie, its session answer cached; a stand-in answers Label Studio's
# whoami), POST /v1/resolve (100 tasks per request) and the bare actix-web 303 ceiling
# (scripts/bench/ceiling.rs), side by side in one run, with wrk against 127.0.0.1. Targets are interleaved round by round so machine noise hits all of them alike;
# the summary gives medians over the rounds.
#
#   bash scripts/bench/load.sh                     # 3 rounds x 10 s per target
#   ROUNDS=5 DURATION=10s CONNECTIONS=32 THREADS=1 bash scripts/bench/load.sh
#
# Needs wrk (apt-get install -y wrk). Builds into $CARGO_TARGET_DIR (default /tmp/bench-target).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
SVC_PORT=${SVC_PORT:-19090}
QUIET_PORT=${QUIET_PORT:-19091}
CEIL_PORT=${CEIL_PORT:-19190}
LOGIN_PORT=${LOGIN_PORT:-19092}
WHOAMI_PORT=${WHOAMI_PORT:-19093}
OUT=${OUT:-$(mktemp -d /tmp/ls-presign-load.XXXXXX)}
command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }

# The release build with symbols (Cargo.toml, [profile.profiling]), so perf can read the services.
cargo build --profile profiling --locked --bin ls-presign --example ceiling >&2
BIN=$CARGO_TARGET_DIR/profiling
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start_demo NAME PORT [VAR=VALUE...]: the demo (emulator + service), its link and admin token.
start_demo() {
  local name=$1 port=$2; shift 2
  env HOST=127.0.0.1 PORT="$port" "$@" "$BIN/ls-presign" demo >"$OUT/$name.out" 2>"$OUT/$name.log" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q 'Press Ctrl-C' "$OUT/$name.out" 2>/dev/null && break; sleep 0.1; done
  grep -q 'Press Ctrl-C' "$OUT/$name.out" || { echo "demo $name did not start" >&2; cat "$OUT/$name.log" >&2; exit 1; }
}
# Label Studio's whoami for the login policy: 200 with a user for the bench's session cookie.
python3 - "$WHOAMI_PORT" <<'PY' 2>"$OUT/whoami.log" &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = "sessionid=bench-session" in (self.headers.get("Cookie") or "") or not self.path.startswith("/api/current-user/")
        body = json.dumps({"id": 1} if ok else {"detail": "Authentication credentials were not provided."}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        sys.stderr.write("whoami %s\n" % self.path)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)
start_demo svc "$SVC_PORT"                 # defaults: access log at info, to a file
start_demo quiet "$QUIET_PORT" RUST_LOG=warn  # the same without the access log
start_demo login "$LOGIN_PORT" LS_PRESIGN_LINK_POLICY=login LABEL_STUDIO_URL="http://127.0.0.1:$WHOAMI_PORT" \
  LABEL_STUDIO_API_KEY=bench-token         # default logging, links behind the login
"$BIN/examples/ceiling" "127.0.0.1:$CEIL_PORT" 2>"$OUT/ceiling.log" &
PIDS+=($!)
sleep 0.5

link=$(grep -m1 -E '^ +http://.*/r/' "$OUT/svc.out" | tr -d ' ')
token=$(grep -A1 'API token for this run' "$OUT/svc.out" | tail -1 | tr -d ' ')
qlink=$(grep -m1 -E '^ +http://.*/r/' "$OUT/quiet.out" | tr -d ' ')
llink=$(grep -m1 -E '^ +http://.*/r/' "$OUT/login.out" | tr -d ' ')
COOKIE="Cookie: csrftoken=bench; sessionid=bench-session"
path=${link#http://127.0.0.1:$SVC_PORT}
echo "link: $link" >&2

# 100 Label Studio tasks (image + every tenth an HTML caption quoting a second object).
python3 - "$OUT/tasks100.json" <<'PY'
import json, sys
tasks = []
for i in range(100):
    d = {"image": f"oss://demo/images/2026-11-27/IMG_{i:07}.jpg", "site": f"warehouse-{i % 9}"}
    if i % 10 == 0:
        d["caption"] = f'<p>Reference: <img src="oss://demo/ref/{i:07}.png"/></p>'
    tasks.append({"id": 1000 + i, "data": d, "meta": {}, "annotations": [], "predictions": []})
json.dump(tasks, open(sys.argv[1], "w"), indent=2)
PY
cat >"$OUT/resolve.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local f = io.open("$OUT/tasks100.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA

# Warm the caches and check each target answers as expected.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$link")" = 303 ] || { echo "/r did not answer 303" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$qlink")" = 303 ] || { echo "/r (quiet) did not answer 303" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$llink")" = 401 ] || { echo "/r (login) without a cookie did not answer 401" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$COOKIE" "$llink")" = 303 ] || { echo "/r (login) did not answer 303" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CEIL_PORT$path")" = 303 ] || { echo "ceiling did not answer 303" >&2; exit 1; }
rew=$(curl -s -D - -o /dev/null -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      --data-binary @"$OUT/tasks100.json" "http://127.0.0.1:$SVC_PORT/v1/resolve" | tr -d '\r' | awk -F': ' 'tolower($1)=="ls-presign-rewritten"{print $2}')
[ "$rew" = 110 ] || { echo "/v1/resolve rewrote '$rew' references, expected 110" >&2; exit 1; }

run() { # NAME ROUND URL [wrk args...]
  local name=$1 round=$2 url=$3; shift 3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$OUT/$name.$round.txt"
  local rps p50 p99 non
  rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/$name.$round.txt")
  p50=$(awk '$1=="50%"{print $2}' "$OUT/$name.$round.txt")
  p99=$(awk '$1=="99%"{print $2}' "$OUT/$name.$round.txt")
  non=$(awk '/Non-2xx or 3xx/{print $NF}' "$OUT/$name.$round.txt")
  echo "$name round=$round rps=$rps p50=$p50 p99=$p99 non2xx3xx=${non:-0}" | tee -a "$OUT/results.txt" >&2
}
for r in $(seq "$ROUNDS"); do
  run ceiling "$r" "http://127.0.0.1:$CEIL_PORT$path"
  run r_link "$r" "$link"
  run r_link_quiet "$r" "$qlink"
  run r_login "$r" "$llink" -H "$COOKIE"
  run resolve100 "$r" "http://127.0.0.1:$SVC_PORT/v1/resolve" -s "$OUT/resolve.lua"
done

python3 - "$OUT/results.txt" "$THREADS" "$CONNECTIONS" "$DURATION" "$ROUNDS" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    rows.setdefault(line.split()[0], []).append(f)
def ms(s):
    v, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
med = {n: (statistics.median(float(f["rps"]) for f in fs),
           statistics.median(ms(f["p50"]) for f in fs),
           statistics.median(ms(f["p99"]) for f in fs)) for n, fs in rows.items()}
ceil = med["ceiling"][0]
print(f"wrk -t{sys.argv[2]} -c{sys.argv[3]} -d{sys.argv[4]}, median of {sys.argv[5]} interleaved rounds")
print(f"{'target':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'/ceiling':>9}")
for n in ["ceiling", "r_link", "r_link_quiet", "r_login", "resolve100"]:
    if n in med:
        rps, p50, p99 = med[n]
        print(f"{n:<14} {rps:>10.0f} {p50:>8.2f} {p99:>8.2f} {rps / ceil:>8.1%}")
if "resolve100" in med:
    print(f"resolve100: {med['resolve100'][0] * 110:.0f} references/s (110 per request)")
for n, fs in rows.items():
    print(n, "rounds:", " ".join(f["rps"] for f in fs))
PY
echo "Label Studio session lookups during the run: $(grep -c current-user "$OUT/whoami.log" || true)" >&2
echo "raw wrk output: $OUT" >&2
