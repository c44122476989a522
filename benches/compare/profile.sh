#!/usr/bin/env bash
# Profiles s3-orchestrator under one load with perf: fast backend + proxy (1 thread each) +
# load generator, `perf record -g` on the proxy during the measured run, then the top symbols.
#   benches/compare/profile.sh [loadtest run args...]   (default: GET 4KiB, concurrency 1, 5 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
tmp=$(mktemp -d /tmp/s3o-profile-XXXX)
port() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
B=$(port); P=$(port)
cat > "$tmp/p.toml" <<TOML
[server]
listen = "127.0.0.1:$P"
threads = 1
data_dir = "${DATA_DIR:-$tmp/meta}"
[[backends]]
name = "fast"
kind = "s3"
endpoint = "http://127.0.0.1:$B"
bucket = "real"
access_key = "x"
secret_key = "y"
[[buckets]]
name = "bench"
backends = ["fast"]
[[credentials]]
access_key = "AKIABENCHMARK0000001"
secret_key = "bench-secret-key-000000000000000000000000"
TOML
"$rel/s3o-loadtest" serve-backend --listen "127.0.0.1:$B" --threads 1 --storage blackhole --exit-after 120s >/dev/null 2>&1 &
bpid=$!
RUST_LOG=warn "$rel/s3-orchestrator" serve --config "$tmp/p.toml" >"$tmp/proxy.log" 2>&1 &
ppid=$!
trap 'kill $ppid $bpid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
L=("$rel/s3o-loadtest" run --endpoint "http://127.0.0.1:$P" --access-key AKIABENCHMARK0000001
   --secret-key bench-secret-key-000000000000000000000000 --bucket bench --threads 1)
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
