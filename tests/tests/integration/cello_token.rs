//! `POST /cello/token` end to end: served by `cargo lambda watch`, the secret from the Secrets
//! Manager stand-in, the user record from the DynamoDB stand-in.

use integration_tests::{
    local_bearer, post_function, stack_secrets, stack_var, store, unique, user,
};
use serde_json::Value;
use shared::UserStore;
use testkit::verify_hs512;

async fn post(auth: Option<&str>, body: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    post_function("cello-token", auth, None, body).await
}

#[tokio::test]
async fn mints_a_verifiable_token_with_the_stored_users_details() {
    let id = unique("token-user");
    let email = format!("{id}@example.com");
    store().await.create_user(&user(&id, &email)).await.unwrap();
    let secrets = stack_secrets().await;

    let (status, headers, body) = post(Some(&local_bearer(&id, Some(&email))), "").await;
    assert_eq!(status, 200, "{body}");
    let claims = verify_hs512(
        body["token"].as_str().unwrap(),
        secrets.cello_product_secret().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(claims["productUserId"], Value::String(id.clone()));
    assert_eq!(claims["productId"], secrets.cello_product_id().unwrap());
    assert_eq!(claims.as_object().unwrap().len(), 3, "{claims}");
    assert_eq!(body["productUserDetails"]["fullName"], "Ada Lovelace");
    assert_eq!(body["productUserDetails"]["email"], email.as_str());
    assert_eq!(
        headers["access-control-allow-origin"],
        stack_var("LOCAL_FRONTEND_URL").as_str()
    );
}

#[tokio::test]
async fn refuses_callers_without_a_valid_local_token() {
    let (status, _, body) = post(None, "").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");

    // A token signed with another secret is not an identity.
    let claims = serde_json::json!({"sub": "intruder"});
    let forged = testkit::local_bearer::authorization(
        claims.as_object().unwrap(),
        "not-the-local-dev-secret",
        shared::unix_now(),
    );
    let (status, _, body) = post(Some(&forged), "").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.get("token").is_none());
}
