//! The integration doctor against the real local stack: each scenario is built through the
//! real endpoints (signup and the token over HTTP on `cargo lambda watch`, signed webhook
//! deliveries, the Stripe stand-in's own API), then the doctor's library runs as the binary
//! does (the stack's environment, the table and the secret in moto, Stripe in localstripe)
//! and must name the cause for that user, with exit status 1; a clean referred user with a paid
//! invoice is all green, exit 0. Items of the other helpers' functions (erasure) are put with
//! the table contract's attribute names.

use integration_tests::{
    function_url, local_bearer, post_function, sdk, stack_secrets, stack_var, store, stripe_key,
    unique,
};
use serde_json::{Value, json};
use shared::table::{key, n};

/// Seeded in Cello's stand-in (infra/local/cello-seed.json), as Cello knows its codes.
const UCC: &str = "pNRB1aYqArN";

struct Run {
    code: i32,
    json: Value,
}

async fn doctor(args: &[&str]) -> Run {
    doctor_on(None, args).await
}

/// The doctor as its binary runs it, optionally on another table than the stack's.
async fn doctor_on(table: Option<&str>, args: &[&str]) -> Run {
    let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    argv.push("--json".into());
    let table = table.map(str::to_owned);
    let env = shared::config::Settings::new(move |name| match (name, &table) {
        ("TABLE_NAME", Some(t)) => Some(t.clone()),
        _ => std::env::var(name).ok(),
    });
    let out = doctor::cli::run_with(&argv, &env).await;
    assert!(out.code != 2, "the doctor could not run: {}", out.stderr);
    let json = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout));
    Run {
        code: out.code,
        json,
    }
}

fn codes(report: &Value, severity: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// A signed-in user of the local stack.
struct Person {
    id: String,
    bearer: String,
}

fn person(prefix: &str) -> Person {
    let id = unique(prefix);
    let bearer = local_bearer(&id, Some(&format!("{id}@example.com")));
    Person { id, bearer }
}

/// POST /signup over HTTP; the ucc, when given, from the cello-referral cookie. The customer id.
async fn sign_up(p: &Person, ucc: Option<&str>) -> String {
    let cookie = ucc.map(|u| format!("cello-referral={u}"));
    // A 503 says "retry shortly" (another request, or the shared local table, held the claim):
    // retry as the frontend does, a few times.
    let mut attempt = 0;
    let (status, body) = loop {
        attempt += 1;
        let (status, _, body) = post_function(
            "signup",
            Some(&p.bearer),
            cookie.as_deref(),
            &json!({"firstName": "Ada", "lastName": "Lovelace"}).to_string(),
        )
        .await;
        if status != 503 || attempt == 5 {
            break (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    assert!(status == 201 || status == 200, "{body}");
    body["stripeCustomerId"]
        .as_str()
        .expect("a customer")
        .to_owned()
}

/// The customer as the Stripe stand-in holds it.
async fn stripe_customer(id: &str) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/v1/customers/{id}",
            stack_var("STRIPE_API_BASE")
        ))
        .bearer_auth(stripe_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Edits the customer's metadata in the Stripe stand-in (as a person or other code would).
async fn set_metadata(id: &str, key: &str, value: &str) -> Value {
    reqwest::Client::new()
        .post(format!(
            "{}/v1/customers/{id}",
            stack_var("STRIPE_API_BASE")
        ))
        .bearer_auth(stripe_key())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("metadata[{key}]={value}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// One Stripe event, signed as Stripe signs it, delivered to the webhook over HTTP.
async fn deliver(kind: &str, created: i64, livemode: bool, object: Value) -> Value {
    let body = json!({
        "id": format!("evt_{}", unique("doc").replace('-', "_")),
        "object": "event",
        "api_version": "2024-06-20",
        "type": kind,
        "created": created,
        "livemode": livemode,
        "data": {"object": object},
    })
    .to_string();
    let secret = stack_secrets().await.stripe_webhook_secrets().unwrap()[0]
        .expose()
        .to_owned();
    let header = testkit::stripe_signature::header(&secret, shared::unix_now(), body.as_bytes());
    let resp = reqwest::Client::new()
        .post(function_url("stripe-webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

async fn customer_event(kind: &str, created: i64, customer: &Value) {
    let receipt = deliver(kind, created, false, customer.clone()).await;
    assert_eq!(receipt["outcome"], "applied", "{receipt}");
}

fn subscription(id: &str, customer: &str, start: i64, discount: Option<(&str, i64)>) -> Value {
    let mut sub = json!({
        "id": id, "object": "subscription", "customer": customer, "status": "active",
        "start_date": start, "created": start,
        "items": {"object": "list", "data": [{"price": {"id": "price_pro", "nickname": "Pro",
            "recurring": {"interval": "month", "interval_count": 1}}}]},
    });
    if let Some((coupon, at)) = discount {
        sub["discount"] =
            json!({"object": "discount", "coupon": {"id": coupon, "percent_off": 50}, "start": at});
    }
    sub
}

fn invoice(id: &str, customer: &str, sub: &str, paid_at: i64) -> Value {
    json!({
        "id": id, "object": "invoice", "customer": customer, "subscription": sub,
        "amount_paid": 2900, "currency": "eur", "billing_reason": "subscription_create",
        "status": "paid", "status_transitions": {"paid_at": paid_at},
        "lines": {"object": "list", "data": [{"price": {"id": "price_pro",
            "recurring": {"interval": "month", "interval_count": 1}}}]},
    })
}

/// A referred user's whole story, as it should be: the widget token minted, signup with the
/// ucc, Stripe's customer.created, the subscription and its first paid invoice.
async fn clean_story(p: &Person) -> String {
    let (status, _, body) = post_function("cello-token", Some(&p.bearer), None, "").await;
    assert_eq!(status, 200, "{body}");
    let cus = sign_up(p, Some(UCC)).await;
    // Stripe's events follow the signup (its customer.created, then the subscription and its
    // first invoice, within the same few seconds).
    let now = shared::unix_now();
    customer_event("customer.created", now, &stripe_customer(&cus).await).await;
    let sub = format!("sub_{}", unique("s").replace('-', "_"));
    customer_event(
        "customer.subscription.created",
        now,
        &subscription(&sub, &cus, now, None),
    )
    .await;
    let inv = format!("in_{}", unique("i").replace('-', "_"));
    customer_event("invoice.paid", now, &invoice(&inv, &cus, &sub, now)).await;
    cus
}

#[tokio::test]
async fn a_clean_referred_user_with_a_paid_invoice_is_all_green() {
    let p = person("doc-clean");
    clean_story(&p).await;
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 0, "{:#}", run.json);
    assert_eq!(codes(&run.json, "error"), Vec::<String>::new());
    assert_eq!(
        codes(&run.json, "warning"),
        Vec::<String>::new(),
        "{:#}",
        run.json
    );
    let steps: Vec<&str> = run.json["story"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap())
        .collect();
    assert_eq!(&steps[..2], ["signup", "stripe customer"], "{steps:?}");
    assert!(steps.contains(&"invoice.paid"), "{steps:?}");
    assert!(
        run.json["story"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("from the cookie")
    );
}

#[tokio::test]
async fn no_ucc_is_named() {
    let p = person("doc-noucc");
    let cus = sign_up(&p, None).await;
    customer_event(
        "customer.created",
        shared::unix_now(),
        &stripe_customer(&cus).await,
    )
    .await;
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert_eq!(codes(&run.json, "error"), ["no_ucc"], "{:#}", run.json);
}

#[tokio::test]
async fn a_new_user_id_other_than_the_widgets_product_user_id_is_named() {
    let p = person("doc-uid");
    let cus = sign_up(&p, Some(UCC)).await;
    let now = shared::unix_now();
    customer_event("customer.created", now, &stripe_customer(&cus).await).await;
    let edited = set_metadata(&cus, "new_user_id", "u-1").await;
    assert_eq!(edited["metadata"]["new_user_id"], "u-1", "{edited}");
    customer_event("customer.updated", now + 1, &edited).await;
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        codes(&run.json, "error"),
        ["user_id_mismatch"],
        "{:#}",
        run.json
    );
    let text = run.json["findings"].to_string();
    assert!(
        text.contains(&format!(
            "`new_user_id` is `u-1` but the widget boots with `{}`",
            p.id
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_ucc_attached_after_the_first_paid_invoice_is_named() {
    let p = person("doc-late");
    let cus = sign_up(&p, None).await;
    // Stripe's events after the signup; the code reaches the customer two minutes after the
    // first invoice was paid (event times are Stripe's `created`, signed now).
    let now = shared::unix_now();
    customer_event("customer.created", now, &stripe_customer(&cus).await).await;
    let sub = format!("sub_{}", unique("s").replace('-', "_"));
    customer_event(
        "customer.subscription.created",
        now + 1,
        &subscription(&sub, &cus, now + 1, None),
    )
    .await;
    customer_event(
        "invoice.paid",
        now + 2,
        &invoice(
            &format!("in_{}", unique("i").replace('-', "_")),
            &cus,
            &sub,
            now + 2,
        ),
    )
    .await;
    let edited = set_metadata(&cus, "cello_ucc", UCC).await;
    customer_event("customer.updated", now + 120, &edited).await;
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        codes(&run.json, "error"),
        ["ucc_after_first_invoice"],
        "{:#}",
        run.json
    );
}

#[tokio::test]
async fn test_and_live_mixed_is_named() {
    let p = person("doc-mode");
    let cus = sign_up(&p, Some(UCC)).await;
    let now = shared::unix_now();
    customer_event("customer.created", now, &stripe_customer(&cus).await).await;
    // A live-mode invoice.paid for this customer at the test environment's endpoint.
    let receipt = deliver(
        "invoice.paid",
        now,
        true,
        invoice("in_live_1", &cus, "sub_live_1", now + 1),
    )
    .await;
    assert_eq!(receipt["reason"], "livemode_mismatch", "{receipt}");
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert!(
        codes(&run.json, "error").contains(&"mode_mixed".to_owned()),
        "{:#}",
        run.json
    );
    assert!(
        run.json["findings"]
            .to_string()
            .contains("live-mode invoice.paid"),
        "{:#}",
        run.json
    );
}

/// With Cello's API configured (the stand-in), a code Cello does not know is named.
#[tokio::test]
async fn a_ucc_cellos_api_does_not_know_is_named() {
    if std::env::var("CELLO_API_BASE").is_err() {
        return; // the stack without Cello's stand-in: nothing to ask
    }
    let p = person("doc-unknown-code");
    let cus = sign_up(&p, Some("zzUnknown01")).await;
    customer_event(
        "customer.created",
        shared::unix_now(),
        &stripe_customer(&cus).await,
    )
    .await;
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        codes(&run.json, "error"),
        ["ucc_unknown_at_cello"],
        "{:#}",
        run.json
    );
}

#[tokio::test]
async fn stripe_events_not_reaching_the_endpoint_are_named() {
    let p = person("doc-silent");
    sign_up(&p, Some(UCC)).await;
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert!(
        codes(&run.json, "error").contains(&"events_not_reaching".to_owned()),
        "{:#}",
        run.json
    );
    assert!(
        run.json["findings"]
            .to_string()
            .contains("Stripe created it at"),
        "{:#}",
        run.json
    );
}

#[tokio::test]
async fn a_discount_added_after_the_subscription_started_is_named() {
    let p = person("doc-disc");
    let cus = sign_up(&p, Some(UCC)).await;
    // The subscription starts without a discount; ten minutes later one is added to it.
    let now = shared::unix_now();
    customer_event("customer.created", now, &stripe_customer(&cus).await).await;
    let sub = format!("sub_{}", unique("s").replace('-', "_"));
    customer_event(
        "customer.subscription.created",
        now + 1,
        &subscription(&sub, &cus, now + 1, None),
    )
    .await;
    customer_event(
        "invoice.paid",
        now + 2,
        &invoice(
            &format!("in_{}", unique("i").replace('-', "_")),
            &cus,
            &sub,
            now + 2,
        ),
    )
    .await;
    customer_event(
        "customer.subscription.updated",
        now + 600,
        &subscription(&sub, &cus, now + 1, Some(("CELLO50", now + 600))),
    )
    .await;
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        codes(&run.json, "error"),
        ["discount_after_start"],
        "{:#}",
        run.json
    );
}

#[tokio::test]
async fn an_erased_user_is_shown_as_erased() {
    let p = person("doc-erased");
    clean_story(&p).await;
    // The erasure's records, by the table contract: the ERASURE item and erasedAt on the user.
    let table = store().await;
    let now = shared::unix_now();
    let mut item = key(format!("USER#{}", p.id), "ERASURE");
    item.insert("startedAt".into(), n(now - 2));
    item.insert("completedAt".into(), n(now - 1));
    table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    table
        .client
        .update_item()
        .table_name(&table.name)
        .set_key(Some(key(format!("USER#{}", p.id), "PROFILE")))
        .update_expression("SET erasedAt = :t REMOVE firstName, lastName, email")
        .expression_attribute_values(":t", n(now - 1))
        .send()
        .await
        .unwrap();
    let run = doctor(&["user", &p.id]).await;
    assert_eq!(run.code, 1);
    assert_eq!(codes(&run.json, "error"), ["user_erased"], "{:#}", run.json);
}

#[tokio::test]
async fn status_is_broken_on_a_fresh_table_and_healthy_after_a_clean_story() {
    // A fresh table beside the stack's: nothing recorded yet.
    let fresh = unique("doctor-fresh");
    let client = shared::aws::dynamodb(&sdk().await);
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    client
        .create_table()
        .table_name(&fresh)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let run = doctor_on(Some(&fresh), &["status"]).await;
    let _ = client.delete_table().table_name(&fresh).send().await;
    assert_eq!(run.code, 1, "{:#}", run.json);
    let components = run.json["components"].as_array().unwrap();
    assert_eq!(components.len(), 4);
    for c in components {
        assert_eq!(c["health"], "broken", "{c}");
        assert!(
            c["likelyCause"]
                .as_str()
                .unwrap()
                .starts_with("no event yet"),
            "{c}"
        );
    }
    // The configuration is the local stack's: every check green.
    let config: Vec<&Value> = run.json["configuration"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "ok")
        .collect();
    assert!(config.is_empty(), "{config:?}");

    // A clean story on the stack's table: the four components healthy.
    clean_story(&person("doc-status")).await;
    let run = doctor(&["status"]).await;
    let health: Vec<(&str, &str)> = run.json["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["health"].as_str().unwrap()))
        .collect();
    assert_eq!(
        health,
        [
            ("Referral component", "healthy"),
            ("Attribution library", "healthy"),
            ("Signups tracking", "healthy"),
            ("Purchases tracking", "healthy")
        ],
        "{:#}",
        run.json
    );
    assert_eq!(run.code, 0, "{:#}", run.json);
}

#[tokio::test]
async fn events_show_the_latest_verified_events_with_field_findings() {
    let p = person("doc-events");
    let cus = clean_story(&p).await;
    let run = doctor(&["events", "--since", "1h", "--limit", "500"]).await;
    let mine: Vec<&Value> = run.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["customerId"] == cus.as_str())
        .collect();
    let mut kinds: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "customer.created/updated",
            "customer.subscription.*",
            "invoice.paid"
        ],
        "{mine:?}"
    );
    let times: Vec<i64> = run.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["at"].as_i64())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert!(mine.iter().all(|e| e["status"] == "ok"), "{mine:?}");
    assert!(
        mine.iter().all(|e| e["userId"] == p.id.as_str()),
        "{mine:?}"
    );
}

/// A minimal OpenID issuer on loopback: answers every request with its configuration.
async fn serve_issuer() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let body = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}).to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    issuer
}

#[tokio::test]
async fn status_checks_that_the_jwt_issuer_answers() {
    let issuer = serve_issuer().await;
    let run = doctor(&["status", "--issuer", &issuer]).await;
    let check = |run: &Run| {
        run.json["configuration"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "jwt_issuer")
            .cloned()
            .expect("a jwt_issuer finding")
    };
    assert_eq!(check(&run)["severity"], "ok", "{:#}", run.json);
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = doctor(&[
        "status",
        "--issuer",
        &format!("http://127.0.0.1:{dead_port}"),
    ])
    .await;
    assert_eq!(check(&run)["severity"], "error", "{:#}", run.json);
    assert_eq!(run.code, 1);
}
