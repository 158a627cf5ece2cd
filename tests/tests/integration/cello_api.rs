//! The Cello API client (`shared::cello_api`) against the Cello stand-in started by the stack
//! (`infra/local/cello_standin.py`): the token exchange, events validated as Cello documents
//! them, retries on 5xx/429 against a real server (not a mock), none on 4xx, a hang that times
//! out, the read endpoints and depersonalize. Faults are scoped to this test's own calls
//! (`bodyContains` or a unique path), so the module runs beside the others.

use integration_tests::{stack_secrets, stack_var, unique};
use serde_json::{Value, json};
use shared::cello_api::{
    CelloApi, CelloApiError, CelloApiSettings, Event, EventContext, EventMeta, EventPayload,
    Interval, NewUser, SubscriptionContext, Trigger,
};
use shared::secrets::Secret;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn settings(timeout_ms: u64) -> CelloApiSettings {
    CelloApiSettings {
        base_url: stack_var("CELLO_API_BASE"),
        timeout: Duration::from_millis(timeout_ms),
        max_attempts: 3,
        backoff: Duration::from_millis(20),
    }
}

async fn client(timeout_ms: u64) -> CelloApi {
    CelloApi::from_secrets(&stack_secrets().await, settings(timeout_ms))
        .expect("the local secret has Cello API keys")
}

fn control(path: &str) -> String {
    format!("{}/_standin/{path}", stack_var("CELLO_API_BASE"))
}

async fn fault(spec: Value) {
    let resp = reqwest::Client::new()
        .post(control("faults"))
        .json(&spec)
        .send()
        .await
        .expect("the Cello stand-in answers");
    assert!(resp.status().is_success());
}

async fn get(path: &str) -> Value {
    reqwest::get(control(path))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The events the stand-in accepted for one new user.
async fn received_for(user_id: &str) -> Vec<Value> {
    get("events").await["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["body"]["payload"]["newUserId"] == user_id)
        .map(|e| e["body"].clone())
        .collect()
}

/// The stand-in's record of calls to `path`, with their statuses.
async fn calls_to(path: &str) -> Vec<u64> {
    get("calls").await["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"] == path)
        .map(|c| c["status"].as_u64().unwrap())
        .collect()
}

fn invoice_paid(user_id: &str, invoice_id: &str) -> Event {
    Event::referral_updated(
        EventPayload {
            ucc: "pNRB1aYqArN".into(),
            new_user_id: user_id.into(),
            price: Some(29.0),
            currency: Some("EUR".into()),
        },
        EventContext {
            new_user: NewUser {
                id: user_id.into(),
                email: None,
                name: None,
                organization_id: None,
            },
            event: EventMeta {
                trigger: Trigger::InvoicePaid,
                timestamp: "2026-11-22T10:00:00Z".into(),
            },
            subscription: Some(SubscriptionContext {
                id: None,
                invoice_id: invoice_id.into(),
                interval: Interval::Monthly,
                product_key: Some("Pro".into()),
            }),
        },
    )
}

#[tokio::test]
async fn an_event_is_accepted_with_the_documented_fields() {
    let api = client(3_000).await;
    let user = unique("cello-user");
    api.send_event(&invoice_paid(&user, "in_1")).await.unwrap();
    let got = received_for(&user).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["context"]["event"]["trigger"], "invoice-paid");
    assert_eq!(got[0]["context"]["subscription"]["interval"], "monthly");
    assert_eq!(got[0]["payload"]["price"], json!(29.0));
}

#[tokio::test]
async fn an_invalid_event_is_refused_naming_the_field_and_not_retried() {
    let api = client(3_000).await;
    let user = unique("cello-bad");
    let mut event = invoice_paid(&user, "in_bad");
    event.context.event.timestamp = "22/11/2026".into();
    let before = calls_to("/events").await.len();
    match api.send_event(&event).await {
        Err(CelloApiError::Refused {
            status: 400,
            message,
        }) => {
            assert!(message.contains("context.event.timestamp"), "{message}")
        }
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
    assert!(received_for(&user).await.is_empty());
    // One call, however many attempts the client is allowed: a 4xx is final.
    let after = calls_to("/events").await;
    assert!(after.len() > before);
    assert_eq!(
        after[before..].iter().filter(|s| **s == 400).count(),
        1,
        "{after:?}"
    );
}

#[tokio::test]
async fn a_500_then_a_200_delivers_the_event_once() {
    let api = client(3_000).await;
    let user = unique("cello-500");
    fault(json!({"path": "/events", "status": 500, "times": 1, "bodyContains": user})).await;
    api.send_event(&invoice_paid(&user, "in_500"))
        .await
        .unwrap();
    assert_eq!(received_for(&user).await.len(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let api = client(3_000).await;
    let user = unique("cello-429");
    fault(json!({"path": "/events", "status": 429, "retryAfter": 1, "times": 1, "bodyContains": user}))
        .await;
    let started = Instant::now();
    api.send_event(&invoice_paid(&user, "in_429"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was not honoured"
    );
    assert_eq!(received_for(&user).await.len(), 1);
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_unavailable_after_the_attempts() {
    let api = client(3_000).await;
    let user = unique("cello-down");
    fault(json!({"path": "/events", "status": 503, "times": 3, "bodyContains": user})).await;
    let err = api
        .send_event(&invoice_paid(&user, "in_down"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(received_for(&user).await.is_empty());
}

#[tokio::test]
async fn a_hanging_server_times_out_within_the_attempt_budget() {
    let api = client(300).await;
    let user = unique("cello-hang");
    fault(json!({"path": "/events", "hang": true, "hangSeconds": 5, "times": 3, "bodyContains": user}))
        .await;
    let started = Instant::now();
    let err = api
        .send_event(&invoice_paid(&user, "in_hang"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, CelloApiError::Unavailable(ref why) if why.contains("timed out")),
        "{err:?}"
    );
    // Three attempts of 300 ms plus short backoffs: far below a Lambda timeout.
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn wrong_keys_are_refused_at_the_token_exchange() {
    let api = CelloApi::new(
        Secret::new("local-cello-access-key-id"),
        Secret::new("not-the-secret"),
        settings(3_000),
    );
    let err = api
        .send_event(&invoice_paid(&unique("cello-keys"), "in_k"))
        .await
        .unwrap_err();
    assert_eq!(err, CelloApiError::Unauthorized);
}

#[tokio::test]
async fn the_token_is_exchanged_once_for_many_calls() {
    let api = client(3_000).await;
    let before = calls_to("/token").await.len();
    let user = unique("cello-many");
    let calls = (0..8).map(|i| {
        let (api, user) = (&api, &user);
        async move {
            api.send_event(&invoice_paid(user, &format!("in_{i}")))
                .await
        }
    });
    for outcome in futures::future::join_all(calls).await {
        outcome.unwrap();
    }
    assert_eq!(received_for(&user).await.len(), 8);
    assert!(calls_to("/token").await.len() > before, "no token exchange");
    // Other tests exchange tokens meanwhile, so the count of exchanges says little; the token
    // each event came with says which exchange issued it: one for all eight.
    let serials: BTreeSet<u64> = get("events").await["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["body"]["payload"]["newUserId"] == user.as_str())
        .map(|e| {
            e["tokenSerial"]
                .as_u64()
                .expect("an event without a token serial")
        })
        .collect();
    assert_eq!(
        serials.len(),
        1,
        "the eight events came with tokens of {serials:?}"
    );
}

#[tokio::test]
async fn referral_codes_new_user_rewards_and_depersonalize() {
    let api = client(3_000).await;
    let code = api.referral_code("pNRB1aYqArN").await.unwrap().unwrap();
    assert!(code.valid);
    assert_eq!(code.product_user_id.as_deref(), Some("referrer-ada"));
    assert_eq!(api.referral_code("noSuchCode1").await.unwrap(), None);

    let user = unique("cello-reward");
    let default = api.new_user_reward(&user).await.unwrap();
    assert!(default.eligible);
    assert_eq!(default.reward.unwrap().percentage, Some(50.0));
    let resp = reqwest::Client::new()
        .put(control(&format!("new-users/{user}/reward")))
        .json(&json!({"eligible": false, "reward": null}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert!(!api.new_user_reward(&user).await.unwrap().eligible);

    let erased = unique("cello-erase");
    api.depersonalize(&erased).await.unwrap();
    let ids = get("depersonalized").await["productUserIds"].clone();
    assert_eq!(
        ids.as_array()
            .unwrap()
            .iter()
            .filter(|i| **i == erased.as_str())
            .count(),
        1
    );
}
