# Sourced by the benchmark scripts: starts the fast backend (blackhole storage, or STORAGE=pattern:
# bodies checked against the generator and regenerated for reads) and s3-orchestrator in front
# of it on free 127.0.0.1 ports, stops both on exit.
#   start_stack PROXY_THREADS BACKEND_THREADS     (0: one per core)
# Sets: rel (release dir), tmp, B (backend port), P (proxy port), bpid, ppid, and
# LOADGEN (an array: `s3o-loadtest run` against the proxy with the stack's key and bucket).
# DATA_DIR overrides where the proxy keeps its metadata; PROXY_BIN which proxy binary runs
# (for before/after comparisons); BENCH_CONFIG another proxy config (default benches/compare/proxy.toml).

rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
CONFIG=${BENCH_CONFIG:-benches/compare/proxy.toml}
STACK_AK=$(sed -n '/^\[\[credentials\]\]/,$s/^access_key = "\(.*\)"/\1/p' "$CONFIG")
STACK_SK=$(sed -n '/^\[\[credentials\]\]/,$s/^secret_key = "\(.*\)"/\1/p' "$CONFIG")

start_stack() {
  local proxy_threads="$1" backend_threads="$2"
  tmp=$(mktemp -d /tmp/s3o-bench-XXXX)
  local port='import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
  B=$(python3 -c "$port"); P=$(python3 -c "$port")
  local bthreads=(); [ "$backend_threads" -gt 0 ] && bthreads=(--threads "$backend_threads")
  "$rel/s3o-loadtest" serve-backend --listen "127.0.0.1:$B" "${bthreads[@]}" --storage "${STORAGE:-blackhole}" \
    --exit-after 600s >/dev/null 2>&1 &
  bpid=$!
  BENCH_PROXY_PORT=$P BENCH_PROXY_THREADS=$proxy_threads BENCH_DATA_DIR="${DATA_DIR:-$tmp/meta}" \
    BENCH_BACKEND_PORT=$B RUST_LOG=warn "${PROXY_BIN:-$rel/s3-orchestrator}" serve --config "$CONFIG" >"$tmp/proxy.log" 2>&1 &
  ppid=$!
  trap 'kill $ppid $bpid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
  LOADGEN=("$rel/s3o-loadtest" run --endpoint "http://127.0.0.1:$P" --access-key "$STACK_AK"
           --secret-key "$STACK_SK" --bucket bench)
}
