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
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
tmp=$(mktemp -d /tmp/s3o-memory-XXXX)
port() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
B=$(port); P=$(port)
cat > "$tmp/p.toml" <<TOML
[server]
listen = "127.0.0.1:$P"
data_dir = "$tmp/meta"
[[backends]]
name = "fast"
kind = "s3"
endpoint = "http://127.0.0.1:$B"
bucket = "real"
access_key = "x"
secret_key = "y"
[[buckets]]
name = "mem"
backends = ["fast"]
[[credentials]]
access_key = "AKIAMEMORYTEST000001"
secret_key = "memory-test-secret-key-0000000000000000"
TOML
"$rel/s3o-loadtest" serve-backend --listen "127.0.0.1:$B" --storage blackhole --exit-after 600s >/dev/null 2>&1 &
bpid=$!
RUST_LOG=warn "$rel/s3-orchestrator" serve --config "$tmp/p.toml" >"$tmp/proxy.log" 2>&1 &
ppid=$!
trap 'kill $ppid $bpid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/{print $2}' /proc/$ppid/status; }
sample() { # prints the peak RSS (KiB) until the file $1 exists
  local peak=0 r
  while [ ! -e "$1" ]; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.05; done
  echo "$peak"
}
L=("$rel/s3o-loadtest" run --endpoint "http://127.0.0.1:$P" --access-key AKIAMEMORYTEST000001
   --secret-key memory-test-secret-key-0000000000000000 --bucket mem --size "$size"
   --concurrency "$conc" --threads 2 --warmup 0s --op-timeout 600s)
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
