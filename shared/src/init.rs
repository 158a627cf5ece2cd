//! What every function builds once per container, before its first invocation: configuration,
//! the AWS SDK config, the secret (read now, so a bad secret fails init, not a request), the
//! authenticator and the user store.

use crate::config::{CommonConfig, ConfigError};
use crate::secrets::{self, AnyLoader, AppSecrets, CachedSecrets, SecretError, SecretSource};
use crate::table::Table;
use std::sync::Arc;

pub struct Base {
    pub config: CommonConfig,
    pub sdk: aws_config::SdkConfig,
    pub secrets: CachedSecrets<AnyLoader>,
    /// The secret as read at init; functions derive their keys from it.
    pub initial_secrets: Arc<AppSecrets>,
    pub table: Table,
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
        let mut timing = InitTiming::from_env();
        let config = CommonConfig::from_env()?;
        timing.stage("config");
        let sdk = crate::aws::sdk_config().await;
        timing.stage("sdkConfig");
        let secrets = secrets::from_config(&config.secret_source, config.secret_cache_ttl, &sdk);
        timing.stage("secretsClient");
        // The DynamoDB client is built while the secret's request is on its way: `join!` polls
        // the read first, and builds the client once the read waits on the network.
        let (initial_secrets, table) = tokio::join!(secrets.current(), async {
            Table::from_sdk(&sdk, &config.table_name)
        });
        let initial_secrets = initial_secrets?;
        timing.stage("secretReadAndTable");
        timing.report();
        Ok(Self {
            table,
            config,
            sdk,
            secrets,
            initial_secrets,
        })
    }
}

/// Opt-in (feature `perf-timing`, then `PERF_TIMING=1`) durations of the init stages in microseconds, printed as one JSON
/// line on stderr for the perf harness (`infra/local/perf.sh`, which builds with the feature).
/// `startUnixMicros` lets it place the start of init against the moment it spawned the process.
/// Without the feature it is compiled out of the binaries that ship.
struct InitTiming(Option<TimingState>);

/// (start in Unix microseconds, end of the last stage, each stage's name and microseconds)
type TimingState = (u128, std::time::Instant, Vec<(&'static str, u128)>);

impl InitTiming {
    fn from_env() -> Self {
        let on = crate::timing::enabled();
        Self(on.then(|| {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            (unix, std::time::Instant::now(), Vec::with_capacity(5))
        }))
    }

    fn stage(&mut self, name: &'static str) {
        if let Some((_, last, stages)) = &mut self.0 {
            stages.push((name, last.elapsed().as_micros()));
            *last = std::time::Instant::now();
        }
    }

    fn report(self) {
        if let Some(line) = self.line() {
            crate::timing::print_line(line);
        }
    }

    fn line(&self) -> Option<String> {
        let (start, _, stages) = self.0.as_ref()?;
        let fields: String = stages
            .iter()
            .map(|(name, us)| format!(",\"{name}\":{us}"))
            .collect();
        Some(format!(
            "{{\"initTiming\":{{\"startUnixMicros\":{start}{fields}}}}}"
        ))
    }
}

/// A function's start: telemetry, then the base, or the process ends naming what to fix.
pub async fn start(function: &str) -> Base {
    crate::telemetry::init();
    Base::init()
        .await
        .unwrap_or_else(|e| exit_on_init_error(function, &e))
}

/// Ends the process with the reason on stderr and in the log; Lambda reports it as an init
/// error, and locally the message names the setting to fix.
pub fn exit_on_init_error(function: &str, err: &dyn std::fmt::Display) -> ! {
    tracing::error!(function, error = %err, "init failed");
    eprintln!("{function}: init failed: {err}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timing_line_is_json_with_every_stage_and_absent_when_off() {
        let mut timing = InitTiming(Some((
            1_700_000_000_000_000,
            std::time::Instant::now(),
            vec![],
        )));
        timing.stage("config");
        timing.stage("secretRead");
        let line: serde_json::Value = serde_json::from_str(&timing.line().unwrap()).unwrap();
        let t = &line["initTiming"];
        assert_eq!(t["startUnixMicros"], 1_700_000_000_000_000u64);
        assert!(t["config"].is_u64() && t["secretRead"].is_u64());
        assert_eq!(InitTiming(None).line(), None);
    }
}
