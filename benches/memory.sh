#!/usr/bin/env bash
# Memory under load: RSS of s3-orchestrator while 8 concurrent 1 GiB uploads, then 8 concurrent
# 1 GiB downloads, stream through it (fast backend in blackhole mode, so only the proxy holds
# anything). Prints the proxy's RSS before, the peak during each phase (sampled every 50 ms),
# and after. A benchmark, not a test: it prints numbers.
#   benches/memory.sh [SIZE] [CONCURRENCY]     (default 1GiB 8)
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-1GiB}"; conc="${2:-8}"
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
. benches/compare/stack.sh
start_stack 0 0
rss() { awk '/VmRSS/{print $2}' /proc/$ppid/status; }
sample() { # prints the peak RSS (KiB) until the file $1 exists
  local peak=0 r
  while [ ! -e "$1" ]; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.05; done
  echo "$peak"
}
L=("${LOADGEN[@]}" --size "$size" --concurrency "$conc" --threads 2 --warmup 0s --op-timeout 600s)
echo "proxy RSS at start: $(( $(rss) / 1024 )) MiB"
for phase in put get; do
  sample "$tmp/$phase.done" > "$tmp/$phase.peak" &
  spid=$!
  if [ $phase = put ]; then
    "${L[@]}" --workload put --ops "$conc" --payload chunked-crc32c | grep -E "^(PUT|TOTAL|machine)" || true
  else
    "${L[@]}" --workload get --ops "$conc" --objects "$conc" --prepare | grep -E "^(GET|TOTAL|machine)" || true
  fi
  touch "$tmp/$phase.done"; wait $spid
  echo "proxy peak RSS during $conc x $size ${phase^^}: $(( $(cat "$tmp/$phase.peak") / 1024 )) MiB"
done
echo "proxy RSS at end: $(( $(rss) / 1024 )) MiB"
