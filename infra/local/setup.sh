#!/usr/bin/env bash
# Installs what the local stack needs into the repo's ignored .local/ folder, from the package
# registries only. Idempotent: a second run only checks. Fails with a clear message.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2) but was not found on PATH"; }
need cargo "the Rust toolchain, via rustup"
need python3 "Python 3.11+ with venv and pip"
need curl "health checks"

mkdir -p "$LOCAL_DIR"
stamp="$VENV/.requirements.sha"
want=$(sha256sum "$REPO_ROOT/infra/local/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the stand-ins and cargo-lambda into .local/venv (PyPI)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "python3 -m venv failed (install python3-venv)"
  "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REPO_ROOT/infra/local/requirements.txt" \
    || die "pip install of infra/local/requirements.txt failed"
  echo "$want" > "$stamp"
fi

# The arm64 target for release builds; the toolchain itself is pinned by rust-toolchain.toml.
if ! rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then
  log "adding the aarch64-unknown-linux-gnu target"
  rustup target add aarch64-unknown-linux-gnu >/dev/null || die "rustup target add aarch64-unknown-linux-gnu failed"
fi
log "tools ready: $(PATH="$VENV/bin:$PATH" cargo lambda --version 2>/dev/null || echo "cargo-lambda missing")"
