//! The AWS SDK configuration, loaded once per container and shared by every client.

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use std::time::Duration;

/// Short timeouts: a Lambda behind API Gateway has 29 s in all, and a dependency that hangs
/// should become a quick 503 the caller can retry, not a gateway timeout.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(1_000))
                .operation_attempt_timeout(Duration::from_millis(2_000))
                .operation_timeout(Duration::from_millis(5_000))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}
