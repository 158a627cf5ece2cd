//! Test support for the function crates (feature `memory`): request fixtures from `events/`,
//! and an HS512 check that shares no code with the signer.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Loads `events/<rel>` (an HTTP API v2 event) as the function would receive it, with
/// `{{run}}` replaced by `run`.
pub fn fixture_request(rel: &str, run: &str) -> lambda_http::Request {
    let path = format!("{}/../events/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text.replace("{{run}}", run))
        .unwrap_or_else(|e| panic!("{path} is not an HTTP API v2 event: {e}"))
}

/// Verifies an HS512 JWT with the algorithm pinned here (the header is only checked to
/// agree), and returns its claims.
pub fn verify_hs512(token: &str, secret: &[u8]) -> Result<serde_json::Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(format!("{} parts, not 3", parts.len()));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string());
    let key = hmac::Key::new(hmac::HMAC_SHA512, secret);
    hmac::verify(
        &key,
        format!("{header}.{payload}").as_bytes(),
        &decode(signature)?,
    )
    .map_err(|_| "signature does not verify with HS512 and this secret".to_owned())?;
    let header: serde_json::Value =
        serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header["alg"] != "HS512" {
        return Err(format!("header names {} (expected HS512)", header["alg"]));
    }
    serde_json::from_slice(&decode(payload)?).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    fn sign(alg: Algorithm, secret: &[u8]) -> String {
        let claims = serde_json::json!({"productId": "p", "productUserId": "u", "iat": 1});
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn accepts_only_hs512_with_the_right_secret() {
        let claims = verify_hs512(&sign(Algorithm::HS512, b"right"), b"right").unwrap();
        assert_eq!(claims["productUserId"], "u");
        assert!(verify_hs512(&sign(Algorithm::HS512, b"wrong"), b"right").is_err());
        assert!(verify_hs512(&sign(Algorithm::HS256, b"right"), b"right").is_err());
        assert!(verify_hs512(&sign(Algorithm::HS384, b"right"), b"right").is_err());
        // An unsigned token claiming "none".
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"productUserId":"u"}"#)
        );
        assert!(verify_hs512(&none, b"right").is_err());
        assert!(verify_hs512("a.b", b"right").is_err());
    }
}
