//! stripe-webhook: verifies Stripe's signature on the raw body, reads the event tolerantly,
//! and records its effects idempotently. `main.rs` wires the adapters; `handler.rs` is generic
//! over the ports so it runs in unit tests without AWS.

pub mod handler;

/// The largest body accepted. Stripe's events are a few KB; an invoice with many lines can
/// reach tens of KB. Anything larger is refused before the signature is computed.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
