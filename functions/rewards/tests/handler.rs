//! Unit tests of the three routes with in-memory ports, and the `events/rewards` fixtures.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::join_all;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use rewards::erasure::memory::{MemoryCello, MemoryStripe};
use rewards::handler::RewardsHandler;
use rewards::settings::{CelloEnv, RewardsSettings, StripeErasure};
use rewards::store::memory::MemoryStore;
use serde_json::{Value, json};
use shared::secrets::StaticSecrets;
use shared::{AppSecrets, Authenticator, UserStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use testkit::{FixedClock, assert_expected, fixture_expectations, fixture_request};

type Handler = RewardsHandler<MemoryStore, StaticSecrets, MemoryCello, MemoryStripe, FixedClock>;

const USER: &str = "cello-local";
const PASSWORD: &str = "local-rewards-webhook-password";

fn handler_with(env: CelloEnv, account_deletion: bool, stripe: StripeErasure) -> Handler {
    let secrets = AppSecrets::parse(
        &json!({"celloRewardsWebhookUsername": USER, "celloRewardsWebhookPassword": PASSWORD})
            .to_string(),
        "v1",
    )
    .unwrap();
    RewardsHandler {
        store: MemoryStore::default(),
        secrets: StaticSecrets(Arc::new(secrets)),
        auth: Authenticator::ApiGatewayJwt,
        settings: RewardsSettings {
            cello_env: env,
            account_deletion,
            stripe_erasure: stripe,
            stripe_api_base: None,
        },
        cello: MemoryCello::default(),
        stripe: MemoryStripe::default(),
        clock: FixedClock::at(1_795_428_000),
        routes: rewards::routes(vec!["http://127.0.0.1:4514".into()]),
    }
}

fn handler() -> Handler {
    handler_with(CelloEnv::Sandbox, true, StripeErasure::Delete)
}

async fn send(h: &Handler, req: Request) -> (StatusCode, Value) {
    let resp: Response<Body> = h.serve(req).await;
    let Body::Text(text) = resp.body() else {
        panic!("non-text body")
    };
    (resp.status(), serde_json::from_str(text).unwrap())
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

fn reward_body(event_id: &str, user: &str, amount: i64) -> String {
    json!({"version": "1.0.3", "eventType": "new-reward", "createdTs": "2026-11-23T10:00:00Z",
           "eventId": event_id,
           "data": {"rewardId": format!("rwd-{event_id}"), "productUserId": user,
                    "rewardType": "credits", "reward": {"amount": amount}}})
    .to_string()
}

fn callback(body: String, auth: Option<String>, env: Option<&str>) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/cello/rewards")
        .header("content-type", "application/json; charset=utf-8");
    if let Some(auth) = auth {
        b = b.header("authorization", auth);
    }
    if let Some(env) = env {
        b = b.header("x-cello-env", env);
    }
    b.body(Body::Text(body)).unwrap()
}

fn deliver(event_id: &str, user: &str, amount: i64) -> Request {
    callback(
        reward_body(event_id, user, amount),
        Some(basic(USER, PASSWORD)),
        Some("sandbox"),
    )
}

fn as_user(method: &str, path: &str, user: &str, query: &[(&str, &str)]) -> Request {
    let claims = HashMap::from([("sub".to_owned(), user.to_owned())]);
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
        ApiGatewayV2httpRequestContext,
    };
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims = claims;
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.authorizer = Some(authorizer);
    let query: HashMap<String, String> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::Empty)
        .unwrap()
        .with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(ctx))
        .with_query_string_parameters(query)
}

fn user(id: &str, customer: Option<&str>) -> shared::User {
    shared::User {
        user_id: id.into(),
        email: Some(format!("{id}@example.com")),
        unverified_email: None,
        email_pending_stripe: None,
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        organization_id: None,
        language: Some("en".into()),
        ucc: Some("pNRB1aYqArN".into()),
        ucc_source: None,
        ucc_standard: Some(true),
        created_at: 1,
        stripe_customer_id: customer.map(str::to_owned),
        erased_at: None,
    }
}

fn with_users(users: Vec<shared::User>) -> Handler {
    Handler {
        store: MemoryStore::with_users(users),
        ..handler()
    }
}

#[tokio::test]
async fn a_known_users_reward_is_credited_once_however_often_it_arrives() {
    let h = with_users(vec![user("ref-1", None)]);
    let results = join_all((0..10).map(|_| send(&h, deliver("evt-1", "ref-1", 500)))).await;
    let outcomes: Vec<&str> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::OK, "{b}");
            b["outcome"].as_str().unwrap()
        })
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "credited").count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == "duplicate").count(), 9);
    assert_eq!(h.store.ledger.balance("ref-1"), 500);
    assert_eq!(h.store.ledger.entries("ref-1").len(), 1);
}

#[tokio::test]
async fn every_credential_failure_gets_the_same_answer_and_nothing_is_stored() {
    let h = with_users(vec![user("ref-1", None)]);
    let body = || reward_body("evt-1", "ref-1", 500);
    let mut answers = Vec::new();
    for auth in [
        None,
        Some(basic(USER, "wrong")),
        Some(basic("someone", PASSWORD)),
        Some("Bearer x".to_owned()),
        Some("Basic %%%".to_owned()),
    ] {
        let (status, answer) = send(&h, callback(body(), auth, Some("sandbox"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        answers.push(answer["error"]["message"].clone());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(h.store.ledger.balance("ref-1"), 0);
    assert!(h.store.ledger.state.lock().unwrap().events.is_empty());
}

#[tokio::test]
async fn no_configured_credentials_refuse_every_callback() {
    let mut h = with_users(vec![user("ref-1", None)]);
    h.secrets = StaticSecrets(Arc::new(AppSecrets::default()));
    let (status, _) = send(&h, deliver("evt-1", "ref-1", 500)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        &h,
        callback(
            reward_body("evt-1", "ref-1", 5),
            Some(basic("", "")),
            Some("sandbox"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_sandbox_reward_never_reaches_a_production_balance() {
    let h = Handler {
        store: MemoryStore::with_users([user("ref-1", None)]),
        ..handler_with(CelloEnv::Prod, false, StripeErasure::Keep)
    };
    let (status, body) = send(&h, deliver("evt-1", "ref-1", 500)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "wrong_environment");
    let (status, body) = send(
        &h,
        callback(
            reward_body("evt-1", "ref-1", 500),
            Some(basic(USER, PASSWORD)),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "missing_cello_env");
    assert_eq!(h.store.ledger.balance("ref-1"), 0);
    assert!(h.store.ledger.state.lock().unwrap().events.is_empty());
    let (status, body) = send(
        &h,
        callback(
            reward_body("evt-1", "ref-1", 500),
            Some(basic(USER, PASSWORD)),
            Some("prod"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("credited"))
    );
}

#[tokio::test]
async fn a_reward_for_an_unknown_user_is_kept_and_applied_once_on_their_first_call() {
    let h = handler();
    let (_, body) = send(&h, deliver("evt-1", "late-1", 300)).await;
    assert_eq!(body["outcome"], "pending");
    let (_, body) = send(&h, deliver("evt-1", "late-1", 300)).await;
    assert_eq!(body["outcome"], "duplicate");
    assert_eq!(h.store.ledger.pending_count("late-1"), 1);
    // The user signs up (signup applies kept rewards; here the first GET /credits does).
    h.store
        .users
        .create_user(&user("late-1", None))
        .await
        .unwrap();
    for _ in 0..3 {
        let (status, body) = send(&h, as_user("GET", "/credits", "late-1", &[])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["balance"], 300);
        assert_eq!(body["entries"].as_array().unwrap().len(), 1);
        assert_eq!(body["entries"][0]["eventId"], "evt-1");
    }
    let (_, body) = send(&h, deliver("evt-1", "late-1", 300)).await;
    assert_eq!(body["outcome"], "duplicate");
    assert_eq!(h.store.ledger.balance("late-1"), 300);
}

#[tokio::test]
async fn the_ledger_pages_newest_first_with_a_cursor() {
    let h = with_users(vec![user("ref-1", None)]);
    for i in 0..5 {
        h.clock.set(1_795_428_000 + i);
        let (_, body) = send(&h, deliver(&format!("evt-{i}"), "ref-1", 10 + i)).await;
        assert_eq!(body["outcome"], "credited");
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "2")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let (status, body) = send(&h, as_user("GET", "/credits", "ref-1", &query)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["balance"], 10 + 11 + 12 + 13 + 14);
        for e in body["entries"].as_array().unwrap() {
            seen.push(e["eventId"].as_str().unwrap().to_owned());
        }
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["evt-4", "evt-3", "evt-2", "evt-1", "evt-0"]);
    // Another user's ledger is never reachable: the cursor only positions within the caller's.
    let (status, body) = send(&h, as_user("GET", "/credits", "someone-else", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            body["balance"].as_i64(),
            body["entries"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
}

#[tokio::test]
async fn erasing_twice_calls_cello_once_and_the_second_run_changes_nothing() {
    let h = with_users(vec![user("gone-1", Some("cus_1"))]);
    let (status, first) = send(&h, as_user("DELETE", "/account", "gone-1", &[])).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["erased"], true);
    assert_eq!(first["alreadyErased"], false);
    assert_eq!(first["steps"]["cello"]["outcome"], "depersonalized");
    assert_eq!(first["steps"]["stripe"]["outcome"], "customer deleted");
    let stored = h.store.get_user("gone-1").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.email,
            stored.first_name.as_str(),
            stored.last_name.as_str()
        ),
        (None, "", "")
    );
    assert!(stored.erased_at.is_some());
    let (status, second) = send(&h, as_user("DELETE", "/account", "gone-1", &[])).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["alreadyErased"], true);
    assert_eq!(second["steps"], first["steps"]);
    assert_eq!(*h.cello.calls.lock().unwrap(), ["gone-1"]);
    assert_eq!(*h.stripe.deleted.lock().unwrap(), ["cus_1"]);
}

#[tokio::test]
async fn a_failed_erasure_continues_where_it_stopped() {
    let h = with_users(vec![user("gone-2", Some("cus_2"))]);
    h.stripe.down_once.store(true, Ordering::SeqCst);
    let (status, body) = send(&h, as_user("DELETE", "/account", "gone-2", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let record = h.store.erasure("gone-2").unwrap();
    assert!(record.steps.contains_key("cello") && !record.steps.contains_key("stripe"));
    assert_eq!(
        h.store
            .get_user("gone-2")
            .await
            .unwrap()
            .unwrap()
            .first_name,
        "Ada",
        "nothing of ours scrubbed yet"
    );
    let (status, body) = send(&h, as_user("DELETE", "/account", "gone-2", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        h.cello.calls.lock().unwrap().len(),
        1,
        "Cello's step was not repeated"
    );
    assert_eq!(h.stripe.calls.load(Ordering::SeqCst), 2);
    assert!(
        h.store
            .get_user("gone-2")
            .await
            .unwrap()
            .unwrap()
            .erased_at
            .is_some()
    );
}

#[tokio::test]
async fn account_deletion_is_off_unless_switched_on_and_keep_keeps_the_customer() {
    let h = Handler {
        store: MemoryStore::with_users([user("u-1", Some("cus_1"))]),
        ..handler_with(CelloEnv::Sandbox, false, StripeErasure::Keep)
    };
    let (status, body) = send(&h, as_user("DELETE", "/account", "u-1", &[])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "account_deletion_disabled");
    assert!(h.cello.calls.lock().unwrap().is_empty());
    // The command path (the same use case) with keep: Cello told, customer kept.
    let erased = h.eraser().erase("u-1", "op").await.unwrap();
    assert_eq!(
        erased.record.steps["stripe"].outcome,
        "customer kept (ERASE_STRIPE_CUSTOMER=keep)"
    );
    assert!(h.stripe.deleted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn every_fixture_matches_its_expectation() {
    let h = handler();
    for (case, expect) in fixture_expectations("rewards", "unit") {
        let (status, body) =
            send(&h, fixture_request(&format!("rewards/{case}.json"), "unit")).await;
        assert_expected(&case, &expect, status.as_u16(), &body, |_, v| v.clone());
    }
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let h = handler();
    let req = lambda_http::http::Request::builder()
        .method("GET")
        .uri("/nothing")
        .body(Body::Empty)
        .unwrap();
    let (status, body) = send(&h, req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}
