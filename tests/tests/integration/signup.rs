//! `POST /signup` against the real local stack: served by `cargo lambda watch`, users in the
//! DynamoDB stand-in, customers in the Stripe stand-in (localstripe, which ignores idempotency
//! keys, so one customer per user is the backend's own doing).

use futures::future::join_all;
use integration_tests::{
    local_bearer, post_function, stack_var, store, stripe_customers, stripe_key, unique,
};
use serde_json::{Value, json};
use shared::Table;
use shared::clock::SystemClock;
use shared::{Authenticator, UserStore};
use signup::customers::AsyncStripeCustomers;
use signup::handler::SignupHandler;
use signup::settings::SignupSettings;

struct Caller {
    id: String,
    email: String,
    bearer: String,
}

fn caller(prefix: &str) -> Caller {
    let id = unique(prefix);
    let email = format!("{id}@example.com");
    let bearer = local_bearer(&id, Some(&email));
    Caller { id, email, bearer }
}

async fn signup(c: &Caller, body: Value, cookie: Option<&str>) -> (u16, Value) {
    let (status, _, body) =
        post_function("signup", Some(&c.bearer), cookie, &body.to_string()).await;
    (status, body)
}

fn metadata(customer: &Value) -> Value {
    customer["metadata"].clone()
}

#[tokio::test]
async fn five_sequential_retries_give_one_user_and_one_customer() {
    let c = caller("retry");
    let body = json!({"firstName": "Ada", "lastName": "Lovelace", "ucc": "pNRB1aYqArN", "organizationId": "org-7"});
    let (first, created) = signup(&c, body.clone(), None).await;
    assert_eq!(first, 201, "{created}");
    for _ in 0..4 {
        let (status, again) = signup(&c, body.clone(), None).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, created);
    }
    let customers = stripe_customers(&c.email).await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(
        metadata(&customers[0]),
        json!({"cello_ucc": "pNRB1aYqArN", "new_user_id": c.id, "new_user_organization_id": "org-7"})
    );
    assert_eq!(customers[0]["id"], created["stripeCustomerId"]);
    let stored = store().await.get_user(&c.id).await.unwrap().unwrap();
    assert_eq!(
        stored.stripe_customer_id.as_deref(),
        created["stripeCustomerId"].as_str()
    );
}

#[tokio::test]
async fn twenty_concurrent_requests_give_one_user_item_and_one_customer() {
    let c = caller("race");
    let body = json!({"firstName": "Grace", "lastName": "Hopper", "ucc": "raceUcc0001"});
    let results = join_all((0..20).map(|_| signup(&c, body.clone(), None))).await;
    let ok: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == 200 || *s == 201)
        .collect();
    assert!(!ok.is_empty(), "{results:?}");
    assert!(
        results.iter().all(|(s, _)| [200, 201, 503].contains(s)),
        "{results:?}"
    );
    assert!(
        results.iter().filter(|(s, _)| *s == 201).count() <= 1,
        "{results:?}"
    );
    let customers = stripe_customers(&c.email).await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    for (_, body) in ok {
        assert_eq!(body["stripeCustomerId"], customers[0]["id"]);
    }
    // A late retry still converges on the same customer.
    let (status, body) = signup(
        &c,
        json!({"firstName": "Grace", "lastName": "Hopper"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stripeCustomerId"], customers[0]["id"]);
    assert_eq!(body["ucc"], "raceUcc0001", "the first stored ucc stands");
}

#[tokio::test]
async fn the_cookie_is_the_fallback_for_the_referral_code() {
    let c = caller("cookie");
    let (status, body) = signup(
        &c,
        json!({"firstName": "Alan", "lastName": "Turing"}),
        Some("cello-productId=p_local_dev; cello-referral=cookieUcc99"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["ucc"].as_str(), body["uccSource"].as_str()),
        (Some("cookieUcc99"), Some("cookie"))
    );
    let customers = stripe_customers(&c.email).await;
    assert_eq!(
        metadata(&customers[0]),
        json!({"cello_ucc": "cookieUcc99", "new_user_id": c.id})
    );
}

#[tokio::test]
async fn another_users_email_is_refused_with_409() {
    let owner = caller("owner");
    let (status, _) = signup(&owner, json!({"firstName": "A", "lastName": "B"}), None).await;
    assert_eq!(status, 201);
    let thief = Caller {
        bearer: local_bearer(&unique("thief"), Some(&owner.email.to_uppercase())),
        ..caller("thief")
    };
    let (status, body) = signup(&thief, json!({"firstName": "C", "lastName": "D"}), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "email_taken");
    assert_eq!(stripe_customers(&owner.email).await.len(), 1);
}

#[tokio::test]
async fn hostile_inputs_are_refused_and_nothing_is_stored() {
    let long = "x".repeat(10_000);
    let huge = format!(
        r#"{{"firstName": "{}", "lastName": "L"}}"#,
        "x".repeat(1 << 20)
    );
    let cases: Vec<(&str, String, u16)> = vec![
        ("malformed", r#"{"firstName": "#.into(), 400),
        (
            "wrong type",
            r#"{"firstName": 1, "lastName": "L"}"#.into(),
            400,
        ),
        (
            "control",
            "{\"firstName\": \"A\\u0001\", \"lastName\": \"L\"}".into(),
            400,
        ),
        (
            "markup",
            r#"{"firstName": "<svg onload=alert(1)>", "lastName": "L"}"#.into(),
            400,
        ),
        (
            "long name",
            format!(r#"{{"firstName": "{long}", "lastName": "L"}}"#),
            400,
        ),
        (
            "rtl override",
            "{\"firstName\": \"\\u202Egnp.exe\", \"lastName\": \"L\"}".into(),
            400,
        ),
        (
            "lone surrogate",
            r#"{"firstName": "\udfff", "lastName": "L"}"#.into(),
            400,
        ),
        ("1 MB body", huge, 413),
    ];
    for (name, body, want) in cases {
        let c = caller("hostile");
        let (status, _, resp) = post_function("signup", Some(&c.bearer), None, &body).await;
        assert_eq!(status, want, "{name}: {resp}");
        assert!(resp["error"]["code"].is_string(), "{name}: {resp}");
        assert_eq!(store().await.get_user(&c.id).await.unwrap(), None, "{name}");
        assert!(stripe_customers(&c.email).await.is_empty(), "{name}");
    }
}

fn handler(
    stripe_base: &str,
    store: Table,
) -> SignupHandler<Table, AsyncStripeCustomers, SystemClock> {
    SignupHandler {
        store,
        stripe: AsyncStripeCustomers::new(&stripe_key(), Some(stripe_base)).unwrap(),
        auth: Authenticator::ApiGatewayJwt,
        settings: SignupSettings {
            claim_lease_seconds: 30,
            stripe_api_base: Some(stripe_base.into()),
            ..SignupSettings::default()
        },
        clock: SystemClock,
    }
}

fn api_gateway_request(c: &Caller, body: &str) -> lambda_http::Request {
    api_gateway_request_verified(c, body, true)
}

fn api_gateway_request_verified(c: &Caller, body: &str, verified: bool) -> lambda_http::Request {
    let event = json!({
        "version": "2.0", "routeKey": "POST /signup", "rawPath": "/signup", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/signup", "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "test"}, "requestId": unique("req"),
            "authorizer": {"jwt": {"claims": {"sub": c.id, "email": c.email, "email_verified": verified.to_string()}, "scopes": null}},
            "accountId": "1", "apiId": "a", "domainName": "d", "routeKey": "POST /signup", "stage": "$default", "time": "", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn stripe_down_is_a_503_with_the_ucc_stored_and_a_retry_completes() {
    // The signup code with the real adapters: first against a Stripe that is not there (the
    // stand-in's port with nothing listening), then against the running stand-in.
    let c = caller("outage");
    let body = r#"{"firstName": "Katherine", "lastName": "Johnson", "ucc": "outageUcc01"}"#;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let down = handler(&dead_base, store().await);
    let err = down
        .handle(api_gateway_request(&c, body).into())
        .await
        .unwrap_err();
    assert_eq!(err.status.as_u16(), 503);
    assert!(err.retry_after.is_some());
    let stored = store().await.get_user(&c.id).await.unwrap().unwrap();
    assert_eq!(stored.ucc.as_deref(), Some("outageUcc01"));
    assert_eq!(stored.stripe_customer_id, None);

    let up = handler(&stack_var("STRIPE_API_BASE"), store().await);
    let reply = up
        .handle(api_gateway_request(&c, body).into())
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 201);
    let again = up
        .handle(api_gateway_request(&c, body).into())
        .await
        .unwrap();
    assert_eq!(again.status.as_u16(), 200);
    assert_eq!(again.body, reply.body);
    let customers = stripe_customers(&c.email).await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(
        metadata(&customers[0]),
        json!({"cello_ucc": "outageUcc01", "new_user_id": c.id})
    );
}

#[tokio::test]
async fn a_crashed_attempt_whose_customer_exists_is_completed_without_a_duplicate() {
    // An earlier attempt created the customer in Stripe and died before recording it (its
    // lease has run out). The stand-in ignores idempotency keys, so only the lookup saves us.
    let c = caller("crash");
    let body = r#"{"firstName": "Hedy", "lastName": "Lamarr", "ucc": "crashUcc001"}"#;
    let s = store().await;
    let up = handler(&stack_var("STRIPE_API_BASE"), s.clone());
    // Store the user and take a lease that expires immediately, as a crashed attempt would.
    use signup::store::{Claim, CustomerLinks};
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let _ = handler(&dead_base, s.clone())
        .handle(api_gateway_request(&c, body).into())
        .await;
    let now = shared::unix_now();
    assert!(matches!(
        s.claim_customer_creation(&c.id, "crashed-attempt", now - 100, 10)
            .await
            .unwrap(),
        Claim::Granted { .. }
    ));
    let user = s.get_user(&c.id).await.unwrap().unwrap();
    let orphan = signup::customers::StripeCustomers::create_customer(
        &up.stripe,
        &signup::handler::new_customer(&user),
        &signup::handler::idempotency_key(&c.id),
    )
    .await
    .unwrap();

    let reply = up
        .handle(api_gateway_request(&c, body).into())
        .await
        .unwrap();
    let reply: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(reply["stripeCustomerId"], orphan.as_str());
    assert_eq!(stripe_customers(&c.email).await.len(), 1);
}

#[tokio::test]
async fn an_unproven_email_is_refused_through_the_function_and_nothing_is_stored() {
    // The deployed default (UNVERIFIED_EMAIL_POLICY unset): a token whose email is not
    // verified, minted as the local identity provider would.
    let c = caller("unproven");
    let claims = json!({"sub": c.id, "email": c.email, "email_verified": false});
    let bearer = testkit::local_bearer::authorization(
        claims.as_object().unwrap(),
        &stack_var("LOCAL_AUTH_SECRET"),
        shared::unix_now(),
    );
    let body = json!({"firstName": "Mallory", "lastName": "Squat"}).to_string();
    let (status, _, err) = post_function("signup", Some(&bearer), None, &body).await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["error"]["code"], "email_not_verified");
    assert!(store().await.get_user(&c.id).await.unwrap().is_none());
    assert!(stripe_customers(&c.email).await.is_empty());
}

#[tokio::test]
async fn an_email_proven_later_is_claimed_in_the_table_and_given_to_the_stripe_customer() {
    // Stored unproven first (the product's choice), then the same user with a verified token:
    // the real DynamoDB transaction claims the email, and the real Stripe call updates the
    // customer signup created without one.
    let c = caller("later");
    let body = r#"{"firstName": "Grace", "lastName": "Hopper"}"#;
    let mut h = handler(&stack_var("STRIPE_API_BASE"), store().await);
    h.settings.unverified_email = signup::settings::UnverifiedEmail::StoreUnproven;
    let first = h
        .handle(api_gateway_request_verified(&c, body, false).into())
        .await
        .unwrap();
    assert_eq!(first.status.as_u16(), 201);
    let first: Value = serde_json::from_str(&first.body).unwrap();
    let customer_id = first["stripeCustomerId"].as_str().unwrap().to_owned();
    assert!(
        stripe_customers(&c.email).await.is_empty(),
        "no email on the customer yet"
    );
    // Another user may take the unproven address meanwhile? No: unproven addresses claim nothing,
    // so the owner's proof still wins.
    let again = h
        .handle(api_gateway_request_verified(&c, body, true).into())
        .await
        .unwrap();
    assert_eq!(again.status.as_u16(), 200);
    let customers = stripe_customers(&c.email).await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(customers[0]["id"], customer_id.as_str());
    let stored = store().await.get_user(&c.id).await.unwrap().unwrap();
    assert_eq!(stored.email.as_deref(), Some(c.email.as_str()));
    assert_eq!(stored.unverified_email, None);
    assert_eq!(stored.email_pending_stripe, None);

    // The claim is real: another user's verified token for the address is refused.
    let thief = Caller {
        id: unique("thief"),
        email: c.email.to_uppercase(),
        bearer: String::new(),
    };
    let err = h
        .handle(api_gateway_request(&thief, body).into())
        .await
        .unwrap_err();
    assert_eq!(err.code, "email_taken");
}
