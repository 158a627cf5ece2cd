#!/usr/bin/env bash
# stage: offline
# Lints every target with warnings as errors.
set -euo pipefail
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The erase command is behind the rewards package's `cli` feature (so cargo lambda never builds it).
cargo clippy -p rewards --features cli --bins --quiet -- -D warnings
