#!/usr/bin/env bash
# Import benchmark (scripts/bench/import.py): Label Studio's own S3 storage sync against
# `ls-presign import`, N objects in the OSS emulator, one fresh Label Studio 1.23.2.
#   bash scripts/bench/import.sh                                 # 10,000 objects
#   bash scripts/bench/import.sh --objects 10000 --objects 100000
# Builds what it measures (scripts/bench/with-ls.sh) and leaves nothing running.
exec bash "$(dirname "$0")/with-ls.sh" import "$@"
