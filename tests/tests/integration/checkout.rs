//! `POST /checkout` and `GET /checkout/discount` against the real local stack: users signed up
//! through the signup function, Checkout Sessions in the Stripe stand-in (localstripe with the
//! Checkout Sessions plugin, which checks parameters and keeps idempotency keys), Cello's
//! answer from the Cello stand-in when the stack runs one, records in the DynamoDB stand-in.
//! Completing a session goes through the stand-in's own objects, and its
//! `checkout.session.completed` event through the webhook function.

use checkout::handler::CheckoutHandler;
use checkout::settings::CheckoutSettings;
use checkout::stripe::AsyncStripeCheckout;
use futures::future::join_all;
use integration_tests::{
    function_url, local_bearer, post_function, stack_secrets, stack_var, store, stripe_key, unique,
};
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::{Authenticator, UserStore};
use stripe_webhook::billing::BillingStore;
use testkit::stripe_signature;

const PRICE: &str = "price_local_pro_monthly";
const COUPON: &str = "cello-new-user-50-3m";

struct Caller {
    id: String,
    bearer: String,
    customer: String,
}

/// A user signed up through the signup function, with or without a referral code.
async fn signed_up(prefix: &str, ucc: Option<&str>) -> Caller {
    let id = unique(prefix);
    let email = format!("{id}@example.com");
    let bearer = local_bearer(&id, Some(&email));
    let mut body = json!({"firstName": "Grace", "lastName": "Hopper", "organizationId": "org-7"});
    if let Some(ucc) = ucc {
        body["ucc"] = json!(ucc);
    }
    let (status, _, user) = post_function("signup", Some(&bearer), None, &body.to_string()).await;
    assert_eq!(status, 201, "{user}");
    let customer = user["stripeCustomerId"].as_str().unwrap().to_owned();
    Caller {
        id,
        bearer,
        customer,
    }
}

async fn checkout(c: &Caller, price: &str) -> (u16, Value) {
    let body = json!({ "priceId": price }).to_string();
    let (status, _, answer) = post_function("checkout", Some(&c.bearer), None, &body).await;
    (status, answer)
}

async fn discount(c: &Caller) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}checkout/discount", function_url("checkout")))
        .header("authorization", &c.bearer)
        .header("origin", stack_var("LOCAL_FRONTEND_URL"))
        .send()
        .await
        .expect("cargo lambda watch answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

fn stripe_url(path: &str) -> String {
    format!(
        "{}{path}",
        stack_var("STRIPE_API_BASE").trim_end_matches('/')
    )
}

/// The customer's sessions as the Stripe stand-in holds them.
async fn stripe_sessions(customer: &str) -> Vec<Value> {
    let page: Value = reqwest::Client::new()
        .get(stripe_url("/v1/checkout/sessions"))
        .query(&[("customer", customer), ("limit", "100")])
        .bearer_auth(stripe_key())
        .send()
        .await
        .expect("the Stripe stand-in answers")
        .json()
        .await
        .unwrap();
    page["data"].as_array().cloned().unwrap_or_default()
}

/// Whether the stack runs the Cello stand-in (the test profile does once it is on main).
fn cello_base() -> Option<String> {
    std::env::var("CELLO_API_BASE")
        .ok()
        .filter(|v| !v.is_empty())
}

async fn set_cello_reward(user_id: &str, answer: Value) {
    let base = cello_base().expect("the Cello stand-in");
    let resp = reqwest::Client::new()
        .put(format!(
            "{}/_standin/new-users/{user_id}/reward",
            base.trim_end_matches('/')
        ))
        .json(&answer)
        .send()
        .await
        .expect("the Cello stand-in answers");
    assert!(resp.status().is_success(), "{}", resp.status());
}

async fn deliver(body: &str) -> (u16, Value) {
    let secret = stack_secrets().await.stripe_webhook_secrets().unwrap()[0]
        .expose()
        .to_owned();
    let resp = reqwest::Client::new()
        .post(function_url("stripe-webhook"))
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "stripe-signature",
            stripe_signature::header(&secret, shared::unix_now(), body.as_bytes()),
        )
        .body(body.to_owned())
        .send()
        .await
        .expect("cargo lambda watch answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_referred_new_user_gets_one_session_with_exactly_one_discount_and_completing_it_is_recorded()
 {
    let c = signed_up("co-ref", Some("pNRB1aYqArN")).await;
    let (status, before) = discount(&c).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["discount"]["coupon"], COUPON, "{before}");

    let (status, answer) = checkout(&c, PRICE).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["discount"]["coupon"], COUPON);
    assert_eq!(answer["discount"]["percentOff"], 50);
    assert_eq!(answer["discount"]["months"], 3);
    let expected_reason = if cello_base().is_some() {
        "cello_reward"
    } else {
        "referred_new_user"
    };
    assert_eq!(answer["reason"], expected_reason);
    let id = answer["sessionId"].as_str().unwrap().to_owned();

    // The session as Stripe's stand-in holds it: signup's customer, one discount, Cello's
    // metadata, the configured URLs, the user as client_reference_id.
    let sessions = stripe_sessions(&c.customer).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let s = &sessions[0];
    assert_eq!(s["id"], id);
    assert_eq!(s["mode"], "subscription");
    assert_eq!(s["status"], "open");
    assert_eq!(s["client_reference_id"], c.id);
    assert_eq!(
        s["discounts"],
        json!([{"coupon": COUPON, "promotion_code": null}])
    );
    assert_eq!(s["allow_promotion_codes"], Value::Null);
    assert_eq!(
        s["metadata"],
        json!({"cello_ucc": "pNRB1aYqArN", "new_user_id": c.id, "new_user_organization_id": "org-7"})
    );
    assert_eq!(s["success_url"], stack_var("CHECKOUT_SUCCESS_URL"));
    assert_eq!(s["cancel_url"], stack_var("CHECKOUT_CANCEL_URL"));
    assert_eq!(s["url"], answer["url"]);
    assert_eq!(s["amount_total"], 1450);

    // The same click again: the same session.
    let (status, again) = checkout(&c, PRICE).await;
    assert_eq!((status, &again["sessionId"]), (200, &answer["sessionId"]));

    // Paying on the stand-in's page: the subscription starts with the coupon, and the
    // completed event reaches the webhook, which records it on the customer.
    let done: Value = reqwest::Client::new()
        .post(stripe_url(&format!(
            "/_config/checkout/sessions/{id}/complete"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub = &done["subscription"];
    assert_eq!(sub["status"], "active", "{done}");
    assert_eq!(sub["customer"], c.customer.as_str());
    assert_eq!(sub["discount"]["coupon"]["id"], COUPON);
    assert_eq!(sub["metadata"]["cello_ucc"], "pNRB1aYqArN");
    assert_eq!(sub["metadata"]["new_user_id"], c.id.as_str());
    assert_eq!(done["event"]["type"], "checkout.session.completed");
    let event = done["event"].to_string();
    let (status, receipt) = deliver(&event).await;
    assert_eq!(
        (status, receipt["outcome"].as_str()),
        (200, Some("applied")),
        "{receipt}"
    );
    let (_, receipt) = deliver(&event).await;
    assert_eq!(receipt["outcome"], "duplicate");

    let billing = store().await.customer_billing(&c.customer).await.unwrap();
    let [recorded] = &billing.checkouts[..] else {
        panic!("{:?}", billing.checkouts)
    };
    assert_eq!(recorded.session_id, id);
    assert_eq!(recorded.subscription_id.as_deref(), sub["id"].as_str());
    assert_eq!(recorded.coupon.as_deref(), Some(COUPON));
    assert_eq!(recorded.user_id.as_deref(), Some(c.id.as_str()));

    // Subscribed now: no second discount, and a new click is a new session without one.
    let (_, after) = discount(&c).await;
    assert_eq!(
        after,
        json!({"discount": null, "reason": "already_subscribed"})
    );
    let (status, next) = checkout(&c, PRICE).await;
    assert_eq!(status, 201);
    assert_ne!(next["sessionId"], answer["sessionId"]);
    assert_eq!(next["discount"], Value::Null);
}

#[tokio::test]
async fn an_unreferred_user_gets_a_session_without_a_discount() {
    let c = signed_up("co-unref", None).await;
    let (status, answer) = checkout(&c, PRICE).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["discount"], Value::Null);
    assert_eq!(answer["reason"], "no_referral");
    let sessions = stripe_sessions(&c.customer).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["discounts"], json!([]));
    assert_eq!(sessions[0]["metadata"].get("cello_ucc"), None);
    assert_eq!(sessions[0]["amount_total"], 2900);
}

#[tokio::test]
async fn a_paid_invoice_recorded_means_already_subscribed() {
    let c = signed_up("co-paid", Some("pNRB1aYqArN")).await;
    // A verified invoice.paid for this customer, through the webhook.
    let run = unique("paid").replace('-', "_");
    let path = format!(
        "{}/../events/stripe/invoice-paid.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(path)
            .unwrap()
            .replace("{{run}}", &run),
    )
    .unwrap();
    event["data"]["object"]["customer"] = json!(c.customer);
    let (status, receipt) = deliver(&event.to_string()).await;
    assert_eq!(
        (status, receipt["outcome"].as_str()),
        (200, Some("applied"))
    );

    let (_, d) = discount(&c).await;
    assert_eq!(d, json!({"discount": null, "reason": "already_subscribed"}));
    let (status, answer) = checkout(&c, PRICE).await;
    assert_eq!(status, 201);
    assert_eq!(answer["reason"], "already_subscribed");
    assert_eq!(
        stripe_sessions(&c.customer).await[0]["discounts"],
        json!([])
    );
}

#[tokio::test]
async fn cello_saying_not_eligible_means_no_discount_with_the_reason() {
    if cello_base().is_none() {
        panic!("CELLO_API_BASE is not set: the test stack runs the Cello stand-in");
    }
    let c = signed_up("co-inel", Some("pNRB1aYqArN")).await;
    set_cello_reward(&c.id, json!({"eligible": false, "reward": null})).await;
    let (_, d) = discount(&c).await;
    assert_eq!(
        d,
        json!({"discount": null, "reason": "not_eligible_at_cello"})
    );
    let (status, answer) = checkout(&c, PRICE).await;
    assert_eq!(status, 201);
    assert_eq!(answer["reason"], "not_eligible_at_cello");
    assert_eq!(
        stripe_sessions(&c.customer).await[0]["discounts"],
        json!([])
    );

    // Another reward Cello gives picks its own coupon.
    let other = signed_up("co-25", Some("pNRB1aYqArN")).await;
    set_cello_reward(
        &other.id,
        json!({"eligible": true, "reward": {"type": "discount", "percentage": 25, "interval": "month", "intervalCount": 1}}),
    )
    .await;
    let (_, d) = discount(&other).await;
    assert_eq!(d["discount"]["coupon"], "cello-new-user-25-1m");
}

#[tokio::test]
async fn twenty_concurrent_clicks_make_one_stripe_session() {
    let c = signed_up("co-race", Some("pNRB1aYqArN")).await;
    let answers = join_all((0..20).map(|_| checkout(&c, PRICE))).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 201),
        "{answers:?}"
    );
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|(_, a)| a["sessionId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(stripe_sessions(&c.customer).await.len(), 1);
}

#[tokio::test]
async fn refused_inputs_name_the_field_and_create_nothing_in_stripe() {
    let c = signed_up("co-bad", Some("pNRB1aYqArN")).await;
    for (body, code, field) in [
        (
            json!({"priceId": "price_not_on_offer"}),
            "price_not_allowed",
            "priceId",
        ),
        (
            json!({"priceId": PRICE, "successUrl": "https://evil.example.com/"}),
            "invalid_body",
            "successUrl",
        ),
        (
            json!({"priceId": PRICE, "cancelUrl": "https://evil.example.com/"}),
            "invalid_body",
            "cancelUrl",
        ),
        (
            json!({"priceId": PRICE, "discounts": [{"coupon": COUPON}]}),
            "invalid_body",
            "discounts",
        ),
        (
            json!({"priceId": PRICE, "customer": "cus_other"}),
            "invalid_body",
            "customer",
        ),
        (json!({"priceId": ["x"]}), "invalid_body", "priceId"),
    ] {
        let (status, _, answer) =
            post_function("checkout", Some(&c.bearer), None, &body.to_string()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    assert!(stripe_sessions(&c.customer).await.is_empty());
    let nobody = local_bearer(&unique("co-nobody"), None);
    let (status, _, answer) = post_function(
        "checkout",
        Some(&nobody),
        None,
        &json!({"priceId": PRICE}).to_string(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("not_signed_up"))
    );
}

/// One POST /checkout through the checkout code with the real adapters, Stripe at `stripe_base`.
async fn checkout_via(stripe_base: &str, user_id: &str) -> u16 {
    let settings = CheckoutSettings {
        stripe_api_base: Some(stripe_base.to_owned()),
        ..CheckoutSettings::from_settings(&shared::config::from_env()).unwrap()
    };
    let h = CheckoutHandler {
        store: store().await,
        stripe: AsyncStripeCheckout::new(&stripe_key(), Some(stripe_base)),
        cello: None::<shared::cello_api::CelloApi>,
        auth: Authenticator::ApiGatewayJwt,
        settings,
        clock: SystemClock,
    };
    let routes = checkout::routes(vec![]);
    let req = api_gateway_request(user_id);
    let (route, endpoint) = routes.for_path(req.uri().path());
    route
        .serve(req, |r| h.handle(endpoint, r))
        .await
        .status()
        .as_u16()
}

fn api_gateway_request(user_id: &str) -> lambda_http::Request {
    let event = json!({
        "version": "2.0", "routeKey": "POST /checkout", "rawPath": "/checkout", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/checkout", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "t"},
            "authorizer": {"jwt": {"claims": {"sub": user_id}, "scopes": null}}, "requestId": "r",
            "accountId": "1", "apiId": "a", "domainName": "d", "routeKey": "POST /checkout", "stage": "$default", "time": "", "timeEpoch": 0},
        "body": json!({"priceId": PRICE}).to_string(), "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn stripe_down_is_a_503_with_nothing_half_stored_and_a_retry_creates_one_session() {
    // The checkout code with the real adapters: a Stripe that is not there (a port with nothing
    // listening), then the running stand-in.
    let c = signed_up("co-down", Some("pNRB1aYqArN")).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    assert_eq!(checkout_via(&dead_base, &c.id).await, 503);
    use checkout::store::CheckoutStore;
    let item = store().await.get_checkout(&c.id, PRICE).await.unwrap();
    let item = item.expect("the plan stays, so a retry repeats the same idempotency key");
    assert_eq!(item.session, None, "no session recorded");
    assert_eq!(item.claim_until, None, "the lease was released");
    assert!(stripe_sessions(&c.customer).await.is_empty());
    assert!(store().await.get_user(&c.id).await.unwrap().is_some());

    let up = stack_var("STRIPE_API_BASE");
    assert_eq!(checkout_via(&up, &c.id).await, 201);
    assert_eq!(checkout_via(&up, &c.id).await, 200);
    assert_eq!(stripe_sessions(&c.customer).await.len(), 1);
}

#[tokio::test]
async fn cello_failing_uses_the_configured_fallback_with_its_reason() {
    let base = cello_base().expect("CELLO_API_BASE: the test stack runs the Cello stand-in");
    let c = signed_up("co-cello500", Some("pNRB1aYqArN")).await;
    // Only this user's reward calls fail (the fault's path prefix names them), every attempt.
    let resp = reqwest::Client::new()
        .post(format!("{}/_standin/faults", base.trim_end_matches('/')))
        .json(&json!({"path": format!("/new-users/{}/reward", c.id), "status": 503, "times": -1}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let (status, d) = discount(&c).await;
    assert_eq!(status, 200, "{d}");
    // CHECKOUT_CELLO_FALLBACK is unset locally: grant, as in a deployed stack by default.
    assert_eq!(d["reason"], "cello_unreachable_fallback");
    assert_eq!(d["discount"]["coupon"], COUPON);
}

#[tokio::test]
async fn a_crashed_attempt_that_reached_stripe_is_taken_over_with_the_same_idempotency_key() {
    use checkout::handler::{cello_metadata, idempotency_key};
    use checkout::store::{CheckoutStore, Expected};
    use checkout::stripe::{NewSession, StripeCheckout};
    // An attempt claimed the item, created its session at Stripe and died before recording
    // it; its lease has run out.
    let c = signed_up("co-crash", Some("pNRB1aYqArN")).await;
    let table = store().await;
    let user = table.get_user(&c.id).await.unwrap().unwrap();
    let now = shared::unix_now();
    let plan = now - 100;
    assert!(
        table
            .claim(
                &c.id,
                PRICE,
                &Expected::Absent,
                plan,
                "crashed",
                now - 100,
                30
            )
            .await
            .unwrap()
    );
    let settings = CheckoutSettings::from_settings(&shared::config::from_env()).unwrap();
    let stripe = AsyncStripeCheckout::new(&stripe_key(), Some(&stack_var("STRIPE_API_BASE")));
    let sent = NewSession {
        customer_id: c.customer.clone(),
        price_id: PRICE.into(),
        client_reference_id: c.id.clone(),
        success_url: settings.success_url.clone(),
        cancel_url: settings.cancel_url.clone(),
        metadata: cello_metadata(&user),
        discount: Some(checkout::discount::Discount {
            coupon: COUPON.into(),
            percent_off: 50,
            months: 3,
        }),
        allow_promotion_codes: settings.allow_promotion_codes,
        expires_at: plan + settings.session_seconds,
    };
    let orphan = stripe
        .create_session(&sent, &idempotency_key(&c.id, PRICE, plan, Some(COUPON)))
        .await
        .unwrap();

    // The next click takes the plan over and repeats the same request: Stripe answers with the
    // session the crashed attempt made, and there is still only one.
    let (status, answer) = checkout(&c, PRICE).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["sessionId"], orphan.id.as_str());
    assert_eq!(answer["expiresAt"], plan + settings.session_seconds);
    assert_eq!(stripe_sessions(&c.customer).await.len(), 1);
}
