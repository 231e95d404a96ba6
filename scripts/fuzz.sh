#!/usr/bin/env bash
# Fuzzes every parser of outside input for SECONDS each (default 30) with cargo-fuzz on the stable
# toolchain (`--sanitizer none`), starting from the seeds in fuzz/corpus (copied, so runs do not
# grow the committed corpus). A crash stops the script and leaves its input in fuzz/artifacts/;
# turn it into a regression test next to the parser before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
targets=(headset_frame gama_frame admin_body settings_json js_json linker_output)
(cd fuzz && cargo fuzz build -s none)
for t in "${targets[@]}"; do
  corpus="target/fuzz-corpus/$t"
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "== fuzzing $t for ${seconds}s"
  (cd fuzz && cargo fuzz run -s none "$t" "../$corpus" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)|ERROR|panicked" || true)
  if compgen -G "fuzz/artifacts/$t/crash-*" >/dev/null; then
    echo "fuzz target $t crashed: see fuzz/artifacts/$t" >&2
    exit 1
  fi
done
