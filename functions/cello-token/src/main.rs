//! cello-token Lambda: wiring only. Config, secret, signing key and clients are built once here.

use cello_token::handler::TokenHandler;
use cello_token::heartbeat::{HEARTBEAT_INTERVAL_SECONDS, Heartbeat};
use cello_token::settings::TokenSettings;
use cello_token::signer::SignerCache;
use lambda_http::Error;
use shared::Authenticator;
use shared::init::exit_on_init_error;

const FUNCTION: &str = "cello-token";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let base = shared::init::start(FUNCTION).await;
    let settings = TokenSettings::from_settings(&shared::config::from_env())
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let signers = SignerCache::new(&base.initial_secrets, settings.ttl)
        .unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let route = cello_token::route(base.config.cors_allowed_origins.clone());
    let heartbeat = Heartbeat::new(base.table.clone(), HEARTBEAT_INTERVAL_SECONDS);
    let handler = TokenHandler {
        store: base.table,
        secrets: base.secrets,
        auth: Authenticator::new(&base.config.auth_mode),
        settings,
        signers,
    };
    shared::lambda::run(route, |req| async {
        let reply = handler.handle(req).await;
        if reply.is_ok() {
            heartbeat.minted(shared::unix_now()).await;
        }
        reply
    })
    .await
}
