#!/usr/bin/env bash
# The command-line tools the deployment checks (deploy/check.sh, deploy/check-observability.sh)
# need, installed from Debian's packages (PyYAML from PyPI when the python3 on PATH is not
# Debian's) when missing: promtool, kubectl (for `kubectl kustomize`), PyYAML.
set -euo pipefail

packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
if ((${#packages[@]})); then
  echo "[tools] installing ${packages[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null
  # The prometheus package may start a server; the checks need only promtool.
  $sudo pkill -x prometheus 2>/dev/null || true
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "[tools] installing PyYAML"
  python3 -m pip install --quiet pyyaml
fi
