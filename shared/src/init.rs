//! What every function builds once per container, before its first invocation: configuration,
//! the AWS SDK config, the secret (read now, so a bad secret fails init, not a request), the
//! authenticator and the user store.

use crate::config::{CommonConfig, ConfigError};
use crate::identity::Authenticator;
use crate::secrets::{self, AnyLoader, AppSecrets, CachedSecrets, SecretError, SecretSource};
use crate::store::dynamo::DynamoStore;
use std::sync::Arc;

pub struct Base {
    pub config: CommonConfig,
    pub sdk: aws_config::SdkConfig,
    pub secrets: CachedSecrets<AnyLoader>,
    /// The secret as read at init; functions derive their keys from it.
    pub initial_secrets: Arc<AppSecrets>,
    pub auth: Authenticator,
    pub store: DynamoStore,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("secret: {0}")]
    Secret(#[from] SecretError),
}

impl Base {
    pub async fn init() -> Result<Self, InitError> {
        let config = CommonConfig::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        let secrets = secrets::from_config(&config.secret_source, config.secret_cache_ttl, &sdk);
        let initial_secrets = secrets.current().await?;
        Ok(Self {
            auth: Authenticator::new(&config.auth_mode),
            store: DynamoStore::from_sdk(&sdk, &config.table_name),
            config,
            sdk,
            secrets,
            initial_secrets,
        })
    }
}

/// Ends the process with the reason on stderr and in the log; Lambda reports it as an init
/// error, and locally the message names the setting to fix.
pub fn exit_on_init_error(function: &str, err: &dyn std::fmt::Display) -> ! {
    tracing::error!(function, error = %err, "init failed");
    eprintln!("{function}: init failed: {err}");
    std::process::exit(1)
}
