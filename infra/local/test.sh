#!/usr/bin/env bash
# The README's test command: installs what is missing, starts the test stack on its own ports,
# runs every test (formatting, unit and integration tests, then each stage in test.d/), and
# stops what it started, whatever happens.
export STACK_PROFILE=test
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

# Each step's wall-clock seconds, printed at the end (where a run's time goes; docs/performance.md).
timings=() step_started=$SECONDS
step_done() { timings+=("$(printf '%5d s  %s' $((SECONDS - step_started)) "$1")"); step_started=$SECONDS; }

bash infra/local/setup.sh
trap 'exit 130' INT TERM
trap 'bash infra/local/stack.sh stop' EXIT
bash infra/local/stack.sh start
stack_env
step_done "setup and the test stack"

log "checking formatting"
cargo fmt --all -- --check || die "cargo fmt would change files: run cargo fmt --all"

log "building every function"
cargo build --workspace --bins --quiet
build_watched_functions
step_done "formatting check, building every function"

# The functions served over HTTP, as in development, for the tests that call them end to end.
trap 'stop_feeder; stop_watch; bash infra/local/stack.sh stop' EXIT
start_watch
# cello-events fed from the table's stream, as its event source mapping does in AWS.
start_feeder

log "unit and integration tests"
cargo test --workspace --no-fail-fast
step_done "unit and integration tests (with their build)"

# Further stages (event replays, browser test, template checks, lint), in name order. Each is
# a script that exits non-zero on failure and runs with the test stack's environment.
for stage in infra/local/test.d/*.sh; do
  [ -e "$stage" ] || continue
  log "stage $(basename "$stage" .sh)"
  bash "$stage" || die "stage $(basename "$stage") failed"
  step_done "stage $(basename "$stage" .sh)"
done
log "all tests passed; seconds per step:"
printf '%s\n' "${timings[@]}" >&2
