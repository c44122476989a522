#!/usr/bin/env bash
# Memory under load: RSS of s3-orchestrator while 8 concurrent 1 GiB uploads, then 8 concurrent
# 1 GiB downloads, stream through it (fast backend in blackhole mode, so only the proxy holds
# anything). Prints the proxy's RSS before, the peak during each phase (sampled every 50 ms),
# and after. A benchmark, not a test: it prints numbers.
#   benches/memory.sh [SIZE] [CONCURRENCY]     (default 1GiB 8)
#
# The multipart case: one object uploaded as a multipart upload the way the aws cli sends it
# (aws-chunked parts with a CRC32C trailer, PART each, CONCURRENCY in flight), then read back by
# ranged GETs of PART, CONCURRENCY in flight, with the proxy's RSS sampled every 200 ms through
# both (min / median / max, and the highest sample of each fifth of the phase, to show whether
# it grows with the bytes moved). Part n is generated stream n (s3o_loadtest::pattern); the
# backend (pattern mode) keeps no data: it checks every byte of every part it receives and
# regenerates the object for reads, and the reader compares every byte of every range with the
# generator, so the object makes a full round trip without being stored anywhere.
#   benches/memory.sh multipart [SIZE] [PART] [CONCURRENCY]   (default 5GiB 8MiB 10)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p s3-orchestrator -p s3o-loadtest
. benches/compare/stack.sh
rss() { awk '/VmRSS/{print $2}' /proc/$ppid/status; }

if [ "${1:-}" = multipart ]; then
  size="${2:-5GiB}"; part="${3:-8MiB}"; conc="${4:-10}"
  STORAGE=pattern start_stack 0 0
  samples() { # appends the proxy's RSS (KiB) to $1 every 200 ms until the file $2 exists
    while [ ! -e "$2" ]; do rss >> "$1"; sleep 0.2; done
  }
  summary() { # min / median / max of the samples in $1, and the max of each fifth, in MiB
    python3 - "$1" <<'PY'
import sys
v = [int(x) / 1024 for x in open(sys.argv[1]).read().split()]
s = sorted(v)
fifths = [v[i * len(v) // 5:(i + 1) * len(v) // 5] for i in range(5)]
by_fifth = " / ".join(f"{max(f):.1f}" if f else "-" for f in fifths)
print(f"min {s[0]:.1f} MiB, median {s[len(s) // 2]:.1f} MiB, max {s[-1]:.1f} MiB ({len(v)} samples); "
      f"max by fifth of the phase: {by_fifth} MiB")
PY
  }
  T=("$rel/s3o-loadtest" transfer --endpoint "http://127.0.0.1:$P" --access-key "$STACK_AK"
     --secret-key "$STACK_SK" --bucket bench --key memory/multipart --size "$size" --part-size "$part"
     --concurrency "$conc" --threads 2 --data unique --op-timeout 600s)
  echo "proxy RSS at start: $(( $(rss) / 1024 )) MiB"
  for phase in upload download; do
    samples "$tmp/$phase.rss" "$tmp/$phase.done" &
    spid=$!
    if [ $phase = upload ]; then
      status=0; "${T[@]}" --phase upload --payload chunked-crc32c || status=$?
    else
      status=0; "${T[@]}" --phase download --verify || status=$?
    fi
    touch "$tmp/$phase.done"; wait $spid
    [ $status = 0 ] || { echo "the $phase failed (exit $status)"; exit 1; }
    echo "proxy RSS during the $size multipart $phase: $(summary "$tmp/$phase.rss")"
  done
  echo "proxy RSS at end: $(( $(rss) / 1024 )) MiB"
  echo "every part was checked byte for byte by the backend as it arrived, every range by the reader"
  exit 0
fi

size="${1:-1GiB}"; conc="${2:-8}"
start_stack 0 0
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
