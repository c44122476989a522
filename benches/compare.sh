#!/usr/bin/env bash
# Side-by-side benchmark: the same loads direct to a fast S3 backend, through nginx (a plain
# reverse proxy: no SigV4, no re-signing), and through s3-orchestrator, in one run.
#   benches/compare.sh              full run (about 7 minutes; the c=1 case runs 3 interleaved rounds)
#   benches/compare.sh --short      a quick version (CI): fewer cases, 2 s each, one round
#   benches/compare.sh --case TEXT  only the cases whose name contains TEXT
# Needs nginx (installed from apt when missing and we are root). Prints one table; writes
# target/compare/results.json. No pass/fail on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq nginx-light) >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null 2>&1 || true
  fi
fi
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
exec python3 benches/compare/compare.py "$@"
