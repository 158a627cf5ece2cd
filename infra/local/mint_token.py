#!/usr/bin/env python3
"""Mints a local user token (HS256) that the functions accept under AUTH_MODE=local.

    python3 infra/local/mint_token.py --sub user-123 --email ada@example.com \
        [--unverified-email] [--given-name Ada] [--family-name Lovelace] [--ttl 3600]

With an email the token says `email_verified: true`, as Cognito's ID tokens do for a confirmed
address; `--unverified-email` says false (an address the provider never proved).

The secret is LOCAL_AUTH_SECRET from the environment (the local stack's value by default).
Standard library only, so it works before any install.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time

LOCAL_ISSUER = "cello-referral-local"
DEFAULT_SECRET = "local-dev-auth-secret-not-for-production"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(sub: str, email=None, given_name=None, family_name=None, ttl=3600, secret=None,
         email_verified=True) -> str:
    secret = secret or os.environ.get("LOCAL_AUTH_SECRET", DEFAULT_SECRET)
    now = int(time.time())
    claims = {"sub": sub, "iss": LOCAL_ISSUER, "iat": now, "exp": now + ttl}
    for key, value in (("email", email), ("given_name", given_name), ("family_name", family_name)):
        if value:
            claims[key] = value
    if email:
        claims["email_verified"] = bool(email_verified)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sub", required=True, help="the user id (becomes Cello's productUserId)")
    p.add_argument("--email")
    p.add_argument("--unverified-email", action="store_true",
                   help="the token says email_verified: false")
    p.add_argument("--given-name")
    p.add_argument("--family-name")
    p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    a = p.parse_args()
    print(mint(a.sub, a.email, a.given_name, a.family_name, a.ttl,
               email_verified=not a.unverified_email))
    return 0


if __name__ == "__main__":
    sys.exit(main())
