//! The Stripe client every Stripe-calling function builds the same way (timeouts, the local
//! stand-in's base URL, `client::StripeHttp`), the classification of its failures, and the
//! key-mode check.

mod client;

use crate::config::StripeMode;
pub use client::{StripeError, StripeHttp};
use std::time::Duration;

/// Per attempt; well inside signup's claim lease, so a slow call can't outlive its claim.
pub const STRIPE_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StripeFailure {
    /// Down, rate-limited or timing out: the caller should retry later.
    #[error("Stripe is unavailable")]
    Unavailable,
    /// Stripe refused the request (bad key, invalid parameter): retrying will not help.
    #[error("Stripe refused the request: {0}")]
    Refused(String),
}

/// A Stripe client for `secret_key`. `api_base` overrides Stripe's URL (the loopback stand-in,
/// checked by the caller's settings); `None` in AWS.
pub fn client(secret_key: &str, api_base: Option<&str>) -> Result<StripeHttp, String> {
    StripeHttp::new(secret_key, api_base, STRIPE_TIMEOUT).map_err(|e| e.to_string())
}

/// A Stripe client built on the first call that needs it: most invocations of the functions
/// that hold one never call Stripe, so start-up doesn't pay for the client's TLS setup.
pub struct LazyClient {
    secret_key: crate::secrets::Secret,
    api_base: Option<String>,
    client: std::sync::OnceLock<StripeHttp>,
}

impl LazyClient {
    pub fn new(secret_key: &str, api_base: Option<&str>) -> Self {
        Self {
            secret_key: crate::secrets::Secret::new(secret_key),
            api_base: api_base.map(str::to_owned),
            client: std::sync::OnceLock::new(),
        }
    }

    /// The client, built now if this is the first call.
    pub fn get(&self) -> Result<&StripeHttp, StripeFailure> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = client(self.secret_key.expose(), self.api_base.as_deref())
            .map_err(StripeFailure::Refused)?;
        Ok(self.client.get_or_init(|| client))
    }
}

/// Busy, rate-limited, timed out or unreachable → `Unavailable`; everything else `Refused`.
pub fn classify(e: StripeError) -> StripeFailure {
    match e {
        StripeError::Api { status, code, .. } if status == 429 || status >= 500 => {
            tracing::warn!(status, code = ?code, "Stripe busy");
            StripeFailure::Unavailable
        }
        StripeError::Api {
            status,
            code,
            message,
            ..
        } => StripeFailure::Refused(format!("{status} {code:?}: {message}")),
        StripeError::Transport(_) | StripeError::Timeout(_) => StripeFailure::Unavailable,
        StripeError::Unreadable(m) => StripeFailure::Refused(format!("unreadable response: {m}")),
        StripeError::Config(m) => StripeFailure::Refused(m),
    }
}

/// Test and live keys never mixed: the environment says which kind it expects.
pub fn check_key_mode(key: &str, mode: StripeMode) -> Result<(), String> {
    let prefixes: &[&str] = if mode.is_live() {
        &["sk_live_", "rk_live_"]
    } else {
        &["sk_test_", "rk_test_"]
    };
    if prefixes.iter().any(|p| key.starts_with(p)) {
        Ok(())
    } else {
        Err(format!(
            "stripeSecretKey is not a {} key, but STRIPE_MODE is {}",
            if mode.is_live() { "live" } else { "test" },
            if mode.is_live() { "live" } else { "test" },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_match_the_mode() {
        assert!(check_key_mode("sk_test_abc", StripeMode::Test).is_ok());
        assert!(check_key_mode("rk_live_abc", StripeMode::Live).is_ok());
        let err = check_key_mode("sk_live_abc", StripeMode::Test).unwrap_err();
        assert!(err.contains("STRIPE_MODE") && !err.contains("abc"), "{err}");
        assert!(check_key_mode("sk_test_abc", StripeMode::Live).is_err());
        assert!(check_key_mode("pk_test_abc", StripeMode::Test).is_err());
    }
}
