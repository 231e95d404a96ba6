#!/usr/bin/env bash
# Fuzzes every parser of outside input with cargo-fuzz on the stable toolchain (`--sanitizer none`),
# starting from the seeds in fuzz/corpus.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   explore: SECONDS (default 30) per target, from a corpus kept
#                                           in target/fuzz-corpus that grows from run to run
#   scripts/fuzz.sh --ci [TARGET...]        reproducible: a fixed seed and a fixed number of runs from the
#                                           committed seeds only, so a CI verdict can be replayed exactly
#
# A crash stops the script and leaves its input in fuzz/artifacts/TARGET/; turn it into a regression
# test next to the parser (and a seed in fuzz/corpus/TARGET) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
all=(headset_frame gama_frame admin_body settings_json js_json linker_output)
mode=explore
seconds=30
if [[ ${1:-} == --ci ]]; then
  mode=ci
  shift
elif [[ ${1:-} =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
(cd fuzz && cargo fuzz build -s none)
for t in "${targets[@]}"; do
  if [[ $mode == ci ]]; then
    corpus="target/fuzz-ci/$t"
    rm -rf "$corpus"
    limits=(-seed=20261121 -runs=1000000)
    echo "== fuzzing $t: 1000000 runs, seed 20261121"
  else
    corpus="target/fuzz-corpus/$t"
    limits=(-max_total_time="$seconds")
    echo "== fuzzing $t for ${seconds}s"
  fi
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  (cd fuzz && cargo fuzz run -s none "$t" "../$corpus" -- "${limits[@]}" -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)|ERROR|panicked" || true)
  if compgen -G "fuzz/artifacts/$t/crash-*" >/dev/null; then
    echo "fuzz target $t crashed: see fuzz/artifacts/$t" >&2
    exit 1
  fi
done
