//! This function's own settings, read once at init.

use shared::ConfigError;
use shared::config::Settings;

#[derive(Debug, Clone, PartialEq)]
pub struct SignupSettings {
    /// How long a request may hold the claim on creating the user's Stripe customer. Longer
    /// than a Stripe call can take (8 s timeout), short enough that a crashed attempt's user
    /// can retry soon.
    pub claim_lease_seconds: i64,
    /// The local Stripe stand-in's URL; unset in AWS, where the client talks to Stripe.
    pub stripe_api_base: Option<String>,
    /// `TRUST_IDENTITY_PROVIDER_EMAILS=true`: the identity provider only issues proven
    /// addresses, so a token's email counts as proven without `email_verified`. Off by default.
    pub trust_identity_provider_emails: bool,
    /// What a signup without a proven email gets (`UNVERIFIED_EMAIL_POLICY`).
    pub unverified_email: UnverifiedEmail,
}

/// The product's choice for a signup whose email nobody proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnverifiedEmail {
    /// `refuse` (the default): 403, a verified email is needed.
    #[default]
    Refuse,
    /// `store-unproven`: keep the address on the user, never claimed, never sent to Stripe.
    StoreUnproven,
}

pub const DEFAULT_CLAIM_LEASE_SECONDS: i64 = 30;

impl Default for SignupSettings {
    fn default() -> Self {
        Self {
            claim_lease_seconds: DEFAULT_CLAIM_LEASE_SECONDS,
            stripe_api_base: None,
            trust_identity_provider_emails: false,
            unverified_email: UnverifiedEmail::Refuse,
        }
    }
}

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
        // Redirecting Stripe calls elsewhere would hand the secret key to that host.
        let stripe_api_base = s.loopback_url("STRIPE_API_BASE")?;
        let trust_identity_provider_emails = s
            .parsed("TRUST_IDENTITY_PROVIDER_EMAILS", |raw| match raw {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("expected true or false".to_owned()),
            })?
            .unwrap_or(false);
        let unverified_email = s
            .parsed("UNVERIFIED_EMAIL_POLICY", |raw| match raw {
                "refuse" => Ok(UnverifiedEmail::Refuse),
                "store-unproven" => Ok(UnverifiedEmail::StoreUnproven),
                _ => Err("expected refuse or store-unproven".to_owned()),
            })?
            .unwrap_or_default();
        Ok(Self {
            claim_lease_seconds,
            stripe_api_base,
            trust_identity_provider_emails,
            unverified_email,
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
        assert!(!s.trust_identity_provider_emails);
        assert_eq!(s.unverified_email, UnverifiedEmail::Refuse);
        let s = settings(&[
            ("TRUST_IDENTITY_PROVIDER_EMAILS", "true"),
            ("UNVERIFIED_EMAIL_POLICY", "store-unproven"),
        ])
        .unwrap();
        assert!(s.trust_identity_provider_emails);
        assert_eq!(s.unverified_email, UnverifiedEmail::StoreUnproven);
        for (name, value) in [
            ("TRUST_IDENTITY_PROVIDER_EMAILS", "yes"),
            ("UNVERIFIED_EMAIL_POLICY", "allow"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        let ok = settings(&[("STRIPE_API_BASE", "http://127.0.0.1:4512")]).unwrap();
        assert_eq!(ok.stripe_api_base.as_deref(), Some("http://127.0.0.1:4512"));
    }
}
