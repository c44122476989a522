#!/usr/bin/env bash
# Side-by-side benchmark: the same loads direct to a fast S3 backend, through plain reverse
# proxies (no SigV4, no re-signing: nginx as configured before, nginx tuned for large bodies,
# HAProxy), and through s3-orchestrator, in one run; every ratio is also taken against the best
# peer of its case, which the table names.
#   benches/compare.sh              full run (about 9 minutes; the c=1 case runs 3 interleaved rounds)
#   benches/compare.sh --short      a quick version (CI): fewer cases, 2 s each, one round
#   benches/compare.sh --case TEXT  only the cases whose name contains TEXT
# Needs nginx and haproxy (installed from apt when missing and we are root; a peer that is
# missing is left out). Prints one table; writes target/compare/results.json. No pass/fail on
# timing. benches/multipart.sh runs the multipart upload / ranged download comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if [ "$(id -u)" = 0 ] && { ! have nginx || ! have haproxy; }; then
  updated=
  if ! have nginx; then
    (apt-get update -qq && apt-get install -y -qq nginx-light) >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null 2>&1 || true
    updated=1
  fi
  if ! have haproxy; then
    { [ -n "$updated" ] || apt-get update -qq; apt-get install -y -qq haproxy; } >/dev/null 2>&1 || true
  fi
fi
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
exec python3 benches/compare/compare.py "$@"
