#!/usr/bin/env bash
# Replays the build stage of docker/Dockerfile without a Docker engine (CI machines have none):
# its WORKDIR, COPY and RUN steps, in order, in a scratch folder standing for the image's file
# system, with the repository as the build context. A file the build needs but the Dockerfile does
# not copy fails here as it would in `docker build`.
#
# The scratch root is target/docker-replay/root (emptied first); the stage's absolute paths
# (WORKDIR /src, install … /usr/local/bin/…) land under it. The Rust toolchain and crates come from
# this machine (the image uses the same Rust version). Build-stage instructions other than FROM,
# WORKDIR, COPY and RUN stop the replay: teach it about them first.
set -euo pipefail
cd "$(dirname "$0")/.."
context=$PWD
root=$context/target/docker-replay/root
rm -rf "$root"
mkdir -p "$root"
workdir=/

# The build stage: from the first FROM to the next one; continuation lines joined.
stage=$(awk '
  /^FROM / { n++; if (n > 1) exit }
  n == 1 { print }
' docker/Dockerfile | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$')

while IFS= read -r line; do
  instruction=${line%% *}
  args=${line#* }
  case $instruction in
    FROM) echo "== $line" ;;
    WORKDIR)
      workdir=$args
      mkdir -p "$root$workdir"
      echo "== WORKDIR $workdir"
      ;;
    COPY)
      read -r -a parts <<<"$args"
      dest=${parts[-1]}
      unset 'parts[-1]'
      [[ $dest = /* ]] || dest=$workdir/$dest
      echo "== COPY ${parts[*]} -> $dest"
      if [ ${#parts[@]} -gt 1 ] || [[ $dest = */ ]]; then
        mkdir -p "$root$dest"
      else
        mkdir -p "$(dirname "$root$dest")"
      fi
      for source in "${parts[@]}"; do
        if [ ! -e "$context/$source" ]; then
          echo "docker-replay: COPY $source: no such file in the build context" >&2
          exit 1
        fi
        if [ -d "$context/$source" ] && [ -d "$root$dest" ] && [ ${#parts[@]} -eq 1 ] && [[ $dest != */ ]]; then
          cp -a "$context/$source/." "$root$dest/"
        else
          cp -a "$context/$source" "$root$dest"
        fi
      done
      ;;
    RUN)
      echo "== RUN $args"
      # The stage's absolute paths, under the scratch root.
      command=${args//\/usr\/local\//$root\/usr\/local\/}
      mkdir -p "$root/usr/local/bin"
      (cd "$root$workdir" && bash -euo pipefail -c "$command")
      ;;
    *)
      echo "docker-replay: $instruction in the build stage is not replayed; teach scripts/docker-replay.sh" >&2
      exit 1
      ;;
  esac
done <<<"$stage"

test -x "$root/usr/local/bin/gama-vr-relay"
"$root/usr/local/bin/gama-vr-relay" --version
echo "== the Dockerfile's build stage builds the relay"
