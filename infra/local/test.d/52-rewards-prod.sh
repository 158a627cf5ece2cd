#!/usr/bin/env bash
# A production stack refuses Cello's sandbox rewards: the rewards function served with
# CELLO_ENV=prod (its own `cargo lambda watch`, as a deployed stack with
# CelloEnvironment=production reads it) gets a sandbox reward and a production one from Cello's
# stand-in; the first is refused (403 wrong_environment) with nothing stored, the second taken.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT"
stack_env

port=$((WATCH_PORT + 5)) # base+8: base+6 is Cello's stand-in, base+9 the replay's second watch
trap 'stop_watch watch-prod' EXIT
CELLO_ENV=prod CELLO_API_ENV=production start_watch "$port" watch-prod
url="http://127.0.0.1:$port/lambda-url/rewards/cello/rewards"
# The first request starts the function under watch.
curl -s -o /dev/null --max-time 180 -X POST "$url" || die "the prod-configured rewards function did not answer"

"$VENV/bin/python" - "$url" <<'PY' || die "a production stack took a sandbox reward, or refused its own"
import json, os, sys, time, urllib.request
import boto3

url = sys.argv[1]
sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
secret = json.loads(sm.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"])
ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
run = f"{os.getpid()}{int(time.time())}"

def deliver(env, event_id):
    spec = {"url": url, "username": secret["celloRewardsWebhookUsername"],
            "password": secret["celloRewardsWebhookPassword"], "env": env, "eventId": event_id,
            "productUserId": f"prod-check-{run}", "amount": 25, "copies": 1, "retries": 1}
    req = urllib.request.Request(f"{os.environ['CELLO_API_BASE']}/_standin/rewards/deliver",
                                 data=json.dumps(spec).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["deliveries"][0]

def stored(event_id):
    return "Item" in ddb.get_item(TableName=os.environ["TABLE_NAME"], ConsistentRead=True,
                                  Key={"pk": {"S": f"CELLO_REWARD#{event_id}"}, "sk": {"S": "EVENT"}})

sandbox, prod = f"evt_sandbox_{run}", f"evt_prod_{run}"
got = deliver("sandbox", sandbox)
assert got["status"] == 403 and got["body"]["error"]["code"] == "wrong_environment", got
assert got["attempts"] == 2, f"a refusal is not a success: the stand-in retried once ({got})"
assert not stored(sandbox), "the refused sandbox reward was stored"
pending = ddb.query(TableName=os.environ["TABLE_NAME"], ConsistentRead=True,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"PENDING_REWARD#prod-check-{run}"}})
assert pending["Count"] == 0, pending
got = deliver("prod", prod)
assert got["status"] == 200 and got["body"]["outcome"] == "pending", got
assert stored(prod)
print("a CELLO_ENV=prod stack refuses a sandbox reward (403, nothing stored) and keeps its own")
PY
