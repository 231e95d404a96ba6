#!/usr/bin/env bash
# Runs every test of gama-vr-relay. First makes sure what the tests need is installed (idempotent,
# fast when already done), then runs them all, those a plain `cargo test` lists as ignored for lack
# of an outside tool included (--include-ignored); a missing tool fails its test:
#   * target/test-deps/venv: a Python venv with the real PyPI gama-client (pinned in
#     testkit/python/requirements.txt), which testkit/python/check_gama_client.py drives;
#   * Debian's chromium (/usr/bin/chromium) and, in tests/browser, the npm package playwright-core
#     that drives it for the admin page's browser tests (no browser is ever downloaded);
#   * Debian's fonts-noto-core, whose Noto Sans Thai, Lao and Khmer draw the page in those languages;
#   * Debian's ffmpeg (the stand-in headsets' H.264 pictures) and adb (the real ADB command-line
#     client, checked against the stand-in ADB server).
# Arguments go to `cargo test` (e.g. scripts/test.sh --test routing).
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=testkit/python/requirements.txt
venv=target/test-deps/venv
stamp=$venv/.requirements
if ! cmp -s "$requirements" "$stamp" 2>/dev/null || ! "$venv/bin/python" -c 'import gama_client' 2>/dev/null; then
  echo "== setting up $venv (gama-client from PyPI)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi
export GAMA_CLIENT_PYTHON="$PWD/$venv/bin/python"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
# Fonts with Thai, Lao and Khmer letters (Noto Sans Thai, Lao, Khmer), so that the admin page's
# browser test sees real glyphs in those languages, not boxes.
if [ ! -e /usr/share/fonts/truetype/noto/NotoSansKhmer-Regular.ttf ]; then
  echo "== installing Debian's fonts-noto-core (Thai, Lao and Khmer letters)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq fonts-noto-core >/dev/null
fi
# The headset screens' stand-ins: a real H.264 picture, and the real ADB client to check them.
if ! command -v ffmpeg >/dev/null || ! command -v adb >/dev/null; then
  echo "== installing Debian's ffmpeg and adb (headset screens)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ffmpeg adb >/dev/null
fi
want=$(node -p "require('./tests/browser/package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "require('./tests/browser/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "== installing playwright-core $want (tests/browser)"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

# The Windows program and Wine, for tests/windows_wine.rs (see scripts/wine-test.sh).
wine_env=$(scripts/wine-test.sh --env)
eval "$wine_env"

# The tests' own arguments (after a `--`) get --include-ignored too.
if [[ " $* " == *" -- "* ]]; then
  cargo test --workspace --locked --no-fail-fast "$@" --include-ignored
else
  cargo test --workspace --locked --no-fail-fast "$@" -- --include-ignored
fi
