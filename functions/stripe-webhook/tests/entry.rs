//! The runtime edge: a body flagged as base64 reaches the handler decoded when it decodes, and
//! is dropped (so the signature check refuses it) when it does not, instead of panicking.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Request};
use shared::lambda::drop_undecodable_body;

fn event(body: &str, base64: bool, signature: &str) -> LambdaEvent<LambdaRequest> {
    let json = serde_json::json!({
        "version": "2.0", "routeKey": "POST /stripe/webhook", "rawPath": "/stripe/webhook",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "stripe-signature": signature},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
            "http": {"method": "POST", "path": "/stripe/webhook", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "Stripe/1.0"},
            "requestId": "r", "routeKey": "POST /stripe/webhook", "stage": "$default",
            "time": "23/Nov/2026:09:00:00 +0000", "timeEpoch": 0},
        "body": body, "isBase64Encoded": base64
    });
    let payload: LambdaRequest = serde_json::from_value(json).unwrap();
    LambdaEvent::new(payload, Context::default())
}

fn to_request(e: LambdaEvent<LambdaRequest>) -> Request {
    e.payload.into()
}

#[tokio::test]
async fn a_base64_body_is_verified_on_its_decoded_bytes() {
    let body = fixture("customer-created", "b64");
    let sig = header(SECRET, NOW, body.as_bytes());
    let req = to_request(drop_undecodable_body(event(
        &STANDARD.encode(&body),
        true,
        &sig,
    )));
    let (status, json) = call(&webhook(), req).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
}

#[tokio::test]
async fn a_mangled_base64_body_is_refused_not_a_panic() {
    let body = fixture("customer-created", "b64m");
    let sig = header(SECRET, NOW, body.as_bytes());
    let mut encoded = STANDARD.encode(&body);
    for mangled in [
        format!("{encoded}!"),
        encoded[1..].to_owned(),
        encoded.replacen(|c: char| c.is_ascii_alphabetic(), "%", 1),
        {
            encoded.insert(5, '*');
            encoded.clone()
        },
    ] {
        let req = to_request(drop_undecodable_body(event(&mangled, true, &sig)));
        let (status, json) = call(&webhook(), req).await;
        assert_eq!(status, 400, "{json}");
        assert_eq!(json["error"]["code"], "invalid_signature");
    }
}

#[tokio::test]
async fn a_base64_body_that_decodes_to_other_bytes_fails_the_signature() {
    let body = fixture("customer-created", "b64o");
    let sig = header(SECRET, NOW, body.as_bytes());
    // Valid base64 of a different body (one byte changed).
    let other = STANDARD.encode(body.replacen("ada-", "adb-", 1));
    let req = to_request(drop_undecodable_body(event(&other, true, &sig)));
    assert_eq!(call(&webhook(), req).await.0, 400);
}
