//! Replays the request fixtures in `events/` (see events/README.md) against the real local
//! endpoints and checks each outcome. The pieces are small and pure, so they are unit-tested
//! here; `src/bin/replay.rs` only wires them to the network.

pub mod expect;
pub mod fixture;
pub mod local_bearer;
pub mod request;

/// The webhook signing secret the stack's functions accept: the first of
/// `stripeWebhookSecrets` in the environment's secret, read the way the functions read it.
pub async fn stack_webhook_secret() -> Result<String, String> {
    use shared::SecretSource;
    let config = shared::CommonConfig::from_env().map_err(|e| e.to_string())?;
    let sdk = shared::aws::sdk_config().await;
    let source = shared::secrets::from_config(&config.secret_source, config.secret_cache_ttl, &sdk);
    let secrets = source.current().await.map_err(|e| e.to_string())?;
    let first = secrets
        .stripe_webhook_secrets()
        .map_err(|e| e.to_string())?[0]
        .expose()
        .to_owned();
    Ok(first)
}

/// Replaces every `{{run}}` placeholder. Done on the raw text, before parsing or signing, so a
/// placeholder inside a JSON string, a header or a Stripe body is replaced alike.
pub fn substitute_run(text: &str, run: &str) -> String {
    text.replace("{{run}}", run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_placeholder_is_replaced() {
        assert_eq!(
            substitute_run(r#"{"sub":"user-{{run}}","email":"a-{{run}}@x.io"}"#, "r1"),
            r#"{"sub":"user-r1","email":"a-r1@x.io"}"#
        );
        assert_eq!(
            substitute_run("{{ run }} {{other}}", "r1"),
            "{{ run }} {{other}}"
        );
    }
}
