#!/usr/bin/env bash
# Lints every target with warnings as errors.
set -euo pipefail
cargo clippy --workspace --all-targets --quiet -- -D warnings
