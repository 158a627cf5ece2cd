//! Who is calling. Never the request body: in AWS, the claims API Gateway's JWT authorizer has
//! already verified; locally (`AUTH_MODE=local`), an HS256 bearer token the function verifies.

use crate::config::AuthMode;
use crate::error::ApiError;
use crate::http::Incoming;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;

/// The verified caller. `user_id` is the identity provider's `sub`: the Cello productUserId and
/// the Stripe `new_user_id`, always a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: Option<String>,
    /// The provider's `email_verified`: true only when it says the address is proven.
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// Longest `sub` we accept; Cognito's are 36 characters, other issuers stay well below this.
const MAX_SUBJECT_LEN: usize = 128;

pub enum Authenticator {
    ApiGatewayJwt,
    Local {
        key: DecodingKey,
        validation: Box<Validation>,
    },
}

/// The issuer of local development tokens (`infra/local/mint_token.py`).
pub const LOCAL_ISSUER: &str = "cello-referral-local";

impl Authenticator {
    pub fn new(mode: &AuthMode) -> Self {
        match mode {
            AuthMode::ApiGatewayJwt => Authenticator::ApiGatewayJwt,
            AuthMode::Local { secret } => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.set_issuer(&[LOCAL_ISSUER]);
                validation.set_required_spec_claims(&["exp", "sub", "iss"]);
                validation.validate_aud = false;
                Authenticator::Local {
                    key: DecodingKey::from_secret(secret.as_bytes()),
                    validation: Box::new(validation),
                }
            }
        }
    }

    /// The verified identity of the request's caller, or 401.
    pub fn identify(&self, req: &Incoming) -> Result<Identity, ApiError> {
        let claims = match self {
            Authenticator::ApiGatewayJwt => req.authorizer_claims.clone(),
            Authenticator::Local { key, validation } => bearer_claims(req, key, validation),
        }
        .ok_or_else(ApiError::unauthorized)?;
        identity_from(claims)
    }
}

#[derive(Deserialize)]
struct LocalClaims {
    sub: serde_json::Value,
    email: Option<String>,
    /// A boolean in most tokens; a string ("true") where a gateway passed it on.
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    given_name: Option<String>,
    family_name: Option<String>,
}

fn bearer_claims(
    req: &Incoming,
    key: &DecodingKey,
    validation: &Validation,
) -> Option<HashMap<String, String>> {
    let header = req.header(http::header::AUTHORIZATION)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?;
    let data = jsonwebtoken::decode::<LocalClaims>(token.trim(), key, validation)
        .inspect_err(|e| tracing::warn!(reason = %e.kind_name(), "local bearer token refused"))
        .ok()?;
    let c = data.claims;
    let sub = match c.sub {
        serde_json::Value::String(s) => s,
        _ => return None,
    };
    let mut claims = HashMap::from([("sub".to_owned(), sub)]);
    let verified = match c.email_verified {
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    for (k, v) in [
        ("email", c.email),
        ("email_verified", verified),
        ("given_name", c.given_name),
        ("family_name", c.family_name),
    ] {
        if let Some(v) = v {
            claims.insert(k.to_owned(), v);
        }
    }
    Some(claims)
}

fn identity_from(mut claims: HashMap<String, String>) -> Result<Identity, ApiError> {
    let user_id = claims
        .remove("sub")
        .filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT_LEN && !s.chars().any(char::is_control))
        .ok_or_else(ApiError::unauthorized)?;
    let clean = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    Ok(Identity {
        user_id,
        email: clean(claims.remove("email")),
        // API Gateway's JWT authorizer passes every claim as a string.
        email_verified: claims
            .remove("email_verified")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        given_name: clean(claims.remove("given_name")),
        family_name: clean(claims.remove("family_name")),
    })
}

/// Small helper for error-kind names without leaking token contents into logs.
trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind::*;
        match self.kind() {
            ExpiredSignature => "expired",
            InvalidSignature => "bad_signature",
            InvalidAlgorithm => "wrong_algorithm",
            InvalidIssuer => "wrong_issuer",
            MissingRequiredClaim(_) => "missing_claim",
            InvalidToken | Base64(_) | Json(_) | Utf8(_) => "malformed",
            _ => "invalid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use lambda_http::{Body, Request};
    use serde_json::json;

    const SECRET: &str = "local-dev-secret-0123456789";

    fn local() -> Authenticator {
        Authenticator::new(&AuthMode::Local {
            secret: SECRET.into(),
        })
    }

    fn bearer(token: &str) -> Incoming {
        let req: Request = http::Request::builder()
            .header("authorization", format!("Bearer {token}"))
            .body(Body::Empty)
            .unwrap();
        req.into()
    }

    fn token(alg: Algorithm, secret: &str, claims: serde_json::Value) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(sub: serde_json::Value) -> serde_json::Value {
        json!({"sub": sub, "email": "ada@example.com", "email_verified": true,
               "iss": LOCAL_ISSUER, "exp": crate::unix_now() + 600})
    }

    #[test]
    fn local_mode_accepts_a_valid_token() {
        let t = token(Algorithm::HS256, SECRET, claims(json!("user-1")));
        let id = local().identify(&bearer(&t)).unwrap();
        assert_eq!(id.user_id, "user-1");
        assert_eq!(id.email.as_deref(), Some("ada@example.com"));
        assert!(id.email_verified);
        let mut unverified = claims(json!("user-1"));
        unverified["email_verified"] = json!(false);
        let t = token(Algorithm::HS256, SECRET, unverified);
        assert!(!local().identify(&bearer(&t)).unwrap().email_verified);
        let mut silent = claims(json!("user-1"));
        silent.as_object_mut().unwrap().remove("email_verified");
        let t = token(Algorithm::HS256, SECRET, silent);
        assert!(!local().identify(&bearer(&t)).unwrap().email_verified);
    }

    #[test]
    fn local_mode_refuses_wrong_secret_algorithm_expiry_and_numeric_sub() {
        let cases = [
            token(
                Algorithm::HS256,
                "another-secret-0123456789",
                claims(json!("u")),
            ),
            token(Algorithm::HS512, SECRET, claims(json!("u"))),
            token(
                Algorithm::HS256,
                SECRET,
                json!({"sub": "u", "iss": LOCAL_ISSUER, "exp": 1000}),
            ),
            token(
                Algorithm::HS256,
                SECRET,
                json!({"sub": "u", "iss": "other", "exp": crate::unix_now() + 60}),
            ),
            token(Algorithm::HS256, SECRET, claims(json!(42))),
            "not-a-jwt".to_owned(),
        ];
        for t in cases {
            let err = local().identify(&bearer(&t)).unwrap_err();
            assert_eq!(err.status, http::StatusCode::UNAUTHORIZED, "{t}");
        }
        assert!(local().identify(&Incoming::default()).is_err());
    }

    #[test]
    fn authorizer_mode_ignores_bearer_tokens() {
        let t = token(Algorithm::HS256, SECRET, claims(json!("user-1")));
        let err = Authenticator::ApiGatewayJwt
            .identify(&bearer(&t))
            .unwrap_err();
        assert_eq!(err.code, "unauthorized");
    }

    #[test]
    fn authorizer_mode_reads_request_context_claims() {
        let event = json!({
            "version": "2.0", "routeKey": "POST /cello/token", "rawPath": "/cello/token",
            "rawQueryString": "", "headers": {},
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
                "http": {"method": "POST", "path": "/cello/token", "protocol": "HTTP/1.1",
                         "sourceIp": "1.1.1.1", "userAgent": "t"},
                "requestId": "r", "routeKey": "POST /cello/token", "stage": "$default",
                "time": "x", "timeEpoch": 0,
                "authorizer": {"jwt": {"claims": {"sub": "abc-123", "email": "a@b.co", "email_verified": "true"}, "scopes": null}}
            },
            "isBase64Encoded": false
        });
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        let id = Authenticator::ApiGatewayJwt.identify(&req.into()).unwrap();
        assert_eq!(id.user_id, "abc-123");
        assert_eq!(id.email.as_deref(), Some("a@b.co"));
        assert!(id.email_verified);
    }
}
