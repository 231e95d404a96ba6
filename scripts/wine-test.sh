#!/usr/bin/env bash
# Tests the Windows program under Wine (tests/windows_wine.rs): most teachers run the relay on
# Windows, which the test machines are not. Installs what it needs, once (idempotent): Debian's
# wine, wine64 and mingw-w64, the Rust target x86_64-pc-windows-gnu. Then:
#   * builds gama-vr-relay.exe (a debug build: the test drives it, nobody is handed it), in
#     target/cross/ apart from the usual target/debug;
#   * builds the test-only stand-in bcryptprimitives.dll from tests/wine/ (Debian's Wine 8 lacks the
#     ProcessPrng that Rust's standard library needs) and puts both in target/wine/app/;
#   * prepares a Wine prefix in target/wine/prefix (once);
#   * runs the unit tests of the .env and path handling (config::, packages::) as Windows programs
#     under Wine: Windows paths (C:\…, \\?\…) exist only there;
#   * runs tests/windows_wine.rs with every piece required (a missing one fails it instead of
#     skipping it).
#
# Usage: scripts/wine-test.sh [cargo test arguments]
#        eval "$(scripts/wine-test.sh --env)"   only build and prepare, then print the variables the
#                                               test needs (scripts/test.sh does this)
set -euo pipefail
cd "$(dirname "$0")/.."

env_only=false
if [ "${1:-}" = --env ]; then
  env_only=true
  shift
  # Progress goes to stderr: stdout is for the variables.
  exec 3>&1 1>&2
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
wine_loader() { command -v wine64 || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; } || true; }
if [ -z "$(wine_loader)" ] || ! command -v x86_64-w64-mingw32-gcc > /dev/null; then
  echo "== installing Debian's wine, wine64 and mingw-w64"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    wine wine64 gcc-mingw-w64-x86-64 > /dev/null
fi
wine=$(wine_loader)
triple=x86_64-pc-windows-gnu
rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"

started=$SECONDS
echo "== building gama-vr-relay.exe ($triple, debug)"
CARGO_TARGET_DIR=$PWD/target/cross cargo build --locked --quiet --target "$triple" --bin gama-vr-relay
app=target/wine/app
mkdir -p "$app"
cp target/cross/$triple/debug/gama-vr-relay.exe "$app/"
dll=$app/bcryptprimitives.dll
if [ ! -f "$dll" ] || [ tests/wine/bcryptprimitives.c -nt "$dll" ] || [ tests/wine/bcryptprimitives.def -nt "$dll" ]; then
  echo "== building the test-only stand-in $dll"
  x86_64-w64-mingw32-gcc -shared -O2 -Wall -Wextra -Werror -static-libgcc -o "$dll" \
    tests/wine/bcryptprimitives.c tests/wine/bcryptprimitives.def -ladvapi32
fi

export WINEPREFIX=$PWD/target/wine/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "== preparing the Wine prefix $WINEPREFIX"
  "$wine" wineboot --init > /dev/null 2>&1 || true
  wineserver -w
  [ -f "$WINEPREFIX/system.reg" ] || {
    echo "wine-test.sh: Wine could not prepare $WINEPREFIX" >&2
    exit 1
  }
fi
echo "== ready in $((SECONDS - started)) s: $("$wine" --version) ($wine)"

vars=(
  "GAMA_VR_RELAY_WINDOWS_EXE=$PWD/$app/gama-vr-relay.exe"
  "GAMA_VR_RELAY_WINE=$wine"
  "WINEPREFIX=$WINEPREFIX"
)
if $env_only; then
  printf 'export %q\n' "${vars[@]}" >&3
  exit 0
fi
echo "== unit tests of config:: and packages:: as a Windows program"
# The stand-in DLL is found through Wine's PATH: the test programs are not beside it.
WINEPATH=$("$wine" winepath -w "$PWD/$app" 2> /dev/null) \
  WINEDLLOVERRIDES="$WINEDLLOVERRIDES;bcryptprimitives=n,b" \
  CARGO_TARGET_DIR=$PWD/target/cross CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$wine \
  cargo test --locked --quiet --target "$triple" --lib -- config:: packages::
echo "== tests/windows_wine.rs"
export "${vars[@]}"
cargo test --locked --test windows_wine "$@" -- --include-ignored
