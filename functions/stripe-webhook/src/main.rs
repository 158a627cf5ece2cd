//! stripe-webhook Lambda: wiring only. Everything is built once here, at init.

use lambda_http::{Error, http::Method};
use referral_core::http::{Cors, Route};
use referral_core::init::{Base, exit_on_init_error};
use referral_core::webhook::SystemClock;
use stripe_webhook::handler::Webhook;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    referral_core::telemetry::init();
    let base = Base::init()
        .await
        .unwrap_or_else(|e| exit_on_init_error("stripe-webhook", &e));
    if let Err(e) = base.initial_secrets.stripe_webhook_secrets() {
        exit_on_init_error("stripe-webhook", &e);
    }
    let route = Route {
        method: Method::POST,
        // Stripe is not a browser: no origin is allowed.
        cors: Cors::new(Vec::new()),
        max_body_bytes: stripe_webhook::MAX_BODY_BYTES,
    };
    let webhook = Webhook {
        secrets: base.secrets,
        store: base.store,
        clock: SystemClock,
        mode: base.config.stripe_mode,
    };
    referral_core::lambda::run(route, |req| webhook.handle(req)).await
}
