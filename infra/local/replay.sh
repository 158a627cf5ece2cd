#!/usr/bin/env bash
# The replay command: installs what is missing, starts the test stack and `cargo lambda watch`
# on their own ports, replays every fixture in events/ through the real local endpoints (Stripe
# bodies signed now with the stack's webhook secret), and stops what it started. Exits non-zero
# when any outcome differs from its .expect.json. Arguments go to the runner:
#   bash infra/local/replay.sh [--only TEXT] [--events DIR] [--run ID]
export STACK_PROFILE=${STACK_PROFILE:-test}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

bash infra/local/setup.sh
trap 'exit 130' INT TERM
trap 'stop_watch; bash infra/local/stack.sh stop' EXIT
bash infra/local/stack.sh start
stack_env

log "building the functions and the replay runner"
cargo build --workspace --bins --quiet
start_watch
"$CARGO_TARGET_DIR/debug/replay" "$@"
