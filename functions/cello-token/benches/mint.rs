//! In-process figures: minting a widget token, and the whole handler (identity, store read,
//! mint, response) with in-memory ports. `cargo bench -p cello-token --bench mint`

use cello_token::handler::TokenHandler;
use cello_token::settings::TokenSettings;
use cello_token::signer::{CelloSigner, SignerCache};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use shared::secrets::StaticSecrets;
use shared::user::memory::MemoryUsers;
use shared::{AppSecrets, Authenticator};
use std::hint::black_box;
use std::sync::Arc;
use testkit::fixture_request;

fn benches(c: &mut Criterion) {
    let signer = CelloSigner::new(
        "p_bench",
        b"a-product-secret-of-realistic-length-64-bytes-xxxxxxxxxxxxxxxxxx",
        None,
    );
    c.bench_function("token_mint", |b| {
        b.iter(|| {
            signer.mint(
                black_box("user-4f1c2a9e-77d3-4c2b-9a51-0c7e2d8b1f60"),
                1_795_428_000,
            )
        })
    });

    let secrets = AppSecrets::parse(
        r#"{"celloProductId":"p_bench","celloProductSecret":"a-product-secret"}"#,
        "v1",
    )
    .unwrap();
    let handler = TokenHandler {
        store: MemoryUsers::default(),
        signers: SignerCache::new(&secrets, None).unwrap(),
        secrets: StaticSecrets(Arc::new(secrets)),
        auth: Authenticator::ApiGatewayJwt,
        settings: TokenSettings {
            ttl: None,
            default_language: "en".into(),
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function("token_handler", |b| {
        b.to_async(&runtime).iter_batched(
            || fixture_request("cello-token/valid.json", "bench"),
            |request| handler.handle(black_box(request.into())),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(mint, benches);
criterion_main!(mint);
