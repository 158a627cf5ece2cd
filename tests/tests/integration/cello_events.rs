//! cello-events through the real stream: signed Stripe deliveries to the webhook served by
//! `cargo lambda watch`, its records in moto's DynamoDB, moto's stream read by the local feeder
//! (`infra/local/stream_feeder.py`, started by the test command as Lambda's event source mapping
//! would be), the function under watch, and Cello's stand-in. Faults are scoped to each test's
//! own events (`bodyContains` its user id), so the module runs beside the others.

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::{function_url, local_bearer, stack_secrets, stack_var, store, unique};
use serde_json::{Value, json};
use shared::UserStore;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use testkit::stripe_signature;

/// The first report may wait for `cargo lambda watch` to build the function.
const FIRST_WAIT: Duration = Duration::from_secs(480);

fn run_id(prefix: &str) -> String {
    unique(prefix).replace('-', "_")
}

async fn webhook_secret() -> String {
    stack_secrets().await.stripe_webhook_secrets().unwrap()[0]
        .expose()
        .to_owned()
}

/// A signed delivery, redelivered (as Stripe does) when no answer comes within 30 s.
async fn deliver(body: &str) -> Value {
    let secret = webhook_secret().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for _ in 0..3 {
        let header = stripe_signature::header(&secret, shared::unix_now(), body.as_bytes());
        let sent = client
            .post(function_url("stripe-webhook"))
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                assert_eq!(resp.status(), 200);
                return resp.json().await.unwrap();
            }
            Err(e) if e.is_timeout() => continue,
            Err(e) => panic!("cargo lambda watch answers: {e}"),
        }
    }
    panic!("the webhook did not answer three deliveries")
}

fn stripe_event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": created,
           "livemode": false, "type": kind, "data": {"object": object}})
    .to_string()
}

/// One referred (or not) customer's Stripe story, with ids unique to the test.
struct Customer {
    run: String,
    user: String,
    customer: String,
    subscription: String,
    invoice: String,
}

impl Customer {
    fn new(prefix: &str) -> Self {
        let run = run_id(prefix);
        Self {
            user: format!("user-{run}"),
            customer: format!("cus_{run}"),
            subscription: format!("sub_{run}"),
            invoice: format!("in_{run}"),
            run,
        }
    }

    async fn created(&self, ucc: Option<&str>) {
        let mut metadata = json!({"new_user_id": self.user});
        if let Some(ucc) = ucc {
            metadata["cello_ucc"] = ucc.into();
        }
        let body = stripe_event(
            &format!("evt_{}_cus", self.run),
            "customer.created",
            1_763_800_000,
            json!({"id": self.customer, "object": "customer", "metadata": metadata}),
        );
        assert_eq!(deliver(&body).await["outcome"], "applied");
    }

    async fn subscribed(&self, interval: &str, count: i64) {
        let body = stripe_event(
            &format!("evt_{}_sub", self.run),
            "customer.subscription.created",
            1_763_800_060,
            json!({"id": self.subscription, "object": "subscription", "customer": self.customer,
                   "status": "active", "items": {"object": "list", "data": [{"price": {
                       "id": "price_it", "product": "prod_it", "nickname": "Pro",
                       "recurring": {"interval": interval, "interval_count": count}}}]}}),
        );
        assert_eq!(deliver(&body).await["outcome"], "applied");
    }

    fn invoice_paid(&self, amount: i64, currency: &str) -> String {
        stripe_event(
            &format!("evt_{}_inv", self.run),
            "invoice.paid",
            1_763_800_065,
            json!({"id": self.invoice, "object": "invoice", "customer": self.customer,
                   "subscription": self.subscription, "amount_paid": amount, "currency": currency,
                   "status_transitions": {"paid_at": 1_763_800_065},
                   "lines": {"object": "list", "data": [{"pricing": {"price_details":
                       {"price": "price_it", "product": "prod_it"}}}]}}),
        )
    }

    /// A refund of part of the invoice's charge, in an API version that names the invoice.
    fn charge_refunded(&self) -> String {
        stripe_event(
            &format!("evt_{}_refund", self.run),
            "charge.refunded",
            1_763_886_400,
            json!({"id": format!("ch_{}", self.run), "object": "charge", "customer": self.customer,
                   "invoice": self.invoice, "amount": 2900, "amount_refunded": 900,
                   "currency": "eur", "refunded": false, "status": "succeeded"}),
        )
    }

    async fn report(&self, trigger: &str) -> Option<HashMap<String, AttributeValue>> {
        item(
            &format!("CUSTOMER#{}", self.customer),
            &format!("CELLO_REPORT#{trigger}#{}", self.invoice),
        )
        .await
    }
}

async fn item(pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
    let table = store().await;
    table
        .client
        .get_item()
        .table_name(&table.name)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(AttributeValue::N(n)) => n.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

fn standin(path: &str) -> String {
    format!("{}/_standin/{path}", stack_var("CELLO_API_BASE"))
}

async fn fault(spec: Value) {
    let resp = reqwest::Client::new()
        .post(standin("faults"))
        .json(&spec)
        .send()
        .await
        .expect("the Cello stand-in answers");
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}

/// The events Cello's stand-in accepted for `user`, with `trigger`, in order.
async fn received(user: &str, trigger: &str) -> Vec<Value> {
    let all: Value = reqwest::get(standin("events"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"].clone())
        .filter(|b| {
            b["payload"]["newUserId"] == user && b["context"]["event"]["trigger"] == trigger
        })
        .collect()
}

/// Waits until `cond` holds, failing clearly after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !cond().await {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?} (is the stream feeder running? \
             infra/local/test.sh starts it; its log is .local/run/<profile>-<base>/stream-feeder.log)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the stream feeder has finished a poll, begun after this call, that found nothing
/// new: every record written before has been delivered and its invocation has returned, so an
/// event sent twice would be at Cello's stand-in by now (infra/local/stream_feeder.py).
async fn stream_settled() {
    let path = stack_var("LOCAL_STREAM_FEEDER_IDLE");
    let idle_polls = || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = idle_polls();
    eventually("an idle poll of the stream feeder", FIRST_WAIT, || async {
        idle_polls() >= before + 2
    })
    .await;
}

/// Waits for one accepted event, then until anything sent twice would have arrived too.
async fn the_one_event(user: &str, trigger: &str) -> Value {
    eventually(&format!("{trigger} for {user}"), FIRST_WAIT, || async {
        !received(user, trigger).await.is_empty()
    })
    .await;
    stream_settled().await;
    let events = received(user, trigger).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    events[0].clone()
}

/// The DynamoDB JSON of an item, as a stream record's image carries it.
fn dynamo_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::M(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), dynamo_json(v))).collect::<serde_json::Map<_, _>>()})
        }
        AttributeValue::L(l) => json!({"L": l.iter().map(dynamo_json).collect::<Vec<_>>()}),
        other => panic!("not used in these items: {other:?}"),
    }
}

/// Invokes the function with a batch, as the event source mapping redelivers one.
async fn invoke(records: Vec<Value>) -> Value {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/cello-events/invocations",
            stack_var("LOCAL_WATCH_URL")
        ))
        .json(&json!({"Records": records}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.json().await.unwrap()
}

fn insert_record(seq: &str, item: &HashMap<String, AttributeValue>) -> Value {
    let image: serde_json::Map<String, Value> = item
        .iter()
        .map(|(k, v)| (k.clone(), dynamo_json(v)))
        .collect();
    json!({"eventID": seq, "eventName": "INSERT", "eventSource": "aws:dynamodb",
           "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
                        "SequenceNumber": seq, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
}

#[tokio::test]
async fn a_referred_paid_invoice_is_reported_once_through_the_stream() {
    let c = Customer::new("paid");
    let mut user = integration_tests::user(&c.user, &format!("ada-{}@example.com", c.run));
    user.ucc = Some("pNRB1aYqArN".into());
    store().await.create_user(&user).await.unwrap();
    c.created(Some("pNRB1aYqArN")).await;
    c.subscribed("month", 1).await;
    let paid = c.invoice_paid(2900, "eur");
    let mut outcomes = Vec::new();
    for _ in 0..11 {
        outcomes.push(deliver(&paid).await["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(outcomes[0], "applied");
    assert!(
        outcomes[1..].iter().all(|o| o == "duplicate"),
        "{outcomes:?}"
    );

    let event = the_one_event(&c.user, "invoice-paid").await;
    assert_eq!(
        event,
        json!({
            "eventName": "ReferralUpdated",
            "payload": {"ucc": "pNRB1aYqArN", "newUserId": c.user, "price": 29.0, "currency": "EUR"},
            "context": {
                "newUser": {"id": c.user, "email": format!("ada-{}@example.com", c.run), "name": "Ada Lovelace"},
                "event": {"trigger": "invoice-paid", "timestamp": "2025-11-22T08:27:45Z"},
                "subscription": {"id": c.subscription, "invoiceId": c.invoice, "interval": "monthly", "productKey": "Pro"}
            }
        })
    );
    let report = c.report("invoice-paid").await.expect("the report record");
    assert_eq!(text(&report, "status"), "sent");
    assert_eq!(text(&report, "attempts"), "1");
    assert_eq!(text(&report, "userId"), c.user);

    // The same stream record delivered again (a retried batch): nothing sent twice.
    let invoice = item(
        &format!("CUSTOMER#{}", c.customer),
        &format!("INVOICE#{}", c.invoice),
    )
    .await
    .unwrap();
    let answer = invoke(vec![
        insert_record("1", &invoice),
        insert_record("2", &invoice),
    ])
    .await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    stream_settled().await;
    assert_eq!(received(&c.user, "invoice-paid").await.len(), 1);
}

#[tokio::test]
async fn a_refund_is_reported_once_against_its_invoice() {
    let c = Customer::new("refund");
    c.created(Some("pNRB1aYqArN")).await;
    c.subscribed("year", 1).await;
    deliver(&c.invoice_paid(29_000, "eur")).await;
    let refund = c.charge_refunded();
    for _ in 0..3 {
        deliver(&refund).await;
    }
    let event = the_one_event(&c.user, "charge-refunded").await;
    assert_eq!(event["payload"]["price"], 9.0);
    assert_eq!(event["payload"]["currency"], "EUR");
    assert_eq!(event["context"]["subscription"]["invoiceId"], c.invoice);
    assert_eq!(event["context"]["subscription"]["interval"], "yearly");
    assert_eq!(
        event["context"]["event"]["timestamp"],
        "2025-11-23T08:26:40Z"
    );
    assert_eq!(received(&c.user, "invoice-paid").await.len(), 1);
    assert_eq!(
        text(&c.report("charge-refunded").await.unwrap(), "status"),
        "sent"
    );
}

#[tokio::test]
async fn an_unreferred_customer_is_never_reported() {
    let unreferred = Customer::new("plain");
    unreferred.created(None).await;
    unreferred.subscribed("month", 1).await;
    deliver(&unreferred.invoice_paid(2900, "eur")).await;
    // A referred invoice after it on the same stream: once it is reported, the first was seen.
    let marker = Customer::new("marker");
    marker.created(Some("pNRB1aYqArN")).await;
    marker.subscribed("month", 1).await;
    deliver(&marker.invoice_paid(2900, "eur")).await;
    the_one_event(&marker.user, "invoice-paid").await;
    assert!(received(&unreferred.user, "invoice-paid").await.is_empty());
    assert!(unreferred.report("invoice-paid").await.is_none());
}

#[tokio::test]
async fn zero_decimal_currencies_and_cellos_interval_words() {
    let jpy = Customer::new("jpy");
    jpy.created(Some("pNRB1aYqArN")).await;
    jpy.subscribed("month", 3).await;
    deliver(&jpy.invoice_paid(5000, "jpy")).await;
    let yearly = Customer::new("yearly");
    yearly.created(Some("pNRB1aYqArN")).await;
    yearly.subscribed("year", 1).await;
    deliver(&yearly.invoice_paid(2900, "eur")).await;

    let e = the_one_event(&jpy.user, "invoice-paid").await;
    assert_eq!(
        (
            e["payload"]["price"].clone(),
            e["payload"]["currency"].clone()
        ),
        (json!(5000.0), json!("JPY"))
    );
    assert_eq!(e["context"]["subscription"]["interval"], "quarterly");
    let e = the_one_event(&yearly.user, "invoice-paid").await;
    assert_eq!(e["payload"]["price"], 29.0);
    assert_eq!(e["context"]["subscription"]["interval"], "yearly");
}

#[tokio::test]
async fn cello_failing_then_answering_gets_the_event_once() {
    let c = Customer::new("fivehundred");
    // Every attempt of the client's first try fails: the record is retried by the stream.
    fault(json!({"path": "/events", "status": 500, "times": 3, "bodyContains": c.user})).await;
    c.created(Some("pNRB1aYqArN")).await;
    c.subscribed("month", 1).await;
    deliver(&c.invoice_paid(2900, "eur")).await;
    let event = the_one_event(&c.user, "invoice-paid").await;
    assert_eq!(event["context"]["subscription"]["invoiceId"], c.invoice);
    let report = c.report("invoice-paid").await.unwrap();
    assert_eq!(text(&report, "status"), "sent");
    assert_eq!(
        text(&report, "attempts"),
        "2",
        "one failed claim, one that sent"
    );
}

/// The local stand-in of the mapping's failure destination, read through moto's SQS query API:
/// whether any message names `needle`. Messages read are hidden for a few seconds, so each
/// receive shows the next ones (the queue keeps every run's messages).
async fn dead_letters_mention(needle: &str) -> bool {
    let endpoint = stack_var("AWS_ENDPOINT_URL_DYNAMODB");
    let queue = format!(
        "{endpoint}/123456789012/{}",
        stack_var("CELLO_EVENTS_DLQ_NAME")
    );
    let encoded: String = queue
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    for _ in 0..50 {
        let resp = reqwest::Client::new()
            .post(format!("{endpoint}/"))
            .header("content-type", "application/x-www-form-urlencoded")
            // moto routes an unsigned request by the service its credential scope names.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sqs/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(format!(
                "Action=ReceiveMessage&QueueUrl={encoded}&MaxNumberOfMessages=10&VisibilityTimeout=5"
            ))
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        if text.contains(needle) {
            return true;
        }
        if !text.contains("<Message>") {
            return false;
        }
    }
    false
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_goes_to_the_dead_letter_queue() {
    let c = Customer::new("refused");
    fault(json!({"path": "/events", "status": 400, "times": -1, "bodyContains": c.user})).await;
    c.created(Some("pNRB1aYqArN")).await;
    c.subscribed("month", 1).await;
    deliver(&c.invoice_paid(2900, "eur")).await;
    let sk = format!("INVOICE#{}", c.invoice);
    eventually(
        "the refused record in the dead-letter queue",
        FIRST_WAIT,
        || {
            let sk = sk.clone();
            async move { dead_letters_mention(&sk).await }
        },
    )
    .await;
    let report = c.report("invoice-paid").await.unwrap();
    assert_eq!(text(&report, "status"), "refused");
    assert!(
        text(&report, "error").contains("stand-in fault 400"),
        "{report:?}"
    );
    assert_eq!(
        text(&report, "attempts"),
        "1",
        "the stream's retries did not call Cello again"
    );
    assert!(received(&c.user, "invoice-paid").await.is_empty());
}

#[tokio::test]
async fn a_hanging_cello_times_out_inside_the_functions_timeout() {
    let c = Customer::new("hang");
    fault(json!({"path": "/events", "hang": true, "hangSeconds": 60, "times": 1, "bodyContains": c.user})).await;
    c.created(Some("pNRB1aYqArN")).await;
    c.subscribed("month", 1).await;
    // Wait until the function is built and warm, so the time measured is the call's.
    let warm = Customer::new("warm");
    warm.created(Some("pNRB1aYqArN")).await;
    warm.subscribed("month", 1).await;
    deliver(&warm.invoice_paid(100, "eur")).await;
    the_one_event(&warm.user, "invoice-paid").await;

    let started = Instant::now();
    deliver(&c.invoice_paid(2900, "eur")).await;
    eventually(
        "the event after the hang",
        Duration::from_secs(60),
        || async { !received(&c.user, "invoice-paid").await.is_empty() },
    )
    .await;
    let took = started.elapsed();
    // The first attempt is cut at the client's 3 s timeout and retried within the same
    // invocation, well inside the function's 30 s timeout.
    assert!(took >= Duration::from_secs(3), "{took:?}");
    assert!(took < Duration::from_secs(25), "{took:?}");
    let report = c.report("invoice-paid").await.unwrap();
    assert_eq!(
        (text(&report, "status"), text(&report, "attempts")),
        ("sent".into(), "1".into())
    );
}

#[tokio::test]
async fn a_signup_with_a_code_is_reported_as_new_signup_once() {
    let sub = unique("signup-ev");
    let email = format!("{sub}@example.com");
    let signup = || async {
        reqwest::Client::new()
            .post(function_url("signup"))
            .header("authorization", local_bearer(&sub, Some(&email)))
            .header("content-type", "application/json")
            .body(
                json!({"firstName": "Grace", "lastName": "Hopper", "ucc": "pNRB1aYqArN"})
                    .to_string(),
            )
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(signup().await, 201);
    let event = the_one_event(&sub, "new-signup").await;
    // A repeated signup changes nothing Cello sees, and its refused transaction leaves the
    // report's `sent` as it was.
    assert_eq!(signup().await, 200);
    stream_settled().await;
    assert_eq!(received(&sub, "new-signup").await.len(), 1);
    assert_eq!(event["payload"]["ucc"], "pNRB1aYqArN");
    assert_eq!(event["context"]["newUser"]["email"], email.as_str());
    assert_eq!(event["context"]["newUser"]["name"], "Grace Hopper");
    let report = item(&format!("USER#{sub}"), "CELLO_REPORT#new-signup")
        .await
        .unwrap();
    assert_eq!(text(&report, "status"), "sent");
}

#[tokio::test]
async fn the_api_keys_and_the_access_token_never_reach_logs_answers_or_records() {
    // A report of our own first, so the function has exchanged the keys for a token.
    let c = Customer::new("secrets");
    c.created(Some("pNRB1aYqArN")).await;
    c.subscribed("month", 1).await;
    deliver(&c.invoice_paid(2900, "eur")).await;
    the_one_event(&c.user, "invoice-paid").await;

    let secrets = stack_secrets().await;
    let key_id = secrets
        .cello_api_access_key_id
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();
    let key = secrets
        .cello_api_secret_access_key
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();
    let report = c.report("invoice-paid").await.unwrap();
    let answer = invoke(vec![insert_record(
        "1",
        &item(
            &format!("CUSTOMER#{}", c.customer),
            &format!("INVOICE#{}", c.invoice),
        )
        .await
        .unwrap(),
    )])
    .await;
    let mut seen = vec![format!("{report:?}"), answer.to_string()];
    let runs = format!("{}/../.local/run", env!("CARGO_MANIFEST_DIR"));
    for dir in std::fs::read_dir(&runs).unwrap().flatten() {
        for name in ["watch.log", "stream-feeder.log"] {
            if let Ok(text) = std::fs::read_to_string(dir.path().join(name)) {
                seen.push(text);
            }
        }
    }
    assert!(seen.len() > 2, "no logs found under {runs}");
    for text in &seen {
        assert!(
            !text.contains(&key_id) && !text.contains(&key),
            "an API key leaked"
        );
        // The stand-in's access tokens look like `cat_<random>`.
        assert!(
            !text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .any(|w| w.starts_with("cat_") && w.len() > 20),
            "an access token leaked"
        );
    }
}
