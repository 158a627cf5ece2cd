"""Schemathesis hooks for the contract stage (SCHEMATHESIS_HOOKS=hooks, on PYTHONPATH).

Stripe's webhook verifies a signature over the exact bytes it receives, so each generated body
is serialized here, once, signed with the stack's webhook secret as Stripe signs
(`t=<now>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), and sent as those bytes.
"""

import hashlib
import hmac
import json
import os
import time

import schemathesis

WEBHOOK_PATH = "/stripe/webhook"
SECRET = os.environ.get("CONTRACT_WEBHOOK_SECRET", "")
# Cello's reward callback: the stack's Basic pair ("user:password"), so generated bodies get
# past the credentials check and reach the body's rules.
REWARDS_PATH = "/cello/rewards"
REWARDS_BASIC = os.environ.get("CONTRACT_REWARDS_BASIC", "")


def _raw(body):
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    data = getattr(body, "data", None)  # schemathesis' Binary wrapper
    return bytes(data) if isinstance(data, (bytes, bytearray)) else None


@schemathesis.hook
def filter_case(context, case):
    """Drops bodies that are not UTF-8. Locally `cargo lambda watch` cannot put such a body in
    a Function URL event and answers 500 itself, before any function runs; in AWS, API Gateway
    base64-encodes it, and the functions' answer to that (400 malformed_json) is pinned by the
    fixtures events/*/invalid-binary-body.json, replayed through the invoke API."""
    raw = _raw(case.body)
    if raw is None:
        return True
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path == REWARDS_PATH and REWARDS_BASIC:
        import base64

        token = base64.b64encode(REWARDS_BASIC.encode()).decode()
        case.headers = {**(case.headers or {}), "Authorization": f"Basic {token}"}
        return
    if case.operation.path != WEBHOOK_PATH or not SECRET:
        return
    body = case.body
    if isinstance(body, (dict, list, str, int, float, bool)) or body is None:
        raw = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    elif isinstance(body, bytes):
        raw = body
    else:
        return  # no body generated: the function answers invalid_signature, as for Stripe
    stamp = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    case.body = raw
    case.headers = {**(case.headers or {}), "Stripe-Signature": f"t={stamp},v1={mac}"}
