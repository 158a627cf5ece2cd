#!/usr/bin/env bash
# The performance harness (not part of the test command; a few minutes on 2 cores):
#   1. builds the functions' native release binaries and their arm64 release zips;
#   2. runs the in-process criterion benchmarks (token mint, webhook verify + parse);
#   3. starts the local stack and runs each release binary against our minimal Lambda Runtime
#      API (tools/src/runtime_api.rs), --runs times from a cold process: init, first and warm
#      invocation latency, peak RSS, and the init breakdown the functions print with
#      INIT_TIMING=1;
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
# Every Lambda package under functions/ (a package may declare itself a command instead, with
# `[package.metadata.cello] kind = "command"`, like a CLI that runs outside Lambda).
mapfile -t FUNCTIONS < <(python3 - <<'PY'
import pathlib, tomllib
for m in sorted(pathlib.Path("functions").glob("*/Cargo.toml")):
    pkg = tomllib.loads(m.read_text())["package"]
    if pkg.get("metadata", {}).get("cello", {}).get("kind", "lambda") == "lambda":
        print(pkg["name"])
PY
)
OUT="$LOCAL_DIR/perf"
mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl "$OUT"/*.tsv

bash infra/local/setup.sh
export PATH="$VENV/bin:$PATH"

log "release builds of the functions (native), and the Runtime API driver"
# With shared/init-timing: the INIT_TIMING breakdown is compiled out of the binaries that ship.
cargo build --release --quiet --features shared/init-timing "${FUNCTIONS[@]/#/-p}" \
  || die "release build of the functions failed"
# The driver in the dev profile: a fat-LTO release link of it costs minutes on 2 cores; its own
# overhead per invocation is tens of µs, far below the ms the stand-ins take.
cargo build --quiet -p tools --bin runtime_api || die "building the driver failed"

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
bench() { # package bench
  if [ ! -f "functions/$1/benches/$2.rs" ]; then
    log "no benchmark functions/$1/benches/$2.rs yet: skipped"
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
bench cello-token mint
bench stripe-webhook verify_parse

trap 'exit 130' INT TERM
trap 'bash infra/local/stack.sh stop' EXIT
bash infra/local/stack.sh start
stack_env

# What each function is measured with (the first invocation must match the fixture's
# .expect.json; warm invocations must not fail).
measure() { # function fixture [driver flags]
  local fn=$1 event=$2; shift 2
  [ -f "$event" ] || die "no fixture $event to measure $fn with"
  log "$fn: $runs cold starts, $warm warm invocations each ($event $*)"
  "$CARGO_TARGET_DIR/debug/runtime_api" --function "$fn" --binary "$CARGO_TARGET_DIR/release/$fn" \
    --event "$event" --runs "$runs" --warm "$warm" "$@" >> "$OUT/runtime.jsonl" \
    || die "measuring $fn failed"
}
for fn in "${FUNCTIONS[@]}"; do
  case "$fn" in
    cello-token) measure cello-token events/cello-token/valid.json ;;
    # A new user and Stripe customer first, then repeats of the same signup.
    signup) measure signup "${PERF_SIGNUP_EVENT:-events/signup/new-user-with-ucc.json}" ;;
    # A fresh event id on every delivery, so each one is processed, not deduplicated.
    stripe-webhook) measure stripe-webhook "${PERF_WEBHOOK_EVENT:-events/stripe/invoice-paid.json}" --stripe --fresh-each ;;
    # Until the harness signs a user up first: the 409 path (identity, body, the user read).
    checkout) measure checkout "${PERF_CHECKOUT_EVENT:-events/checkout/not-signed-up.json}" ;;
    # Cello's reward callback: the first delivery keeps the reward (its user never signed up),
    # the warm ones are redeliveries (duplicates), as Cello's at-least-once delivery makes them.
    rewards) measure rewards events/rewards/callback-1-reward-for-unknown-user-is-kept.json ;;
    *) die "perf.sh has no realistic event for $fn yet: add a measure line for it" ;;
  esac
done

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(uname -m)), load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD); $runs cold starts × $warm warm invocations per function."
  echo
  python3 infra/local/perf_table.py "$OUT"
} > "$OUT/perf.md"
cat "$OUT/perf.md"
log "table written to $OUT/perf.md"
