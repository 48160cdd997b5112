#!/usr/bin/env bash
# Import benchmark (see import.py): runs import.py with Label Studio's own venv (target/ls-venv,
# made by `bash tests/e2e/run --install-only`), which already has boto3 and requests.
#   bash scripts/bench/import.sh --only ls --objects 10000
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=target/ls-venv/bin/python
[ -x "$PY" ] || { echo "bench: no $PY; run: bash tests/e2e/run --install-only" >&2; exit 1; }
exec "$PY" scripts/bench/import.py "$@"
