# Sourced by the local scripts: paths, ports per profile, the local settings, and helpers.
# Profiles keep a running dev stack and a test run apart: STACK_PROFILE=dev|test.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCAL_DIR="$REPO_ROOT/.local"
VENV="$LOCAL_DIR/venv"
STACK_PROFILE=${STACK_PROFILE:-dev}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}

case "$STACK_PROFILE" in
  dev)  base=${STACK_PORT_BASE:-4510} ;;
  test) base=${STACK_PORT_BASE:-4530} ;;
  *) echo "STACK_PROFILE must be dev or test, not '$STACK_PROFILE'" >&2; exit 2 ;;
esac
# One run dir per profile and port base, so several stacks can run side by side.
RUN_DIR="$LOCAL_DIR/run/$STACK_PROFILE-$base"
DYNAMODB_PORT=$((base + 0))
SECRETS_PORT=$((base + 1))
STRIPE_PORT=$((base + 2))
WATCH_PORT=$((base + 3))
FRONTEND_PORT=$((base + 4))
BROWSER_STANDIN_PORT=$((base + 5))
CELLO_PORT=$((base + 6))
# base+7 and base+8 are free for further stand-ins; the replay stage's second watch uses base+9.
REPLAY_WATCH_PORT=$((base + 9))

log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { printf '\033[31m[%s] error:\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

# The environment every function and test sees locally. Secrets themselves live in the
# Secrets Manager stand-in (created by bootstrap.py); these are only settings and dev values.
stack_env() {
  export PATH="$VENV/bin:$PATH"
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
  export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$SECRETS_PORT"
  export STRIPE_API_BASE="http://127.0.0.1:$STRIPE_PORT"
  # Cello's API: the stand-in (infra/local/cello_standin.py); the client accepts only loopback.
  export CELLO_API_BASE="http://127.0.0.1:$CELLO_PORT"
  export TABLE_NAME=cello-referral-local
  export SECRET_ID=cello-referral/local
  export STRIPE_MODE=test
  export AUTH_MODE=local
  export LOCAL_AUTH_SECRET=local-dev-auth-secret-not-for-production
  export CORS_ALLOWED_ORIGINS="http://127.0.0.1:$FRONTEND_PORT,http://localhost:$FRONTEND_PORT"
  export LOCAL_WATCH_URL="http://127.0.0.1:$WATCH_PORT"
  export LOCAL_FRONTEND_URL="http://127.0.0.1:$FRONTEND_PORT"
  export LOCAL_BROWSER_STANDIN_PORT="$BROWSER_STANDIN_PORT"
  # rewards: the stand-in's callbacks say sandbox; self-service erasure and Stripe customer
  # deletion are on locally so the tests exercise them (both off by default in a stack).
  export CELLO_ENV=sandbox ACCOUNT_DELETION=enabled ERASE_STRIPE_CUSTOMER=delete
  export RUST_LOG=${RUST_LOG:-info}
  # checkout: the prices and coupons infra/local/stripe-checkout-seed.json creates in the stand-in.
  export CHECKOUT_PRICES=price_local_pro_monthly,price_local_pro_yearly
  export CHECKOUT_COUPONS="50%x3=cello-new-user-50-3m,25%x1=cello-new-user-25-1m"
  export CHECKOUT_SUCCESS_URL="http://127.0.0.1:$FRONTEND_PORT/?checkout=success&session_id={CHECKOUT_SESSION_ID}"
  export CHECKOUT_CANCEL_URL="http://127.0.0.1:$FRONTEND_PORT/?checkout=cancel"
  # cello-events' dead-letter queue in moto (bootstrap.py creates it, stream_feeder.py fills it).
  export CELLO_EVENTS_DLQ_NAME=cello-events-dead-letter-local
  # The stream feeder's count of polls that found nothing new: the tests' "settled" signal.
  export LOCAL_STREAM_FEEDER_IDLE="$RUN_DIR/stream-feeder.idle"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http NAME URL SECONDS: polls until the URL answers any HTTP status, or fails clearly.
wait_http() {
  local name=$1 url=$2 secs=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.1
  done
  die "$name did not answer at $url within ${secs}s (see $RUN_DIR/$name.log)"
}

# Serves every function with `cargo lambda watch` on a port (default $WATCH_PORT), in its own
# process group (pid in $RUN_DIR/<name>.pid, log beside it), waits until it answers and starts
# every function's instance. Put `stop_watch [name]` in the EXIT trap before calling it, so a
# failed start is cleaned up too.
start_watch() { # [port] [name]
  local port=${1:-$WATCH_PORT} name=${2:-watch}
  port_in_use "$port" && die "port $port for cargo lambda watch is in use (set STACK_PORT_BASE)"
  mkdir -p "$RUN_DIR"
  # --disable-cors: watch would otherwise answer preflights itself and allow every origin;
  # the functions' own CORS (shared/src/http.rs) must decide, as API Gateway's does in AWS.
  # The test stack serves the code as it was built: no file watcher, no reload mid-run.
  local reload=()
  [ "$STACK_PROFILE" = test ] && reload=(--ignore-changes)
  setsid cargo lambda watch --disable-cors "${reload[@]}" --invoke-address 127.0.0.1 --invoke-port "$port" \
    > "$RUN_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
  wait_http "$name" "http://127.0.0.1:$port/" 60
  # Every function's instance started now, while no other cargo holds the target dir's lock:
  # the watch starts one with `cargo run` on its first request, and behind a running `cargo
  # test` that request waited for the lock, longer than Cello's stand-in waits for a reward
  # delivery. An empty stream batch: cello-events does nothing, the others refuse it. All at
  # once: each start is mostly cargo's freshness check and the process start.
  local fn pids=() fns=() i
  for fn in $(python3 "$REPO_ROOT/infra/local/lambda_packages.py"); do
    curl -s -o /dev/null --max-time 120 -X POST -H 'content-type: application/json' \
      -d '{"Records":[]}' "http://127.0.0.1:$port/2015-03-31/functions/$fn/invocations" &
    pids+=($!) fns+=("$fn")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || die "cargo lambda watch did not start ${fns[$i]} (see $RUN_DIR/$name.log)"
  done
}

# Builds each Lambda's debug binary as `cargo lambda watch` runs it (`cargo run --bin <name>`:
# that package's features alone, not the workspace's union), so a watch's first request to a
# function starts it instead of compiling it behind cargo's lock. On a new machine that took up
# to a minute per function, longer than a caller such as Cello's stand-in waits for an answer.
build_watched_functions() {
  local fn
  for fn in $(python3 "$REPO_ROOT/infra/local/lambda_packages.py"); do
    cargo build --quiet --bin "$fn" || die "building $fn as cargo lambda watch runs it failed"
  done
}

stop_watch() { # [name]
  local pidfile="$RUN_DIR/${1:-watch}.pid"
  [ -f "$pidfile" ] || return 0
  kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
}

# Feeds cello-events from the table's stream as Lambda's event source mapping does in AWS
# (infra/local/stream_feeder.py), in its own process group (pid in $RUN_DIR/<name>.pid, log
# beside it). It waits for `cargo lambda watch` itself. Put `stop_feeder` in the EXIT trap.
start_feeder() { # [name]
  local name=${1:-stream-feeder}
  mkdir -p "$RUN_DIR"
  # A count left by an earlier run's feeder would make a test wait for this one to pass it.
  rm -f "${LOCAL_STREAM_FEEDER_IDLE:-}"
  setsid "$VENV/bin/python" "$REPO_ROOT/infra/local/stream_feeder.py" \
    > "$RUN_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
}

stop_feeder() { # [name]
  local pidfile="$RUN_DIR/${1:-stream-feeder}.pid"
  [ -f "$pidfile" ] || return 0
  kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
}
