#!/usr/bin/env bash
# Export benchmark (scripts/bench/export.py): `ls-presign export` of N annotations from a fresh
# Label Studio 1.23.2 to the OSS emulator (and again, nothing changed), and the live export under
# a burst of annotation webhooks (all written, none lost).
#   bash scripts/bench/export.sh                                   # 10,000 annotations, 1,000 webhooks
#   bash scripts/bench/export.sh --annotations 10000 --burst 1000 --concurrency 16
# Builds what it measures (scripts/bench/with-ls.sh) and leaves nothing running.
exec bash "$(dirname "$0")/with-ls.sh" export "$@"
