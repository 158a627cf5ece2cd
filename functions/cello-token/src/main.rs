//! cello-token Lambda: wiring only. Config, secret, signing key and clients are built once here.

use cello_token::handler::TokenHandler;
use cello_token::settings::TokenSettings;
use lambda_http::{Error, http::Method};
use referral_core::cello::SignerCache;
use referral_core::http::{Cors, Route};
use referral_core::init::{Base, exit_on_init_error};

const FUNCTION: &str = "cello-token";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    referral_core::telemetry::init();
    let base = Base::init()
        .await
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let settings = TokenSettings::from_settings(&referral_core::config::from_env())
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let signers = SignerCache::new(&base.initial_secrets, settings.ttl)
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let route = Route {
        method: Method::POST,
        cors: Cors::new(base.config.cors_allowed_origins.clone()),
        max_body_bytes: 4 * 1024,
    };
    let handler = TokenHandler {
        store: base.store,
        secrets: base.secrets,
        auth: base.auth,
        settings,
        signers,
    };
    referral_core::lambda::run(route, |req| handler.handle(req)).await
}
