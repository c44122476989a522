#!/usr/bin/env bash
# The cost of store-managed credentials on the request path: 4 KiB GETs through one
# s3-orchestrator signed with a key from the config file, then with one of 10,000 keys minted
# through the multi-user API (sealed in the store, opened into the live snapshot), in one run, in
# front of the in-memory `s3o-loadtest serve-backend`.
#   benches/access.sh            10 s per case, 2 rounds in ABBA order
#   benches/access.sh --short    3 s per case, 1 round
# Prints one table; no pass/fail on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
exec python3 benches/compare/access.py "$@"
