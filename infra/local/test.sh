#!/usr/bin/env bash
# The README's test command: installs what is missing, starts the test stack on its own ports,
# runs every test (formatting, unit and integration tests, then each stage in test.d/), and
# stops what it started, whatever happens. Stages that need no stack (marked `# stage: offline`)
# and stages with a stack of their own (`# stage: own-stack`) run in the background, beside the
# tests and the stages on the main stack, which mostly wait on the stand-ins; stages on the main
# stack that read nothing the others store (`# stage: beside`) run beside those, after the tests.
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
# The tests built now, so no build holds the target dir's lock while watches start functions.
cargo test --workspace --no-run --quiet
step_done "formatting check, building every function and test"

# Each stage's place, from its `# stage:` line. In the background: the offline stages (template
# checks, the arm64 release zips, clippy), niced so that the tests keep their speed, the
# own-stack ones (the HTTP contract), and after the tests the beside ones (the browser test);
# their output is printed when they are done.
online=() offline=() own_stack=() beside=()
for stage in infra/local/test.d/*.sh; do
  [ -e "$stage" ] || continue
  case "$(grep -m1 '^# stage: ' "$stage")" in
    "# stage: offline") offline+=("$stage") ;;
    "# stage: own-stack") own_stack+=("$stage") ;;
    "# stage: beside") beside+=("$stage") ;;
    *) online+=("$stage") ;;
  esac
done
export stage_timings="$RUN_DIR/background-stages.timings"
mkdir -p "$RUN_DIR" && : >"$stage_timings"
run_stages() {
  local stage name started
  for stage in "$@"; do
    name=$(basename "$stage" .sh) started=$SECONDS
    echo "== stage $name"
    bash "$stage" || { echo "stage $name failed"; return 1; }
    printf '%5d s           stage %s (beside the others)\n' $((SECONDS - started)) "$name" >>"$stage_timings"
  done
}
background_pids=() background_logs=()
in_background() { # log, nice level, stages...
  local log=$1 niceness=$2; shift 2
  [ $# -gt 0 ] || return 0
  nice -n "$niceness" bash -c "$(declare -f run_stages); run_stages $(printf '%q ' "$@")" >"$log" 2>&1 &
  background_pids+=($!) background_logs+=("$log")
  log "in the background: ${*##*/} (output in $log)"
}
kill_tree() { local child; for child in $(pgrep -P "$1"); do kill_tree "$child"; done; kill "$1" 2>/dev/null || true; }
kill_background() { local pid; for pid in "${background_pids[@]}"; do kill_tree "$pid"; done; }

# The functions served over HTTP, as in development, for the tests that call them end to end.
trap 'kill_background; stop_feeder; stop_watch; bash infra/local/stack.sh stop' EXIT
start_watch
# cello-events fed from the table's stream, as its event source mapping does in AWS.
start_feeder
# The background stages start once the watch has started every function (uncontended, it
# takes half the time).
in_background "$RUN_DIR/offline-stages.log" 10 "${offline[@]}"
in_background "$RUN_DIR/own-stack-stages.log" 0 "${own_stack[@]}"

log "unit and integration tests"
cargo test --workspace --no-fail-fast
step_done "unit and integration tests"
in_background "$RUN_DIR/beside-stages.log" 0 "${beside[@]}"

# The stages on the stack (event replays, doctor, stream replay), in name order: later
# ones read what earlier ones stored. Each is a script that exits non-zero on failure and runs
# with the test stack's environment.
for stage in "${online[@]}"; do
  log "stage $(basename "$stage" .sh)"
  bash "$stage" || die "stage $(basename "$stage") failed"
  step_done "stage $(basename "$stage" .sh)"
done

log "waiting for the stages in the background"
for i in "${!background_pids[@]}"; do
  status=0
  wait "${background_pids[$i]}" || status=$?
  cat "${background_logs[$i]}" >&2
  [ "$status" -eq 0 ] || die "$(tail -n 1 "${background_logs[$i]}")"
done
step_done "waiting for the stages in the background"
log "all tests passed; wall-clock and CPU seconds per step (CPU: the whole machine's meanwhile):"
printf '%s\n' "${timings[@]}" >&2
cat "$stage_timings" >&2
