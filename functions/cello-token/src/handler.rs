//! `POST /cello/token`: for the verified caller, a fresh widget token and the rest of the
//! `cello.boot` options. Generic over the ports so unit tests run without AWS.

use crate::settings::TokenSettings;
use crate::signer::SignerCache;
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::field::Language;
use shared::http::{Incoming, Reply};
use shared::secrets::SecretError;
use shared::{ApiError, Authenticator, Identity, SecretSource, StoreError, User, UserStore};

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
                email: u.email.clone(),
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
                    // Only a proven address: Cello's fraud checks and attribution rely on it.
                    email: identity.email.clone().filter(|_| identity.email_verified),
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

/// Why no token was minted; mapped to HTTP once, in [`TokenHandler::handle`].
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Store(e) => e.into(),
            TokenError::Secret(e) => e.into(),
        }
    }
}

impl<S: UserStore, K: SecretSource> TokenHandler<S, K> {
    /// The edge: the identity and the optional body, read once; the options rendered once.
    pub async fn handle(&self, req: Incoming) -> Result<Reply, ApiError> {
        let identity = self.auth.identify(&req)?;
        let request = if req.body_is_blank() {
            TokenRequest::default()
        } else {
            req.json::<TokenRequest>()?
        };
        let language = request
            .language
            .map(|l| Language::parse("language", &l))
            .transpose()?;
        let options = self.boot_options(&identity, language).await?;
        Ok(Reply::json(StatusCode::OK, &options))
    }

    /// The use case: a fresh token for `identity`, and the rest of `cello.boot`'s options.
    pub async fn boot_options(
        &self,
        identity: &Identity,
        requested_language: Option<Language>,
    ) -> Result<BootOptions, TokenError> {
        let secrets = self.secrets.current().await?;
        let signer = self.signers.signer_for(&secrets)?;
        let user = self.store.get_user(&identity.user_id).await?;

        let minted = signer.mint(&identity.user_id, shared::unix_now());
        let language = requested_language
            .map(Language::into_string)
            .or_else(|| user.as_ref().and_then(|u| u.language.clone()))
            .unwrap_or_else(|| self.settings.default_language.clone());
        tracing::info!(
            has_record = user.is_some(),
            expires_at = minted.expires_at,
            "cello token minted"
        );
        Ok(BootOptions {
            product_id: signer.product_id().to_owned(),
            token: minted.token,
            issued_at: minted.issued_at,
            expires_at: minted.expires_at,
            language,
            product_user_details: ProductUserDetails::of(user.as_ref(), identity),
        })
    }
}
