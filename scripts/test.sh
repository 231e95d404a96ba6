#!/usr/bin/env bash
# Runs every test of gama-vr-relay. First makes sure what the tests need is installed (idempotent,
# fast when already done):
#   * target/test-deps/venv: a Python venv with the real PyPI gama-client, which the fake
#     gama-server's credibility test drives (../shared/tools/gama_client_smoke.py);
#   * Debian's chromium (/usr/bin/chromium) and, in tests/browser, the npm package playwright-core
#     that drives it for the admin page's browser test (no browser is ever downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."

# The project's shared folder (protocol notes, the gama-client smoke script) sits next to the
# checkout; GAMA_VR_RELAY_SHARED points elsewhere (a clone in /tmp, for instance).
shared=${GAMA_VR_RELAY_SHARED:-../shared}
if [ ! -f "$shared/tools/requirements.txt" ]; then
  echo "scripts/test.sh: the shared folder is not at $shared (expected next to this checkout);" \
    "set GAMA_VR_RELAY_SHARED to its path" >&2
  exit 2
fi
export GAMA_VR_RELAY_SHARED
GAMA_VR_RELAY_SHARED=$(cd "$shared" && pwd)
venv=target/test-deps/venv
if ! "$venv/bin/python" -c 'import gama_client, websockets' 2>/dev/null; then
  echo "== setting up $venv (gama-client from PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$shared/tools/requirements.txt"
fi
export GAMA_CLIENT_PYTHON="$PWD/$venv/bin/python"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
want=$(node -p "require('./tests/browser/package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "require('./tests/browser/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "== installing playwright-core $want (tests/browser)"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

cargo test --workspace --locked --no-fail-fast "$@"
