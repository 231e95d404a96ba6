#!/usr/bin/env bash
# Builds the release archives of gama-vr-relay, one per platform, into target/release-archives/:
#
#   gama-vr-relay-<version>-windows-x86_64.zip      x86_64-pc-windows-gnu, linked by Debian's mingw-w64
#   gama-vr-relay-<version>-linux-x86_64.tar.gz     x86_64-unknown-linux-musl, static
#   gama-vr-relay-<version>-macos-arm64.tar.gz      aarch64-apple-darwin  } cross-linked by zig (PyPI
#   gama-vr-relay-<version>-macos-x86_64.tar.gz     x86_64-apple-darwin   } ziglang), no Apple SDK
#   SHA256SUMS                                      one line per archive in the folder
#
# Each archive holds one folder with the program, README.md, config/default.toml, example.env and
# an empty learning-packages/. The archives are reproducible: same sources, same bytes (file times
# are the last commit's, owners and order fixed).
#
# Usage: scripts/release.sh [--fast] [TARGET...]
#   TARGET: windows, linux, macos (both), macos-arm64, macos-x86_64, all (the default)
#   --fast  no link-time optimisation, no optimisation: minutes instead of many, to check that every
#           target still builds, links and packs (CI); into target/release-archives-fast/, never
#           to be handed out.
#
# It installs what it needs, once (idempotent): the Rust targets (rustup), Debian's mingw-w64,
# musl-tools and file (apt-get), cargo-zigbuild (cargo install --locked) and zig (PyPI ziglang, in
# a venv under target/). Builds go to target/cross/ (target/cross-fast/ with --fast), apart from the usual
# target/debug and target/release.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=false
targets=()
for arg in "$@"; do
  case "$arg" in
    --fast) fast=true ;;
    windows | linux | macos-arm64 | macos-x86_64) targets+=("$arg") ;;
    macos) targets+=(macos-arm64 macos-x86_64) ;;
    all) targets+=(windows linux macos-arm64 macos-x86_64) ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "release.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(windows linux macos-arm64 macos-x86_64)

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
if $fast; then
  out=target/release-archives-fast
  export CARGO_TARGET_DIR=$PWD/target/cross-fast
  # The release profile of Cargo.toml, made quick.
  export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0
else
  out=target/release-archives
  export CARGO_TARGET_DIR=$PWD/target/cross
fi
# The oldest macOS each build runs on (zig would otherwise pick its newest): the first with Apple
# Silicon, and Rust's own minimum for Intel Macs.
macos_min_arm64=11.0
macos_min_x86_64=10.12

suffix_of() { # the archive's platform in its name
  case "$1" in
    windows | linux) echo "$1-x86_64" ;;
    *) echo "$1" ;;
  esac
}

triple_of() {
  case "$1" in
    windows) echo x86_64-pc-windows-gnu ;;
    linux) echo x86_64-unknown-linux-musl ;;
    macos-arm64) echo aarch64-apple-darwin ;;
    macos-x86_64) echo x86_64-apple-darwin ;;
  esac
}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_updated=false
need_deb() { # need_deb COMMAND PACKAGE: installs the Debian package when the command is missing
  command -v "$1" > /dev/null && return
  echo "== installing $2 (Debian)"
  if ! $apt_updated; then
    $sudo apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" > /dev/null
}

need_deb file file
need_deb python3 python3
need_deb x86_64-w64-mingw32-objdump binutils-mingw-w64-x86-64
installed_targets=$(rustup target list --installed)
for t in "${targets[@]}"; do
  triple=$(triple_of "$t")
  grep -qx "$triple" <<< "$installed_targets" || rustup target add "$triple"
  case "$t" in
    # C dependencies (zstd) are compiled with the target's C compiler: mingw-w64's, musl's, zig's.
    windows) need_deb x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64 ;;
    linux) need_deb musl-gcc musl-tools ;;
    macos-*) macos=true ;;
  esac
done
if [ "${macos:-false}" = true ]; then
  if ! command -v cargo-zigbuild > /dev/null; then
    echo "== installing cargo-zigbuild (crates.io)"
    cargo install --locked cargo-zigbuild
  fi
  zig_venv=target/zig-venv
  if ! "$zig_venv/bin/python" -m ziglang version > /dev/null 2>&1; then
    echo "== installing zig (PyPI ziglang) into $zig_venv"
    rm -rf "$zig_venv"
    python3 -m venv "$zig_venv"
    "$zig_venv/bin/pip" install --quiet --disable-pip-version-check ziglang
  fi
  # cargo-zigbuild runs `python3 -m ziglang` when no `zig` is on the PATH.
  export PATH="$PWD/$zig_venv/bin:$PATH"
  echo "== zig $(python3 -m ziglang version), $(cargo-zigbuild --version)"
fi

# The archives carry the last commit's time, so that rebuilding the same sources gives the same bytes.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2> /dev/null || date +%s)
export SOURCE_DATE_EPOCH

# Checks that the program is what a teacher's machine can run, and prints what it depends on.
check_binary() { # check_binary TARGET FILE
  local t=$1 bin=$2 kind
  kind=$(file -b "$bin")
  echo "   file: $kind"
  case "$t" in
    linux)
      [[ $kind == *"statically linked"* || $kind == *"static-pie linked"* ]] || {
        echo "release.sh: $bin is not static" >&2
        return 1
      }
      # ldd exits non-zero on a static program; its words are what counts.
      echo "   ldd: $(ldd "$bin" 2>&1 | tr -s ' \t\n' ' ')"
      "$bin" --version > /dev/null
      ;;
    windows)
      [[ $kind == "PE32+ executable (console) x86-64"* ]] || return 1
      # Only DLLs every Windows 10 has: no mingw runtime (libgcc_s, libwinpthread) left to ship.
      # iphlpapi.dll (IP Helper, in System32 since Windows 2000) lists the network addresses.
      local dlls unexpected
      dlls=$(x86_64-w64-mingw32-objdump -p "$bin" | sed -n 's/^\s*DLL Name: //p' | tr '[:upper:]' '[:lower:]' | sort -u)
      echo "   DLLs: $(tr '\n' ' ' <<< "$dlls")"
      unexpected=$(grep -vxE 'kernel32\.dll|ntdll\.dll|ws2_32\.dll|userenv\.dll|msvcrt\.dll|bcryptprimitives\.dll|advapi32\.dll|iphlpapi\.dll|api-ms-win-core-[a-z0-9-]+\.dll' <<< "$dlls" || true)
      [ -z "$unexpected" ] || {
        echo "release.sh: $bin needs DLLs Windows does not have: $unexpected" >&2
        return 1
      }
      ;;
    macos-*)
      python3 - "$bin" "$t" << 'EOF'
# Reads the Mach-O header: architecture, code signature (Apple Silicon runs nothing unsigned),
# oldest macOS, and the libraries it loads (only the system's).
import hashlib, struct, sys
path, target = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
magic, cputype, _, _, ncmds = struct.unpack_from("<IiiII", data, 0)
assert magic == 0xFEEDFACF, f"{path}: not a 64-bit Mach-O file"
arch = {0x0100000C: "arm64", 0x01000007: "x86_64"}.get(cputype, hex(cputype))
offset, dylibs, signed, minos = 32, [], False, "?"
for _ in range(ncmds):
    cmd, size = struct.unpack_from("<II", data, offset)
    if cmd in (0x0C, 0x80000018):  # LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB
        name = struct.unpack_from("<I", data, offset + 8)[0]
        dylibs.append(data[offset + name : offset + size].split(b"\0")[0].decode())
    elif cmd == 0x1D:  # LC_CODE_SIGNATURE
        signed = struct.unpack_from("<II", data, offset + 8)
    elif cmd in (0x32, 0x24):  # LC_BUILD_VERSION, LC_VERSION_MIN_MACOSX
        v = struct.unpack_from("<I", data, offset + (12 if cmd == 0x32 else 8))[0]
        minos = f"{v >> 16}.{(v >> 8) & 0xFF}"
    offset += size

def signature_valid(dataoff, datasize):
    """The code directory's page hashes match the file (what macOS checks of an ad hoc signature,
    so that nothing, strip included, changed the program after it was signed)."""
    blob = data[dataoff : dataoff + datasize]
    magic, _, count = struct.unpack_from(">III", blob, 0)
    assert magic == 0xFADE0CC0, "not an embedded signature"
    for i in range(count):
        _, off = struct.unpack_from(">II", blob, 12 + 8 * i)
        if struct.unpack_from(">I", blob, off)[0] != 0xFADE0C02:  # CodeDirectory
            continue
        # hashOffset, identOffset, nSpecialSlots, nCodeSlots, codeLimit, hashSize, hashType,
        # platform, pageSize (log2)
        hash_offset, _, _, n_slots, code_limit, hash_size, hash_type, _, page_log = (
            struct.unpack_from(">IIIIIBBBB", blob, off + 16))
        algo = {1: hashlib.sha1, 2: hashlib.sha256}[hash_type]
        page = 1 << page_log
        for slot in range(n_slots):
            chunk = data[slot * page : min((slot + 1) * page, code_limit)]
            want = blob[off + hash_offset + slot * hash_size : off + hash_offset + (slot + 1) * hash_size]
            if algo(chunk).digest()[:hash_size] != want:
                return False
        return True
    return False

valid = bool(signed) and signature_valid(*signed)
if valid:
    signature = "ad hoc signature, valid"
elif arch == "arm64":
    signature = "NO VALID SIGNATURE (Apple Silicon runs nothing unsigned)"
else:
    signature = "not signed (Intel Macs do not require it)"
print(f"   {arch}, {signature}, macOS {minos} or later")
print(f"   libraries: {' '.join(dylibs)}")
want = {"macos-arm64": "arm64", "macos-x86_64": "x86_64"}[target]
foreign = [d for d in dylibs if not (d.startswith("/usr/lib/") or d.startswith("/System/Library/"))]
problems = [p for p, bad in [(f"arch {arch}", arch != want), ("no valid signature", not valid and arch == "arm64"),
                             (f"needs {foreign}", bool(foreign))] if bad]
if problems:
    sys.exit(f"release.sh: {path}: " + ", ".join(problems))
EOF
      ;;
  esac
}

# Lays out the archive's folder and packs it.
package() { # package TARGET BINARY
  local t=$1 bin=$2 name stage exe
  name=gama-vr-relay-$version-$(suffix_of "$t")
  stage=$CARGO_TARGET_DIR/stage/$name
  rm -rf "$stage"
  mkdir -p "$stage/config" "$stage/learning-packages"
  exe=gama-vr-relay
  [ "$t" = windows ] && exe=gama-vr-relay.exe
  install -m 0755 "$bin" "$stage/$exe"
  install -m 0644 README.md "$stage/README.md"
  install -m 0644 config/default.toml "$stage/config/default.toml"
  install -m 0644 config/example.env "$stage/example.env"
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  mkdir -p "$out"
  if [ "$t" = windows ]; then
    rm -f "$out/$name.zip"
    python3 - "$CARGO_TARGET_DIR/stage" "$name" "$out/$name.zip" << 'EOF'
# A zip with fixed times and order, so the same files give the same bytes.
import os, sys, time, zipfile
root, name, dest = sys.argv[1:]
stamp = time.gmtime(max(int(os.environ["SOURCE_DATE_EPOCH"]), 315532800))[:6]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for folder, dirs, files in os.walk(os.path.join(root, name)):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        entry = zipfile.ZipInfo(rel.replace(os.sep, "/") + "/", stamp)
        entry.external_attr = (0o40755 << 16) | 0x10
        z.writestr(entry, b"")
        for f in sorted(files):
            info = zipfile.ZipInfo(f"{rel}/{f}".replace(os.sep, "/"), stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if f.endswith(".exe") else 0o100644) << 16
            with open(os.path.join(folder, f), "rb") as fh:
                z.writestr(info, fh.read(), compresslevel=9)
EOF
    echo "$out/$name.zip"
  else
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -C "$CARGO_TARGET_DIR/stage" -cf - "$name" | gzip -9n > "$out/$name.tar.gz"
    echo "$out/$name.tar.gz"
  fi
}

for t in "${targets[@]}"; do
  triple=$(triple_of "$t")
  echo "== $t ($triple$($fast && echo ', fast'))"
  started=$SECONDS
  case "$t" in
    macos-arm64)
      MACOSX_DEPLOYMENT_TARGET=$macos_min_arm64 cargo zigbuild --locked --release \
        --target "$triple" --bin gama-vr-relay
      ;;
    macos-x86_64)
      MACOSX_DEPLOYMENT_TARGET=$macos_min_x86_64 cargo zigbuild --locked --release \
        --target "$triple" --bin gama-vr-relay
      ;;
    *) cargo build --locked --release --target "$triple" --bin gama-vr-relay ;;
  esac
  bin=$CARGO_TARGET_DIR/$triple/release/gama-vr-relay
  [ "$t" = windows ] && bin=$bin.exe
  check_binary "$t" "$bin"
  archive=$(package "$t" "$bin")
  echo "   $archive: $(stat -c %s "$archive") bytes (program $(stat -c %s "$bin") bytes), built in $((SECONDS - started)) s"
done

# One checksum file for every archive in the folder (a subset run keeps the others' lines).
(
  cd "$out"
  find . -maxdepth 1 -type f \( -name "gama-vr-relay-$version-*.zip" -o -name "gama-vr-relay-$version-*.tar.gz" \) \
    -printf '%f\n' | LC_ALL=C sort | xargs -r sha256sum > SHA256SUMS
  echo "== $out/SHA256SUMS"
  cat SHA256SUMS
)
