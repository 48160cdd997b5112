#!/usr/bin/env bash
# Label Studio 1.23.2's own pages (the Data Manager grid, the labeling page) showing the same
# image tasks through Local Files (on a FUSE mount of the bucket, and on a plain directory), its
# S3 storage (proxy and presign), and ls-presign (stable links, presigned URLs, links behind the
# login), with the store 30 ms away, for 1 and 8 annotators at once. What is measured and how:
# scripts/bench/ls_pages.py.
#
#   bash scripts/bench/ls_pages.sh --out ls_pages.json     # --tasks 100 --label-tasks 20 --annotators 1,8
#   bash scripts/bench/ls_pages.sh --tasks 10 --label-tasks 3 --annotators 1,2   # a quick try
#   bash scripts/bench/ls_pages.sh --modes link,s3-proxy   # only some ways
#   bash scripts/bench/ls_pages.sh --modes s3-presign,link,presign,login --pages label --rounds 5   # repeated, alternated
#
# Installs what is missing (as root on Debian, like scripts/debian-deps): chromium, nginx, curl,
# python3-venv (scripts/debian-deps), rclone and fuse3 (the mount); Label Studio's venv
# (tests/e2e/run --install-only; it has boto3, requests, numpy and Pillow) and playwright-core
# (tests/e2e/node_modules). Builds ls-presign and the emulator (scripts/bench/page_bench.rs, which
# has the latency setting) in release mode. Every server listens on 127.0.0.1 only; everything
# started is stopped, and the mount undone, on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

bash scripts/debian-deps
missing=()
command -v rclone >/dev/null || missing+=(rclone)
command -v fusermount >/dev/null || missing+=(fuse3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ls_pages: installing ${missing[*]} (apt)" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x target/ls-venv/bin/label-studio ] && [ -d tests/e2e/node_modules/playwright-core ] || bash tests/e2e/run --install-only
cargo build --release --locked --bin ls-presign --example page_bench

TMP=$(mktemp -d /tmp/ls-pages.XXXXXX)
PY_PID=
# Also when ls_pages.py could not clean up itself (killed): its process groups (it writes their
# ids to $TMP/pids), then the mount, then the files.
cleanup() {
  local rc=$?
  set +e
  [ -z "$PY_PID" ] || { kill "$PY_PID" 2>/dev/null; wait "$PY_PID" 2>/dev/null; }
  if [ -f "$TMP/pids" ]; then
    while read -r pid; do kill -- "-$pid" 2>/dev/null; done <"$TMP/pids"
  fi
  if mountpoint -q "$TMP/docroot/fuse" 2>/dev/null; then
    fusermount -u "$TMP/docroot/fuse" 2>/dev/null || umount -l "$TMP/docroot/fuse"
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In the background, so that a signal to this script reaches the trap (and the trap stops it).
target/ls-venv/bin/python scripts/bench/ls_pages.py --tmp "$TMP" --ls-presign "$CARGO_TARGET_DIR/release/ls-presign" \
  --emulator "$CARGO_TARGET_DIR/release/examples/page_bench" "$@" &
PY_PID=$!
wait "$PY_PID"
