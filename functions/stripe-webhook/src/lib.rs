//! stripe-webhook: verifies Stripe's signature on the raw body, reads the event tolerantly,
//! and records its effects idempotently. `main.rs` wires the adapters; `handler.rs` is generic
//! over the ports so it runs in unit tests without AWS.
//!
//! - `signature`: Stripe's scheme, checked on the exact bytes;
//! - `event`: the verified event, read with tolerant types (any API version);
//! - `effects`: what each event type changes (pure);
//! - `billing`: the port that records effects, with its DynamoDB and memory adapters.

pub mod billing;
pub mod effects;
pub mod event;
pub mod handler;
pub mod signature;

/// The largest body accepted. Stripe's events are a few KB; an invoice with many lines can
/// reach tens of KB. Anything larger is refused before the signature is computed.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// `POST /stripe/webhook`. Stripe is not a browser: no origin is allowed.
pub fn route() -> shared::http::Route {
    shared::http::Route {
        method: lambda_http::http::Method::POST,
        cors: shared::http::Cors::new(Vec::new()),
        max_body_bytes: MAX_BODY_BYTES,
    }
}
