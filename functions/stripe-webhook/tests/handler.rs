//! The handler on memory ports: the signature corpus, rotation and refresh, the filters, and
//! the idempotence and ordering guarantees.

mod common;

use common::*;
use shared::AppSecrets;
use shared::SecretSource;
use shared::config::StripeMode;
use shared::secrets::SecretError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use stripe_webhook::billing::BillingStore;
use stripe_webhook::billing::memory::MemoryBilling;
use stripe_webhook::handler::Webhook;
use testkit::FixedClock;

const CUSTOMER_CREATED: &str = "customer-created";

#[tokio::test]
async fn an_independently_signed_event_is_applied() {
    let w = webhook();
    let body = fixture(CUSTOMER_CREATED, "r1");
    let (status, json) = call(&w, signed(&body)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["outcome"], "applied");
    assert_eq!(json["eventId"], "evt_r1_customer_created");
    assert_eq!(json["type"], "customer.created");
    let billing = w.store.customer_billing("cus_r1").await.unwrap();
    assert_eq!(billing.linked_user_id.as_deref(), Some("user-r1"));
    assert_eq!(billing.state.unwrap().ucc.as_deref(), Some("pNRB1aYqArN"));
}

/// Every way a delivery can be forged or damaged is answered 400 with one undetailed error,
/// and records nothing.
#[tokio::test]
async fn the_tampered_corpus_is_refused_in_full() {
    let body = fixture(CUSTOMER_CREATED, "r2");
    let good = v1(SECRET, NOW, body.as_bytes());
    let mut flipped = body.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] ^= 0x01;
    let corpus: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("no header", body.clone().into(), None),
        ("empty header", body.clone().into(), Some(String::new())),
        (
            "wrong secret",
            body.clone().into(),
            Some(header("whsec_wrong", NOW, body.as_bytes())),
        ),
        (
            "flipped body byte",
            flipped,
            Some(format!("t={NOW},v1={good}")),
        ),
        (
            "trailing newline added",
            format!("{body}\n").into(),
            Some(format!("t={NOW},v1={good}")),
        ),
        (
            "re-serialised body",
            serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(&body).unwrap()).unwrap(),
            Some(format!("t={NOW},v1={good}")),
        ),
        (
            "stale timestamp",
            body.clone().into(),
            Some(header(SECRET, NOW - 301, body.as_bytes())),
        ),
        (
            "future timestamp",
            body.clone().into(),
            Some(header(SECRET, NOW + 301, body.as_bytes())),
        ),
        (
            "timestamp changed after signing",
            body.clone().into(),
            Some(format!("t={},v1={good}", NOW + 1)),
        ),
        ("missing t", body.clone().into(), Some(format!("v1={good}"))),
        ("missing v1", body.clone().into(), Some(format!("t={NOW}"))),
        (
            "only v0",
            body.clone().into(),
            Some(format!("t={NOW},v0={good}")),
        ),
        (
            "duplicated t",
            body.clone().into(),
            Some(format!("t={NOW},t={NOW},v1={good}")),
        ),
        (
            "truncated v1",
            body.clone().into(),
            Some(format!("t={NOW},v1={}", &good[..60])),
        ),
        (
            "non-numeric t",
            body.clone().into(),
            Some(format!("t=now,v1={good}")),
        ),
        ("empty body", Vec::new(), Some(format!("t={NOW},v1={good}"))),
    ];
    for (case, bytes, sig) in corpus {
        let w = webhook();
        let (status, json) = call(&w, request(bytes, sig.as_deref())).await;
        assert_eq!(status, 400, "{case}: {json}");
        assert_eq!(json["error"]["code"], "invalid_signature", "{case}");
        assert_eq!(w.store.processed_count(), 0, "{case}");
        assert_eq!(w.store.writes.load(Ordering::SeqCst), 0, "{case}");
    }
}

#[tokio::test]
async fn the_error_does_not_say_what_failed() {
    let body = fixture(CUSTOMER_CREATED, "r3");
    let w = webhook();
    let (_, stale) = call(
        &w,
        request(
            body.as_bytes(),
            Some(&header(SECRET, NOW - 999, body.as_bytes())),
        ),
    )
    .await;
    let (_, wrong) = call(
        &w,
        request(
            body.as_bytes(),
            Some(&header("whsec_x", NOW, body.as_bytes())),
        ),
    )
    .await;
    assert_eq!(stale["error"]["message"], wrong["error"]["message"]);
}

#[tokio::test]
async fn a_rotation_accepts_both_secrets_and_a_header_with_both_signatures() {
    let w = Webhook {
        secrets: shared::secrets::StaticSecrets(secrets(&["whsec_new", SECRET], "v2")),
        ..webhook()
    };
    for (i, secret) in ["whsec_new", SECRET].into_iter().enumerate() {
        let body = fixture(CUSTOMER_CREATED, &format!("rot{i}"));
        let sig = header(secret, NOW, body.as_bytes());
        let (status, json) = call(&w, request(body.as_bytes(), Some(&sig))).await;
        assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
    }
    // Stripe's own rolling header: one v1 per secret, the unknown one first.
    let body = fixture(CUSTOMER_CREATED, "rot-both");
    let sig = format!(
        "t={NOW},v1={},v1={}",
        v1("whsec_unknown", NOW, body.as_bytes()),
        v1(SECRET, NOW, body.as_bytes())
    );
    let (status, _) = call(&w, request(body.as_bytes(), Some(&sig))).await;
    assert_eq!(status, 200);
}

/// A source whose cache still has the old secret; a refresh finds the new one.
struct Rotating {
    refreshes: AtomicU32,
}

impl SecretSource for Rotating {
    async fn current(&self) -> Result<Arc<AppSecrets>, SecretError> {
        Ok(if self.refreshes.load(Ordering::SeqCst) == 0 {
            secrets(&["whsec_old"], "v1")
        } else {
            secrets(&["whsec_new"], "v2")
        })
    }
    async fn refresh(&self) -> Result<Arc<AppSecrets>, SecretError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        self.current().await
    }
}

#[tokio::test]
async fn an_unknown_signature_triggers_one_refresh_and_then_verifies() {
    let w = Webhook {
        secrets: Rotating {
            refreshes: AtomicU32::new(0),
        },
        store: MemoryBilling::default(),
        clock: FixedClock::at(NOW),
        mode: StripeMode::Test,
    };
    let body = fixture(CUSTOMER_CREATED, "refresh");
    let sig = header("whsec_new", NOW, body.as_bytes());
    let (status, _) = call(&w, request(body.as_bytes(), Some(&sig))).await;
    assert_eq!(status, 200);
    assert_eq!(w.secrets.refreshes.load(Ordering::SeqCst), 1);

    // A stale or malformed header never costs a refresh: only a fresh, well-formed mismatch.
    let stale = header("whsec_new", NOW - 400, body.as_bytes());
    let (status, _) = call(&w, request(body.as_bytes(), Some(&stale))).await;
    assert_eq!(status, 400);
    assert_eq!(w.secrets.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn every_fixture_gives_its_expected_outcome() {
    // The same expectations the replay checks through the real stack, here in memory, in the
    // replay's order (by name), so a fixture and its handler never drift apart.
    let w = webhook();
    for name in fixture_names() {
        let body = fixture(&name, "fx");
        let (status, json) = call(&w, signed(&body)).await;
        let expect: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../../events/stripe/{name}.expect.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
            .replace("{{run}}", "fx"),
        )
        .unwrap();
        assert_eq!(status, expect["status"], "{name}: {json}");
        for (pointer, want) in expect["body"].as_object().unwrap() {
            assert_eq!(
                json.pointer(pointer),
                Some(want),
                "{name} {pointer}: {json}"
            );
        }
        for pointer in expect["absent"].as_array().into_iter().flatten() {
            assert!(json.pointer(pointer.as_str().unwrap()).is_none(), "{name}");
        }
    }
}

#[tokio::test]
async fn the_ten_types_build_the_customers_record() {
    let w = webhook();
    for name in testkit::fixtures::STRIPE_LIFECYCLE {
        let (status, json) = call(&w, signed(&fixture(name, "ten"))).await;
        assert_eq!(
            (status, json["outcome"].as_str()),
            (200, Some("applied")),
            "{name}"
        );
    }
    let b = w.store.customer_billing("cus_ten").await.unwrap();
    assert_eq!(b.linked_user_id.as_deref(), Some("user-ten"));
    let state = b.state.unwrap();
    assert!(state.deleted);
    assert_eq!(state.ucc.as_deref(), Some("pNRB1aYqArN"));
    assert_eq!(state.organization_id.as_deref(), Some("org-ten"));
    let [sub] = &b.subscriptions[..] else {
        panic!("{:?}", b.subscriptions)
    };
    assert_eq!(sub.status.as_deref(), Some("canceled"));
    assert_eq!(sub.plan_name.as_deref(), Some("Pro"));
    assert_eq!(sub.interval.as_deref(), Some("month"));
    assert_eq!(sub.cello_interval.as_deref(), Some("monthly"));
    let [invoice] = &b.invoices[..] else { panic!() };
    assert_eq!(invoice.amount_paid, Some(2900));
    assert_eq!(invoice.subscription_id.as_deref(), Some("sub_ten"));
    assert_eq!(
        invoice.price_id.as_deref(),
        Some("price_1QProMonthly00000000001")
    );
    let [charge] = &b.charges[..] else { panic!() };
    assert_eq!(charge.amount_refunded, Some(900));
    let [refund] = &b.refunds[..] else { panic!() };
    assert_eq!(refund.refund_key, "ch_ten:900");
}

#[tokio::test]
async fn the_same_event_ten_times_has_one_effect() {
    let w = webhook();
    let body = fixture("invoice-paid", "dup");
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let (status, json) = call(&w, signed(&body)).await;
        assert_eq!(status, 200);
        outcomes.push(json["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(outcomes[0], "applied");
    assert!(
        outcomes[1..].iter().all(|o| o == "duplicate"),
        "{outcomes:?}"
    );
    assert_eq!(w.store.writes.load(Ordering::SeqCst), 1);
    assert_eq!(
        w.store
            .customer_billing("cus_dup")
            .await
            .unwrap()
            .invoices
            .len(),
        1
    );
}

/// Deterministic permutations of the ten events: the final record never depends on the order.
#[tokio::test]
async fn any_delivery_order_ends_in_the_same_state() {
    let names = [
        "customer-created",
        "customer-updated",
        "customer-deleted",
        "customer-subscription-created",
        "customer-subscription-updated",
        "customer-subscription-deleted",
        "charge-succeeded",
        "charge-updated",
        "charge-refunded",
        "invoice-paid",
    ];
    let reference = {
        let w = webhook();
        for n in names {
            call(&w, signed(&fixture(n, "ord"))).await;
        }
        w.store.customer_billing("cus_ord").await.unwrap()
    };
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..20 {
        let mut order = names.to_vec();
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        let w = webhook();
        for n in &order {
            let (status, _) = call(&w, signed(&fixture(n, "ord"))).await;
            assert_eq!(status, 200);
        }
        assert_eq!(
            w.store.customer_billing("cus_ord").await.unwrap(),
            reference,
            "order {order:?}"
        );
    }
}

#[tokio::test]
async fn a_storage_outage_is_503_and_the_redelivery_applies_once() {
    let w = webhook();
    let body = fixture("invoice-paid", "outage");
    w.store.unavailable.store(true, Ordering::SeqCst);
    let (status, json) = call(&w, signed(&body)).await;
    assert_eq!(status, 503, "{json}");
    w.store.unavailable.store(false, Ordering::SeqCst);
    let (status, json) = call(&w, signed(&body)).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(
        w.store
            .customer_billing("cus_outage")
            .await
            .unwrap()
            .invoices
            .len(),
        1
    );
}

#[tokio::test]
async fn a_crash_after_the_effects_before_the_record_loses_and_doubles_nothing() {
    let w = webhook();
    let body = fixture("charge-refunded", "crash");
    w.store.fail_marking.store(true, Ordering::SeqCst);
    let (status, _) = call(&w, signed(&body)).await;
    assert_eq!(status, 503, "never 2xx for an unrecorded event");
    let writes = w.store.writes.load(Ordering::SeqCst);
    assert_eq!(writes, 2, "charge and refund written before the failure");

    w.store.fail_marking.store(false, Ordering::SeqCst);
    let (status, json) = call(&w, signed(&body)).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(
        w.store.writes.load(Ordering::SeqCst),
        writes,
        "no effect twice"
    );
    let (_, json) = call(&w, signed(&body)).await;
    assert_eq!(json["outcome"], "duplicate");
}

#[tokio::test]
async fn the_other_mode_and_other_types_are_acknowledged_and_ignored() {
    let w = webhook();
    for (name, reason) in [
        ("livemode-mismatch-invoice-paid", "livemode_mismatch"),
        ("unknown-type-payout-paid", "unhandled_type"),
    ] {
        let (status, json) = call(&w, signed(&fixture(name, "ign"))).await;
        assert_eq!(status, 200);
        assert_eq!(json["outcome"], "ignored");
        assert_eq!(json["reason"], reason);
    }
    assert_eq!(w.store.writes.load(Ordering::SeqCst), 0);
    // The other mode's event is noted on its customer for the doctor (test and live mixed).
    let noted = w.store.mode_mismatches.lock().unwrap().clone();
    assert_eq!(noted.len(), 1, "{noted:?}");
    let note = noted.values().next().unwrap();
    assert_eq!(
        (note.kind.as_str(), note.livemode),
        ("invoice.paid", Some(true))
    );

    // The same test-mode event on a live environment is ignored too.
    let live = Webhook {
        mode: StripeMode::Live,
        ..webhook()
    };
    let (_, json) = call(&live, signed(&fixture("invoice-paid", "ign"))).await;
    assert_eq!(json["reason"], "livemode_mismatch");
}

#[tokio::test]
async fn other_api_versions_are_read_not_rejected() {
    let w = webhook();
    let (status, _) = call(
        &w,
        signed(&fixture("other-api-version-2022-charge-refunded", "ver")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &w,
        signed(&fixture(
            "other-api-version-future-subscription-updated",
            "ver",
        )),
    )
    .await;
    assert_eq!(status, 200);
    let b = w.store.customer_billing("cus_ver").await.unwrap();
    let [refund] = &b.refunds[..] else { panic!() };
    assert_eq!(refund.refund_key, "re_ver_old");
    assert_eq!(refund.amount, Some(2900));
    assert_eq!(b.charges[0].invoice_id.as_deref(), Some("in_ver_old"));
    let [sub] = &b.subscriptions[..] else {
        panic!()
    };
    assert_eq!(sub.status.as_deref(), Some("past_due"));
    assert_eq!(sub.cello_interval.as_deref(), Some("yearly"));
    assert_eq!(
        sub.cancel_at_period_end, None,
        "a changed type reads as absent"
    );

    // localstripe's shape (API 2017-08-15, no pending_webhooks or request).
    let body = r#"{"api_version":"2017-08-15","created":1763899990,"data":{"object":{"id":"cus_ls","object":"customer","metadata":{"new_user_id":"u-ls"}}},"id":"evt_ls","livemode":false,"object":"event","type":"customer.created"}"#;
    let (status, json) = call(&w, signed(body)).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
}

#[tokio::test]
async fn a_verified_body_that_is_not_an_event_is_not_applied() {
    let w = webhook();
    let (status, json) = call(&w, signed("not json")).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (400, Some("invalid_event"))
    );
    let (status, json) = call(&w, signed(r#"{"object":"event"}"#)).await;
    assert_eq!(
        (status, json["reason"].as_str()),
        (200, Some("not_an_event"))
    );
    assert_eq!(w.store.writes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_customer_linked_to_another_user_is_not_relinked() {
    let w = webhook();
    call(&w, signed(&fixture(CUSTOMER_CREATED, "link"))).await;
    let hijack = fixture("customer-updated", "link").replace("\"user-link\"", "\"user-other\"");
    let (status, json) = call(&w, signed(&hijack)).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
    let b = w.store.customer_billing("cus_link").await.unwrap();
    assert_eq!(b.linked_user_id.as_deref(), Some("user-link"));
}

#[tokio::test]
async fn a_completed_checkout_is_recorded_once_with_its_subscription_and_coupon() {
    let w = webhook();
    let body = fixture("checkout-session-completed", "cs");
    for want in ["applied", "duplicate"] {
        let (status, json) = call(&w, signed(&body)).await;
        assert_eq!((status, json["outcome"].as_str()), (200, Some(want)));
    }
    let b = w.store.customer_billing("cus_cs").await.unwrap();
    let [checkout] = &b.checkouts[..] else {
        panic!("{:?}", b.checkouts)
    };
    assert_eq!(checkout.session_id, "cs_test_cs");
    assert_eq!(checkout.subscription_id.as_deref(), Some("sub_cs"));
    assert_eq!(checkout.user_id.as_deref(), Some("ada-cs"));
    assert_eq!(checkout.coupon.as_deref(), Some("cello-new-user-50-3m"));
    assert_eq!(checkout.amount_discount, Some(1450));
    assert_eq!(checkout.completed_at, 1763800060);
    assert!(!checkout.livemode);
}
