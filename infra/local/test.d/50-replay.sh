#!/usr/bin/env bash
# Replays every fixture in events/ through the functions served by `cargo lambda watch` (already
# running, with the stack's environment exported by test.sh) and fails on any changed outcome.
# First it proves the replay itself can fail: a wrong expectation and a missing one must.
set -euo pipefail
cd "$(dirname "$0")/../../.."
runner="${CARGO_TARGET_DIR:-target}/debug/replay"
[ -x "$runner" ] || cargo build --quiet -p integration-tests --bin replay

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
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

exec "$runner"
