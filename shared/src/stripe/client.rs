//! Stripe's API over the hyper + rustls stack the functions already carry for Cello's API, as an
//! implementation of async-stripe's `StripeClient` trait: async-stripe's request builders,
//! request strategies (idempotency keys, retries with backoff, `Stripe-Should-Retry`) and typed
//! answers work with it unchanged.
//!
//! Why not async-stripe's own client: it reads every error answer into `ApiErrors`, which embeds
//! a whole `PaymentIntent`, `PaymentMethod`, `SetupIntent` and `PaymentSource`, and so compiles
//! their deserializers into every binary that calls Stripe, whatever it calls: 5.5 of signup's
//! 12.2 MB (docs/performance.md). Here an error answer is read for what is logged and decided
//! on: its status, `type`, `code` and `message`.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use stripe_client_core::{
    CustomizedStripeRequest, Outcome, RequestBuilder, RequestStrategy, StripeClient,
    StripeClientErr, StripeMethod,
};

const DEFAULT_API_BASE: &str = "https://api.stripe.com/";
const USER_AGENT_VALUE: &str = "Stripe/v1 cello-referral (async-stripe-client-core)";
/// Stripe's answers to the calls made here are a few KB; an error page is not read past this.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A failed Stripe call. Never carries the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error status.
    #[error("Stripe answered {status} ({kind:?}, {code:?}): {message}")]
    Api {
        status: u16,
        /// Stripe's error `type` (`invalid_request_error`, `card_error`, `api_error`...).
        kind: Option<String>,
        code: Option<String>,
        message: String,
    },
    /// No answer: connection refused or reset, TLS, DNS.
    #[error("no answer from Stripe: {0}")]
    Transport(String),
    #[error("Stripe did not answer within {0:?}")]
    Timeout(Duration),
    /// An answer that is not what the request's type expects.
    #[error("unreadable answer from Stripe: {0}")]
    Unreadable(String),
    #[error("Stripe client configuration: {0}")]
    Config(String),
}

impl StripeClientErr for StripeError {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        Self::Unreadable(msg.to_string())
    }
}

/// The body of a Stripe error answer, the fields read.
#[derive(miniserde::Deserialize)]
struct ErrorAnswer {
    error: ErrorFields,
}

#[derive(miniserde::Deserialize)]
struct ErrorFields {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

fn api_error(status: u16, body: &[u8]) -> StripeError {
    let fields = std::str::from_utf8(body)
        .ok()
        .and_then(|text| miniserde::json::from_str::<ErrorAnswer>(text).ok())
        .map(|answer| answer.error);
    match fields {
        Some(e) => StripeError::Api {
            status,
            kind: e.kind,
            code: e.code,
            message: e.message.unwrap_or_default(),
        },
        None => StripeError::Api {
            status,
            kind: None,
            code: None,
            message: "an error answer without Stripe's error object".into(),
        },
    }
}

/// One per container; cheap to share by reference.
pub struct StripeHttp {
    http: crate::https::HttpsClient,
    /// Ends with `/`; requests go to `<api_base>v1<path>`.
    api_base: String,
    authorization: HeaderValue,
    stripe_version: HeaderValue,
    timeout: Duration,
}

impl std::fmt::Debug for StripeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeHttp")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl StripeHttp {
    /// `api_base` overrides Stripe's URL (the loopback stand-in, checked by the caller's
    /// settings); `None` in AWS. `timeout` is per attempt.
    pub fn new(
        secret_key: &str,
        api_base: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, StripeError> {
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {secret_key}")).map_err(|_| {
                StripeError::Config("the secret key is not a valid header value".into())
            })?;
        authorization.set_sensitive(true);
        let api_base = match api_base {
            Some(base) => format!("{}/", base.trim_end_matches('/')),
            None => DEFAULT_API_BASE.to_owned(),
        };
        // As async-stripe's client: no idle connections kept, so a container thawed after a
        // long pause never writes to a connection Stripe has closed (a create is sent once).
        Ok(Self {
            http: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(crate::https::connector()),
            api_base,
            authorization,
            stripe_version: HeaderValue::from_str(stripe_client_core::VERSION.as_str())
                .map_err(|_| StripeError::Config("the API version is not a header value".into()))?,
            timeout,
        })
    }

    fn request(
        &self,
        req: &RequestBuilder,
        key: Option<&str>,
    ) -> Result<Request<Full<Bytes>>, StripeError> {
        let mut uri = format!("{}v1{}", self.api_base, req.path);
        if let Some(query) = &req.query {
            uri.push('?');
            uri.push_str(query);
        }
        let method = match req.method {
            StripeMethod::Get => Method::GET,
            StripeMethod::Post => Method::POST,
            StripeMethod::Delete => Method::DELETE,
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(
                HeaderName::from_static("stripe-version"),
                self.stripe_version.clone(),
            );
        if let Some(key) = key {
            builder = builder.header(HeaderName::from_static("idempotency-key"), key);
        }
        if req.body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let body = Bytes::from(req.body.clone().unwrap_or_default());
        builder
            .body(Full::new(body))
            .map_err(|e| StripeError::Config(format!("request: {e}")))
    }

    /// One attempt: the status, Stripe's `Stripe-Should-Retry`, the body.
    async fn attempt(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(u16, Option<bool>, Bytes), StripeError> {
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| StripeError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let should_retry = response
                .headers()
                .get("stripe-should-retry")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| StripeError::Transport(e.to_string()))?
                .to_bytes();
            Ok((status, should_retry, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(StripeError::Timeout(timeout)))
    }

    /// Sends `req` as its strategy says: once, or retried with the same idempotency key while
    /// the answer is retryable (409, 424, 429, 5xx, no answer) and Stripe does not say otherwise.
    async fn send(&self, req: CustomizedStripeRequest) -> Result<Bytes, StripeError> {
        let (req, config) = req.into_pieces();
        let strategy = config.request_strategy.unwrap_or(RequestStrategy::Once);
        let timeout = config.timeout.unwrap_or(self.timeout);
        let key = strategy.get_key();
        let request = self.request(&req, key.as_ref().map(|k| k.as_str()))?;
        let (mut tries, mut last_status, mut last_should_retry) = (0u32, None, None);
        let mut last_error = StripeError::Config("the request strategy allows no attempt".into());
        loop {
            match strategy.test(last_status, last_should_retry, tries) {
                Outcome::Stop => return Err(last_error),
                Outcome::Continue(delay) => {
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                }
            }
            tries += 1;
            match self.attempt(request.clone(), timeout).await {
                Ok((status, _, body)) if (200..300).contains(&status) => return Ok(body),
                Ok((status, should_retry, body)) => {
                    tracing::warn!(status, attempt = tries, "Stripe answered an error");
                    last_error = api_error(status, &body);
                    last_status = Some(status);
                    last_should_retry = should_retry;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt = tries, "Stripe call failed");
                    last_error = e;
                }
            }
        }
    }
}

impl StripeClient for StripeHttp {
    type Err = StripeError;

    fn execute(
        &self,
        req: CustomizedStripeRequest,
    ) -> impl std::future::Future<Output = Result<Bytes, StripeError>> + Send {
        crate::timing::round_trip(self.send(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_is_read_for_its_type_code_and_message_only() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"resource_missing",
            "message":"No such customer: 'cus_x'","param":"id",
            "payment_intent":{"id":"pi_1","object":"payment_intent","amount":100}}}"#;
        assert_eq!(
            api_error(404, body),
            StripeError::Api {
                status: 404,
                kind: Some("invalid_request_error".into()),
                code: Some("resource_missing".into()),
                message: "No such customer: 'cus_x'".into(),
            }
        );
        let StripeError::Api { status, code, .. } = api_error(502, b"<html>bad gateway</html>")
        else {
            panic!("an error status is an Api error whatever its body");
        };
        assert_eq!((status, code), (502, None));
    }

    #[test]
    fn requests_carry_the_key_the_version_and_the_idempotency_key_and_never_show_the_key() {
        let client = StripeHttp::new(
            "sk_test_123",
            Some("http://127.0.0.1:9/"),
            Duration::from_secs(1),
        )
        .unwrap();
        let mut form = RequestBuilder::new(StripeMethod::Post, "/customers");
        form.body = Some("name=Ada".into());
        let req = client.request(&form, Some("signup-u1")).unwrap();
        assert_eq!(req.uri(), "http://127.0.0.1:9/v1/customers");
        let h = req.headers();
        assert_eq!(h[AUTHORIZATION], "Bearer sk_test_123");
        assert!(h[AUTHORIZATION].is_sensitive());
        assert_eq!(h["idempotency-key"], "signup-u1");
        assert_eq!(h[CONTENT_TYPE], "application/x-www-form-urlencoded");
        assert_eq!(h["stripe-version"], stripe_client_core::VERSION.as_str());
        let mut list = RequestBuilder::new(StripeMethod::Get, "/customers");
        list.query = Some("email=a%40b.example&limit=100".into());
        let req = client.request(&list, None).unwrap();
        assert_eq!(
            req.uri(),
            "http://127.0.0.1:9/v1/customers?email=a%40b.example&limit=100"
        );
        assert!(!req.headers().contains_key("idempotency-key"));
        assert!(!req.headers().contains_key(CONTENT_TYPE));
        assert!(!format!("{client:?}").contains("sk_test"));
    }

    /// Nothing listens on loopback port 9 here: no answer is a transport failure, not a panic
    /// or an Api error.
    #[tokio::test]
    async fn no_answer_is_a_transport_failure_after_the_strategys_attempts() {
        let client = StripeHttp::new(
            "sk_test_123",
            Some("http://127.0.0.1:9"),
            Duration::from_secs(1),
        )
        .unwrap();
        let req = RequestBuilder::new(StripeMethod::Get, "/customers")
            .customize::<miniserde::json::Value>();
        let err = req.send(&client).await.unwrap_err();
        assert!(matches!(err, StripeError::Transport(_)), "{err:?}");
    }
}
