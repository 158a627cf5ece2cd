//! This function's own settings, read once at init.

use shared::ConfigError;
use shared::config::Settings;

/// Which of Cello's environments this stack takes rewards from (`X-Cello-Env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CelloEnv {
    Sandbox,
    Prod,
}

impl CelloEnv {
    /// The header's words: `sandbox`, `prod`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sandbox" => Some(Self::Sandbox),
            "prod" => Some(Self::Prod),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Prod => "prod",
        }
    }
}

impl std::fmt::Display for CelloEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What erasure does with the person's Stripe customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StripeErasure {
    /// `keep` (the default): the customer stays (invoices there may have to be kept by law);
    /// only our records lose the person's data.
    #[default]
    Keep,
    /// `delete`: the customer is deleted at Stripe (its subscriptions end with it).
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RewardsSettings {
    /// `CELLO_ENV`: required, no default, so a sandbox reward can never reach a production
    /// balance by a forgotten setting.
    pub cello_env: CelloEnv,
    /// `ACCOUNT_DELETION=enabled`: `DELETE /account` erases the caller. Off by default.
    pub account_deletion: bool,
    /// `ERASE_STRIPE_CUSTOMER=keep|delete`.
    pub stripe_erasure: StripeErasure,
    /// The local Stripe stand-in's URL; unset in AWS.
    pub stripe_api_base: Option<String>,
}

impl RewardsSettings {
    pub fn from_settings<F: Fn(&str) -> Option<String>>(
        s: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let cello_env = s
            .parsed("CELLO_ENV", |raw| {
                CelloEnv::parse(raw).ok_or_else(|| "expected sandbox or prod".to_owned())
            })?
            .ok_or_else(|| {
                ConfigError::new(
                    "CELLO_ENV",
                    "is required (sandbox or prod: the X-Cello-Env this stack accepts rewards from)",
                )
            })?;
        // Cello's API client picks its base URL from CELLO_API_ENV: the two must agree.
        match (s.optional("CELLO_API_ENV").as_deref(), cello_env) {
            (Some("production"), CelloEnv::Sandbox) | (Some("sandbox"), CelloEnv::Prod) => {
                return Err(ConfigError::new(
                    "CELLO_ENV",
                    "does not match CELLO_API_ENV (sandbox goes with sandbox, prod with production)",
                ));
            }
            _ => {}
        }
        let account_deletion = s
            .parsed("ACCOUNT_DELETION", |raw| match raw {
                "enabled" => Ok(true),
                "disabled" => Ok(false),
                _ => Err("expected enabled or disabled".to_owned()),
            })?
            .unwrap_or(false);
        let stripe_erasure = s
            .parsed("ERASE_STRIPE_CUSTOMER", |raw| match raw {
                "keep" => Ok(StripeErasure::Keep),
                "delete" => Ok(StripeErasure::Delete),
                _ => Err("expected keep or delete".to_owned()),
            })?
            .unwrap_or_default();
        // Redirecting Stripe calls elsewhere would hand the secret key to that host.
        let stripe_api_base = s.loopback_url("STRIPE_API_BASE")?;
        Ok(Self {
            cello_env,
            account_deletion,
            stripe_erasure,
            stripe_api_base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<RewardsSettings, ConfigError> {
        RewardsSettings::from_settings(&testkit::settings(pairs))
    }

    #[test]
    fn cello_env_is_required_and_must_agree_with_the_api_env() {
        assert_eq!(settings(&[]).unwrap_err().variable, "CELLO_ENV");
        assert_eq!(
            settings(&[("CELLO_ENV", "production")])
                .unwrap_err()
                .variable,
            "CELLO_ENV"
        );
        let s = settings(&[("CELLO_ENV", "prod"), ("CELLO_API_ENV", "production")]).unwrap();
        assert_eq!(s.cello_env, CelloEnv::Prod);
        assert!(!s.account_deletion);
        assert_eq!(s.stripe_erasure, StripeErasure::Keep);
        let err =
            settings(&[("CELLO_ENV", "sandbox"), ("CELLO_API_ENV", "production")]).unwrap_err();
        assert!(err.to_string().contains("CELLO_API_ENV"), "{err}");
    }

    #[test]
    fn switches_and_named_errors() {
        let s = settings(&[
            ("CELLO_ENV", "sandbox"),
            ("ACCOUNT_DELETION", "enabled"),
            ("ERASE_STRIPE_CUSTOMER", "delete"),
            ("STRIPE_API_BASE", "http://127.0.0.1:4512"),
        ])
        .unwrap();
        assert!(s.account_deletion);
        assert_eq!(s.stripe_erasure, StripeErasure::Delete);
        for (name, value) in [
            ("ACCOUNT_DELETION", "yes"),
            ("ERASE_STRIPE_CUSTOMER", "maybe"),
            ("STRIPE_API_BASE", "https://evil.example.com"),
        ] {
            let err = settings(&[("CELLO_ENV", "sandbox"), (name, value)]).unwrap_err();
            assert_eq!(err.variable, name);
        }
    }
}
