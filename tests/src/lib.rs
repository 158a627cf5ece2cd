//! Helpers for the workspace integration tests. They run against the real local stand-ins that
//! `infra/local/test.sh` starts (moto for DynamoDB and Secrets Manager, localstripe for Stripe),
//! through the same adapters the functions use in AWS.

pub mod replay;

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
    referral_core::aws::sdk_config().await
}

/// The user store on the local table.
pub async fn store() -> referral_core::store::dynamo::DynamoStore {
    referral_core::store::dynamo::DynamoStore::from_sdk(&sdk().await, stack_var("TABLE_NAME"))
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
pub fn user(user_id: &str, email: &str) -> referral_core::User {
    referral_core::User {
        user_id: user_id.to_owned(),
        email: email.to_owned(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        organization_id: None,
        language: Some("en".into()),
        ucc: Some("pNRB1aYqArN".into()),
        ucc_source: Some(referral_core::store::UccSource::Body),
        ucc_standard: Some(true),
        created_at: referral_core::unix_now(),
        stripe_customer_id: None,
    }
}
