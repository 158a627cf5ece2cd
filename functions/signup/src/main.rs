//! signup Lambda: wiring only. Config, secret, Stripe client and store are built once here.

use lambda_http::{Error, http::Method};
use referral_core::http::{Cors, Route};
use referral_core::init::{Base, exit_on_init_error};
use referral_core::stripe::{AsyncStripeCustomers, check_key_mode};
use signup::handler::SignupHandler;
use signup::settings::SignupSettings;

const FUNCTION: &str = "signup";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    referral_core::telemetry::init();
    let base = Base::init()
        .await
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let settings = SignupSettings::from_settings(&referral_core::config::from_env())
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let stripe_key = base
        .initial_secrets
        .stripe_secret_key()
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    check_key_mode(stripe_key, base.config.stripe_mode)
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let stripe = AsyncStripeCustomers::new(stripe_key, settings.stripe_api_base.as_deref())
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let route = Route {
        method: Method::POST,
        cors: Cors::new(base.config.cors_allowed_origins.clone()),
        max_body_bytes: 16 * 1024,
    };
    let handler = SignupHandler {
        store: base.store,
        stripe,
        auth: base.auth,
        settings,
    };
    referral_core::lambda::run(route, |req| handler.handle(req)).await
}
