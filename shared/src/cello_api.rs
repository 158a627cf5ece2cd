//! Cello's REST API (`../shared/CELLO.md` §5), for the functions that report to it or ask it:
//! the access token exchanged once per container and refreshed before it expires (one refresh
//! at a time), events, referral codes, new-user rewards and depersonalization. Calls time out,
//! and 429, 5xx, timeouts and connection failures are retried with backoff and jitter; a 4xx is
//! not. Cello's request id is logged; the keys and the token never are.
//!
//! Built on the same hyper + rustls (aws-lc-rs, webpki roots) stack as the Stripe client, so a
//! function that has one pays little for the other.

use crate::config::{ConfigError, Settings};
use crate::secrets::{AppSecrets, Secret};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const SANDBOX_BASE: &str = "https://api.sandbox.cello.so";
pub const PRODUCTION_BASE: &str = "https://api.cello.so";

/// Refresh this long before Cello says the token expires, so no call carries a dying token.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Where and how to call Cello's API. `keys` is `None` when the environment's secret has no
/// API keys: the API is then not configured and callers use their fallback.
#[derive(Clone, Debug)]
pub struct CelloApiSettings {
    pub base_url: String,
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it, with full jitter.
    pub backoff: Duration,
}

impl CelloApiSettings {
    /// `CELLO_API_ENV` (`sandbox`, the default, or `production`) picks the base URL;
    /// `CELLO_API_BASE` overrides it with a loopback stand-in only (as `STRIPE_API_BASE` does);
    /// `CELLO_API_TIMEOUT_MS` (default 3000) bounds each attempt.
    pub fn from_settings<F: Fn(&str) -> Option<String>>(
        s: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let env_base = match s.optional("CELLO_API_ENV").as_deref() {
            None | Some("sandbox") => SANDBOX_BASE,
            Some("production") => PRODUCTION_BASE,
            Some(_) => {
                return Err(ConfigError::new(
                    "CELLO_API_ENV",
                    "must be sandbox or production",
                ));
            }
        };
        // Redirecting Cello calls elsewhere would hand the API keys to that host.
        let base_url = s
            .loopback_url("CELLO_API_BASE")?
            .unwrap_or_else(|| env_base.to_owned());
        let timeout_ms = s
            .parsed("CELLO_API_TIMEOUT_MS", |raw| {
                raw.parse::<u64>()
                    .ok()
                    .filter(|ms| (100..=20_000).contains(ms))
                    .ok_or_else(|| "expected 100 to 20000 milliseconds".to_owned())
            })?
            .unwrap_or(3_000);
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout: Duration::from_millis(timeout_ms),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
        })
    }
}

/// A call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CelloApiError {
    /// Busy, failing, timing out or unreachable after every attempt: try again later.
    #[error("Cello's API is unavailable: {0}")]
    Unavailable(String),
    /// Cello refused the request (4xx): retrying the same request will not help.
    #[error("Cello refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// The access key pair was refused.
    #[error("Cello refused the API keys")]
    Unauthorized,
}

impl CelloApiError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// `context.event.trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    NewSignup,
    DemoCallAttended,
    InvoicePaid,
    ChargeRefunded,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewSignup => "new-signup",
            Self::DemoCallAttended => "demo-call-attended",
            Self::InvoicePaid => "invoice-paid",
            Self::ChargeRefunded => "charge-refunded",
        }
    }
}

/// `context.subscription.interval`: Cello's words, never Stripe's ("month").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interval {
    OneTime,
    Weekly,
    BiWeekly,
    Monthly,
    Quarterly,
    SemiAnnual,
    Yearly,
    Biennial,
    Triennial,
    Lifetime,
}

impl Interval {
    /// Stripe's recurrence (`day|week|month|year` × count) in Cello's words; a one-off price is
    /// `one-time`; anything Cello has no word for is `None` (reported as a finding, not guessed).
    pub fn from_stripe(interval: Option<&str>, count: Option<i64>) -> Option<Self> {
        let count = count.unwrap_or(1);
        Some(match (interval?, count) {
            ("week", 1) => Self::Weekly,
            ("week", 2) => Self::BiWeekly,
            ("month", 1) => Self::Monthly,
            ("month", 3) => Self::Quarterly,
            ("month", 6) => Self::SemiAnnual,
            ("month", 12) | ("year", 1) => Self::Yearly,
            ("month", 24) | ("year", 2) => Self::Biennial,
            ("month", 36) | ("year", 3) => Self::Triennial,
            _ => return None,
        })
    }
}

/// `POST /events`, as Cello documents it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_name: String,
    pub payload: EventPayload,
    pub context: EventContext,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPayload {
    pub ucc: String,
    pub new_user_id: String,
    /// In the currency's major units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventContext {
    pub new_user: NewUser,
    pub event: EventMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionContext>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMeta {
    pub trigger: Trigger,
    /// RFC 3339, UTC.
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionContext {
    /// The subscription's id, as Cello's examples send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub invoice_id: String,
    pub interval: Interval,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
}

impl Event {
    /// A `ReferralUpdated` event, the only name Cello documents.
    pub fn referral_updated(payload: EventPayload, context: EventContext) -> Self {
        Self {
            event_name: "ReferralUpdated".into(),
            payload,
            context,
        }
    }
}

/// `GET /referral-codes/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferralCode {
    pub code: String,
    #[serde(default)]
    pub product_user_id: Option<String>,
    #[serde(default)]
    pub valid: bool,
    #[serde(default)]
    pub campaign_id: Option<String>,
}

/// `GET /new-users/{productUserId}/reward`: whether the new user gets a discount, and which.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUserReward {
    #[serde(default)]
    pub eligible: bool,
    #[serde(default)]
    pub reward: Option<Reward>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reward {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub interval_count: Option<u32>,
    #[serde(default)]
    pub percentage: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct AccessToken {
    value: Secret,
    refresh_at: Instant,
}

/// The client. One per container; cheap to share by reference.
pub struct CelloApi {
    http: crate::https::HttpsClient,
    settings: CelloApiSettings,
    access_key_id: Secret,
    secret_access_key: Secret,
    token: Mutex<Option<AccessToken>>,
}

impl std::fmt::Debug for CelloApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelloApi")
            .field("base_url", &self.settings.base_url)
            .finish_non_exhaustive()
    }
}

impl CelloApi {
    /// The client for the secret's API keys, or `None` when the secret has none (the API is
    /// optional: callers fall back, and say so in their logs).
    pub fn from_secrets(secrets: &AppSecrets, settings: CelloApiSettings) -> Option<Self> {
        let (id, key) = (
            secrets.cello_api_access_key_id.as_ref()?,
            secrets.cello_api_secret_access_key.as_ref()?,
        );
        Some(Self::new(id.clone(), key.clone(), settings))
    }

    pub fn new(
        access_key_id: Secret,
        secret_access_key: Secret,
        settings: CelloApiSettings,
    ) -> Self {
        Self {
            http: Client::builder(TokioExecutor::new()).build(crate::https::connector()),
            settings,
            access_key_id,
            secret_access_key,
            token: Mutex::new(None),
        }
    }

    /// `POST /events`.
    pub async fn send_event(&self, event: &Event) -> Result<(), CelloApiError> {
        let body = serde_json::to_vec(event).map_err(|e| CelloApiError::Refused {
            status: 0,
            message: format!("unserialisable event: {e}"),
        })?;
        self.authorized(Method::POST, "/events", Some(body))
            .await
            .map(|_| ())
    }

    /// `GET /referral-codes/{code}`; `None` when Cello does not know the code.
    pub async fn referral_code(&self, code: &str) -> Result<Option<ReferralCode>, CelloApiError> {
        let path = format!("/referral-codes/{}", path_segment(code));
        match self.authorized(Method::GET, &path, None).await {
            Ok(body) => parse(&body).map(Some),
            Err(CelloApiError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /new-users/{productUserId}/reward`.
    pub async fn new_user_reward(
        &self,
        product_user_id: &str,
    ) -> Result<NewUserReward, CelloApiError> {
        let path = format!("/new-users/{}/reward", path_segment(product_user_id));
        parse(&self.authorized(Method::GET, &path, None).await?)
    }

    /// `POST /referrers/{productUserId}/depersonalize` (GDPR erasure at Cello).
    pub async fn depersonalize(&self, product_user_id: &str) -> Result<(), CelloApiError> {
        let path = format!("/referrers/{}/depersonalize", path_segment(product_user_id));
        self.authorized(Method::POST, &path, Some(b"{}".to_vec()))
            .await
            .map(|_| ())
    }

    /// A call with the access token; a 401 refreshes the token once and tries again.
    async fn authorized(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, CelloApiError> {
        let token = self.access_token(false).await?;
        match self.call(&method, path, body.clone(), Some(&token)).await {
            Err(CelloApiError::Refused { status: 401, .. }) => {
                let token = self.access_token(true).await?;
                self.call(&method, path, body, Some(&token)).await
            }
            other => other,
        }
    }

    /// The cached access token, exchanged when absent, due, or `force`d. The lock makes
    /// concurrent callers wait for one exchange instead of each making their own.
    async fn access_token(&self, force: bool) -> Result<Secret, CelloApiError> {
        let mut cached = self.token.lock().await;
        if !force
            && let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let body = serde_json::json!({
            "accessKeyId": self.access_key_id.expose(),
            "secretAccessKey": self.secret_access_key.expose(),
        })
        .to_string()
        .into_bytes();
        let answer: TokenAnswer = match self.call(&Method::POST, "/token", Some(body), None).await {
            Ok(bytes) => parse(&bytes)?,
            Err(CelloApiError::Refused {
                status: 400 | 401 | 403,
                ..
            }) => return Err(CelloApiError::Unauthorized),
            Err(e) => return Err(e),
        };
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(18_000));
        let token = AccessToken {
            value: Secret::new(answer.access_token),
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
        };
        let value = token.value.clone();
        *cached = Some(token);
        tracing::info!(
            expires_in_s = lifetime.as_secs(),
            "Cello access token obtained"
        );
        Ok(value)
    }

    /// One request with retries: 429, 5xx, timeouts and connection failures are retried after a
    /// jittered, doubling backoff (or Retry-After, when Cello gives one and it is short).
    async fn call(
        &self,
        method: &Method,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&Secret>,
    ) -> Result<Bytes, CelloApiError> {
        let url = format!("{}{path}", self.settings.base_url);
        let mut last = String::new();
        for attempt in 1..=self.settings.max_attempts {
            let started = Instant::now();
            let outcome = self.attempt(method, &url, body.as_deref(), token).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let retry_after = match outcome {
                Attempt::Done(status, request_id, bytes) if status.is_success() => {
                    tracing::info!(%method, path, status = status.as_u16(), request_id, elapsed_ms, "Cello API");
                    return Ok(bytes);
                }
                Attempt::Done(status, request_id, bytes)
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
                {
                    tracing::warn!(%method, path, status = status.as_u16(), request_id, attempt, elapsed_ms, "Cello API busy");
                    last = format!("{status}");
                    let _ = bytes;
                    None
                }
                Attempt::Throttled(retry_after, request_id) => {
                    tracing::warn!(%method, path, status = 429, request_id, attempt, elapsed_ms, "Cello API throttled");
                    last = "429 Too Many Requests".into();
                    retry_after
                }
                Attempt::Done(status, request_id, bytes) => {
                    let message = refusal_message(&bytes);
                    tracing::warn!(%method, path, status = status.as_u16(), request_id, %message, "Cello API refused");
                    return Err(CelloApiError::Refused {
                        status: status.as_u16(),
                        message,
                    });
                }
                Attempt::Failed(why) => {
                    tracing::warn!(%method, path, attempt, elapsed_ms, reason = %why, "Cello API unreachable");
                    last = why;
                    None
                }
            };
            if attempt < self.settings.max_attempts {
                tokio::time::sleep(retry_after.unwrap_or_else(|| self.backoff(attempt))).await;
            }
        }
        Err(CelloApiError::Unavailable(last))
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        token: Option<&Secret>,
    ) -> Attempt {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        let request = match builder.body(Full::new(Bytes::from(body.unwrap_or_default().to_vec())))
        {
            Ok(r) => r,
            Err(e) => return Attempt::Failed(format!("request: {e}")),
        };
        let exchange = async {
            let response = self.http.request(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = http_body_util::Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((status, headers, body))
        };
        match tokio::time::timeout(self.settings.timeout, crate::timing::round_trip(exchange)).await
        {
            Err(_) => Attempt::Failed(format!("timed out after {:?}", self.settings.timeout)),
            Ok(Err(e)) => Attempt::Failed(format!("connection: {e}")),
            Ok(Ok((status, headers, bytes))) => {
                let request_id = headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    let retry_after = headers
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .filter(|s| *s <= 5)
                        .map(Duration::from_secs);
                    Attempt::Throttled(retry_after, request_id)
                } else {
                    Attempt::Done(status, request_id, bytes)
                }
            }
        }
    }

    /// Full jitter over a doubling window: `random(0, backoff × 2^(attempt-1))`.
    fn backoff(&self, attempt: u32) -> Duration {
        let window = self.settings.backoff.as_millis() as u64 * (1u64 << (attempt - 1).min(6));
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Duration::from_millis(random % window.max(1))
    }
}

enum Attempt {
    Done(StatusCode, String, Bytes),
    Throttled(Option<Duration>, String),
    Failed(String),
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CelloApiError> {
    serde_json::from_slice(bytes).map_err(|e| CelloApiError::Refused {
        status: 200,
        message: format!("unreadable answer: {e}"),
    })
}

/// Cello's `message` (or the start of the body), without control characters, for logs and
/// dead-letter records. Never the request's own content.
fn refusal_message(bytes: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// A path segment with everything but unreserved characters percent-encoded.
fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<CelloApiSettings, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CelloApiSettings::from_settings(&Settings::new(move |k| map.get(k).cloned()))
    }

    #[test]
    fn base_urls_per_environment_and_a_loopback_only_override() {
        assert_eq!(settings(&[]).unwrap().base_url, SANDBOX_BASE);
        assert_eq!(
            settings(&[("CELLO_API_ENV", "production")])
                .unwrap()
                .base_url,
            PRODUCTION_BASE
        );
        assert!(settings(&[("CELLO_API_ENV", "prod")]).is_err());
        let local = settings(&[("CELLO_API_BASE", "http://127.0.0.1:4517/")]).unwrap();
        assert_eq!(local.base_url, "http://127.0.0.1:4517");
        let err = settings(&[("CELLO_API_BASE", "https://evil.example.com")]).unwrap_err();
        assert!(err.to_string().contains("CELLO_API_BASE"), "{err}");
        assert!(settings(&[("CELLO_API_TIMEOUT_MS", "5")]).is_err());
    }

    #[test]
    fn stripe_recurrence_in_cellos_words() {
        use Interval as I;
        for (interval, count, want) in [
            ("week", 1, Some(I::Weekly)),
            ("week", 2, Some(I::BiWeekly)),
            ("month", 1, Some(I::Monthly)),
            ("month", 3, Some(I::Quarterly)),
            ("month", 6, Some(I::SemiAnnual)),
            ("year", 1, Some(I::Yearly)),
            ("year", 2, Some(I::Biennial)),
            ("year", 3, Some(I::Triennial)),
            ("day", 1, None),
            ("month", 2, None),
        ] {
            assert_eq!(
                I::from_stripe(Some(interval), Some(count)),
                want,
                "{interval}×{count}"
            );
        }
        assert_eq!(serde_json::to_value(I::SemiAnnual).unwrap(), "semi-annual");
        assert_eq!(serde_json::to_value(I::BiWeekly).unwrap(), "bi-weekly");
        assert_eq!(
            serde_json::to_value(Trigger::InvoicePaid).unwrap(),
            "invoice-paid"
        );
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("user-1_a.b~c"), "user-1_a.b~c");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
    }

    #[test]
    fn refusal_messages_are_cellos_without_control_characters() {
        assert_eq!(
            refusal_message(br#"{"success":false,"message":"interval\nbad"}"#),
            "intervalbad"
        );
        assert_eq!(refusal_message(b"plain"), "plain");
    }
}
