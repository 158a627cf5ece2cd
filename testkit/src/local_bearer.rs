//! The local user token (`AUTH_MODE=local`): claims signed HS256 with `LOCAL_AUTH_SECRET`, as
//! `shared::identity` verifies them (issuer, `exp`, `sub`). The one minter of tests and tools.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Map, Value};
use shared::identity::LOCAL_ISSUER;

/// Lifetime of a minted token: long enough for a slow replay, short enough to be useless later.
pub const TTL_SECONDS: i64 = 600;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::Authenticator;
    use shared::config::AuthMode;

    const SECRET: &str = "local-dev-auth-secret-not-for-production";

    fn with_authorization(value: &str) -> shared::http::Incoming {
        let mut req = shared::http::Incoming::default();
        req.headers
            .insert("authorization", value.parse().expect("a header value"));
        req
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
            shared::unix_now(),
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
    fn the_local_verifier_refuses_another_secret_an_old_token_and_a_numeric_sub() {
        let auth = Authenticator::new(&AuthMode::Local {
            secret: SECRET.into(),
        });
        let now = shared::unix_now();
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
