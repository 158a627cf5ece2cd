//! This function's own settings (the common ones are in `shared::config`).

use shared::ConfigError;
use shared::cello_api::CelloApiSettings;
use shared::config::Settings;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// `CELLO_REPORT_LEASE_SECONDS` (default 60, 10 to 3600): how long a `sending` claim is
    /// presumed live. Keep it above the function's timeout, so a live attempt is never taken
    /// over (the template sets 60 beside a 30 s timeout).
    pub lease_seconds: i64,
}

impl ReportSettings {
    pub fn from_settings<F: Fn(&str) -> Option<String>>(
        s: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let lease_seconds = s
            .parsed("CELLO_REPORT_LEASE_SECONDS", |raw| {
                raw.parse::<i64>()
                    .ok()
                    .filter(|v| (10..=3600).contains(v))
                    .ok_or_else(|| "expected 10 to 3600 seconds".to_owned())
            })?
            .unwrap_or(60);
        Ok(Self { lease_seconds })
    }
}

/// The longest one report's call to Cello can take: the token exchange and the event, each
/// with every attempt timing out and the longest backoffs between them.
pub fn call_budget(api: &CelloApiSettings) -> Duration {
    let attempts = api.max_attempts.max(1);
    let backoffs: Duration = (1..attempts)
        .map(|a| api.backoff * (1u32 << (a - 1).min(6)))
        .sum();
    (api.timeout * attempts + backoffs) * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<ReportSettings, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ReportSettings::from_settings(&Settings::new(move |k| map.get(k).cloned()))
    }

    #[test]
    fn the_lease_defaults_to_a_minute_and_is_bounded() {
        assert_eq!(settings(&[]).unwrap().lease_seconds, 60);
        assert_eq!(
            settings(&[("CELLO_REPORT_LEASE_SECONDS", "120")])
                .unwrap()
                .lease_seconds,
            120
        );
        let err = settings(&[("CELLO_REPORT_LEASE_SECONDS", "1")]).unwrap_err();
        assert!(
            err.to_string().contains("CELLO_REPORT_LEASE_SECONDS"),
            "{err}"
        );
    }

    #[test]
    fn the_call_budget_covers_every_attempt_of_both_calls() {
        let api = CelloApiSettings {
            base_url: "http://127.0.0.1:1".into(),
            timeout: Duration::from_secs(3),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
        };
        // (3 × 3 s + 0.2 s + 0.4 s) × 2
        assert_eq!(call_budget(&api), Duration::from_millis(19_200));
    }
}
