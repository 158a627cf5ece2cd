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

/// Every `(case, expectation)` under `events/<dir>`, `{{run}}` replaced by `run`.
pub fn fixture_expectations(dir: &str, run: &str) -> Vec<(String, serde_json::Value)> {
    let path = format!("{}/../events/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .filter_map(|entry| {
            let file = entry.ok()?.path();
            let case = file
                .file_name()?
                .to_str()?
                .strip_suffix(".expect.json")?
                .to_owned();
            let text = std::fs::read_to_string(&file).ok()?.replace("{{run}}", run);
            Some((
                case,
                serde_json::from_str(&text).expect("an expectation is JSON"),
            ))
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// Asserts an answer against an `.expect.json` (status, body pointers, present, absent), the
/// same rules the replay applies against the local stack. `adjust` may substitute an expected
/// value that differs in-process (a unit test's product id, say).
pub fn assert_expected(
    case: &str,
    expect: &serde_json::Value,
    status: u16,
    body: &serde_json::Value,
    adjust: impl Fn(&str, &serde_json::Value) -> serde_json::Value,
) {
    use serde_json::Value;
    assert_eq!(
        Some(status as u64),
        expect["status"].as_u64(),
        "{case}: {body}"
    );
    for (pointer, want) in expect["body"].as_object().into_iter().flatten() {
        let got = body.pointer(pointer).unwrap_or(&Value::Null);
        assert_eq!(got, &adjust(pointer, want), "{case} {pointer}");
    }
    for pointer in expect["present"].as_array().into_iter().flatten() {
        let pointer = pointer.as_str().unwrap_or_default();
        assert!(
            body.pointer(pointer).is_some_and(|v| !v.is_null()),
            "{case} {pointer}"
        );
    }
    for pointer in expect["absent"].as_array().into_iter().flatten() {
        let pointer = pointer.as_str().unwrap_or_default();
        assert!(body.pointer(pointer).is_none(), "{case} {pointer}");
    }
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
