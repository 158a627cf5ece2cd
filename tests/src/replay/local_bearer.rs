//! The local user token (`AUTH_MODE=local`) for a fixture's caller: the JWT authorizer claims
//! the event carries, signed HS256 with `LOCAL_AUTH_SECRET`, as `referral_core::identity`
//! verifies them (issuer, `exp`, `sub`).

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use referral_core::identity::LOCAL_ISSUER;
use serde_json::{Map, Value};

/// Lifetime of a minted token: long enough for a slow replay, short enough to be useless later.
const TTL_SECONDS: i64 = 600;

/// `Bearer <token>` for these claims. Every claim of the fixture is kept as it is (a numeric
/// `sub` stays numeric, so a fixture can exercise the refusal); `iss`, `iat`, `exp` are added.
pub fn authorization(claims: &Map<String, Value>, secret: &str, now: i64) -> String {
    let mut claims = claims.clone();
    claims.insert("iss".into(), LOCAL_ISSUER.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + TTL_SECONDS).into());
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding of a JSON object cannot fail");
    format!("Bearer {token}")
}

/// Under `AUTH_MODE=local`, gives the event's caller (its authorizer claims) the bearer token
/// the function verifies, unless the event already carries an `authorization` header.
pub fn add_to_event(event: &mut Value, secret: &str, now: i64) {
    let has_header = event
        .get("headers")
        .and_then(Value::as_object)
        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("authorization")));
    if has_header {
        return;
    }
    if let Some(claims) = crate::replay::request::authorizer_claims(event).cloned() {
        let header = authorization(&claims, secret, now);
        crate::replay::request::set_event_header(event, "authorization", &header);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use referral_core::Authenticator;
    use referral_core::config::AuthMode;
    use serde_json::json;

    const SECRET: &str = "local-dev-auth-secret-not-for-production";

    fn with_authorization(value: &str) -> lambda_http::Request {
        http::Request::builder()
            .header("authorization", value)
            .body(lambda_http::Body::Empty)
            .unwrap()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_functions_local_verifier_accepts_the_minted_token_with_every_claim() {
        let auth = Authenticator::new(&AuthMode::Local {
            secret: SECRET.into(),
        });
        let header = authorization(
            &claims(json!({"sub": "user-r1", "email": "ada-r1@example.com",
                           "given_name": "Ada", "family_name": "Lovelace"})),
            SECRET,
            referral_core::unix_now(),
        );
        let id = auth
            .identify(&with_authorization(&header))
            .expect("the local verifier accepts it");
        assert_eq!(id.user_id, "user-r1");
        assert_eq!(id.email.as_deref(), Some("ada-r1@example.com"));
        assert_eq!(id.given_name.as_deref(), Some("Ada"));
        assert_eq!(id.family_name.as_deref(), Some("Lovelace"));
    }

    #[test]
    fn an_event_gets_a_bearer_only_for_a_caller_without_one() {
        let claims = json!({"jwt": {"claims": {"sub": "u"}}});
        let mut with_caller = json!({"requestContext": {"authorizer": claims}});
        add_to_event(&mut with_caller, SECRET, 1);
        let header = with_caller["headers"]["authorization"].as_str().unwrap();
        assert!(header.starts_with("Bearer ey"));

        let mut anonymous = json!({"requestContext": {}, "headers": {}});
        add_to_event(&mut anonymous, SECRET, 1);
        assert_eq!(anonymous["headers"], json!({}));

        let mut own = json!({"requestContext": {"authorizer": claims},
                             "headers": {"Authorization": "Bearer forged"}});
        add_to_event(&mut own, SECRET, 1);
        assert_eq!(own["headers"], json!({"Authorization": "Bearer forged"}));
    }

    #[test]
    fn the_local_verifier_refuses_another_secret_an_old_token_and_a_numeric_sub() {
        let auth = Authenticator::new(&AuthMode::Local {
            secret: SECRET.into(),
        });
        let now = referral_core::unix_now();
        let user = claims(json!({"sub": "u"}));
        for header in [
            authorization(&user, "another-secret-of-enough-length", now),
            authorization(&user, SECRET, now - 2 * TTL_SECONDS - 120),
            authorization(&claims(json!({"sub": 42})), SECRET, now),
        ] {
            assert!(auth.identify(&with_authorization(&header)).is_err());
        }
    }
}
