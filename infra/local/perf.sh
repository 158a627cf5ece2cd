#!/usr/bin/env bash
# The performance harness (not part of the test command; a few minutes on 2 cores):
#   1. builds the functions' native release binaries and their arm64 release zips;
#   2. runs the in-process criterion benchmarks (token mint, webhook verify + parse, and shared's:
#      what one DynamoDB call costs through the SDK);
#   3. starts the local stack and runs each release binary against our minimal Lambda Runtime
#      API (tools/src/runtime_api.rs), --runs times from a cold process: init, first and warm
#      invocation latency, peak RSS, and the init breakdown the functions print with
#      PERF_TIMING=1, and each invocation's handler and round-trip times;
#   4. prints one table of medians and writes it to .local/perf/perf.md (raw figures beside it).
# Usage: bash infra/local/perf.sh [--runs N] [--warm N]      (defaults: 15 runs, 200 warm)
export STACK_PROFILE=${STACK_PROFILE:-test}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

runs=15 warm=200
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --warm) warm=$2; shift 2 ;;
    *) die "unknown argument $1 (usage: perf.sh [--runs N] [--warm N])" ;;
  esac
done
# Every Lambda package under functions/ (infra/local/lambda_packages.py: a CLI such as the
# doctor says `[package.metadata.cello] kind = "command"` and is skipped), each with the event
# its Cargo.toml names under [package.metadata.cello.perf].
mapfile -t FUNCTIONS < <(python3 infra/local/lambda_packages.py)
mapfile -t PERF_LINES < <(python3 infra/local/lambda_packages.py --perf)
OUT="$LOCAL_DIR/perf"
mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl "$OUT"/*.tsv

bash infra/local/setup.sh
export PATH="$VENV/bin:$PATH"

log "release builds of the functions (native), and the Runtime API driver"
# With shared/perf-timing: the PERF_TIMING figures are compiled out of the binaries that ship.
cargo build --release --quiet --features shared/perf-timing "${FUNCTIONS[@]/#/-p}" \
  || die "release build of the functions failed"
# Kept aside: `cargo bench` below rebuilds a package's binaries into target/release without
# the feature (which is why only signup, which has no benchmark, used to print its breakdown).
mkdir -p "$OUT/bin"
for fn in "${FUNCTIONS[@]}"; do cp "$CARGO_TARGET_DIR/release/$fn" "$OUT/bin/$fn"; done
# The driver (and its timing proxies) in the release profile too, so its own share of each
# invocation stays small (its fat-LTO link takes a few minutes the first time, then is cached).
cargo build --release --quiet -p tools --bin runtime_api || die "building the driver failed"

log "arm64 release zips (cargo lambda build; a no-op when they are current)"
cargo lambda build --release --arm64 --output-format zip "${FUNCTIONS[@]/#/-p}" >"$OUT/lambda-build.log" 2>&1 \
  || die "cargo lambda build --release --arm64 failed (see $OUT/lambda-build.log)"
for fn in "${FUNCTIONS[@]}"; do
  zip="$CARGO_TARGET_DIR/lambda/$fn/bootstrap.zip"
  [ -f "$zip" ] || die "no zip at $zip after cargo lambda build"
  printf '%s\t%s\n' "$fn" "$(stat -c %s "$zip")" >> "$OUT/zips.tsv"
done

# In-process benchmarks, written by each function's issue; criterion keeps each benchmark's
# estimates (median included) under $CARGO_TARGET_DIR/criterion/<id>/new/estimates.json.
bench() { # package bench [its folder]
  local dir=${3:-functions/$1}
  if [ ! -f "$dir/benches/$2.rs" ]; then
    log "no benchmark $dir/benches/$2.rs yet: skipped"
    printf '%s\t%s\tmissing\n' "$1" "$2" >> "$OUT/benches.tsv"
    return 0
  fi
  log "cargo bench -p $1 --bench $2"
  local stamp="$OUT/.bench-$2"
  touch "$stamp"
  cargo bench --quiet -p "$1" --bench "$2" >"$OUT/bench-$2.log" 2>&1 \
    || die "cargo bench -p $1 --bench $2 failed (see $OUT/bench-$2.log)"
  find "$CARGO_TARGET_DIR/criterion" -path '*/new/estimates.json' -newer "$stamp" | sort |
    while read -r est; do
      id=${est#"$CARGO_TARGET_DIR/criterion/"}; id=${id%/new/estimates.json}
      printf '%s\t%s\t%s\n' "$1" "$id" "$est" >> "$OUT/benches.tsv"
    done
}
# Every benchmark of every Lambda package (functions/<package>/benches/<name>.rs).
for fn in "${FUNCTIONS[@]}"; do
  for b in "functions/$fn"/benches/*.rs; do
    if [ -e "$b" ]; then bench "$fn" "$(basename "$b" .rs)"; fi
  done
done
# And shared's (shared/benches/<name>.rs): what every function pays, one SDK call.
for b in shared/benches/*.rs; do
  if [ -e "$b" ]; then bench shared "$(basename "$b" .rs)" shared; fi
done

trap 'exit 130' INT TERM
trap 'bash infra/local/stack.sh stop' EXIT

# What each function is measured with (the first invocation must match the fixture's
# .expect.json; warm invocations must not fail). A function without a declared event is listed
# in the table as not measured, with its zip size.
for line in "${PERF_LINES[@]}"; do
  IFS=$'\t' read -r fn event flags <<<"$line"
  if [ -z "$event" ]; then
    log "$fn declares no [package.metadata.cello.perf] event: not measured"
    printf '{"function":"%s","notMeasured":"no [package.metadata.cello.perf] event in its Cargo.toml"}\n' "$fn" >> "$OUT/runtime.jsonl"
    continue
  fi
  [ -f "$event" ] || die "no fixture $event to measure $fn with"
  # A fresh stack for each function: moto copies the whole table for every transaction, so the
  # items one function's measurement leaves would slow the next one's transactions.
  bash infra/local/stack.sh stop
  bash infra/local/stack.sh start
  stack_env
  log "$fn: $runs cold starts, $warm warm invocations each ($event $flags)"
  # shellcheck disable=SC2086 # the flags are words
  "$CARGO_TARGET_DIR/release/runtime_api" --function "$fn" --binary "$OUT/bin/$fn" \
    --event "$event" --runs "$runs" --warm "$warm" $flags >> "$OUT/runtime.jsonl" \
    || die "measuring $fn failed"
done

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(uname -m)), load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD); $runs cold starts × $warm warm invocations per function."
  echo
  python3 infra/local/perf_table.py "$OUT"
} > "$OUT/perf.md"
cat "$OUT/perf.md"
log "table written to $OUT/perf.md"
