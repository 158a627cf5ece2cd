//! The application secret: one JSON document per environment. Read once at init, cached per
//! container with a TTL, and refreshable on demand (for example after a webhook signature fails
//! during a rotation) at most once per `MIN_REFRESH_INTERVAL`.

use serde::Deserialize;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A secret value that never prints.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The environment's secret document. Each function checks at init that the fields it needs
/// are present, so a missing one fails start-up rather than a request.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppSecrets {
    pub cello_product_id: Option<String>,
    pub cello_product_secret: Option<Secret>,
    pub stripe_secret_key: Option<Secret>,
    #[serde(default)]
    pub stripe_webhook_secrets: Vec<Secret>,
    /// Cello's REST API key pair (optional: without it the API is not configured).
    #[serde(default)]
    pub cello_api_access_key_id: Option<Secret>,
    #[serde(default)]
    pub cello_api_secret_access_key: Option<Secret>,
    /// The HTTP Basic credentials Cello's reward callback sends (optional).
    #[serde(default)]
    pub cello_rewards_webhook_username: Option<Secret>,
    #[serde(default)]
    pub cello_rewards_webhook_password: Option<Secret>,
    /// Which version of the document this is (Secrets Manager's VersionId), so derived values
    /// such as signing keys are rebuilt only when it changes.
    #[serde(skip)]
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret store is unavailable")]
    Unavailable,
    #[error("the secret {0} was not found or is not readable")]
    NotFound(String),
    #[error("the secret is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("the secret lacks {0}")]
    MissingField(&'static str),
}

impl From<SecretError> for crate::error::ApiError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Unavailable => {
                crate::error::ApiError::unavailable("a dependency is busy; retry shortly", 2)
            }
            // The message names a field or the secret id, never a value.
            other => {
                tracing::error!(error = %other, "secret unusable");
                crate::error::ApiError::internal()
            }
        }
    }
}

impl AppSecrets {
    pub fn parse(json: &str, version: impl Into<String>) -> Result<Self, SecretError> {
        let mut s: AppSecrets = serde_json::from_str(json).map_err(|e| {
            // serde's message names the field and type, never the value of a string.
            SecretError::Malformed(e.to_string())
        })?;
        s.version = version.into();
        Ok(s)
    }

    pub fn cello_product_id(&self) -> Result<&str, SecretError> {
        non_empty(self.cello_product_id.as_deref(), "celloProductId")
    }
    pub fn cello_product_secret(&self) -> Result<&str, SecretError> {
        non_empty(
            self.cello_product_secret.as_ref().map(Secret::expose),
            "celloProductSecret",
        )
    }
    pub fn stripe_secret_key(&self) -> Result<&str, SecretError> {
        non_empty(
            self.stripe_secret_key.as_ref().map(Secret::expose),
            "stripeSecretKey",
        )
    }
    pub fn stripe_webhook_secrets(&self) -> Result<&[Secret], SecretError> {
        if self.stripe_webhook_secrets.iter().any(|s| !s.0.is_empty()) {
            Ok(&self.stripe_webhook_secrets)
        } else {
            Err(SecretError::MissingField("stripeWebhookSecrets"))
        }
    }
}

fn non_empty<'a>(v: Option<&'a str>, name: &'static str) -> Result<&'a str, SecretError> {
    v.filter(|s| !s.is_empty())
        .ok_or(SecretError::MissingField(name))
}

/// The port: where the current secrets come from.
pub trait SecretSource: Send + Sync {
    /// The cached secrets, reloaded when older than the TTL.
    fn current(&self) -> impl Future<Output = Result<Arc<AppSecrets>, SecretError>> + Send;
    /// Reloads now, unless the last load was less than `MIN_REFRESH_INTERVAL` ago.
    fn refresh(&self) -> impl Future<Output = Result<Arc<AppSecrets>, SecretError>> + Send;
}

/// Fetches the secret document; the cache around it decides when.
pub trait SecretLoader: Send + Sync {
    fn load(&self) -> impl Future<Output = Result<AppSecrets, SecretError>> + Send;
}

/// Stops a flood of bad webhook signatures from becoming a flood of Secrets Manager calls.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

pub struct CachedSecrets<L> {
    loader: L,
    ttl: Duration,
    cache: Mutex<Option<(Instant, Arc<AppSecrets>)>>,
}

impl<L: SecretLoader> CachedSecrets<L> {
    pub fn new(loader: L, ttl: Duration) -> Self {
        Self {
            loader,
            ttl,
            cache: Mutex::new(None),
        }
    }

    async fn load_if(
        &self,
        stale: impl Fn(Duration) -> bool,
    ) -> Result<Arc<AppSecrets>, SecretError> {
        // One load at a time per container: concurrent callers wait for it rather than race.
        let mut cache = self.cache.lock().await;
        if let Some((at, secrets)) = cache.as_ref()
            && !stale(at.elapsed())
        {
            return Ok(secrets.clone());
        }
        match self.loader.load().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *cache = Some((Instant::now(), fresh.clone()));
                Ok(fresh)
            }
            // Serving the last good copy beats failing while the store is briefly unreachable.
            Err(SecretError::Unavailable) if cache.is_some() => {
                tracing::warn!("secret reload failed; serving the cached copy");
                Ok(cache.as_ref().map(|(_, s)| s.clone()).expect("checked"))
            }
            Err(e) => Err(e),
        }
    }
}

impl<L: SecretLoader> SecretSource for CachedSecrets<L> {
    async fn current(&self) -> Result<Arc<AppSecrets>, SecretError> {
        self.load_if(|age| age >= self.ttl).await
    }

    async fn refresh(&self) -> Result<Arc<AppSecrets>, SecretError> {
        self.load_if(|age| age >= MIN_REFRESH_INTERVAL).await
    }
}

/// Secrets Manager: `GetSecretValue` on the configured secret id.
pub struct SecretsManagerLoader {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerLoader {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

impl SecretLoader for SecretsManagerLoader {
    async fn load(&self) -> Result<AppSecrets, SecretError> {
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError as E;
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(E::ResourceNotFoundException(_)) => SecretError::NotFound(self.secret_id.clone()),
                Some(E::DecryptionFailure(_)) => SecretError::NotFound(self.secret_id.clone()),
                _ => {
                    tracing::warn!(error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "GetSecretValue failed");
                    SecretError::Unavailable
                }
            })?;
        let text = out
            .secret_string()
            .ok_or_else(|| SecretError::Malformed("the secret has no string value".into()))?;
        AppSecrets::parse(text, out.version_id().unwrap_or("unversioned"))
    }
}

/// The documented fallback: `CELLO_PRODUCT_ID`, `CELLO_PRODUCT_SECRET`, `STRIPE_SECRET_KEY`,
/// `STRIPE_WEBHOOK_SECRETS` (comma-separated) from the environment.
pub struct EnvLoader;

impl SecretLoader for EnvLoader {
    async fn load(&self) -> Result<AppSecrets, SecretError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        Ok(AppSecrets {
            cello_product_id: var("CELLO_PRODUCT_ID"),
            cello_product_secret: var("CELLO_PRODUCT_SECRET").map(Secret),
            stripe_secret_key: var("STRIPE_SECRET_KEY").map(Secret),
            stripe_webhook_secrets: var("STRIPE_WEBHOOK_SECRETS")
                .map(|v| v.split(',').map(|s| Secret(s.trim().to_owned())).collect())
                .unwrap_or_default(),
            version: "env".to_owned(),
            ..AppSecrets::default()
        })
    }
}

/// Either loader, chosen by configuration, so `main.rs` holds one concrete type.
pub enum AnyLoader {
    SecretsManager(SecretsManagerLoader),
    Env(EnvLoader),
}

impl SecretLoader for AnyLoader {
    async fn load(&self) -> Result<AppSecrets, SecretError> {
        match self {
            AnyLoader::SecretsManager(l) => l.load().await,
            AnyLoader::Env(l) => l.load().await,
        }
    }
}

/// The secret source a function uses in production: the configured loader behind the cache.
pub fn from_config(
    kind: &crate::config::SecretSourceKind,
    ttl: Duration,
    sdk: &aws_config::SdkConfig,
) -> CachedSecrets<AnyLoader> {
    let loader = match kind {
        crate::config::SecretSourceKind::SecretsManager { secret_id } => AnyLoader::SecretsManager(
            SecretsManagerLoader::new(crate::aws::secrets_manager(sdk), secret_id),
        ),
        crate::config::SecretSourceKind::Env => AnyLoader::Env(EnvLoader),
    };
    CachedSecrets::new(loader, ttl)
}

/// Fixed secrets for unit tests of handlers.
#[cfg(any(test, feature = "memory"))]
pub struct StaticSecrets(pub Arc<AppSecrets>);

#[cfg(any(test, feature = "memory"))]
impl SecretSource for StaticSecrets {
    async fn current(&self) -> Result<Arc<AppSecrets>, SecretError> {
        Ok(self.0.clone())
    }
    async fn refresh(&self) -> Result<Arc<AppSecrets>, SecretError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting {
        loads: AtomicU32,
        fail_after_first: bool,
    }

    impl SecretLoader for Counting {
        async fn load(&self) -> Result<AppSecrets, SecretError> {
            let n = self.loads.fetch_add(1, Ordering::SeqCst);
            if self.fail_after_first && n > 0 {
                return Err(SecretError::Unavailable);
            }
            AppSecrets::parse(
                r#"{"celloProductId":"p","celloProductSecret":"s"}"#,
                format!("v{n}"),
            )
        }
    }

    fn counting(fail_after_first: bool) -> Counting {
        Counting {
            loads: AtomicU32::new(0),
            fail_after_first,
        }
    }

    #[tokio::test]
    async fn caches_within_the_ttl() {
        let cache = CachedSecrets::new(counting(false), Duration::from_secs(60));
        let a = cache.current().await.unwrap();
        let b = cache.current().await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.loader.loads.load(Ordering::SeqCst), 1);
        // A refresh right after a load is throttled.
        cache.refresh().await.unwrap();
        assert_eq!(cache.loader.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reloads_after_the_ttl_and_keeps_the_last_good_copy_on_outage() {
        let cache = CachedSecrets::new(counting(true), Duration::ZERO);
        let first = cache.current().await.unwrap();
        let second = cache.current().await.unwrap();
        assert_eq!(cache.loader.loads.load(Ordering::SeqCst), 2);
        assert_eq!(first.version, second.version);
    }

    #[test]
    fn debug_never_prints_secret_values() {
        let s = AppSecrets::parse(
            r#"{"celloProductId":"p_1","celloProductSecret":"TOPSECRET","stripeSecretKey":"sk_test_X","stripeWebhookSecrets":["whsec_Y"]}"#,
            "v1",
        )
        .unwrap();
        let printed = format!("{s:?}");
        for leaked in ["TOPSECRET", "sk_test_X", "whsec_Y"] {
            assert!(!printed.contains(leaked), "{printed}");
        }
        assert_eq!(s.cello_product_secret().unwrap(), "TOPSECRET");
    }

    #[test]
    fn missing_and_malformed_fields_are_named() {
        let s = AppSecrets::parse(r#"{"celloProductId":"p"}"#, "v").unwrap();
        assert!(matches!(
            s.cello_product_secret(),
            Err(SecretError::MissingField("celloProductSecret"))
        ));
        assert!(matches!(
            s.stripe_webhook_secrets(),
            Err(SecretError::MissingField(_))
        ));
        let err = AppSecrets::parse(r#"{"celloProductId": 5}"#, "v").unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
