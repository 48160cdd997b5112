#!/usr/bin/env bash
# Runs a benchmark that needs Label Studio and the emulator (scripts/bench/<name>.py) with the
# release builds it measures: builds ls-presign and the emulator's `serve` example, installs
# Label Studio's venv when missing (tests/e2e/run --install-only; it has boto3 and requests).
#   bash scripts/bench/with-ls.sh import --objects 10000
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1; shift
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --bin ls-presign -p ls-presign
cargo build --release --locked -p oss-emulator --example serve
[ -x target/ls-venv/bin/python ] || bash tests/e2e/run --install-only
exec target/ls-venv/bin/python "scripts/bench/$name.py" \
  --ls-presign "$CARGO_TARGET_DIR/release/ls-presign" --emulator "$CARGO_TARGET_DIR/release/examples/serve" "$@"
