#!/usr/bin/env bash
# Multipart comparison: one big object moved the way `aws s3 cp` moves it with its defaults
# (multipart upload, 8 MiB parts, 10 in flight; download by 8 MiB ranged GETs, 10 in flight),
# with `s3o-loadtest transfer`, direct to the fast backend, through the peers (nginx,
# nginx-tuned, haproxy) and through s3-orchestrator. Prints MB/s, CPU per GiB and peak RSS of
# each target, and us/direct, us/best peer. Writes target/compare/multipart.json.
#   benches/multipart.sh                 1 GiB, 3 interleaved rounds (about 1 minute)
#   benches/multipart.sh --short         256 MiB, one round
#   benches/multipart.sh --size 4GiB --part-size 16MiB --concurrency 10 --rounds 5
# Uses the same setup as benches/compare.sh (which installs nginx and haproxy when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
exec python3 benches/compare/multipart.py "$@"
