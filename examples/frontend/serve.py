#!/usr/bin/env python3
"""Local development server for the frontend demo page. Never deploy it.

    python3 examples/frontend/serve.py [--port 4514] [--standin-port 4515] [--cello-script-url URL]

Serves, on the page's own origin (so the browser applies real CORS rules to the API calls):
  - the static page (index.html, app.js, style.css);
  - /config.js, generated from the arguments: where the functions and Cello's script are;
  - POST /local/token: mints a local user token (HS256, AUTH_MODE=local) for the "sign in as"
    form, with infra/local/mint_token.py. A stand-in for your identity provider: a real app gets
    the user's token from Cognito or its OIDC provider, never from a form like this one.

With --standin-port, a second origin serves a stand-in for Cello's widget script
(standin/cello.js) that records the options the page boots it with (POST /standin/record, read
back with GET /standin/records), and the same page again: that origin is not in
CORS_ALLOWED_ORIGINS, so the page loaded from there shows how the API refuses an unknown origin.
Standard library only.
"""
import argparse
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "infra" / "local"))
from mint_token import mint  # noqa: E402  (the one implementation of local tokens)

# Cello's sandbox widget script, as Cello's Stripe quickstart loads it.
CELLO_SANDBOX_SCRIPT = "https://assets.sandbox.cello.so/app/v2/latest/cello.js"

# Only these files are served: never the tests, node_modules or this script.
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
STANDIN_SCRIPT = ("standin/cello.js", "text/javascript; charset=utf-8")
MAX_BODY = 16 * 1024
MAX_RECORDS = 500
TOKEN_TTL = 3600
SUB_RE = re.compile(r"^[A-Za-z0-9._@:|+-]{1,128}$")
EMAIL_RE = re.compile(r"^[^\s@<>\"']{1,64}@[^\s@<>\"']{1,190}$")
NAME_MAX = 100


class Recorder:
    """What the Cello stand-in was asked to do (boot, updateToken), in order, in memory."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []

    def add(self, record):
        with self.lock:
            self.records.append(record)
            del self.records[:-MAX_RECORDS]

    def all(self):
        with self.lock:
            return list(self.records)


def make_handler(config_js: bytes, own_origins: set, recorder: Recorder | None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "frontend-demo"
        sys_version = ""

        def log_message(self, fmt, *args):  # one short line per request: no bodies, no tokens
            port = self.server.server_address[1]
            status = args[1] if len(args) > 1 else ""
            sys.stderr.write(f"[frontend:{port}] {self.command} {self.path.split('?')[0]} {status}\n")

        def send_body(self, status, body: bytes, ctype: str, extra=None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_json(self, status, value, extra=None):
            self.send_body(status, json.dumps(value).encode(), "application/json", extra)

        def send_error_json(self, status, code, message, extra=None):
            self.send_json(status, {"error": {"code": code, "message": message}}, extra)

        def read_json(self, extra=None):
            """The body as a JSON object, or None after answering with the error."""
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                self.send_error_json(400, "invalid_body", "bad Content-Length", extra)
                return None
            if length > MAX_BODY:
                self.send_error_json(413, "body_too_large", f"the body is over {MAX_BODY} bytes", extra)
                return None
            try:
                data = json.loads(self.rfile.read(length) or b"null")
            except (ValueError, UnicodeDecodeError):
                self.send_error_json(400, "malformed_json", "the body is not valid JSON", extra)
                return None
            if not isinstance(data, dict):
                self.send_error_json(400, "invalid_body", "the body must be a JSON object", extra)
                return None
            return data

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/config.js":
                return self.send_body(200, config_js, "text/javascript; charset=utf-8")
            if path in STATIC:
                name, ctype = STATIC[path]
                return self.send_body(200, (HERE / name).read_bytes(), ctype)
            if recorder is not None and path == "/standin/cello.js":
                # Loaded as a module script by a page on another origin, like Cello's CDN script.
                name, ctype = STANDIN_SCRIPT
                return self.send_body(200, (HERE / name).read_bytes(), ctype,
                                      {"Access-Control-Allow-Origin": "*"})
            if recorder is not None and path == "/standin/records":
                return self.send_json(200, {"records": recorder.all()})
            if path == "/favicon.ico":
                return self.send_body(204, b"", "image/x-icon")
            self.send_error_json(404, "not_found", f"no such page: {path}")

        do_HEAD = do_GET

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            if path == "/local/token":
                return self.local_token()
            if recorder is not None and path == "/standin/record":
                # The stand-in posts text/plain (a CORS "simple" request, as analytics beacons do).
                cors = {"Access-Control-Allow-Origin": "*"}
                data = self.read_json(cors)
                if data is None:
                    return None
                data["origin"] = self.headers.get("Origin")
                recorder.add(data)
                return self.send_json(200, {"recorded": len(recorder.all())}, cors)
            self.send_error_json(404, "not_found", f"no such endpoint: {path}")

        def local_token(self):
            # Same-origin only: a page elsewhere must not mint tokens through this server. A
            # cross-origin JSON POST needs a preflight, which this server never answers.
            origin = self.headers.get("Origin")
            if origin is not None and origin not in own_origins:
                return self.send_error_json(403, "forbidden_origin", "local tokens are for this server's own pages")
            if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                return self.send_error_json(415, "unsupported_media_type", "send application/json")
            data = self.read_json()
            if data is None:
                return None
            sub = data.get("sub")
            if not isinstance(sub, str) or not SUB_RE.match(sub):
                return self.send_error_json(
                    400, "invalid_sub", "sub: 1 to 128 letters, digits or . _ @ : | + -")
            email = data.get("email")
            if email is not None and (not isinstance(email, str) or not EMAIL_RE.match(email)):
                return self.send_error_json(400, "invalid_email", "email: not an email address")
            email_verified = data.get("emailVerified", True)
            if not isinstance(email_verified, bool):
                return self.send_error_json(400, "invalid_emailVerified", "emailVerified: true or false")
            names = {}
            for field in ("givenName", "familyName"):
                value = data.get(field)
                if value is not None and (
                    not isinstance(value, str) or len(value) > NAME_MAX
                    or any(ord(c) < 32 for c in value)
                ):
                    return self.send_error_json(
                        400, "invalid_" + field, f"{field}: text of at most {NAME_MAX} characters")
                names[field] = value or None
            token = mint(sub, email or None, names["givenName"], names["familyName"], TOKEN_TTL,
                         email_verified=email_verified)
            self.send_json(200, {"token": token, "sub": sub, "expiresIn": TOKEN_TTL})

        def do_OPTIONS(self):
            # Preflights are refused on purpose (see local_token); the stand-in needs none.
            self.send_body(204, b"", "text/plain")

    return Handler


def origins(bind: str, port: int) -> set:
    return {f"http://{bind}:{port}", f"http://127.0.0.1:{port}", f"http://localhost:{port}"}


def main() -> int:
    watch = os.environ.get("LOCAL_WATCH_URL", "http://127.0.0.1:4513").rstrip("/")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", default="127.0.0.1", help="loopback only by default")
    p.add_argument("--port", type=int, default=4514)
    p.add_argument("--standin-port", type=int, default=None,
                   help="also serve the Cello stand-in script (and the page) on this port")
    p.add_argument("--signup-url", default=f"{watch}/lambda-url/signup/")
    p.add_argument("--token-url", default=f"{watch}/lambda-url/cello-token/")
    # The API's paths under the function's URL: POST /checkout, GET /checkout/discount.
    p.add_argument("--checkout-url", default=f"{watch}/lambda-url/checkout/checkout")
    p.add_argument("--price-id", default=(os.environ.get("CHECKOUT_PRICES", "").split(",")[0].strip()
                                          or "price_local_pro_monthly"),
                   help="the price the Subscribe button starts (one of CHECKOUT_PRICES)")
    p.add_argument("--credits-url", default=f"{watch}/lambda-url/rewards/credits")
    p.add_argument("--cello-script-url", default=None,
                   help="Cello's widget script (default: the stand-in with --standin-port, "
                        "else Cello's sandbox script)")
    a = p.parse_args()

    script = a.cello_script_url
    if script is None:
        script = (f"http://{a.bind}:{a.standin_port}/standin/cello.js"
                  if a.standin_port else CELLO_SANDBOX_SCRIPT)
    config = {"signupUrl": a.signup_url, "celloTokenUrl": a.token_url,
              "checkoutUrl": a.checkout_url, "checkoutDiscountUrl": f"{a.checkout_url}/discount",
              "priceId": a.price_id, "creditsUrl": a.credits_url,
              "celloScriptUrl": script, "localTokenUrl": "/local/token"}
    # json.dumps escapes quotes and backslashes; this is a .js file, so "</script>" is harmless.
    config_js = ("// Generated by serve.py from its arguments.\nwindow.APP_CONFIG = "
                 + json.dumps(config, indent=2) + ";\n").encode()

    try:
        servers = [ThreadingHTTPServer((a.bind, a.port),
                                       make_handler(config_js, origins(a.bind, a.port), None))]
        if a.standin_port:
            servers.append(ThreadingHTTPServer(
                (a.bind, a.standin_port),
                make_handler(config_js, origins(a.bind, a.standin_port), Recorder())))
    except OSError as e:
        print(f"[frontend] error: cannot listen on {a.bind}: {e} (set STACK_PORT_BASE)", file=sys.stderr)
        return 1
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    page = f"http://{a.bind}:{a.port}"
    print(f"[frontend] demo page: {page}/?ucc=pNRB1aYqArN (a referral landing link)", flush=True)
    print(f"[frontend] API: {a.signup_url} and {a.token_url}", flush=True)
    print(f"[frontend] Cello script: {script}", flush=True)
    if a.standin_port:
        print(f"[frontend] Cello stand-in and a page on an origin CORS does not allow: "
              f"http://{a.bind}:{a.standin_port}/", flush=True)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
