//! `POST /signup`. The order loses nothing: the user and its referral code are stored first
//! (one transaction with the email's uniqueness item), then, under a claim on the user item,
//! the Stripe customer is found or created and its id written back with the customer → user
//! lookup. A failure anywhere leaves a state that the next call completes.

use crate::request::{SignupBody, UCC_COOKIE, ValidSignup, validate};
use crate::settings::SignupSettings;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use referral_core::http::{Reply, cookie, json_body, request_id};
use referral_core::store::customer_link::{Claim, CustomerLinks, Link};
use referral_core::store::{CreateOutcome, StoreError};
use referral_core::stripe::{NewCustomer, StripeCustomers};
use referral_core::{ApiError, Authenticator, User, UserStore};
use std::collections::HashMap;
use std::time::Duration;

/// After this long the Stripe idempotency key (kept at least 24 h) may be gone: look the
/// customer up before creating one.
const IDEMPOTENCY_KEY_SAFE_AGE: i64 = 23 * 60 * 60;
/// How long a concurrent request waits for the claim holder to finish before answering 503.
const WAIT_STEPS: u32 = 20;
const WAIT_STEP: Duration = Duration::from_millis(150);

pub struct SignupHandler<S, P> {
    pub store: S,
    pub stripe: P,
    pub auth: Authenticator,
    pub settings: SignupSettings,
}

/// The Stripe idempotency key for a user's customer: the same for every attempt.
pub fn idempotency_key(user_id: &str) -> String {
    format!("cello-signup-customer-{user_id}")
}

/// The customer Cello attributes the signup by. Keys without a value are left out.
pub fn new_customer(user: &User) -> NewCustomer {
    let mut metadata = HashMap::from([("new_user_id".to_owned(), user.user_id.clone())]);
    if let Some(ucc) = &user.ucc {
        metadata.insert("cello_ucc".into(), ucc.clone());
    }
    if let Some(org) = &user.organization_id {
        metadata.insert("new_user_organization_id".into(), org.clone());
    }
    NewCustomer {
        email: user.email.clone(),
        name: user.full_name(),
        metadata,
        preferred_locale: None,
    }
}

fn user_from(signup: ValidSignup, user_id: String, now: i64) -> User {
    let (ucc, ucc_source, ucc_standard) = match signup.ucc {
        Some(u) => (Some(u.code), Some(u.source), Some(u.standard)),
        None => (None, None, None),
    };
    User {
        user_id,
        email: signup.email,
        first_name: signup.first_name,
        last_name: signup.last_name,
        organization_id: signup.organization_id,
        language: signup.language,
        ucc,
        ucc_source,
        ucc_standard,
        created_at: now,
        stripe_customer_id: None,
    }
}

impl<S: UserStore + CustomerLinks, P: StripeCustomers> SignupHandler<S, P> {
    pub async fn handle(&self, req: Request) -> Result<Reply, ApiError> {
        let identity = self.auth.identify(&req)?;
        let body: SignupBody = json_body(&req)?;
        let signup = validate(body, &identity, cookie(&req, UCC_COOKIE).as_deref())?;
        let now = referral_core::unix_now();
        let user = user_from(signup, identity.user_id, now);
        if user.ucc_standard == Some(false) {
            tracing::warn!("storing a referral code that is not in Cello's standard form");
        }

        let mut stored = self.store_user(user).await?;
        let status = match &stored.stripe_customer_id {
            Some(_) => StatusCode::OK,
            None => {
                let owner = claim_owner(&req);
                let (customer_id, linked_here) = self.ensure_customer(&stored, &owner).await?;
                stored.stripe_customer_id = Some(customer_id);
                if linked_here {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                }
            }
        };
        tracing::info!(
            status = status.as_u16(),
            has_ucc = stored.ucc.is_some(),
            "signup complete"
        );
        Ok(Reply::json(status, &stored))
    }

    /// Registers the user, or returns the one a retry or a concurrent request stored first.
    async fn store_user(&self, user: User) -> Result<User, ApiError> {
        match self.store.create_user(&user).await {
            Ok(CreateOutcome::Created) => Ok(user),
            Ok(CreateOutcome::Existing(stored)) => Ok(*stored),
            Ok(CreateOutcome::EmailTaken) => Err(ApiError::conflict(
                "email_taken",
                "this email belongs to another account",
            )),
            // A concurrent request's transaction on the same items: theirs may have landed.
            Err(StoreError::Unavailable) => match self.store.get_user(&user.user_id).await? {
                Some(stored) => Ok(stored),
                None => Err(StoreError::Unavailable.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The user's one Stripe customer, and whether this request linked it.
    async fn ensure_customer(&self, user: &User, owner: &str) -> Result<(String, bool), ApiError> {
        for _ in 0..WAIT_STEPS {
            let now = referral_core::unix_now();
            let claim = self
                .store
                .claim_customer_creation(
                    &user.user_id,
                    owner,
                    now,
                    self.settings.claim_lease_seconds,
                )
                .await?;
            match claim {
                Claim::Linked(customer_id) => return Ok((customer_id, false)),
                Claim::Granted { earlier_attempts } => {
                    let result = self
                        .create_and_link(user, owner, earlier_attempts, now)
                        .await;
                    if result.is_err() {
                        // Best effort: an unreleased lease only delays the retry until it ends.
                        let _ = self.store.release_claim(&user.user_id, owner).await;
                    }
                    return result;
                }
                Claim::Busy => tokio::time::sleep(WAIT_STEP).await,
                Claim::NoUser => {
                    tracing::error!("user vanished between create and claim");
                    return Err(ApiError::internal());
                }
            }
        }
        Err(ApiError {
            code: "signup_in_progress",
            ..ApiError::unavailable(
                "another request is completing this signup; retry shortly",
                2,
            )
        })
    }

    async fn create_and_link(
        &self,
        user: &User,
        owner: &str,
        earlier_attempts: u32,
        now: i64,
    ) -> Result<(String, bool), ApiError> {
        // An earlier attempt may have created the customer and crashed before recording it,
        // and an old key may have expired: then look before creating. Stripe's idempotency key
        // is the second line of defence, for the window between lookup and create.
        let may_exist = earlier_attempts > 0 || now - user.created_at > IDEMPOTENCY_KEY_SAFE_AGE;
        let found = if may_exist {
            self.find_customer(user).await?
        } else {
            None
        };
        let customer_id = match found {
            Some(id) => {
                tracing::info!(
                    earlier_attempts,
                    "reusing the customer an earlier attempt created"
                );
                id
            }
            None => {
                self.stripe
                    .create_customer(&new_customer(user), &idempotency_key(&user.user_id))
                    .await?
            }
        };
        match self
            .store
            .link_customer(&user.user_id, owner, &customer_id)
            .await?
        {
            Link::Linked => Ok((customer_id, true)),
            Link::LostClaim => match self.store.get_user(&user.user_id).await? {
                Some(User {
                    stripe_customer_id: Some(id),
                    ..
                }) => Ok((id, false)),
                _ => Err(ApiError::unavailable(
                    "signup is being completed; retry shortly",
                    2,
                )),
            },
        }
    }

    async fn find_customer(&self, user: &User) -> Result<Option<String>, ApiError> {
        let candidates = self.stripe.customers_by_email(&user.email).await?;
        // Stripe lists newest first; the oldest match is the one Cello saw first.
        Ok(candidates
            .into_iter()
            .rev()
            .find(|c| c.metadata.get("new_user_id") == Some(&user.user_id))
            .map(|c| c.id))
    }
}

/// A token unique to this attempt: the invocation's request id plus the clock, so two
/// attempts never mistake each other's claim.
fn claim_owner(req: &Request) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}:{nanos:x}", request_id(req))
}
