#!/usr/bin/env bash
# The README's test command: installs what is missing, starts the test stack on its own ports,
# runs every test (formatting, unit and integration tests, then each stage in test.d/), and
# stops what it started, whatever happens. Stages that need no stack (marked `# stage: offline`)
# run one after another in the background, beside the tests, which mostly wait on the stand-ins.
export STACK_PROFILE=test
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

# Each step's wall-clock seconds, printed at the end (where a run's time goes; docs/performance.md).
# Beside each, the CPU seconds the whole machine spent meanwhile (the stand-ins' included, from
# /proc/stat): a step using far less than two cores' worth is waiting, not computing.
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
timings=() step_started=$SECONDS step_ticks=$(busy_ticks)
step_done() {
  local ticks; ticks=$(busy_ticks)
  timings+=("$(printf '%5d s %5d cpu s  %s' $((SECONDS - step_started)) \
    $(((ticks - step_ticks) / $(getconf CLK_TCK))) "$1")")
  step_started=$SECONDS step_ticks=$ticks
}

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

# The offline stages (template checks, the arm64 release zips, clippy), niced so that the tests
# beside them keep their speed; their output is printed when they are done.
online=() offline=()
for stage in infra/local/test.d/*.sh; do
  [ -e "$stage" ] || continue
  if grep -q '^# stage: offline' "$stage"; then offline+=("$stage"); else online+=("$stage"); fi
done
offline_log="$RUN_DIR/offline-stages.log" offline_timings="$RUN_DIR/offline-stages.timings"
export offline_timings
mkdir -p "$RUN_DIR" && : >"$offline_timings"
run_offline() {
  local stage name started
  for stage in "$@"; do
    name=$(basename "$stage" .sh) started=$SECONDS
    echo "== stage $name"
    bash "$stage" || { echo "stage $name failed"; return 1; }
    printf '%5d s           stage %s (beside the others)\n' $((SECONDS - started)) "$name" >>"$offline_timings"
  done
}
kill_tree() { local child; for child in $(pgrep -P "$1"); do kill_tree "$child"; done; kill "$1" 2>/dev/null || true; }
nice -n 10 bash -c "$(declare -f run_offline); run_offline $(printf '%q ' "${offline[@]}")" >"$offline_log" 2>&1 &
offline_pid=$!
log "beside the tests: ${offline[*]##*/} (output in $offline_log)"

# The functions served over HTTP, as in development, for the tests that call them end to end.
trap 'kill_tree $offline_pid; stop_feeder; stop_watch; bash infra/local/stack.sh stop' EXIT
start_watch
# cello-events fed from the table's stream, as its event source mapping does in AWS.
start_feeder

log "unit and integration tests"
cargo test --workspace --no-fail-fast
step_done "unit and integration tests (with their build)"

# The stages on the stack (event replays, doctor, contract, browser test), in name order: later
# ones read what earlier ones stored. Each is a script that exits non-zero on failure and runs
# with the test stack's environment.
for stage in "${online[@]}"; do
  log "stage $(basename "$stage" .sh)"
  bash "$stage" || die "stage $(basename "$stage") failed"
  step_done "stage $(basename "$stage" .sh)"
done

log "waiting for the stages beside the tests"
offline_status=0
wait "$offline_pid" || offline_status=$?
cat "$offline_log" >&2
[ "$offline_status" -eq 0 ] || die "$(tail -n 1 "$offline_log")"
step_done "waiting for the stages beside the tests"
log "all tests passed; wall-clock and CPU seconds per step (CPU: the whole machine's meanwhile):"
printf '%s\n' "${timings[@]}" >&2
cat "$offline_timings" >&2
