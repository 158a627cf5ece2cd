//! Unit tests of the checkout handler with in-memory ports (users and session items, a Stripe
//! that keeps idempotency keys as Stripe does, a Cello that answers what it is told) and the
//! `events/checkout` fixtures.

use checkout::cello::memory::MemoryCello;
use checkout::discount::{CelloReward, CelloView, CouponRule, DiscountPolicy, Fallback};
use checkout::handler::CheckoutHandler;
use checkout::settings::CheckoutSettings;
use checkout::store::BillingFacts;
use checkout::store::memory::MemoryStore;
use checkout::stripe::memory::MemoryCheckout;
use futures::future::join_all;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::Authenticator;
use shared::User;
use std::sync::atomic::Ordering;
use testkit::{FixedClock, assert_expected, fixture_expectations, fixture_request};

const NOW: i64 = 1_796_155_200;
const PRICE: &str = "price_local_pro_monthly";

type Handler = CheckoutHandler<MemoryStore, MemoryCheckout, MemoryCello, FixedClock>;

fn settings(fallback: Fallback) -> CheckoutSettings {
    CheckoutSettings {
        prices: vec![PRICE.into(), "price_local_pro_yearly".into()],
        success_url: "https://app.example.com/ok?s={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "https://app.example.com/pricing".into(),
        session_seconds: 3600,
        allow_promotion_codes: true,
        policy: DiscountPolicy {
            coupons: vec![
                CouponRule {
                    percent_off: 50,
                    months: 3,
                    coupon: "cello-new-user-50-3m".into(),
                },
                CouponRule {
                    percent_off: 25,
                    months: 1,
                    coupon: "cello-new-user-25-1m".into(),
                },
            ],
            fallback,
        },
        claim_lease_seconds: 30,
        stripe_api_base: None,
    }
}

fn user(id: &str, ucc: Option<&str>, customer: Option<&str>) -> User {
    User {
        user_id: id.into(),
        email: Some(format!("{id}@example.com")),
        unverified_email: None,
        email_pending_stripe: None,
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        organization_id: Some("org-42".into()),
        language: None,
        ucc: ucc.map(str::to_owned),
        ucc_source: None,
        ucc_standard: None,
        created_at: NOW - 100,
        stripe_customer_id: customer.map(str::to_owned),
        erased_at: None,
    }
}

fn handler_with(users: Vec<User>, cello: CelloView, fallback: Fallback) -> Handler {
    CheckoutHandler {
        store: MemoryStore::with_users(users),
        stripe: MemoryCheckout::default(),
        cello: MemoryCello::new(cello),
        auth: Authenticator::ApiGatewayJwt,
        settings: settings(fallback),
        clock: FixedClock::at(NOW),
    }
}

fn eligible(pct: f64, months: u32) -> CelloView {
    CelloView::Answered(CelloReward {
        eligible: true,
        kind: Some("discount".into()),
        percentage: Some(pct),
        interval: Some("month".into()),
        interval_count: Some(months),
    })
}

fn referred() -> Handler {
    handler_with(
        vec![
            user("ada", Some("pNRB1aYqArN"), Some("cus_ada")),
            user("bob", None, Some("cus_bob")),
            user("eve", Some("pNRB1aYqArN"), None),
        ],
        eligible(50.0, 3),
        Fallback::Grant,
    )
}

fn request(method: &str, path: &str, sub: Option<&str>, body: Option<&str>) -> Request {
    let mut event = json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path,
        "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.1", "userAgent": "test"}, "requestId": "r-1",
            "routeKey": format!("{method} {path}"), "stage": "$default",
            "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
            "time": "01/Dec/2026:20:00:00 +0000", "timeEpoch": 0},
        "isBase64Encoded": false,
    });
    if let Some(sub) = sub {
        event["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": {"sub": sub}, "scopes": null}});
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn send(h: &Handler, req: Request) -> (u16, Option<String>, Value) {
    let routes = checkout::routes(vec![]);
    let (route, endpoint) = routes.for_path(req.uri().path());
    let resp = route.serve(req, |r| h.handle(endpoint, r)).await;
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let Body::Text(text) = resp.body() else {
        panic!("non-text body")
    };
    (
        resp.status().as_u16(),
        retry,
        serde_json::from_str(text).unwrap(),
    )
}

async fn post(h: &Handler, sub: &str, price: &str) -> (u16, Option<String>, Value) {
    let body = json!({ "priceId": price }).to_string();
    send(h, request("POST", "/checkout", Some(sub), Some(&body))).await
}

async fn discount(h: &Handler, sub: &str) -> (u16, Value) {
    let (status, _, body) = send(h, request("GET", "/checkout/discount", Some(sub), None)).await;
    (status, body)
}

#[tokio::test]
async fn every_fixture_gives_its_expected_outcome() {
    let h = referred();
    for (case, expect) in fixture_expectations("checkout", "fx") {
        let req = fixture_request(&format!("checkout/{case}.json"), "fx");
        let routes = checkout::routes(vec![]);
        let (route, endpoint) = routes.for_path(req.uri().path());
        let resp = route.serve(req, |r| h.handle(endpoint, r)).await;
        let status = resp.status().as_u16();
        for (name, want) in expect["headers"].as_object().into_iter().flatten() {
            assert_eq!(
                resp.headers().get(name).map(|v| v.to_str().unwrap()),
                want.as_str(),
                "{case}: header {name}"
            );
        }
        let Body::Text(text) = resp.body() else {
            panic!("{case}: non-text body")
        };
        let body: Value = serde_json::from_str(text).unwrap();
        assert_expected(&case, &expect, status, &body, |_, v| v.clone());
    }
    assert_eq!(h.stripe.count(), 0, "no fixture creates a session");
}

#[tokio::test]
async fn a_referred_new_user_gets_exactly_one_discount_with_cellos_metadata() {
    let h = referred();
    let (status, _, body) = post(&h, "ada", PRICE).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["discount"]["coupon"], "cello-new-user-50-3m");
    assert_eq!(body["discount"]["percentOff"], 50);
    assert_eq!(body["discount"]["months"], 3);
    assert_eq!(body["reason"], "cello_reward");
    assert_eq!(body["sessionId"], "cs_test_mem1");
    assert!(body["url"].as_str().unwrap().contains("cs_test_mem1"));
    assert_eq!(body["expiresAt"], NOW + 3600);

    let sent = h.stripe.last().unwrap();
    assert_eq!(
        sent.customer_id, "cus_ada",
        "signup's customer, never a new one"
    );
    assert_eq!(sent.client_reference_id, "ada");
    assert_eq!(sent.price_id, PRICE);
    assert_eq!(
        sent.success_url,
        "https://app.example.com/ok?s={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(sent.cancel_url, "https://app.example.com/pricing");
    assert_eq!(
        sent.discount.as_ref().unwrap().coupon,
        "cello-new-user-50-3m"
    );
    assert_eq!(sent.metadata["cello_ucc"], "pNRB1aYqArN");
    assert_eq!(sent.metadata["new_user_id"], "ada");
    assert_eq!(sent.metadata["new_user_organization_id"], "org-42");

    // The same click again, and again: the same open session, nothing new at Stripe.
    for _ in 0..3 {
        let (status, _, again) = post(&h, "ada", PRICE).await;
        assert_eq!(status, 200);
        assert_eq!(again["sessionId"], body["sessionId"]);
        assert_eq!(again["discount"], body["discount"]);
    }
    assert_eq!(h.stripe.count(), 1);
    assert_eq!(h.stripe.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreferred_user_gets_no_discount_and_may_use_promotion_codes() {
    let h = referred();
    let (status, _, body) = post(&h, "bob", PRICE).await;
    assert_eq!(status, 201);
    assert_eq!(body["discount"], Value::Null);
    assert_eq!(body["reason"], "no_referral");
    let sent = h.stripe.last().unwrap();
    assert_eq!(sent.discount, None);
    assert!(sent.allow_promotion_codes);
    assert_eq!(sent.metadata.get("cello_ucc"), None);
    assert_eq!(
        h.cello.calls.load(Ordering::SeqCst),
        0,
        "Cello is not asked about a user nobody referred"
    );
}

#[tokio::test]
async fn a_paid_invoice_recorded_means_already_subscribed() {
    let h = referred();
    h.store.set_facts(
        "cus_ada",
        BillingFacts {
            paid_invoices: 1,
            ..BillingFacts::default()
        },
    );
    let (status, _, body) = post(&h, "ada", PRICE).await;
    assert_eq!(status, 201);
    assert_eq!(body["discount"], Value::Null);
    assert_eq!(body["reason"], "already_subscribed");
    assert_eq!(h.stripe.last().unwrap().discount, None);
    let (status, d) = discount(&h, "ada").await;
    assert_eq!(
        (status, d["reason"].as_str()),
        (200, Some("already_subscribed"))
    );
}

#[tokio::test]
async fn cello_decides_not_eligible_and_other_rewards() {
    let h = referred();
    h.cello.set(CelloView::Answered(CelloReward {
        eligible: false,
        kind: None,
        percentage: None,
        interval: None,
        interval_count: None,
    }));
    let (_, _, body) = post(&h, "ada", PRICE).await;
    assert_eq!(body["discount"], Value::Null);
    assert_eq!(body["reason"], "not_eligible_at_cello");

    // Another reward picks its own coupon (a new price, so a new session).
    h.cello.set(eligible(25.0, 1));
    let (_, _, body) = post(&h, "ada", "price_local_pro_yearly").await;
    assert_eq!(body["discount"]["coupon"], "cello-new-user-25-1m");
    h.cello.set(eligible(10.0, 1));
    let (_, d) = discount(&h, "ada").await;
    assert_eq!(d["reason"], "no_coupon_for_reward");
}

#[tokio::test]
async fn cello_unreachable_uses_the_configured_fallback() {
    let h = handler_with(
        vec![user("ada", Some("pNRB1aYqArN"), Some("cus_ada"))],
        CelloView::Unreachable,
        Fallback::Grant,
    );
    let (_, d) = discount(&h, "ada").await;
    assert_eq!(d["discount"]["coupon"], "cello-new-user-50-3m");
    assert_eq!(d["reason"], "cello_unreachable_fallback");
    let h = handler_with(
        vec![user("ada", Some("pNRB1aYqArN"), Some("cus_ada"))],
        CelloView::Unreachable,
        Fallback::Deny,
    );
    let (_, _, body) = post(&h, "ada", PRICE).await;
    assert_eq!(
        (body["discount"].clone(), body["reason"].as_str()),
        (Value::Null, Some("cello_unreachable"))
    );
}

#[tokio::test]
async fn twenty_concurrent_clicks_make_one_session() {
    let h = referred();
    h.stripe.delay_ms.store(100, Ordering::SeqCst);
    let answers = join_all((0..20).map(|_| post(&h, "ada", PRICE))).await;
    let created = answers.iter().filter(|(s, _, _)| *s == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(answers.iter().all(|(s, _, _)| *s == 200 || *s == 201));
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|(_, _, b)| b["sessionId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(h.stripe.count(), 1);
    assert_eq!(h.stripe.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn stripe_down_is_503_with_retry_after_and_nothing_half_stored() {
    let h = referred();
    h.stripe.down.store(true, Ordering::SeqCst);
    let (status, retry, body) = post(&h, "ada", PRICE).await;
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert_eq!(h.store.session("ada", PRICE), None);
    assert_eq!(h.stripe.count(), 0);

    // Back up: the retry creates the one session at once (the lease was released).
    h.stripe.down.store(false, Ordering::SeqCst);
    let (status, _, body) = post(&h, "ada", PRICE).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.stripe.count(), 1);
}

#[tokio::test]
async fn refused_inputs_create_nothing_at_stripe() {
    let h = referred();
    let (status, _, body) = post(&h, "ada", "price_other").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("price_not_allowed"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("priceId")
    );
    for (bad, field) in [
        (
            r#"{"priceId":"price_local_pro_monthly","successUrl":"https://evil.test"}"#,
            "successUrl",
        ),
        (
            r#"{"priceId":"price_local_pro_monthly","cancel_url":"https://evil.test"}"#,
            "cancel_url",
        ),
        (
            r#"{"priceId":"price_local_pro_monthly","coupon":"FREE"}"#,
            "coupon",
        ),
        (r#"{"priceId":7}"#, "priceId"),
        (r#"{}"#, "priceId"),
    ] {
        let (status, _, body) =
            send(&h, request("POST", "/checkout", Some("ada"), Some(bad))).await;
        assert_eq!(status, 400, "{bad}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{bad}: {message}");
    }
    assert_eq!(h.stripe.calls.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.item_count(), 0);
}

#[tokio::test]
async fn no_signup_or_no_customer_is_409_saying_so() {
    let h = referred();
    let (status, _, body) = post(&h, "nobody", PRICE).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_signed_up"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /signup")
    );
    let (status, _, body) = post(&h, "eve", PRICE).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("signup_incomplete"))
    );
    let (status, d) = discount(&h, "nobody").await;
    assert_eq!(
        (status, d["error"]["code"].as_str()),
        (409, Some("not_signed_up"))
    );
    assert_eq!(h.stripe.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_expired_or_completed_session_is_replaced() {
    let h = referred();
    let (_, _, first) = post(&h, "ada", PRICE).await;
    // Close to its expiry: a new session, with a new idempotency key.
    h.clock.set(NOW + 3600 - 60);
    let (status, _, second) = post(&h, "ada", PRICE).await;
    assert_eq!(status, 201);
    assert_ne!(second["sessionId"], first["sessionId"]);
    // Completed (the webhook recorded it): the next click is a new session, without the
    // discount, which only a first subscription gets.
    h.store.set_facts(
        "cus_ada",
        BillingFacts {
            completed_sessions: vec![second["sessionId"].as_str().unwrap().to_owned()],
            ..BillingFacts::default()
        },
    );
    let (status, _, third) = post(&h, "ada", PRICE).await;
    assert_eq!(status, 201);
    assert_ne!(third["sessionId"], second["sessionId"]);
    assert_eq!(third["reason"], "already_subscribed");
    assert_eq!(h.stripe.count(), 3);
}

#[tokio::test]
async fn the_discount_route_decides_without_a_session() {
    let h = referred();
    let (status, d) = discount(&h, "ada").await;
    assert_eq!(status, 200);
    assert_eq!(
        d,
        json!({"discount": {"coupon": "cello-new-user-50-3m", "percentOff": 50, "months": 3},
               "reason": "cello_reward"})
    );
    let (_, d) = discount(&h, "bob").await;
    assert_eq!(d, json!({"discount": null, "reason": "no_referral"}));
    assert_eq!(h.stripe.calls.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.item_count(), 0);
}
