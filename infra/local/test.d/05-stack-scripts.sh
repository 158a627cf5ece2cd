#!/usr/bin/env bash
# The local stack fails fast and clearly, and leaves nothing behind: a port already taken
# gives a message naming it and a non-zero exit, within seconds, never a hang.
set -euo pipefail
cd "$(dirname "$0")/../../.."
base=$((${STACK_PORT_BASE:-4530} + 50))
blocked=$((base + 1)) # the Secrets Manager port of that stack

python3 -m http.server "$blocked" --bind 127.0.0.1 >/dev/null 2>&1 &
squatter=$!
trap 'kill $squatter 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$blocked") 2>/dev/null && break; sleep 0.1; done

set +e
out=$(STACK_PROFILE=test STACK_PORT_BASE=$base timeout 60 bash infra/local/stack.sh start 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "stack.sh start succeeded with port $blocked taken"; exit 1; }
[ "$rc" -ne 124 ] || { echo "stack.sh start hung with port $blocked taken"; exit 1; }
grep -q "port $blocked for secretsmanager is already in use" <<<"$out" \
  || { echo "unclear message: $out"; exit 1; }
# The DynamoDB stand-in it started before failing must be gone again.
if (exec 3<>"/dev/tcp/127.0.0.1/$base") 2>/dev/null; then
  echo "the failed start left the DynamoDB stand-in running on $base"; exit 1
fi
echo "stack scripts: port-in-use refused clearly (exit $rc) and cleaned up"
