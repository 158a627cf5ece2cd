#!/usr/bin/env bash
# The README's first command: installs what is missing, starts the dev stack (DynamoDB,
# Secrets Manager and Stripe stand-ins, with the table and the secret), and serves every
# function with `cargo lambda watch`, rebuilding on change. Ctrl-C stops everything it started.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

bash infra/local/setup.sh
# Everything started here is stopped on exit. Explicit INT/TERM traps: without them bash
# skips the EXIT trap when Ctrl-C kills it.
started_groups=()
cleanup() {
  trap - EXIT INT TERM
  for group in "${started_groups[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done
  bash infra/local/stack.sh stop
}
trap 'exit 130' INT TERM
trap cleanup EXIT
bash infra/local/stack.sh start
stack_env
port_in_use "$WATCH_PORT" && die "port $WATCH_PORT for cargo lambda watch is in use (set STACK_PORT_BASE)"

# Extra local servers (the demo frontend...) start from dev.d/, each in the background.
for extra in infra/local/dev.d/*.sh; do
  [ -e "$extra" ] || continue
  setsid bash "$extra" < /dev/null &
  started_groups+=($!)
done

log "building the functions as cargo lambda watch runs them"
build_watched_functions
urls=$(python3 infra/local/lambda_packages.py | sed "s#.*#    $LOCAL_WATCH_URL/lambda-url/&/#")
cat >&2 <<MSG

  Functions (cargo lambda watch; routes in README.md):
$urls
  A user token for them:
    python3 infra/local/mint_token.py --sub user-123 --email ada@example.com
  Stand-ins: DynamoDB $AWS_ENDPOINT_URL_DYNAMODB, Secrets Manager $AWS_ENDPOINT_URL_SECRETS_MANAGER,
             Stripe $STRIPE_API_BASE, Cello's API $CELLO_API_BASE (controls: $CELLO_API_BASE/_standin/)

MSG
# --disable-cors: watch would otherwise answer preflights itself and allow every origin;
# the functions' own CORS (shared/src/http.rs) must decide, as API Gateway's does in AWS.
setsid cargo lambda watch --disable-cors --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" < /dev/null &
started_groups+=($!)
wait $!
