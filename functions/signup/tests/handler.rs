//! Unit tests of the signup handler with in-memory ports (a store and a Stripe that, like the
//! local stand-in, ignores idempotency keys) and the `events/signup` fixtures.

use futures::future::join_all;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::clock::SystemClock;
use shared::{Authenticator, UserStore};
use signup::customers::memory::MemoryStripe;
use signup::handler::SignupHandler;
use signup::settings::SignupSettings;
use signup::store::memory::MemoryStore;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use testkit::{assert_expected, fixture_expectations, fixture_request};

type Handler = SignupHandler<MemoryStore, MemoryStripe, SystemClock>;

fn handler() -> Handler {
    SignupHandler {
        store: MemoryStore::default(),
        stripe: MemoryStripe::default(),
        auth: Authenticator::ApiGatewayJwt,
        settings: SignupSettings {
            claim_lease_seconds: 30,
            stripe_api_base: None,
            ..SignupSettings::default()
        },
        clock: SystemClock,
    }
}

fn route() -> shared::http::Route {
    signup::route(vec![])
}

async fn send(h: &Handler, req: Request) -> (StatusCode, Option<String>, Value) {
    let resp: Response<Body> = route().serve(req, |r| h.handle(r)).await;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let Body::Text(text) = resp.body() else {
        panic!("non-text body")
    };
    (
        resp.status(),
        retry_after,
        serde_json::from_str(text).unwrap(),
    )
}

async fn call(h: &Handler, fixture: &str, run: &str) -> (StatusCode, Option<String>, Value) {
    send(h, fixture_request(&format!("signup/{fixture}.json"), run)).await
}

/// The fixture's request with its body replaced.
fn with_body(fixture: &str, run: &str, body: &str) -> Request {
    let mut req = fixture_request(&format!("signup/{fixture}.json"), run);
    *req.body_mut() = Body::Text(body.to_owned());
    req
}

fn metadata(h: &Handler) -> Vec<HashMap<String, String>> {
    h.stripe
        .customers
        .lock()
        .unwrap()
        .iter()
        .map(|(_, c)| c.metadata.clone())
        .collect()
}

#[tokio::test]
async fn stores_the_user_and_one_customer_with_cellos_metadata() {
    let h = handler();
    let (status, _, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        metadata(&h),
        vec![HashMap::from([
            ("cello_ucc".to_owned(), "pNRB1aYqArN".to_owned()),
            ("new_user_id".to_owned(), "ada-r1".to_owned()),
            ("new_user_organization_id".to_owned(), "org-42".to_owned()),
        ])]
    );
    let stored = h.store.get_user("ada-r1").await.unwrap().unwrap();
    assert_eq!(stored.ucc.as_deref(), Some("pNRB1aYqArN"));
    let customer = body["stripeCustomerId"].as_str().unwrap();
    assert_eq!(stored.stripe_customer_id.as_deref(), Some(customer));
    assert_eq!(h.store.customer_owner(customer).as_deref(), Some("ada-r1"));
}

#[tokio::test]
async fn keys_without_a_value_are_left_out_and_the_cookie_is_the_fallback() {
    let h = handler();
    let (status, _, body) = call(&h, "new-user-ucc-from-cookie", "r1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["uccSource"], "cookie");
    assert_eq!(
        metadata(&h),
        vec![HashMap::from([
            ("cello_ucc".to_owned(), "cookieUcc01".to_owned()),
            ("new_user_id".to_owned(), "grace-r1".to_owned()),
        ])]
    );
    let h = handler();
    call(&h, "new-user-without-ucc", "r1").await;
    assert_eq!(
        metadata(&h),
        vec![HashMap::from([(
            "new_user_id".to_owned(),
            "alan-r1".to_owned()
        )])]
    );
}

#[tokio::test]
async fn five_retries_give_one_user_one_customer_and_the_same_body() {
    let h = handler();
    let (first, _, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(first, StatusCode::CREATED);
    for _ in 0..4 {
        let (status, _, again) = call(&h, "new-user-with-ucc", "r1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, body);
    }
    assert_eq!((h.store.user_count(), h.stripe.count()), (1, 1));
}

#[tokio::test]
async fn twenty_concurrent_requests_give_one_customer() {
    let h = handler();
    let results = join_all((0..20).map(|_| call(&h, "new-user-with-ucc", "r1"))).await;
    let created = results
        .iter()
        .filter(|r| r.0 == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{results:?}");
    let ids: std::collections::HashSet<_> = results
        .iter()
        .map(|r| r.2["stripeCustomerId"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!((h.store.user_count(), h.stripe.count()), (1, 1));
}

#[tokio::test]
async fn stripe_down_is_a_503_that_keeps_the_ucc_and_a_retry_completes() {
    let h = handler();
    h.stripe.down.store(true, Ordering::SeqCst);
    let (status, retry_after, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some());
    let stored = h.store.get_user("ada-r1").await.unwrap().unwrap();
    assert_eq!(stored.ucc.as_deref(), Some("pNRB1aYqArN"));
    assert_eq!(stored.stripe_customer_id, None);

    h.stripe.down.store(false, Ordering::SeqCst);
    let (status, _, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.stripe.count(), 1);
}

#[tokio::test]
async fn a_lost_stripe_answer_does_not_create_a_second_customer() {
    // Stripe created the customer but the answer never arrived; the stand-in, like an expired
    // idempotency key, would happily create another. The retry must find the first one.
    let h = handler();
    h.stripe.lose_next_answer.store(true, Ordering::SeqCst);
    let (status, _, _) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.stripe.count(), 1);
    let (status, _, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.stripe.count(), 1);
    assert_eq!(body["stripeCustomerId"], "cus_mem1");
}

#[tokio::test]
async fn another_users_email_is_a_409() {
    let h = handler();
    call(&h, "new-user-with-ucc", "r1").await;
    // Same email, another subject.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../events/signup/new-user-with-ucc.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .replace("{{run}}", "r1"),
    )
    .unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = "someone-else".into();
    event["body"] = r#"{"firstName":"Imp","lastName":"Ostor"}"#.into();
    let (status, _, body) = send(
        &h,
        lambda_http::request::from_str(&event.to_string()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "email_taken");
    assert_eq!((h.store.user_count(), h.stripe.count()), (1, 1));
}

#[tokio::test]
async fn a_throttled_store_is_a_503_with_nothing_written() {
    let h = handler();
    h.store.users.unavailable.store(true, Ordering::SeqCst);
    let (status, retry_after, _) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some());
    h.store.users.unavailable.store(false, Ordering::SeqCst);
    assert_eq!((h.store.user_count(), h.stripe.count()), (0, 0));
}

/// Hostile and malformed bodies: each a 4xx JSON error naming the problem, nothing stored.
pub const HOSTILE: &[(&str, &str, u16, &str)] = &[
    (
        "malformed JSON",
        r#"{"firstName": "Ada""#,
        400,
        "malformed_json",
    ),
    (
        "not an object",
        r#"["Ada", "Lovelace"]"#,
        400,
        "invalid_body",
    ),
    ("empty body", "", 400, "missing_body"),
    (
        "wrong type",
        r#"{"firstName": 42, "lastName": "L"}"#,
        400,
        "invalid_body",
    ),
    (
        "null name",
        r#"{"firstName": null, "lastName": "L"}"#,
        400,
        "invalid_body",
    ),
    (
        "missing field",
        r#"{"firstName": "Ada"}"#,
        400,
        "invalid_body",
    ),
    (
        "unknown field",
        r#"{"firstName": "A", "lastName": "L", "userId": "x"}"#,
        400,
        "invalid_body",
    ),
    (
        "trailing data",
        r#"{"firstName": "A", "lastName": "L"} {}"#,
        400,
        "malformed_json",
    ),
    (
        "control character",
        "{\"firstName\": \"A\\u0007da\", \"lastName\": \"L\"}",
        400,
        "invalid_first_name",
    ),
    (
        "NUL",
        "{\"firstName\": \"A\\u0000\", \"lastName\": \"L\"}",
        400,
        "invalid_first_name",
    ),
    (
        "markup",
        r#"{"firstName": "<script>alert(1)</script>", "lastName": "L"}"#,
        400,
        "invalid_first_name",
    ),
    (
        "RTL override",
        "{\"firstName\": \"A\", \"lastName\": \"\\u202Eevil\"}",
        400,
        "invalid_last_name",
    ),
    (
        "zero-width",
        "{\"firstName\": \"A\\u200Bda\", \"lastName\": \"L\"}",
        400,
        "invalid_first_name",
    ),
    (
        "lone surrogate",
        r#"{"firstName": "\ud800", "lastName": "L"}"#,
        400,
        "malformed_json",
    ),
    (
        "blank name",
        r#"{"firstName": "   ", "lastName": "L"}"#,
        400,
        "invalid_first_name",
    ),
    (
        "markup ucc",
        r#"{"firstName": "A", "lastName": "L", "ucc": "<b>x</b>"}"#,
        400,
        "invalid_ucc",
    ),
    (
        "ucc wrong type",
        r#"{"firstName": "A", "lastName": "L", "ucc": 12345678901}"#,
        400,
        "invalid_body",
    ),
    (
        "bad language",
        r#"{"firstName": "A", "lastName": "L", "language": "../../etc"}"#,
        400,
        "invalid_language",
    ),
    (
        "bad organization",
        r#"{"firstName": "A", "lastName": "L", "organizationId": "a b"}"#,
        400,
        "invalid_organization_id",
    ),
    (
        "email not ours",
        r#"{"firstName": "A", "lastName": "L", "email": "x@evil.example"}"#,
        400,
        "email_mismatch",
    ),
];

#[tokio::test]
async fn hostile_inputs_are_refused_and_nothing_is_stored() {
    let h = handler();
    let mut cases: Vec<(String, String, u16, &str)> = HOSTILE
        .iter()
        .map(|(n, b, s, c)| (n.to_string(), b.to_string(), *s, *c))
        .collect();
    let long = "x".repeat(10_000);
    cases.push((
        "10 000-character name".into(),
        format!(r#"{{"firstName": "{long}", "lastName": "L"}}"#),
        400,
        "invalid_first_name",
    ));
    cases.push((
        "1 MB body".into(),
        format!(
            r#"{{"firstName": "{}", "lastName": "L"}}"#,
            "x".repeat(1 << 20)
        ),
        413,
        "body_too_large",
    ));
    for (name, body, status, code) in cases {
        let (got, _, resp) = send(&h, with_body("new-user-with-ucc", "r1", &body)).await;
        assert_eq!(got.as_u16(), status, "{name}: {resp}");
        assert_eq!(resp["error"]["code"], code, "{name}");
        assert!(
            resp["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty() && m.len() < 300),
            "{name}"
        );
        assert!(resp["error"]["requestId"].is_string(), "{name}");
    }
    assert_eq!((h.store.user_count(), h.stripe.count()), (0, 0));
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let h = handler();
    let (_, _, resp) = send(
        &h,
        with_body(
            "new-user-with-ucc",
            "r1",
            r#"{"firstName": "A", "lastName": ["L"]}"#,
        ),
    )
    .await;
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("lastName"),
        "{resp}"
    );
}

#[tokio::test]
async fn every_fixture_matches_its_expectation() {
    let h = handler();
    let cases = fixture_expectations("signup", "r1");
    for (case, expect) in &cases {
        let (status, _, body) = call(&h, case, "r1").await;
        assert_expected(case, expect, status.as_u16(), &body, |_, want| want.clone());
    }
    assert!(cases.len() >= 4, "only {} fixtures", cases.len());
}

#[tokio::test]
async fn a_user_older_than_the_idempotency_keys_lifetime_reuses_the_customer_stripe_holds() {
    // A user stored a day ago whose customer was created in Stripe but never linked (the
    // attempt died, its claim record gone with the lease). Stripe's idempotency key may have
    // expired by now, so signup must look the customer up before creating one, even on a first
    // claim: the clock, not the attempt count, decides. A user stored a minute ago relies on
    // the key instead (and the memory Stripe, like the stand-in, ignores keys: a create shows).
    let now = 1_800_000_000;
    for (age, customers_after) in [(24 * 3600, 1), (60, 2)] {
        let user = shared::User {
            user_id: "ada-r1".into(),
            email: Some("ada-r1@example.com".into()),
            unverified_email: None,
            email_pending_stripe: None,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            organization_id: Some("org-42".into()),
            language: None,
            ucc: Some("pNRB1aYqArN".into()),
            ucc_source: Some(shared::user::UccSource::Body),
            ucc_standard: Some(true),
            created_at: now - age,
            stripe_customer_id: None,
            erased_at: None,
        };
        let h = SignupHandler {
            store: MemoryStore::with_users([user.clone()]),
            stripe: MemoryStripe::default(),
            auth: Authenticator::ApiGatewayJwt,
            settings: SignupSettings {
                claim_lease_seconds: 30,
                stripe_api_base: None,
                ..SignupSettings::default()
            },
            clock: testkit::FixedClock::at(now),
        };
        let earlier = signup::customers::StripeCustomers::create_customer(
            &h.stripe,
            &signup::handler::new_customer(&user),
            "a-key-from-yesterday",
        )
        .await
        .unwrap();
        let req = fixture_request("signup/new-user-with-ucc.json", "r1");
        let resp = route().serve(req, |r| h.handle(r)).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "age {age}");
        assert_eq!(h.stripe.count(), customers_after, "age {age}");
        let stored = h.store.get_user("ada-r1").await.unwrap().unwrap();
        let linked = stored.stripe_customer_id.unwrap();
        assert_eq!(linked == earlier, customers_after == 1, "age {age}");
    }
}

/// The signup fixture's request, for a caller with exactly these authorizer claims and body.
fn as_caller(claims: Value, body: &str) -> Request {
    let path = format!(
        "{}/../../events/signup/new-user-without-ucc.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    event["body"] = body.into();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn with_policy(policy: signup::settings::UnverifiedEmail) -> Handler {
    let mut h = handler();
    h.settings.unverified_email = policy;
    h
}

const NAMES: &str = r#"{"firstName": "Mallory", "lastName": "Squat"}"#;

#[tokio::test]
async fn an_unproven_email_is_refused_by_default_and_its_owner_signs_up_after() {
    use serde_json::json;
    let h = handler();
    let body_email =
        r#"{"firstName": "Mallory", "lastName": "Squat", "email": "owner@example.com"}"#;
    for (claims, body) in [
        // An identity without email sends someone else's address.
        (json!({"sub": "mallory"}), body_email),
        // The token carries the address but its provider never verified it.
        (
            json!({"sub": "mallory", "email": "owner@example.com", "email_verified": "false"}),
            NAMES,
        ),
        // No email_verified claim at all: not proven either.
        (
            json!({"sub": "mallory", "email": "owner@example.com"}),
            NAMES,
        ),
    ] {
        let (status, _, err) = send(&h, as_caller(claims, body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
        assert_eq!(err["error"]["code"], "email_not_verified");
    }
    assert_eq!(h.store.user_count(), 0);
    assert_eq!(h.stripe.count(), 0);

    let owner = json!({"sub": "owner", "email": "owner@example.com", "email_verified": "true"});
    let (status, _, body) = send(&h, as_caller(owner, NAMES)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"], "owner@example.com");
}

#[tokio::test]
async fn stored_unproven_an_email_is_never_claimed_nor_sent_to_stripe() {
    use serde_json::json;
    let h = with_policy(signup::settings::UnverifiedEmail::StoreUnproven);
    let squat = json!({"sub": "mallory", "email": "owner@example.com", "email_verified": "false"});
    let (status, _, body) = send(&h, as_caller(squat, NAMES)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["unverifiedEmail"], "owner@example.com");
    assert!(body.get("email").is_none(), "{body}");
    let customers = h.stripe.customers.lock().unwrap().clone();
    assert_eq!(customers.len(), 1);
    assert_eq!(
        customers[0].1.email, None,
        "Stripe never gets an unproven address"
    );
    assert_eq!(
        customers[0]
            .1
            .metadata
            .get("new_user_id")
            .map(String::as_str),
        Some("mallory")
    );

    // The owner is not locked out.
    let owner = json!({"sub": "owner", "email": "owner@example.com", "email_verified": "true"});
    let (status, _, body) = send(&h, as_caller(owner, NAMES)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"], "owner@example.com");
    // Stored unproven, an empty body email is still a named 400.
    let (status, _, err) = send(&h, as_caller(json!({"sub": "nomail"}), NAMES)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "missing_email");
}

#[tokio::test]
async fn an_email_proven_later_is_claimed_then_and_reaches_the_same_customer_once() {
    use serde_json::json;
    let h = with_policy(signup::settings::UnverifiedEmail::StoreUnproven);
    let unproven = json!({"sub": "grace", "email": "grace@example.com", "email_verified": "false"});
    let (status, _, first) = send(&h, as_caller(unproven, NAMES)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let customer = first["stripeCustomerId"].as_str().unwrap().to_owned();

    let proven = json!({"sub": "grace", "email": "grace@example.com", "email_verified": "true"});
    for _ in 0..3 {
        let (status, _, body) = send(&h, as_caller(proven.clone(), NAMES)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["email"], "grace@example.com");
        assert_eq!(body["stripeCustomerId"], customer.as_str());
        assert!(body.get("unverifiedEmail").is_none(), "{body}");
        assert!(body.get("emailPendingStripe").is_none(), "{body}");
    }
    let customers = h.stripe.customers.lock().unwrap().clone();
    assert_eq!(customers.len(), 1, "no second customer");
    assert_eq!(customers[0].1.email.as_deref(), Some("grace@example.com"));

    // Now proven and claimed: another user's proven token for it is a 409, as before.
    let thief = json!({"sub": "thief", "email": "GRACE@example.com", "email_verified": "true"});
    let (status, _, err) = send(&h, as_caller(thief, NAMES)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], "email_taken");
}

#[tokio::test]
async fn a_stripe_outage_after_the_claim_is_finished_by_the_retry() {
    use serde_json::json;
    let h = with_policy(signup::settings::UnverifiedEmail::StoreUnproven);
    let unproven = json!({"sub": "kat", "email": "kat@example.com", "email_verified": "false"});
    send(&h, as_caller(unproven, NAMES)).await;
    let proven = json!({"sub": "kat", "email": "kat@example.com", "email_verified": "true"});
    h.stripe.down.store(true, Ordering::SeqCst);
    let (status, retry_after, _) = send(&h, as_caller(proven.clone(), NAMES)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some());
    let stored = h.store.get_user("kat").await.unwrap().unwrap();
    assert_eq!(stored.email.as_deref(), Some("kat@example.com"));
    assert_eq!(stored.email_pending_stripe, Some(true));
    h.stripe.down.store(false, Ordering::SeqCst);
    let (status, _, _) = send(&h, as_caller(proven, NAMES)).await;
    assert_eq!(status, StatusCode::OK);
    let stored = h.store.get_user("kat").await.unwrap().unwrap();
    assert_eq!(stored.email_pending_stripe, None);
    let customers = h.stripe.customers.lock().unwrap().clone();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].1.email.as_deref(), Some("kat@example.com"));
}

fn kept_reward(user_id: &str, event_id: &str, amount: i64) -> shared::credits::Reward {
    shared::credits::Reward {
        event_id: event_id.into(),
        reward_id: format!("rwd-{event_id}"),
        product_user_id: user_id.into(),
        amount,
        created_ts: "2026-11-23T10:00:00Z".into(),
    }
}

#[tokio::test]
async fn rewards_kept_before_signup_are_credited_once_at_signup() {
    let h = handler();
    // Cello rewarded the referrer before they signed up here: kept, not credited.
    for (event, amount) in [("evt-a", 500), ("evt-b", 250)] {
        h.store
            .ledger
            .record(&kept_reward("ada-r1", event, amount), false, 1);
    }
    assert_eq!(h.store.ledger.pending_count("ada-r1"), 2);
    let (status, _, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.store.ledger.balance("ada-r1"), 750);
    assert_eq!(h.store.ledger.entries("ada-r1").len(), 2);
    assert_eq!(h.store.ledger.pending_count("ada-r1"), 0);
    // Repeats and a redelivery of a kept reward change nothing.
    for _ in 0..3 {
        let (status, _, _) = call(&h, "new-user-with-ucc", "r1").await;
        assert_eq!(status, StatusCode::OK);
    }
    let again = h
        .store
        .ledger
        .record(&kept_reward("ada-r1", "evt-a", 500), true, 2);
    assert_eq!(again, shared::credits::RewardOutcome::Duplicate);
    assert_eq!(h.store.ledger.balance("ada-r1"), 750);
    assert_eq!(h.store.ledger.entries("ada-r1").len(), 2);
}

#[tokio::test]
async fn a_store_outage_while_applying_kept_rewards_does_not_fail_the_signup() {
    let h = handler();
    h.store
        .ledger
        .record(&kept_reward("ada-r1", "evt-a", 500), false, 1);
    h.store.ledger.unavailable.store(true, Ordering::SeqCst);
    let (status, _, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.store.ledger.pending_count("ada-r1"), 1, "kept for later");
    h.store.ledger.unavailable.store(false, Ordering::SeqCst);
    let (status, _, _) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.store.ledger.balance("ada-r1"), 500);
}

#[tokio::test]
async fn an_erased_account_cannot_sign_up_again() {
    let mut erased = integration_user("ada-r1");
    erased.erased_at = Some(1_700_000_000);
    erased.email = None;
    erased.first_name.clear();
    erased.last_name.clear();
    let h = Handler {
        store: MemoryStore::with_users([erased]),
        ..handler()
    };
    let (status, _, body) = call(&h, "new-user-with-ucc", "r1").await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"]["code"], "account_erased");
    let stored = h.store.get_user("ada-r1").await.unwrap().unwrap();
    assert_eq!(stored.email, None, "nothing of the person came back");
    assert_eq!(stored.first_name, "");
    assert_eq!(h.stripe.count(), 0);
}

fn integration_user(id: &str) -> shared::User {
    shared::User {
        user_id: id.into(),
        email: Some(format!("{id}@example.com")),
        unverified_email: None,
        email_pending_stripe: None,
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        organization_id: None,
        language: None,
        ucc: None,
        ucc_source: None,
        ucc_standard: None,
        created_at: 1,
        stripe_customer_id: Some("cus_erased".into()),
        erased_at: None,
    }
}
