//! Verify + tolerant parse of a realistic ~5 KB event (events/stripe/invoice-paid.json), the
//! work the webhook does on every delivery before touching storage.
//! Run: `cargo bench -p stripe-webhook --bench verify_parse`

use criterion::{Criterion, criterion_group, criterion_main};
use referral_core::secrets::Secret;
use referral_core::webhook::effects;
use referral_core::webhook::event::Event;
use referral_core::webhook::signature;
use std::hint::black_box;

const SECRET: &str = "whsec_local_dev_webhook_secret";
const NOW: i64 = 1_763_900_000;

fn body() -> Vec<u8> {
    let path = format!(
        "{}/../../events/stripe/invoice-paid.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{{run}}", "bench0000000000")
        .into_bytes()
}

fn sign(body: &[u8]) -> String {
    use aws_lc_rs_free_sign::v1;
    format!("t={NOW},v1={}", v1(SECRET, NOW, body))
}

/// Signed with RustCrypto so the benchmark cannot pass by signing and verifying the same way.
mod aws_lc_rs_free_sign {
    use hmac::{Hmac, KeyInit, Mac};
    pub fn v1(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

fn bench(c: &mut Criterion) {
    let body = body();
    let header = sign(&body);
    let secrets = vec![Secret::new(SECRET)];
    let rotating = vec![Secret::new("whsec_new_after_rotation"), Secret::new(SECRET)];
    println!("event size: {} bytes", body.len());

    let verify_parse = |secrets: &[Secret]| {
        signature::verify(Some(black_box(&header)), black_box(&body), secrets, NOW).unwrap();
        let event = Event::parse(black_box(&body)).unwrap();
        let id = event.id.get().unwrap();
        let kind = event.kind.get().unwrap();
        let effects = effects::plan(&event, id, kind, event.created.get().unwrap()).unwrap();
        black_box(effects);
    };
    c.bench_function("verify + parse + plan, 1 secret", |b| {
        b.iter(|| verify_parse(&secrets))
    });
    c.bench_function("verify + parse + plan, 2 secrets (rotation)", |b| {
        b.iter(|| verify_parse(&rotating))
    });
    c.bench_function("verify only", |b| {
        b.iter(|| signature::verify(Some(black_box(&header)), black_box(&body), &secrets, NOW))
    });
    c.bench_function("tolerant parse only", |b| {
        b.iter(|| Event::parse(black_box(&body)).unwrap())
    });
    c.bench_function("serde_json skipping everything (the JSON floor)", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).unwrap())
    });
    c.bench_function("serde_json::Value parse (for comparison)", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
