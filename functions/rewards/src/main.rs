//! rewards Lambda: wiring only. Config, secret, clients and the store are built once here;
//! the path picks one of the three routes (`rewards::Endpoint`).

use lambda_http::Error;
use rewards::erasure::StripeCustomers;
use rewards::handler::RewardsHandler;
use rewards::settings::{RewardsSettings, StripeErasure};
use shared::Authenticator;
use shared::cello_api::{CelloApi, CelloApiSettings};
use shared::clock::SystemClock;
use shared::init::exit_on_init_error;

const FUNCTION: &str = "rewards";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let base = shared::init::start(FUNCTION).await;
    let env = shared::config::from_env();
    let settings =
        RewardsSettings::from_settings(&env).unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let cello_settings =
        CelloApiSettings::from_settings(&env).unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let secrets = &base.initial_secrets;
    if secrets.cello_rewards_webhook_username.is_none()
        || secrets.cello_rewards_webhook_password.is_none()
    {
        tracing::warn!(
            "the secret has no celloRewardsWebhookUsername/Password: every callback is refused"
        );
    }
    let cello = CelloApi::from_secrets(secrets, cello_settings);
    let stripe_key = match settings.stripe_erasure {
        StripeErasure::Keep => None,
        StripeErasure::Delete => {
            let key = secrets
                .stripe_secret_key()
                .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
            shared::stripe::check_key_mode(key, base.config.stripe_mode)
                .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
            Some(key.to_owned())
        }
    };
    let stripe = StripeCustomers::new(stripe_key.as_deref(), settings.stripe_api_base.as_deref());
    let handler = RewardsHandler {
        store: base.table,
        secrets: base.secrets,
        auth: Authenticator::new(&base.config.auth_mode),
        routes: rewards::routes(base.config.cors_allowed_origins.clone()),
        settings,
        cello,
        stripe,
        clock: SystemClock,
    };
    let handler = &handler;
    shared::lambda::run_http(move |req| handler.serve(req)).await
}
