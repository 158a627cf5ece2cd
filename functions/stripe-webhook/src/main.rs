//! stripe-webhook Lambda: wiring only. Everything is built once here, at init.

use lambda_http::Error;
use shared::clock::SystemClock;
use shared::init::exit_on_init_error;
use stripe_webhook::handler::Webhook;

const FUNCTION: &str = "stripe-webhook";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let base = shared::init::start(FUNCTION).await;
    if let Err(e) = base.initial_secrets.stripe_webhook_secrets() {
        exit_on_init_error(FUNCTION, &e);
    }
    let route = stripe_webhook::route();
    let webhook = Webhook {
        secrets: base.secrets,
        store: base.table,
        clock: SystemClock,
        mode: base.config.stripe_mode,
    };
    shared::lambda::run(route, |req| webhook.handle(req)).await
}
