#!/usr/bin/env bash
# What the browser sees: a page of 200 images through ls-presign stable links, presign mode
# versus proxy mode, with the OSS emulator answering every request after 30 ms; and, as the
# floor of any design that costs one 303 per image, the same page through a bare actix-web
# server answering each link with the presigned URL ls-presign gave for it; and with no hop
# at all, the page holding those presigned URLs ("direct").
#
#   bash scripts/bench/page.sh                 # 5 rounds of the four modes, in rotating order
#   RUNS=7 IMAGES=200 LATENCY_MS=30 IMAGE_SIDE=256 WORKERS=2 bash scripts/bench/page.sh
#   TLS=1 bash scripts/bench/page.sh           # the services (and the floor) over HTTPS + HTTP/2
#   TLS=1 STORE_H2=1 bash scripts/bench/page.sh  # ... and a store that offers browsers HTTP/2 too
#   TLS=1 FRONT=nginx bash scripts/bench/page.sh # TLS in nginx in front of plain-HTTP services
#   FLOOR=nginx bash scripts/bench/page.sh     # the floor answered by nginx instead of actix-web
#
# The emulator (scripts/bench/page_bench.rs) runs in its own process; two `ls-presign serve`
# processes (LS_PRESIGN_MODE=presign and =proxy, RUST_LOG=warn, the default worker count) read
# from it, so each service's CPU time is its own; scripts/bench/ceiling.rs is the floor (or, with
# FLOOR=nginx, nginx answering each link with a `return 303` from a map of the same pairs).
# scripts/bench/page.mjs drives Chromium (Debian's /usr/bin/chromium: apt-get install -y chromium iproute2;
# it reads each run's bytes on the wire with ss).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}
RUNS=${RUNS:-5}
IMAGES=${IMAGES:-200}
LATENCY_MS=${LATENCY_MS:-30}
IMAGE_SIDE=${IMAGE_SIDE:-256}
WORKERS=${WORKERS:-$(nproc)}   # HTTP workers of each service
PRESIGN_PORT=${PRESIGN_PORT:-19290}
PROXY_PORT=${PROXY_PORT:-19291}
FLOOR_PORT=${FLOOR_PORT:-19292}
TLS=${TLS:-0}
STORE_H2=${STORE_H2:-0}
FRONT=${FRONT:-}
FLOOR=${FLOOR:-actix}
[ "$STORE_H2" = 0 ] || [ "$TLS" = 1 ] || { echo "page.sh: STORE_H2=1 needs TLS=1 (browsers speak HTTP/2 over TLS only)" >&2; exit 2; }
[ -z "$FRONT" ] || { [ "$FRONT" = nginx ] && [ "$TLS" = 1 ]; } || { echo "page.sh: FRONT=nginx (the only front) needs TLS=1" >&2; exit 2; }
case $FLOOR in actix | nginx) ;; *) echo "page.sh: FLOOR is actix (scripts/bench/ceiling.rs) or nginx" >&2; exit 2 ;; esac
[ "$FRONT" != nginx ] && [ "$FLOOR" != nginx ] || command -v nginx >/dev/null || { echo "page.sh: FRONT=nginx and FLOOR=nginx need nginx (apt-get install -y nginx-light)" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/ls-presign-page.XXXXXX)}
[ -d tests/e2e/node_modules/playwright-core ] || (cd tests/e2e && npm ci --ignore-scripts >&2)

# The release build with symbols (Cargo.toml, [profile.profiling]), so perf can read the services.
cargo build --profile profiling --locked --bin ls-presign --example page_bench --example ceiling >&2
BIN=$CARGO_TARGET_DIR/profiling
# With FRONT set, nginx holds the public ports and the services and the floor listen on those + 10.
OFF=0
[ -z "$FRONT" ] || OFF=10
# Refuse to run next to anything on our ports: its answers would be taken for our servers'.
for p in "$PRESIGN_PORT" "$PROXY_PORT" "$FLOOR_PORT"; do
  for q in "$p" $([ "$OFF" = 0 ] || echo $((p + OFF))); do
    [ -z "$(ss -ltnH "( sport = :$q )")" ] || {
      echo "page.sh: port $q is already in use (another page.sh run?); set PRESIGN_PORT, PROXY_PORT, FLOOR_PORT" >&2; exit 2; }
  done
done
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
PIDS=()
cleanup() { exec 3>&- 2>/dev/null || true; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# wait_for PID LOG CMD...: run CMD every 0.1 s until it succeeds; if process PID ends first, or
# after 30 s, print LOG to stderr and exit 1.
wait_for() {
  local pid=$1 log=$2 i
  shift 2
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || { echo "page.sh: process $pid ended before \`$*\` succeeded; $log:" >&2; cat "$log" >&2; exit 1; }
    "$@" && return 0
    sleep 0.1
  done
  echo "page.sh: \`$*\` still failing after 30 s; $log:" >&2
  cat "$log" >&2
  exit 1
}
answer() { local u; for u; do curl -ksf -o /dev/null "$u" || return 1; done; } # URL...: each gives a status < 400
wait_up() { local pid=$1 log=$2; shift 2; wait_for "$pid" "$log" answer "$@"; } # PID LOG URL...

# With TLS=1 the services and the floor serve HTTPS (and so HTTP/2) with a throwaway self-signed
# certificate, which Chromium is told to accept by its key's hash. The emulator then serves
# browsers over HTTPS too, HTTP/1.1 only like OSS and S3 (OSS_PRESIGN_ENDPOINT), while the
# services read from its plain-HTTP port, as from an OSS -internal endpoint. STORE_H2=1 lets the
# store offer HTTP/2 as well (R2, MinIO over TLS, a CDN in front of the bucket).
SCHEME=http SERVER_TLS_ENV=() FLOOR_TLS=() EMULATOR_TLS=() SPKI=
if [ "$TLS" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1 -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
  SPKI=$(openssl x509 -in "$OUT/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der \
      | openssl dgst -sha256 -binary | base64)
  SCHEME=https
  [ -n "$FRONT" ] || {
    SERVER_TLS_ENV=(LS_PRESIGN_TLS_CERT_FILE="$OUT/cert.pem" LS_PRESIGN_TLS_KEY_FILE="$OUT/key.pem")
    FLOOR_TLS=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem")
  }
  EMULATOR_TLS=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem")
  [ "$STORE_H2" = 1 ] && EMULATOR_TLS+=(--store-h2)
fi
# nginx_head DIR: the start of an nginx.conf keeping its pid file, error log and temporary files
# in DIR, up to the open `http {` block; the caller adds its own directives and blocks and closes it.
nginx_head() {
  echo "pid $1/nginx.pid; error_log $1/error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http { access_log off; client_body_temp_path $1/body;"
}
# start_nginx DIR LOG: run nginx on DIR/nginx.conf in the foreground of a background job (in
# PIDS; its pid in NGINX_STARTED), stderr to LOG, and wait until it has written its pid file:
# nginx opens its listening sockets (ngx_init_cycle) before it writes that (main, also with
# `daemon off`), so it is listening then.
start_nginx() {
  rm -f "$1/nginx.pid"
  nginx -c "$1/nginx.conf" -g 'daemon off;' 2>"$2" &
  PIDS+=($!)
  NGINX_STARTED=$!
  wait_for "$NGINX_STARTED" "$2" test -s "$1/nginx.pid"
}
# With FRONT=nginx the TLS (and HTTP/2) ends in nginx instead, on the same public ports, and
# nginx forwards to the services and the floor over plain HTTP/1.1 keep-alive connections on
# those ports + 10 (OFF): the deployment behind a TLS proxy or ingress. Like ingress-nginx
# (docs/deploy/ingress.yaml) it streams responses instead of buffering them to temporary files
# (proxy_buffering off); access logging is off. Its workers' CPU is reported apart.
if [ "$FRONT" = nginx ]; then
  mkdir -p "$OUT/nginx"
  {
    echo "worker_processes $WORKERS;"
    nginx_head "$OUT/nginx"
    echo "  proxy_temp_path $OUT/nginx/proxy;"
    for p in "$PRESIGN_PORT" "$PROXY_PORT" "$FLOOR_PORT"; do
      echo "  upstream u$p { server 127.0.0.1:$((p + OFF)); keepalive 32; }"
      echo "  server { listen 127.0.0.1:$p ssl http2; ssl_certificate $OUT/cert.pem; ssl_certificate_key $OUT/key.pem;"
      echo "    location / { proxy_pass http://u$p; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off;"
      echo "      proxy_set_header Host \$host; proxy_set_header X-Forwarded-Proto https; } }"
    done
    echo "}"
  } >"$OUT/nginx/nginx.conf"
  start_nginx "$OUT/nginx" "$OUT/nginx/stderr.log"
  NGINX_PID=$NGINX_STARTED
fi
# The emulator serves until its stdin closes: keep a pipe open on fd 3.
mkfifo "$OUT/emu.in"
"$BIN/examples/page_bench" --latency-ms "$LATENCY_MS" --images "$IMAGES" --image-side "$IMAGE_SIDE" \
    --secret "$SECRET" "${EMULATOR_TLS[@]}" <"$OUT/emu.in" >"$OUT/emulator.json" 2>"$OUT/emulator.log" &
PIDS+=($!)
EMULATOR_PID=$!
exec 3>"$OUT/emu.in"
emulator_ready() { [ -s "$OUT/emulator.json" ] && [ -z "$(tail -c 1 "$OUT/emulator.json")" ]; } # its whole JSON line
wait_for "$EMULATOR_PID" "$OUT/emulator.log" emulator_ready
val() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$OUT/emulator.json" "$1"; }

serve() { # MODE PORT
  env -i PATH="$PATH" HOME="$HOME" RUST_LOG=warn HOST=127.0.0.1 PORT=$(($2 + OFF)) LS_PRESIGN_MODE="$1" \
      LS_PRESIGN_SECRET="$SECRET" LS_PRESIGN_PUBLIC_URL="$SCHEME://127.0.0.1:$2" "${SERVER_TLS_ENV[@]}" \
      OSS_BUCKET="$(val bucket)" OSS_REGION="$(val region)" OSS_ENDPOINT="$(val endpoint)" OSS_PRESIGN_ENDPOINT="$(val presign_endpoint)" \
      OSS_ADDRESSING_STYLE=path OSS_ACCESS_KEY_ID="$(val access_key_id)" \
      OSS_ACCESS_KEY_SECRET="$(val access_key_secret)" LS_PRESIGN_WORKERS="$WORKERS" \
      "$BIN/ls-presign" serve >"$OUT/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1}_PID=$!"
}
serve presign "$PRESIGN_PORT"
serve proxy "$PROXY_PORT"
wait_up "$presign_PID" "$OUT/presign.log" "$SCHEME://127.0.0.1:$PRESIGN_PORT/health"
wait_up "$proxy_PID" "$OUT/proxy.log" "$SCHEME://127.0.0.1:$PROXY_PORT/health"

# The floor: each image's presigned URL, as the presign-mode service redirects to it.
python3 -c "import json,sys; print('\n'.join(json.load(open(sys.argv[1]))['tokens']))" "$OUT/emulator.json" \
  | while read -r t; do echo "$t $(curl -ks -o /dev/null -w '%{redirect_url}' "$SCHEME://127.0.0.1:$PRESIGN_PORT/r/$t")"; done \
  >"$OUT/links.txt"
[ "$(grep -c ' http' "$OUT/links.txt")" = "$IMAGES" ] || { echo "page.sh: no presigned URL for some images" >&2; exit 1; }
echo "services speak: $(curl -ks --http2 -o /dev/null -w "%{http_version}" "$SCHEME://127.0.0.1:$PRESIGN_PORT/health")," \
     "the store: $(curl -ks --http2 -o /dev/null -w "%{http_version}" "$(head -1 "$OUT/links.txt" | cut -d' ' -f2)")" >&2
if [ "$FLOOR" = nginx ]; then
  # One nginx process (no master, so its CPU is that pid's), serving TLS and HTTP/2 exactly when
  # the services do. `return 303` also sends nginx's small HTML body, so it does a little more
  # than the actix floor.
  mkdir -p "$OUT/floor-nginx"
  LISTEN=";"
  [ "${#SERVER_TLS_ENV[@]}" = 0 ] || LISTEN=" ssl http2; ssl_certificate $OUT/cert.pem; ssl_certificate_key $OUT/key.pem;"
  {
    echo "master_process off;"
    nginx_head "$OUT/floor-nginx"
    echo "  map_hash_bucket_size 512; map_hash_max_size 8192;"
    echo "  map \$uri \$floor_location { default \"\";"
    while read -r t u; do echo "    \"/r/$t\" \"$u\";"; done <"$OUT/links.txt"
    echo "  }"
    echo "  server { listen 127.0.0.1:$((FLOOR_PORT + OFF))$LISTEN"
    echo "    location /r/ { if (\$floor_location = \"\") { return 404; }"
    echo "      add_header Cache-Control \"private, max-age=3240\" always; return 303 \$floor_location; } } }"
  } >"$OUT/floor-nginx/nginx.conf"
  start_nginx "$OUT/floor-nginx" "$OUT/floor.log"
  floor_PID=$NGINX_STARTED
else
  "$BIN/examples/ceiling" "127.0.0.1:$((FLOOR_PORT + OFF))" "$WORKERS" "$OUT/links.txt" "${FLOOR_TLS[@]}" 2>"$OUT/floor.log" &
  PIDS+=($!)
  floor_PID=$!
fi
# Up once it answers a link with its 303 (through nginx, a 502 until then).
wait_up "$floor_PID" "$OUT/floor.log" "$SCHEME://127.0.0.1:$FLOOR_PORT/r/$(head -1 "$OUT/links.txt" | cut -d' ' -f1)"

FRONT_PIDS=$([ "$FRONT" = nginx ] && pgrep -P "$NGINX_PID" | tr '\n' ' ' || true) \
python3 - "$OUT/emulator.json" "$OUT/links.txt" "$OUT/spec.json" "$presign_PID" "$proxy_PID" "$floor_PID" \
    "$PRESIGN_PORT" "$PROXY_PORT" "$FLOOR_PORT" "$SCHEME" "$SPKI" <<'PY'
import json, os, sys
emu, spec = json.load(open(sys.argv[1])), sys.argv[3]
locations = [line.split(" ", 1)[1] for line in open(sys.argv[2]).read().splitlines()]
presign, proxy, floor = (int(p) for p in sys.argv[4:7])
scheme, spki = sys.argv[10:12]
origin = lambda port: f"{scheme}://127.0.0.1:{port}"
mode = lambda pid, port, paths: {"pid": pid, "origin": origin(port), "urls": [f"{origin(port)}/r/{p}" for p in paths]}
json.dump({"chromium_args": [f"--ignore-certificate-errors-spki-list={spki}"] if spki else [],
           "front_pids": [int(p) for p in os.environ["FRONT_PIDS"].split()], "modes": {
    "presign": mode(presign, sys.argv[7], emu["tokens"]),
    "proxy": mode(proxy, sys.argv[8], emu["tokens"]),
    "floor": mode(floor, sys.argv[9], emu["tokens"]),
    # No hop at all: the presigned URLs themselves, as /v1/resolve?mode=presign returns them.
    "direct": {"pid": presign, "origin": origin(sys.argv[7]), "urls": locations},
}}, open(spec, "w"))
PY
echo "images: $IMAGES x $(val image_bytes) bytes, emulator latency ${LATENCY_MS} ms, services and store over $SCHEME" \
     "$([ "$STORE_H2" = 1 ] && echo "(store offers HTTP/2)")" "$([ -n "$FRONT" ] && echo "(TLS in $FRONT)")" "(floor: $FLOOR)" | tee "$OUT/summary.txt"
# node runs in the background with its pid in PIDS, so that the EXIT trap stops it (and so its
# Chromiums) when this script is interrupted or terminated. Its output reaches the terminal and
# summary.txt through tee on a FIFO; tee is waited for, so the summary is whole when this ends,
# and is in PIDS too, so the trap never waits on a tee whose writer never came.
mkfifo "$OUT/summary.fifo"
tee -a "$OUT/summary.txt" <"$OUT/summary.fifo" &
PIDS+=($!)
TEE_PID=$!
node scripts/bench/page.mjs --spec "$OUT/spec.json" --runs "$RUNS" 2>"$OUT/runs.jsonl" >"$OUT/summary.fifo" &
PIDS+=($!)
wait $!   # node's exit status; set -e ends the script with it
wait "$TEE_PID"
echo "runs: $OUT/runs.jsonl" >&2
