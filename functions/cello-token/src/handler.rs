//! `POST /cello/token`: for the verified caller, a fresh widget token and the rest of the
//! `cello.boot` options. Generic over the ports so unit tests run without AWS.

use crate::settings::TokenSettings;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use referral_core::cello::SignerCache;
use referral_core::http::{Reply, body_bytes, json_body};
use referral_core::{ApiError, Authenticator, Identity, SecretSource, User, UserStore};
use serde::{Deserialize, Serialize};

/// The optional body: the page may ask for the widget in the language it is showing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    language: Option<String>,
}

/// Exactly what the page passes to `cello.boot` (besides its callbacks).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootOptions {
    pub product_id: String,
    pub token: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub language: String,
    pub product_user_details: ProductUserDetails,
}

/// Who the widget greets; fields nobody knows are left out rather than sent empty.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductUserDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl ProductUserDetails {
    /// From the stored user, else from the identity provider's claims (a user who has not
    /// completed signup yet can still refer others).
    fn of(user: Option<&User>, identity: &Identity) -> Self {
        match user {
            Some(u) => Self {
                first_name: Some(u.first_name.clone()),
                last_name: Some(u.last_name.clone()),
                full_name: Some(u.full_name()),
                email: Some(u.email.clone()),
            },
            None => {
                let full = [
                    identity.given_name.as_deref(),
                    identity.family_name.as_deref(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
                Self {
                    first_name: identity.given_name.clone(),
                    last_name: identity.family_name.clone(),
                    full_name: (!full.is_empty()).then_some(full),
                    email: identity.email.clone(),
                }
            }
        }
    }
}

pub struct TokenHandler<S, K> {
    pub store: S,
    pub secrets: K,
    pub auth: Authenticator,
    pub settings: TokenSettings,
    pub signers: SignerCache,
}

impl<S: UserStore, K: SecretSource> TokenHandler<S, K> {
    pub async fn handle(&self, req: Request) -> Result<Reply, ApiError> {
        let identity = self.auth.identify(&req)?;
        let request = if body_bytes(&req).iter().all(u8::is_ascii_whitespace) {
            TokenRequest::default()
        } else {
            json_body::<TokenRequest>(&req)?
        };
        let requested_language = request
            .language
            .map(|l| referral_core::validate::language("language", &l))
            .transpose()?;

        let secrets = self.secrets.current().await?;
        let signer = self.signers.signer_for(&secrets)?;
        let user = self.store.get_user(&identity.user_id).await?;

        let minted = signer.mint(&identity.user_id, referral_core::unix_now());
        let language = requested_language
            .or_else(|| user.as_ref().and_then(|u| u.language.clone()))
            .unwrap_or_else(|| self.settings.default_language.clone());
        tracing::info!(
            has_record = user.is_some(),
            expires_at = minted.expires_at,
            "cello token minted"
        );
        Ok(Reply::json(
            StatusCode::OK,
            &BootOptions {
                product_id: signer.product_id().to_owned(),
                token: minted.token,
                issued_at: minted.issued_at,
                expires_at: minted.expires_at,
                language,
                product_user_details: ProductUserDetails::of(user.as_ref(), &identity),
            },
        ))
    }
}
