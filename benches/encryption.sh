#!/usr/bin/env bash
# The cost of encryption at rest and the gain of the object cache: 64 MiB PUT and GET into a
# bucket stored as sent and one sealed with AES-256-GCM, and 4 KiB GETs with and without the
# object cache, through s3-orchestrator in front of the in-memory backend of
# `s3o-loadtest serve-backend` (see benches/compare/encryption.py).
#   benches/encryption.sh            10 s per case (about 2 minutes)
#   benches/encryption.sh --short    3 s per case
# Prints one table; no pass/fail on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
exec python3 benches/compare/encryption.py "$@"
