#!/usr/bin/env bash
# Import benchmark (scripts/bench/import.py): Label Studio's own S3 storage sync against
# `ls-presign import`, N objects in the OSS emulator, one fresh Label Studio 1.23.2.
#   bash scripts/bench/import.sh                                 # 10,000 objects
#   bash scripts/bench/import.sh --objects 10000 --objects 100000
# Builds ls-presign (release) and the emulator, installs Label Studio's venv when missing
# (tests/e2e/run --install-only; it has boto3 and requests), and leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --bin ls-presign -p ls-presign
cargo build --release --locked -p oss-emulator --example serve
[ -x target/ls-venv/bin/python ] || bash tests/e2e/run --install-only
exec target/ls-venv/bin/python scripts/bench/import.py \
  --ls-presign "$CARGO_TARGET_DIR/release/ls-presign" --emulator "$CARGO_TARGET_DIR/release/examples/serve" "$@"
