#!/usr/bin/env bash
# Conformance: the ceph/s3-tests suite (../shared/conformance, beside the repo) through
# s3-orchestrator in front of two SeaweedFS servers, then the ratchet.
#   proxy/tests/conformance/run.sh            # the whole suite; fails when fewer pass than `ratchet`
#   proxy/tests/conformance/run.sh --record   # the whole suite; writes the count into `ratchet`
#                                             # and the passing tests into `passing.txt`
#   proxy/tests/conformance/run.sh -k multipart   # a subset (pytest args): no ratchet
# Builds nothing: S3O_BIN names the proxy binary (else the newest target/{release,debug} one).
# Environment: E2E_VENV (default $REPO/.venv, shared with the e2e suite), CONFORMANCE_DIR (default
# $REPO/../shared/conformance), S3TESTS_OUT (results dir; default a new temp dir),
# CONFORMANCE_TIMEOUT_SECS (whole run, default 900), CONFORMANCE_BACKENDS (SeaweedFS servers, 2),
# and run-s3-tests.sh's own knobs (S3TESTS_TIMEOUT, ...).
# Prints the suite's `N passed, N failed`, the ratchet verdict and the tests of passing.txt that
# no longer pass (a regression list for reading; the ratchet number is the gate).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"

record=0
if [ "${1:-}" = "--record" ]; then record=1; shift; fi
subset=0
[ $# -gt 0 ] && subset=1
if [ $record -eq 1 ] && [ $subset -eq 1 ]; then echo "conformance: --record takes no pytest args" >&2; exit 2; fi

suite="${CONFORMANCE_DIR:-$repo/../shared/conformance}"
[ -x "$suite/run-s3-tests.sh" ] || { echo "conformance: no $suite/run-s3-tests.sh (set CONFORMANCE_DIR)" >&2; exit 2; }

# The e2e suite's venv (weed, boto3, the harness' packages) plus the conformance suite's packages.
venv="${E2E_VENV:-$repo/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  echo "== conformance: creating venv $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
reqs=("$repo/proxy/tests/e2e/requirements.txt" "$suite/requirements.txt")
stamp="$venv/.conformance-requirements.sha256"
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== conformance: installing ${reqs[*]}"
  timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "${reqs[0]}" -r "${reqs[1]}"
  echo "$want" > "$stamp"
fi

out="${S3TESTS_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/s3o-conformance.XXXXXX")}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
t0=$(date +%s)
set +e
S3TESTS_OUT="$out" S3TESTS_PYTHON="$venv/bin/python" \
  timeout --signal=TERM --kill-after=60 "${CONFORMANCE_TIMEOUT_SECS:-900}" \
  "$venv/bin/python" "$here/stack.py" --backends "${CONFORMANCE_BACKENDS:-2}" --keep-logs "$out/servers" -- \
  "$suite/run-s3-tests.sh" "{endpoint}" "{access_key}" "{secret_key}" "$@" 2>&1 | tee "$out/run.log"
rc=${PIPESTATUS[0]}
set -e
secs=$(( $(date +%s) - t0 ))
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "conformance: the run did not finish within ${CONFORMANCE_TIMEOUT_SECS:-900} s"
fi

line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out/run.log" | tail -1 || true)"
if [ -z "$line" ] || [ ! -f "$out/passed.txt" ]; then
  echo "conformance: no result (exit $rc after ${secs} s); logs in $out"
  exit 1
fi
passed=${line%% passed*}
echo "conformance: ${line} in ${secs} s; results in $out"
[ $subset -eq 1 ] && exit 0

if [ $record -eq 1 ]; then
  echo "$passed" > "$here/ratchet"
  sort "$out/passed.txt" > "$here/passing.txt"
  echo "conformance: recorded ratchet $passed and $(wc -l < "$here/passing.txt") tests in passing.txt"
  exit 0
fi

ratchet=$(tr -dc '0-9' < "$here/ratchet")
regressed="$(comm -23 <(sort "$here/passing.txt") <(sort "$out/passed.txt"))"
if [ -n "$regressed" ]; then
  echo "conformance: $(echo "$regressed" | wc -l) test(s) of passing.txt no longer pass:"
  echo "$regressed" | sed 's/^/  /'
fi
if [ "$passed" -lt "$ratchet" ]; then
  echo "conformance: FAILED: $passed passed, fewer than the ratchet ($ratchet, proxy/tests/conformance/ratchet)"
  exit 1
fi
if [ "$passed" -gt "$ratchet" ]; then
  echo "conformance: $passed passed, above the ratchet ($ratchet): raise it with" \
       "\`proxy/tests/conformance/run.sh --record\` and commit ratchet and passing.txt"
else
  echo "conformance: $passed passed, at the ratchet ($ratchet)"
fi
