//! The AWS SDK configuration, built once per container and shared by every client.
//!
//! In Lambda the region and the execution role's credentials are in the environment
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). Reading
//! them directly skips aws-config's provider chains (profile files, SSO, web identity, IMDS),
//! which cost milliseconds at every cold start and which Lambda never needs. Anywhere else (an
//! operator's shell with a profile or SSO, the doctor) the full default chain is used.

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::region::Region;
use std::time::Duration;

/// Also the connect timeout of the SDK's HTTP client (`sdk_http.rs`), which sets it itself.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Short timeouts: a Lambda behind API Gateway has 29 s in all, and a dependency that hangs
/// should become a quick 503 the caller can retry, not a gateway timeout.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(Duration::from_millis(2_000))
        .operation_timeout(Duration::from_millis(5_000))
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// Off: it watches every answer's body for a stall (a throughput check on each poll), about 6 µs
/// of the SDK's 110 per DynamoDB call here (`cargo bench -p shared --bench sdk_call`), and what it
/// guards against is already bounded: every operation we call answers a small JSON body, read
/// whole inside the 2 s attempt timeout above.
fn stalled_streams() -> StalledStreamProtectionConfig {
    StalledStreamProtectionConfig::disabled()
}

pub async fn sdk_config() -> SdkConfig {
    match from_environment(|name| std::env::var(name).ok()) {
        Some(config) => config,
        None => {
            aws_config::defaults(BehaviorVersion::latest())
                .http_client(https_client())
                .timeout_config(timeouts())
                .retry_config(retries())
                .stalled_stream_protection(stalled_streams())
                .load()
                .await
        }
    }
}

/// The configuration from the environment alone, when it holds a region and a key pair (as
/// Lambda's always does); `None` otherwise.
fn from_environment(var: impl Fn(&str) -> Option<String>) -> Option<SdkConfig> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"))?;
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .timeout_config(timeouts())
        .retry_config(retries())
        .stalled_stream_protection(stalled_streams())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep()?)
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        // One HTTP client (one connection pool, one TLS configuration) for every SDK client,
        // instead of one each.
        .http_client(https_client());
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(url);
    }
    Some(builder.build())
}

/// shared's HTTPS stack (`sdk_http.rs`), timed when the perf harness asks.
fn https_client() -> SharedHttpClient {
    let client = crate::sdk_http::client(CONNECT_TIMEOUT);
    #[cfg(feature = "perf-timing")]
    if crate::timing::enabled() {
        return crate::timing::sdk::timed(client);
    }
    client
}

/// `AWS_ENDPOINT_URL_<SERVICE>`: the per-service override aws-config's loader would have read
/// (the local stand-ins), applied by each client's constructor.
pub fn service_endpoint(service_env_suffix: &str) -> Option<String> {
    std::env::var(format!("AWS_ENDPOINT_URL_{service_env_suffix}"))
        .ok()
        .filter(|v| !v.is_empty())
}

/// A DynamoDB client for `sdk`, with the local override when set.
pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(url) = service_endpoint("DYNAMODB") {
        config = config.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// A Secrets Manager client for `sdk`, with the local override when set.
pub fn secrets_manager(sdk: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
    if let Some(url) = service_endpoint("SECRETS_MANAGER") {
        config = config.endpoint_url(url);
    }
    aws_sdk_secretsmanager::Client::from_conf(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[tokio::test]
    async fn lambdas_environment_is_enough_and_anything_less_falls_back() {
        let lambda = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ];
        let config = from_environment(env(&lambda)).expect("Lambda's environment suffices");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert!(config.timeout_config().is_some());
        assert!(
            !config
                .stalled_stream_protection()
                .expect("set")
                .is_enabled()
        );
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let partial: Vec<_> = lambda
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert!(from_environment(env(&partial)).is_none(), "{missing}");
        }
    }
}
