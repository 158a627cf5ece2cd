//! stripe-webhook Lambda: wiring only. Everything is built once here, at init.

use lambda_http::request::LambdaRequest;
use lambda_http::{Error, LambdaEvent, Request, Service, http::Method, service_fn};
use referral_core::http::{Cors, Route};
use referral_core::init::{Base, exit_on_init_error};
use referral_core::webhook::SystemClock;
use stripe_webhook::entry::drop_undecodable_body;
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
    let (route, webhook) = (&route, &webhook);
    let http = service_fn(move |req: Request| async move {
        Ok::<_, Error>(route.serve(req, |req| webhook.handle(req)).await)
    });
    let adapter = lambda_http::Adapter::from(http);
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let mut adapter = adapter.clone();
        adapter.call(drop_undecodable_body(event))
    }))
    .await
}
