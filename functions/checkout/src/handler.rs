//! `POST /checkout` and `GET /checkout/discount`. The edge reads identity and body once; the
//! use cases take typed values:
//!
//! - `discount`: the user's stored referral code and billing records, then (only if those
//!   allow a discount) Cello's answer, decided by `discount::decide`;
//! - `checkout`: once per click. The user's open session for the price is returned while it
//!   lives; otherwise one request claims the session item, decides the discount, creates the
//!   session at Stripe (with an idempotency key fixed by the claim's plan) and records it, while
//!   raced requests wait for that record. Stripe down: the lease is released, nothing else is
//!   stored, 503 with Retry-After.

use crate::cello::NewUserRewards;
use crate::discount::{Decision, Discount, Facts, Reason, decide, refused_by_records};
use crate::settings::CheckoutSettings;
use crate::store::{BillingReader, CheckoutStore, Expected, OpenSession, StoredCheckout};
use crate::stripe::{NewSession, StripeCheckout};
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::clock::Clock;
use shared::field::FieldError;
use shared::http::{Incoming, Reply};
use shared::stripe::StripeFailure;
use shared::{ApiError, Authenticator, Identity, StoreError, User, UserStore};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a raced request waits for the claim holder's record before answering 503.
const WAIT_STEPS: u32 = 25;
const WAIT_STEP: Duration = Duration::from_millis(200);
/// A recorded session is handed out again only while this much of its life is left.
const REUSE_MARGIN_SECONDS: i64 = 5 * 60;
/// Stripe refuses an `expires_at` less than 30 minutes after creation.
const MIN_SESSION_SECONDS: i64 = 31 * 60;
/// The session item outlives its session by this much, so an expired session is still known
/// (and its plan, which names the idempotency key, never comes back).
const ITEM_TTL_AFTER_EXPIRY: i64 = 7 * 24 * 3600;

/// The two routes this function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Checkout,
    Discount,
}

/// `POST /checkout`'s body: the price, and nothing else (URLs, coupons and the customer are
/// configuration and records, never the caller's choice).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckoutBody {
    pub price_id: String,
}

pub struct CheckoutHandler<S, P, K, C> {
    pub store: S,
    pub stripe: P,
    pub cello: K,
    pub auth: Authenticator,
    pub settings: CheckoutSettings,
    pub clock: C,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("no signup for this user")]
    NotSignedUp,
    #[error("the signup has no Stripe customer yet")]
    SignupIncomplete,
    #[error("another request is creating this session")]
    InProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stripe(#[from] StripeFailure),
}

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::Invalid(e) => e.into(),
            CheckoutError::NotSignedUp => ApiError::conflict(
                "not_signed_up",
                "this user has not signed up: call POST /signup first, then check out",
            ),
            CheckoutError::SignupIncomplete => ApiError::conflict(
                "signup_incomplete",
                "this user's signup has not created its Stripe customer yet: repeat POST /signup, \
                 then check out",
            ),
            CheckoutError::InProgress => ApiError {
                code: "checkout_in_progress",
                ..ApiError::unavailable(
                    "another request is creating this checkout session; retry shortly",
                    2,
                )
            },
            CheckoutError::Store(e) => e.into(),
            CheckoutError::Stripe(StripeFailure::Unavailable) => ApiError::unavailable(
                "the payment provider is unavailable; nothing was created, retry shortly",
                5,
            ),
            CheckoutError::Stripe(StripeFailure::Refused(detail)) => {
                tracing::error!(%detail, "Stripe refused the checkout session");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "payment_provider_error",
                    "the payment provider refused the request",
                )
            }
        }
    }
}

/// `GET /checkout/discount`'s answer, and part of `POST /checkout`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscountAnswer {
    pub discount: Option<Discount>,
    pub reason: Reason,
}

/// `POST /checkout`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAnswer {
    pub url: String,
    pub session_id: String,
    pub expires_at: i64,
    pub discount: Option<Discount>,
    pub reason: Reason,
}

impl From<&OpenSession> for SessionAnswer {
    fn from(s: &OpenSession) -> Self {
        Self {
            url: s.url.clone(),
            session_id: s.session_id.clone(),
            expires_at: s.expires_at,
            discount: s.discount.clone(),
            reason: s.reason,
        }
    }
}

/// What a checkout ended in: the session, and whether this request created it.
#[derive(Debug)]
pub struct CheckedOut {
    pub session: OpenSession,
    pub created: bool,
}

/// The Stripe idempotency key of one planned session: the same for every attempt at it, and
/// different for another user, price, plan or coupon (Stripe refuses a key reused with other
/// parameters). Hashed: ids are the caller's and may be long.
pub fn idempotency_key(
    user_id: &str,
    price_id: &str,
    plan_id: i64,
    coupon: Option<&str>,
) -> String {
    let material = format!("{user_id}\0{price_id}\0{plan_id}\0{}", coupon.unwrap_or(""));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("cello-checkout-{hex}")
}

/// Cello's metadata, on the session and on the subscription it creates.
pub fn cello_metadata(user: &User) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([("new_user_id".to_owned(), user.user_id.clone())]);
    if let Some(ucc) = &user.ucc {
        m.insert("cello_ucc".into(), ucc.clone());
    }
    if let Some(org) = &user.organization_id {
        m.insert("new_user_organization_id".into(), org.clone());
    }
    m
}

impl<S, P, K, C> CheckoutHandler<S, P, K, C>
where
    S: UserStore + CheckoutStore + BillingReader,
    P: StripeCheckout,
    K: NewUserRewards,
    C: Clock,
{
    /// The edge: identity and body read once, the outcome rendered once.
    pub async fn handle(&self, endpoint: Endpoint, req: Incoming) -> Result<Reply, ApiError> {
        let identity = self.auth.identify(&req)?;
        match endpoint {
            Endpoint::Discount => {
                let answer = self.discount(&identity).await?;
                Ok(Reply::json(StatusCode::OK, &answer))
            }
            Endpoint::Checkout => {
                let body: CheckoutBody = req.json()?;
                let done = self.checkout(&identity, body, &req.request_id).await?;
                let status = if done.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(Reply::json(status, &SessionAnswer::from(&done.session)))
            }
        }
    }

    /// `GET /checkout/discount`: the decision, no session.
    pub async fn discount(&self, identity: &Identity) -> Result<DiscountAnswer, CheckoutError> {
        let (user, customer_id) = self.signed_up_user(&identity.user_id).await?;
        let billing = self.store.billing_facts(&customer_id).await?;
        let decision = self.decide(&user, &facts(&user, &billing)).await;
        Ok(DiscountAnswer {
            discount: decision.discount,
            reason: decision.reason,
        })
    }

    /// `POST /checkout`: the user's one open session for the price.
    pub async fn checkout(
        &self,
        identity: &Identity,
        body: CheckoutBody,
        request_id: &str,
    ) -> Result<CheckedOut, CheckoutError> {
        if !self.settings.allows_price(&body.price_id) {
            return Err(FieldError::new(
                "priceId",
                "price_not_allowed",
                "priceId is not one of the prices this product offers",
            )
            .into());
        }
        let price_id = body.price_id;
        let (user, customer_id) = self.signed_up_user(&identity.user_id).await?;
        let billing = self.store.billing_facts(&customer_id).await?;
        let owner = claim_owner(request_id);
        for _ in 0..WAIT_STEPS {
            let now = self.clock.now();
            let stored = self.store.get_checkout(&user.user_id, &price_id).await?;
            if let Some(session) = stored
                .as_ref()
                .and_then(|s| s.session.as_ref())
                .filter(|s| reusable(s, &billing.completed_sessions, now))
            {
                tracing::info!("the open checkout session is handed out again");
                return Ok(CheckedOut {
                    session: session.clone(),
                    created: false,
                });
            }
            if stored
                .as_ref()
                .is_some_and(|s| s.session.is_none() && s.claim_until.is_some_and(|u| u >= now))
            {
                tokio::time::sleep(WAIT_STEP).await;
                continue;
            }
            let (expected, plan_id) = self.next_plan(stored.as_ref(), now);
            let granted = self
                .store
                .claim(
                    &user.user_id,
                    &price_id,
                    &expected,
                    plan_id,
                    &owner,
                    now,
                    self.settings.claim_lease_seconds,
                )
                .await?;
            if granted {
                let result = self
                    .create_and_record(&user, &customer_id, &billing, &price_id, plan_id, &owner)
                    .await;
                if result.is_err() {
                    // Best effort: an unreleased lease only delays the retry until it ends.
                    let _ = self.store.release(&user.user_id, &price_id, &owner).await;
                }
                return result;
            }
        }
        Err(CheckoutError::InProgress)
    }

    /// The state to claim against, and the plan the claim takes: the same plan when a crashed
    /// attempt left no session and its `expires_at` is still acceptable to Stripe (so the same
    /// idempotency key repeats its request), otherwise a new one.
    fn next_plan(&self, stored: Option<&StoredCheckout>, now: i64) -> (Expected, i64) {
        match stored {
            None => (Expected::Absent, now),
            Some(s) => {
                let expected = Expected::Plan {
                    plan_id: s.plan_id,
                    session_id: s.session.as_ref().map(|x| x.session_id.clone()),
                };
                let same_plan_usable = s.session.is_none()
                    && s.plan_id + self.settings.session_seconds >= now + MIN_SESSION_SECONDS;
                let plan = if same_plan_usable {
                    s.plan_id
                } else {
                    now.max(s.plan_id + 1)
                };
                (expected, plan)
            }
        }
    }

    async fn create_and_record(
        &self,
        user: &User,
        customer_id: &str,
        billing: &crate::store::BillingFacts,
        price_id: &str,
        plan_id: i64,
        owner: &str,
    ) -> Result<CheckedOut, CheckoutError> {
        let decision = self.decide(user, &facts(user, billing)).await;
        let expires_at = plan_id + self.settings.session_seconds;
        let new = NewSession {
            customer_id: customer_id.to_owned(),
            price_id: price_id.to_owned(),
            client_reference_id: user.user_id.clone(),
            success_url: self.settings.success_url.clone(),
            cancel_url: self.settings.cancel_url.clone(),
            metadata: cello_metadata(user),
            discount: decision.discount.clone(),
            allow_promotion_codes: self.settings.allow_promotion_codes,
            expires_at,
        };
        let key = idempotency_key(
            &user.user_id,
            price_id,
            plan_id,
            decision.discount.as_ref().map(|d| d.coupon.as_str()),
        );
        let created = self.stripe.create_session(&new, &key).await?;
        let session = OpenSession {
            session_id: created.id,
            url: created.url,
            price_id: price_id.to_owned(),
            expires_at: created.expires_at,
            discount: decision.discount,
            reason: decision.reason,
            created_at: self.clock.now(),
        };
        let ttl = session.expires_at + ITEM_TTL_AFTER_EXPIRY;
        if self
            .store
            .record(&user.user_id, owner, &session, ttl)
            .await?
        {
            tracing::info!(
                discounted = session.discount.is_some(),
                reason = session.reason.as_str(),
                "checkout session created"
            );
            return Ok(CheckedOut {
                session,
                created: true,
            });
        }
        // The lease ran out and another request took over: theirs is the session to hand out.
        match self.store.get_checkout(&user.user_id, price_id).await? {
            Some(StoredCheckout {
                session: Some(s), ..
            }) => Ok(CheckedOut {
                session: s,
                created: false,
            }),
            _ => Err(CheckoutError::InProgress),
        }
    }

    async fn signed_up_user(&self, user_id: &str) -> Result<(User, String), CheckoutError> {
        let user = self
            .store
            .get_user(user_id)
            .await?
            .ok_or(CheckoutError::NotSignedUp)?;
        let customer_id = user
            .stripe_customer_id
            .clone()
            .ok_or(CheckoutError::SignupIncomplete)?;
        Ok((user, customer_id))
    }

    /// The domain's decision; Cello is asked only when our records allow a discount.
    async fn decide(&self, user: &User, facts: &Facts) -> Decision {
        let cello = match refused_by_records(facts) {
            Some(_) => crate::discount::CelloView::NotConfigured,
            None => self.cello.new_user_reward(&user.user_id).await,
        };
        let decision = decide(facts, &cello, &self.settings.policy);
        tracing::info!(
            reason = decision.reason.as_str(),
            coupon = decision.discount.as_ref().map(|d| d.coupon.as_str()),
            "new-user discount decided"
        );
        decision
    }
}

fn facts(user: &User, billing: &crate::store::BillingFacts) -> Facts {
    Facts {
        has_ucc: user.ucc.is_some(),
        paid_invoices: billing.paid_invoices,
        live_subscriptions: billing.live_subscriptions,
        completed_checkouts: billing.completed_sessions.len(),
    }
}

/// A recorded session is handed out again while it has life left and nobody completed it.
fn reusable(s: &OpenSession, completed: &[String], now: i64) -> bool {
    s.expires_at > now + REUSE_MARGIN_SECONDS && !completed.contains(&s.session_id)
}

/// A token unique to this attempt.
fn claim_owner(request_id: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{request_id}:{nanos:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_stable_and_distinct() {
        let a = idempotency_key("u1", "price_1", 100, Some("c50"));
        assert_eq!(a, idempotency_key("u1", "price_1", 100, Some("c50")));
        assert!(a.len() <= 255 && a.starts_with("cello-checkout-"));
        for other in [
            idempotency_key("u2", "price_1", 100, Some("c50")),
            idempotency_key("u1", "price_2", 100, Some("c50")),
            idempotency_key("u1", "price_1", 101, Some("c50")),
            idempotency_key("u1", "price_1", 100, None),
        ] {
            assert_ne!(a, other);
        }
        assert!(idempotency_key(&"x".repeat(500), "p", 1, None).len() <= 255);
    }
}
