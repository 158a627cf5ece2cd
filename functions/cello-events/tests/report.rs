//! The use case over the memory adapters: which changes are reported, with what, and how
//! often (once), whatever Cello answers and however often the stream redelivers.

use cello_events::report::{Outcome, Reporter, Skip};
use cello_events::sink::memory::MemorySink;
use cello_events::store::memory::MemoryStore;
use cello_events::store::{ReportKey, ReportStore};
use cello_events::stream::{Change, StreamBatch};
use serde_json::{Value, json};
use shared::cello_api::{CelloApiError, Trigger};
use shared::config::StripeMode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use testkit::FixedClock;

const NOW: i64 = 1_763_900_000;

fn reporter(sink: MemorySink) -> Reporter<MemoryStore, MemorySink, FixedClock> {
    Reporter {
        store: MemoryStore::default(),
        cello: sink,
        clock: FixedClock::at(NOW),
        mode: StripeMode::Test,
        lease_seconds: 60,
        call_budget: Duration::from_secs(20),
    }
}

fn image(value: Value) -> serde_dynamo::Item {
    serde_dynamo::to_item(value).unwrap()
}

fn change(
    name: &str,
    pk: &str,
    sk: &str,
    old: Option<Value>,
    new: Option<Value>,
    seq: &str,
) -> Change {
    Change {
        event_name: name.into(),
        pk: pk.into(),
        sk: sk.into(),
        new_image: new.map(image),
        old_image: old.map(image),
        sequence_number: seq.into(),
        at: Some(NOW - 5),
    }
}

/// A referred user linked to `cus_1`, as signup and the webhook leave them.
fn referred_customer(store: &MemoryStore, ucc: Option<&str>) {
    let mut user = json!({"userId": "u1", "firstName": "Ada", "lastName": "Lovelace",
        "email": "ada@example.com", "createdAt": 1, "stripeCustomerId": "cus_1"});
    if let Some(ucc) = ucc {
        user["ucc"] = ucc.into();
    }
    store.put("USER#u1", "PROFILE", user);
    store.put("CUSTOMER#cus_1", "CUSTOMER", json!({"userId": "u1"}));
}

fn monthly_subscription(store: &MemoryStore, interval: &str, count: i64) {
    store.put(
        "CUSTOMER#cus_1",
        "SUBSCRIPTION#sub_1",
        json!({"subscriptionId": "sub_1", "customerId": "cus_1", "interval": interval,
               "intervalCount": count, "planName": "Pro", "productId": "prod_1", "version": "1"}),
    );
}

fn invoice(amount: i64, currency: &str) -> Value {
    json!({"invoiceId": "in_1", "customerId": "cus_1", "subscriptionId": "sub_1",
           "amountPaid": amount, "currency": currency, "paidAt": 1_763_800_065,
           "priceId": "price_1", "productId": "prod_1", "livemode": false})
}

fn invoice_change(value: Value, seq: &str) -> Change {
    change(
        "INSERT",
        "CUSTOMER#cus_1",
        "INVOICE#in_1",
        None,
        Some(value),
        seq,
    )
}

fn paid_key() -> ReportKey {
    ReportKey::invoice(Trigger::InvoicePaid, "cus_1", "in_1")
}

fn sent(r: &Reporter<MemoryStore, MemorySink, FixedClock>) -> Vec<Value> {
    r.cello
        .events()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

#[tokio::test]
async fn a_referred_paid_invoice_is_sent_once_however_often_it_is_redelivered() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let c = invoice_change(invoice(2900, "eur"), "100");
    assert_eq!(r.process_one(&c).await, Outcome::Sent(Trigger::InvoicePaid));
    for _ in 0..10 {
        assert_eq!(
            r.process_one(&c).await,
            Outcome::AlreadySent(Trigger::InvoicePaid)
        );
    }
    let events = sent(&r);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        e["payload"],
        json!({"ucc": "pNRB1aYqArN", "newUserId": "u1", "price": 29.0, "currency": "EUR"})
    );
    assert_eq!(
        e["context"]["event"],
        json!({"trigger": "invoice-paid", "timestamp": "2025-11-22T08:27:45Z"})
    );
    assert_eq!(
        e["context"]["subscription"],
        json!({"id": "sub_1", "invoiceId": "in_1", "interval": "monthly", "productKey": "Pro"})
    );
    let record = r.store.report(&paid_key()).unwrap();
    assert_eq!(record["status"], "sent");
    assert_eq!(record["trigger"], "invoice-paid");
    assert_eq!(record["invoiceId"], "in_1");
    assert_eq!(record["userId"], "u1");
    assert_eq!(record["sentAt"], NOW);
    assert_eq!(record["attempts"], 1);
    let stored: Value = serde_json::from_str(record["event"].as_str().unwrap()).unwrap();
    // Cello gets the person's email and name; our record of the call keeps neither, so an
    // erasure racing the call can't find them written back.
    assert!(e["context"]["newUser"]["email"].is_string(), "{e}");
    let mut expected = e.clone();
    let person = expected["context"]["newUser"].as_object_mut().unwrap();
    person.remove("email");
    person.remove("name");
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn currencies_and_intervals_as_cello_names_them() {
    for (amount, currency, interval, count, price, word) in [
        (5000, "jpy", "month", 1, json!(5000.0), "monthly"),
        (2900, "eur", "month", 3, json!(29.0), "quarterly"),
        (1500, "kwd", "year", 1, json!(1.5), "yearly"),
    ] {
        let r = reporter(MemorySink::default());
        referred_customer(&r.store, Some("pNRB1aYqArN"));
        monthly_subscription(&r.store, interval, count);
        let outcome = r
            .process_one(&invoice_change(invoice(amount, currency), "1"))
            .await;
        assert_eq!(outcome, Outcome::Sent(Trigger::InvoicePaid));
        let e = &sent(&r)[0];
        assert_eq!(e["payload"]["price"], price, "{currency}");
        assert_eq!(e["payload"]["currency"], currency.to_uppercase());
        assert_eq!(e["context"]["subscription"]["interval"], word);
    }
}

#[tokio::test]
async fn the_invoice_lines_own_price_wins_and_an_unknown_interval_waits() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    // No subscription recorded yet (Stripe does not keep order): retried, nothing claimed.
    let waiting = r
        .process_one(&invoice_change(invoice(2900, "eur"), "1"))
        .await;
    assert!(
        matches!(&waiting, Outcome::Retry(m) if m.contains("sub_1")),
        "{waiting:?}"
    );
    assert!(r.store.report(&paid_key()).is_none());
    let mut own = invoice(2900, "eur");
    own["interval"] = "year".into();
    own["intervalCount"] = 1.into();
    own["planName"] = "Team".into();
    assert_eq!(
        r.process_one(&invoice_change(own, "2")).await,
        Outcome::Sent(Trigger::InvoicePaid)
    );
    let e = &sent(&r)[0];
    assert_eq!(e["context"]["subscription"]["interval"], "yearly");
    assert_eq!(e["context"]["subscription"]["productKey"], "Team");
}

#[tokio::test]
async fn an_interval_cello_has_no_word_for_is_refused_and_recorded() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "day", 1);
    let c = invoice_change(invoice(2900, "eur"), "1");
    let outcome = r.process_one(&c).await;
    assert!(
        matches!(&outcome, Outcome::Refused(m) if m.contains("day×1")),
        "{outcome:?}"
    );
    assert!(r.cello.events().is_empty());
    assert_eq!(r.store.report(&paid_key()).unwrap()["status"], "refused");
    assert!(matches!(r.process_one(&c).await, Outcome::Refused(_)));
}

#[tokio::test]
async fn nothing_is_sent_for_unreferred_customers_or_the_other_mode() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, None);
    monthly_subscription(&r.store, "month", 1);
    assert_eq!(
        r.process_one(&invoice_change(invoice(2900, "eur"), "1"))
            .await,
        Outcome::Skipped(Skip::Unreferred)
    );
    // A customer nobody linked and whose metadata has no code.
    let mut stranger = invoice(2900, "eur");
    stranger["customerId"] = "cus_2".into();
    let c = change(
        "INSERT",
        "CUSTOMER#cus_2",
        "INVOICE#in_1",
        None,
        Some(stranger),
        "2",
    );
    assert_eq!(r.process_one(&c).await, Outcome::Skipped(Skip::Unreferred));

    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let mut live = invoice(2900, "eur");
    live["livemode"] = true.into();
    assert_eq!(
        r.process_one(&invoice_change(live, "1")).await,
        Outcome::Skipped(Skip::OtherMode)
    );
    let mut unknown = invoice(2900, "eur");
    unknown.as_object_mut().unwrap().remove("livemode");
    assert_eq!(
        r.process_one(&invoice_change(unknown, "2")).await,
        Outcome::Skipped(Skip::OtherMode)
    );
    assert!(r.cello.events().is_empty());
    assert!(r.store.report(&paid_key()).is_none());
}

#[tokio::test]
async fn the_customers_metadata_can_carry_the_referral() {
    let r = reporter(MemorySink::default());
    r.store.put(
        "CUSTOMER#cus_1",
        "STATE",
        json!({"customerId": "cus_1", "userId": "u9", "ucc": "metaUcc0001", "organizationId": "org_1",
               "deleted": false, "version": "1"}),
    );
    monthly_subscription(&r.store, "month", 1);
    assert_eq!(
        r.process_one(&invoice_change(invoice(2900, "eur"), "1"))
            .await,
        Outcome::Sent(Trigger::InvoicePaid)
    );
    let e = &sent(&r)[0];
    assert_eq!(e["payload"]["ucc"], "metaUcc0001");
    assert_eq!(
        e["context"]["newUser"],
        json!({"id": "u9", "organizationId": "org_1"})
    );
}

#[tokio::test]
async fn cello_unavailable_then_up_sends_once() {
    let r = reporter(MemorySink::answering([Err(CelloApiError::Unavailable(
        "500 Internal Server Error".into(),
    ))]));
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let c = invoice_change(invoice(2900, "eur"), "1");
    assert!(matches!(r.process_one(&c).await, Outcome::Retry(m) if m.contains("500")));
    let record = r.store.report(&paid_key()).unwrap();
    assert_eq!(record["status"], "failed");
    assert_eq!(r.process_one(&c).await, Outcome::Sent(Trigger::InvoicePaid));
    assert_eq!(
        r.process_one(&c).await,
        Outcome::AlreadySent(Trigger::InvoicePaid)
    );
    let record = r.store.report(&paid_key()).unwrap();
    assert_eq!(
        (record["status"].as_str(), record["attempts"].as_u64()),
        (Some("sent"), Some(2))
    );
    assert!(record.get("error").is_none());
    assert_eq!(
        r.cello.events().len(),
        2,
        "one refused attempt, one accepted"
    );
}

#[tokio::test]
async fn a_refusal_is_recorded_with_cellos_message_and_never_retried() {
    let r = reporter(MemorySink::answering([Err(CelloApiError::Refused {
        status: 400,
        message: "context.subscription.interval must be one of ...".into(),
    })]));
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let c = invoice_change(invoice(2900, "eur"), "1");
    let first = r.process_one(&c).await;
    assert!(
        matches!(&first, Outcome::Refused(m) if m.contains("400") && m.contains("interval")),
        "{first:?}"
    );
    for _ in 0..3 {
        assert!(r.process_one(&c).await.is_failure());
    }
    assert_eq!(r.cello.events().len(), 1, "a 400 is not sent again");
    let record = r.store.report(&paid_key()).unwrap();
    assert_eq!(record["status"], "refused");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("context.subscription.interval")
    );
}

#[tokio::test]
async fn a_crash_after_cellos_answer_is_resent_only_after_the_lease() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let c = invoice_change(invoice(2900, "eur"), "1");
    r.store.fail_finish.store(true, Ordering::SeqCst);
    assert!(matches!(r.process_one(&c).await, Outcome::Retry(_)));
    r.store.fail_finish.store(false, Ordering::SeqCst);
    assert_eq!(r.store.report(&paid_key()).unwrap()["status"], "sending");
    // Within the lease the claim may be live: not taken over, not sent again.
    r.clock.set(NOW + 59);
    assert!(matches!(r.process_one(&c).await, Outcome::Retry(m) if m.contains("live claim")));
    assert_eq!(r.cello.events().len(), 1);
    // Past it, the attempt is known dead: claimed again and re-sent (at least once).
    r.clock.set(NOW + 61);
    assert_eq!(r.process_one(&c).await, Outcome::Sent(Trigger::InvoicePaid));
    assert_eq!(r.cello.events().len(), 2);
    assert_eq!(r.store.report(&paid_key()).unwrap()["attempts"], 2);
}

fn refund(invoice_id: Option<&str>) -> Value {
    let mut v = json!({"refundKey": "re_1", "chargeId": "ch_1", "customerId": "cus_1", "amount": 900,
                       "currency": "eur", "refundedAt": 1_763_886_400, "livemode": false});
    if let Some(id) = invoice_id {
        v["invoiceId"] = id.into();
    }
    v
}

fn refund_change(value: Value) -> Change {
    change(
        "INSERT",
        "CUSTOMER#cus_1",
        "REFUND#re_1",
        None,
        Some(value),
        "9",
    )
}

#[tokio::test]
async fn a_refund_is_reported_once_against_its_invoice() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let c = refund_change(refund(Some("in_1")));
    // The refunded invoice is not recorded yet: retried.
    assert!(matches!(r.process_one(&c).await, Outcome::Retry(m) if m.contains("in_1")));
    r.store
        .put("CUSTOMER#cus_1", "INVOICE#in_1", invoice(2900, "eur"));
    assert_eq!(
        r.process_one(&c).await,
        Outcome::Sent(Trigger::ChargeRefunded)
    );
    assert_eq!(
        r.process_one(&c).await,
        Outcome::AlreadySent(Trigger::ChargeRefunded)
    );
    let events = sent(&r);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["context"]["event"]["trigger"], "charge-refunded");
    assert_eq!(events[0]["context"]["subscription"]["invoiceId"], "in_1");
    assert_eq!(events[0]["payload"]["price"], 9.0);
    let key = ReportKey::invoice(Trigger::ChargeRefunded, "cus_1", "in_1");
    assert_eq!(key.sk, "CELLO_REPORT#charge-refunded#in_1");
    assert_eq!(r.store.report(&key).unwrap()["status"], "sent");
}

#[tokio::test]
async fn a_refund_finds_its_invoice_through_the_charge_or_is_refused() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    r.store
        .put("CUSTOMER#cus_1", "INVOICE#in_1", invoice(2900, "eur"));
    let orphan = r.process_one(&refund_change(refund(None))).await;
    assert!(
        matches!(&orphan, Outcome::Refused(m) if m.contains("names no invoice")),
        "{orphan:?}"
    );
    r.store.put(
        "CUSTOMER#cus_1",
        "CHARGE#ch_1",
        json!({"chargeId": "ch_1", "invoiceId": "in_1", "version": "1"}),
    );
    assert_eq!(
        r.process_one(&refund_change(refund(None))).await,
        Outcome::Sent(Trigger::ChargeRefunded)
    );
}

fn profile(customer: Option<&str>, ucc: Option<&str>) -> Value {
    let mut v = json!({"userId": "u1", "firstName": "Ada", "lastName": "Lovelace", "createdAt": 1,
                       "email": "ada@example.com", "organizationId": "org_1"});
    if let Some(c) = customer {
        v["stripeCustomerId"] = c.into();
    }
    if let Some(u) = ucc {
        v["ucc"] = u.into();
    }
    v
}

#[tokio::test]
async fn a_completed_signup_with_a_code_is_a_new_signup_once() {
    let r = reporter(MemorySink::default());
    let gained = change(
        "MODIFY",
        "USER#u1",
        "PROFILE",
        Some(profile(None, Some("pNRB1aYqArN"))),
        Some(profile(Some("cus_1"), Some("pNRB1aYqArN"))),
        "1",
    );
    assert_eq!(
        r.process_one(&gained).await,
        Outcome::Sent(Trigger::NewSignup)
    );
    assert_eq!(
        r.process_one(&gained).await,
        Outcome::AlreadySent(Trigger::NewSignup)
    );
    let e = &sent(&r)[0];
    assert_eq!(e["context"]["event"]["trigger"], "new-signup");
    assert_eq!(e["context"]["event"]["timestamp"], domain_time(NOW - 5));
    assert_eq!(
        e["context"]["newUser"],
        json!({"id": "u1", "email": "ada@example.com", "name": "Ada Lovelace", "organizationId": "org_1"})
    );
    assert_eq!(
        r.store.report(&ReportKey::signup("u1")).unwrap()["status"],
        "sent"
    );

    let r = reporter(MemorySink::default());
    let unreferred = change(
        "INSERT",
        "USER#u2",
        "PROFILE",
        None,
        Some(profile(Some("cus_2"), None)),
        "2",
    );
    assert_eq!(
        r.process_one(&unreferred).await,
        Outcome::Skipped(Skip::Unreferred)
    );
    let before_stripe = change(
        "INSERT",
        "USER#u3",
        "PROFILE",
        None,
        Some(profile(None, Some("x"))),
        "3",
    );
    assert_eq!(
        r.process_one(&before_stripe).await,
        Outcome::Skipped(Skip::NotReportable)
    );
    assert!(r.cello.events().is_empty());
}

fn domain_time(unix: i64) -> String {
    cello_events::domain::rfc3339(unix)
}

fn batch(records: Vec<Value>) -> StreamBatch {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn record(seq: &str, pk: &str, sk: &str, new: Value) -> Value {
    json!({"eventID": seq, "eventName": "INSERT", "eventSource": "aws:dynamodb",
           "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
                        "NewImage": serde_json::to_value(image(new)).unwrap(),
                        "SequenceNumber": seq, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
}

fn failed(response: &cello_events::stream::BatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_batch_reports_only_its_failed_records() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let response = r
        .handle(
            batch(vec![
                json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "Keys": {}}}),
                record("2", "CUSTOMER#cus_1", "INVOICE#in_1", invoice(2900, "eur")),
                record(
                    "3",
                    "CUSTOMER#cus_1",
                    "REFUND#re_1",
                    json!({"amount": "lots"}),
                ),
                record("4", "CUSTOMER#cus_1", "STATE", json!({})),
            ]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(failed(&response), ["1", "3"]);
    assert_eq!(r.cello.events().len(), 1);
    // A record without a sequence number can't be named: the whole batch fails.
    assert!(
        r.handle(batch(vec![json!({"eventName": "INSERT"})]), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn after_one_outage_the_rest_of_the_batch_is_not_sent_into_it() {
    let r = reporter(MemorySink::answering([Err(CelloApiError::Unavailable(
        "timed out".into(),
    ))]));
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let mut second = invoice(2900, "eur");
    second["invoiceId"] = "in_2".into();
    let response = r
        .handle(
            batch(vec![
                record("1", "CUSTOMER#cus_1", "INVOICE#in_1", invoice(2900, "eur")),
                record("2", "CUSTOMER#cus_1", "INVOICE#in_2", second),
            ]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(failed(&response), ["1", "2"]);
    assert_eq!(
        r.cello.events().len(),
        1,
        "the second was not sent into the outage"
    );
}

#[tokio::test]
async fn no_call_is_started_without_time_for_it() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    monthly_subscription(&r.store, "month", 1);
    let soon = Instant::now() + Duration::from_secs(5);
    let response = r
        .handle(
            batch(vec![record(
                "1",
                "CUSTOMER#cus_1",
                "INVOICE#in_1",
                invoice(2900, "eur"),
            )]),
            Some(soon),
        )
        .await
        .unwrap();
    assert_eq!(failed(&response), ["1"]);
    assert!(r.cello.events().is_empty());
    assert!(r.store.report(&paid_key()).is_none(), "not even claimed");
}

#[tokio::test]
async fn a_table_outage_is_retried() {
    let r = reporter(MemorySink::default());
    referred_customer(&r.store, Some("pNRB1aYqArN"));
    r.store.unavailable.store(true, Ordering::SeqCst);
    let outcome = r
        .process_one(&invoice_change(invoice(2900, "eur"), "1"))
        .await;
    assert_eq!(outcome, Outcome::Retry("the table is unavailable".into()));
    r.store.unavailable.store(false, Ordering::SeqCst);
    assert!(
        r.store
            .get::<Value>("USER#u1", "PROFILE")
            .await
            .unwrap()
            .is_some()
    );
}
