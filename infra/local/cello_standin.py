"""A stateful local stand-in for Cello's REST API (`../shared/CELLO.md` §5), on loopback only.

No public stand-in for Cello's API exists, so this one is ours, kept to what Cello documents:
  POST /token                                   access keys (or a refresh token) -> 201 tokens
  POST /events                                  validated as Cello documents -> 200 / 400 naming the field
  GET  /referral-codes/{code}                   seeded codes -> 200 / 404
  GET  /new-users/{productUserId}/reward        seeded answers, else the seed file's default
  POST /referrers/{productUserId}/depersonalize recorded
Every Cello route needs `Authorization: Bearer <accessToken>` and every answer carries
`x-request-id`. Test controls live under /_standin/ (see CONTROLS below): what was received, the
calls in order, faults (status, 429 with Retry-After, hang), runtime seeds, and reward callbacks
sent to the product (HTTP Basic, X-Cello-Env, duplicates, retries, wrong credentials).

Usage: cello_standin.py --port PORT [--seed infra/local/cello-seed.json] [--token-ttl 18000]
The access key pair comes from CELLO_STANDIN_ACCESS_KEY_ID / CELLO_STANDIN_SECRET_ACCESS_KEY
(defaults: the local secret's values, see bootstrap.py).
"""

import argparse
import base64
import concurrent.futures
import datetime
import ipaddress
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROLS = """
GET    /_standin/events                      {"events": [{"receivedAt", "body", "tokenSerial"}]}
                                              (tokenSerial: which exchange issued the token it came with)
GET    /_standin/calls                       {"calls": [{"method", "path", "status"}]}
POST   /_standin/reset                       clears events, calls, faults, tokens, runtime seeds
POST   /_standin/faults                      {"path", "status"?, "retryAfter"?, "hang"?, "hangSeconds"?,
                                              "times"?, "bodyContains"?}
DELETE /_standin/faults                      clears the faults
PUT    /_standin/new-users/{id}/reward       the reward answer for that user
PUT    /_standin/referral-codes/{code}       {"productUserId", "valid", "campaignId"}
GET    /_standin/depersonalized              {"productUserIds": [...]} (one entry per call)
POST   /_standin/rewards/deliver             sends Cello's reward callback to a loopback URL
"""

MAX_BODY = 256 * 1024
TRIGGERS = ("new-signup", "demo-call-attended", "invoice-paid", "charge-refunded")
INTERVALS = (
    "one-time", "weekly", "bi-weekly", "monthly", "quarterly", "semi-annual", "yearly",
    "biennial", "triennial", "lifetime",
)
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
CURRENCY = re.compile(r"^[A-Za-z]{3}$")


class Invalid(Exception):
    """An event Cello would refuse: the message names the field."""


def _is_str(v):
    return isinstance(v, str) and v.strip() != ""


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _obj(parent, name, path):
    v = parent.get(name) if isinstance(parent, dict) else None
    if not isinstance(v, dict):
        raise Invalid(f"{path} is required and must be an object")
    return v


def _text(parent, name, path, required=True):
    v = parent.get(name)
    if v is None and not required:
        return None
    if not _is_str(v):
        raise Invalid(f"{path} is required and must be a non-empty string")
    return v


def validate_event(body):
    """Raises Invalid naming the first field Cello would refuse."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    if body.get("eventName") != "ReferralUpdated":
        raise Invalid("eventName must be ReferralUpdated")
    payload = _obj(body, "payload", "payload")
    context = _obj(body, "context", "context")
    _text(payload, "ucc", "payload.ucc")
    new_user_id = _text(payload, "newUserId", "payload.newUserId")
    new_user = _obj(context, "newUser", "context.newUser")
    if _text(new_user, "id", "context.newUser.id") != new_user_id:
        raise Invalid("context.newUser.id must equal payload.newUserId")
    for field in ("email", "name", "organizationId"):
        if field in new_user and new_user[field] is not None and not isinstance(new_user[field], str):
            raise Invalid(f"context.newUser.{field} must be a string")
    meta = _obj(context, "event", "context.event")
    trigger = meta.get("trigger")
    if trigger not in TRIGGERS:
        raise Invalid(f"context.event.trigger must be one of {', '.join(TRIGGERS)}")
    stamp = meta.get("timestamp")
    if not isinstance(stamp, str) or not RFC3339.match(stamp):
        raise Invalid("context.event.timestamp must be an RFC 3339 date-time")
    try:
        datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Invalid("context.event.timestamp must be an RFC 3339 date-time") from None
    purchase = trigger in ("invoice-paid", "charge-refunded")
    if purchase or "price" in payload:
        if not _is_number(payload.get("price")) or payload["price"] < 0:
            raise Invalid("payload.price is required for this trigger and must be a number >= 0")
    if purchase or "currency" in payload:
        if not isinstance(payload.get("currency"), str) or not CURRENCY.match(payload["currency"]):
            raise Invalid("payload.currency is required for this trigger and must be a 3-letter ISO code")
    if purchase or "subscription" in context:
        sub = _obj(context, "subscription", "context.subscription")
        _text(sub, "invoiceId", "context.subscription.invoiceId")
        interval = sub.get("interval")
        if (trigger == "invoice-paid" or interval is not None) and interval not in INTERVALS:
            raise Invalid(f"context.subscription.interval must be one of {', '.join(INTERVALS)}")
        if sub.get("productKey") is not None and not isinstance(sub["productKey"], str):
            raise Invalid("context.subscription.productKey must be a string")


class State:
    def __init__(self, seed_path, key_id, secret_key, token_ttl):
        self.lock = threading.RLock()
        self.seed_path = seed_path
        self.key_id, self.secret_key, self.token_ttl = key_id, secret_key, token_ttl
        self.reset()

    def reset(self):
        seed = {}
        if self.seed_path:
            with open(self.seed_path, encoding="utf-8") as f:
                seed = json.load(f)
        with self.lock:
            self.codes = dict(seed.get("referralCodes", {}))
            self.rewards = dict(seed.get("newUserRewards", {}))
            self.default_reward = seed.get("defaultNewUserReward", {"eligible": False, "reward": None})
            self.events, self.calls, self.faults = [], [], []
            self.depersonalized = []
            self.access, self.refresh = {}, {}
            self.token_serial, self.exchanges = {}, 0

    def issue_tokens(self):
        access, refresh = "cat_" + secrets.token_urlsafe(24), "crt_" + secrets.token_urlsafe(24)
        now = time.time()
        self.access[access] = now + self.token_ttl
        self.exchanges += 1
        self.token_serial[access] = self.exchanges
        self.refresh[refresh] = now + 432000
        return {
            "accessToken": access,
            "refreshToken": refresh,
            "expiresIn": self.token_ttl,
            "refreshTokenExpiresIn": 432000,
        }

    def take_fault(self, path, raw):
        """The first fault whose path prefix (and `bodyContains`, when given) matches, consumed
        once (unless times is -1). `bodyContains` lets parallel tests fault only their own calls."""
        with self.lock:
            for fault in self.faults:
                needle = fault.get("bodyContains")
                if needle is not None and needle.encode() not in raw:
                    continue
                if path.startswith(fault.get("path", "/")) and fault["times"] != 0:
                    if fault["times"] > 0:
                        fault["times"] -= 1
                    return dict(fault)
        return None


def is_loopback(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deliver_rewards(spec):
    """Sends Cello's reward callback as Cello does (at least once): `copies` deliveries of one
    eventId, each retried on a non-2xx answer up to `retries` times."""
    url = spec.get("url")
    if not isinstance(url, str) or not is_loopback(url):
        raise Invalid("url must be a loopback http URL")
    event_id = spec.get("eventId") or "evt_" + secrets.token_hex(8)
    if "rawBody" in spec:
        raw = spec["rawBody"].encode()
    else:
        body = {
            "version": spec.get("version", "1.0"),
            "eventType": spec.get("eventType", "new-reward"),
            "createdTs": spec.get("createdTs", int(time.time() * 1000)),
            "eventId": event_id,
            "data": {
                "rewardId": spec.get("rewardId", "rwd_" + event_id.removeprefix("evt_")),
                "productUserId": spec.get("productUserId"),
                "rewardType": spec.get("rewardType", "credits"),
                "reward": {"amount": spec.get("amount", 10)},
            },
        }
        raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "cello-standin"}
    if spec.get("username") is not None or spec.get("password") is not None:
        pair = f"{spec.get('username', '')}:{spec.get('password', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    if spec.get("env", "sandbox") is not None:
        headers["X-Cello-Env"] = spec.get("env", "sandbox")
    retries = int(spec.get("retries", 0))

    def one(_):
        attempts = 0
        while True:
            attempts += 1
            request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    status, text = r.status, r.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                status, text = e.code, e.read().decode("utf-8", "replace")
            except (urllib.error.URLError, TimeoutError) as e:
                status, text = 0, str(e)
            if 200 <= status < 300 or attempts > retries:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = text
                return {"status": status, "body": parsed, "attempts": attempts}
            time.sleep(0.2)

    copies = max(1, int(spec.get("copies", 1)))
    if spec.get("concurrent"):
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(copies, 16)) as pool:
            deliveries = list(pool.map(one, range(copies)))
    else:
        deliveries = [one(i) for i in range(copies)]
    return {"eventId": event_id, "deliveries": deliveries}


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "cello-standin"
        # The headers and the body go out in two writes; with Nagle's algorithm the body waits
        # for the client's delayed ACK of the headers, about 40 ms on every call.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # one line per call, never a body or a header
            sys.stderr.write("%s %s\n" % (self.command, self.path.split("?")[0]))

        def answer(self, status, body, extra=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", "req_" + secrets.token_hex(8))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            if not self.path.startswith("/_standin/"):
                with state.lock:
                    state.calls.append(
                        {"method": self.command, "path": self.path.split("?")[0], "status": status}
                    )

        def raw(self):
            if not hasattr(self, "_raw"):
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise Invalid("the body is over 256 KiB")
                self._raw = self.rfile.read(length) if length else b""
            return self._raw

        def body(self):
            raw = self.raw()
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError as e:
                raise Invalid(f"the body is not JSON: {e}") from None

        def authorized(self):
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            with state.lock:
                expiry = state.access.get(token)
            return expiry is not None and expiry > time.time()

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_PUT(self):
            self.route("PUT")

        def do_DELETE(self):
            self.route("DELETE")

        def route(self, method):
            path = urllib.parse.unquote(self.path.split("?")[0])
            self.__dict__.pop("_raw", None)  # one handler serves every request of a connection
            try:
                if path.startswith("/_standin/"):
                    return self.control(method, path)
                fault = state.take_fault(path, self.raw())
                if fault and fault.get("hang"):
                    time.sleep(float(fault.get("hangSeconds", 30)))
                    self.close_connection = True
                    return
                if fault:
                    extra = {}
                    if fault.get("retryAfter") is not None:
                        extra["Retry-After"] = str(fault["retryAfter"])
                    status = int(fault.get("status", 500))
                    return self.answer(status, {"success": False, "message": f"stand-in fault {status}"}, extra)
                return self.cello(method, path)
            except Invalid as e:
                return self.answer(400, {"success": False, "message": str(e)})

        def cello(self, method, path):
            if method == "POST" and path == "/token":
                body = self.body() or {}
                with state.lock:
                    if "refreshToken" in body:
                        expiry = state.refresh.pop(body.get("refreshToken"), None)
                        if expiry is None or expiry < time.time():
                            return self.answer(401, {"message": "invalid refresh token"})
                        return self.answer(201, state.issue_tokens())
                    good = secrets.compare_digest(str(body.get("accessKeyId", "")), state.key_id) and \
                        secrets.compare_digest(str(body.get("secretAccessKey", "")), state.secret_key)
                    if not good:
                        return self.answer(401, {"message": "invalid access key"})
                    return self.answer(201, state.issue_tokens())
            known = (
                (method == "POST" and path == "/events")
                or (method == "GET" and re.fullmatch(r"/referral-codes/[^/]+", path))
                or (method == "GET" and re.fullmatch(r"/new-users/[^/]+/reward", path))
                or (method == "POST" and re.fullmatch(r"/referrers/[^/]+/depersonalize", path))
            )
            if not known:
                return self.answer(404, {"message": f"no route {method} {path}"})
            if not self.authorized():
                return self.answer(401, {"message": "missing or expired access token"})
            parts = path.strip("/").split("/")
            if path == "/events":
                body = self.body()
                validate_event(body)
                token = self.headers.get("Authorization", "")[7:]
                with state.lock:
                    serial = state.token_serial.get(token)
                    state.events.append({"receivedAt": time.time(), "body": body, "tokenSerial": serial})
                return self.answer(200, {"success": True})
            if parts[0] == "referral-codes":
                with state.lock:
                    code = state.codes.get(parts[1])
                if code is None:
                    return self.answer(404, {"message": "referral code not found"})
                return self.answer(200, {"code": parts[1], **code})
            if parts[0] == "new-users":
                with state.lock:
                    reward = state.rewards.get(parts[1], state.default_reward)
                return self.answer(200, {"productUserId": parts[1], **reward})
            with state.lock:
                state.depersonalized.append(parts[1])
            return self.answer(200, {"success": True})

        def control(self, method, path):
            parts = path.strip("/").split("/")[1:]
            if method == "GET" and parts == ["events"]:
                with state.lock:
                    return self.answer(200, {"events": list(state.events)})
            if method == "GET" and parts == ["calls"]:
                with state.lock:
                    return self.answer(200, {"calls": list(state.calls)})
            if method == "GET" and parts == ["depersonalized"]:
                with state.lock:
                    return self.answer(200, {"productUserIds": list(state.depersonalized)})
            if method == "POST" and parts == ["reset"]:
                state.reset()
                return self.answer(200, {"reset": True})
            if parts == ["faults"] and method == "POST":
                fault = self.body()
                if not isinstance(fault, dict):
                    raise Invalid("a fault is a JSON object")
                fault.setdefault("path", "/")
                fault["times"] = int(fault.get("times", 1))
                with state.lock:
                    state.faults.append(fault)
                return self.answer(200, {"faults": len(state.faults)})
            if parts == ["faults"] and method == "DELETE":
                with state.lock:
                    state.faults.clear()
                return self.answer(200, {"faults": 0})
            if method == "PUT" and len(parts) == 3 and parts[0] == "new-users" and parts[2] == "reward":
                reward = self.body()
                if not isinstance(reward, dict):
                    raise Invalid("a reward answer is a JSON object")
                with state.lock:
                    state.rewards[parts[1]] = reward
                return self.answer(200, reward)
            if method == "PUT" and len(parts) == 2 and parts[0] == "referral-codes":
                code = self.body()
                if not isinstance(code, dict):
                    raise Invalid("a referral code is a JSON object")
                with state.lock:
                    state.codes[parts[1]] = code
                return self.answer(200, code)
            if method == "POST" and parts == ["rewards", "deliver"]:
                spec = self.body()
                if not isinstance(spec, dict):
                    raise Invalid("a delivery is a JSON object")
                return self.answer(200, deliver_rewards(spec))
            return self.answer(404, {"message": f"no control {method} {path}", "controls": CONTROLS})

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", default=os.path.join(os.path.dirname(__file__), "cello-seed.json"))
    parser.add_argument("--token-ttl", type=int, default=18000)
    args = parser.parse_args()
    if not is_loopback(f"http://{args.host}/"):
        parser.error("--host must be a loopback address")
    state = State(
        args.seed,
        os.environ.get("CELLO_STANDIN_ACCESS_KEY_ID", "local-cello-access-key-id"),
        os.environ.get("CELLO_STANDIN_SECRET_ACCESS_KEY", "local-cello-secret-access-key"),
        args.token_ttl,
    )
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state))
    server.daemon_threads = True
    sys.stderr.write(f"cello stand-in on http://{args.host}:{args.port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
