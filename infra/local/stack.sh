#!/usr/bin/env bash
# Starts or stops the local stand-ins for one profile (STACK_PROFILE=dev|test):
#   DynamoDB (moto), Secrets Manager (moto), Stripe (localstripe), Cello's API (our stand-in,
#   infra/local/cello_standin.py), each on its own loopback port.
# Usage: stack.sh start | stop | status | env
# `start` refuses a port that is already taken, waits for each to answer (never hangs), then
# creates the table (with TTL) and the environment's secret. `stop` ends only what it started.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
stack_env

start_one() { # name port command...
  local name=$1 port=$2; shift 2
  if [ -f "$RUN_DIR/$name.pid" ] && running "$(cat "$RUN_DIR/$name.pid")"; then
    log "$name already running (pid $(cat "$RUN_DIR/$name.pid"))"; return 0
  fi
  port_in_use "$port" && die "port $port for $name is already in use by another program (set STACK_PORT_BASE to move the $STACK_PROFILE stack)"
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: run infra/local/setup.sh first"
  setsid "$@" >"$RUN_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
}

# Whether a process is running: an exited one that its parent has not reaped yet (a zombie;
# on some VMs PID 1 takes over a second) has closed its sockets and counts as stopped.
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# Asks every stand-in to stop at once, waits up to 5 s for them, then kills what is left.
stop_all() {
  local name pids=() pid
  for name in cello stripe secretsmanager dynamodb; do
    [ -f "$RUN_DIR/$name.pid" ] || continue
    pid=$(cat "$RUN_DIR/$name.pid")
    rm -f "$RUN_DIR/$name.pid"
    running "$pid" || continue
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
}

case "${1:-}" in
  start)
    mkdir -p "$RUN_DIR"
    # A start that fails half-way stops what it had started, so nothing is left behind.
    started_ok=0
    trap '[ "$started_ok" = 1 ] || stop_all' EXIT
    # moto with its DynamoDB calls one at a time (a refused transaction's rollback could undo
    # another request's write) and connections kept alive, as AWS does: infra/local/moto_serialized.py.
    start_one dynamodb "$DYNAMODB_PORT" python "$REPO_ROOT/infra/local/moto_serialized.py" -H 127.0.0.1 -p "$DYNAMODB_PORT"
    start_one secretsmanager "$SECRETS_PORT" python "$REPO_ROOT/infra/local/moto_serialized.py" -H 127.0.0.1 -p "$SECRETS_PORT"
    # localstripe with Checkout Sessions registered on it (infra/local/localstripe_checkout.py).
    start_one stripe "$STRIPE_PORT" python "$REPO_ROOT/infra/local/localstripe_checkout.py" --port "$STRIPE_PORT" --from-scratch
    start_one cello "$CELLO_PORT" python "$REPO_ROOT/infra/local/cello_standin.py" --port "$CELLO_PORT" \
      --seed "$REPO_ROOT/infra/local/cello-seed.json"
    wait_http dynamodb "$AWS_ENDPOINT_URL_DYNAMODB" 30
    wait_http secretsmanager "$AWS_ENDPOINT_URL_SECRETS_MANAGER" 30
    wait_http stripe "$STRIPE_API_BASE/v1/customers" 30
    wait_http cello "$CELLO_API_BASE/_standin/calls" 30
    python "$REPO_ROOT/infra/local/bootstrap.py" || die "creating the table and the secret failed"
    started_ok=1
    log "$STACK_PROFILE stack up: DynamoDB :$DYNAMODB_PORT, Secrets Manager :$SECRETS_PORT, Stripe :$STRIPE_PORT, Cello :$CELLO_PORT"
    ;;
  stop)
    stop_all
    log "$STACK_PROFILE stack stopped"
    ;;
  status)
    for name in dynamodb secretsmanager stripe cello; do
      if [ -f "$RUN_DIR/$name.pid" ] && running "$(cat "$RUN_DIR/$name.pid")"; then
        echo "$name: running (pid $(cat "$RUN_DIR/$name.pid"))"
      else echo "$name: stopped"; fi
    done
    ;;
  env)
    # For `eval "$(infra/local/stack.sh env)"` in a shell that wants to talk to the stack.
    env | grep -E '^(AWS_|STRIPE_API_BASE|CELLO_API_BASE|CHECKOUT_|CELLO_EVENTS_|TABLE_NAME|SECRET_ID|STRIPE_MODE|AUTH_MODE|LOCAL_|CORS_|RUST_LOG|CELLO_ENV|ACCOUNT_DELETION|ERASE_STRIPE_CUSTOMER)' \
      | sed -e "s/'/'\\\\''/g" -e "s/^\([A-Za-z_][A-Za-z0-9_]*\)=\(.*\)\$/export \1='\2'/"
    echo "export PATH=\"$VENV/bin:\$PATH\""
    ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
