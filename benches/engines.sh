#!/usr/bin/env bash
# Metadata engines side by side: metadata-bound loads (4 KiB PUT and GET, ListObjectsV2 of 1,000
# keys) through s3-orchestrator on sled (one proxy) and on PostgreSQL (one proxy, and three
# sharing one database), in front of a blackhole backend. Needs PostgreSQL's server binaries
# (Debian's postgresql package; installed from apt when missing and we are root).
#   benches/engines.sh            10 s per case (about 2 minutes)
#   benches/engines.sh --short    3 s per case
# Prints one table; no pass/fail on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${S3O_PG_BIN:-}" ] && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -qq postgresql || { apt-get update -qq && apt-get install -y -qq postgresql; }) >/dev/null 2>&1 || true
fi
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
exec python3 benches/compare/engines.py "$@"
