#!/usr/bin/env bash
# Profiles s3-orchestrator under one load with perf: fast backend + proxy (1 thread each) +
# load generator, `perf record -g` on the proxy during the measured run, then the top symbols.
#   benches/compare/profile.sh [loadtest run args...]   (default: GET 4KiB, concurrency 1, 5 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/compare/stack.sh
start_stack 1 1
L=("${LOADGEN[@]}" --threads 1)
args=("$@"); [ ${#args[@]} -eq 0 ] && args=(--workload get --size 4KiB --concurrency 1)
filtered=(); for a in "${args[@]}"; do [ "$a" != --prepare ] && filtered+=("$a"); done
if printf '%s\n' "${args[@]}" | grep -q -- --prepare || [ $# -eq 0 ]; then
  "${L[@]}" "${filtered[@]}" --prepare --ops 1 --warmup 0s >/dev/null
fi
c0=$(awk '{print $14+$15}' /proc/$ppid/stat)
perf record -F 4000 -g -p $ppid -o "$tmp/perf.data" -- sleep 6 >/dev/null 2>&1 &
perfpid=$!
sleep 0.3
"${L[@]}" "${filtered[@]}" --duration 5s --warmup 0s --json "$tmp/r.json" | tail -4
c1=$(awk '{print $14+$15}' /proc/$ppid/stat)
wait $perfpid || true
python3 - "$tmp/r.json" "$c0" "$c1" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1])); tick = os.sysconf("SC_CLK_TCK")
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / tick
n = r["total"]["count"]
print(f"proxy CPU {cpu:.2f} s for {n} requests: {cpu * 1e6 / max(n, 1):.1f} us/request (window includes ~1 s idle)")
PY
perf report -i "$tmp/perf.data" --no-children --sort dso -g none 2>/dev/null | grep -v "^#" | grep "%" | head -4
perf report -i "$tmp/perf.data" --no-children --sort dso,symbol -g none 2>/dev/null | grep -v "^#" | grep "%" | head -${TOP:-30}
