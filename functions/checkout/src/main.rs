//! checkout Lambda: wiring only. Config, secret, clients and store are built once here.

use checkout::handler::CheckoutHandler;
use checkout::settings::CheckoutSettings;
use checkout::stripe::AsyncStripeCheckout;
use lambda_http::Error;
use shared::Authenticator;
use shared::cello_api::{CelloApi, CelloApiSettings};
use shared::clock::SystemClock;
use shared::init::exit_on_init_error;
use shared::stripe::check_key_mode;

const FUNCTION: &str = "checkout";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let base = shared::init::start(FUNCTION).await;
    let env = shared::config::from_env();
    let settings =
        CheckoutSettings::from_settings(&env).unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let cello_settings =
        CelloApiSettings::from_settings(&env).unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let stripe_key = base
        .initial_secrets
        .stripe_secret_key()
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    check_key_mode(stripe_key, base.config.stripe_mode)
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let stripe = AsyncStripeCheckout::new(stripe_key, settings.stripe_api_base.as_deref());
    let cello = CelloApi::from_secrets(&base.initial_secrets, cello_settings);
    if cello.is_none() {
        tracing::info!("no Cello API keys in the secret: the discount is decided from our records");
    }
    let routes = checkout::routes(base.config.cors_allowed_origins.clone());
    let handler = CheckoutHandler {
        store: base.table,
        stripe,
        cello,
        auth: Authenticator::new(&base.config.auth_mode),
        settings,
        clock: SystemClock,
    };
    let (routes, handler) = (&routes, &handler);
    // Two routes, one function: the path picks the route, then shared's edge serves it.
    shared::lambda::run_http(move |req| async move {
        let (route, endpoint) = routes.for_path(req.uri().path());
        route.serve(req, |r| handler.handle(endpoint, r)).await
    })
    .await
}
