//! The edge of the three routes: each request read once (identity or credentials, body,
//! query, request id), the use case called with typed values, the outcome rendered once.
//! Nothing slow runs before the callback's answer: one DynamoDB read and one transaction.

use crate::callback::{Envelope, NEW_REWARD, NewRewardBody, basic_credentials_match, validate};
use crate::erasure::{CelloErasure, CustomerDeletion, Erased, Eraser, ErasureFailure};
use crate::settings::{CelloEnv, RewardsSettings};
use crate::store::{ErasureStore, RewardStore};
use crate::{Endpoint, Routes};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::clock::Clock;
use shared::credits::{LedgerEntry, keys};
use shared::http::{Incoming, Reply};
use shared::secrets::SecretSource;
use shared::{ApiError, Authenticator, UserStore};

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;
const MAX_CURSOR_CHARS: usize = 400;

pub struct RewardsHandler<S, Q, C, P, K> {
    pub store: S,
    pub secrets: Q,
    pub auth: Authenticator,
    pub settings: RewardsSettings,
    pub cello: C,
    pub stripe: P,
    pub clock: K,
    pub routes: Routes,
}

/// Why a callback was refused. Mapped to HTTP once, below.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Missing, malformed or wrong credentials, or none configured: one answer for all.
    #[error("unauthorized")]
    Unauthorized,
    #[error("X-Cello-Env is missing")]
    MissingEnv,
    #[error("X-Cello-Env is not prod or sandbox")]
    InvalidEnv,
    #[error("a {got} reward at a {ours} endpoint")]
    WrongEnv { got: CelloEnv, ours: CelloEnv },
}

impl From<CallbackError> for ApiError {
    fn from(e: CallbackError) -> Self {
        match e {
            CallbackError::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "valid Basic credentials are required",
            ),
            CallbackError::MissingEnv => ApiError::bad_request(
                "missing_cello_env",
                "the X-Cello-Env header is required (prod or sandbox)",
            ),
            CallbackError::InvalidEnv => ApiError::bad_request(
                "invalid_cello_env",
                "the X-Cello-Env header must be prod or sandbox",
            ),
            CallbackError::WrongEnv { got, ours } => ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_environment",
                format!(
                    "this endpoint takes {} rewards; a {} reward is refused",
                    ours.as_str(),
                    got.as_str()
                ),
            ),
        }
    }
}

impl From<ErasureFailure> for ApiError {
    fn from(e: ErasureFailure) -> Self {
        match e {
            ErasureFailure::InProgress => ApiError {
                code: "erasure_in_progress",
                ..ApiError::unavailable("an erasure of this account is running; retry shortly", 5)
            },
            ErasureFailure::CelloUnavailable => ApiError::unavailable(
                "Cello is unavailable; the erasure continues when you retry",
                10,
            ),
            ErasureFailure::Stripe(shared::stripe::StripeFailure::Unavailable) => {
                ApiError::unavailable(
                    "the payment provider is unavailable; the erasure continues when you retry",
                    10,
                )
            }
            ErasureFailure::Store(e) => e.into(),
            other => {
                tracing::error!(error = %other, "erasure failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "erasure_failed",
                    "the erasure could not be completed; it continues when you retry",
                )
            }
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallbackAnswer<'a> {
    received: bool,
    event_id: Option<&'a str>,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreditsAnswer {
    user_id: String,
    balance: i64,
    updated_at: Option<i64>,
    entries: Vec<LedgerEntry>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErasedAnswer {
    user_id: String,
    erased: bool,
    already_erased: bool,
    erased_at: Option<i64>,
    steps: std::collections::BTreeMap<String, crate::store::StepRecord>,
}

impl From<Erased> for ErasedAnswer {
    fn from(e: Erased) -> Self {
        Self {
            user_id: e.user_id,
            erased: e.record.completed_at.is_some(),
            already_erased: e.already_erased,
            erased_at: e.record.completed_at,
            steps: e.record.steps,
        }
    }
}

impl<S, Q, C, P, K> RewardsHandler<S, Q, C, P, K>
where
    S: RewardStore + ErasureStore + UserStore,
    Q: SecretSource,
    C: CelloErasure,
    P: CustomerDeletion,
    K: Clock,
{
    /// Picks the route by path; an unknown path is a JSON 404.
    pub async fn serve(&self, req: Request) -> Response<Body> {
        let path = req.raw_http_path().to_owned();
        let path = if path.is_empty() {
            req.uri().path().to_owned()
        } else {
            path
        };
        match Endpoint::of(&path) {
            Some(Endpoint::Callback) => self.routes.callback.serve(req, |r| self.callback(r)).await,
            Some(Endpoint::Credits) => {
                let query: Vec<(String, String)> = req
                    .query_string_parameters()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                self.routes
                    .credits
                    .serve(req, move |r| self.credits(r, query))
                    .await
            }
            Some(Endpoint::Account) => {
                self.routes
                    .account
                    .serve(req, |r| self.delete_account(r))
                    .await
            }
            None => {
                let not_found = ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such route (POST /cello/rewards, GET /credits, DELETE /account)",
                );
                let any = shared::http::Route {
                    method: req.method().clone(),
                    cors: shared::http::Cors::default(),
                    max_body_bytes: 0,
                };
                any.serve(req, |_| async move { Err(not_found) }).await
            }
        }
    }

    /// `POST /cello/rewards`.
    pub async fn callback(&self, req: Incoming) -> Result<Reply, ApiError> {
        self.authenticate_cello(&req).await?;
        let env = match req.header("x-cello-env") {
            None => return Err(CallbackError::MissingEnv.into()),
            Some(raw) => CelloEnv::parse(raw.trim()).ok_or(CallbackError::InvalidEnv)?,
        };
        if env != self.settings.cello_env {
            return Err(CallbackError::WrongEnv {
                got: env,
                ours: self.settings.cello_env,
            }
            .into());
        }
        let envelope: Envelope = req.json()?;
        if envelope.event_type != NEW_REWARD {
            tracing::info!(event_type = %clean(&envelope.event_type), "callback type ignored");
            return Ok(Reply::json(
                StatusCode::OK,
                &CallbackAnswer {
                    received: true,
                    event_id: None,
                    outcome: "ignored",
                    event_type: Some(&clean(&envelope.event_type)),
                },
            ));
        }
        let reward = validate(req.json::<NewRewardBody>()?)?;
        let outcome = self.store.record_reward(&reward, self.clock.now()).await?;
        tracing::info!(event_id = %reward.event_id, outcome = outcome.as_str(), "reward callback");
        Ok(Reply::json(
            StatusCode::OK,
            &CallbackAnswer {
                received: true,
                event_id: Some(&reward.event_id),
                outcome: outcome.as_str(),
                event_type: None,
            },
        ))
    }

    /// The same 401 for every failure: no credentials, malformed ones, wrong ones, or none
    /// configured. A mismatch re-reads the secret once (throttled), for a rotation.
    async fn authenticate_cello(&self, req: &Incoming) -> Result<(), ApiError> {
        let header = req.header(lambda_http::http::header::AUTHORIZATION);
        let matches = |s: &shared::AppSecrets| match (
            &s.cello_rewards_webhook_username,
            &s.cello_rewards_webhook_password,
        ) {
            (Some(u), Some(p)) => basic_credentials_match(header, u.expose(), p.expose()),
            _ => {
                tracing::warn!("the secret has no reward callback credentials: refused");
                false
            }
        };
        let current = self.secrets.current().await?;
        if matches(&current) {
            return Ok(());
        }
        if header.is_some() {
            let fresh = self.secrets.refresh().await?;
            if fresh.version != current.version && matches(&fresh) {
                return Ok(());
            }
        }
        Err(CallbackError::Unauthorized.into())
    }

    /// `GET /credits?limit=&cursor=`.
    pub async fn credits(
        &self,
        req: Incoming,
        query: Vec<(String, String)>,
    ) -> Result<Reply, ApiError> {
        let identity = self.auth.identify(&req)?;
        no_body(&req)?;
        let (limit, after) = page_query(&query)?;
        // Rewards kept before the user existed, if signup could not apply them.
        if let Err(e) = self
            .store
            .apply_pending_rewards(&identity.user_id, self.clock.now())
            .await
        {
            tracing::warn!(error = %e, "kept rewards not applied now; the next call retries");
        }
        let page = self
            .store
            .credits(&identity.user_id, limit, after.as_deref())
            .await?;
        Ok(Reply::json(
            StatusCode::OK,
            &CreditsAnswer {
                user_id: identity.user_id,
                balance: page.balance,
                updated_at: page.updated_at,
                entries: page.entries,
                next_cursor: page.next.map(|sk| URL_SAFE_NO_PAD.encode(sk)),
            },
        ))
    }

    /// `DELETE /account`: the caller erased, when the environment allows it.
    pub async fn delete_account(&self, req: Incoming) -> Result<Reply, ApiError> {
        if !self.settings.account_deletion {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "account_deletion_disabled",
                "deleting an account here is switched off in this environment (ACCOUNT_DELETION)",
            ));
        }
        let identity = self.auth.identify(&req)?;
        no_body(&req)?;
        let erased = self
            .eraser()
            .erase(&identity.user_id, &run_owner(&req.request_id))
            .await?;
        Ok(Reply::json(StatusCode::OK, &ErasedAnswer::from(erased)))
    }

    pub fn eraser(&self) -> Eraser<'_, S, C, P, K> {
        Eraser {
            store: &self.store,
            cello: &self.cello,
            stripe: &self.stripe,
            stripe_erasure: self.settings.stripe_erasure,
            clock: &self.clock,
        }
    }
}

/// `limit` (1 to 100, default 20) and `cursor` (from a previous page); anything else is 400.
pub fn page_query(query: &[(String, String)]) -> Result<(u32, Option<String>), ApiError> {
    let mut limit = DEFAULT_PAGE;
    let mut after = None;
    for (name, value) in query {
        match name.as_str() {
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_limit",
                            format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                        )
                    })?;
            }
            "cursor" => {
                let sk = (value.len() <= MAX_CURSOR_CHARS)
                    .then(|| URL_SAFE_NO_PAD.decode(value).ok())
                    .flatten()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|sk| {
                        sk.starts_with(keys::LEDGER_PREFIX) && !sk.chars().any(char::is_control)
                    })
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_cursor",
                            "cursor must be the nextCursor of a previous page",
                        )
                    })?;
                after = Some(sk);
            }
            other => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "unknown query parameter {:?} (limit and cursor are accepted)",
                        clean(other)
                    ),
                ));
            }
        }
    }
    Ok((limit, after))
}

fn no_body(req: &Incoming) -> Result<(), ApiError> {
    if req.body_is_blank() {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "unexpected_body",
            "this route takes no request body",
        ))
    }
}

/// A caller's string for a log line or message: short, without control characters.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// A token unique to this run of an erasure.
pub fn run_owner(request_id: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{request_id}:{nanos:x}")
}
