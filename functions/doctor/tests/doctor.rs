//! The doctor's questions on memory adapters: items put with the writers' attribute names (the
//! table contract), Stripe as the memory reader holds it. One test per cause the doctor names.

use doctor::cli::{Args, Command, Doctor};
use doctor::finding::Severity;
use doctor::records::memory::MemoryRecords;
use doctor::stripe::memory::MemoryStripe;
use doctor::stripe::{StripeCustomer, StripeDiscount, StripeSubscription};
use serde_json::{Value, json};
use shared::config::StripeMode;
use shared::secrets::AppSecrets;

const NOW: i64 = 1_800_000_000;
const UID: &str = "user-1";
const CUS: &str = "cus_1";

fn secret() -> AppSecrets {
    AppSecrets::parse(
        r#"{"celloProductId":"p_1","celloProductSecret":"0123456789abcdef0123","stripeSecretKey":"sk_test_1","stripeWebhookSecrets":["whsec_1"]}"#,
        "v1",
    )
    .unwrap()
}

fn doctor(
    records: MemoryRecords,
    stripe: Option<MemoryStripe>,
) -> Doctor<MemoryRecords, MemoryStripe> {
    Doctor {
        records,
        stripe,
        cello: None,
        mode: StripeMode::Test,
        secret_id: "cello-referral/local".into(),
        secret: Ok(secret()),
        cello_env: None,
        issuer: None,
        now: NOW,
    }
}

fn version(t: i64) -> String {
    format!("{t:012}:0:evt_{t}")
}

/// A referred user, its customer and the webhook's records of a clean story.
fn clean() -> MemoryRecords {
    let r = MemoryRecords::default();
    r.put(
        &format!("USER#{UID}"),
        "PROFILE",
        json!({"userId": UID, "firstName": "Ada", "lastName": "L", "ucc": "pNRB1aYqArN",
               "uccSource": "cookie", "uccStandard": true, "createdAt": NOW - 1000, "stripeCustomerId": CUS}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "CUSTOMER",
        json!({"userId": UID}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "STATE",
        json!({"customerId": CUS, "userId": UID, "ucc": "pNRB1aYqArN", "deleted": false, "version": version(NOW - 990)}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "SUBSCRIPTION#sub_1",
        json!({"subscriptionId": "sub_1", "customerId": CUS, "status": "active", "priceId": "price_1",
               "celloInterval": "monthly", "startDate": NOW - 900, "version": version(NOW - 900)}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "INVOICE#in_1",
        json!({"invoiceId": "in_1", "customerId": CUS, "amountPaid": 2900, "currency": "eur",
               "paidAt": NOW - 890, "priceId": "price_1", "celloInterval": "monthly"}),
    );
    r
}

fn customer(metadata: &[(&str, &str)]) -> StripeCustomer {
    StripeCustomer {
        id: CUS.into(),
        livemode: Some(false),
        deleted: false,
        created: Some(NOW - 995),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn stripe_with(c: StripeCustomer) -> MemoryStripe {
    let s = MemoryStripe::default();
    s.customers.lock().unwrap().push(c);
    s
}

async fn ask(d: &Doctor<MemoryRecords, MemoryStripe>, command: Command) -> (i32, Value) {
    let out = d
        .run(&Args {
            json: true,
            command,
        })
        .await;
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    (out.code, serde_json::from_str(&out.stdout).unwrap())
}

async fn user(d: &Doctor<MemoryRecords, MemoryStripe>) -> (i32, Value) {
    ask(d, Command::User { id: UID.into() }).await
}

fn errors(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_clean_referred_user_with_a_paid_invoice_is_all_green() {
    let stripe = stripe_with(customer(&[
        ("new_user_id", UID),
        ("cello_ucc", "pNRB1aYqArN"),
    ]));
    let (code, report) = user(&doctor(clean(), Some(stripe))).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["status"], "ok", "{report:#}");
    let steps: Vec<&str> = report["story"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "signup",
            "stripe customer",
            "customer event",
            "subscription",
            "invoice.paid"
        ]
    );
    assert!(
        report["story"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("from the cookie")
    );
}

#[tokio::test]
async fn no_ucc() {
    let r = clean();
    r.put(
        &format!("USER#{UID}"),
        "PROFILE",
        json!({"userId": UID, "createdAt": NOW - 1000, "stripeCustomerId": CUS}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "STATE",
        json!({"userId": UID, "version": version(NOW - 990)}),
    );
    let (code, report) = user(&doctor(
        r,
        Some(stripe_with(customer(&[("new_user_id", UID)]))),
    ))
    .await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["no_ucc".to_owned()]),
        "{report:#}"
    );
}

#[tokio::test]
async fn new_user_id_differs_from_the_widgets_product_user_id() {
    let stripe = stripe_with(customer(&[
        ("new_user_id", "u-1"),
        ("cello_ucc", "pNRB1aYqArN"),
    ]));
    let (code, report) = user(&doctor(clean(), Some(stripe))).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["user_id_mismatch".to_owned()]),
        "{report:#}"
    );
    let text = report["findings"].to_string();
    assert!(
        text.contains("`new_user_id` is `u-1` but the widget boots with `user-1`"),
        "{text}"
    );
    // Without Stripe, the last customer event tells the same.
    let r = clean();
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "STATE",
        json!({"userId": "u-1", "ucc": "pNRB1aYqArN", "version": version(NOW - 990)}),
    );
    let (_, report) = user(&doctor(r, None)).await;
    assert_eq!(errors(&report), vec!["user_id_mismatch"]);
}

#[tokio::test]
async fn ucc_attached_after_the_first_paid_invoice() {
    let r = clean();
    r.put(
        &format!("USER#{UID}"),
        "PROFILE",
        json!({"userId": UID, "createdAt": NOW - 1000, "stripeCustomerId": CUS}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "STATE",
        json!({"userId": UID, "ucc": "pNRB1aYqArN", "version": version(NOW - 100)}),
    );
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["ucc_after_first_invoice".to_owned()]),
        "{report:#}"
    );
    // The same code attached before the first invoice is only a warning.
    let r = clean();
    r.put(
        &format!("USER#{UID}"),
        "PROFILE",
        json!({"userId": UID, "createdAt": NOW - 1000, "stripeCustomerId": CUS}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "STATE",
        json!({"userId": UID, "ucc": "pNRB1aYqArN", "version": version(NOW - 950)}),
    );
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!((code, errors(&report)), (0, vec![]), "{report:#}");
}

#[tokio::test]
async fn test_and_live_mixed() {
    // A live-mode event for this customer reached the test environment's webhook.
    let r = clean();
    r.put(&format!("CUSTOMER#{CUS}"), "MODE_MISMATCH", json!({"eventId": "evt_live", "type": "invoice.paid", "livemode": true, "lastAt": NOW - 10}));
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["mode_mixed".to_owned()]),
        "{report:#}"
    );
    // Stripe's test mode does not know the customer.
    let (code, report) = user(&doctor(clean(), Some(MemoryStripe::default()))).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["mode_mixed".to_owned()]),
        "{report:#}"
    );
    // A live customer.
    let mut live = customer(&[("new_user_id", UID), ("cello_ucc", "pNRB1aYqArN")]);
    live.livemode = Some(true);
    let (_, report) = user(&doctor(clean(), Some(stripe_with(live)))).await;
    assert_eq!(errors(&report), vec!["mode_mixed"]);
}

#[tokio::test]
async fn stripe_events_not_reaching_the_endpoint() {
    let r = MemoryRecords::default();
    r.put(
        &format!("USER#{UID}"),
        "PROFILE",
        json!({"userId": UID, "ucc": "pNRB1aYqArN", "createdAt": NOW - 1000, "stripeCustomerId": CUS}),
    );
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "CUSTOMER",
        json!({"userId": UID}),
    );
    let stripe = stripe_with(customer(&[
        ("new_user_id", UID),
        ("cello_ucc", "pNRB1aYqArN"),
    ]));
    let (code, report) = user(&doctor(r, Some(stripe))).await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(errors(&report), vec!["events_not_reaching"]);
    assert!(
        report["findings"]
            .to_string()
            .contains("Stripe created it at"),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_discount_added_after_the_subscription_started() {
    let r = clean();
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "SUBSCRIPTION#sub_1",
        json!({"subscriptionId": "sub_1", "status": "active", "startDate": NOW - 900,
               "discountCoupon": "CELLO50", "discountStart": NOW - 500, "version": version(NOW - 500)}),
    );
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["discount_after_start".to_owned()]),
        "{report:#}"
    );
    // Stripe's view of the subscription says the same; a discount at creation is fine.
    let stripe = stripe_with(customer(&[
        ("new_user_id", UID),
        ("cello_ucc", "pNRB1aYqArN"),
    ]));
    stripe.subscriptions.lock().unwrap().push((
        CUS.into(),
        StripeSubscription {
            id: "sub_1".into(),
            start_date: Some(NOW - 900),
            discounts: vec![StripeDiscount {
                coupon: Some("CELLO50".into()),
                start: Some(NOW - 900),
            }],
            ..StripeSubscription::default()
        },
    ));
    let (code, report) = user(&doctor(clean(), Some(stripe))).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(
        report["findings"]
            .to_string()
            .contains("started with the discount CELLO50")
    );
}

#[tokio::test]
async fn the_checkout_records_the_discount_at_creation_and_its_mode() {
    let r = clean();
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "CHECKOUT_SESSION#cs_1",
        json!({"sessionId": "cs_1", "subscriptionId": "sub_1", "userId": UID, "coupon": "CELLO50",
               "completedAt": NOW - 901, "livemode": false, "created": NOW - 901}),
    );
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!(code, 0, "{report:#}");
    let text = report.to_string();
    assert!(
        text.contains("discount at creation: CELLO50 (checkout)"),
        "{text}"
    );
    assert!(
        text.contains("started with the discount CELLO50 (its checkout session)"),
        "{text}"
    );
    let r = clean();
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "CHECKOUT_SESSION#cs_2",
        json!({"sessionId": "cs_2", "subscriptionId": "sub_1", "coupon": null, "livemode": true}),
    );
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["mode_mixed".to_owned()]),
        "{report:#}"
    );
}

#[tokio::test]
async fn an_erased_user_is_shown_as_erased() {
    let r = clean();
    r.put(
        &format!("USER#{UID}"),
        "PROFILE",
        json!({"userId": UID, "createdAt": NOW - 1000, "erasedAt": NOW - 5}),
    );
    r.put(
        &format!("USER#{UID}"),
        "ERASURE",
        json!({"steps": {}, "startedAt": NOW - 6, "completedAt": NOW - 5}),
    );
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["user_erased".to_owned()]),
        "{report:#}"
    );
}

#[tokio::test]
async fn an_unknown_user_and_a_refused_report_are_named() {
    let (code, report) = user(&doctor(MemoryRecords::default(), None)).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["user_unknown".to_owned()])
    );
    let r = clean();
    r.put(
        &format!("CUSTOMER#{CUS}"),
        "CELLO_REPORT#invoice-paid#in_1",
        json!({"trigger": "invoice-paid", "status": "refused", "userId": UID, "invoiceId": "in_1",
               "error": "interval must be one of ...", "updatedAt": NOW - 800}),
    );
    let (code, report) = user(&doctor(r, None)).await;
    assert_eq!(
        (code, errors(&report)),
        (1, vec!["report_refused".to_owned()]),
        "{report:#}"
    );
}

#[tokio::test]
async fn status_is_broken_on_an_empty_table_and_healthy_with_recent_events() {
    let d = doctor(MemoryRecords::default(), None);
    let (code, report) = ask(
        &d,
        Command::Status {
            window: None,
            issuer: None,
        },
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        report["windowSeconds"], 86_400,
        "test mode: Cello's sandbox window"
    );
    for c in report["components"].as_array().unwrap() {
        assert_eq!(c["health"], "broken", "{c}");
        assert!(
            c["likelyCause"]
                .as_str()
                .unwrap()
                .starts_with("no event yet"),
            "{c}"
        );
    }
    let r = clean();
    r.put(
        "HEALTH",
        "TOKEN_MINTED",
        json!({"lastAt": NOW - 60, "count": 3}),
    );
    let (code, report) = ask(
        &doctor(r, None),
        Command::Status {
            window: Some(3600),
            issuer: None,
        },
    )
    .await;
    assert_eq!(code, 0, "{report:#}");
    let health: Vec<&str> = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["health"].as_str().unwrap())
        .collect();
    assert_eq!(health, ["healthy"; 4]);
    // The human table names each component.
    let out = doctor(MemoryRecords::default(), None)
        .run(&Args {
            json: false,
            command: Command::Status {
                window: None,
                issuer: None,
            },
        })
        .await;
    assert!(
        out.stdout.contains("Purchases tracking") && out.stdout.contains("broken"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn events_list_with_field_findings() {
    let (code, report) = ask(
        &doctor(clean(), None),
        Command::Events {
            since: 86_400,
            limit: 10,
        },
    )
    .await;
    assert_eq!(code, 0, "{report:#}");
    let types: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "invoice.paid",
            "customer.subscription.*",
            "customer.created/updated"
        ]
    );
    assert_eq!(report["status"], Severity::Ok.as_str().to_lowercase());
}
