//! Verify + tolerant parse of a realistic ~5 KB event (events/stripe/invoice-paid.json), the
//! work the webhook does on every delivery before touching storage.
//! Run: `cargo bench -p stripe-webhook --bench verify_parse`

use criterion::{Criterion, criterion_group, criterion_main};
use shared::secrets::Secret;
use std::hint::black_box;
use stripe_webhook::effects;
use stripe_webhook::event::Event;
use stripe_webhook::signature;

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

/// Signed with testkit's RustCrypto signer, so the benchmark cannot pass by signing and
/// verifying the same way.
fn sign(body: &[u8]) -> String {
    testkit::stripe_signature::header(SECRET, NOW, body)
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
