#!/usr/bin/env bash
# The HTTP contract (docs/openapi.yaml) against the code and the running functions:
#   1. Redocly CLI lints the document (recommended rules);
#   2. infra/checks/check_contract.py: the document's operations = the template's routes = the
#      function packages' routes, with the same authorizer, and every fixture conforms;
#   3. schemathesis (property-based) against every route of the functions `cargo lambda watch`
#      serves, with local bearer tokens and Stripe-signed webhook bodies, checking for server
#      errors and status-code, content-type and response-schema conformance. Bounded in
#      examples per phase and route (CONTRACT_MAX_EXAMPLES, default 100: about a thousand
#      cases in 20 s); CONTRACT_MAX_SECONDS=N instead keeps generating for N s per route (a
#      deeper search, for a change to the contract or to input handling).
# stage: own-stack
# On a test stack of its own (port base +20, fresh tables), so it runs beside the stages on the
# main one without either seeing the other's data, and starts from the same state every run.
export STACK_PROFILE=test STACK_PORT_BASE=$((${STACK_PORT_BASE:-4530} + 20))
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT"
trap 'stop_watch; bash infra/local/stack.sh stop' EXIT
bash infra/local/stack.sh start || die "the contract's own test stack did not start"
stack_env
start_watch
CONTRACT_DIR="$REPO_ROOT/infra/contract"
CONTRACT_VENV="$LOCAL_DIR/venv-contract"

# Redocly CLI into the ignored infra/contract/node_modules (npm ci, pinned by its lock file).
stamp="$CONTRACT_DIR/node_modules/.package-lock.sha"
want=$(sha256sum "$CONTRACT_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Redocly CLI into infra/contract/node_modules (npm ci)"
  (cd "$CONTRACT_DIR" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in infra/contract failed"
  echo "$want" > "$stamp"
fi
# schemathesis into its own venv (its pins must not move the stand-ins').
stamp="$CONTRACT_VENV/.requirements.sha"
want=$(sha256sum "$CONTRACT_DIR/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing schemathesis into .local/venv-contract (PyPI)"
  [ -x "$CONTRACT_VENV/bin/python" ] || python3 -m venv "$CONTRACT_VENV" || die "python3 -m venv failed"
  "$CONTRACT_VENV/bin/pip" install --disable-pip-version-check -q -r "$CONTRACT_DIR/requirements.txt" \
    || die "pip install of infra/contract/requirements.txt failed"
  echo "$want" > "$stamp"
fi

REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1 \
  "$CONTRACT_DIR/node_modules/.bin/redocly" lint docs/openapi.yaml >"$RUN_DIR/redocly.log" 2>&1 \
  || { cat "$RUN_DIR/redocly.log"; die "redocly lint found problems in docs/openapi.yaml"; }
echo "redocly lint: docs/openapi.yaml valid (recommended rules)"

"$VENV/bin/python" infra/checks/check_contract.py || die "docs/openapi.yaml does not match the template, the functions or the fixtures"

# The webhook secret the functions accept, from the Secrets Manager stand-in.
secret=$("$VENV/bin/python" - <<'PY'
import json, os, boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
print(json.loads(sm.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"])["stripeWebhookSecrets"][0])
PY
) || die "reading the stack's webhook secret failed"
rewards_basic=$("$VENV/bin/python" - <<'PY'
import json, os, boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
s = json.loads(sm.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"])
print(f"{s.get('celloRewardsWebhookUsername', '')}:{s.get('celloRewardsWebhookPassword', '')}")
PY
) || die "reading the stack's reward-callback credentials failed"
sub="contract-$$-$(date +%s)"
token=$(python3 infra/local/mint_token.py --sub "$sub" --email "$sub@example.com" \
  --given-name Contract --family-name Test --ttl 1800)

max_examples=${CONTRACT_MAX_EXAMPLES:-100}
# With --max-time schemathesis repeats its phases until the time is spent (every route then
# costs exactly that); without it each phase stops at --max-examples.
time_bound=()
[ -n "${CONTRACT_MAX_SECONDS:-}" ] && time_bound=(--max-time "$CONTRACT_MAX_SECONDS")
failed=()
# The documented body limit holds: one byte over is 413 body_too_large, exactly at it is not.
probe_limit() { # method url limit [curl args...]
  local method=$1 url=$2 limit=$3; shift 3
  head -c $((limit + 1)) /dev/zero | tr '\0' ' ' > "$RUN_DIR/over.json"
  { printf '{"p":"'; head -c $((limit - 8)) /dev/zero | tr '\0' 'x'; printf '"}'; } > "$RUN_DIR/at.json"
  local over at
  over=$(curl -s -o "$RUN_DIR/over.out" -w '%{http_code}' -X "$method" "$@" -H 'content-type: application/json' --data-binary @"$RUN_DIR/over.json" "$url")
  at=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$@" -H 'content-type: application/json' --data-binary @"$RUN_DIR/at.json" "$url")
  [ "$over" = 413 ] && grep -q '"body_too_large"' "$RUN_DIR/over.out" \
    || die "$method $url: $((limit + 1)) bytes (one over x-max-body-bytes) answered $over, not 413 body_too_large"
  [ "$at" != 413 ] && [ "$at" -lt 500 ] \
    || die "$method $url: $limit bytes (exactly x-max-body-bytes) answered $at"
  echo "body limit $limit bytes holds on $method $url ($((limit + 1)) → 413, $limit → $at)"
}

while read -r method path function auth limit; do
  args=(run docs/openapi.yaml --url "$LOCAL_WATCH_URL/lambda-url/$function"
    --include-path "$path" --generation-codec utf-8
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
    --max-examples "$max_examples" "${time_bound[@]}" --workers 1 --seed 20261124
    --phases examples,coverage,fuzzing --no-color --suppress-health-check all --request-timeout 30
    --generation-database none
    -H "Origin: $LOCAL_FRONTEND_URL")
  [ "$auth" = jwt ] && args+=(-H "Authorization: Bearer $token")
  # Warm the function first: `cargo lambda watch` builds and starts it on its first request.
  curl -s -o /dev/null --max-time 120 -X "$method" "$LOCAL_WATCH_URL/lambda-url/$function$path" \
    || die "$function did not answer at $LOCAL_WATCH_URL/lambda-url/$function$path"
  if [ "$auth" = jwt ]; then
    probe_limit "$method" "$LOCAL_WATCH_URL/lambda-url/$function$path" "$limit" -H "Authorization: Bearer $token"
  else
    probe_limit "$method" "$LOCAL_WATCH_URL/lambda-url/$function$path" "$limit"
  fi
  log "schemathesis: $method $path → $function"
  # From the ignored run dir: anything schemathesis writes inside the tree would make
  # `cargo lambda watch` restart the functions mid-run.
  if ! (cd "$RUN_DIR" && PYTHONPATH="$CONTRACT_DIR" SCHEMATHESIS_HOOKS=hooks CONTRACT_WEBHOOK_SECRET="$secret" CONTRACT_REWARDS_BASIC="$rewards_basic" \
        "$CONTRACT_VENV/bin/schemathesis" "${args[@]/#docs\/openapi.yaml/$REPO_ROOT/docs/openapi.yaml}") \
        >"$RUN_DIR/schemathesis-$function.log" 2>&1; then
    tail -60 "$RUN_DIR/schemathesis-$function.log"
    failed+=("$method $path")
  else
    grep -E "passed|Test cases|API Operations" "$RUN_DIR/schemathesis-$function.log" | tail -3
  fi
done < <("$VENV/bin/python" infra/checks/check_contract.py --routes)
[ ${#failed[@]} -eq 0 ] || die "schemathesis found failures on: ${failed[*]} (logs in $RUN_DIR)"
echo "contract: every route conforms to docs/openapi.yaml under schemathesis"
