//! This function's own settings, read once at init.

use crate::signer::MAX_TOKEN_TTL;
use shared::ConfigError;
use shared::config::Settings;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct TokenSettings {
    /// Set only for products that enabled Cello's token expiry: adds `exp` to every token.
    pub ttl: Option<Duration>,
    /// The widget language when neither the request nor the user's record names one.
    pub default_language: String,
}

impl TokenSettings {
    pub fn from_settings<F: Fn(&str) -> Option<String>>(
        s: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let ttl = s.seconds("CELLO_TOKEN_TTL_SECONDS")?;
        if let Some(ttl) = ttl
            && !(Duration::from_secs(60)..=MAX_TOKEN_TTL).contains(&ttl)
        {
            return Err(ConfigError::new(
                "CELLO_TOKEN_TTL_SECONDS",
                "must be between 60 and 86400 (Cello's 24 h token expiry)",
            ));
        }
        let default_language = match s.optional("CELLO_DEFAULT_LANGUAGE") {
            Some(l) => shared::field::Language::parse("CELLO_DEFAULT_LANGUAGE", &l)
                .map_err(|e| ConfigError::new("CELLO_DEFAULT_LANGUAGE", e.message))?
                .into_string(),
            None => "en".to_owned(),
        };
        Ok(Self {
            ttl,
            default_language,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<TokenSettings, ConfigError> {
        TokenSettings::from_settings(&testkit::settings(pairs))
    }

    #[test]
    fn defaults_to_no_expiry_and_english() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.ttl, None);
        assert_eq!(s.default_language, "en");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = settings(&[("CELLO_TOKEN_TTL_SECONDS", "172800")]).unwrap_err();
        assert!(err.to_string().contains("CELLO_TOKEN_TTL_SECONDS"), "{err}");
        let err = settings(&[("CELLO_DEFAULT_LANGUAGE", "klingon!")]).unwrap_err();
        assert!(err.to_string().contains("CELLO_DEFAULT_LANGUAGE"), "{err}");
        let ok = settings(&[("CELLO_TOKEN_TTL_SECONDS", "86400")]).unwrap();
        assert_eq!(ok.ttl, Some(MAX_TOKEN_TTL));
    }
}
