//! An HS512 check that shares no code with the Cello token signer (aws-lc-rs's HMAC, the
//! algorithm pinned here).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
