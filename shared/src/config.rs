//! Typed configuration, read once at init from the environment. A missing or invalid setting
//! fails start-up with a message that names the variable, instead of failing the first request.

use std::fmt;
use std::time::Duration;

/// A setting that is missing or cannot be used; its message names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {} {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn new(variable: &str, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Reads settings from a lookup function, so tests can pass a map instead of the process env.
pub struct Settings<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

/// The process environment as a settings source.
pub fn from_env() -> Settings<impl Fn(&str) -> Option<String>> {
    Settings::new(|name| std::env::var(name).ok())
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The trimmed value, treating an empty value as unset.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str, what: &str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| ConfigError::new(name, format!("is required ({what})")))
    }

    /// Parses an optional value with `parse`, whose error text explains the expected form.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.optional(name) {
            None => Ok(None),
            Some(raw) => parse(&raw)
                .map(Some)
                .map_err(|why| ConfigError::new(name, format!("is invalid: {why}"))),
        }
    }

    /// A base URL that may only point at a loopback stand-in (`STRIPE_API_BASE`,
    /// `CELLO_API_BASE`): sending the API's key to any other host would hand it over.
    pub fn loopback_url(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.optional(name) {
            Some(url) if !is_loopback_url(&url) => Err(ConfigError::new(
                name,
                "may only point at a loopback stand-in (leave it unset in AWS)",
            )),
            other => Ok(other),
        }
    }

    pub fn seconds(&self, name: &str) -> Result<Option<Duration>, ConfigError> {
        self.parsed(name, |raw| {
            raw.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| format!("expected a whole number of seconds, got {raw:?}"))
        })
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|raw| {
                raw.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Where the application secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSourceKind {
    /// The JSON secret named by `SECRET_ID` in Secrets Manager (the default, in AWS and locally).
    SecretsManager { secret_id: String },
    /// Individual environment variables; a documented fallback only.
    Env,
}

/// How callers are identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Claims placed in the request context by API Gateway's JWT authorizer (deployed stacks).
    ApiGatewayJwt,
    /// The function verifies an HS256 bearer token itself (local development only).
    Local { secret: String },
}

/// Whether the environment runs against Stripe's test or live mode; keys and events from the
/// other mode are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeMode {
    Test,
    Live,
}

impl StripeMode {
    pub fn is_live(self) -> bool {
        self == StripeMode::Live
    }
}

/// Settings every function shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub table_name: String,
    pub secret_source: SecretSourceKind,
    pub secret_cache_ttl: Duration,
    pub auth_mode: AuthMode,
    pub cors_allowed_origins: Vec<String>,
    pub stripe_mode: StripeMode,
}

pub const DEFAULT_SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

impl CommonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&from_env())
    }

    pub fn from_settings<F: Fn(&str) -> Option<String>>(
        s: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let table_name = s.required("TABLE_NAME", "the DynamoDB table of users and events")?;
        let secret_source = match s.optional("SECRET_SOURCE").as_deref() {
            None | Some("secretsmanager") => SecretSourceKind::SecretsManager {
                secret_id: s.required("SECRET_ID", "the Secrets Manager secret's name or ARN")?,
            },
            Some("env") => SecretSourceKind::Env,
            Some(other) => {
                return Err(ConfigError::new(
                    "SECRET_SOURCE",
                    format!("is invalid: expected \"secretsmanager\" or \"env\", got {other:?}"),
                ));
            }
        };
        let secret_cache_ttl = s
            .seconds("SECRET_CACHE_TTL_SECONDS")?
            .unwrap_or(DEFAULT_SECRET_CACHE_TTL);
        let auth_mode = match s.optional("AUTH_MODE").as_deref() {
            None | Some("jwt-authorizer") => AuthMode::ApiGatewayJwt,
            Some("local") => local_auth_mode(s)?,
            Some(other) => {
                return Err(ConfigError::new(
                    "AUTH_MODE",
                    format!("is invalid: expected \"jwt-authorizer\" or \"local\", got {other:?}"),
                ));
            }
        };
        let stripe_mode = match s.optional("STRIPE_MODE").as_deref() {
            Some("test") => StripeMode::Test,
            Some("live") => StripeMode::Live,
            None => {
                return Err(ConfigError::new(
                    "STRIPE_MODE",
                    "is required (\"test\" or \"live\": the Stripe mode this environment expects)",
                ));
            }
            Some(other) => {
                return Err(ConfigError::new(
                    "STRIPE_MODE",
                    format!("is invalid: expected \"test\" or \"live\", got {other:?}"),
                ));
            }
        };
        Ok(Self {
            table_name,
            secret_source,
            secret_cache_ttl,
            auth_mode,
            cors_allowed_origins: s.list("CORS_ALLOWED_ORIGINS"),
            stripe_mode,
        })
    }
}

/// `AUTH_MODE=local` trusts a development secret, so it must never switch on in a deployed stack.
/// The guard: every AWS endpoint must be overridden to a loopback address, which is only true on
/// a developer's machine or in CI. The SAM template never sets `AUTH_MODE` at all.
fn local_auth_mode<F: Fn(&str) -> Option<String>>(
    s: &Settings<F>,
) -> Result<AuthMode, ConfigError> {
    let endpoints = [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    ];
    let set: Vec<String> = endpoints.iter().filter_map(|n| s.optional(n)).collect();
    if set.is_empty() || !set.iter().all(|url| is_loopback_url(url)) {
        return Err(ConfigError::new(
            "AUTH_MODE",
            "is \"local\", which is refused unless the AWS endpoints (AWS_ENDPOINT_URL*) point \
             to loopback stand-ins: local sign-in must never be enabled in a deployed stack",
        ));
    }
    let secret = s.required("LOCAL_AUTH_SECRET", "the HS256 secret of local user tokens")?;
    if secret.len() < 16 {
        return Err(ConfigError::new(
            "LOCAL_AUTH_SECRET",
            "is too short (at least 16 characters)",
        ));
    }
    Ok(AuthMode::Local { secret })
}

pub fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        rest.split([':', '/']).next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::new(move |k| map.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        ("TABLE_NAME", "users"),
        ("SECRET_ID", "cello/dev"),
        ("STRIPE_MODE", "test"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(extra);
        all
    }

    #[test]
    fn reads_a_complete_configuration() {
        let cfg = CommonConfig::from_settings(&settings(&with(&[(
            "CORS_ALLOWED_ORIGINS",
            "http://localhost:5173, https://app.example.com",
        )])))
        .unwrap();
        assert_eq!(cfg.table_name, "users");
        assert_eq!(
            cfg.secret_source,
            SecretSourceKind::SecretsManager {
                secret_id: "cello/dev".into()
            }
        );
        assert_eq!(cfg.auth_mode, AuthMode::ApiGatewayJwt);
        assert_eq!(cfg.stripe_mode, StripeMode::Test);
        assert_eq!(cfg.secret_cache_ttl, DEFAULT_SECRET_CACHE_TTL);
        assert_eq!(
            cfg.cors_allowed_origins,
            vec!["http://localhost:5173", "https://app.example.com"]
        );
    }

    #[test]
    fn a_missing_setting_is_named() {
        let err = CommonConfig::from_settings(&settings(&[("SECRET_ID", "x")])).unwrap_err();
        assert_eq!(err.variable, "TABLE_NAME");
        assert!(err.to_string().contains("TABLE_NAME is required"), "{err}");
    }

    #[test]
    fn an_invalid_setting_is_named_with_its_value() {
        let err =
            CommonConfig::from_settings(&settings(&with(&[("SECRET_CACHE_TTL_SECONDS", "five")])))
                .unwrap_err();
        assert_eq!(err.variable, "SECRET_CACHE_TTL_SECONDS");
        assert!(err.problem.contains("\"five\""), "{err}");
    }

    #[test]
    fn stripe_mode_is_required() {
        let err =
            CommonConfig::from_settings(&settings(&[("TABLE_NAME", "t"), ("SECRET_ID", "s")]))
                .unwrap_err();
        assert_eq!(err.variable, "STRIPE_MODE");
    }

    #[test]
    fn local_auth_is_refused_without_loopback_endpoints() {
        let err = CommonConfig::from_settings(&settings(&with(&[
            ("AUTH_MODE", "local"),
            ("LOCAL_AUTH_SECRET", "0123456789abcdef0123"),
        ])))
        .unwrap_err();
        assert_eq!(err.variable, "AUTH_MODE");

        let err = CommonConfig::from_settings(&settings(&with(&[
            ("AUTH_MODE", "local"),
            ("LOCAL_AUTH_SECRET", "0123456789abcdef0123"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                "https://secretsmanager.eu-west-1.amazonaws.com",
            ),
        ])))
        .unwrap_err();
        assert_eq!(err.variable, "AUTH_MODE");
    }

    #[test]
    fn local_auth_is_accepted_against_loopback_stand_ins() {
        let cfg = CommonConfig::from_settings(&settings(&with(&[
            ("AUTH_MODE", "local"),
            ("LOCAL_AUTH_SECRET", "0123456789abcdef0123"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://localhost:4566"),
        ])))
        .unwrap();
        assert!(matches!(cfg.auth_mode, AuthMode::Local { .. }));
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback_url("http://127.0.0.1:8000"));
        assert!(is_loopback_url("http://127.5.0.1"));
        assert!(is_loopback_url("http://[::1]:8000/"));
        assert!(is_loopback_url("http://localhost:1"));
        assert!(!is_loopback_url("http://localhost.evil.com:1"));
        assert!(!is_loopback_url("https://dynamodb.us-east-1.amazonaws.com"));
        assert!(!is_loopback_url("http://10.0.0.1:8000"));
    }
}
