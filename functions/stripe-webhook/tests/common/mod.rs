//! Shared by the handler tests: the independent Stripe signer (testkit's, RustCrypto's HMAC, no
//! code shared with the verifier, which uses aws-lc-rs), the fixtures, and a handler on memory ports.

#![allow(dead_code, unused_imports)]

use lambda_http::{Body, Request};
use shared::AppSecrets;
use shared::config::StripeMode;
use shared::secrets::{Secret, StaticSecrets};
use std::sync::Arc;
use stripe_webhook::billing::memory::MemoryBilling;
use stripe_webhook::handler::Webhook;
use testkit::FixedClock;

pub const SECRET: &str = "whsec_local_dev_webhook_secret";
pub const NOW: i64 = 1_763_900_000;

pub use testkit::stripe_signature::{header, v1};

/// `events/stripe/<name>.json` with `{{run}}` replaced.
pub fn fixture(name: &str, run: &str) -> String {
    let path = format!(
        "{}/../../events/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("{{run}}", run)
}

/// Every fixture name in `events/stripe/`.
pub fn fixture_names() -> Vec<String> {
    let dir = format!("{}/../../events/stripe", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            (name.ends_with(".json") && !name.ends_with(".expect.json"))
                .then(|| name.trim_end_matches(".json").to_owned())
        })
        .collect();
    names.sort();
    names
}

/// A delivery as lambda_http hands it to the handler.
pub fn request(body: impl Into<Vec<u8>>, signature: Option<&str>) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/stripe/webhook")
        .header("content-type", "application/json; charset=utf-8");
    if let Some(s) = signature {
        b = b.header("stripe-signature", s);
    }
    b.body(Body::Binary(body.into())).unwrap()
}

/// A delivery whose `Stripe-Signature` is any bytes a header can carry.
pub fn request_with_raw_header(body: Vec<u8>, header: &[u8]) -> Request {
    let mut req = request(body, None);
    let value = lambda_http::http::HeaderValue::from_bytes(header).expect("header-safe bytes");
    req.headers_mut().insert("stripe-signature", value);
    req
}

pub fn signed(body: &str) -> Request {
    request(body.as_bytes(), Some(&header(SECRET, NOW, body.as_bytes())))
}

pub fn secrets(webhook_secrets: &[&str], version: &str) -> Arc<AppSecrets> {
    Arc::new(AppSecrets {
        stripe_webhook_secrets: webhook_secrets.iter().map(|s| Secret::new(*s)).collect(),
        version: version.into(),
        ..AppSecrets::default()
    })
}

pub type TestWebhook = Webhook<StaticSecrets, MemoryBilling, FixedClock>;

pub fn webhook() -> TestWebhook {
    Webhook {
        secrets: StaticSecrets(secrets(&[SECRET], "v1")),
        store: MemoryBilling::default(),
        clock: FixedClock::at(NOW),
        mode: StripeMode::Test,
    }
}

/// Status and JSON body of the handler's result, as the Route would render them.
pub async fn call<S, B, C>(w: &Webhook<S, B, C>, req: Request) -> (u16, serde_json::Value)
where
    S: shared::SecretSource,
    B: stripe_webhook::billing::BillingStore,
    C: shared::clock::Clock,
{
    match w.handle(req.into()).await {
        Ok(reply) => (
            reply.status.as_u16(),
            serde_json::from_str(&reply.body).unwrap(),
        ),
        Err(e) => (
            e.status.as_u16(),
            serde_json::from_str(&e.to_json("test")).unwrap(),
        ),
    }
}
