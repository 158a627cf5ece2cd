//! This function's own settings, read once at init.

use shared::ConfigError;
use shared::config::{Settings, is_loopback_url};

#[derive(Debug, Clone, PartialEq)]
pub struct SignupSettings {
    /// How long a request may hold the claim on creating the user's Stripe customer. Longer
    /// than a Stripe call can take (8 s timeout), short enough that a crashed attempt's user
    /// can retry soon.
    pub claim_lease_seconds: i64,
    /// The local Stripe stand-in's URL; unset in AWS, where the client talks to Stripe.
    pub stripe_api_base: Option<String>,
}

pub const DEFAULT_CLAIM_LEASE_SECONDS: i64 = 30;

impl SignupSettings {
    pub fn from_settings<F: Fn(&str) -> Option<String>>(
        s: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let claim_lease_seconds = match s.seconds("SIGNUP_CLAIM_LEASE_SECONDS")? {
            None => DEFAULT_CLAIM_LEASE_SECONDS,
            Some(d) if (10..=300).contains(&d.as_secs()) => d.as_secs() as i64,
            Some(_) => {
                return Err(ConfigError::new(
                    "SIGNUP_CLAIM_LEASE_SECONDS",
                    "must be between 10 and 300 seconds",
                ));
            }
        };
        let stripe_api_base = s.optional("STRIPE_API_BASE");
        if let Some(url) = &stripe_api_base
            && !is_loopback_url(url)
        {
            // Redirecting Stripe calls elsewhere would hand the secret key to that host.
            return Err(ConfigError::new(
                "STRIPE_API_BASE",
                "may only point at a loopback stand-in (leave it unset in AWS)",
            ));
        }
        Ok(Self {
            claim_lease_seconds,
            stripe_api_base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<SignupSettings, ConfigError> {
        SignupSettings::from_settings(&testkit::settings(pairs))
    }

    #[test]
    fn defaults_and_named_errors() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.claim_lease_seconds, 30);
        assert_eq!(s.stripe_api_base, None);
        let err = settings(&[("STRIPE_API_BASE", "https://evil.example.com")]).unwrap_err();
        assert!(err.to_string().contains("STRIPE_API_BASE"), "{err}");
        let err = settings(&[("SIGNUP_CLAIM_LEASE_SECONDS", "5")]).unwrap_err();
        assert!(
            err.to_string().contains("SIGNUP_CLAIM_LEASE_SECONDS"),
            "{err}"
        );
        let ok = settings(&[("STRIPE_API_BASE", "http://127.0.0.1:4512")]).unwrap();
        assert_eq!(ok.stripe_api_base.as_deref(), Some("http://127.0.0.1:4512"));
    }
}
