//! The HTTP edge shared by every function: the request read once into an [`Incoming`] (request
//! id, headers, body, the authorizer's claims), CORS, method checks, bounded JSON bodies, and
//! turning a handler's `Result<Reply, ApiError>` into a response, once.

use crate::error::ApiError;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response, request::RequestContext};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

/// A request as the edge read it, once: what handlers need and nothing that ties them to
/// lambda_http. The body is moved, not copied.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub request_id: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The claims API Gateway's JWT authorizer verified, when it ran.
    pub authorizer_claims: Option<HashMap<String, String>>,
}

impl From<Request> for Incoming {
    fn from(req: Request) -> Self {
        let request_id = request_id(&req);
        let authorizer_claims = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| jwt.claims.clone()),
            _ => None,
        };
        let (parts, body) = req.into_parts();
        let body = match body {
            Body::Text(t) => t.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        Self {
            request_id,
            headers: parts.headers,
            body,
            authorizer_claims,
        }
    }
}

impl Incoming {
    /// A header's value, when it is present and visible ASCII.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// True when there is no body, or only whitespace.
    pub fn body_is_blank(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The value of cookie `name` in the request's `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    /// Parses the JSON body into `T`, with an error naming the problem (the field, the expected
    /// type). A content type other than JSON is refused; an absent one is tolerated (curl).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        json_body(&self.headers, &self.body)
    }
}

/// A successful answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Reply {
    pub fn json(status: StatusCode, body: &impl Serialize) -> Self {
        Self {
            status,
            // Serialising our own response types cannot fail (no maps with non-string keys).
            body: serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned()),
        }
    }
}

/// The id that ties a response to its log lines: the Lambda invocation's, else API Gateway's.
pub fn request_id(req: &Request) -> String {
    if let Some(ctx) = req.lambda_context_ref()
        && !ctx.request_id.is_empty()
    {
        return ctx.request_id.clone();
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// CORS for the configured frontend origins. In AWS the HTTP API answers preflights itself;
/// locally (`cargo lambda watch`) the function does, with the same policy.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    allowed_origins: Vec<String>,
}

impl Cors {
    pub fn new(allowed_origins: Vec<String>) -> Self {
        Self { allowed_origins }
    }

    fn allowed_origin<'r>(&self, origin: Option<&'r HeaderValue>) -> Option<&'r HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?;
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o == text)
            .then_some(origin)
    }

    fn decorate(&self, origin: Option<&HeaderValue>, resp: &mut Response<Body>) {
        let headers = resp.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed_origin(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    fn preflight(&self, origin: Option<&HeaderValue>, methods: &str) -> Response<Body> {
        let mut resp = Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::Empty)
            .expect("static response parts are valid");
        if self.allowed_origin(origin).is_some() {
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("{methods}, OPTIONS")) {
                h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
            }
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        self.decorate(origin, &mut resp);
        resp
    }
}

/// One route of a function: its method, its CORS policy, and the body size it accepts.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub cors: Cors,
    pub max_body_bytes: usize,
}

impl Route {
    /// Runs `handle` for a request of the right method inside a span carrying the request id,
    /// answers preflights and wrong methods itself, and renders errors as JSON. Never fails:
    /// every outcome is an HTTP response.
    pub async fn serve<F, Fut>(&self, req: Request, handle: F) -> Response<Body>
    where
        F: FnOnce(Incoming) -> Fut,
        Fut: Future<Output = Result<Reply, ApiError>>,
    {
        let method = req.method().clone();
        let incoming = Incoming::from(req);
        let span = tracing::info_span!("request", request_id = %incoming.request_id);
        async move {
            let started = Instant::now();
            let origin = incoming.headers.get(header::ORIGIN).cloned();
            if method == Method::OPTIONS {
                return self.cors.preflight(origin.as_ref(), self.method.as_str());
            }
            let request_id = incoming.request_id.clone();
            let outcome = if method != self.method {
                Err(ApiError::method_not_allowed(self.method.as_str()))
            } else if incoming.body.len() > self.max_body_bytes {
                Err(ApiError::payload_too_large(self.max_body_bytes))
            } else {
                handle(incoming).await
            };
            self.finish(origin.as_ref(), outcome, &request_id, started)
        }
        .instrument(span)
        .await
    }

    fn finish(
        &self,
        origin: Option<&HeaderValue>,
        outcome: Result<Reply, ApiError>,
        request_id: &str,
        started: Instant,
    ) -> Response<Body> {
        let elapsed_us = started.elapsed().as_micros() as u64;
        let mut resp = match outcome {
            Ok(reply) => {
                tracing::info!(status = reply.status.as_u16(), elapsed_us, "handled");
                json_response(reply.status, reply.body)
            }
            Err(err) => {
                if err.status.is_server_error() {
                    tracing::error!(
                        status = err.status.as_u16(),
                        code = err.code,
                        elapsed_us,
                        "failed"
                    );
                } else {
                    tracing::warn!(
                        status = err.status.as_u16(),
                        code = err.code,
                        elapsed_us,
                        "refused"
                    );
                }
                let mut resp = json_response(err.status, err.to_json(request_id));
                if let Some(secs) = err.retry_after {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                if err.status == StatusCode::METHOD_NOT_ALLOWED
                    && let Ok(v) = HeaderValue::from_str(&format!("{}, OPTIONS", self.method))
                {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
                resp
            }
        };
        self.cors.decorate(origin, &mut resp);
        resp
    }
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .expect("static response parts are valid")
}

fn json_body<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            ));
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "missing_body",
            "a JSON object body is required",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))
        .and_then(|v| de.end().map(|()| v).map_err(|e| (".".to_owned(), e)));
    parsed.map_err(|(field, e)| {
        let code = if e.is_syntax() || e.is_eof() {
            "malformed_json"
        } else {
            "invalid_body"
        };
        let detail = describe_json_error(&e);
        let message = if code == "invalid_body" && field != "." {
            format!("{field}: {detail}")
        } else {
            detail
        };
        ApiError::bad_request(code, message)
    })
}

/// serde's messages name the field and the expected type; drop the echo of the caller's input
/// (which may be long or hostile) and keep the position.
fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut clean: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    clean.push_str(&format!(" (line {}, column {})", e.line(), e.column()));
    clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn route() -> Route {
        Route {
            method: Method::POST,
            cors: Cors::new(vec!["http://app.test".into()]),
            max_body_bytes: 16,
        }
    }

    fn request(method: Method, body: &str, origin: Option<&str>) -> Request {
        let mut b = http::Request::builder().method(method).uri("/x");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        b.body(Body::Text(body.into())).unwrap()
    }

    fn error_code(resp: &Response<Body>) -> String {
        let Body::Text(t) = resp.body() else {
            panic!("not text")
        };
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        v["error"]["code"].as_str().unwrap().to_owned()
    }

    async fn ok(_: Incoming) -> Result<Reply, ApiError> {
        Ok(Reply::json(
            StatusCode::OK,
            &serde_json::json!({"ok": true}),
        ))
    }

    #[tokio::test]
    async fn wrong_method_is_405_with_allow() {
        let resp = route().serve(request(Method::GET, "", None), ok).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()["allow"], "POST, OPTIONS");
        assert_eq!(error_code(&resp), "method_not_allowed");
    }

    #[tokio::test]
    async fn oversize_body_is_413_before_the_handler_runs() {
        let resp = route()
            .serve(request(Method::POST, &"x".repeat(17), None), |_| async {
                panic!("handler must not run")
            })
            .await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error_code(&resp), "body_too_large");
    }

    #[tokio::test]
    async fn allowed_origin_gets_cors_headers_and_others_do_not() {
        let resp = route()
            .serve(request(Method::POST, "{}", Some("http://app.test")), ok)
            .await;
        assert_eq!(
            resp.headers()["access-control-allow-origin"],
            "http://app.test"
        );
        let resp = route()
            .serve(request(Method::POST, "{}", Some("http://evil.test")), ok)
            .await;
        assert!(resp.headers().get("access-control-allow-origin").is_none());
    }

    #[tokio::test]
    async fn preflight_answers_for_allowed_origins_only() {
        let resp = route()
            .serve(request(Method::OPTIONS, "", Some("http://app.test")), ok)
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            resp.headers()["access-control-allow-methods"],
            "POST, OPTIONS"
        );
        let resp = route()
            .serve(request(Method::OPTIONS, "", Some("http://evil.test")), ok)
            .await;
        assert!(resp.headers().get("access-control-allow-methods").is_none());
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body1 {
        name: String,
    }

    #[test]
    fn json_errors_name_the_problem_without_echoing_input() {
        let json = |body: &str| Incoming::from(request(Method::POST, body, None)).json::<Body1>();
        let err = json("{\"name\": 5}").unwrap_err();
        assert_eq!(err.code, "invalid_body");
        assert!(err.message.contains("invalid type"), "{}", err.message);
        let err = json("{}").unwrap_err();
        assert!(
            err.message.contains("missing field `name`"),
            "{}",
            err.message
        );
        let err = json("{\"name\"").unwrap_err();
        assert_eq!(err.code, "malformed_json");
        let err = json(" ").unwrap_err();
        assert_eq!(err.code, "missing_body");
    }

    #[test]
    fn reads_cookies() {
        let req = http::Request::builder()
            .header("cookie", "a=1; cello-referral=pNRB1aYqArN; b=2")
            .body(Body::Empty)
            .unwrap();
        let req = Incoming::from(req);
        assert_eq!(req.cookie("cello-referral"), Some("pNRB1aYqArN"));
        assert_eq!(req.cookie("missing"), None);
    }
}
