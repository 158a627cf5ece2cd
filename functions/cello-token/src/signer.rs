//! The Cello widget token: an HS512 JWT with exactly `productId`, `productUserId` (always a
//! string: a number makes the widget refuse the user) and `iat`, plus `exp` for products that
//! turned on Cello's token expiry. The signing key is built once per secret version.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use shared::secrets::{AppSecrets, SecretError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Cello's optional expiry is 24 hours; a longer lifetime would outlive what the widget allows.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Claims<'a> {
    product_id: &'a str,
    product_user_id: &'a str,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

/// A minted token and the times it carries (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    pub token: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
}

/// Signs widget tokens for one product with one secret version.
pub struct CelloSigner {
    product_id: String,
    key: EncodingKey,
    header: Header,
    ttl: Option<Duration>,
    secret_version: String,
}

impl CelloSigner {
    pub fn new(product_id: &str, product_secret: &[u8], ttl: Option<Duration>) -> Self {
        Self {
            product_id: product_id.to_owned(),
            key: EncodingKey::from_secret(product_secret),
            header: Header::new(Algorithm::HS512),
            ttl,
            secret_version: String::new(),
        }
    }

    pub fn from_secrets(secrets: &AppSecrets, ttl: Option<Duration>) -> Result<Self, SecretError> {
        let mut signer = Self::new(
            secrets.cello_product_id()?,
            secrets.cello_product_secret()?.as_bytes(),
            ttl,
        );
        signer.secret_version = secrets.version.clone();
        Ok(signer)
    }

    pub fn product_id(&self) -> &str {
        &self.product_id
    }

    /// A token for `product_user_id`, issued at `now` (Unix seconds).
    pub fn mint(&self, product_user_id: &str, now: i64) -> MintedToken {
        let expires_at = self.ttl.map(|ttl| now + ttl.as_secs() as i64);
        let claims = Claims {
            product_id: &self.product_id,
            product_user_id,
            iat: now,
            exp: expires_at,
        };
        // Encoding fixed string and integer claims with a valid HMAC key cannot fail.
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key)
            .expect("HS512 encoding of plain claims");
        MintedToken {
            token,
            issued_at: now,
            expires_at,
        }
    }
}

/// The signer for the current secret, rebuilt only when the secret's version changes (a
/// rotation), so the key derivation stays off the hot path.
pub struct SignerCache {
    ttl: Option<Duration>,
    current: RwLock<Arc<CelloSigner>>,
}

impl SignerCache {
    pub fn new(secrets: &AppSecrets, ttl: Option<Duration>) -> Result<Self, SecretError> {
        Ok(Self {
            ttl,
            current: RwLock::new(Arc::new(CelloSigner::from_secrets(secrets, ttl)?)),
        })
    }

    pub fn signer_for(&self, secrets: &AppSecrets) -> Result<Arc<CelloSigner>, SecretError> {
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.secret_version == secrets.version {
                return Ok(current.clone());
            }
        }
        let fresh = Arc::new(CelloSigner::from_secrets(secrets, self.ttl)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn decode(token: &str, secret: &[u8]) -> serde_json::Value {
        let mut v = Validation::new(Algorithm::HS512);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_secret(secret), &v)
            .unwrap()
            .claims
    }

    #[test]
    fn numeric_looking_user_ids_stay_strings() {
        let t = CelloSigner::new("p_1", b"s3cret", None).mint("12345", 1_700_000_000);
        let claims = decode(&t.token, b"s3cret");
        assert_eq!(
            claims,
            serde_json::json!({"productId": "p_1", "productUserId": "12345", "iat": 1_700_000_000})
        );
        assert_eq!(t.expires_at, None);
    }

    #[test]
    fn ttl_adds_exp() {
        let t = CelloSigner::new("p_1", b"s", Some(MAX_TOKEN_TTL)).mint("u", 100);
        assert_eq!(t.expires_at, Some(100 + 86_400));
        assert_eq!(decode(&t.token, b"s")["exp"], 86_500);
    }

    #[test]
    fn cache_rebuilds_only_on_a_new_secret_version() {
        let v1 =
            AppSecrets::parse(r#"{"celloProductId":"p","celloProductSecret":"a"}"#, "v1").unwrap();
        let cache = SignerCache::new(&v1, None).unwrap();
        let a = cache.signer_for(&v1).unwrap();
        assert!(Arc::ptr_eq(&a, &cache.signer_for(&v1).unwrap()));
        let v2 =
            AppSecrets::parse(r#"{"celloProductId":"p","celloProductSecret":"b"}"#, "v2").unwrap();
        let b = cache.signer_for(&v2).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        decode(&b.mint("u", 1).token, b"b");
    }
}
