//! `POST /stripe/webhook` against the real local stack: served by `cargo lambda watch`, the
//! signing secret from the Secrets Manager stand-in, every record in the DynamoDB stand-in.
//! Deliveries are signed with RustCrypto's HMAC (the replay's signer), independently of the verifier (aws-lc-rs),
//! and, in the end-to-end case, by the Stripe stand-in (localstripe) itself.

use integration_tests::{function_url, sdk, stack_secrets, stack_var, store, unique};
use serde_json::Value;
use shared::Table;
use shared::clock::SystemClock;
use std::time::{Duration, Instant};
use stripe_webhook::billing::{BillingStore, CustomerBilling};
use stripe_webhook::handler::Webhook;
use testkit::stripe_signature;

const TEN: [&str; 10] = testkit::fixtures::STRIPE_LIFECYCLE;

async fn webhook_secret() -> String {
    stack_secrets().await.stripe_webhook_secrets().unwrap()[0]
        .expose()
        .to_owned()
}

/// Signed now, by the replay's signer (RustCrypto HMAC, independent of the verifier).
fn sign(secret: &str, body: &str) -> String {
    stripe_signature::header(secret, shared::unix_now(), body.as_bytes())
}

fn fixture(name: &str, run: &str) -> String {
    let path = format!(
        "{}/../events/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("{{run}}", run)
}

/// A run id that is also a valid part of Stripe-like ids.
fn run_id(prefix: &str) -> String {
    unique(prefix).replace('-', "_")
}

async fn deliver(secret: &str, body: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(function_url("stripe-webhook"))
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", sign(secret, body))
        .body(body.to_owned())
        .send()
        .await
        .expect("cargo lambda watch answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}

async fn billing(customer: &str) -> CustomerBilling {
    store().await.customer_billing(customer).await.unwrap()
}

#[tokio::test]
async fn every_event_type_is_applied_to_the_customers_record() {
    let secret = webhook_secret().await;
    let run = run_id("all");
    for name in TEN {
        let (status, body) = deliver(&secret, &fixture(name, &run)).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["outcome"], "applied", "{name}: {body}");
    }
    let b = billing(&format!("cus_{run}")).await;
    assert_eq!(b.linked_user_id, Some(format!("user-{run}")));
    let state = b.state.expect("customer state");
    assert_eq!(state.ucc.as_deref(), Some("pNRB1aYqArN"));
    assert!(state.deleted);
    assert_eq!(b.subscriptions.len(), 1);
    assert_eq!(b.subscriptions[0].status.as_deref(), Some("canceled"));
    assert_eq!(
        b.subscriptions[0].cello_interval.as_deref(),
        Some("monthly")
    );
    assert_eq!(b.invoices.len(), 1);
    assert_eq!(b.invoices[0].amount_paid, Some(2900));
    assert_eq!(b.charges.len(), 1);
    assert_eq!(b.charges[0].amount_refunded, Some(900));
    assert_eq!(b.refunds.len(), 1);
}

#[tokio::test]
async fn the_same_event_delivered_ten_times_has_one_effect() {
    let secret = webhook_secret().await;
    let run = run_id("ten");
    let body = fixture("charge-refunded", &run);
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let (status, json) = deliver(&secret, &body).await;
        assert_eq!(status, 200, "{json}");
        outcomes.push(json["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(outcomes[0], "applied");
    assert!(
        outcomes[1..].iter().all(|o| o == "duplicate"),
        "{outcomes:?}"
    );
    let b = billing(&format!("cus_{run}")).await;
    assert_eq!((b.charges.len(), b.refunds.len()), (1, 1));
}

/// Order-independence through the real conditional writes: the ten events in order for one
/// customer, reversed and interleaved for another, give the same record.
#[tokio::test]
async fn events_shuffled_end_in_the_same_state() {
    let secret = webhook_secret().await;
    let (a, b) = (run_id("orda"), run_id("ordb"));
    for name in TEN {
        deliver(&secret, &fixture(name, &a)).await;
    }
    let shuffled = [7, 2, 9, 0, 5, 3, 8, 1, 6, 4];
    for i in shuffled {
        let (status, _) = deliver(&secret, &fixture(TEN[i], &b)).await;
        assert_eq!(status, 200);
    }
    let normalise =
        |billing: CustomerBilling, run: &str| format!("{billing:?}").replace(run, "RUN");
    let first = normalise(billing(&format!("cus_{a}")).await, &a);
    let second = normalise(billing(&format!("cus_{b}")).await, &b);
    assert_eq!(first, second);
    assert!(first.contains("deleted: true"), "{first}");
}

/// The DynamoDB stand-in unreachable (the same adapter pointed at a port nobody listens on):
/// 503, nothing acknowledged. Stripe redelivers; the real stack applies it once.
#[tokio::test]
async fn a_dynamodb_outage_is_503_then_the_redelivery_applies_once() {
    let secret = webhook_secret().await;
    let run = run_id("outage");
    let body = fixture("invoice-paid", &run);

    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sdk = sdk().await;
    let dead = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(format!("http://127.0.0.1:{dead_port}"))
        .build();
    let down = Webhook {
        secrets: shared::secrets::from_config(
            &shared::config::SecretSourceKind::SecretsManager {
                secret_id: stack_var("SECRET_ID"),
            },
            Duration::from_secs(300),
            &sdk,
        ),
        store: Table::new(
            aws_sdk_dynamodb::Client::from_conf(dead),
            stack_var("TABLE_NAME"),
        ),
        clock: SystemClock,
        mode: shared::config::StripeMode::Test,
    };
    let req = lambda_http_request(&body, &sign(&secret, &body));
    let err = down.handle(req.into()).await.expect_err("storage down");
    assert_eq!(err.status.as_u16(), 503, "{err}");
    assert!(billing(&format!("cus_{run}")).await.invoices.is_empty());

    let (status, json) = deliver(&secret, &body).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
    let (_, json) = deliver(&secret, &body).await;
    assert_eq!(json["outcome"], "duplicate");
    assert_eq!(billing(&format!("cus_{run}")).await.invoices.len(), 1);
}

/// The delivery as lambda_http hands it to the handler in process.
fn lambda_http_request(body: &str, signature: &str) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/stripe/webhook")
        .header("stripe-signature", signature)
        .body(lambda_http::Body::Text(body.to_owned()))
        .unwrap()
}

/// localstripe signs and delivers `customer.created` itself to the `cargo lambda watch` URL
/// when a customer is created through its API, as Stripe would.
#[tokio::test]
async fn the_stripe_stand_in_delivers_a_signed_event_that_is_applied() {
    let stripe = stack_var("STRIPE_API_BASE");
    let secret = webhook_secret().await;
    let http = reqwest::Client::new();
    let register = |events: Value| {
        http.post(format!("{stripe}/_config/webhooks/stripe-webhook-e2e"))
            .json(&serde_json::json!({
                "url": function_url("stripe-webhook"),
                "secret": secret,
                "events": events,
            }))
            .send()
    };
    let resp = register(serde_json::json!(["customer.created"]))
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());

    let user_id = unique("e2e-user");
    let form = format!(
        "email={user_id}%40example.com&name=Ada+Lovelace&metadata[new_user_id]={user_id}&metadata[cello_ucc]=pNRB1aYqArN"
    );
    let customer: Value = http
        .post(format!("{stripe}/v1/customers"))
        .bearer_auth("sk_test_local_stand_in")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer_id = customer["id"].as_str().expect("a customer id").to_owned();

    // localstripe waits a second before delivering; the first call may also start the function.
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        let b = billing(&customer_id).await;
        if b.state.is_some() || Instant::now() > deadline {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Stop the stand-in delivering to this endpoint for the other tests' customers.
    let _ = register(serde_json::json!([])).await;

    assert_eq!(
        record.linked_user_id.as_deref(),
        Some(user_id.as_str()),
        "{record:?}"
    );
    let state = record.state.expect("localstripe's delivery was applied");
    assert_eq!(state.ucc.as_deref(), Some("pNRB1aYqArN"));
    assert!(!state.deleted);
}

#[tokio::test]
async fn forged_and_oversized_deliveries_are_refused_over_http() {
    let run = run_id("forged");
    let body = fixture("invoice-paid", &run);
    let (status, json) = deliver("whsec_not_the_endpoints_secret", &body).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (400, Some("invalid_signature"))
    );

    // Over the 256 KiB cap: refused before the signature is even computed.
    let padded = body.replacen(
        '{',
        &format!("{{\"padding\":\"{}\",", "x".repeat(300 * 1024)),
        1,
    );
    let (status, json) = deliver(&webhook_secret().await, &padded).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert!(billing(&format!("cus_{run}")).await.invoices.is_empty());
}
