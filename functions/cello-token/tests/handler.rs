//! Unit tests of the handler with in-memory ports and the `events/cello-token` fixtures.

use cello_token::handler::TokenHandler;
use cello_token::settings::TokenSettings;
use cello_token::signer::SignerCache;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::secrets::StaticSecrets;
use shared::user::memory::MemoryUsers;
use shared::{AppSecrets, Authenticator, User};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use testkit::{assert_expected, fixture_expectations, fixture_request, verify_hs512};

const SECRET: &str = "unit-test-product-secret";

fn secrets(version: &str, product_secret: &str) -> AppSecrets {
    AppSecrets::parse(
        &format!(r#"{{"celloProductId":"p_unit","celloProductSecret":"{product_secret}"}}"#),
        version,
    )
    .unwrap()
}

fn handler(store: MemoryUsers, ttl: Option<Duration>) -> TokenHandler<MemoryUsers, StaticSecrets> {
    let s = secrets("v1", SECRET);
    TokenHandler {
        store,
        signers: SignerCache::new(&s, ttl).unwrap(),
        secrets: StaticSecrets(Arc::new(s)),
        auth: Authenticator::ApiGatewayJwt,
        settings: TokenSettings {
            ttl,
            default_language: "en".into(),
        },
    }
}

async fn call(h: &TokenHandler<MemoryUsers, StaticSecrets>, fixture: &str) -> (StatusCode, Value) {
    let route = cello_token::route(vec!["http://127.0.0.1:4514".into()]);
    let req = fixture_request(&format!("cello-token/{fixture}.json"), "run1");
    let resp: Response<Body> = route.serve(req, |r| h.handle(r)).await;
    let Body::Text(text) = resp.body() else {
        panic!("non-text body")
    };
    (resp.status(), serde_json::from_str(text).unwrap())
}

fn stored_user(id: &str) -> User {
    User {
        user_id: id.into(),
        email: Some("stored@example.com".into()),
        unverified_email: None,
        email_pending_stripe: None,
        first_name: "Grace".into(),
        last_name: "Hopper".into(),
        organization_id: None,
        language: Some("fr".into()),
        ucc: None,
        ucc_source: None,
        ucc_standard: None,
        created_at: 1,
        stripe_customer_id: None,
        erased_at: None,
    }
}

#[tokio::test]
async fn mints_exactly_the_three_claims_for_the_caller() {
    let h = handler(MemoryUsers::default(), None);
    let before = shared::unix_now();
    let (status, body) = call(&h, "valid").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify_hs512(body["token"].as_str().unwrap(), SECRET.as_bytes()).unwrap();
    let obj = claims.as_object().unwrap();
    assert_eq!(obj.len(), 3, "{claims}");
    assert_eq!(claims["productId"], "p_unit");
    assert_eq!(claims["productUserId"], "user-run1");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=before + 2).contains(&iat));
    assert_eq!(body["issuedAt"], iat);
    assert_eq!(body["expiresAt"], Value::Null);
    assert_eq!(body["productId"], "p_unit");
    assert_eq!(body["language"], "de");
    // No record yet: the details come from the identity claims.
    assert_eq!(body["productUserDetails"]["fullName"], "Ada Lovelace");
    assert_eq!(body["productUserDetails"]["email"], "ada-run1@example.com");
    // Another secret does not verify it.
    assert!(verify_hs512(body["token"].as_str().unwrap(), b"another-secret").is_err());
}

#[tokio::test]
async fn numeric_user_ids_are_strings_in_the_token() {
    let h = handler(MemoryUsers::default(), None);
    let (status, body) = call(&h, "user-without-record").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify_hs512(body["token"].as_str().unwrap(), SECRET.as_bytes()).unwrap();
    assert_eq!(claims["productUserId"], Value::String("12345run1".into()));
    assert!(body["productUserDetails"].get("firstName").is_none());
    assert_eq!(body["language"], "en");
}

#[tokio::test]
async fn details_and_language_come_from_the_stored_record() {
    let h = handler(
        MemoryUsers::with_users([stored_user("12345run1")]),
        Some(Duration::from_secs(86_400)),
    );
    let (status, body) = call(&h, "user-without-record").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["productUserDetails"],
        serde_json::json!({"firstName": "Grace", "lastName": "Hopper",
            "fullName": "Grace Hopper", "email": "stored@example.com"})
    );
    assert_eq!(body["language"], "fr");
    let claims = verify_hs512(body["token"].as_str().unwrap(), SECRET.as_bytes()).unwrap();
    assert_eq!(claims["exp"], claims["iat"].as_i64().unwrap() + 86_400);
    assert_eq!(body["expiresAt"], claims["exp"]);
}

#[tokio::test]
async fn refusals_are_json_errors() {
    let h = handler(MemoryUsers::default(), None);
    for (fixture, status, code) in [
        ("no-identity", 401, "unauthorized"),
        ("wrong-method", 405, "method_not_allowed"),
        ("invalid-language", 400, "invalid_language"),
        ("malformed-json", 400, "malformed_json"),
    ] {
        let (got, body) = call(&h, fixture).await;
        assert_eq!(got.as_u16(), status, "{fixture}: {body}");
        assert_eq!(body["error"]["code"], code, "{fixture}");
        assert!(body.get("token").is_none());
    }
}

#[tokio::test]
async fn a_store_outage_is_a_retryable_503() {
    let store = MemoryUsers::default();
    store.unavailable.store(true, Ordering::SeqCst);
    let h = handler(store, None);
    let (status, body) = call(&h, "valid").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "service_unavailable");
}

#[tokio::test]
async fn a_rotated_product_secret_is_used_from_its_first_request() {
    let mut h = handler(MemoryUsers::default(), None);
    h.secrets = StaticSecrets(Arc::new(secrets("v2", "rotated-secret")));
    let (_, body) = call(&h, "valid").await;
    let token = body["token"].as_str().unwrap();
    assert!(verify_hs512(token, b"rotated-secret").is_ok());
    assert!(verify_hs512(token, SECRET.as_bytes()).is_err());
}

#[tokio::test]
async fn every_fixture_matches_its_expectation() {
    // The same expectations the replay checks against the local stack, here in-process.
    let h = handler(MemoryUsers::default(), None);
    let cases = fixture_expectations("cello-token", "run1");
    for (case, expect) in &cases {
        let (status, body) = call(&h, case).await;
        assert_expected(case, expect, status.as_u16(), &body, |pointer, want| {
            match (pointer, want) {
                // The unit secret's product id stands in for the local stack's.
                ("/productId", Value::String(_)) => Value::String("p_unit".into()),
                _ => want.clone(),
            }
        });
    }
    assert!(cases.len() >= 4, "only {} fixtures", cases.len());
}
