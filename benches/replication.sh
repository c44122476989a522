#!/usr/bin/env bash
# The cost of synchronous replication: PUT throughput through s3-orchestrator at replication
# factor 1, 2 and 3 (each PUT's body streamed to that many backends at once from one read of the
# client), 1 MiB and 64 MiB objects, in front of the fast blackhole backend of
# `s3o-loadtest serve-backend` (so the proxy's own work is what is measured).
#   benches/replication.sh            10 s per case (about 1.5 minutes)
#   benches/replication.sh --short    3 s per case
# Prints one table; no pass/fail on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
exec python3 benches/compare/replication.py "$@"
