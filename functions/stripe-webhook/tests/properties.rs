//! No input panics the handler: any header with any body, and any body that does verify (so
//! the tolerant reader sees arbitrary JSON). And without the secret nothing is ever recorded.

mod common;

use common::*;
use proptest::prelude::*;
use std::sync::atomic::Ordering;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// JSON values of any shape, biased towards the field names the reader looks for.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("id".to_owned()),
        Just("type".to_owned()),
        Just("created".to_owned()),
        Just("livemode".to_owned()),
        Just("data".to_owned()),
        Just("object".to_owned()),
        Just("customer".to_owned()),
        Just("metadata".to_owned()),
        Just("items".to_owned()),
        Just("refunds".to_owned()),
        Just("lines".to_owned()),
        Just("price".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        prop_oneof![
            Just("customer.created".to_owned()),
            Just("invoice.paid".to_owned()),
            Just("charge.refunded".to_owned()),
            Just("customer.subscription.updated".to_owned()),
            ".{0,12}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_header_and_body_panic_or_get_through(
        header in prop_oneof![
            // Any bytes a header value can carry (non-ASCII reads as no header).
            prop::collection::vec(
                prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff],
                0..160,
            ),
            "t=[0-9]{0,12}(,v[0-9]=[0-9a-f]{0,70}){0,4}".prop_map(String::into_bytes),
            Just(format!("t={NOW},v1={}", "ab".repeat(32)).into_bytes()),
        ],
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let w = webhook();
        let (status, _) = runtime().block_on(call(&w, request_with_raw_header(body, &header)));
        prop_assert_eq!(status, 400);
        prop_assert_eq!(w.store.writes.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn no_request_without_a_header_gets_through(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let w = webhook();
        let (status, _) = runtime().block_on(call(&w, request(body, None)));
        prop_assert_eq!(status, 400);
    }

    #[test]
    fn any_verified_json_is_answered_without_panicking(value in json()) {
        let body = value.to_string();
        let w = webhook();
        let (status, _) = runtime().block_on(call(&w, signed(&body)));
        prop_assert!(status == 200 || status == 400, "status {}", status);
    }

    #[test]
    fn any_event_shaped_json_is_answered_without_panicking(
        kind in prop_oneof![
            Just("customer.created"), Just("customer.deleted"), Just("invoice.paid"),
            Just("charge.refunded"), Just("charge.updated"),
            Just("customer.subscription.updated"), Just("payout.paid"),
        ],
        created in any::<i64>(),
        object in json(),
    ) {
        let body = serde_json::json!({
            "id": "evt_prop", "type": kind, "created": created, "livemode": false,
            "data": {"object": object}
        })
        .to_string();
        let w = webhook();
        let (status, json) = runtime().block_on(call(&w, signed(&body)));
        prop_assert_eq!(status, 200, "{}", json);
    }
}
