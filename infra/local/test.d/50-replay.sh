#!/usr/bin/env bash
# Replays every fixture in events/ against the functions and fails on any changed outcome:
#   1. a self-check: a wrong expectation and a missing one must make the replay fail;
#   2. every fixture as an HTTP request to its function URL on the running `cargo lambda watch`
#      (AUTH_MODE=local: the fixture's caller gets a local bearer token);
#   3. every fixture as the event itself through the invoke API that `cargo lambda invoke
#      --data-file` uses, on a second watch with AUTH_MODE=jwt-authorizer (the deployed mode:
#      the caller comes from the event's requestContext), plus one literal `cargo lambda invoke`.
# Runs inside test.sh, with the test stack's environment exported.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT"
runner="$CARGO_TARGET_DIR/debug/replay"
[ -x "$runner" ] || cargo build --quiet -p tools --bin replay

scratch=$(mktemp -d)
trap 'stop_watch watch-authorizer; rm -rf "$scratch"' EXIT
# The deployed identity mode needs its own watch (the functions read AUTH_MODE at start-up),
# started now, while the self-check and the first replay run.
authorizer_port=$REPLAY_WATCH_PORT
(AUTH_MODE=jwt-authorizer start_watch "$authorizer_port" watch-authorizer) >"$scratch/watch-authorizer.out" 2>&1 &
authorizer_watch=$!
mkdir -p "$scratch/cello-token"
cp events/cello-token/no-identity.json "$scratch/cello-token/"
echo '{"status": 200, "body": {"/error/code": "unauthorized"}}' \
  > "$scratch/cello-token/no-identity.expect.json"
cp events/cello-token/no-identity.json "$scratch/cello-token/no-expectation.json"
if out=$("$runner" --events "$scratch" 2>&1); then
  echo "the replay passed a wrong and a missing expectation:"; echo "$out"; exit 1
fi
grep -q 'FAIL  cello-token/no-identity .*status: got 401, want 200' <<<"$out" \
  || { echo "the replay did not report the wrong status:"; echo "$out"; exit 1; }
grep -q 'FAIL  cello-token/no-expectation .*no .expect.json' <<<"$out" \
  || { echo "the replay did not report the missing expectation:"; echo "$out"; exit 1; }
echo "replay self-check: a changed outcome and a missing expectation fail"

"$runner" --via url

wait "$authorizer_watch" || { cat "$scratch/watch-authorizer.out"; exit 1; }
LOCAL_WATCH_URL="http://127.0.0.1:$authorizer_port" AUTH_MODE=jwt-authorizer "$runner" --via invoke

out=$(cargo lambda invoke cello-token --invoke-address 127.0.0.1 --invoke-port "$authorizer_port" \
  --data-file events/cello-token/valid.json)
grep -q '"statusCode":200' <<<"$out" && grep -q '\\"token\\":\\"ey' <<<"$out" \
  || { echo "cargo lambda invoke --data-file events/cello-token/valid.json gave: $out"; exit 1; }
echo "cargo lambda invoke --data-file events/cello-token/valid.json: 200 with a token"
