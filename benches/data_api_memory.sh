#!/usr/bin/env bash
# Memory of the data API's streamed routes: RSS of s3-orchestrator while one large file (2 GiB
# by default) is uploaded through `POST /api/backends/orchestrator/buckets/big/object` (a
# multipart/form-data form, as a browser sends it, from curl), downloaded through `GET .../object`
# and zipped through `GET .../objects/zip`, each to /dev/null, against an `fs` backend. Prints
# the proxy's RSS at start, the peak of each phase (sampled every 100 ms) and the throughput.
# A benchmark, not a test: it prints numbers.
#   benches/data_api_memory.sh [SIZE_MIB]     (default 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-2048}"
cargo build --release --locked -q -p s3-orchestrator
bin="$PWD/target/release/s3-orchestrator"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/s3o-data-mem.XXXXXX")"
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); A=$(port)
cat > "$tmp/proxy.toml" <<EOF
[server]
listen = "127.0.0.1:$P"
threads = 2
data_dir = "$tmp/meta"

[admin]
listen = "127.0.0.1:$A"

[access]
secret_key = "$(printf '7c%.0s' $(seq 32))"

[access.bootstrap_admin]
username = "bench"
password = "bench-password-1"

[[backends]]
name = "disk"
kind = "fs"
path = "$tmp/disk"

[[buckets]]
name = "big"
backends = ["disk"]

[[credentials]]
access_key = "AKIABENCHDATAMEM0001"
secret_key = "bench-secret-key-000000000000000000000"
EOF
"$bin" serve --config "$tmp/proxy.toml" > "$tmp/proxy.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$A/healthz" > /dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$A"
jar="$tmp/jar"
login() { curl -s -c "$jar" -b "$jar" -H 'Content-Type: application/json' -d "{\"username\":\"bench\",\"password\":\"$1\"}" "$base/auth/login/local" > /dev/null; }
login bench-password-1
csrf() { awk '$6=="stowage_csrf"{print $7}' "$jar"; }
curl -s -b "$jar" -c "$jar" -H "X-CSRF-Token: $(csrf)" -H 'Content-Type: application/json' \
  -d '{"current_password":"bench-password-1","new_password":"bench-password-2"}' "$base/api/me/password" > /dev/null
dd if=/dev/urandom of="$tmp/file.bin" bs=1M count="$size_mib" status=none
rss() { awk '/VmRSS/{print $2}' "/proc/$pid/status"; }
peak() { # the largest RSS (KiB) sampled every 100 ms until the file $1 exists
  local m=0 r
  while [ ! -e "$1" ]; do r=$(rss); [ "$r" -gt "$m" ] && m=$r; sleep 0.1; done
  echo "$m"
}
echo "data API memory: ${size_mib} MiB file, fs backend, 2 proxy cores on $(nproc) cores"
echo "proxy RSS at start: $(( $(rss) / 1024 )) MiB"
phase() { # name, then the curl arguments
  local name="$1"; shift
  peak "$tmp/$name.done" > "$tmp/$name.peak" &
  local spid=$! t0 t1
  t0=$(date +%s.%N)
  curl -sS -f -b "$jar" -H "X-CSRF-Token: $(csrf)" -o /dev/null "$@"
  t1=$(date +%s.%N)
  touch "$tmp/$name.done"; wait $spid
  python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print(f'$name: {t:.1f} s, {$size_mib/t:.0f} MiB/s, proxy RSS peak {int(sys.argv[3])//1024} MiB')" \
    "$t0" "$t1" "$(cat "$tmp/$name.peak")"
}
phase upload -F key=big.bin -F "file=@$tmp/file.bin" "$base/api/backends/orchestrator/buckets/big/object"
phase download "$base/api/backends/orchestrator/buckets/big/object?key=big.bin"
phase zip "$base/api/backends/orchestrator/buckets/big/objects/zip?key=big.bin"
echo "proxy RSS at end: $(( $(rss) / 1024 )) MiB"
