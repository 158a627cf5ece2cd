"""localstripe with Checkout Sessions: the local Stripe stand-in for `POST /checkout`.

localstripe 1.15 (PyPI) keeps customers, plans, coupons, subscriptions and invoices, and
delivers signed events, but has no Checkout Sessions and no `discounts`. This module runs
localstripe's own server (same app, store and webhook delivery) with one more resource
registered on it, so checkout is tested against a server that keeps state and checks its
parameters as Stripe documents them, instead of a mock in the tests:

  POST /v1/checkout/sessions              create (parameter checks below, idempotency keys)
  GET  /v1/checkout/sessions/{id}         retrieve
  GET  /v1/checkout/sessions              list (`customer`, `limit`)
  POST /v1/checkout/sessions/{id}/expire  expire an open session

and two local-only controls (no API key, like localstripe's `/_config/` routes):

  POST /_config/checkout/sessions/{id}/complete
      what paying on Stripe's page does: a test card on the customer, the subscription
      created on localstripe's own Subscription (its invoice paid, the coupon's discount on it
      and on that first invoice), the session `complete` with its `subscription`, and a
      `checkout.session.completed` event (listed by /v1/events, delivered to registered
      webhooks). Answers {"session", "subscription", "event"}.
  GET  /c/pay/{id}
      a minimal stand-in for Stripe's hosted page (the session's `url`): the price, the
      discount, and a Pay button that completes the session and follows `success_url`.

Plans (localstripe has no Price objects: a price id is a Plan with that id) and coupons come
from infra/local/stripe-checkout-seed.json, created when the server starts.

Run: python infra/local/localstripe_checkout.py --port PORT [--from-scratch]
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import sys
import time
from pathlib import Path

from aiohttp import web
from localstripe import server
from localstripe import resources as r
from localstripe.errors import UserError

SEED = Path(os.environ.get("LOCAL_STRIPE_SEED", Path(__file__).with_name("stripe-checkout-seed.json")))

# Stripe's documented limits (Checkout Session create; metadata).
MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 3600
METADATA_KEYS, METADATA_KEY_LEN, METADATA_VALUE_LEN = 50, 40, 500
CLIENT_REFERENCE_ID_LEN = 200
MODES = ("payment", "setup", "subscription")
KNOWN = {
    "mode", "success_url", "cancel_url", "line_items", "customer", "customer_email",
    "client_reference_id", "metadata", "subscription_data", "discounts",
    "allow_promotion_codes", "expires_at", "locale", "payment_method_types",
    "billing_address_collection", "customer_update", "expand", "ui_mode", "return_url",
}
SUBSCRIPTION_DATA_KNOWN = {"metadata", "trial_period_days", "description", "default_tax_rates"}


def invalid(message: str, param: str | None = None, code: str = "parameter_invalid", status: int = 400):
    contents = {"message": message, "code": code}
    if param:
        contents["param"] = param
    return UserError(status, message, contents)


def missing(param: str):
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def check_url(value, param):
    if not isinstance(value, str) or not re.match(r"^https?://[^\s]+$", value):
        raise invalid(f"Not a valid URL", param, "url_invalid")


def check_metadata(value, param):
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param)
    if len(value) > METADATA_KEYS:
        raise invalid(f"Metadata can have up to {METADATA_KEYS} keys", param)
    for k, v in value.items():
        if len(k) > METADATA_KEY_LEN:
            raise invalid(f"Metadata keys can be up to {METADATA_KEY_LEN} characters long", f"{param}[{k}]")
        if not isinstance(v, str) or len(v) > METADATA_VALUE_LEN:
            raise invalid(f"Metadata values can be up to {METADATA_VALUE_LEN} characters long", f"{param}[{k}]")
    return dict(value)


def as_bool(value, param):
    converted = r.try_convert_to_bool(value)
    if not isinstance(converted, bool):
        raise invalid("Invalid boolean", param)
    return converted


def coupon_discount(coupon: r.Coupon, amount: int) -> int:
    if coupon.percent_off is not None:
        return int(round(amount * coupon.percent_off / 100.0))
    return min(amount, coupon.amount_off or 0)


class CheckoutSession(r.StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(self, **params):
        unknown = sorted(set(params) - KNOWN)
        if unknown:
            raise invalid(f"Received unknown parameter: {unknown[0]}", unknown[0], "parameter_unknown")
        mode = params.get("mode")
        if mode is None:
            raise missing("mode")
        if mode not in MODES:
            raise invalid(f"Invalid mode: must be one of {', '.join(MODES)}", "mode")
        if params.get("ui_mode", "hosted") != "hosted":
            raise invalid("Only ui_mode=hosted is served by the local stand-in", "ui_mode")
        if "success_url" not in params:
            raise missing("success_url")
        check_url(params["success_url"], "success_url")
        if "cancel_url" in params:
            check_url(params["cancel_url"], "cancel_url")

        customer = params.get("customer")
        if customer is not None:
            if "customer_email" in params:
                raise invalid("You may only specify one of these parameters: customer, customer_email.", "customer")
            try:
                r.Customer._api_retrieve(customer)
            except UserError:
                raise invalid(f"No such customer: '{customer}'", "customer", "resource_missing")

        ref = params.get("client_reference_id")
        if ref is not None and (not isinstance(ref, str) or not ref or len(ref) > CLIENT_REFERENCE_ID_LEN):
            raise invalid(f"client_reference_id must be 1 to {CLIENT_REFERENCE_ID_LEN} characters", "client_reference_id")

        items = params.get("line_items")
        if mode in ("payment", "subscription") and not items:
            raise invalid(f"line_items is required in {mode} mode.", "line_items", "parameter_missing")
        items = items or []
        if not isinstance(items, list):
            raise invalid("Invalid array", "line_items")
        plans = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "price" not in item:
                raise missing(f"line_items[{i}][price]")
            quantity = r.try_convert_to_int(item.get("quantity"))
            if not isinstance(quantity, int) or quantity < 1:
                raise invalid("Quantity is required and must be a positive integer", f"line_items[{i}][quantity]")
            extra = sorted(set(item) - {"price", "quantity"})
            if extra:
                raise invalid(f"Received unknown parameter: line_items[{i}][{extra[0]}]", f"line_items[{i}][{extra[0]}]", "parameter_unknown")
            try:
                plan = r.Plan._api_retrieve(item["price"])
            except UserError:
                raise invalid(f"No such price: '{item['price']}'", f"line_items[{i}][price]", "resource_missing")
            if mode == "subscription" and not plan.interval:
                raise invalid("Subscription mode needs recurring prices", f"line_items[{i}][price]")
            plans.append((plan, quantity))

        metadata = check_metadata(params.get("metadata"), "metadata")
        sub_data = params.get("subscription_data") or {}
        if sub_data and mode != "subscription":
            raise invalid("subscription_data can only be used in subscription mode.", "subscription_data")
        if not isinstance(sub_data, dict):
            raise invalid("Invalid object", "subscription_data")
        extra = sorted(set(sub_data) - SUBSCRIPTION_DATA_KNOWN)
        if extra:
            raise invalid(f"Received unknown parameter: subscription_data[{extra[0]}]", f"subscription_data[{extra[0]}]", "parameter_unknown")
        sub_metadata = check_metadata(sub_data.get("metadata"), "subscription_data[metadata]")

        discounts = params.get("discounts")
        allow_codes = params.get("allow_promotion_codes")
        if allow_codes is not None:
            allow_codes = as_bool(allow_codes, "allow_promotion_codes")
        if discounts not in (None, "", []) and allow_codes is not None:
            raise invalid("You may only specify one of these parameters: allow_promotion_codes, discounts.", "discounts")
        coupons = []
        if discounts not in (None, ""):
            if not isinstance(discounts, list):
                raise invalid("Invalid array", "discounts")
            if len(discounts) > 1:
                raise invalid("You may only specify one discount on a Checkout Session.", "discounts")
            for i, d in enumerate(discounts):
                if not isinstance(d, dict) or set(d) - {"coupon", "promotion_code"} or len(d) != 1:
                    raise invalid("Each discount takes exactly one of coupon, promotion_code", f"discounts[{i}]")
                if "promotion_code" in d:
                    raise invalid("Promotion codes are not served by the local stand-in", f"discounts[{i}][promotion_code]")
                try:
                    coupon = r.Coupon._api_retrieve(d["coupon"])
                except UserError:
                    raise invalid(f"No such coupon: '{d['coupon']}'", f"discounts[{i}][coupon]", "resource_missing")
                if not coupon.valid:
                    raise invalid(f"Coupon '{coupon.id}' is not valid", f"discounts[{i}][coupon]", "coupon_expired")
                coupons.append(coupon)

        now = int(time.time())
        expires_at = r.try_convert_to_int(params.get("expires_at", now + MAX_EXPIRY))
        if not isinstance(expires_at, int):
            raise invalid("Invalid integer", "expires_at")
        if expires_at < now + MIN_EXPIRY - 5:
            raise invalid("The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.", "expires_at")
        if expires_at > now + MAX_EXPIRY + 5:
            raise invalid("The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.", "expires_at")

        # All exceptions must be raised before this point (localstripe's own rule).
        super().__init__()
        subtotal = sum(p.amount * q for p, q in plans)
        off = sum(coupon_discount(c, subtotal) for c in coupons)
        self.mode = mode
        self.status = "open"
        self.payment_status = "unpaid"
        self.customer = customer
        self.customer_email = params.get("customer_email")
        self.client_reference_id = ref
        self.metadata = metadata
        self.success_url = params["success_url"]
        self.cancel_url = params.get("cancel_url")
        self.expires_at = expires_at
        self.allow_promotion_codes = allow_codes
        self.discounts = [{"coupon": c.id, "promotion_code": None} for c in coupons]
        self.currency = plans[0][0].currency if plans else None
        self.amount_subtotal = subtotal
        self.amount_total = subtotal - off
        self.total_details = {"amount_discount": off, "amount_shipping": 0, "amount_tax": 0}
        self.subscription = None
        self.invoice = None
        self.locale = params.get("locale")
        self.url = f"{PUBLIC_BASE}/c/pay/{self.id}"
        self._line_items = [(p.id, q) for p, q in plans]
        self._subscription_data_metadata = sub_metadata

    def _expire_if_due(self):
        if self.status == "open" and int(time.time()) >= self.expires_at:
            self.status = "expired"
            self.url = None

    @classmethod
    def _api_retrieve(cls, id):
        obj = super()._api_retrieve(id)
        obj._expire_if_due()
        return obj

    @classmethod
    def _api_update(cls, id, **data):
        raise UserError(405, "Method Not Allowed")

    @classmethod
    def _api_delete(cls, id):
        raise UserError(405, "Method Not Allowed")

    @classmethod
    def _api_list_all(cls, url, customer=None, limit=None, starting_after=None, **kwargs):
        li = super()._api_list_all(url, limit=limit, starting_after=starting_after, **kwargs)
        for s in li._list:
            s._expire_if_due()
        if customer is not None:
            li._list = [s for s in li._list if s.customer == customer]
        return li

    @classmethod
    def _api_expire(cls, id=None, **kwargs):
        obj = cls._api_retrieve(id)
        if obj.status != "open":
            raise invalid(f"Only Checkout Sessions with a status of open can be expired. This session's status is {obj.status}.", None, "checkout_session_not_open")
        obj.status = "expired"
        obj.url = None
        r.schedule_webhook(r.Event("checkout.session.expired", obj))
        return obj

    def _complete(self):
        """What paying on Stripe's page does, on localstripe's own objects."""
        self._expire_if_due()
        if self.status != "open":
            raise invalid(f"This Checkout Session is {self.status}, not open.", None, "checkout_session_not_open")
        if self.mode != "subscription" or not self.customer:
            raise invalid("The local stand-in completes subscription sessions with a customer only.")
        customer = r.Customer._api_retrieve(self.customer)
        pm = r.PaymentMethod(type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"})
        r.PaymentMethod._api_attach(pm.id, customer=customer.id)
        customer.invoice_settings["default_payment_method"] = pm.id
        plan_id, quantity = self._line_items[0]
        coupon = r.Coupon._api_retrieve(self.discounts[0]["coupon"]) if self.discounts else None
        if coupon is not None:
            # localstripe's invoices know no discounts: the first invoice carries it as a line.
            plan = r.Plan._api_retrieve(plan_id)
            r.InvoiceItem(customer=customer.id, amount=-coupon_discount(coupon, plan.amount * quantity),
                          currency=plan.currency, description=f"Discount ({coupon.id})")
        sub = r.Subscription(customer=customer.id, items=[{"plan": plan_id, "quantity": quantity}],
                             metadata=dict(self._subscription_data_metadata))
        if coupon is not None:
            now = int(time.time())
            end = None
            if coupon.duration == "repeating":
                end = now + coupon.duration_in_months * 30 * 24 * 3600
            discount = {
                "id": "di_" + r.random_id(14), "object": "discount", "coupon": coupon._export(),
                "customer": customer.id, "subscription": sub.id, "checkout_session": self.id,
                "promotion_code": None, "start": now, "end": end,
            }
            sub.discount = discount
            sub.discounts = [discount["id"]]
            coupon.times_redeemed += 1
        self.status = "complete"
        self.payment_status = "paid"
        self.subscription = sub.id
        self.invoice = sub.latest_invoice
        self.url = None
        event = r.Event("checkout.session.completed", self)
        r.schedule_webhook(event)
        return {"session": self._export(), "subscription": sub._export(), "event": event._export()}


PUBLIC_BASE = "http://127.0.0.1:8420"
IDEMPOTENT: dict[str, tuple[str, int, str]] = {}


async def create_session(request):
    data = await server.get_post_data(request) or {}
    expand = data.pop("expand", None)
    key = request.headers.get("Idempotency-Key")
    fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if key:
        seen = IDEMPOTENT.get(key)
        if seen is not None:
            if seen[0] != fingerprint:
                raise UserError(400, "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request." % key, {"type": "idempotency_error", "code": "idempotency_key_in_use"})
            return web.Response(status=seen[1], text=seen[2], content_type="application/json", headers={"Idempotent-Replayed": "true"})
    try:
        body, status = CheckoutSession(**data)._export(expand=expand), 200
    except UserError as e:
        body, status = e.body, e.code
    text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    # As Stripe: a request refused by its parameter checks saves no result for its key.
    if key and status == 200:
        IDEMPOTENT[key] = (fingerprint, status, text)
    return web.Response(status=status, text=text, content_type="application/json")


async def complete_session(request):
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    return server.json_response(session._complete())


async def pay_page(request):
    try:
        s = CheckoutSession._api_retrieve(request.match_info["id"])
    except UserError:
        return web.Response(status=404, text="No such Checkout Session", content_type="text/plain")
    if request.method == "POST":
        s._complete()
        raise web.HTTPSeeOther(s.success_url.replace("{CHECKOUT_SESSION_ID}", s.id))
    e = html.escape
    off = s.total_details["amount_discount"]
    coupon = f"<p id='discount'>Discount {e(s.discounts[0]['coupon'])}: -{off / 100:.2f}</p>" if s.discounts else "<p id='discount'>No discount</p>"
    pay = f"<form method='post'><button id='pay' type='submit'>Pay {s.amount_total / 100:.2f} {e(s.currency or '')}</button></form>" if s.status == "open" else f"<p>This session is {e(s.status)}.</p>"
    cancel = f"<p><a id='cancel' href='{e(s.cancel_url)}'>Cancel</a></p>" if s.cancel_url else ""
    page = (f"<!doctype html><meta charset='utf-8'><title>Checkout (local Stripe stand-in)</title>"
            f"<h1>Checkout <small>local Stripe stand-in</small></h1>"
            f"<p id='session'>{e(s.id)} ({e(s.status)})</p><p id='subtotal'>Subtotal {s.amount_subtotal / 100:.2f} {e(s.currency or '')}</p>"
            f"{coupon}{pay}{cancel}")
    return web.Response(text=page, content_type="text/html")


@web.middleware
async def auth_unless_local_page(request, handler):
    # The hosted page is a browser page (no API key), as Stripe's is.
    if request.path.startswith("/c/pay/"):
        return await handler(request)
    return await server.auth_middleware(request, handler)


async def seed(app):
    if not SEED.exists():
        return
    data = json.loads(SEED.read_text())
    for plan in data.get("prices", []):
        if ("plan:" + plan["id"]) not in r.store:
            r.Plan(**plan)
    for coupon in data.get("coupons", []):
        if ("coupon:" + coupon["id"]) not in r.store:
            r.Coupon(**coupon)


def register(app: web.Application, port: int):
    global PUBLIC_BASE
    PUBLIC_BASE = f"http://127.0.0.1:{port}"
    i = list(app.middlewares).index(server.auth_middleware)
    app.middlewares[i] = auth_unless_local_page
    # Before localstripe's generic `/v1/{objects}/{id}` routes match nothing of ours anyway;
    # the expire route is an extra route, as localstripe's own are.
    app.router.add_post("/v1/checkout/sessions", create_session)
    app.router.add_route("POST", "/v1/checkout/sessions/{id}/expire",
                         server.api_extra(CheckoutSession._api_expire, "/v1/checkout/sessions/{id}/expire"))
    app.router.add_get("/v1/checkout/sessions/{id}", server.api_retrieve(CheckoutSession, None))
    app.router.add_get("/v1/checkout/sessions", server.api_list_all(CheckoutSession, "/v1/checkout/sessions"))
    app.router.add_post("/_config/checkout/sessions/{id}/complete", complete_session)
    app.router.add_route("GET", "/c/pay/{id}", pay_page)
    app.router.add_route("POST", "/c/pay/{id}", pay_page)
    app.on_startup.append(seed)


def main():
    port = 8420
    argv = sys.argv[1:]
    if "--port" in argv:
        port = int(argv[argv.index("--port") + 1])
    register(server.app, port)
    server.start()


if __name__ == "__main__":
    main()
