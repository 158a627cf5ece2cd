#!/usr/bin/env bash
# Replays the DynamoDB stream batches in events/cello-events/ through cello-events (the invoke
# API of the running `cargo lambda watch`, as Lambda's event source mapping hands them over)
# and fails on any changed outcome (infra/local/replay_stream.py):
#   1. a self-check: a wrong expectation (a price of 30 instead of 29) and a missing one fail;
#   2. every batch, each replayed twice: the function's answer, the events Cello's stand-in
#      accepted (exactly once), the report records.
# Runs inside test.sh, with the test stack's environment exported.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT"
py="$VENV/bin/python"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp events/cello-events/invoice-paid-eur-monthly.json "$scratch/"
sed 's/"\/payload\/price": 29.0/"\/payload\/price": 30.0/' events/cello-events/invoice-paid-eur-monthly.expect.json \
  > "$scratch/invoice-paid-eur-monthly.expect.json"
cp events/cello-events/new-signup.json "$scratch/no-expectation.json"
if out=$("$py" infra/local/replay_stream.py --events "$scratch" 2>&1); then
  echo "the stream replay passed a wrong and a missing expectation:"; echo "$out"; exit 1
fi
grep -q 'FAIL  cello-events/invoice-paid-eur-monthly .*payload/price: got 29.0, want 30.0' <<<"$out" \
  || { echo "the stream replay did not report the wrong price:"; echo "$out"; exit 1; }
grep -q 'FAIL  cello-events/no-expectation .*no .expect.json' <<<"$out" \
  || { echo "the stream replay did not report the missing expectation:"; echo "$out"; exit 1; }
echo "stream replay self-check: a changed outcome and a missing expectation fail"

"$py" infra/local/replay_stream.py
