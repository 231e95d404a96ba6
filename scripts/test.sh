#!/usr/bin/env bash
# Runs every test of gama-vr-relay. First makes sure what the tests need is installed (idempotent,
# fast when already done):
#   * target/test-deps/venv: a Python venv with the real PyPI gama-client, which the fake
#     gama-server's credibility test drives (../shared/tools/gama_client_smoke.py).
set -euo pipefail
cd "$(dirname "$0")/.."

shared=../shared
venv=target/test-deps/venv
if ! "$venv/bin/python" -c 'import gama_client, websockets' 2>/dev/null; then
  echo "== setting up $venv (gama-client from PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$shared/tools/requirements.txt"
fi
export GAMA_CLIENT_PYTHON="$PWD/$venv/bin/python"

cargo test --workspace --locked --no-fail-fast "$@"
