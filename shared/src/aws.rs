//! The AWS SDK configuration, built once per container and shared by every client.
//!
//! In Lambda the region and the execution role's credentials are in the environment
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). Reading
//! them directly skips aws-config's provider chains (profile files, SSO, web identity, IMDS),
//! which cost milliseconds at every cold start and which Lambda never needs. Anywhere else (an
//! operator's shell with a profile or SSO, the doctor) the full default chain is used.

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::region::Region;
use std::time::Duration;

/// Short timeouts: a Lambda behind API Gateway has 29 s in all, and a dependency that hangs
/// should become a quick 503 the caller can retry, not a gateway timeout.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(1_000))
        .operation_attempt_timeout(Duration::from_millis(2_000))
        .operation_timeout(Duration::from_millis(5_000))
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

pub async fn sdk_config() -> SdkConfig {
    match from_environment(|name| std::env::var(name).ok()) {
        Some(config) => config,
        None => {
            aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts())
                .retry_config(retries())
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
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep()?)
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        // One HTTP client (one connection pool, one TLS configuration) for every SDK client,
        // instead of one each.
        .http_client(https_client(&var));
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(url);
    }
    Some(builder.build())
}

fn https_client(var: &impl Fn(&str) -> Option<String>) -> SharedHttpClient {
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(tls_context(var))
        .build_https();
    #[cfg(feature = "perf-timing")]
    if crate::timing::enabled() {
        return crate::timing::sdk::timed(client);
    }
    client
}

/// The system's CA bundle, by where each distribution keeps it: Lambda's Amazon Linux 2023
/// first (`/etc/pki/tls/certs/ca-bundle.crt` links to it there), then Debian and Ubuntu, Alpine.
const CA_BUNDLES: [&str; 4] = [
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

/// The roots the SDK's HTTPS client trusts: the system's CA bundle, one file, read once.
///
/// The SDK's default (rustls-native-certs) reads that bundle *and* every file of the CA
/// directories it finds (`/etc/ssl/certs`: one file per root on Debian; on Amazon Linux the
/// directory holds the bundle again beside OpenSSL's trust bundle), then parses the lot: about
/// 4 ms of every cold start here. The same roots from the one file cost a fraction of that.
/// `SSL_CERT_FILE` still names another bundle; a bundle with a section that would not parse as
/// a certificate, or no bundle at all, falls back to the SDK's default store, as before.
fn tls_context(var: &impl Fn(&str) -> Option<String>) -> TlsContext {
    let file = var("SSL_CERT_FILE");
    let candidates = file.iter().map(String::as_str).chain(CA_BUNDLES);
    candidates
        .filter_map(|path| std::fs::read(path).ok())
        .find_map(|pem| trusted_bundle(&pem).then_some(pem))
        .and_then(|pem| {
            TlsContext::builder()
                .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
                .build()
                .ok()
        })
        .unwrap_or_default()
}

/// Whether every certificate of `pem` is one rustls accepts as a trust anchor (the SDK panics
/// on one that is not), and there is at least one.
fn trusted_bundle(pem: &[u8]) -> bool {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        match cert {
            Ok(der) if webpki::anchor_from_trusted_cert(&der).is_ok() => count += 1,
            _ => return false,
        }
    }
    count > 0
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

    #[test]
    fn a_bundle_is_trusted_only_when_every_section_is_a_certificate() {
        let system = CA_BUNDLES
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .expect("this machine has a CA bundle");
        assert!(trusted_bundle(&system));
        let one_cert_end = system
            .windows(25)
            .position(|w| w == b"-----END CERTIFICATE-----")
            .expect("PEM")
            + 25;
        assert!(trusted_bundle(&system[..one_cert_end]));
        let mut broken = system[..one_cert_end].to_vec();
        broken.extend_from_slice(
            b"\n-----BEGIN CERTIFICATE-----\nMIIBnotacertificate\n-----END CERTIFICATE-----\n",
        );
        assert!(!trusted_bundle(&broken));
        assert!(!trusted_bundle(b""));
        assert!(!trusted_bundle(b"not PEM at all"));
    }

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
