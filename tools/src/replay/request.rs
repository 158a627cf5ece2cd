//! What a fixture sends: an HTTP request rebuilt from an API Gateway HTTP API v2 event (for the
//! `cargo lambda watch` URLs), or a v2 event wrapped around a signed Stripe body (for a Lambda
//! Runtime API, as API Gateway would hand it to the function).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

/// The route the Stripe bodies are delivered to.
pub const STRIPE_PATH: &str = "/stripe/webhook";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: String,
    /// `rawPath` plus `?rawQueryString` when there is one.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Headers the HTTP client sets itself for the bytes it actually sends.
const TRANSPORT_HEADERS: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

/// The request an API Gateway v2 event describes: method, path and query, headers, cookies
/// (`cookies` becomes one `Cookie` header, as the browser sent it) and the body (decoded when
/// `isBase64Encoded`).
pub fn from_api_event(event: &Value) -> Result<HttpCall, String> {
    let method = event
        .pointer("/requestContext/http/method")
        .and_then(Value::as_str)
        .ok_or("the event has no requestContext.http.method")?;
    let path = event
        .get("rawPath")
        .and_then(Value::as_str)
        .filter(|p| p.starts_with('/'))
        .ok_or("the event has no rawPath starting with '/'")?;
    let query = event
        .get("rawQueryString")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut headers = Vec::new();
    if let Some(map) = event.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            let value = value
                .as_str()
                .ok_or_else(|| format!("header {name} is not a string"))?;
            if !TRANSPORT_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                headers.push((name.to_ascii_lowercase(), value.to_owned()));
            }
        }
    }
    if let Some(cookies) = event.get("cookies").and_then(Value::as_array) {
        let pairs: Vec<&str> = cookies.iter().filter_map(Value::as_str).collect();
        if !pairs.is_empty() {
            headers.push(("cookie".into(), pairs.join("; ")));
        }
    }
    let body = match event.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if event.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            BASE64
                .decode(text)
                .map_err(|e| format!("isBase64Encoded but the body is not base64: {e}"))?
        }
        Some(Value::String(text)) => text.as_bytes().to_vec(),
        Some(_) => return Err("body is not a string".into()),
    };
    Ok(HttpCall {
        method: method.to_owned(),
        path_and_query: if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        },
        headers,
        body,
    })
}

/// The JWT authorizer claims of the event's caller, when it has one.
pub fn authorizer_claims(event: &Value) -> Option<&Map<String, Value>> {
    event
        .pointer("/requestContext/authorizer/jwt/claims")
        .and_then(Value::as_object)
}

/// Adds or replaces a header in an event (header names in v2 events are lower-case).
pub fn set_event_header(event: &mut Value, name: &str, value: &str) {
    if let Some(obj) = event.as_object_mut() {
        let headers = obj.entry("headers").or_insert_with(|| json!({}));
        if let Some(headers) = headers.as_object_mut() {
            headers.insert(name.to_ascii_lowercase(), Value::String(value.to_owned()));
        }
    }
}

/// A signed Stripe delivery as a direct HTTP request.
pub fn stripe_call(body: &str, signature: &str) -> HttpCall {
    HttpCall {
        method: "POST".into(),
        path_and_query: STRIPE_PATH.into(),
        headers: vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("stripe-signature".into(), signature.into()),
            (
                "user-agent".into(),
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)".into(),
            ),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// A signed Stripe delivery as the API Gateway v2 event the function receives in AWS.
pub fn stripe_api_event(body: &str, signature: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("POST {STRIPE_PATH}"),
        "rawPath": STRIPE_PATH,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json; charset=utf-8",
            "stripe-signature": signature,
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "local",
            "domainPrefix": "local",
            "http": {"method": "POST", "path": STRIPE_PATH, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1",
                     "userAgent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
            "requestId": "replay", "routeKey": format!("POST {STRIPE_PATH}"),
            "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// Whether `lambda_http` (what the function runs) reads the event as an HTTP API v2 request,
/// so the same file works with `cargo lambda invoke --data-file`.
pub fn check_lambda_http_parses(event_text: &str) -> Result<(), String> {
    let req = lambda_http::request::from_str(event_text)
        .map_err(|e| format!("lambda_http cannot read the event: {e}"))?;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(_)) => Ok(()),
        _ => Err("lambda_http does not read it as an HTTP API (payload 2.0) event".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({
            "version": "2.0", "routeKey": "POST /signup", "rawPath": "/signup",
            "rawQueryString": "ucc=abc&x=1",
            "headers": {"Content-Type": "application/json", "host": "api.example.com",
                        "content-length": "99", "origin": "http://127.0.0.1:4514"},
            "cookies": ["cello-referral=pNRB1aYqArN", "theme=dark"],
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
                "http": {"method": "POST", "path": "/signup", "protocol": "HTTP/1.1",
                         "sourceIp": "1.1.1.1", "userAgent": "t"},
                "requestId": "r", "routeKey": "POST /signup", "stage": "$default",
                "time": "x", "timeEpoch": 0,
                "authorizer": {"jwt": {"claims": {"sub": "user-1"}, "scopes": null}}
            },
            "body": "eyJmaXJzdE5hbWUiOiJBZGEifQ==",
            "isBase64Encoded": true
        })
    }

    #[test]
    fn rebuilds_method_path_query_headers_cookies_and_a_base64_body() {
        let call = from_api_event(&event()).unwrap();
        assert_eq!(call.method, "POST");
        assert_eq!(call.path_and_query, "/signup?ucc=abc&x=1");
        assert_eq!(call.header("content-type"), Some("application/json"));
        assert_eq!(call.header("origin"), Some("http://127.0.0.1:4514"));
        assert_eq!(
            call.header("host"),
            None,
            "transport headers are the client's"
        );
        assert_eq!(call.header("content-length"), None);
        assert_eq!(
            call.header("cookie"),
            Some("cello-referral=pNRB1aYqArN; theme=dark")
        );
        assert_eq!(call.body, br#"{"firstName":"Ada"}"#);
        assert_eq!(authorizer_claims(&event()).unwrap()["sub"], json!("user-1"));
    }

    #[test]
    fn a_plain_body_is_sent_as_is_and_a_missing_one_is_empty() {
        let mut e = event();
        e["isBase64Encoded"] = json!(false);
        e["body"] = json!("{\"a\": 1}");
        assert_eq!(from_api_event(&e).unwrap().body, b"{\"a\": 1}");
        e.as_object_mut().unwrap().remove("body");
        assert!(from_api_event(&e).unwrap().body.is_empty());
    }

    #[test]
    fn refuses_events_without_method_or_path_or_with_a_bad_base64_body() {
        let mut e = event();
        e["requestContext"]["http"]
            .as_object_mut()
            .unwrap()
            .remove("method");
        assert!(from_api_event(&e).is_err());
        let mut e = event();
        e["rawPath"] = json!("signup");
        assert!(from_api_event(&e).is_err());
        let mut e = event();
        e["body"] = json!("not base64!");
        assert!(from_api_event(&e).is_err());
    }

    #[test]
    fn the_stripe_event_and_the_fixtures_shape_are_what_lambda_http_reads() {
        assert!(check_lambda_http_parses(&event().to_string()).is_ok());
        let stripe = stripe_api_event("{}", "t=1,v1=00");
        assert!(check_lambda_http_parses(&stripe.to_string()).is_ok());
        let mut with_bearer = event();
        set_event_header(&mut with_bearer, "Authorization", "Bearer x");
        assert_eq!(with_bearer["headers"]["authorization"], json!("Bearer x"));
        assert!(check_lambda_http_parses(r#"{"hello": "world"}"#).is_err());
    }
}
