//! signup Lambda: wiring only. Config, secret, Stripe client and store are built once here.

use lambda_http::Error;
use shared::Authenticator;
use shared::clock::SystemClock;
use shared::init::exit_on_init_error;
use shared::stripe::check_key_mode;
use signup::customers::AsyncStripeCustomers;
use signup::handler::SignupHandler;
use signup::settings::SignupSettings;

const FUNCTION: &str = "signup";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let base = shared::init::start(FUNCTION).await;
    let settings = SignupSettings::from_settings(&shared::config::from_env())
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let stripe_key = base
        .initial_secrets
        .stripe_secret_key()
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    check_key_mode(stripe_key, base.config.stripe_mode)
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let stripe = AsyncStripeCustomers::new(stripe_key, settings.stripe_api_base.as_deref())
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let route = signup::route(base.config.cors_allowed_origins.clone());
    let handler = SignupHandler {
        store: base.table,
        stripe,
        auth: Authenticator::new(&base.config.auth_mode),
        settings,
        clock: SystemClock,
    };
    shared::lambda::run(route, |req| handler.handle(req)).await
}
