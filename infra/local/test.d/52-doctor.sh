#!/usr/bin/env bash
# The integration doctor against the test stack, as an operator runs it (the binary, the
# stack's environment): on a fresh table the four components are broken with "no event yet"
# and the exit status is 1; on the stack's table, after the tests and the replays, every
# component is healthy, the configuration green, and the exit status 0.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT"
doctor="$CARGO_TARGET_DIR/debug/doctor"
[ -x "$doctor" ] || cargo build --quiet -p doctor
py="$VENV/bin/python"
components='^(Referral component|Attribution library|Signups tracking|Purchases tracking) +'

fresh="doctor-fresh-$$"
table() { # create|delete NAME
  "$py" - "$1" "$2" <<'PY'
import os, sys, boto3
ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
action, name = sys.argv[1:]
if action == "create":
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
else:
    ddb.delete_table(TableName=name)
PY
}
table create "$fresh"
trap 'table delete "$fresh" >/dev/null 2>&1 || true' EXIT
set +e
out=$(TABLE_NAME="$fresh" "$doctor" status)
code=$?
set -e
echo "$out"
[ "$code" = 1 ] || die "doctor status on a fresh table exited $code, not 1"
[ "$(grep -cE "${components}broken" <<<"$out")" = 4 ] || die "a fresh table must show the four components broken"
[ "$(grep -c 'likely cause: no event yet' <<<"$out")" = 4 ] || die "a fresh table must say \"no event yet\" for each component"

if ! out=$("$doctor" status); then
  echo "$out"
  die "doctor status on the test stack after the replays is not green"
fi
echo "$out"
[ "$(grep -cE "${components}healthy" <<<"$out")" = 4 ] || die "the four components must be healthy after the replays"
echo "doctor: a fresh table is broken (exit 1), the stack after the replays healthy (exit 0)"
