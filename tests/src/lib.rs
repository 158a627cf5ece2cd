//! Helpers for the workspace integration tests (`tests/integration/`). They run against the real local stand-ins that
//! `infra/local/test.sh` starts (moto for DynamoDB and Secrets Manager, localstripe for Stripe),
//! through the same adapters the functions use in AWS.

use std::sync::atomic::{AtomicU64, Ordering};

/// A setting the test stack exports; a clear failure when the stack is not running.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: integration tests need the local stand-ins. \
             Run them with `infra/local/test.sh` (it starts the stack and sets the environment)."
        )
    })
}

/// The SDK configuration the functions use, pointed at the stand-ins by the environment.
pub async fn sdk() -> aws_config::SdkConfig {
    stack_var("AWS_ENDPOINT_URL_DYNAMODB");
    shared::aws::sdk_config().await
}

/// The user store on the local table.
pub async fn store() -> shared::Table {
    shared::Table::from_sdk(&sdk().await, stack_var("TABLE_NAME"))
}

/// A value unique to this test process and call, so tests can share the table and run in
/// parallel without seeing each other's items.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A user record with the given id and email, as signup would store it.
pub fn user(user_id: &str, email: &str) -> shared::User {
    shared::User {
        user_id: user_id.to_owned(),
        email: Some(email.to_owned()),
        unverified_email: None,
        email_pending_stripe: None,
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        organization_id: None,
        language: Some("en".into()),
        ucc: Some("pNRB1aYqArN".into()),
        ucc_source: Some(shared::user::UccSource::Body),
        ucc_standard: Some(true),
        created_at: shared::unix_now(),
        stripe_customer_id: None,
        erased_at: None,
    }
}

/// A local bearer token for `sub`, as `infra/local/mint_token.py` mints them (AUTH_MODE=local).
pub fn local_bearer(sub: &str, email: Option<&str>) -> String {
    let mut claims = serde_json::Map::from_iter([("sub".to_owned(), sub.into())]);
    if let Some(email) = email {
        claims.insert("email".into(), email.into());
        claims.insert("email_verified".into(), true.into());
    }
    testkit::local_bearer::authorization(
        &claims,
        &stack_var("LOCAL_AUTH_SECRET"),
        shared::unix_now(),
    )
}

/// The URL at which `cargo lambda watch` serves `function`.
pub fn function_url(function: &str) -> String {
    format!("{}/lambda-url/{function}/", stack_var("LOCAL_WATCH_URL"))
}

/// The environment's secret, read from the Secrets Manager stand-in.
pub async fn stack_secrets() -> shared::AppSecrets {
    use shared::secrets::{SecretLoader, SecretsManagerLoader};
    let client = shared::aws::secrets_manager(&sdk().await);
    SecretsManagerLoader::new(client, stack_var("SECRET_ID"))
        .load()
        .await
        .expect("the stack's secret")
}

/// The customers the Stripe stand-in holds for `email`, as JSON objects.
pub async fn stripe_customers(email: &str) -> Vec<serde_json::Value> {
    let url = format!(
        "{}/v1/customers",
        stack_var("STRIPE_API_BASE").trim_end_matches('/')
    );
    let page: serde_json::Value = reqwest::Client::new()
        .get(url)
        .query(&[("email", email), ("limit", "100")])
        .bearer_auth(stripe_key())
        .send()
        .await
        .expect("the Stripe stand-in answers")
        .json()
        .await
        .expect("a JSON list");
    page["data"].as_array().cloned().unwrap_or_default()
}

/// The local stack's Stripe test key (a stand-in value, not a real key).
pub fn stripe_key() -> String {
    std::env::var("LOCAL_STRIPE_SECRET_KEY").unwrap_or_else(|_| "sk_test_local_stand_in".into())
}

/// POSTs `body` to a function served by `cargo lambda watch`, as the frontend would.
pub async fn post_function(
    function: &str,
    bearer: Option<&str>,
    cookie: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(function_url(function))
        .header("content-type", "application/json")
        .header("origin", stack_var("LOCAL_FRONTEND_URL"))
        .body(body.to_owned());
    if let Some(bearer) = bearer {
        req = req.header("authorization", bearer);
    }
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let resp = req.send().await.expect("cargo lambda watch answers");
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let text = resp.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, json)
}
